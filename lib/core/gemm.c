/* gemm.c — matrix products: dif__gemm and PyTorch Linear through OpenBLAS
 * (the exact path), and their fast path (bf16 through a GEMM backend) when
 * the kernel context has one.
 *
 * Always called from the calling thread (never inside a pool task): OpenBLAS
 * runs its own threads while ours sleep. One product at a time in the
 * process (call_lock): OpenBLAS already spreads each over every core, and a
 * second concurrent caller would make it allocate another 128 MiB working
 * buffer — the allocation that spins forever when it fails (core/blas.c). */
#include <cblas.h>
#include <pthread.h>
#include <string.h>

#include "core/backend.h"
#include "core/blas.h"
#include "core/dtype.h"
#include "core/gemm_few.h"
#include "core/ops.h"
#include "core/ops_internal.h"
#include "core/prof.h"

static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;

void dif__gemm_op(dif__prof_op op, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                  float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    /* Nothing to multiply: C = beta·C. Done here because OpenBLAS would
     * reject lda < 1 for K = 0 with a message on stderr. */
    for (int64_t i = 0; i < M; i++) {
      float *c = C + i * ldc;
      for (int64_t j = 0; j < N; j++) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
    }
    return;
  }
  const double t0 = DIF__PROF_START();
  /* Dimensions above DIF__GEMM_DIM_MAX are rejected by the kernels that call
   * this with user-controlled sizes (conv2d, attention). */
  pthread_mutex_lock(&call_lock);
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N, (blasint)K, alpha, A,
              (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
  pthread_mutex_unlock(&call_lock);
  if (op < DIF__PROF_OP_COUNT) DIF__PROF_END(op, t0, 2.0 * (double)M * (double)N * (double)K);
}

void dif__gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
               int64_t ldc) {
  dif__gemm_op(DIF__PROF_GEMM_OTHER, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C,
               ldc);
}

/* rows × cols of src (row stride ld) through bf16 and back into dst
 * (packed, stride cols). */
static void bf16_copy(const float *src, int64_t rows, int64_t cols, int64_t ld, float *dst) {
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) {
      const uint32_t u = (uint32_t)dif__bf16_rne(src[i * ld + j]) << 16;
      memcpy(&dst[i * cols + j], &u, sizeof u);
    }
}

/* The fast path's small product (DIF__KGEMM_SMALL_MACS): A and B rounded
 * to bf16 into the arena, then cblas_sgemm: the backend's roundings (bf16
 * inputs, exact products, float32 sums) in another summation order. False
 * (nothing written) when the arena has no room: the backend runs it. */
static bool small_bf16(const dif__kctx *k, dif__prof_op op, bool trans_a, bool trans_b, int64_t M,
                       int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                       const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  if (!k->arena) return false;
  dif__error err = {0};
  const dif__arena_mark mark = dif__arena_get_mark(k->arena);
  float *a = dif__arena_floats(k->arena, (size_t)(M * K), &err);
  float *b = a ? dif__arena_floats(k->arena, (size_t)(K * N), &err) : NULL;
  if (!b) {
    dif__arena_release(k->arena, mark);
    return false;
  }
  const double t0 = DIF__PROF_START();
  /* each operand as stored: A is [M, K] or (trans_a) [K, M], B [K, N] or [N, K] */
  bf16_copy(A, trans_a ? K : M, trans_a ? M : K, lda, a);
  bf16_copy(B, trans_b ? N : K, trans_b ? K : N, ldb, b);
  dif__gemm_op(DIF__PROF_OP_COUNT, trans_a, trans_b, M, N, K, alpha, a, trans_a ? M : K, b,
               trans_b ? K : N, beta, C, ldc);
  DIF__PROF_END(op, t0, 2.0 * (double)M * (double)N * (double)K);
  dif__arena_release(k->arena, mark);
  return true;
}

dif_status dif__kgemm(const dif__kctx *k, dif__prof_op op, bool trans_a, bool trans_b, int64_t M,
                      int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                      const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                      dif__error *err) {
  if (!k || !k->fast) {
    dif__gemm_op(op, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return DIF_OK;
  }
  const int64_t S = DIF__KGEMM_SMALL_MACS; /* each size first: no overflow */
  if (M > 0 && N > 0 && K > 0 && M <= S && N <= S && K <= S && M * N <= S && M * N * K <= S &&
      lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N) &&
      ldc >= N && /* else the backend's error */
      small_bf16(k, op, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
    return DIF_OK;
  const double t0 = DIF__PROF_START();
  const dif_status st =
      dif__backend_matmul(dif__fast_backend(k->fast), k, DIF__DTYPE_BF16, trans_a, trans_b, M, N, K,
                          alpha, A, lda, B, ldb, beta, C, ldc, err);
  DIF__PROF_END(op, t0, 2.0 * (double)M * (double)N * (double)K);
  return st;
}

/* The fast path of a linear product: the weight's packed bf16 form from
 * k->fast, then the backend. False (nothing written) when it cannot run —
 * no memory for the packed weight, the backend refusing the shape —: the
 * caller then runs the exact product, and k->fast counts it for the log
 * (these functions have no error to return; the product is still right, in
 * float32). */
static bool fast_linear(const dif__kctx *k, const float *x, bool x_cf, int64_t n, int64_t in,
                        dif__weight W, const float *b, int64_t out, float *y, bool y_cf, bool acc) {
  if (!k || !k->fast) return false;
  dif__error err = {0};
  const dif__packed *p;
  const double t0 = DIF__PROF_START();
  dif_status st = dif__fast_weight(k->fast, k, W, out, in, n, &p, &err);
  if (!st) st = dif__packed_linear_cf(k, p, x, x_cf, n, b, acc, y, y_cf, &err);
  if (st) {
    dif__fast_note_fallback(k->fast, &err);
    return false;
  }
  dif__prof_record_shape(DIF__PROF_LINEAR, x_cf, true, n, out, in, 1);
  DIF__PROF_END(DIF__PROF_LINEAR, t0, 2.0 * (double)n * (double)out * (double)in);
  return true;
}

/* The exact product of a linear layer: y (+)= x · Wᵀ with beta as the
 * caller set up y (bias preloaded or not). W[out, in] is either the right
 * operand (w_left false: y[n, out] = op(x) · Wᵀ, op(x) = x[n, in] or, with
 * trans_x, x[in, n]ᵀ) or the left one (w_left: y[out, n] = W · x[n, in]ᵀ).
 * An F32 W is the one cblas_sgemm call it always was. */
typedef struct lin_gemm {
  bool w_left, trans_x;
  int64_t n, in, out, ldx, ldy;
  const float *x;
  float beta, *y;
} lin_gemm;

/* Scratch for the float32 form of a 16-bit weight: one band of at most
 * this many floats from the arena (16 MiB: the band's GEMM still has
 * hundreds of rows), or, without an arena or when it is out of memory, a
 * small buffer on the stack (slower products, never a failure). */
#define LINEAR_BAND_FLOATS ((int64_t)4 << 20)
#define LINEAR_STACK_FLOATS 4096

/* The product over rows [r0, r0 + rows) of W and inputs [k0, k0 + kc),
 * with those rows' float32 form in wt[rows, kc]. */
static void lin_tile(const lin_gemm *g, const float *wt, int64_t r0, int64_t rows, int64_t k0,
                     int64_t kc, float beta) {
  if (g->w_left) {
    dif__gemm_op(DIF__PROF_LINEAR, false, true, rows, g->n, kc, 1.0f, wt, kc, g->x + k0, g->ldx,
                 beta, g->y + r0 * g->ldy, g->ldy);
  } else {
    const float *x = g->trans_x ? g->x + k0 * g->ldx : g->x + k0;
    dif__gemm_op(DIF__PROF_LINEAR, g->trans_x, true, g->n, rows, kc, 1.0f, x, g->ldx, wt, kc, beta,
                 g->y + r0, g->ldy);
  }
}

/* A 16-bit W widened tile by tile: bands of whole rows into arena scratch
 * (one band, one product, for all but the largest weights), or tiles of
 * the stack buffer, the inputs then split too (later tiles accumulate). */
static void lin_typed(const dif__kctx *k, const lin_gemm *g, dif__weight W) {
  float stack_buf[LINEAR_STACK_FLOATS];
  dif__arena_mark mark = k && k->arena ? dif__arena_get_mark(k->arena) : (dif__arena_mark){0};
  int64_t band = LINEAR_BAND_FLOATS / g->in;
  if (band < 1) band = 1;
  if (band > g->out) band = g->out;
  float *buf = k && k->arena ? dif__arena_floats(k->arena, (size_t)(band * g->in), NULL) : NULL;
  int64_t kc = g->in;
  if (!buf) {
    buf = stack_buf;
    kc = g->in < LINEAR_STACK_FLOATS ? g->in : LINEAR_STACK_FLOATS;
    band = LINEAR_STACK_FLOATS / kc;
    if (band > g->out) band = g->out;
  }
  for (int64_t r0 = 0; r0 < g->out; r0 += band) {
    const int64_t rows = g->out - r0 < band ? g->out - r0 : band;
    for (int64_t k0 = 0; k0 < g->in; k0 += kc) {
      const int64_t c = g->in - k0 < kc ? g->in - k0 : kc;
      const double t0 = DIF__PROF_START();
      dif__weight_tile_f32(dif__kpool(k), W, g->in, r0, rows, k0, c, buf);
      DIF__PROF_END(DIF__PROF_WEIGHT_CONVERT, t0, 0);
      lin_tile(g, buf, r0, rows, k0, c, k0 ? 1.0f : g->beta);
    }
  }
  if (k && k->arena) dif__arena_release(k->arena, mark);
}

static void lin_exact(const dif__kctx *k, const lin_gemm *g, dif__weight W) {
  if (!g->trans_x && dif__few_rows_taken(g->n, W)) {
    /* a few rows: each weight element read once (gemm_few.h) */
    const double t0 = DIF__PROF_START();
    dif__few_rows(dif__kpool(k), g->x, g->n, g->ldx, g->in, W, g->out, g->beta, g->y,
                  g->w_left ? 1 : g->ldy, g->w_left ? g->ldy : 1);
    DIF__PROF_END(DIF__PROF_LINEAR, t0, 2.0 * (double)g->n * (double)g->out * (double)g->in);
    return;
  }
  const float *w = dif__weight_as_f32(W);
  if (!w) {
    lin_typed(k, g, W);
  } else if (g->w_left) {
    dif__gemm_op(DIF__PROF_LINEAR, false, true, g->out, g->n, g->in, 1.0f, w, g->in, g->x, g->ldx,
                 g->beta, g->y, g->ldy);
  } else {
    dif__gemm_op(DIF__PROF_LINEAR, g->trans_x, true, g->n, g->out, g->in, 1.0f, g->x, g->ldx, w,
                 g->in, g->beta, g->y, g->ldy);
  }
}

static void linear(const dif__kctx *k, const float *x, int64_t n, int64_t in, dif__weight W,
                   const float *b, int64_t out, float *y, bool acc) {
  if (n <= 0 || out <= 0) return;
  if (fast_linear(k, x, false, n, in, W, b, out, y, false, acc)) return;
  /* With a bias, preload it and accumulate (beta = 1): one pass over y fewer
   * than adding it afterwards. */
  if (b && acc)
    dif__add_cols(dif__kpool(k), y, n, out, out, b);
  else if (b)
    dif__fill_cols(dif__kpool(k), y, n, out, out, b);
  dif__prof_record_shape(DIF__PROF_LINEAR, false, true, n, out, in, 1);
  lin_exact(k, &(lin_gemm){false, false, n, in, out, in, out, x, b || acc ? 1.0f : 0.0f, y}, W);
}

void dif__linear(const dif__kctx *k, const float *x, int64_t n, int64_t in, dif__weight W,
                 const float *b, int64_t out, float *y) {
  linear(k, x, n, in, W, b, out, y, false);
}

void dif__linear_acc(const dif__kctx *k, const float *x, int64_t n, int64_t in, dif__weight W,
                     const float *b, int64_t out, float *y) {
  linear(k, x, n, in, W, b, out, y, true);
}

void dif__linear_cf_in(const dif__kctx *k, const float *x, int64_t n, int64_t in, dif__weight W,
                       const float *b, int64_t out, float *y) {
  if (n <= 0 || out <= 0) return;
  if (fast_linear(k, x, true, n, in, W, b, out, y, false, false)) return;
  if (b) dif__fill_cols(dif__kpool(k), y, n, out, out, b);
  dif__prof_record_shape(DIF__PROF_LINEAR, true, true, n, out, in, 1);
  lin_exact(k, &(lin_gemm){false, true, n, in, out, n, out, x, b ? 1.0f : 0.0f, y}, W);
}

void dif__linear_cf_out(const dif__kctx *k, const float *x, int64_t n, int64_t in, dif__weight W,
                        const float *b, int64_t out, float *y, bool acc) {
  if (n <= 0 || out <= 0) return;
  if (fast_linear(k, x, false, n, in, W, b, out, y, true, acc)) return;
  if (b && acc)
    dif__add_rows(dif__kpool(k), y, out, n, n, b);
  else if (b)
    dif__fill_rows(dif__kpool(k), y, out, n, n, b);
  dif__prof_record_shape(DIF__PROF_LINEAR, false, true, out, n, in, 1);
  lin_exact(k, &(lin_gemm){true, false, n, in, out, in, n, x, b || acc ? 1.0f : 0.0f, y}, W);
}
