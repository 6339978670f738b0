/* bpe.c — byte-level BPE: symbol table, merge ranks, the merge loop and its
 * cache (bpe.h). */
#include "text/bpe.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/strmap.h"
#include "text/utf8.h"

/* Cache limits: cleared when either is exceeded. */
#define CACHE_MAX_WORDS 65536
#define CACHE_MAX_SYMS (1u << 20)

typedef struct bpe_cache {
  pthread_mutex_t lock;
  dif__strmap *map; /* word bytes -> offset in pool */
  int32_t *pool;    /* at offset: count, then that many symbols */
  size_t n, cap;
} bpe_cache;

struct dif__bpe {
  dif__strmap *vocab; /* token -> id */
  int32_t max_id;
  dif__strmap *symbols; /* symbol text -> symbol index */
  char *text;           /* symbol texts, back to back */
  size_t text_len, text_cap;
  size_t *sym_off;
  uint32_t *sym_len;
  int32_t *sym_id;
  size_t n_sym, sym_cap;
  dif__strmap *ranks;    /* (left, right) symbol pair as int32[2] -> rank */
  int32_t *merge_result; /* rank -> merged symbol */
  size_t n_ranks;
  int32_t byte_sym[256], byte_end_sym[256];
  int finished;
  bpe_cache cache;
};

/* ---------------------------------------------------------------------------
 * Building
 */
dif_status dif__bpe_new(dif__bpe **out, dif__error *err) {
  *out = NULL;
  dif__bpe *b = calloc(1, sizeof *b);
  if (!b) return dif__fail_oom(err, "BPE tokenizer", sizeof *b);
  b->max_id = -1;
  if (pthread_mutex_init(&b->cache.lock, NULL) != 0) {
    free(b);
    return dif__fail(err, DIF_ERR_INTERNAL, "BPE cache: pthread_mutex_init failed");
  }
  dif_status st;
  if ((st = dif__strmap_new(1024, &b->vocab, err)) ||
      (st = dif__strmap_new(1024, &b->symbols, err)) ||
      (st = dif__strmap_new(1024, &b->ranks, err)) ||
      (st = dif__strmap_new(256, &b->cache.map, err))) {
    dif__bpe_free(b);
    return st;
  }
  *out = b;
  return DIF_OK;
}

void dif__bpe_free(dif__bpe *b) {
  if (!b) return;
  dif__strmap_free(b->vocab);
  dif__strmap_free(b->symbols);
  dif__strmap_free(b->ranks);
  dif__strmap_free(b->cache.map);
  pthread_mutex_destroy(&b->cache.lock);
  free(b->cache.pool);
  free(b->text);
  free(b->sym_off);
  free(b->sym_len);
  free(b->sym_id);
  free(b->merge_result);
  free(b);
}

dif_status dif__bpe_add_token(dif__bpe *b, const char *token, size_t len, int32_t id,
                              dif__error *err) {
  if (id < 0) return dif__fail(err, DIF_ERR_BAD_MODEL, "negative token id %d", (int)id);
  if (id > b->max_id) b->max_id = id;
  return dif__strmap_put(b->vocab, token, len, id, NULL, err);
}

int dif__bpe_token_id(const dif__bpe *b, const char *token, size_t len, int32_t *id) {
  return dif__strmap_get(b->vocab, token, len, id);
}

size_t dif__bpe_vocab_size(const dif__bpe *b) { return dif__strmap_count(b->vocab); }
int32_t dif__bpe_max_id(const dif__bpe *b) { return b->max_id; }

int32_t dif__bpe_find_symbol(const dif__bpe *b, const char *s, size_t len) {
  int32_t sym;
  return dif__strmap_get(b->symbols, s, len, &sym) ? sym : -1;
}

dif_status dif__bpe_intern(dif__bpe *b, const char *s, size_t len, int32_t *sym, dif__error *err) {
  int32_t found;
  if (dif__strmap_get(b->symbols, s, len, &found)) {
    *sym = found;
    return DIF_OK;
  }
  if (b->finished) return dif__fail(err, DIF_ERR_INTERNAL, "BPE symbol added after finish");
  if (b->n_sym >= INT32_MAX || len > UINT32_MAX)
    return dif__fail(err, DIF_ERR_BAD_MODEL, "too many or too long BPE symbols");
  if (b->n_sym == b->sym_cap) {
    size_t cap = b->sym_cap ? b->sym_cap * 2 : 1024;
    size_t *off = realloc(b->sym_off, cap * sizeof *off);
    if (!off) return dif__fail_oom(err, "BPE symbols", cap * sizeof *off);
    b->sym_off = off;
    uint32_t *l = realloc(b->sym_len, cap * sizeof *l);
    if (!l) return dif__fail_oom(err, "BPE symbols", cap * sizeof *l);
    b->sym_len = l;
    int32_t *id = realloc(b->sym_id, cap * sizeof *id);
    if (!id) return dif__fail_oom(err, "BPE symbols", cap * sizeof *id);
    b->sym_id = id;
    b->sym_cap = cap;
  }
  if (b->text_cap - b->text_len < len) {
    size_t cap = b->text_cap ? b->text_cap : 4096;
    while (cap - b->text_len < len) cap *= 2;
    char *t = realloc(b->text, cap);
    if (!t) return dif__fail_oom(err, "BPE symbol text", cap);
    b->text = t;
    b->text_cap = cap;
  }
  int32_t idx = (int32_t)b->n_sym;
  dif_status st = dif__strmap_put(b->symbols, s, len, idx, NULL, err);
  if (st) return st;
  if (len) memcpy(b->text + b->text_len, s, len);
  b->sym_off[idx] = b->text_len;
  b->sym_len[idx] = (uint32_t)len;
  b->sym_id[idx] = -1;
  b->text_len += len;
  b->n_sym++;
  *sym = idx;
  return DIF_OK;
}

dif_status dif__bpe_add_merge(dif__bpe *b, const char *left, size_t left_len, const char *right,
                              size_t right_len, int32_t rank, dif__error *err) {
  if (rank < 0) return dif__fail(err, DIF_ERR_INTERNAL, "negative merge rank");
  if (left_len > SIZE_MAX / 2 || right_len > SIZE_MAX / 2)
    return dif__fail(err, DIF_ERR_BAD_MODEL, "merge too long");
  char *joined = malloc(left_len + right_len + 1);
  if (!joined) return dif__fail_oom(err, "merge", left_len + right_len + 1);
  memcpy(joined, left, left_len);
  memcpy(joined + left_len, right, right_len);
  int32_t pair[2], result;
  dif_status st;
  if ((st = dif__bpe_intern(b, left, left_len, &pair[0], err)) ||
      (st = dif__bpe_intern(b, right, right_len, &pair[1], err)) ||
      (st = dif__bpe_intern(b, joined, left_len + right_len, &result, err))) {
    free(joined);
    return st;
  }
  free(joined);
  if ((size_t)rank >= b->n_ranks) {
    size_t n = (size_t)rank + 1, cap = b->n_ranks ? b->n_ranks : 1024;
    while (cap < n) cap *= 2;
    int32_t *r = realloc(b->merge_result, cap * sizeof *r);
    if (!r) return dif__fail_oom(err, "merges", cap * sizeof *r);
    for (size_t i = b->n_ranks; i < cap; i++) r[i] = -1;
    b->merge_result = r;
    b->n_ranks = cap;
  }
  b->merge_result[rank] = result;
  return dif__strmap_put(b->ranks, pair, sizeof pair, rank, NULL, err);
}

/* transformers' bytes_to_unicode(): printable Latin-1 bytes stand for
 * themselves, the other 68 are mapped to U+0100.. in byte order. */
static uint32_t byte_to_unicode(int byte) {
  if ((byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE)
    return (uint32_t)byte;
  uint32_t n = 0;
  for (int b = 0; b < byte; b++)
    if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) n++;
  return 256 + n;
}

dif_status dif__bpe_finish(dif__bpe *b, dif__error *err) {
  dif_status st;
  for (int byte = 0; byte < 256; byte++) {
    char s[8];
    size_t k = dif__utf8_encode_cp(byte_to_unicode(byte), s);
    if ((st = dif__bpe_intern(b, s, k, &b->byte_sym[byte], err))) return st;
    memcpy(s + k, "</w>", 4);
    if ((st = dif__bpe_intern(b, s, k + 4, &b->byte_end_sym[byte], err))) return st;
  }
  for (size_t i = 0; i < b->n_sym; i++) {
    int32_t id;
    if (dif__strmap_get(b->vocab, b->text + b->sym_off[i], b->sym_len[i], &id)) b->sym_id[i] = id;
  }
  b->finished = 1;
  return DIF_OK;
}

const char *dif__bpe_symbol_text(const dif__bpe *b, int32_t sym, size_t *len) {
  *len = b->sym_len[sym];
  return b->text + b->sym_off[sym];
}

int32_t dif__bpe_symbol_id(const dif__bpe *b, int32_t sym) { return b->sym_id[sym]; }

void dif__bpe_set_symbol_id(dif__bpe *b, int32_t sym, int32_t id) {
  b->sym_id[sym] = id;
  if (id > b->max_id) b->max_id = id;
}

/* ---------------------------------------------------------------------------
 * The merge loop
 */
void dif__bpe_scratch_free(dif__bpe_scratch *sc) {
  free(sc->sym);
  free(sc->next);
  free(sc->prev);
  free(sc->out);
  free(sc->heap);
  free(sc->batch);
  memset(sc, 0, sizeof *sc);
}

static dif_status scratch_reserve(dif__bpe_scratch *sc, size_t n, dif__error *err) {
  if (n <= sc->cap) return DIF_OK;
  size_t cap = sc->cap ? sc->cap : 64;
  while (cap < n) cap *= 2;
  int32_t **arrays[] = {&sc->sym, &sc->next, &sc->prev, &sc->out};
  for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
    int32_t *p = realloc(*arrays[i], cap * sizeof *p);
    if (!p) return dif__fail_oom(err, "BPE word", cap * sizeof *p);
    *arrays[i] = p;
  }
  uint32_t *batch = realloc(sc->batch, cap * sizeof *batch);
  if (!batch) return dif__fail_oom(err, "BPE word", cap * sizeof *batch);
  sc->batch = batch;
  sc->cap = cap;
  return DIF_OK;
}

static int32_t pair_rank(const dif__bpe *b, int32_t left, int32_t right) {
  int32_t pair[2] = {left, right}, rank;
  return dif__strmap_get(b->ranks, pair, sizeof pair, &rank) ? rank : -1;
}

/* Min-heap of (rank << 32 | position): lowest rank first, then leftmost. */
static dif_status heap_push(dif__bpe_scratch *sc, uint64_t v, dif__error *err) {
  if (sc->heap_n == sc->heap_cap) {
    size_t cap = sc->heap_cap ? sc->heap_cap * 2 : 64;
    uint64_t *h = realloc(sc->heap, cap * sizeof *h);
    if (!h) return dif__fail_oom(err, "BPE heap", cap * sizeof *h);
    sc->heap = h;
    sc->heap_cap = cap;
  }
  size_t i = sc->heap_n++;
  while (i > 0 && sc->heap[(i - 1) / 2] > v) {
    sc->heap[i] = sc->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  sc->heap[i] = v;
  return DIF_OK;
}

static uint64_t heap_pop(dif__bpe_scratch *sc) {
  uint64_t top = sc->heap[0], v = sc->heap[--sc->heap_n];
  size_t i = 0, n = sc->heap_n;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && sc->heap[c + 1] < sc->heap[c]) c++;
    if (sc->heap[c] >= v) break;
    sc->heap[i] = sc->heap[c];
    i = c;
  }
  if (n) sc->heap[i] = v;
  return top;
}

/* Pushes the pair starting at position p if it has a rank. */
static dif_status push_pair(const dif__bpe *b, dif__bpe_scratch *sc, int32_t p, dif__error *err) {
  if (p < 0 || sc->next[p] < 0) return DIF_OK;
  int32_t r = pair_rank(b, sc->sym[p], sc->sym[sc->next[p]]);
  return r < 0 ? DIF_OK : heap_push(sc, (uint64_t)r << 32 | (uint32_t)p, err);
}

static int pair_is(const dif__bpe *b, const dif__bpe_scratch *sc, int32_t p, int32_t rank) {
  return sc->sym[p] >= 0 && sc->next[p] >= 0 &&
         pair_rank(b, sc->sym[p], sc->sym[sc->next[p]]) == rank;
}

static dif_status merge_word(const dif__bpe *b, dif__bpe_scratch *sc, size_t n, dif__error *err) {
  dif_status st;
  sc->heap_n = 0;
  for (size_t i = 0; i + 1 < n; i++)
    if ((st = push_pair(b, sc, (int32_t)i, err))) return st;
  while (sc->heap_n) {
    uint64_t top = heap_pop(sc);
    int32_t rank = (int32_t)(top >> 32);
    if (!pair_is(b, sc, (int32_t)(uint32_t)top, rank)) continue; /* stale entry */
    /* CLIPTokenizer.bpe merges every occurrence of this pair, left to right,
     * before looking at any pair the merges create: gather them first. */
    size_t nb = 0;
    sc->batch[nb++] = (uint32_t)top;
    while (sc->heap_n && (int32_t)(sc->heap[0] >> 32) == rank) {
      uint32_t p = (uint32_t)heap_pop(sc);
      if (pair_is(b, sc, (int32_t)p, rank)) sc->batch[nb++] = p;
    }
    int32_t merged = b->merge_result[rank];
    for (size_t k = 0; k < nb; k++) {
      int32_t p = (int32_t)sc->batch[k];
      if (!pair_is(b, sc, p, rank)) continue; /* overlapped by the previous merge */
      int32_t q = sc->next[p];
      sc->sym[p] = merged;
      sc->sym[q] = -1;
      sc->next[p] = sc->next[q];
      if (sc->next[q] >= 0) sc->prev[sc->next[q]] = p;
      if ((st = push_pair(b, sc, sc->prev[p], err)) || (st = push_pair(b, sc, p, err))) return st;
    }
  }
  return DIF_OK;
}

static int cache_get(const dif__bpe *b, const uint8_t *bytes, size_t n, dif__bpe_scratch *sc,
                     size_t *n_syms) {
  bpe_cache *c = (bpe_cache *)&b->cache; /* the cache is the mutable part */
  int hit = 0;
  pthread_mutex_lock(&c->lock);
  int32_t off;
  if (dif__strmap_get(c->map, bytes, n, &off)) {
    size_t k = (size_t)c->pool[off];
    if (k <= sc->cap) {
      memcpy(sc->out, c->pool + off + 1, k * sizeof *sc->out);
      *n_syms = k;
      hit = 1;
    }
  }
  pthread_mutex_unlock(&c->lock);
  return hit;
}

static void cache_put(const dif__bpe *b, const uint8_t *bytes, size_t n, const int32_t *syms,
                      size_t k) {
  bpe_cache *c = (bpe_cache *)&b->cache;
  pthread_mutex_lock(&c->lock);
  if (dif__strmap_count(c->map) >= CACHE_MAX_WORDS || c->n + k + 1 > CACHE_MAX_SYMS) {
    dif__strmap_clear(c->map);
    c->n = 0;
  }
  if (c->cap - c->n < k + 1) {
    size_t cap = c->cap ? c->cap : 4096;
    while (cap - c->n < k + 1) cap *= 2;
    int32_t *p = realloc(c->pool, cap * sizeof *p);
    if (p) { /* else a cache miss next time, not an error */
      c->pool = p;
      c->cap = cap;
    }
  }
  if (c->cap - c->n >= k + 1 &&
      dif__strmap_put(c->map, bytes, n, (int32_t)c->n, NULL, NULL) == DIF_OK) {
    c->pool[c->n] = (int32_t)k;
    memcpy(c->pool + c->n + 1, syms, k * sizeof *syms);
    c->n += k + 1;
  }
  pthread_mutex_unlock(&c->lock);
}

dif_status dif__bpe_word(const dif__bpe *b, const uint8_t *bytes, size_t n, dif__bpe_scratch *sc,
                         const int32_t **syms, size_t *n_syms, dif__error *err) {
  dif_status st;
  if (n == 0 || n >= INT32_MAX)
    return dif__fail(err, DIF_ERR_LIMIT, "BPE word of %zu bytes (limit %d)", n, INT32_MAX - 1);
  if ((st = scratch_reserve(sc, n, err))) return st;
  *syms = sc->out;
  if (n <= DIF__BPE_CACHE_MAX_WORD && cache_get(b, bytes, n, sc, n_syms)) return DIF_OK;
  for (size_t i = 0; i < n; i++) {
    sc->sym[i] = i + 1 < n ? b->byte_sym[bytes[i]] : b->byte_end_sym[bytes[i]];
    sc->prev[i] = (int32_t)i - 1;
    sc->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
  }
  if ((st = merge_word(b, sc, n, err))) return st;
  size_t k = 0;
  for (int32_t p = 0; p >= 0; p = sc->next[p]) sc->out[k++] = sc->sym[p];
  *n_syms = k;
  if (n <= DIF__BPE_CACHE_MAX_WORD) cache_put(b, bytes, n, sc->out, k);
  return DIF_OK;
}
