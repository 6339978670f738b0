/* strmap.c — open-addressing hash map from byte strings to int32 (strmap.h). */
#include "core/strmap.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct slot {
  uint64_t hash; /* 0: empty (real hashes have bit 0 set) */
  size_t off;    /* key bytes at keys + off */
  size_t len;
  int32_t value;
} slot;

struct dif__strmap {
  slot *slots;
  size_t cap; /* power of two */
  size_t count;
  char *keys; /* all key bytes, back to back */
  size_t keys_len, keys_cap;
};

static uint64_t hash_key(const void *key, size_t len) { return XXH3_64bits(key, len) | 1u; }

static dif_status alloc_slots(dif__strmap *m, size_t cap, dif__error *err) {
  if (cap > SIZE_MAX / sizeof(slot)) return dif__fail_oom(err, "hash map", SIZE_MAX);
  slot *s = calloc(cap, sizeof *s);
  if (!s) return dif__fail_oom(err, "hash map", cap * sizeof *s);
  m->slots = s;
  m->cap = cap;
  return DIF_OK;
}

dif_status dif__strmap_new(size_t expected, dif__strmap **out, dif__error *err) {
  *out = NULL;
  dif__strmap *m = calloc(1, sizeof *m);
  if (!m) return dif__fail_oom(err, "hash map", sizeof *m);
  size_t cap = 16;
  while (cap / 2 < expected && cap < (SIZE_MAX >> 2)) cap *= 2;
  dif_status st = alloc_slots(m, cap, err);
  if (st) {
    free(m);
    return st;
  }
  *out = m;
  return DIF_OK;
}

void dif__strmap_free(dif__strmap *m) {
  if (!m) return;
  free(m->slots);
  free(m->keys);
  free(m);
}

static size_t find_slot(const dif__strmap *m, uint64_t h, const void *key, size_t len) {
  size_t mask = m->cap - 1;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    const slot *s = &m->slots[i];
    if (s->hash == 0) return i;
    if (s->hash == h && s->len == len && (len == 0 || memcmp(m->keys + s->off, key, len) == 0))
      return i;
  }
}

static dif_status grow(dif__strmap *m, dif__error *err) {
  if (m->cap > (SIZE_MAX >> 2)) return dif__fail_oom(err, "hash map", SIZE_MAX);
  slot *old = m->slots;
  size_t old_cap = m->cap;
  dif_status st = alloc_slots(m, old_cap * 2, err);
  if (st) {
    m->slots = old;
    m->cap = old_cap;
    return st;
  }
  size_t mask = m->cap - 1;
  for (size_t i = 0; i < old_cap; i++) {
    if (!old[i].hash) continue;
    size_t j = (size_t)old[i].hash & mask;
    while (m->slots[j].hash) j = (j + 1) & mask;
    m->slots[j] = old[i];
  }
  free(old);
  return DIF_OK;
}

dif_status dif__strmap_put(dif__strmap *m, const void *key, size_t len, int32_t value, int *existed,
                           dif__error *err) {
  uint64_t h = hash_key(key, len);
  size_t i = find_slot(m, h, key, len);
  if (m->slots[i].hash) {
    m->slots[i].value = value;
    if (existed) *existed = 1;
    return DIF_OK;
  }
  if (existed) *existed = 0;
  if (m->keys_cap - m->keys_len < len) {
    size_t cap = m->keys_cap ? m->keys_cap : 256;
    while (cap - m->keys_len < len) {
      if (cap > SIZE_MAX / 2) return dif__fail_oom(err, "hash map keys", SIZE_MAX);
      cap *= 2;
    }
    char *k = realloc(m->keys, cap);
    if (!k) return dif__fail_oom(err, "hash map keys", cap);
    m->keys = k;
    m->keys_cap = cap;
  }
  if ((m->count + 1) * 2 > m->cap) {
    dif_status st = grow(m, err);
    if (st) return st;
    i = find_slot(m, h, key, len);
  }
  if (len) memcpy(m->keys + m->keys_len, key, len);
  m->slots[i] = (slot){h, m->keys_len, len, value};
  m->keys_len += len;
  m->count++;
  return DIF_OK;
}

int dif__strmap_get(const dif__strmap *m, const void *key, size_t len, int32_t *value) {
  const slot *s = &m->slots[find_slot(m, hash_key(key, len), key, len)];
  if (!s->hash) return 0;
  if (value) *value = s->value;
  return 1;
}

size_t dif__strmap_count(const dif__strmap *m) { return m->count; }

size_t dif__strmap_bytes(const dif__strmap *m) { return m->keys_cap + m->cap * sizeof(slot); }

void dif__strmap_clear(dif__strmap *m) {
  memset(m->slots, 0, m->cap * sizeof *m->slots);
  m->count = 0;
  m->keys_len = 0;
}
