/* activations.c — element-wise GELU (erf and tanh forms), QuickGELU, SiLU and
 * diffusers' GEGLU, all on the pool.
 *
 * Every activation is written for blocks of DIF_VLANES floats held in local
 * arrays (no aliasing, fixed trip counts, no selects) so that GCC vectorises
 * them at -O2, with the exponential from core/vmath.h; glibc's scalar erff
 * and expf made these kernels ~5× slower. A partial last block is padded.
 */
#include <math.h>
#include <string.h>

#include "core/ops.h"
#include "core/ops_internal.h"
#include "core/vmath.h"

/* Elements per pool chunk: large enough that dispatch cost is negligible. */
#define ACT_GRAIN 16384

enum { L = DIF_VLANES };

/* GELU, erf form: x·Φ(x) = x·(1 - erfc(x/√2)/2). erfc comes from Numerical
 * Recipes' erfcc, t·exp(-z² + P(t)) with t = 1/(1 + z/2), relative error
 * < 1.2e-7 for all z ≥ 0. Writing GELU through erfc(|x|/√2):
 *   x ≥ 0: x - x·erfc/2,   x < 0: x·erfc/2,
 * i.e. relu(x) - |x|·erfc/2 with relu(x) = (x + |x|)/2 — no select, and for
 * negative x no cancellation in 1 + erf(x), so the tail is more accurate
 * than the textbook float formula (which loses everything past x ≈ -5). */
static void gelu_block(const float *xin, float *yout) {
  float x[L], t[L], a[L], e[L], y[L];
  memcpy(x, xin, sizeof x);
  for (int l = 0; l < L; l++) {
    const float z = fabsf(x[l]) * 0.70710678118654752f;
    const float tt = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * tt - 0.82215223f;
    p = p * tt + 1.48851587f;
    p = p * tt - 1.13520398f;
    p = p * tt + 0.27886807f;
    p = p * tt - 0.18628806f;
    p = p * tt + 0.09678418f;
    p = p * tt + 0.37409196f;
    p = p * tt + 1.00002368f;
    a[l] = -z * z - 1.26551223f + tt * p;
    t[l] = tt;
  }
  dif_vexp_block(a, e);
  for (int l = 0; l < L; l++) {
    const float ax = fabsf(x[l]);
    y[l] = 0.5f * (x[l] + ax) - 0.5f * ax * (t[l] * e[l]);
  }
  memcpy(yout, y, sizeof y);
}

/* y = x / (1 + exp(-k·u(x))): SiLU (u = x, k = 1), QuickGELU (k = 1.702)
 * and tanh-GELU, since 0.5·x·(1 + tanh(v)) = x / (1 + exp(-2v)). For
 * k·u → -∞ the exponential saturates (vmath.h) and y → -0, never inf·0. */
static void sigmoid_gate_block(const float *xin, float *yout, float k, bool cubic) {
  float x[L], a[L], e[L], y[L];
  memcpy(x, xin, sizeof x);
  if (cubic) {
    /* v = √(2/π)·(x + 0.044715·x³), k = 2 */
    for (int l = 0; l < L; l++)
      a[l] = -k * 0.7978845608028654f * (x[l] + 0.044715f * x[l] * x[l] * x[l]);
  } else {
    for (int l = 0; l < L; l++) a[l] = -k * x[l];
  }
  dif_vexp_block(a, e);
  for (int l = 0; l < L; l++) y[l] = x[l] / (1.0f + e[l]);
  memcpy(yout, y, sizeof y);
}

typedef enum act_kind { ACT_GELU, ACT_GELU_TANH, ACT_QUICK_GELU, ACT_SILU } act_kind;

static void act_block(act_kind kind, const float *x, float *y) {
  switch (kind) {
  case ACT_GELU: gelu_block(x, y); break;
  case ACT_GELU_TANH: sigmoid_gate_block(x, y, 2.0f, true); break;
  case ACT_QUICK_GELU: sigmoid_gate_block(x, y, 1.702f, false); break;
  case ACT_SILU: sigmoid_gate_block(x, y, 1.0f, false); break;
  }
}

/* y[0..n) = act(x[0..n)); x and y may be the same array. */
static void act_span(act_kind kind, const float *x, float *y, int64_t n) {
  int64_t i = 0;
  for (; i + L <= n; i += L) act_block(kind, x + i, y + i);
  if (i < n) {
    float tmp[L] = {0};
    memcpy(tmp, x + i, (size_t)(n - i) * sizeof *tmp);
    act_block(kind, tmp, tmp);
    memcpy(y + i, tmp, (size_t)(n - i) * sizeof *tmp);
  }
}

typedef struct act_job {
  const float *x;
  float *y;
  act_kind kind;
} act_job;

static void act_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const act_job *j = arg;
  act_span(j->kind, j->x + begin, j->y + begin, end - begin);
}

static void run(const dif_kctx *k, const float *x, int64_t n, float *y, act_kind kind) {
  act_job j = {x, y, kind};
  /* Lanes are computed identically wherever a chunk starts, so results do
   * not depend on the split. */
  dif_pool_for(dif_kpool(k), n, ACT_GRAIN, act_task, &j);
}

void dif_gelu(const dif_kctx *k, const float *x, int64_t n, float *y) { run(k, x, n, y, ACT_GELU); }
void dif_gelu_tanh(const dif_kctx *k, const float *x, int64_t n, float *y) {
  run(k, x, n, y, ACT_GELU_TANH);
}
void dif_quick_gelu(const dif_kctx *k, const float *x, int64_t n, float *y) {
  run(k, x, n, y, ACT_QUICK_GELU);
}
void dif_silu(const dif_kctx *k, const float *x, int64_t n, float *y) { run(k, x, n, y, ACT_SILU); }

typedef struct geglu_job {
  const float *x;
  float *y;
  int64_t d;
} geglu_job;

static void geglu_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const geglu_job *j = arg;
  const int64_t d = j->d;
  for (int64_t r = begin; r < end; r++) {
    const float *a = j->x + r * 2 * d, *g = a + d;
    float *y = j->y + r * d;
    act_span(ACT_GELU, g, y, d); /* y and x never overlap (ops.h) */
    for (int64_t i = 0; i < d; i++) y[i] *= a[i];
  }
}

void dif_geglu(const dif_kctx *k, const float *x, int64_t rows, int64_t d, float *y) {
  if (rows <= 0 || d <= 0) return;
  geglu_job j = {x, y, d};
  dif_pool_for(dif_kpool(k), rows, d >= ACT_GRAIN ? 1 : ACT_GRAIN / d, geglu_task, &j);
}
