/* kind_textual_inversion.c — textual-inversion embeddings added at load
 * (tests/fixtures/cases/textual_inversion, made by
 * tests/oracle/make_textual_inversion.py with diffusers v0.26.3's
 * load_textual_inversion).
 *
 * Each case names the model, its embeddings (file, token or null for the
 * file's) and the settings of a tests/golden pipeline case (sd_txt2img, or
 * unclip_img2img: "image"). Checked:
 *   1. ti.token_ids and settings.added_tokens: the id each added token got,
 *      exactly (transformers' add_tokens numbering from len(tokenizer));
 *   2. settings.converted: maybe_convert_prompt's output for the prompt and
 *      the negative prompt, byte for byte;
 *   3. the whole run at every recorded tensor (the token ids exactly, the
 *      text encoder's output, each step, the image) with the pipelines'
 *      tolerances (pipeline_run.c): the added rows are copied bit for bit,
 *      so the text encoder's output carries no error of its own beyond the
 *      float32 kernels every pipeline case already allows for. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/embedding.h"
#include "kinds.h"
#include "pipeline_run.h"
#include "pipelines/textual_inversion.h"

#define MAX_EMBEDDINGS_RUNNER 8

static dif_status add_embeddings(golden *g, json_t *set, dif__models *m, dif__error *err) {
  json_t *list = json_object_get(set, "embeddings"), *item;
  dif__embedding e[MAX_EMBEDDINGS_RUNNER] = {0};
  size_t i, n = 0;
  if (!json_is_array(list) || json_array_size(list) > MAX_EMBEDDINGS_RUNNER)
    return dif__fail(err, DIF_ERR_BAD_MODEL, "settings.embeddings is not a list of at most %d",
                     MAX_EMBEDDINGS_RUNNER);
  dif_status s = DIF_OK;
  json_array_foreach(list, i, item) {
    if (s) break;
    const char *token = json_string_value(json_object_get(item, "token"));
    s = dif__embedding_read(golden_path(g, pipeline_str(item, "file")), token, &e[n], err);
    if (!s) n++;
  }
  if (!s) s = dif__models_add_embeddings(m, e, (int)n, err);
  for (size_t k = 0; k < n; k++) dif__embedding_free(&e[k]);
  return s;
}

/* 1 and 2: the tokenizer's ids and the converted prompts. */
static void check_tokens(golden *g, const char *name, const dif__safetensors *st, json_t *set,
                         const dif__models *m) {
  json_t *tokens = json_object_get(set, "added_tokens"), *t;
  size_t i;
  const dif__st_entry *e = dif__st_find(st, "ti.token_ids");
  if (!e || !json_is_array(tokens) || dif__st_numel(e) != (int64_t)json_array_size(tokens)) {
    golden_fail(g, name, "ti.token_ids / settings.added_tokens missing or of different lengths");
    return;
  }
  double *want = malloc(json_array_size(tokens) * sizeof *want + 1);
  if (!want) return;
  dif__st_to_f64(st, e, want);
  json_array_foreach(tokens, i, t) {
    const char *text = json_string_value(t);
    int32_t id = text ? dif__clip_tokenizer_added_id(m->tokenizer, text, strlen(text)) : -1;
    if (id != (int32_t)want[i])
      golden_fail(g, name, "token \"%s\": id %d, diffusers %d", text ? text : "?", id,
                  (int)want[i]);
  }
  free(want);
  static const char *const keys[] = {"prompt", "negative_prompt"};
  json_t *conv = json_object_get(set, "converted");
  for (int k = 0; k < 2; k++) {
    const char *in = pipeline_str(set, keys[k]), *expect = pipeline_str(conv, keys[k]);
    char *out = NULL;
    dif__error err = {0};
    if (!in) in = "";
    if (!expect || dif__clip_convert_prompt(m->tokenizer, in, strlen(in), &out, &err))
      golden_fail(g, name, "converted.%s: %s", keys[k], expect ? err.msg : "missing");
    else if (strcmp(out ? out : in, expect) != 0)
      golden_fail(g, name, "converted %s: \"%s\", diffusers \"%s\"", keys[k], out ? out : in,
                  expect);
    free(out);
  }
}

static void run_case(golden *g, const char *name, const dif__safetensors *st) {
  const char *settings = dif__st_metadata(st, "settings");
  json_t *set = settings ? json_loads(settings, 0, NULL) : NULL;
  const char *model_rel = set ? pipeline_str(set, "model") : NULL;
  dif__error err = {0};
  dif__models m;
  if (!model_rel) {
    golden_fail(g, name, "metadata lacks settings.model");
  } else if (dif__models_load(&m, golden_path(g, model_rel), NULL, NULL, NULL, &err)) {
    golden_fail(g, name, "load: %s", err.msg);
  } else {
    if (add_embeddings(g, set, &m, &err)) {
      golden_fail(g, name, "embeddings: %s", err.msg);
    } else {
      check_tokens(g, name, st, set, &m);
      static const char *const skip[] = {"ti."};
      if (pipeline_run_settings(g, name, st, set, &m, skip, 1, &err))
        golden_fail(g, name, "%s", err.msg);
    }
    dif__models_free(&m);
  }
  json_decref(set);
}

int golden_kind_textual_inversion(golden *g, const char *dir) {
  return golden_each_case(g, dir, run_case);
}
