/* kind_unet.c — UNet2DConditionModel cases (README-diffusers "cases/unet").
 *
 * Tolerance: 1e-5 abs on the output and on every hook the fixture holds,
 * README-diffusers' figure for single components on the tiny float32 models
 * (values O(1); differences come only from GEMM and norm summation order). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"
#include "models/unet.h"

#define TOL 1e-5

static void run_case(golden *g, const char *name, const dif__safetensors *st) {
  const char *model = dif__st_metadata(st, "model");
  dif__unet u;
  dif__error err = {0};
  if (!model || dif__unet_load(golden_path(g, model), &u, &err)) {
    golden_fail(g, name, "%s", model ? err.msg : "no 'model' in metadata");
    return;
  }
  const dif__st_entry *se = dif__st_find(st, "in.sample"),
                      *ce = dif__st_find(st, "in.encoder_hidden_states");
  int64_t n_sample, n_t, n_ctx, n_cls = 0;
  float *sample = golden_tensor_f32(g, name, st, "in.sample", &n_sample);
  float *t = golden_tensor_f32(g, name, st, "in.timestep", &n_t);
  float *ctx = golden_tensor_f32(g, name, st, "in.encoder_hidden_states", &n_ctx);
  float *cls = u.class_in ? golden_tensor_f32(g, name, st, "in.class_labels", &n_cls) : NULL;
  if (sample && t && ctx && se && ce && se->ndim == 4 && ce->ndim == 3 && (!u.class_in || cls)) {
    int64_t B = se->shape[0], H = se->shape[2], W = se->shape[3];
    float *out = malloc((size_t)(B * u.out_ch * H * W) * sizeof *out);
    golden_hooks hc = {g, name, st, TOL};
    /* with --wino, its 3x3 convolutions by Winograd up to the networks' limit, as a context's */
    dif__kctx k = g->k;
    k.wino = golden_wino_begin(g);
    k.wino_max_cc = DIF__WINO_NETS_MAX_CC;
    dif__unet_input in = {.sample = sample,
                          .B = B,
                          .H = H,
                          .W = W,
                          .timesteps = t,
                          .n_timesteps = n_t,
                          .context = ctx,
                          .S = ce->shape[1],
                          .class_labels = cls,
                          .hook = golden_on_hook,
                          .hook_user = &hc};
    if (dif__unet_forward(&u, &k, &in, out, &err))
      golden_fail(g, name, "forward: %s", err.msg);
    else
      golden_check(g, name, "out.sample", out, B * u.out_ch * H * W, st, TOL, 0);
    /* Without a hook the forward pass fuses passes the hooks would split. */
    in.hook = NULL;
    if (dif__unet_forward(&u, &k, &in, out, &err))
      golden_fail(g, name, "forward (no hook): %s", err.msg);
    else
      golden_check(g, name, "out.sample", out, B * u.out_ch * H * W, st, TOL, 0);
    golden_wino_end(g, k.wino);
    free(out);
  }
  free(sample);
  free(t);
  free(ctx);
  free(cls);
  dif__unet_free(&u);
}

int golden_kind_unet(golden *g, const char *dir) { return golden_each_case(g, dir, run_case); }
