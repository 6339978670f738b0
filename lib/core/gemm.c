/* gemm.c — matrix products: dif_gemm and PyTorch Linear through OpenBLAS
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

#include "core/backend.h"
#include "core/blas.h"
#include "core/ops.h"
#include "core/ops_internal.h"
#include "core/prof.h"

static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;

void dif_gemm_op(dif_prof_op op, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
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
  const double t0 = DIF_PROF_START();
  /* Dimensions above DIF_GEMM_DIM_MAX are rejected by the kernels that call
   * this with user-controlled sizes (conv2d, attention). */
  pthread_mutex_lock(&call_lock);
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N, (blasint)K, alpha, A,
              (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
  pthread_mutex_unlock(&call_lock);
  DIF_PROF_END(op, t0, 2.0 * (double)M * (double)N * (double)K);
}

void dif_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc) {
  dif_gemm_op(DIF_PROF_GEMM_OTHER, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

dif_status dif_kgemm(const dif_kctx *k, dif_prof_op op, bool trans_a, bool trans_b, int64_t M,
                     int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const float *B,
                     int64_t ldb, float beta, float *C, int64_t ldc, dif_error *err) {
  if (!k || !k->fast) {
    dif_gemm_op(op, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return DIF_OK;
  }
  const double t0 = DIF_PROF_START();
  const dif_status st =
      dif_backend_matmul(dif_fast_backend(k->fast), k, DIF_DTYPE_BF16, trans_a, trans_b, M, N, K,
                         alpha, A, lda, B, ldb, beta, C, ldc, err);
  DIF_PROF_END(op, t0, 2.0 * (double)M * (double)N * (double)K);
  return st;
}

/* The fast path of a linear product: the weight's packed bf16 form from
 * k->fast, then the backend. False (nothing written) when it cannot run —
 * no memory for the packed weight, the backend refusing the shape —: the
 * caller then runs the exact product, and k->fast counts it for the log
 * (these functions have no error to return; the product is still right, in
 * float32). */
static bool fast_linear(const dif_kctx *k, const float *x, bool x_cf, int64_t n, int64_t in,
                        const float *W, const float *b, int64_t out, float *y, bool y_cf,
                        bool acc) {
  if (!k || !k->fast) return false;
  dif_error err = {0};
  const dif_packed *p;
  const double t0 = DIF_PROF_START();
  dif_status st = dif_fast_weight(k->fast, W, out, in, n, &p, &err);
  if (!st) st = dif_packed_linear_cf(k, p, x, x_cf, n, b, acc, y, y_cf, &err);
  if (st) {
    dif_fast_note_fallback(k->fast, &err);
    return false;
  }
  dif_prof_record_shape(DIF_PROF_LINEAR, x_cf, true, n, out, in, 1);
  DIF_PROF_END(DIF_PROF_LINEAR, t0, 2.0 * (double)n * (double)out * (double)in);
  return true;
}

static void linear(const dif_kctx *k, const float *x, int64_t n, int64_t in, const float *W,
                   const float *b, int64_t out, float *y, bool acc) {
  if (n <= 0 || out <= 0) return;
  if (fast_linear(k, x, false, n, in, W, b, out, y, false, acc)) return;
  /* With a bias, preload it and accumulate (beta = 1): one pass over y fewer
   * than adding it afterwards. */
  if (b && acc)
    dif_add_cols(dif_kpool(k), y, n, out, out, b);
  else if (b)
    dif_fill_cols(dif_kpool(k), y, n, out, out, b);
  dif_prof_record_shape(DIF_PROF_LINEAR, false, true, n, out, in, 1);
  dif_gemm_op(DIF_PROF_LINEAR, false, true, n, out, in, 1.0f, x, in, W, in, b || acc ? 1.0f : 0.0f,
              y, out);
}

void dif_linear(const dif_kctx *k, const float *x, int64_t n, int64_t in, const float *W,
                const float *b, int64_t out, float *y) {
  linear(k, x, n, in, W, b, out, y, false);
}

void dif_linear_acc(const dif_kctx *k, const float *x, int64_t n, int64_t in, const float *W,
                    const float *b, int64_t out, float *y) {
  linear(k, x, n, in, W, b, out, y, true);
}

void dif_linear_cf_in(const dif_kctx *k, const float *x, int64_t n, int64_t in, const float *W,
                      const float *b, int64_t out, float *y) {
  if (n <= 0 || out <= 0) return;
  if (fast_linear(k, x, true, n, in, W, b, out, y, false, false)) return;
  if (b) dif_fill_cols(dif_kpool(k), y, n, out, out, b);
  dif_prof_record_shape(DIF_PROF_LINEAR, true, true, n, out, in, 1);
  dif_gemm_op(DIF_PROF_LINEAR, true, true, n, out, in, 1.0f, x, n, W, in, b ? 1.0f : 0.0f, y, out);
}

void dif_linear_cf_out(const dif_kctx *k, const float *x, int64_t n, int64_t in, const float *W,
                       const float *b, int64_t out, float *y, bool acc) {
  if (n <= 0 || out <= 0) return;
  if (fast_linear(k, x, false, n, in, W, b, out, y, true, acc)) return;
  if (b && acc)
    dif_add_rows(dif_kpool(k), y, out, n, n, b);
  else if (b)
    dif_fill_rows(dif_kpool(k), y, out, n, n, b);
  dif_prof_record_shape(DIF_PROF_LINEAR, false, true, out, n, in, 1);
  dif_gemm_op(DIF_PROF_LINEAR, false, true, out, n, in, 1.0f, W, in, x, in, b || acc ? 1.0f : 0.0f,
              y, n);
}
