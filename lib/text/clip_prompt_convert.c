/* clip_prompt_convert.c — diffusers' maybe_convert_prompt for multi-vector
 * textual-inversion tokens (clip_tokenizer.h, dif__clip_convert_prompt). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/clip_tokenizer.h"

typedef struct seen_tokens {
  const dif__clip_tokenizer *tok;
  char **text; /* unique added tokens, in order of first appearance */
  size_t n, cap;
  int oom;
} seen_tokens;

static int on_token(const char *s, size_t len, int32_t id, void *user) {
  (void)id;
  seen_tokens *t = user;
  if (dif__clip_tokenizer_added_id(t->tok, s, len) < 0) return 0;
  for (size_t i = 0; i < t->n; i++)
    if (strlen(t->text[i]) == len && memcmp(t->text[i], s, len) == 0) return 0;
  if (t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 8;
    char **p = realloc(t->text, cap * sizeof *p);
    if (!p) return t->oom = 1;
    t->text = p;
    t->cap = cap;
  }
  if (!(t->text[t->n] = strndup(s, len))) return t->oom = 1;
  t->n++;
  return 0;
}

/* "<token> <token>_1 … <token>_<k>" while "<token>_<i>" is an added token;
 * NULL (nothing to do) when "<token>_1" is not. */
static char *replacement(const dif__clip_tokenizer *tok, const char *token, int *oom) {
  size_t tl = strlen(token), cap = tl + 1, n = tl;
  char *r = NULL, name[4200];
  for (int i = 1;; i++) {
    int k = snprintf(name, sizeof name, "%s_%d", token, i);
    if (k < 0 || (size_t)k >= sizeof name || dif__clip_tokenizer_added_id(tok, name, (size_t)k) < 0)
      break;
    if (!r) {
      cap = 2 * (tl + 16);
      if (!(r = malloc(cap))) break;
      memcpy(r, token, tl + 1);
    }
    if (n + (size_t)k + 2 > cap) {
      char *g = realloc(r, cap = 2 * (n + (size_t)k + 2));
      if (!g) {
        free(r);
        r = NULL;
        break;
      }
      r = g;
    }
    r[n++] = ' ';
    memcpy(r + n, name, (size_t)k + 1);
    n += (size_t)k;
  }
  *oom = !r && cap != tl + 1;
  return r;
}

/* Python's text.replace(old, new): every non-overlapping occurrence, left
 * to right. Returns a new string (NULL: no memory). */
static char *replace_all(const char *text, const char *old, const char *new_text) {
  size_t ol = strlen(old), nl = strlen(new_text), count = 0;
  for (const char *p = text; (p = strstr(p, old)); p += ol) count++;
  char *out = malloc(strlen(text) + count * nl + 1), *w = out;
  if (!out) return NULL;
  for (const char *p = text, *q;; p = q + ol) {
    q = strstr(p, old);
    size_t keep = q ? (size_t)(q - p) : strlen(p);
    memcpy(w, p, keep);
    w += keep;
    if (!q) break;
    memcpy(w, new_text, nl);
    w += nl;
  }
  *w = 0;
  return out;
}

dif_status dif__clip_convert_prompt(const dif__clip_tokenizer *tok, const char *text, size_t len,
                                    char **out, dif__error *err) {
  *out = NULL;
  seen_tokens t = {.tok = tok};
  dif_status st = dif__clip_tokenize_each(tok, text, len, on_token, &t, err);
  if (!st && t.oom) st = dif__fail_oom(err, "prompt conversion", t.cap * sizeof *t.text);
  char *cur = NULL;
  for (size_t i = 0; !st && i < t.n; i++) {
    int oom = 0;
    char *rep = replacement(tok, t.text[i], &oom);
    if (!rep) {
      if (oom) st = dif__fail_oom(err, "prompt conversion", strlen(t.text[i]));
      continue;
    }
    if (!cur && !(cur = strndup(text, len))) st = dif__fail_oom(err, "prompt conversion", len);
    char *next = st ? NULL : replace_all(cur, t.text[i], rep);
    if (!st && !next) st = dif__fail_oom(err, "prompt conversion", len);
    free(rep);
    if (next) {
      free(cur);
      cur = next;
    }
  }
  for (size_t i = 0; i < t.n; i++) free(t.text[i]);
  free(t.text);
  if (st) {
    free(cur);
    return st;
  }
  *out = cur;
  return DIF_OK;
}
