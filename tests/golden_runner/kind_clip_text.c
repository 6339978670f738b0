/* kind_clip_text.c — CLIP text encoder cases (README-clip.md §4).
 *
 * Tolerance: 1e-5 abs on every tensor, as README-clip suggests for float32 C
 * vs float32 torch: values are O(1) and the only differences are summation
 * order in GEMMs and layer norms (~1e-7 per op over 5 layers). GELU is the
 * exact erf form, so no looser bound is needed for the gelu model. */
#include <stdio.h>
#include <stdlib.h>

#include "kinds.h"
#include "models/clip_text.h"

#define TOL 1e-5

static void run_case(golden *g, const char *name, const dif__safetensors *st) {
  const char *model = dif__st_metadata(st, "model");
  dif__clip_text m;
  dif__error err = {0};
  if (!model || dif__clip_text_load(golden_path(g, model), &m, &err)) {
    golden_fail(g, name, "%s", model ? err.msg : "no 'model' in metadata");
    return;
  }
  const dif__st_entry *ie = dif__st_find(st, "input_ids");
  int64_t n = 0;
  double *ids_d = golden_tensor(g, name, st, "input_ids", &n);
  double *mask_d = golden_tensor(g, name, st, "attention_mask", &n);
  if (!ids_d || !mask_d || ie->ndim != 2) {
    free(ids_d);
    free(mask_d);
    dif__clip_text_free(&m);
    return;
  }
  int64_t B = ie->shape[0], T = ie->shape[1], C = m.enc.hidden, L = m.enc.n_layers;
  int64_t P = m.projection_dim;
  int32_t *ids = malloc((size_t)n * sizeof *ids), *mask = malloc((size_t)n * sizeof *mask);
  float *last = malloc((size_t)(B * T * C) * sizeof(float));
  float *pooled = malloc((size_t)(B * C) * sizeof(float));
  float *embeds = malloc((size_t)(B * (P ? P : 1)) * sizeof(float));
  float *states = malloc((size_t)((L + 1) * B * T * C) * sizeof(float));
  for (int64_t i = 0; i < n; i++) {
    ids[i] = (int32_t)ids_d[i];
    mask[i] = (int32_t)mask_d[i];
  }
  dif__clip_text_out out = {last, pooled, P ? embeds : NULL, states};
  if (dif__clip_text_forward(&m, &g->k, ids, B, T, NULL, 0, &out, &err)) {
    golden_fail(g, name, "forward: %s", err.msg);
  } else {
    golden_check(g, name, "last_hidden_state", last, B * T * C, st, TOL, 0);
    golden_check(g, name, "pooled_output", pooled, B * C, st, TOL, 0);
    if (P) golden_check(g, name, "text_embeds", embeds, B * P, st, TOL, 0);
    golden_check(g, name, "hidden_states_all", states, (L + 1) * B * T * C, st, TOL, 0);
    golden_check(g, name, "penultimate_hidden_state", states + (L - 1) * B * T * C, B * T * C, st,
                 TOL, 0);
  }
  /* clip skip 1: the output of L-1 layers, then the final layer norm */
  dif__clip_text_out skip = {last, NULL, NULL, NULL};
  if (dif__clip_text_forward(&m, &g->k, ids, B, T, NULL, (int)L - 1, &skip, &err))
    golden_fail(g, name, "forward (clip skip): %s", err.msg);
  else
    golden_check(g, name, "penultimate_final_ln", last, B * T * C, st, TOL, 0);
  /* with the tokenizer's attention mask passed */
  dif__clip_text_out masked = {last, pooled, P ? embeds : NULL, NULL};
  if (dif__clip_text_forward(&m, &g->k, ids, B, T, mask, 0, &masked, &err)) {
    golden_fail(g, name, "forward (masked): %s", err.msg);
  } else {
    golden_check(g, name, "last_hidden_state_masked", last, B * T * C, st, TOL, 0);
    golden_check(g, name, "pooled_output_masked", pooled, B * C, st, TOL, 0);
    if (P) golden_check(g, name, "text_embeds_masked", embeds, B * P, st, TOL, 0);
  }
  free(ids_d);
  free(mask_d);
  free(ids);
  free(mask);
  free(last);
  free(pooled);
  free(embeds);
  free(states);
  dif__clip_text_free(&m);
}

int golden_kind_clip_text(golden *g, const char *dir) { return golden_each_case(g, dir, run_case); }
