/* dif_gemm and dif_linear against double-precision references. */
#include "ops_test_util.h"

/* C = alpha op(A) op(B) + beta C0, row-major with leading dimensions. */
static void ref_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                     const float *A, int64_t lda, const float *B, int64_t ldb, double beta,
                     const float *C0, int64_t ldc, double *C) {
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = 0;
      for (int64_t l = 0; l < K; l++) {
        double a = ta ? A[l * lda + i] : A[i * lda + l];
        double b = tb ? B[j * ldb + l] : B[l * ldb + j];
        s += a * b;
      }
      C[i * ldc + j] = alpha * s + (beta != 0 ? beta * C0[i * ldc + j] : 0);
    }
}

TEST(gemm_transposes_and_strides) {
  const int64_t M = 13, N = 7, K = 29;
  for (int t = 0; t < 4; t++) {
    bool ta = t & 1, tb = t & 2;
    /* Leading dimensions wider than the matrices, as attention uses them. */
    int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
    int64_t arows = ta ? K : M, brows = tb ? N : K;
    float *A = frand((size_t)(arows * lda), 1 + t, -1, 1);
    float *B = frand((size_t)(brows * ldb), 11 + t, -1, 1);
    float *C = frand((size_t)(M * ldc), 21 + t, -1, 1);
    float *C0 = fbuf((size_t)(M * ldc));
    memcpy(C0, C, (size_t)(M * ldc) * sizeof *C);
    double *R = dbuf((size_t)(M * ldc));
    for (int64_t i = 0; i < M * ldc; i++) R[i] = C0[i]; /* padding columns stay put */
    ref_gemm(ta, tb, M, N, K, 0.5, A, lda, B, ldb, 0.25, C0, ldc, R);
    dif_gemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.25f, C, ldc);
    CHECK_NMSE(C, R, (size_t)(M * ldc), NMSE_MAX);
    free(A), free(B), free(C), free(C0), free(R);
  }
}

TEST(gemm_beta_zero_ignores_nan) {
  float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, 0, 1, 1, 1};
  float C[4] = {NAN, NAN, NAN, NAN};
  dif_gemm(false, false, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2);
  CHECK(C[0] == 4 && C[1] == 5 && C[2] == 10 && C[3] == 11);
}

TEST(gemm_k_zero_scales_c) {
  float C[4] = {1, 2, 3, 4};
  dif_gemm(false, false, 2, 2, 0, 1.0f, NULL, 1, NULL, 1, 0.5f, C, 2);
  CHECK(C[0] == 0.5f && C[3] == 2.0f);
  dif_gemm(false, false, 2, 2, 0, 1.0f, NULL, 1, NULL, 1, 0.0f, C, 2);
  CHECK(C[0] == 0 && C[1] == 0 && C[2] == 0 && C[3] == 0);
}

static void check_linear(int threads, bool bias) {
  kenv e;
  kenv_init(&e, threads);
  const int64_t n = 9, in = 37, out = 23;
  float *x = frand((size_t)(n * in), 3, -2, 2);
  float *W = frand((size_t)(out * in), 4, -1, 1);
  float *b = bias ? frand((size_t)out, 5, -3, 3) : NULL;
  float *y = frand((size_t)(n * out), 6, -9, 9); /* garbage to be overwritten */
  double *r = dbuf((size_t)(n * out));
  for (int64_t i = 0; i < n; i++)
    for (int64_t o = 0; o < out; o++) {
      double s = b ? b[o] : 0;
      for (int64_t c = 0; c < in; c++) s += (double)x[i * in + c] * W[o * in + c];
      r[i * out + o] = s;
    }
  dif_linear(&e.k, x, n, in, dif_weight_f32(W, out * in), b, out, y);
  CHECK_NMSE(y, r, (size_t)(n * out), NMSE_MAX);
  free(x), free(W), free(b), free(y), free(r);
  kenv_free(&e);
}

TEST(linear_bias) {
  check_linear(0, true);
  check_linear(3, true);
}
TEST(linear_no_bias) {
  check_linear(1, false);
  check_linear(3, false);
}

/* The linear variants: accumulate (y += x·Wᵀ + b), channels-first input
 * (x[in, n]) and channels-first output (y[out, n], = or +=). */
static void check_linear_variants(int threads, bool bias) {
  kenv e;
  kenv_init(&e, threads);
  const int64_t n = 11, in = 19, out = 7;
  float *x = frand((size_t)(n * in), 30, -2, 2); /* tokens [n, in] */
  float *xt = fbuf((size_t)(n * in));            /* the same, channels first [in, n] */
  for (int64_t i = 0; i < n; i++)
    for (int64_t c = 0; c < in; c++) xt[c * n + i] = x[i * in + c];
  float *W = frand((size_t)(out * in), 31, -1, 1);
  float *b = bias ? frand((size_t)out, 32, -3, 3) : NULL;
  float *y0 = frand((size_t)(n * out), 33, -4, 4); /* residual to accumulate onto */
  double *r = dbuf((size_t)(n * out)), *racc = dbuf((size_t)(n * out));
  for (int64_t i = 0; i < n; i++)
    for (int64_t o = 0; o < out; o++) {
      double s = b ? b[o] : 0;
      for (int64_t c = 0; c < in; c++) s += (double)x[i * in + c] * W[o * in + c];
      r[i * out + o] = s;
      racc[i * out + o] = s + y0[i * out + o];
    }
  float *y = fbuf((size_t)(n * out)), *yt = fbuf((size_t)(n * out));
  double *rt = dbuf((size_t)(n * out)), *rtacc = dbuf((size_t)(n * out));
  for (int64_t i = 0; i < n; i++) /* channels-first references */
    for (int64_t o = 0; o < out; o++) {
      rt[o * n + i] = r[i * out + o];
      rtacc[o * n + i] = r[i * out + o] + y0[o * n + i];
    }
  memcpy(y, y0, (size_t)(n * out) * sizeof *y);
  dif_linear_acc(&e.k, x, n, in, dif_weight_f32(W, out * in), b, out, y);
  CHECK_NMSE(y, racc, (size_t)(n * out), NMSE_MAX);
  dif_linear_cf_in(&e.k, xt, n, in, dif_weight_f32(W, out * in), b, out, y);
  CHECK_NMSE(y, r, (size_t)(n * out), NMSE_MAX);
  dif_linear_cf_out(&e.k, x, n, in, dif_weight_f32(W, out * in), b, out, yt, false);
  CHECK_NMSE(yt, rt, (size_t)(n * out), NMSE_MAX);
  memcpy(yt, y0, (size_t)(n * out) * sizeof *yt);
  dif_linear_cf_out(&e.k, x, n, in, dif_weight_f32(W, out * in), b, out, yt, true);
  CHECK_NMSE(yt, rtacc, (size_t)(n * out), NMSE_MAX);
  free(x), free(xt), free(W), free(b), free(y0), free(r), free(racc), free(y), free(yt);
  free(rt), free(rtacc);
  kenv_free(&e);
}

TEST(linear_variants) {
  check_linear_variants(1, true);
  check_linear_variants(3, true);
  check_linear_variants(3, false);
}

int main(void) {
  RUN(gemm_transposes_and_strides);
  RUN(gemm_beta_zero_ignores_nan);
  RUN(gemm_k_zero_scales_c);
  RUN(linear_bias);
  RUN(linear_no_bias);
  RUN(linear_variants);
  return dif_test_finish();
}
