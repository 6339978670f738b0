/* textual_inversion.c — embeddings into a loaded model's tokenizer and text
 * encoder (textual_inversion.h). */
#include "pipelines/textual_inversion.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct plan {
  char **tokens; /* every token to add, in order */
  size_t n;
  float *rows; /* [n, C] */
} plan;

static void plan_free(plan *p) {
  for (size_t i = 0; i < p->n; i++) free(p->tokens[i]);
  free(p->tokens);
  free(p->rows);
}

/* Whether text is in the tokenizer or already planned. */
static const char *taken(const dif__models *m, const plan *p, const char *text) {
  if (dif__clip_tokenizer_has(m->tokenizer, text)) return "the tokenizer's vocabulary";
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->tokens[i], text) == 0) return "another embedding added before";
  return NULL;
}

static dif_status check_one(const dif__models *m, const plan *p, const dif__embedding *e,
                            dif__error *err) {
  const char *tok = e->token;
  const int64_t C = m->text_encoder.enc.hidden;
  if (e->dim != C)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: tensor \"%s\" holds vectors of width %lld, but this model's text "
                     "encoder has width %lld: the embedding was made for another model (CLIP-L "
                     "of SD-1.x: 768, OpenCLIP-H of SD-2.x: 1024)",
                     e->path, e->tensor, (long long)e->dim, (long long)C);
  const char *where = taken(m, p, tok);
  if (where)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "%s: token \"%s\" is already in %s; choose another token (FILE:TOKEN)",
                     e->path, tok, where);
  char name[4200];
  for (int64_t k = 1; k < (e->n > 1 ? e->n : 2); k++) {
    snprintf(name, sizeof name, "%s_%lld", tok, (long long)k);
    if ((where = taken(m, p, name)))
      return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                       "%s: the multi-vector token \"%s\" is already in %s; choose another token "
                       "(FILE:TOKEN)",
                       e->path, name, where);
  }
  return DIF_OK;
}

/* The tokens and rows of e appended to p. */
static dif_status plan_one(plan *p, const dif__embedding *e, int64_t C, dif__error *err) {
  const char *tok = e->token;
  size_t n = p->n + (size_t)e->n;
  char **t = realloc(p->tokens, n * sizeof *t);
  if (t) p->tokens = t;
  float *r = t ? realloc(p->rows, n * (size_t)C * sizeof *r) : NULL;
  if (r) p->rows = r;
  if (!t || !r) return dif__fail_oom(err, "embedding tokens", n * (size_t)C * sizeof *r);
  memcpy(p->rows + p->n * (size_t)C, e->data, (size_t)(e->n * C) * sizeof *r);
  for (int64_t k = 0; k < e->n; k++) {
    char name[4200];
    snprintf(name, sizeof name, k ? "%s_%lld" : "%s", tok, (long long)k);
    if (!(p->tokens[p->n] = strdup(name))) return dif__fail_oom(err, "embedding tokens", 4200);
    p->n++;
  }
  return DIF_OK;
}

dif_status dif__models_add_embeddings(dif__models *m, const dif__embedding *e, int n,
                                      dif__error *err) {
  plan p = {0};
  dif_status s = DIF_OK;
  for (int i = 0; !s && i < n; i++) {
    s = check_one(m, &p, &e[i], err);
    if (!s) s = plan_one(&p, &e[i], m->text_encoder.enc.hidden, err);
  }
  int32_t first = dif__clip_tokenizer_size(m->tokenizer);
  if (!s && p.n) s = dif__clip_text_add_rows(&m->text_encoder, first, p.rows, (int64_t)p.n, err);
  if (!s && p.n)
    s = dif__clip_tokenizer_add_tokens(m->tokenizer, (const char *const *)p.tokens, p.n, NULL, err);
  plan_free(&p);
  return s;
}
