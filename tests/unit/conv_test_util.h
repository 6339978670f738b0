/* conv_test_util.h — shared by the 3×3 convolution tests (test-conv-wino.c,
 * test-conv-wino-bf16.c): random GroupNorm affines, conv2d.c's input
 * transform in double for their double references, and the parameters. */
#ifndef DIF__CONV_TEST_UTIL_H
#define DIF__CONV_TEST_UTIL_H

#include <math.h>

#include "core/ops_internal.h"
#include "ops_test_util.h"

/* n GroupNorm affines ((v - hi) - lo)·a + c with hi, c in [-1, 1], lo tiny
 * (the low half of a split mean) and a in [0, 2]. */
static inline dif__norm_affine *conv_test_norms(int64_t n, uint64_t seed) {
  float *r = frand((size_t)(4 * n), seed, -1, 1);
  dif__norm_affine *a = malloc((size_t)n * sizeof *a);
  if (!a) abort();
  for (int64_t i = 0; i < n; i++)
    a[i] = (dif__norm_affine){r[4 * i], r[4 * i + 1] * 1e-7f, 1.0f + r[4 * i + 2], r[4 * i + 3]};
  free(r);
  return a;
}

/* Channel c of image n at (ih, iw) of the transformed input, in double:
 * conv2d.c's nearest resize, then the affine, then SiLU; x [N, cin, H, W],
 * or [N, H, W, cin] when p->channels_last. */
static inline double conv_test_xin(const dif__conv2d_params *p, const float *x, int64_t n,
                                   int64_t c, int64_t H, int64_t W, int64_t ih, int64_t iw) {
  const int64_t Hin = p->in_h ? p->in_h : H, Win = p->in_w ? p->in_w : W;
  const int64_t sr = dif__nearest_idx(ih, H, Hin), sc = dif__nearest_idx(iw, W, Win);
  double v = p->channels_last ? x[((n * H + sr) * W + sc) * p->cin + c]
                              : x[((n * p->cin + c) * H + sr) * W + sc];
  if (p->in_norm) {
    const dif__norm_affine *a = &p->in_norm[n * p->cin + c];
    v = ((v - a->hi) - a->lo) * a->a + a->c;
  }
  if (p->in_silu) v = v / (1.0 + exp(-v));
  return v;
}

/* A 3×3, stride-1, pad-1 convolution's parameters with the given transform. */
static inline dif__conv2d_params conv_test_3x3(int64_t cin, int64_t cout, bool acc, int64_t in_h,
                                               int64_t in_w, const dif__norm_affine *norm,
                                               bool silu, bool channels_last) {
  return (dif__conv2d_params){.cin = cin,
                              .cout = cout,
                              .kh = 3,
                              .kw = 3,
                              .stride = 1,
                              .pad_top = 1,
                              .pad_left = 1,
                              .pad_bottom = 1,
                              .pad_right = 1,
                              .accumulate = acc,
                              .in_h = in_h,
                              .in_w = in_w,
                              .in_norm = norm,
                              .in_silu = silu,
                              .channels_last = channels_last};
}

#endif
