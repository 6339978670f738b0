/* kern_simd_impl.h — bodies of the kern_simd.h kernels, included once per
 * target by kern_simd.c (baseline) and kern_simd_avx2.c with DIF__K(name)
 * naming the functions. GCC/Clang only (vector extensions); kern_simd.c has
 * scalar versions for other compilers. */
#include <math.h>
#include <string.h>

#include "core/kern_simd.h"
#include "core/vmath.h"

enum { W = DIF__VW };

/* Lanes summed in float per flush into the double total: 32 terms ≤ 1 per
 * lane keep the float error below 2e-6 while the lanes stay SIMD. */
#define FLUSH_VECS 32

DIF__K_LINKAGE float DIF__K(dif__k_softmax_row_unnormalised)(float *x, int64_t n) {
  const float mx = dif__vmax(x, n);
  if (mx == -INFINITY) {
    /* Every entry masked out: a defined all-zero row instead of 0/0 = NaN
     * (attention then yields a zero output row). */
    for (int64_t i = 0; i < n; i++) x[i] = 0.0f;
    return 0.0f;
  }
  const dif__vf m = dif__vf_splat(mx);
  double sum = 0;
  int64_t i = 0;
  while (i + W <= n) {
    dif__vf acc = dif__vf_splat(0.0f);
    for (int b = 0; b < FLUSH_VECS && i + W <= n; b++, i += W) {
      const dif__vf e = dif__vexp_v(dif__vf_load(x + i) - m);
      dif__vf_store(x + i, e);
      acc += e;
    }
    sum += dif__vf_hsum_d(acc);
  }
  if (i < n) { /* the tail, padded with -inf (exp 0) */
    float t[W];
    for (int l = 0; l < W; l++) t[l] = i + l < n ? x[i + l] : -INFINITY;
    const dif__vf e = dif__vexp_v(dif__vf_load(t) - m);
    dif__vf_store(t, e);
    for (int64_t j = i; j < n; j++) {
      x[j] = t[j - i];
      sum += (double)t[j - i];
    }
  }
  return (float)(1.0 / sum);
}

DIF__K_LINKAGE void DIF__K(dif__k_softmax_row)(float *x, int64_t n) {
  const float inv = DIF__K(dif__k_softmax_row_unnormalised)(x, n);
  if (inv == 0.0f) return; /* all masked: already zeros */
  const dif__vf vinv = dif__vf_splat(inv);
  int64_t i = 0;
  for (; i + W <= n; i += W) dif__vf_store(x + i, dif__vf_load(x + i) * vinv);
  for (; i < n; i++) x[i] *= inv;
}

/* GELU, erf form: x·Φ(x) = x·(1 - erfc(x/√2)/2). erfc comes from Numerical
 * Recipes' erfcc, t·exp(-z² + P(t)) with t = 1/(1 + z/2), relative error
 * < 1.2e-7 for all z ≥ 0. Writing GELU through erfc(|x|/√2):
 *   x ≥ 0: x - x·erfc/2,   x < 0: x·erfc/2,
 * i.e. relu(x) - |x|·erfc/2 with relu(x) = (x + |x|)/2 — no select, and for
 * negative x no cancellation in 1 + erf(x), so the tail is more accurate
 * than the textbook float formula (which loses everything past x ≈ -5). */
static inline dif__vf gelu_v(dif__vf x) {
  const dif__vf ax = dif__vf_abs(x);
  const dif__vf z = ax * 0.70710678118654752f;
  const dif__vf t = 1.0f / (1.0f + 0.5f * z);
  dif__vf p = dif__vf_splat(0.17087277f);
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  const dif__vf e = dif__vexp_v(-z * z - 1.26551223f + t * p);
  return 0.5f * (x + ax) - 0.5f * ax * (t * e);
}

/* y = x / (1 + exp(-k·u(x))): SiLU (u = x, k = 1), QuickGELU (k = 1.702)
 * and tanh-GELU, since 0.5·x·(1 + tanh(v)) = x / (1 + exp(-2v)). For
 * k·u → -∞ the exponential saturates (vmath.h) and y → -0, never inf·0. */
static inline dif__vf sigmoid_gate_v(dif__vf x, float k, bool cubic) {
  dif__vf a;
  if (cubic) /* v = √(2/π)·(x + 0.044715·x³), k = 2 */
    a = -k * 0.7978845608028654f * (x + 0.044715f * x * x * x);
  else
    a = -k * x;
  return x / (1.0f + dif__vexp_v(a));
}

/* A partial last vector is padded with zeros. */
static inline dif__vf load_part(const float *x, int64_t n) {
  float t[W] = {0};
  memcpy(t, x, (size_t)n * sizeof *t);
  return dif__vf_load(t);
}
static inline void store_part(float *y, dif__vf v, int64_t n) {
  float t[W];
  dif__vf_store(t, v);
  memcpy(y, t, (size_t)n * sizeof *t);
}

/* One loop per kind so the switch is outside the loop. */
#define ACT_LOOP(expr)                                                                             \
  do {                                                                                             \
    int64_t i = 0;                                                                                 \
    for (; i + W <= n; i += W) {                                                                   \
      const dif__vf v = dif__vf_load(x + i);                                                       \
      dif__vf_store(y + i, expr);                                                                  \
    }                                                                                              \
    if (i < n) {                                                                                   \
      const dif__vf v = load_part(x + i, n - i);                                                   \
      store_part(y + i, expr, n - i);                                                              \
    }                                                                                              \
  } while (0)

DIF__K_LINKAGE void DIF__K(dif__k_act_span)(dif__act_kind kind, const float *x, float *y,
                                            int64_t n) {
  switch (kind) {
  case DIF__ACT_GELU: ACT_LOOP(gelu_v(v)); break;
  case DIF__ACT_GELU_TANH: ACT_LOOP(sigmoid_gate_v(v, 2.0f, true)); break;
  case DIF__ACT_QUICK_GELU: ACT_LOOP(sigmoid_gate_v(v, 1.702f, false)); break;
  default: ACT_LOOP(sigmoid_gate_v(v, 1.0f, false)); break;
  }
}

DIF__K_LINKAGE void DIF__K(dif__k_geglu_span)(const float *a, const float *g, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + W <= n; i += W)
    dif__vf_store(y + i, dif__vf_load(a + i) * gelu_v(dif__vf_load(g + i)));
  if (i < n) store_part(y + i, load_part(a + i, n - i) * gelu_v(load_part(g + i, n - i)), n - i);
}

DIF__K_LINKAGE void DIF__K(dif__k_affine_span)(const float *x, float *y, int64_t n, float hi,
                                               float lo, float s, float c, bool silu) {
  const dif__vf vh = dif__vf_splat(hi), vl = dif__vf_splat(lo), vs = dif__vf_splat(s),
                vc = dif__vf_splat(c);
  if (silu) {
    ACT_LOOP(sigmoid_gate_v(((v - vh) - vl) * vs + vc, 1.0f, false));
  } else {
    ACT_LOOP(((v - vh) - vl) * vs + vc);
  }
}

#undef ACT_LOOP

/* The includer defines DIF__K_STORE_BF16(uint16_t *dst, dif__vf v): the W
 * lanes of v into bf16 as dif__bf16_rne. */
DIF__K_LINKAGE void DIF__K(dif__k_affine_bf16)(const float *x, int64_t n, const float *const *norm,
                                               bool silu, uint16_t *dst) {
  for (int64_t i = 0; i < n; i += W) {
    const int64_t m = n - i < W ? n - i : W;
    dif__vf v = m == W ? dif__vf_load(x + i) : load_part(x + i, m);
    if (norm) {
      const float *const hi = norm[0] + i, *const lo = norm[1] + i, *const s = norm[2] + i,
                         *const c = norm[3] + i;
      if (m == W)
        v = ((v - dif__vf_load(hi)) - dif__vf_load(lo)) * dif__vf_load(s) + dif__vf_load(c);
      else
        v = ((v - load_part(hi, m)) - load_part(lo, m)) * load_part(s, m) + load_part(c, m);
    }
    if (silu) v = sigmoid_gate_v(v, 1.0f, false);
    if (m == W) {
      DIF__K_STORE_BF16(dst + i, v);
    } else {
      uint16_t t[W];
      DIF__K_STORE_BF16(t, v);
      memcpy(dst + i, t, (size_t)m * sizeof *t);
    }
  }
}

DIF__K_LINKAGE void DIF__K(dif__k_affine_vec)(const float *x, int64_t n, const float *const *norm,
                                              float *y) {
  const float *const hi = norm[0], *const lo = norm[1], *const s = norm[2], *const c = norm[3];
  int64_t i = 0;
  for (; i + W <= n; i += W)
    dif__vf_store(y + i, ((dif__vf_load(x + i) - dif__vf_load(hi + i)) - dif__vf_load(lo + i)) *
                                 dif__vf_load(s + i) +
                             dif__vf_load(c + i));
  if (i < n) {
    const int64_t m = n - i;
    store_part(y + i,
               ((load_part(x + i, m) - load_part(hi + i, m)) - load_part(lo + i, m)) *
                       load_part(s + i, m) +
                   load_part(c + i, m),
               m);
  }
}

/* Plain loops: the compiler vectorises them for each build's width. */
DIF__K_LINKAGE void DIF__K(dif__k_shifted_sums)(const float *x, int64_t pixels, int64_t C,
                                                const float *shift, double *s1, double *s2) {
  for (int64_t p = 0; p < pixels; p++) {
    const float *px = x + p * C;
    for (int64_t c = 0; c < C; c++) {
      const double d = (double)px[c] - (double)shift[c];
      s1[c] += d;
      s2[c] += d * d;
    }
  }
}

#undef FLUSH_VECS
