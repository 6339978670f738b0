/* libFuzzer harness for textual-inversion embedding files (lib/io/embedding.c,
 * pipelines/textual_inversion.c, the tokenizer's added tokens and
 * clip_prompt_convert.c).
 *
 * An input is a safetensors file (dif__st_open_memory) read as an
 * embedding. A refused input must leave nothing and a message. An accepted
 * one is added to tiny-sd's tokenizer and a text encoder of its width 32:
 * either refused with a message and the tokenizer unchanged, or its n
 * tokens get the ids from 1514 on and a prompt naming the token converts and
 * tokenizes to that first id. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/embedding.h"
#include "pipelines/textual_inversion.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok) {
  if (!ok) abort();
}

static void add_to_model(const dif__embedding *e) {
  dif__error err = {0};
  dif__models m;
  memset(&m, 0, sizeof m);
  check(dif__clip_tokenizer_load(DIF_FUZZ_MODEL "/tokenizer", &m.tokenizer, &err) == DIF_OK);
  m.text_encoder.enc.hidden = 32;
  m.text_encoder.vocab = 1514;
  int32_t before = dif__clip_tokenizer_size(m.tokenizer);
  if (dif__models_add_embeddings(&m, e, 1, &err)) {
    check(err.msg[0] != 0 && dif__clip_tokenizer_size(m.tokenizer) == before);
  } else {
    check(dif__clip_tokenizer_size(m.tokenizer) == before + e->n);
    check(dif__clip_tokenizer_added_id(m.tokenizer, e->token, strlen(e->token)) == before);
    check(dif__clip_text_vocab(&m.text_encoder) == before + e->n);
    size_t n = strlen(e->token) + 8;
    char *prompt = malloc(n), *out = NULL;
    check(prompt != NULL);
    snprintf(prompt, n, "a %s b", e->token);
    check(dif__clip_convert_prompt(m.tokenizer, prompt, strlen(prompt), &out, &err) == DIF_OK);
    int32_t *ids = NULL;
    size_t k = 0;
    const char *text = out ? out : prompt;
    check(dif__clip_encode(m.tokenizer, text, strlen(text), &ids, &k, &err) == DIF_OK);
    int found = 0;
    for (size_t i = 0; i < k; i++) found |= ids[i] == before;
    check(found);
    free(ids);
    free(out);
    free(prompt);
  }
  dif__clip_tokenizer_free(m.tokenizer);
  dif__clip_text_free(&m.text_encoder);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dif__safetensors *st = NULL;
  dif__error err = {0};
  if (dif__st_open_memory(data, size, "fuzz-embedding.safetensors", &st, &err)) {
    check(st == NULL && err.msg[0] != 0);
    return 0;
  }
  dif__embedding e;
  if (dif__embedding_from_st(st, "fuzz-embedding.safetensors", NULL, &e, &err)) {
    check(e.data == NULL && err.msg[0] != 0);
  } else {
    check(e.n >= 1 && e.dim >= 1 && e.token && e.token[0]);
    add_to_model(&e);
    dif__embedding_free(&e);
  }
  dif__st_close(st);
  return 0;
}
