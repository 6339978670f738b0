/* resnet.h — diffusers' ResnetBlock2D, shared by the UNet and the VAE.
 *
 * h = conv1(silu(norm1(x))); h += time_emb_proj(silu(temb)) per channel
 * (UNet only, "default" time scale shift); h = conv2(silu(norm2(h)));
 * out = shortcut(x) + h, where shortcut is a 1×1 conv when the channel count
 * changes and the identity otherwise (output_scale_factor 1).
 *
 * Computed with fused passes: norm + SiLU applied by the convolutions while
 * they read their input (only the norm statistics are a separate pass); the
 * time embedding added through conv1's per-image bias; conv2 accumulating
 * onto shortcut(x) + its bias. Same values as diffusers up to float
 * rounding (the additions happen in another order).
 */
#ifndef DIF__MODELS_RESNET_H
#define DIF__MODELS_RESNET_H

#include <stdint.h>

#include "core/ops.h"
#include "models/weights.h"

typedef struct dif__resnet {
  int64_t cin, cout, temb_ch; /* temb_ch 0: no time embedding (VAE) */
  int64_t groups;
  float eps;
  const float *norm1_w, *norm1_b, *conv1_b, *temb_b, *norm2_w, *norm2_b, *conv2_b;
  dif__weight conv1_w, temb_w, conv2_w;
  dif__weight short_w;  /* data NULL when cin == cout */
  const float *short_b; /* NULL when cin == cout */
} dif__resnet;

/* The k×k convolution that keeps the size (stride 1, padding k/2, k odd):
 * ResnetBlock2D's conv1 and conv2, the upsamplers, the UNet's and the VAE's
 * conv_in and conv_out. */
static inline dif__conv2d_params dif__conv_same(int64_t cin, int64_t cout, int64_t k) {
  int64_t p = k / 2;
  return (dif__conv2d_params){.cin = cin,
                              .cout = cout,
                              .kh = k,
                              .kw = k,
                              .stride = 1,
                              .pad_top = p,
                              .pad_left = p,
                              .pad_bottom = p,
                              .pad_right = p};
}

/* Loads "<prefix>.norm1.weight" etc. */
void dif__resnet_load(dif__resnet *r, dif__wloader *wl, const char *prefix, int64_t cin,
                      int64_t cout, int64_t temb_ch, int64_t groups, float eps);

/* y[N, cout, H, W] = resnet(x[N, cin, H, W], temb[N, temb_ch] or NULL).
 * temb_act: temb after silu (the caller applies silu once per step and
 * shares it). y may be x when cout <= cin (in place: the output takes the
 * first channels of x's buffer); otherwise they must not overlap. Scratch:
 * N·cout·H·W floats for conv1's output plus a little, from k->arena. */
dif_status dif__resnet_forward(const dif__resnet *r, const dif__kctx *k, const float *x, int64_t N,
                               int64_t H, int64_t W, const float *temb_act, float *y,
                               dif__error *err);
/* The same with conv1's output in scratch[N·cout·H·W] (not overlapping x or
 * y) instead of the arena: for a caller that has a dead buffer at hand. */
dif_status dif__resnet_forward_ex(const dif__resnet *r, const dif__kctx *k, const float *x,
                                  int64_t N, int64_t H, int64_t W, const float *temb_act, float *y,
                                  float *scratch, dif__error *err);

/* The same on channels-last x[N, H, W, cin] and y[N, H, W, cout]
 * (dif__kctx.channels_last: the VAE's and the UNet's); scratch
 * likewise. */
dif_status dif__resnet_forward_cl(const dif__resnet *r, const dif__kctx *k, const float *x,
                                  int64_t N, int64_t H, int64_t W, const float *temb_act, float *y,
                                  float *scratch, dif__error *err);

#endif
