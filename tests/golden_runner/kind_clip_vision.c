/* kind_clip_vision.c — CLIP vision encoder cases (README-clip.md §6).
 *
 * Tolerance: 1e-5 abs, README-clip's suggestion for float32: O(1) values,
 * differences only from summation order (torch's own B=2 vs B=1 runs differ
 * by ~3e-7). */
#include <stdio.h>
#include <stdlib.h>

#include "kinds.h"
#include "models/clip_vision.h"

#define TOL 1e-5

static void run_case(golden *g, const char *name, const dif__safetensors *st) {
  const char *model = dif__st_metadata(st, "model");
  dif__clip_vision m;
  dif__error err = {0};
  if (!model || dif__clip_vision_load(golden_path(g, model), &m, &err)) {
    golden_fail(g, name, "%s", model ? err.msg : "no 'model' in metadata");
    return;
  }
  int64_t n;
  float *pixels = golden_tensor_f32(g, name, st, "pixel_values", &n);
  int64_t S = m.image_size, B = n / (m.channels * S * S), T = m.tokens, C = m.enc.hidden;
  int64_t P = m.projection_dim, L = m.enc.n_layers;
  float *last = malloc((size_t)(B * T * C) * sizeof(float));
  float *pooled = malloc((size_t)(B * C) * sizeof(float));
  float *embeds = malloc((size_t)(B * P) * sizeof(float));
  float *states = malloc((size_t)((L + 1) * B * T * C) * sizeof(float));
  dif__clip_vision_out out = {last, pooled, embeds, states};
  if (!pixels || n != B * m.channels * S * S) {
    golden_fail(g, name, "pixel_values do not match the model's %lldx%lld input", (long long)S,
                (long long)S);
  } else if (dif__clip_vision_forward(&m, &g->k, pixels, B, &out, &err)) {
    golden_fail(g, name, "forward: %s", err.msg);
  } else {
    golden_check(g, name, "image_embeds", embeds, B * P, st, TOL, 0);
    golden_check(g, name, "last_hidden_state", last, B * T * C, st, TOL, 0);
    golden_check(g, name, "pooled_output", pooled, B * C, st, TOL, 0);
    golden_check(g, name, "hidden_states_all", states, (L + 1) * B * T * C, st, TOL, 0);
    golden_check(g, name, "penultimate_hidden_state", states + (L - 1) * B * T * C, B * T * C, st,
                 TOL, 0);
  }
  free(pixels);
  free(last);
  free(pooled);
  free(embeds);
  free(states);
  dif__clip_vision_free(&m);
}

int golden_kind_clip_vision(golden *g, const char *dir) {
  return golden_each_case(g, dir, run_case);
}
