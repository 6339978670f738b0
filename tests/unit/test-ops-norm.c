/* GroupNorm (channels-first and channels-last), LayerNorm and row softmax
 * against double-precision references. */
#include "core/kern_simd.h"
#include "ops_test_util.h"

static void ref_group_norm(const float *x, int64_t N, int64_t C, int64_t HW, int64_t G, double eps,
                           const float *gamma, const float *beta, double *y) {
  int64_t cg = C / G, len = cg * HW;
  for (int64_t n = 0; n < N; n++)
    for (int64_t g = 0; g < G; g++) {
      const float *xs = x + (n * G + g) * len;
      double m = 0, v = 0;
      for (int64_t i = 0; i < len; i++) m += xs[i];
      m /= (double)len;
      for (int64_t i = 0; i < len; i++) v += (xs[i] - m) * (xs[i] - m);
      v /= (double)len; /* biased, as PyTorch */
      for (int64_t i = 0; i < len; i++) {
        int64_t c = g * cg + i / HW;
        double t = (xs[i] - m) / sqrt(v + eps);
        y[(n * G + g) * len + i] = t * (gamma ? gamma[c] : 1.0) + (beta ? beta[c] : 0.0);
      }
    }
}

static void ref_layer_norm(const float *x, int64_t rows, int64_t dim, double eps,
                           const float *gamma, const float *beta, double *y) {
  for (int64_t r = 0; r < rows; r++) {
    const float *xs = x + r * dim;
    double m = 0, v = 0;
    for (int64_t i = 0; i < dim; i++) m += xs[i];
    m /= (double)dim;
    for (int64_t i = 0; i < dim; i++) v += (xs[i] - m) * (xs[i] - m);
    v /= (double)dim;
    for (int64_t i = 0; i < dim; i++)
      y[r * dim + i] =
          (xs[i] - m) / sqrt(v + eps) * (gamma ? gamma[i] : 1.0) + (beta ? beta[i] : 0.0);
  }
}

/* offset shifts the inputs: a large mean tests the accuracy of the variance. */
static void check_group_norm(int64_t N, int64_t C, int64_t HW, int64_t G, bool affine, float offset,
                             uint64_t seed) {
  size_t n = (size_t)(N * C * HW);
  float *x = frand(n, seed, offset - 1, offset + 1);
  float *gamma = affine ? frand((size_t)C, seed + 1, 0.5f, 1.5f) : NULL;
  float *beta = affine ? frand((size_t)C, seed + 2, -1, 1) : NULL;
  double *r = dbuf(n);
  ref_group_norm(x, N, C, HW, G, 1e-6, gamma, beta, r);
  float *y1 = fbuf(n), *y3 = fbuf(n);
  kenv e1, e3;
  kenv_init(&e1, 1);
  kenv_init(&e3, 3);
  dif__group_norm(&e1.k, x, N, C, HW, G, 1e-6f, gamma, beta, y1);
  dif__group_norm(&e3.k, x, N, C, HW, G, 1e-6f, gamma, beta, y3);
  CHECK_NMSE(y1, r, n, NMSE_MAX);
  CHECK_SAME(y1, y3, n);
  /* Fused with SiLU: silu of the reference, in place too. */
  double *rs = dbuf(n);
  for (size_t i = 0; i < n; i++) rs[i] = r[i] / (1.0 + exp(-r[i]));
  dif__group_norm_silu(&e3.k, x, N, C, HW, G, 1e-6f, gamma, beta, y3);
  CHECK_NMSE(y3, rs, n, NMSE_MAX);
  float *xs = fbuf(n);
  memcpy(xs, x, n * sizeof *xs);
  dif__group_norm_silu(&e1.k, xs, N, C, HW, G, 1e-6f, gamma, beta, xs);
  CHECK_SAME(xs, y3, n);
  free(rs), free(xs);
  /* Channels-last (dif__group_norm_params_cl + dif__norm_apply_cl) on the
   * transposed x: the reference transposed, to float32 rounding, whatever
   * the threads; in place too. */
  float *xl = fbuf(n), *yl = fbuf(n), *yl3 = fbuf(n), *back = fbuf(n);
  dif__norm_affine *na = malloc((size_t)(N * C) * sizeof *na);
  dif__transpose_batched(&e1.k, x, N, C, HW, xl);
  for (int t = 0; t < 2; t++) {
    kenv *e = t ? &e3 : &e1;
    dif__error err;
    dif__error_clear(&err);
    CHECK_STATUS(dif__group_norm_params_cl(&e->k, xl, N, C, HW, G, 1e-6f, gamma, beta, na, &err),
                 DIF_OK, err.msg, "");
    dif__norm_apply_cl(&e->k, xl, N, C, HW, na, t ? yl3 : yl);
    CHECK(e->arena.used_total == 0);
  }
  CHECK_SAME(yl, yl3, n);
  dif__transpose_batched(&e1.k, yl, N, HW, C, back);
  CHECK_NMSE(back, r, n, NMSE_MAX);
  dif__norm_apply_cl(&e3.k, xl, N, C, HW, na, xl);
  CHECK_SAME(xl, yl, n);
  free(xl), free(yl), free(yl3), free(back), free(na);
  /* In place gives the same bits. */
  dif__group_norm(&e3.k, x, N, C, HW, G, 1e-6f, gamma, beta, x);
  CHECK_SAME(x, y1, n);
  kenv_free(&e1);
  kenv_free(&e3);
  free(x), free(gamma), free(beta), free(r), free(y1), free(y3);
}

TEST(group_norm_odd_groups) {
  check_group_norm(2, 15, 35, 3, true, 0, 1);  /* 3 groups of 5 channels, 7×5 image */
  check_group_norm(1, 13, 7, 13, true, 0, 2);  /* one channel per group */
  check_group_norm(3, 9, 11, 1, false, 0, 3);  /* one group: LayerNorm over C·HW */
  check_group_norm(1, 64, 64, 32, true, 0, 4); /* 32 groups, as the UNet and VAE */
}

TEST(group_norm_large_mean) {
  check_group_norm(1, 12, 49, 4, true, 1000.0f, 5);
  check_group_norm(2, 6, 1000, 2, false, -3000.0f, 6);
}

/* Channels-last statistics are shifted by each channel's first pixel: a
 * group whose channels' means lie far apart, with that first pixel far
 * from its channel's mean, still lands on the double reference. */
TEST(group_norm_cl_spread_means) {
  const int64_t C = 8, G = 2, HW = 300, n = C * HW;
  float *x = frand((size_t)n, 7, -1, 1); /* channels-first, then transposed */
  for (int64_t c = 0; c < C; c++) {
    for (int64_t i = 0; i < HW; i++) x[c * HW + i] += 500.0f * (float)c - 1000.0f;
    x[c * HW] += 60.0f * (float)(c % 3) - 40.0f; /* the shift itself an outlier */
  }
  double *r = dbuf((size_t)n);
  ref_group_norm(x, 1, C, HW, G, 1e-6, NULL, NULL, r);
  float *xl = fbuf((size_t)n), *yl = fbuf((size_t)n), *y = fbuf((size_t)n);
  dif__norm_affine na[8];
  kenv e;
  kenv_init(&e, 2);
  dif__error err;
  dif__error_clear(&err);
  dif__transpose_batched(&e.k, x, 1, C, HW, xl);
  CHECK_STATUS(dif__group_norm_params_cl(&e.k, xl, 1, C, HW, G, 1e-6f, NULL, NULL, na, &err),
               DIF_OK, err.msg, "");
  dif__norm_apply_cl(&e.k, xl, 1, C, HW, na, yl);
  dif__transpose_batched(&e.k, yl, 1, HW, C, y);
  CHECK_NMSE(y, r, (size_t)n, NMSE_MAX);
  kenv_free(&e);
  free(x), free(r), free(xl), free(yl), free(y);
}

TEST(group_norm_constant_input) {
  /* Zero variance: (x - mean) = 0 exactly, output is beta. */
  kenv e;
  kenv_init(&e, 3);
  float x[2 * 3 * 4], beta[2] = {0.25f, -2.0f}, gamma[2] = {3.0f, 4.0f};
  for (int i = 0; i < 24; i++) x[i] = 7.5f;
  dif__group_norm(&e.k, x, 3, 2, 4, 2, 1e-5f, gamma, beta, x);
  for (int i = 0; i < 24; i++) CHECK(x[i] == beta[(i / 4) % 2]);
  kenv_free(&e);
}

static void check_layer_norm(int64_t rows, int64_t dim, int affine_mode, float offset,
                             uint64_t seed) {
  size_t n = (size_t)(rows * dim);
  float *x = frand(n, seed, offset - 2, offset + 2);
  float *gamma = (affine_mode & 1) ? frand((size_t)dim, seed + 1, 0.5f, 1.5f) : NULL;
  float *beta = (affine_mode & 2) ? frand((size_t)dim, seed + 2, -1, 1) : NULL;
  double *r = dbuf(n);
  ref_layer_norm(x, rows, dim, 1e-5, gamma, beta, r);
  float *y1 = fbuf(n), *y3 = fbuf(n);
  kenv e1, e3;
  kenv_init(&e1, 0);
  kenv_init(&e3, 3);
  dif__layer_norm(&e1.k, x, rows, dim, 1e-5f, gamma, beta, y1);
  dif__layer_norm(&e3.k, x, rows, dim, 1e-5f, gamma, beta, y3);
  CHECK_NMSE(y1, r, n, NMSE_MAX);
  CHECK_SAME(y1, y3, n);
  dif__layer_norm(&e3.k, x, rows, dim, 1e-5f, gamma, beta, x);
  CHECK_SAME(x, y1, n);
  kenv_free(&e1);
  kenv_free(&e3);
  free(x), free(gamma), free(beta), free(r), free(y1), free(y3);
}

TEST(layer_norm) {
  for (int mode = 0; mode < 4; mode++) check_layer_norm(77, 13, mode, 0, 10 + (uint64_t)mode);
  check_layer_norm(5, 1024, 3, 0, 20);
  check_layer_norm(3, 1, 3, 0, 21); /* a single element normalises to 0 */
  check_layer_norm(9, 768, 3, 500.0f, 22);
}

static void ref_softmax(const float *x, int64_t rows, int64_t n, double *y) {
  for (int64_t r = 0; r < rows; r++) {
    const float *xs = x + r * n;
    double m = -INFINITY, s = 0;
    for (int64_t i = 0; i < n; i++) m = xs[i] > m ? xs[i] : m;
    for (int64_t i = 0; i < n; i++) s += m == -INFINITY ? 0 : exp(xs[i] - m);
    for (int64_t i = 0; i < n; i++) y[r * n + i] = s > 0 ? exp(xs[i] - m) / s : 0;
  }
}

TEST(softmax_rows) {
  const int64_t rows = 19, n = 37;
  size_t len = (size_t)(rows * n);
  float *x = frand(len, 30, -8, 8);
  for (int64_t i = 0; i < n; i++) x[3 * n + i] += 200.0f; /* would overflow expf unshifted */
  for (int64_t i = 0; i < n; i += 3) x[5 * n + i] = -INFINITY;
  for (int64_t i = 0; i < n; i++) x[7 * n + i] = -INFINITY; /* fully masked → zeros */
  double *r = dbuf(len);
  ref_softmax(x, rows, n, r);
  float *x3 = fbuf(len);
  memcpy(x3, x, len * sizeof *x);
  kenv e1, e3;
  kenv_init(&e1, 1);
  kenv_init(&e3, 3);
  dif__softmax_rows(&e1.k, x, rows, n);
  dif__softmax_rows(&e3.k, x3, rows, n);
  CHECK_NMSE(x, r, len, NMSE_MAX);
  CHECK_SAME(x, x3, len);
  for (int64_t i = 0; i < n; i++) CHECK(x[7 * n + i] == 0.0f);
  for (int64_t i = 0; i < n; i += 3) CHECK(x[5 * n + i] == 0.0f);
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += x[3 * n + i];
  CHECK(fabs(s - 1.0) < 1e-6);
  /* A single column is always 1. */
  float one[3] = {-5, 0, 1e30f};
  dif__softmax_rows(&e3.k, one, 3, 1);
  CHECK(one[0] == 1 && one[1] == 1 && one[2] == 1);
  kenv_free(&e1);
  kenv_free(&e3);
  free(x), free(x3), free(r);
}

/* Every kernel test runs with the baseline SIMD build and with the one the
 * CPU picks (AVX2 + FMA on most x86-64), so both are covered here. */
int main(void) {
  for (int level = 0; level <= 1; level++) {
    if (dif__simd_force(level) != level) continue; /* no AVX2 build or CPU */
    RUN(group_norm_odd_groups);
    RUN(group_norm_large_mean);
    RUN(group_norm_constant_input);
    RUN(group_norm_cl_spread_means);
    RUN(layer_norm);
    RUN(softmax_rows);
  }
  dif__simd_force(-1);
  return dif__test_finish();
}
