/* kern_simd.c — baseline build of the kern_simd.h kernels and the run-time
 * choice between it and the AVX2 + FMA build (kern_simd_avx2.c). */
#include "core/kern_simd.h"

#include <math.h>
#include <stdatomic.h>

#include "core/blas.h"
#include "core/dtype.h"

#if defined(__GNUC__)

#define DIF__K(name) name##_base
#define DIF__K_LINKAGE static
#define DIF__K_STORE_BF16(dst, v)                                                                  \
  do {                                                                                             \
    for (int l_ = 0; l_ < DIF__VW; l_++) (dst)[l_] = dif__bf16_rne((v)[l_]);                       \
  } while (0)
#include "core/kern_simd_impl.h"

#else /* scalar versions for compilers without GCC vector extensions */

static float dif__k_softmax_row_unnormalised_base(float *x, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
  if (mx == -INFINITY) {
    for (int64_t i = 0; i < n; i++) x[i] = 0.0f;
    return 0.0f;
  }
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    float v = x[i] - mx;
    x[i] = v < -87.33654f ? 0.0f : expf(v);
    sum += (double)x[i];
  }
  return (float)(1.0 / sum);
}

static void dif__k_softmax_row_base(float *x, int64_t n) {
  const float inv = dif__k_softmax_row_unnormalised_base(x, n);
  for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

static float gelu_s(float x) { return 0.5f * x * erfcf(-x * 0.70710678118654752f); }
/* x / (1 + exp(a)), the exponent clamped as vmath.h does */
static float gate_s(float x, float a) { return x / (1.0f + expf(a > 88.37626f ? 88.37626f : a)); }

static void dif__k_act_span_base(dif__act_kind kind, const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    switch (kind) {
    case DIF__ACT_GELU: y[i] = gelu_s(v); break;
    case DIF__ACT_GELU_TANH:
      y[i] = gate_s(v, -2.0f * 0.7978845608028654f * (v + 0.044715f * v * v * v));
      break;
    case DIF__ACT_QUICK_GELU: y[i] = gate_s(v, -1.702f * v); break;
    default: y[i] = gate_s(v, -v); break;
    }
  }
}

static void dif__k_geglu_span_base(const float *a, const float *g, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = a[i] * gelu_s(g[i]);
}

static void dif__k_affine_span_base(const float *x, float *y, int64_t n, float hi, float lo,
                                    float s, float c, bool silu) {
  for (int64_t i = 0; i < n; i++) {
    float v = ((x[i] - hi) - lo) * s + c;
    y[i] = silu ? gate_s(v, -v) : v;
  }
}

static void dif__k_affine_vec_base(const float *x, int64_t n, const float *const *norm, float *y) {
  for (int64_t i = 0; i < n; i++)
    y[i] = ((x[i] - norm[0][i]) - norm[1][i]) * norm[2][i] + norm[3][i];
}

static void dif__k_shifted_sums_base(const float *x, int64_t pixels, int64_t C, const float *shift,
                                     double *s1, double *s2) {
  for (int64_t p = 0; p < pixels; p++)
    for (int64_t c = 0; c < C; c++) {
      const double d = (double)x[p * C + c] - (double)shift[c];
      s1[c] += d;
      s2[c] += d * d;
    }
}

static void dif__k_affine_bf16_base(const float *x, int64_t n, const float *const *norm, bool silu,
                                    uint16_t *dst) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    if (norm) v = ((v - norm[0][i]) - norm[1][i]) * norm[2][i] + norm[3][i];
    dst[i] = dif__bf16_rne(silu ? gate_s(v, -v) : v);
  }
}

#endif

/* -1: not decided yet. */
static atomic_int level = -1;

static int detect(void) {
#if defined(DIF_HAVE_AVX2_KERNELS) && (defined(__x86_64__) || defined(__i386__)) &&                \
    defined(__GNUC__)
  /* AVX2 and FMA by CPUID, ymm state by the OS, under DIF_MAX_CPU_ISA */
  return dif__cpu_isa() >= DIF__ISA_AVX2 ? 1 : 0;
#else
  return 0;
#endif
}

int dif__simd_level(void) {
  int l = atomic_load_explicit(&level, memory_order_relaxed);
  if (l < 0) {
    l = detect();
    atomic_store_explicit(&level, l, memory_order_relaxed);
  }
  return l;
}

int dif__simd_force(int want) {
  const int cpu = detect();
  atomic_store(&level, want < 0 ? cpu : want > 0 ? cpu : 0);
  return dif__simd_level();
}

#if defined(DIF_HAVE_AVX2_KERNELS)
#define DISPATCH(call_avx2, call_base)                                                             \
  do {                                                                                             \
    if (dif__simd_level() > 0)                                                                     \
      call_avx2;                                                                                   \
    else                                                                                           \
      call_base;                                                                                   \
  } while (0)
#else
#define DISPATCH(call_avx2, call_base) call_base
#endif

float dif__k_softmax_row_unnormalised(float *x, int64_t n) {
#if defined(DIF_HAVE_AVX2_KERNELS)
  if (dif__simd_level() > 0) return dif__k_softmax_row_unnormalised_avx2(x, n);
#endif
  return dif__k_softmax_row_unnormalised_base(x, n);
}

void dif__k_softmax_row(float *x, int64_t n) {
  DISPATCH(dif__k_softmax_row_avx2(x, n), dif__k_softmax_row_base(x, n));
}
void dif__k_act_span(dif__act_kind kind, const float *x, float *y, int64_t n) {
  DISPATCH(dif__k_act_span_avx2(kind, x, y, n), dif__k_act_span_base(kind, x, y, n));
}
void dif__k_geglu_span(const float *a, const float *g, float *y, int64_t n) {
  DISPATCH(dif__k_geglu_span_avx2(a, g, y, n), dif__k_geglu_span_base(a, g, y, n));
}
void dif__k_affine_span(const float *x, float *y, int64_t n, float hi, float lo, float s, float c,
                        bool silu) {
  DISPATCH(dif__k_affine_span_avx2(x, y, n, hi, lo, s, c, silu),
           dif__k_affine_span_base(x, y, n, hi, lo, s, c, silu));
}

void dif__k_affine_bf16(const float *x, int64_t n, const float *const *norm, bool silu,
                        uint16_t *dst) {
  DISPATCH(dif__k_affine_bf16_avx2(x, n, norm, silu, dst),
           dif__k_affine_bf16_base(x, n, norm, silu, dst));
}

void dif__k_affine_vec(const float *x, int64_t n, const float *const *norm, float *y) {
  DISPATCH(dif__k_affine_vec_avx2(x, n, norm, y), dif__k_affine_vec_base(x, n, norm, y));
}

void dif__k_shifted_sums(const float *x, int64_t pixels, int64_t C, const float *shift, double *s1,
                         double *s2) {
  DISPATCH(dif__k_shifted_sums_avx2(x, pixels, C, shift, s1, s2),
           dif__k_shifted_sums_base(x, pixels, C, shift, s1, s2));
}

/* The transposes, element by element (kern_simd.h); the AVX2 build does the
 * same in 8 × 8 blocks and these for its edges. */
static void transpose_base(const float *src, int64_t ld_src, float *dst, int64_t ld_dst,
                           int64_t rows, int64_t cols, const float *bias, bool acc) {
  for (int64_t r = 0; r < rows; r++) {
    const float b = bias ? bias[r] : 0.0f;
    float *d = dst + r * ld_dst;
    const float *s = src + r;
    if (acc)
      for (int64_t c = 0; c < cols; c++) d[c] += s[c * ld_src] + b;
    else
      for (int64_t c = 0; c < cols; c++) d[c] = s[c * ld_src] + b;
  }
}

static void transpose_bf16_base(const float *src, int64_t ld_src, uint16_t *dst, int64_t ld_dst,
                                int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) dst[r * ld_dst + c] = dif__bf16_rne(src[c * ld_src + r]);
}

void dif__k_transpose(const float *src, int64_t ld_src, float *dst, int64_t ld_dst, int64_t rows,
                      int64_t cols, const float *bias, bool acc) {
  DISPATCH(dif__k_transpose_avx2(src, ld_src, dst, ld_dst, rows, cols, bias, acc),
           transpose_base(src, ld_src, dst, ld_dst, rows, cols, bias, acc));
}

void dif__k_transpose_bf16(const float *src, int64_t ld_src, uint16_t *dst, int64_t ld_dst,
                           int64_t rows, int64_t cols) {
  DISPATCH(dif__k_transpose_bf16_avx2(src, ld_src, dst, ld_dst, rows, cols),
           transpose_bf16_base(src, ld_src, dst, ld_dst, rows, cols));
}
