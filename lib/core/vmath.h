/* vmath.h — exp() and max() over float arrays in SIMD at any optimisation
 * level.
 *
 * glibc's expf is a scalar call, and softmax over attention scores calls it
 * for every tokens × tokens entry: with it the softmax took about twice as
 * long as the attention GEMMs. dif_vexp is the Cephes expf (Cody–Waite
 * reduction by ln 2, degree-6 polynomial, within ~2 ulp of exp) written with
 * GCC/Clang vector extensions: plain C loops with the range selects it needs
 * are not vectorised at -O2 (GCC does not if-convert float selects there),
 * while 16-byte vector types map to SSE2 on x86-64 and NEON on Arm. Other
 * compilers get scalar loops with the same results up to expf's rounding.
 */
#ifndef DIF_CORE_VMATH_H
#define DIF_CORE_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define DIF_VLANES 8

/* Below DIF_VEXP_LO exp leaves the normal range and dif_vexp gives 0 (so
 * -inf → 0); inputs above DIF_VEXP_HI are clamped to it (no overflow to
 * inf, exp(DIF_VEXP_HI) ≈ 2.4e38). NaN stays NaN. */
#define DIF_VEXP_LO (-87.33654f)
#define DIF_VEXP_HI 88.37626f

#if defined(__GNUC__)

/* 16-byte vectors: the width every x86-64 (SSE2) and Arm64 (NEON) target
 * has. 32-byte ones are lowered to scalar code through the stack when AVX is
 * not enabled, which is slower than glibc's expf. */
typedef float dif_v4f __attribute__((vector_size(16)));
typedef int32_t dif_v4i __attribute__((vector_size(16)));

/* Lanes of a where m is all ones, of b where it is zero. */
#define DIF_V4_SELECT(m, a, b) ((dif_v4f)(((m) & (dif_v4i)(a)) | (~(m) & (dif_v4i)(b))))

/* y[l] = exp(x[l]) for l < 4; x and y may be the same array. */
static inline void dif_vexp4(const float *x, float *y) {
  dif_v4f v;
  memcpy(&v, x, sizeof v);
  const dif_v4i under = v < DIF_VEXP_LO; /* false for NaN, which then propagates */
  const dif_v4f lo = {DIF_VEXP_LO, DIF_VEXP_LO, DIF_VEXP_LO, DIF_VEXP_LO};
  const dif_v4f hi = {DIF_VEXP_HI, DIF_VEXP_HI, DIF_VEXP_HI, DIF_VEXP_HI};
  v = DIF_V4_SELECT(under, lo, v);
  v = DIF_V4_SELECT(v > DIF_VEXP_HI, hi, v);
  /* n = round(v / ln 2): adding 1.5·2^23 leaves n in the low mantissa bits
   * (round to nearest) without a call to rintf. */
  const dif_v4f shifted = v * 1.44269504088896341f + 12582912.0f;
  const dif_v4f n = shifted - 12582912.0f;
  /* r = v - n·ln 2 in two steps; the first is exact (ln 2 hi has 9 bits). */
  dif_v4f r = v - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  dif_v4f p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  /* 2^n as a float: n + 127 in the exponent field; n is in [-126, 127]. */
  const dif_v4i e = ((dif_v4i)shifted - 0x4B400000 + 127) << 23;
  const dif_v4f res = p * (dif_v4f)e;
  const dif_v4f out = (dif_v4f)((dif_v4i)res & ~under);
  memcpy(y, &out, sizeof out);
}

/* y[l] = exp(x[l]) for l < 8 (two independent vectors: more ILP). */
static inline void dif_vexp_block(const float *x, float *y) {
  dif_vexp4(x, y);
  dif_vexp4(x + 4, y + 4);
}

/* Largest of the first n - n % 8 entries of x (n ≥ 8). With NaN in x the
 * result is unspecified (softmax turns such rows into NaN either way). */
static inline float dif_vmax_blocks(const float *x, int64_t n) {
  dif_v4f m0, m1;
  memcpy(&m0, x, sizeof m0);
  memcpy(&m1, x + 4, sizeof m1);
  for (int64_t i = DIF_VLANES; i + DIF_VLANES <= n; i += DIF_VLANES) {
    dif_v4f v0, v1;
    memcpy(&v0, x + i, sizeof v0);
    memcpy(&v1, x + i + 4, sizeof v1);
    m0 = DIF_V4_SELECT(v0 > m0, v0, m0);
    m1 = DIF_V4_SELECT(v1 > m1, v1, m1);
  }
  float lanes[DIF_VLANES];
  memcpy(lanes, &m0, sizeof m0);
  memcpy(lanes + 4, &m1, sizeof m1);
  float r = lanes[0];
  for (int l = 1; l < DIF_VLANES; l++) r = lanes[l] > r ? lanes[l] : r;
  return r;
}

#else

static inline void dif_vexp_block(const float *x, float *y) {
  for (int l = 0; l < DIF_VLANES; l++) {
    const float v = x[l];
    y[l] = v < DIF_VEXP_LO ? 0.0f : expf(v > DIF_VEXP_HI ? DIF_VEXP_HI : v);
  }
}

static inline float dif_vmax_blocks(const float *x, int64_t n) {
  float r = x[0];
  for (int64_t i = 1; i < n - n % DIF_VLANES; i++) r = x[i] > r ? x[i] : r;
  return r;
}

#endif

/* y[i] = exp(x[i]) for i < n; x and y may be the same array. */
static inline void dif_vexp(const float *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + DIF_VLANES <= n; i += DIF_VLANES) dif_vexp_block(x + i, y + i);
  if (i < n) {
    float tmp[DIF_VLANES] = {0};
    memcpy(tmp, x + i, (size_t)(n - i) * sizeof *tmp);
    dif_vexp_block(tmp, tmp);
    memcpy(y + i, tmp, (size_t)(n - i) * sizeof *tmp);
  }
}

/* Largest of x[0..n), -inf if all are -inf (or n is 0); NaN as above. */
static inline float dif_vmax(const float *x, int64_t n) {
  float r = -INFINITY;
  int64_t i = 0;
  if (n >= DIF_VLANES) {
    r = dif_vmax_blocks(x, n);
    i = n - n % DIF_VLANES;
  }
  for (; i < n; i++) r = x[i] > r ? x[i] : r;
  return r;
}

#endif
