/* activations.c — element-wise GELU (erf and tanh forms), QuickGELU, SiLU and
 * diffusers' GEGLU, all on the pool. */
#include <math.h>

#include "core/ops.h"
#include "core/ops_internal.h"

/* Elements per pool chunk: large enough that dispatch cost is negligible. */
#define ACT_GRAIN 16384

static inline float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

static inline float gelu_tanh(float x) {
  const float k = 0.7978845608028654f; /* sqrt(2/pi) */
  return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

/* x/(1+e^-z) rather than x·σ(z): for z → -∞ the exp overflows to +inf and the
 * quotient is a clean -0, never inf·0. */
static inline float quick_gelu(float x) { return x / (1.0f + expf(-1.702f * x)); }
static inline float silu(float x) { return x / (1.0f + expf(-x)); }

typedef struct act_job {
  const float *x;
  float *y;
} act_job;

/* One task function per activation; x and y may be equal, so no restrict. */
#define DEFINE_ACT_TASK(name, f)                                                                   \
  static void name##_task(void *arg, int64_t begin, int64_t end, int thread) {                     \
    (void)thread;                                                                                  \
    const act_job *j = arg;                                                                        \
    const float *x = j->x;                                                                         \
    float *y = j->y;                                                                               \
    for (int64_t i = begin; i < end; i++) y[i] = f(x[i]);                                          \
  }

DEFINE_ACT_TASK(gelu, gelu_erf)
DEFINE_ACT_TASK(gelu_tanh, gelu_tanh)
DEFINE_ACT_TASK(quick_gelu, quick_gelu)
DEFINE_ACT_TASK(silu, silu)

static void run(const dif_kctx *k, const float *x, int64_t n, float *y, dif_task_fn fn) {
  act_job j = {x, y};
  dif_pool_for(dif_kpool(k), n, ACT_GRAIN, fn, &j);
}

void dif_gelu(const dif_kctx *k, const float *x, int64_t n, float *y) {
  run(k, x, n, y, gelu_task);
}
void dif_gelu_tanh(const dif_kctx *k, const float *x, int64_t n, float *y) {
  run(k, x, n, y, gelu_tanh_task);
}
void dif_quick_gelu(const dif_kctx *k, const float *x, int64_t n, float *y) {
  run(k, x, n, y, quick_gelu_task);
}
void dif_silu(const dif_kctx *k, const float *x, int64_t n, float *y) {
  run(k, x, n, y, silu_task);
}

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
    const float *restrict a = j->x + r * 2 * d;
    const float *restrict g = a + d;
    float *restrict y = j->y + r * d;
    for (int64_t i = 0; i < d; i++) y[i] = a[i] * gelu_erf(g[i]);
  }
}

void dif_geglu(const dif_kctx *k, const float *x, int64_t rows, int64_t d, float *y) {
  if (rows <= 0 || d <= 0) return;
  geglu_job j = {x, y, d};
  dif_pool_for(dif_kpool(k), rows, d >= ACT_GRAIN ? 1 : ACT_GRAIN / d, geglu_task, &j);
}
