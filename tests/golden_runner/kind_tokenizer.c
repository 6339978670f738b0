/* kind_tokenizer.c — CLIP tokenizer cases (README-clip.md §2): for every
 * text, ftfy's fix_text, the BPE tokens, and the ids with and without
 * padding for both the <|endoftext|>-padding tokenizer and the "!"-padding
 * (SD-2) one named in the file's meta. Tolerance: exact (token ids). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"
#include "text/clip_tokenizer.h"
#include "text/ftfy.h"

typedef struct tok_list {
  json_t *want;
  size_t at;
  int ok;
} tok_list;

static int each_token(const char *token, size_t len, int32_t id, void *user) {
  (void)id;
  tok_list *t = user;
  const char *w = json_string_value(json_array_get(t->want, t->at++));
  if (!w || strlen(w) != len || memcmp(w, token, len) != 0) t->ok = 0;
  return !t->ok;
}

/* ids (and mask) of one call against the JSON arrays; padded or not. */
static int same_ids(json_t *want, const int32_t *ids, int n) {
  if (!json_is_array(want) || (int)json_array_size(want) != n) return 0;
  for (int i = 0; i < n; i++)
    if (json_integer_value(json_array_get(want, (size_t)i)) != ids[i]) return 0;
  return 1;
}

static void count(golden *g, int ok, const char *file, size_t i, const char *what,
                  const char *text) {
  if (ok) {
    g->checks_passed++;
  } else {
    printf("  FAIL %s case %zu %s (text %.60s)\n", file, i, what, text);
    g->checks_failed++;
  }
}

static int run_file(golden *g, const char *dir, const char *file) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  json_error_t je;
  json_t *root = json_load_file(path, JSON_ALLOW_NUL, &je);
  json_t *meta = json_object_get(root, "meta"), *cases = json_object_get(root, "cases");
  const char *t1 = json_string_value(json_object_get(meta, "tokenizer"));
  const char *t2 = json_string_value(json_object_get(meta, "tokenizer_bang"));
  dif__clip_tokenizer *eos = NULL, *bang = NULL;
  dif__error err = {0};
  if (!json_is_array(cases) || !t1) {
    golden_fail(g, file, "not a tokenizer case file (%s)",
                root ? "no meta.tokenizer / cases" : je.text);
    json_decref(root);
    return 0;
  }
  if (dif__clip_tokenizer_load(golden_path(g, t1), &eos, &err) ||
      (t2 && dif__clip_tokenizer_load(golden_path(g, t2), &bang, &err))) {
    golden_fail(g, file, "%s", err.msg);
    dif__clip_tokenizer_free(eos);
    json_decref(root);
    return 0;
  }
  int L = dif__clip_tokenizer_max_length(eos), passed_before = g->checks_passed;
  int32_t *ids = malloc((size_t)L * sizeof *ids), *mask = malloc((size_t)L * sizeof *mask);
  size_t i;
  json_t *c;
  json_array_foreach(cases, i, c) {
    const char *text = json_string_value(json_object_get(c, "text"));
    size_t len = json_string_length(json_object_get(c, "text")); /* may hold NUL */
    if (!text) continue;
    json_t *fixed = json_object_get(c, "fixed");
    if (fixed) {
      char *out = NULL;
      size_t out_len = 0;
      int ok = !dif__ftfy_fix_text_utf8(text, len, &out, &out_len, &err) &&
               out_len == json_string_length(fixed) &&
               memcmp(out, json_string_value(fixed), out_len) == 0;
      count(g, ok, file, i, "fixed", text);
      free(out);
    }
    json_t *tokens = json_object_get(c, "tokens");
    if (tokens) {
      tok_list tl = {tokens, 0, 1};
      int ok = !dif__clip_tokenize_each(eos, text, len, each_token, &tl, &err) && tl.ok &&
               tl.at == json_array_size(tokens);
      count(g, ok, file, i, "tokens", text);
    }
    int n = 0;
    if (json_object_get(c, "ids_unpadded"))
      count(g,
            !dif__clip_tokenize_unpadded(eos, text, len, ids, &n, &err) &&
                same_ids(json_object_get(c, "ids_unpadded"), ids, n),
            file, i, "ids_unpadded", text);
    if (json_object_get(c, "ids_padded_eos"))
      count(g,
            !dif__clip_tokenize(eos, text, len, ids, mask, NULL, &err) &&
                same_ids(json_object_get(c, "ids_padded_eos"), ids, L) &&
                same_ids(json_object_get(c, "attention_mask"), mask, L),
            file, i, "ids_padded_eos", text);
    if (bang && json_object_get(c, "ids_unpadded_bang"))
      count(g,
            !dif__clip_tokenize_unpadded(bang, text, len, ids, &n, &err) &&
                same_ids(json_object_get(c, "ids_unpadded_bang"), ids, n),
            file, i, "ids_unpadded_bang", text);
    if (bang && json_object_get(c, "ids_padded_bang"))
      count(g,
            !dif__clip_tokenize(bang, text, len, ids, mask, NULL, &err) &&
                same_ids(json_object_get(c, "ids_padded_bang"), ids, L) &&
                same_ids(json_object_get(c, "attention_mask_bang"), mask, L),
            file, i, "ids_padded_bang", text);
  }
  printf("  %-4s %s: %zu texts, %d exact checks\n", "ok", file, json_array_size(cases),
         g->checks_passed - passed_before);
  free(ids);
  free(mask);
  dif__clip_tokenizer_free(eos);
  dif__clip_tokenizer_free(bang);
  json_decref(root);
  return 1;
}

int golden_kind_tokenizer(golden *g, const char *dir) {
  size_t n;
  char **files = golden_list(dir, ".json", &n);
  int cases = 0;
  for (size_t i = 0; i < n; i++) cases += run_file(g, dir, files[i]);
  golden_free_list(files, n);
  return cases;
}
