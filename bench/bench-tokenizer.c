/* bench-tokenizer.c — CLIP tokenizer throughput (issue 4: >= 1 MB/s of
 * prompt text). Tokenizes every text of the golden tokenizer cases with the
 * full 49408-token vocabulary, padded to 77 as the pipelines do, for about
 * a second per mode, and reports MB/s of input text:
 *   prompts      each case text once per round (the BPE cache warms up, as
 *                it does for a user's prompts)
 *   no cache     the same with every word new: each text gets a unique
 *                numeric suffix per round so the cache cannot answer
 * Usage: dif-bench-tokenizer [TOKENIZER_DIR] [CASES_JSON] */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text/clip_tokenizer.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : DIF_BENCH_GOLDEN "/tokenizers/clip-bpe";
  const char *cases = argc > 2 ? argv[2] : DIF_BENCH_GOLDEN "/cases/tokenizer/clip-bpe.json";
  dif__error err = {0};
  dif__clip_tokenizer *tok = NULL;
  double t0 = now();
  if (dif__clip_tokenizer_load(dir, &tok, &err)) {
    fprintf(stderr, "dif-bench-tokenizer: %s\n", err.msg);
    return 1;
  }
  double load = now() - t0;
  json_error_t je;
  json_t *root = json_load_file(cases, JSON_ALLOW_NUL, &je);
  json_t *list = json_object_get(root, "cases");
  if (!json_is_array(list)) {
    fprintf(stderr, "dif-bench-tokenizer: %s: %s\n", cases, root ? "no cases" : je.text);
    return 1;
  }
  size_t n = json_array_size(list), bytes = 0;
  int32_t ids[77], mask[77];
  printf("tokenizer %s (%zu tokens), load %.3f s; %zu texts from %s\n", dir,
         dif__clip_tokenizer_vocab_size(tok), load, n, cases);
  for (int mode = 0; mode < 2; mode++) {
    char buf[8192];
    size_t rounds = 0;
    bytes = 0;
    t0 = now();
    double t = 0;
    while ((t = now() - t0) < 1.0) {
      for (size_t i = 0; i < n; i++) {
        json_t *text = json_object_get(json_array_get(list, i), "text");
        const char *s = json_string_value(text);
        size_t len = json_string_length(text);
        if (mode == 1 && len + 32 < sizeof buf) { /* a word the cache has not seen */
          memcpy(buf, s, len);
          len += (size_t)snprintf(buf + len, sizeof buf - len, " w%zux%zu", rounds, i);
          s = buf;
        }
        if (dif__clip_tokenize(tok, s, len, ids, mask, NULL, &err)) {
          fprintf(stderr, "dif-bench-tokenizer: %s\n", err.msg);
          return 1;
        }
        bytes += len;
      }
      rounds++;
    }
    printf("%-9s %8.2f MB/s  (%zu prompts in %.2f s, %.1f us per prompt)\n",
           mode ? "no cache" : "prompts", (double)bytes / t / 1e6, rounds * n, t,
           t / (double)(rounds * n) * 1e6);
  }
  json_decref(root);
  dif__clip_tokenizer_free(tok);
  return 0;
}
