/* cephes_f32.c — scalar replica of avx_mathfun's log and sincos (see
 * cephes_f32.h). The polynomials and constants are Cephes' (Stephen L.
 * Moshier), as vectorised by Julien Pommier's sse_mathfun and Giovanni
 * Garberoglio's avx_mathfun (zlib licence); this is an independent scalar
 * restatement of that algorithm. Requires -ffp-contract=off (set for
 * lib/samplers in CMakeLists.txt): every fusion is spelled out with fmaf. */
#include "samplers/cephes_f32.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static float from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static uint32_t to_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

float dif__cephes_logf(float x) {
  x = fmaxf(x, from_bits(0x00800000u)); /* no denormals */
  uint32_t ix = to_bits(x);
  float e = (float)((int32_t)(ix >> 23) - 0x7f);
  x = from_bits((ix & ~0x7f800000u) | to_bits(0.5f)); /* mantissa in [0.5, 1) */
  e = e + 1.0f;
  int small = x < 0.707106781186547524f; /* sqrt(1/2) */
  float tmp = small ? x : 0.0f;
  x = x - 1.0f;
  e = e - (small ? 1.0f : 0.0f);
  x = x + tmp;
  float z = x * x;
  float y = 7.0376836292E-2f;
  y = fmaf(y, x, -1.1514610310E-1f);
  y = fmaf(y, x, 1.1676998740E-1f);
  y = fmaf(y, x, -1.2420140846E-1f);
  y = fmaf(y, x, 1.4249322787E-1f);
  y = fmaf(y, x, -1.6668057665E-1f);
  y = fmaf(y, x, 2.0000714765E-1f);
  y = fmaf(y, x, -2.4999993993E-1f);
  y = fmaf(y, x, 3.3333331174E-1f);
  y = y * x;
  y = fmaf(y, z, e * -2.12194440e-4f);
  y = fmaf(-z, 0.5f, y);
  return fmaf(e, 0.693359375f, x + y);
}

void dif__cephes_sincosf(float x, float *s, float *c) {
  uint32_t sign_sin = to_bits(x) & 0x80000000u;
  x = fabsf(x);
  int32_t j = (int32_t)(x * 1.27323954473516f); /* 4 / pi, truncated */
  j = (j + 1) & ~1;
  float y = (float)j;
  uint32_t swap_sin = ((uint32_t)j & 4u) << 29;
  int sin_poly = (j & 2) == 0;
  /* Extended-precision reduction x - y * pi/4 in three parts. */
  x = fmaf(y, -0.78515625f, x);
  x = fmaf(y, -2.4187564849853515625e-4f, x);
  x = fmaf(y, -3.77489497744594108e-8f, x);
  uint32_t sign_cos = ((uint32_t) ~(j - 2) & 4u) << 29;
  sign_sin ^= swap_sin;
  float z = x * x;
  float yc = fmaf(2.443315711809948E-005f, z, -1.388731625493765E-003f);
  yc = fmaf(yc, z, 4.166664568298827E-002f);
  yc = yc * z;
  yc = fmaf(yc, z, -(z * 0.5f));
  yc = yc + 1.0f;
  float ys = fmaf(-1.9515295891E-4f, z, 8.3321608736E-3f);
  ys = fmaf(ys, z, -1.6666654611E-1f);
  ys = ys * z;
  ys = fmaf(ys, x, x);
  float sin2 = sin_poly ? ys : 0.0f, sin1 = sin_poly ? 0.0f : yc;
  ys = ys - sin2;
  yc = yc - sin1;
  *s = from_bits(to_bits(sin1 + sin2) ^ sign_sin);
  *c = from_bits(to_bits(yc + ys) ^ sign_cos);
}
