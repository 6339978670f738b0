/* weight_map.c — see weight_map.h. */
#include "core/weight_map.h"

#include <stdlib.h>

static size_t hash_ptr(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return (size_t)x;
}

static bool same(const dif__wmap_key *x, const dif__wmap_key *y) {
  return x->w == y->w && x->dtype == y->dtype && x->a == y->a && x->b == y->b && x->c == y->c;
}

static dif__wmap_slot *probe(dif__wmap_slot *slots, size_t cap, const dif__wmap_key *key) {
  for (size_t i = hash_ptr(key->w) & (cap - 1);; i = (i + 1) & (cap - 1))
    if (!slots[i].key.w || same(&slots[i].key, key)) return &slots[i];
}

static bool grow(dif__wmap *m) {
  const size_t cap = m->cap ? 2 * m->cap : m->first_cap ? m->first_cap : 64;
  dif__wmap_slot *s = calloc(cap, sizeof *s);
  if (!s) return false;
  for (size_t i = 0; i < m->cap; i++)
    if (m->slots[i].key.w) *probe(s, cap, &m->slots[i].key) = m->slots[i];
  free(m->slots);
  m->slots = s;
  m->cap = cap;
  return true;
}

dif__wmap_slot *dif__wmap_find(dif__wmap *m, dif__wmap_key key) {
  if (2 * (m->used + 1) > m->cap && !grow(m)) return NULL;
  return probe(m->slots, m->cap, &key);
}

void dif__wmap_claim(dif__wmap *m, dif__wmap_slot *s, dif__wmap_key key, void *value) {
  *s = (dif__wmap_slot){key, value};
  m->used++;
}

size_t dif__wmap_sum(const dif__wmap *m, size_t (*size_of)(const void *value)) {
  size_t sum = 0;
  for (size_t i = 0; i < m->cap; i++)
    if (m->slots[i].key.w && m->slots[i].value) sum += size_of(m->slots[i].value);
  return sum;
}

void dif__wmap_clear(dif__wmap *m, void (*free_value)(void *value, void *arg), void *arg) {
  for (size_t i = 0; i < m->cap; i++)
    if (m->slots[i].key.w && free_value) free_value(m->slots[i].value, arg);
  free(m->slots);
  m->slots = NULL;
  m->cap = m->used = 0;
}
