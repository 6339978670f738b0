/* kind_prior.c — PriorTransformer forward cases (README-diffusers "cases/prior").
 *
 * Tolerance: 1e-5 abs on the output, the post-processed latents and every
 * hook: README-diffusers' figure for single components on tiny float32
 * models. */
#include <stdio.h>
#include <stdlib.h>

#include "kinds.h"
#include "models/prior.h"

#define TOL 1e-5

typedef struct hook_ctx {
  golden *g;
  const char *name;
  const dif_safetensors *st;
} hook_ctx;

static void on_hook(void *user, const char *module, const float *data, int64_t n) {
  hook_ctx *h = user;
  char key[160];
  snprintf(key, sizeof key, "hook.%s", module);
  if (dif_st_find(h->st, key)) golden_check(h->g, h->name, key, data, n, h->st, TOL, 0);
}

static void run_case(golden *g, const char *name, const dif_safetensors *st) {
  const char *model = dif_st_metadata(st, "model");
  dif_prior p;
  dif_error err = {0};
  if (!model || dif_prior_load(golden_path(g, model), &p, &err)) {
    golden_fail(g, name, "%s", model ? err.msg : "no 'model' in metadata");
    return;
  }
  int64_t nh, nt, npe, nenc, nmask;
  float *hs = golden_tensor_f32(g, name, st, "in.hidden_states", &nh);
  float *t = golden_tensor_f32(g, name, st, "in.timestep", &nt);
  float *pe = golden_tensor_f32(g, name, st, "in.proj_embedding", &npe);
  float *enc = golden_tensor_f32(g, name, st, "in.encoder_hidden_states", &nenc);
  float *maskf = golden_tensor_f32(g, name, st, "in.attention_mask", &nmask);
  if (hs && t && pe && enc && maskf) {
    int64_t B = nh / p.embed_dim;
    int32_t *mask = malloc((size_t)nmask * sizeof *mask);
    float *out = malloc((size_t)nh * sizeof *out);
    for (int64_t i = 0; i < nmask; i++) mask[i] = maskf[i] != 0.0f;
    hook_ctx hc = {g, name, st};
    dif_prior_input in = {hs, t, nt, pe, enc, mask, B, on_hook, &hc};
    if (dif_prior_forward(&p, &g->k, &in, out, &err)) {
      golden_fail(g, name, "forward: %s", err.msg);
    } else {
      golden_check(g, name, "out.predicted_image_embedding", out, nh, st, TOL, 0);
      dif_prior_post_process(&p, out, B, out);
      golden_check(g, name, "out.post_process_latents", out, nh, st, TOL, 0);
    }
    free(mask);
    free(out);
  }
  free(hs);
  free(t);
  free(pe);
  free(enc);
  free(maskf);
  dif_prior_free(&p);
}

int golden_kind_prior(golden *g, const char *dir) {
  size_t n;
  char **files = golden_list(dir, ".safetensors", &n);
  for (size_t i = 0; i < n; i++) {
    dif_safetensors *st = golden_open_case(g, dir, files[i]);
    if (st) run_case(g, files[i], st);
    dif_st_close(st);
  }
  golden_free_list(files, n);
  return (int)n;
}
