/* bpe.h — byte-level byte-pair encoding (GPT-2 / CLIP style) with a cache.
 *
 * A word (one pre-token, given as UTF-8 bytes) starts as one symbol per byte,
 * each byte written as its bytes_to_unicode() character, the last one with
 * "</w>" appended. Then, as CLIPTokenizer.bpe does, the adjacent pair with the
 * lowest merge rank is found and *all* its non-overlapping occurrences are
 * merged left to right, until no pair has a rank. Implemented with a heap,
 * so a word of n bytes costs O(n log n) (a megabyte-long word is fine).
 *
 * Symbols are interned strings with an index; each knows its vocabulary id
 * (or -1). Results of words up to DIF__BPE_CACHE_MAX_WORD bytes are cached;
 * the cache is guarded by a mutex, everything else is read-only after
 * dif__bpe_finish, so one dif__bpe may serve several threads.
 */
#ifndef DIF__TEXT_BPE_H
#define DIF__TEXT_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define DIF__BPE_CACHE_MAX_WORD 128

typedef struct dif__bpe dif__bpe;

dif_status dif__bpe_new(dif__bpe **out, dif__error *err);
void dif__bpe_free(dif__bpe *b);

/* Building, in this order: vocabulary entries, then merges (rank = position
 * in merges.txt; a pair given twice keeps the later rank), then finish. */
dif_status dif__bpe_add_token(dif__bpe *b, const char *token, size_t len, int32_t id,
                              dif__error *err);
dif_status dif__bpe_add_merge(dif__bpe *b, const char *left, size_t left_len, const char *right,
                              size_t right_len, int32_t rank, dif__error *err);
dif_status dif__bpe_finish(dif__bpe *b, dif__error *err);

/* Vocabulary lookup: 1 and *id if token is in vocab.json. */
int dif__bpe_token_id(const dif__bpe *b, const char *token, size_t len, int32_t *id);
size_t dif__bpe_vocab_size(const dif__bpe *b);
int32_t dif__bpe_max_id(const dif__bpe *b);

/* The symbol a whole token string stands for (interned on demand before
 * dif__bpe_finish; afterwards only existing symbols are found): -1 if none. */
int32_t dif__bpe_find_symbol(const dif__bpe *b, const char *s, size_t len);
dif_status dif__bpe_intern(dif__bpe *b, const char *s, size_t len, int32_t *sym, dif__error *err);

/* A symbol's string (not NUL-terminated) and vocabulary id (-1: not in vocab). */
const char *dif__bpe_symbol_text(const dif__bpe *b, int32_t sym, size_t *len);
int32_t dif__bpe_symbol_id(const dif__bpe *b, int32_t sym);
/* Overrides a symbol's id (after finish, before the tokenizer is shared). */
void dif__bpe_set_symbol_id(dif__bpe *b, int32_t sym, int32_t id);

/* Per-call working memory for dif__bpe_word. Zero-initialise; free after use. */
typedef struct dif__bpe_scratch {
  int32_t *sym, *next, *prev, *out;
  uint64_t *heap;
  uint32_t *batch;
  size_t cap, heap_cap, heap_n;
} dif__bpe_scratch;
void dif__bpe_scratch_free(dif__bpe_scratch *sc);

/* Encodes one word (its n >= 1 UTF-8 bytes). *syms (owned by sc, valid until
 * the next call) receives the symbol indices, *n_syms their count. */
dif_status dif__bpe_word(const dif__bpe *b, const uint8_t *bytes, size_t n, dif__bpe_scratch *sc,
                         const int32_t **syms, size_t *n_syms, dif__error *err);

#endif
