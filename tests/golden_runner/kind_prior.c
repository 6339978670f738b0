/* kind_prior.c — PriorTransformer forward cases (README-diffusers "cases/prior").
 *
 * Tolerance: 1e-5 abs on the output, the post-processed latents and every
 * hook: README-diffusers' figure for single components on tiny float32
 * models. Each case runs twice: the whole forward (with every hook) and
 * the cached one (dif__prior_cache: only the last four tokens run). */
#include <stdio.h>
#include <stdlib.h>

#include "kinds.h"
#include "models/prior.h"

#define TOL 1e-5

static void run_case(golden *g, const char *name, const dif__safetensors *st) {
  const char *model = dif__st_metadata(st, "model");
  dif__prior p;
  dif__error err = {0};
  if (!model || dif__prior_load(golden_path(g, model), &p, &err)) {
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
    golden_hooks hc = {g, name, st, TOL};
    dif__prior_input in = {hs, t, nt, pe, enc, mask, B, golden_on_hook, &hc, NULL};
    if (dif__prior_forward(&p, &g->k, &in, out, &err)) {
      golden_fail(g, name, "forward: %s", err.msg);
    } else {
      golden_check(g, name, "out.predicted_image_embedding", out, nh, st, TOL, 0);
      dif__prior_post_process(&p, out, B, out);
      golden_check(g, name, "out.post_process_latents", out, nh, st, TOL, 0);
    }
    /* Again through the text-token cache the pipelines use (same tolerance). */
    dif__prior_cache cache;
    dif__prior_input ic = {hs, t, nt, pe, NULL, NULL, B, NULL, NULL, &cache};
    if (dif__prior_cache_build(&p, &g->k, enc, mask, B, &cache, &err) ||
        dif__prior_forward(&p, &g->k, &ic, out, &err))
      golden_fail(g, name, "cached forward: %s", err.msg);
    else
      golden_check(g, name, "out.predicted_image_embedding", out, nh, st, TOL, 0);
    dif__prior_cache_free(&cache);
    free(mask);
    free(out);
  }
  free(hs);
  free(t);
  free(pe);
  free(enc);
  free(maskf);
  dif__prior_free(&p);
}

int golden_kind_prior(golden *g, const char *dir) { return golden_each_case(g, dir, run_case); }
