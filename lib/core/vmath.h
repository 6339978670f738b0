/* vmath.h — exp() and max() over float vectors in SIMD at any optimisation
 * level.
 *
 * glibc's expf is a scalar call, and softmax over attention scores calls it
 * for every tokens × tokens entry: with it the softmax took about twice as
 * long as the attention GEMMs. dif__vexp_v is the Cephes expf (Cody–Waite
 * reduction by ln 2, degree-6 polynomial, within ~2 ulp of exp) written with
 * GCC/Clang vector extensions: plain C loops with the range selects it needs
 * are not vectorised at -O2 (GCC does not if-convert float selects there).
 *
 * The vector width follows the target the file is compiled for: 32 bytes
 * (8 floats) where AVX is enabled — kern_simd_avx2.c, compiled with AVX2 and
 * FMA and selected at run time — else 16 bytes (4 floats), which every
 * x86-64 (SSE2) and Arm64 (NEON) target has; 32-byte vectors without AVX are
 * lowered to scalar code through the stack. An includer may choose the
 * width itself by defining DIF__VMATH_W first (16: the exact path's fused
 * attention's AVX-512 build, and its portable 16-lane build, which the
 * compiler lowers to the target's vectors). Kernels should keep values in
 * dif__vf variables: round trips through float arrays defeat GCC's -O3 SLP
 * vectoriser (stack stores and partial reloads, several times slower).
 * Other compilers get scalar loops with the same results up to expf's
 * rounding.
 */
#ifndef DIF__CORE_VMATH_H
#define DIF__CORE_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* floats per dif__vexp_block / dif__vmax_blocks step: 8, or the includer's
 * DIF__VMATH_W when that is 16 (below) */
#if defined(DIF__VMATH_W) && DIF__VMATH_W != 4 && DIF__VMATH_W != 8 && DIF__VMATH_W != 16
#error "vmath.h: DIF__VMATH_W is 4, 8 or 16"
#endif
#if defined(DIF__VMATH_W) && DIF__VMATH_W == 16
#define DIF__VLANES 16
#else
#define DIF__VLANES 8
#endif

/* Below DIF__VEXP_LO exp leaves the normal range and dif__vexp gives 0 (so
 * -inf → 0); inputs above DIF__VEXP_HI are clamped to it (no overflow to
 * inf, exp(DIF__VEXP_HI) ≈ 2.4e38). NaN stays NaN. */
#define DIF__VEXP_LO (-87.33654f)
#define DIF__VEXP_HI 88.37626f

/* 2^f for f in [-1/2, 1/2]: p(f) = C0 + f·(C1 + f·(C2 + f·(C3 + f·(C4 + f·C5)))),
 * the degree-5 polynomial of least relative error (7.5e-8 in exact
 * arithmetic, 2.2e-7 evaluated in float32 by Horner's rule: ~2 ulp, as
 * dif__vexp_v). Fitted by Lawson's iteration on 4001 Chebyshev points in
 * double, then rounded to float32 and checked on 200001 points. The fused
 * attention's online softmax (attn_fused_lanes_*.h) computes its exp as
 * 2^n · p(f): one fewer product than the Cody–Waite form above, and the
 * scaling by 2^n is one instruction (VSCALEFPS) on AVX-512. */
#define DIF__EXP2_C0 1.0000001192e+00f
#define DIF__EXP2_C1 6.9314694405e-01f
#define DIF__EXP2_C2 2.4022120237e-01f
#define DIF__EXP2_C3 5.5507130921e-02f
#define DIF__EXP2_C4 9.6755418926e-03f
#define DIF__EXP2_C5 1.3276471291e-03f
/* The exp2 above takes t ≥ this (smaller t, and -inf, are raised to it):
 * 2^-151 · p(0), a quarter of the smallest subnormal, rounds to 0, so -inf
 * gives 0 exactly. */
#define DIF__EXP2_LO (-151.0f)

#if defined(__GNUC__)

#if defined(DIF__VMATH_W)
#define DIF__VW DIF__VMATH_W
#elif defined(__AVX__)
#define DIF__VW 8
#else
#define DIF__VW 4
#endif

typedef float dif__vf __attribute__((vector_size(DIF__VW * 4)));
typedef int32_t dif__vi __attribute__((vector_size(DIF__VW * 4)));

static inline dif__vf dif__vf_load(const float *p) {
  dif__vf v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline void dif__vf_store(float *p, dif__vf v) { memcpy(p, &v, sizeof v); }
static inline dif__vf dif__vf_splat(float x) { return (dif__vf){0} + x; }
/* Lanes of a where m is all ones, of b where it is zero. */
static inline dif__vf dif__vf_select(dif__vi m, dif__vf a, dif__vf b) {
  return (dif__vf)((m & (dif__vi)a) | (~m & (dif__vi)b));
}
static inline dif__vf dif__vf_max(dif__vf a, dif__vf b) { return dif__vf_select(a > b, a, b); }
static inline dif__vf dif__vf_abs(dif__vf a) { return (dif__vf)((dif__vi)a & 0x7fffffff); }
static inline float dif__vf_hmax(dif__vf v) {
  float l[DIF__VW];
  memcpy(l, &v, sizeof v);
  float r = l[0];
  for (int i = 1; i < DIF__VW; i++) r = l[i] > r ? l[i] : r;
  return r;
}
/* Sum of the lanes in double, in lane order. */
static inline double dif__vf_hsum_d(dif__vf v) {
  float l[DIF__VW];
  memcpy(l, &v, sizeof v);
  double s = 0;
  for (int i = 0; i < DIF__VW; i++) s += (double)l[i];
  return s;
}

/* exp of every lane. */
static inline dif__vf dif__vexp_v(dif__vf v) {
  const dif__vi under = v < DIF__VEXP_LO; /* false for NaN, which then propagates */
  const dif__vi lo = (dif__vi)dif__vf_splat(DIF__VEXP_LO),
                hi = (dif__vi)dif__vf_splat(DIF__VEXP_HI);
  v = (dif__vf)((under & lo) | (~under & (dif__vi)v));
  const dif__vi over = v > DIF__VEXP_HI;
  v = (dif__vf)((over & hi) | (~over & (dif__vi)v));
  /* n = round(v / ln 2): adding 1.5·2^23 leaves n in the low mantissa bits
   * (round to nearest) without a call to rintf. */
  const dif__vf shifted = v * 1.44269504088896341f + 12582912.0f;
  const dif__vf n = shifted - 12582912.0f;
  /* r = v - n·ln 2 in two steps; the first is exact (ln 2 hi has 9 bits). */
  dif__vf r = v - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  dif__vf p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  /* 2^n as a float: n + 127 in the exponent field; n is in [-126, 127]. */
  const dif__vi e = ((dif__vi)shifted - 0x4B400000 + 127) << 23;
  const dif__vf res = p * (dif__vf)e;
  return (dif__vf)((dif__vi)res & ~under);
}

/* 16-lane (64-byte) vectors where the includer asks for them
 * (DIF__VMATH_16: the fused attention, whose exp is its lanes' af_exp2 with
 * the DIF__EXP2_* polynomial above; GCC warns about 64-byte vector returns
 * in files built without AVX-512, which that file's portable build
 * silences). */
#if defined(DIF__VMATH_16)
typedef float dif__vf16 __attribute__((vector_size(64)));
typedef int32_t dif__vi16 __attribute__((vector_size(64)));
#endif

/* y[l] = exp(x[l]) for l < DIF__VLANES; x and y may be the same array. */
static inline void dif__vexp_block(const float *x, float *y) {
  for (int i = 0; i < DIF__VLANES; i += DIF__VW)
    dif__vf_store(y + i, dif__vexp_v(dif__vf_load(x + i)));
}

/* Largest of the first n - n % DIF__VLANES entries of x (n ≥ DIF__VLANES).
 * With NaN in x the result is unspecified (softmax turns such rows into NaN
 * either way). */
static inline float dif__vmax_blocks(const float *x, int64_t n) {
  dif__vf m = dif__vf_load(x);
  for (int64_t i = DIF__VW; i + DIF__VW <= n - n % DIF__VLANES; i += DIF__VW)
    m = dif__vf_max(dif__vf_load(x + i), m);
  return dif__vf_hmax(m);
}

#else

static inline void dif__vexp_block(const float *x, float *y) {
  for (int l = 0; l < DIF__VLANES; l++) {
    const float v = x[l];
    y[l] = v < DIF__VEXP_LO ? 0.0f : expf(v > DIF__VEXP_HI ? DIF__VEXP_HI : v);
  }
}

static inline float dif__vmax_blocks(const float *x, int64_t n) {
  float r = x[0];
  for (int64_t i = 1; i < n - n % DIF__VLANES; i++) r = x[i] > r ? x[i] : r;
  return r;
}

#endif

/* y[i] = exp(x[i]) for i < n; x and y may be the same array. */
static inline void dif__vexp(const float *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + DIF__VLANES <= n; i += DIF__VLANES) dif__vexp_block(x + i, y + i);
  if (i < n) {
    float tmp[DIF__VLANES] = {0};
    memcpy(tmp, x + i, (size_t)(n - i) * sizeof *tmp);
    dif__vexp_block(tmp, tmp);
    memcpy(y + i, tmp, (size_t)(n - i) * sizeof *tmp);
  }
}

/* Largest of x[0..n), -inf if all are -inf (or n is 0); NaN as above. */
static inline float dif__vmax(const float *x, int64_t n) {
  float r = -INFINITY;
  int64_t i = 0;
  if (n >= DIF__VLANES) {
    r = dif__vmax_blocks(x, n);
    i = n - n % DIF__VLANES;
  }
  for (; i < n; i++) r = x[i] > r ? x[i] : r;
  return r;
}

#endif
