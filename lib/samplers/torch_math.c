/* torch_math.c — torch.log / torch.exp / torch.expm1 on float32 CPU tensors.
 *
 * PyTorch's AVX2 kernels evaluate these with SLEEF's 1-ulp vector functions
 * (Sleef_logf8_u10, Sleef_expf8_u10, Sleef_expm1f8_u10; SLEEF 3.5.1 as
 * bundled with PyTorch 1.13, built with FMA and -ffp-contract=off), even for
 * the 0-d coefficient tensors of the schedulers. Their results differ from
 * the C library's in the last bit now and then, and that last bit shows in
 * the DPM-Solver / UniPC / DDPM traces. This file restates those algorithms
 * for one float — double-float ("df") arithmetic with explicit fmaf — so the
 * values agree bit for bit. SLEEF is by Naoki Shibata and contributors
 * (Boost Software License 1.0). Compile with -ffp-contract=off.
 */
#include "samplers/torch_math.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define L2U 0.693145751953125f
#define L2L 1.428606765330187045e-06f
#define R_LN2 1.442695040888963407359924681001892137426645954152985934135449406931f

typedef struct df {
  float x, y;
} df;

static uint32_t bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static float from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static int32_t ilogb2k(float d) { return (int32_t)((bits(d) >> 23) & 0xff) - 0x7f; }
static float pow2i(int32_t q) { return from_bits((uint32_t)(q + 0x7f) << 23); }
static float ldexp2k(float d, int32_t e) { return d * pow2i(e >> 1) * pow2i(e - (e >> 1)); }
static float ldexp3k(float d, int32_t q) { return from_bits(bits(d) + ((uint32_t)q << 23)); }
/* cvtps2dq: nearest-even; NaN and out-of-range give INT32_MIN ("integer
 * indefinite"), which C's conversion would leave undefined. */
static int32_t rint_i(float x) {
  if (!(x >= -2147483648.0f && x < 2147483648.0f)) return INT32_MIN;
  return (int32_t)nearbyintf(x);
}

static df dd(float x, float y) {
  df r = {x, y};
  return r;
}
static df add2_ff(float x, float y) {
  const float s = x + y, v = s - x;
  return dd(s, (x - (s - v)) + (y - v));
}
static df add2_df_f(df x, float y) {
  const float s = x.x + y, v = s - x.x;
  const float t = (x.x - (s - v)) + (y - v);
  return dd(s, t + x.y);
}
static df add2_df_df(df x, df y) {
  const float s = x.x + y.x, v = s - x.x;
  const float t = (x.x - (s - v)) + (y.x - v);
  return dd(s, t + (x.y + y.y));
}
static df add_df_df(df x, df y) { /* |x| >= |y| */
  const float s = x.x + y.x;
  return dd(s, (((x.x - s) + y.x) + x.y) + y.y);
}
static df add_df_f(df x, float y) {
  const float s = x.x + y;
  return dd(s, ((x.x - s) + y) + x.y);
}
static df add_f_df(float x, df y) {
  const float s = x + y.x;
  return dd(s, ((x - s) + y.x) + y.y);
}
static df mul_df_f(df x, float y) {
  const float s = x.x * y;
  return dd(s, fmaf(x.y, y, fmaf(x.x, y, -s)));
}
static df mul_df_df(df x, df y) {
  const float s = x.x * y.x;
  return dd(s, fmaf(x.x, y.y, fmaf(x.y, y.x, fmaf(x.x, y.x, -s))));
}
static df squ(df x) {
  const float s = x.x * x.x;
  return dd(s, fmaf(x.x + x.x, x.y, fmaf(x.x, x.x, -s)));
}
static df scale(df d, float s) { return dd(d.x * s, d.y * s); }
static df div_df(df n, df d) {
  const float t = 1.0f / d.x;
  const float s = n.x * t;
  const float u = fmaf(t, n.x, -s);
  const float v = fmaf(-d.y, t, fmaf(-d.x, t, 1.0f));
  return dd(s, fmaf(s, v, fmaf(n.y, t, u)));
}

float dif__torch_logf(float d) {
  const float d0 = d;
  const int tiny = d < FLT_MIN;
  if (tiny) d = d * ((float)(INT64_C(1) << 32) * (float)(INT64_C(1) << 32));
  int32_t e = ilogb2k(d * (1.0f / 0.75f));
  const float m = ldexp3k(d, -e);
  if (tiny) e -= 64;
  df s = mul_df_f(dd(0.69314718246459960938f, -1.904654323148236017e-09f), (float)e);
  const df x = div_df(add2_ff(-1, m), add2_ff(1, m));
  const float x2 = x.x * x.x;
  float t = 0.3027294874e+0f;
  t = fmaf(t, x2, 0.3996108174e+0f);
  t = fmaf(t, x2, 0.6666694880e+0f);
  s = add_df_df(s, scale(x, 2));
  s = add_df_f(s, x2 * x.x * t);
  float r = s.x + s.y;
  if (isinf(d0) && d0 > 0) r = INFINITY;
  if (d0 < 0 || isnan(d0)) r = NAN;
  if (d0 == 0) r = -INFINITY;
  return r;
}

float dif__torch_expf(float d) {
  const int32_t q = rint_i(d * R_LN2);
  float s = fmaf((float)q, -L2U, d);
  s = fmaf((float)q, -L2L, s);
  float u = 0.000198527617612853646278381f;
  u = fmaf(u, s, 0.00139304355252534151077271f);
  u = fmaf(u, s, 0.00833336077630519866943359f);
  u = fmaf(u, s, 0.0416664853692054748535156f);
  u = fmaf(u, s, 0.166666671633720397949219f);
  u = fmaf(u, s, 0.5f);
  u = 1.0f + fmaf(s * s, u, s);
  u = ldexp2k(u, q);
  if (d < -104) u = 0;
  if (100 < d) u = INFINITY;
  return u;
}

/* exp(d) as a double-float (SLEEF's expk2f). */
static df expk2(df d) {
  const int32_t q = rint_i((d.x + d.y) * R_LN2);
  df s = add2_df_f(d, (float)q * -L2U);
  s = add2_df_f(s, (float)q * -L2L);
  float u = +0.1980960224e-3f;
  u = fmaf(u, s.x, +0.1394256484e-2f);
  u = fmaf(u, s.x, +0.8333456703e-2f);
  u = fmaf(u, s.x, +0.4166637361e-1f);
  df t = add2_df_f(mul_df_f(s, u), +0.166666659414234244790680580464e+0f);
  t = add2_df_f(mul_df_df(s, t), 0.5f);
  t = add2_df_df(s, mul_df_df(squ(s), t));
  t = add_f_df(1, t);
  t.x = ldexp2k(t.x, q);
  t.y = ldexp2k(t.y, q);
  if (d.x < -104) t = dd(0, 0);
  return t;
}

float dif__torch_expm1f(float a) {
  const df d = add2_df_f(expk2(dd(a, 0)), -1.0f);
  float x = d.x + d.y;
  if (a > 88.72283172607421875f) x = INFINITY;
  if (a < -16.635532333438687426013570f) x = -1;
  if (a == 0 && signbit(a)) x = -0.0f;
  return x;
}
