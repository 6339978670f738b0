/* fuzz-tokenizer.c — libFuzzer harness for the CLIP tokenizer, ftfy and the
 * text cleaning.
 *
 * The first input byte picks the tokenizer (clip-tiny or clip-tiny-sd2, the
 * "!"-padding one); the rest is the prompt, any bytes. Beyond "no crash, no
 * sanitizer report" it checks:
 *   - invalid UTF-8 is DIF_ERR_INVALID_ARGUMENT, valid UTF-8 always works;
 *   - the padded ids are bos, content, eos, padding, with a matching mask;
 *   - the truncated content equals the first ids of the untruncated encoding
 *     (the early stop is exact), and tokenize_each agrees with encode.
 *
 * Built by tests/fuzz/CMakeLists.txt (-DDIF_FUZZ=ON); by hand:
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -Iinclude -Ilib -DDIF_FUZZ_TOKENIZERS="\"$PWD/tests/golden/tokenizers\"" \
 *     tests/fuzz/fuzz-tokenizer.c lib/models/[a-z]*.c lib/core/error.c lib/core/strmap.c \
 *     -ljansson -lutf8proc -lxxhash -lpthread -o build/fuzz-tokenizer
 *   build/fuzz-tokenizer -max_len=4096 tests/fuzz/corpus-work
 * The environment variable DIF_FUZZ_TOKENIZERS overrides the folder that
 * holds clip-tiny/ and clip-tiny-sd2/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/clip_tokenizer.h"
#include "text/ftfy.h"
#include "text/utf8.h"

#ifndef DIF_FUZZ_TOKENIZERS
#define DIF_FUZZ_TOKENIZERS "tests/golden/tokenizers"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static dif__clip_tokenizer *tokenizers[2];

#define REQUIRE(cond)                                                                              \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);                 \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static void load_all(void) {
  const char *root = getenv("DIF_FUZZ_TOKENIZERS");
  if (!root) root = DIF_FUZZ_TOKENIZERS;
  static const char *const names[2] = {"clip-tiny", "clip-tiny-sd2"};
  for (int i = 0; i < 2; i++) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
    dif__error err = {0};
    if (dif__clip_tokenizer_load(dir, &tokenizers[i], &err) != DIF_OK) {
      fprintf(stderr, "cannot load %s: %s\n", dir, err.msg);
      abort();
    }
  }
}

typedef struct each_state {
  const int32_t *ids;
  size_t n, i;
  int ok;
} each_state;

static int check_each(const char *s, size_t len, int32_t id, void *user) {
  each_state *e = user;
  if (e->i >= e->n || e->ids[e->i] != id || (len && !s)) e->ok = 0;
  e->i++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!tokenizers[0]) load_all();
  if (size == 0) return 0;
  dif__clip_tokenizer *tok = tokenizers[data[0] & 1];
  const char *text = (const char *)data + 1;
  size_t len = size - 1;
  dif__error err = {0};
  int valid = dif__utf8_validate(text, len, &err) == DIF_OK;

  int L = dif__clip_tokenizer_max_length(tok), n = 0;
  int32_t ids[DIF__CLIP_MAX_LENGTH], mask[DIF__CLIP_MAX_LENGTH];
  dif_status st = dif__clip_tokenize(tok, text, len, ids, mask, &n, &err);
  if (!valid) {
    REQUIRE(st == DIF_ERR_INVALID_ARGUMENT && strstr(err.msg, "byte offset"));
    return 0;
  }
  REQUIRE(st == DIF_OK);
  REQUIRE(n >= 2 && n <= L);
  REQUIRE(ids[0] == dif__clip_tokenizer_bos_id(tok) &&
          ids[n - 1] == dif__clip_tokenizer_eos_id(tok));
  for (int i = 0; i < L; i++) {
    REQUIRE(mask[i] == (i < n));
    if (i >= n) REQUIRE(ids[i] == dif__clip_tokenizer_pad_id(tok));
    REQUIRE(ids[i] >= 0 && ids[i] <= dif__clip_tokenizer_max_id(tok));
  }

  int32_t *all = NULL;
  size_t n_all = 0;
  REQUIRE(dif__clip_encode(tok, text, len, &all, &n_all, &err) == DIF_OK);
  size_t content = (size_t)n - 2;
  REQUIRE(content == (n_all < (size_t)L - 2 ? n_all : (size_t)L - 2));
  REQUIRE(content == 0 || memcmp(ids + 1, all, content * sizeof *all) == 0);
  each_state e = {all, n_all, 0, 1};
  REQUIRE(dif__clip_tokenize_each(tok, text, len, check_each, &e, &err) == DIF_OK);
  REQUIRE(e.ok && e.i == n_all);
  free(all);

  char *out = NULL;
  size_t out_len = 0;
  REQUIRE(dif__text_normalize(text, len, &out, &out_len, &err) == DIF_OK);
  REQUIRE(dif__utf8_validate(out, out_len, &err) == DIF_OK);
  free(out);
  REQUIRE(dif__ftfy_fix_text_utf8(text, len, &out, &out_len, &err) == DIF_OK);
  REQUIRE(dif__utf8_validate(out, out_len, &err) == DIF_OK);
  free(out);
  return 0;
}
