/* kind_vae.c — AutoencoderKL cases (README-diffusers "cases/vae").
 *
 * Tolerance: 1e-5 abs, README-diffusers' figure for single components on the
 * tiny float32 models. latent_std = exp(0.5·logvar) is checked too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kinds.h"
#include "models/vae.h"

#define TOL 1e-5

static void run_case(golden *g, const char *name, const dif__safetensors *st) {
  const char *model = dif__st_metadata(st, "model");
  dif__vae v;
  dif__error err = {0};
  if (!model || dif__vae_load(golden_path(g, model), &v, &err)) {
    golden_fail(g, name, "%s", model ? err.msg : "no 'model' in metadata");
    return;
  }
  golden_hooks hc = {g, name, st, TOL};
  dif__kctx k = g->k; /* with --wino, the VAE's convolutions by Winograd; g->k.channels_last */
  k.wino = golden_wino_begin(g);
  const dif__st_entry *ie = dif__st_find(st, "in.image"), *le = dif__st_find(st, "in.latent");
  int64_t n;
  float *image = golden_tensor_f32(g, name, st, "in.image", &n);
  if (image && ie && ie->ndim == 4) {
    int64_t B = ie->shape[0], H = ie->shape[2], W = ie->shape[3], f = dif__vae_scale(&v);
    int64_t m = B * v.latent_ch * (H / f) * (W / f);
    float *mean = malloc((size_t)m * sizeof *mean), *logvar = malloc((size_t)m * sizeof *logvar);
    if (dif__vae_encode(&v, &k, image, B, H, W, mean, logvar, golden_on_hook, &hc, &err)) {
      golden_fail(g, name, "encode: %s", err.msg);
    } else {
      golden_check(g, name, "out.latent_mean", mean, m, st, TOL, 0);
      golden_check(g, name, "out.latent_logvar", logvar, m, st, TOL, 0);
      for (int64_t i = 0; i < m; i++) logvar[i] = expf(0.5f * logvar[i]);
      golden_check(g, name, "out.latent_std", logvar, m, st, TOL, 0);
    }
    free(mean);
    free(logvar);
  }
  free(image);
  float *latent = golden_tensor_f32(g, name, st, "in.latent", &n);
  if (latent && le && le->ndim == 4) {
    int64_t B = le->shape[0], h = le->shape[2], w = le->shape[3], f = dif__vae_scale(&v);
    int64_t m = B * v.out_ch * h * f * w * f;
    float *out = malloc((size_t)m * sizeof *out);
    if (dif__vae_decode(&v, &k, latent, B, h, w, out, golden_on_hook, &hc, &err))
      golden_fail(g, name, "decode: %s", err.msg);
    else
      golden_check(g, name, "out.decoded", out, m, st, TOL, 0);
    /* Without a hook the decoder fuses passes the hooks would split. */
    if (dif__vae_decode(&v, &k, latent, B, h, w, out, NULL, NULL, &err))
      golden_fail(g, name, "decode (no hook): %s", err.msg);
    else
      golden_check(g, name, "out.decoded", out, m, st, TOL, 0);
    free(out);
  }
  free(latent);
  golden_wino_end(g, k.wino);
  dif__vae_free(&v);
}

int golden_kind_vae(golden *g, const char *dir) { return golden_each_case(g, dir, run_case); }
