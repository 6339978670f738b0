/* Activations, GEGLU, nearest resize, add, concat and the timestep embedding
 * against double-precision references. */
#include "core/dtype.h"
#include "core/kern_simd.h"
#include "ops_test_util.h"

/* Big enough that a 3-thread pool really splits the work. */
#define NBIG 100003

typedef void (*act_fn)(const dif__kctx *, const float *, int64_t, float *);

/* References without cancellation: 1 + erf(x/√2) and 1 + tanh(v) lose all
 * digits for x ≪ 0 even in double, so GELU uses erfc and tanh-GELU the
 * identical 0.5·x·(1 + tanh v) = x / (1 + exp(-2v)). */
static double ref_gelu(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
static double ref_gelu_tanh(double x) {
  return x / (1.0 + exp(-2.0 * sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
}
static double ref_quick_gelu(double x) { return x / (1.0 + exp(-1.702 * x)); }
static double ref_silu(double x) { return x / (1.0 + exp(-x)); }

static void check_act(act_fn fn, double (*ref)(double)) {
  float *x = frand(NBIG, 7, -10, 10);
  x[0] = 0, x[1] = -100, x[2] = 100, x[3] = -1e-30f; /* saturation and underflow */
  double *r = dbuf(NBIG);
  for (size_t i = 0; i < NBIG; i++) r[i] = ref(x[i]);
  float *y1 = fbuf(NBIG);
  kenv e1, e3;
  kenv_init(&e1, 1);
  kenv_init(&e3, 3);
  fn(&e1.k, x, NBIG, y1);
  /* Each result is a short float formula of one input (~1e-7 relative for
   * the large values that dominate the NMSE), far inside the 1e-10 bound. */
  CHECK_NMSE(y1, r, NBIG, NMSE_MAX);
  CHECK(isfinite(y1[1]) && isfinite(y1[2]));
  fn(&e3.k, x, NBIG, x); /* in place, 3 threads: same bits */
  CHECK_SAME(x, y1, NBIG);
  kenv_free(&e1);
  kenv_free(&e3);
  free(x), free(r), free(y1);
}

/* Worst relative error over a dense grid of [lo, hi] (values below 1e-30 in
 * magnitude skipped): the tails that the NMSE does not see. */
static double max_rel(act_fn fn, double (*ref)(double), float lo, float hi) {
  enum { N = 40001 };
  float *x = fbuf(N), *y = fbuf(N);
  for (int i = 0; i < N; i++) x[i] = lo + (hi - lo) * (float)i / (N - 1);
  fn(NULL, x, N, y);
  double m = 0;
  for (int i = 0; i < N; i++) {
    double r = ref(x[i]);
    if (fabs(r) < 1e-30) continue;
    double e = fabs(y[i] - r) / fabs(r);
    if (!(e <= m)) m = e;
  }
  free(x), free(y);
  return m;
}

TEST(activation_tails) {
  /* GELU via erfc and tanh-GELU via a sigmoid keep relative accuracy for
   * negative inputs, where the textbook float formulas cancel to 0. What
   * remains is the float rounding of the exponent argument (-z² ≈ -70 at
   * x = -12: one ulp there is 4e-6 relative in exp), hence 5e-5. */
  double e = max_rel(dif__gelu, ref_gelu, -12, 12);
  CHECK_MSG(e <= 5e-5, "gelu max rel %.3g", e);
  e = max_rel(dif__gelu_tanh, ref_gelu_tanh, -9, 9);
  CHECK_MSG(e <= 5e-5, "gelu_tanh max rel %.3g", e);
  /* SiLU/QuickGELU: exp argument |k·x| ≤ 34, one ulp 2e-6 relative. */
  e = max_rel(dif__silu, ref_silu, -20, 20);
  CHECK_MSG(e <= 1e-5, "silu max rel %.3g", e);
  e = max_rel(dif__quick_gelu, ref_quick_gelu, -20, 20);
  CHECK_MSG(e <= 1e-5, "quick_gelu max rel %.3g", e);
}

TEST(gelu) { check_act(dif__gelu, ref_gelu); }
TEST(gelu_tanh) { check_act(dif__gelu_tanh, ref_gelu_tanh); }
TEST(quick_gelu) { check_act(dif__quick_gelu, ref_quick_gelu); }
TEST(silu) { check_act(dif__silu, ref_silu); }

TEST(geglu_splits_value_then_gate) {
  const int64_t rows = 301, d = 333;
  float *x = frand((size_t)(rows * 2 * d), 8, -4, 4);
  double *r = dbuf((size_t)(rows * d));
  for (int64_t i = 0; i < rows; i++)
    for (int64_t c = 0; c < d; c++)
      r[i * d + c] = (double)x[i * 2 * d + c] * ref_gelu(x[i * 2 * d + d + c]);
  float *y1 = fbuf((size_t)(rows * d)), *y3 = fbuf((size_t)(rows * d));
  kenv e1, e3;
  kenv_init(&e1, 1);
  kenv_init(&e3, 3);
  dif__geglu(&e1.k, x, rows, d, y1);
  dif__geglu(&e3.k, x, rows, d, y3);
  CHECK_NMSE(y1, r, (size_t)(rows * d), NMSE_MAX);
  CHECK_SAME(y1, y3, (size_t)(rows * d));
  /* The first half is the value, the second the gate: a = {2, 0, 30},
   * g = {-30, 2, 2} gives {2·gelu(-30), 0, 30·gelu(2)}, gelu(2) = 1.9544997. */
  float t[6] = {2, 0, 30, -30, 2, 2}, u[3];
  dif__geglu(&e1.k, t, 1, 3, u);
  CHECK(fabsf(u[0]) < 1e-30f);
  CHECK(u[1] == 0.0f);
  CHECK(fabsf(u[2] - 30.0f * 1.9544997f) < 1e-5f);
  kenv_free(&e1);
  kenv_free(&e3);
  free(x), free(r), free(y1), free(y3);
}

/* PyTorch 'nearest' source index, written out independently of the library:
 * scale is float(in)/out, src = min(floor(dst·scale), in-1) in float. */
static int64_t torch_nearest(int64_t dst, int64_t in, int64_t out) {
  if (out == in) return dst;
  if (out == 2 * in) return dst / 2;
  float scale = (float)in / (float)out;
  int64_t s = (int64_t)floorf((float)dst * scale);
  return s < in - 1 ? s : in - 1;
}

static void check_upsample(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  size_t nx = (size_t)(NC * H * W), ny = (size_t)(NC * OH * OW);
  float *x = fbuf(nx);
  for (size_t i = 0; i < nx; i++) x[i] = (float)i; /* values name their source */
  float *y1 = fbuf(ny), *y3 = fbuf(ny);
  kenv e1, e3;
  kenv_init(&e1, 1);
  kenv_init(&e3, 3);
  dif__upsample_nearest(&e1.k, x, NC, H, W, OH, OW, y1);
  dif__upsample_nearest(&e3.k, x, NC, H, W, OH, OW, y3);
  int bad = 0;
  for (int64_t c = 0; c < NC; c++)
    for (int64_t i = 0; i < OH; i++)
      for (int64_t j = 0; j < OW; j++) {
        float want = x[(c * H + torch_nearest(i, H, OH)) * W + torch_nearest(j, W, OW)];
        bad += y1[(c * OH + i) * OW + j] != want;
      }
  CHECK_MSG(bad == 0, "%dx%d -> %dx%d: %d wrong", (int)H, (int)W, (int)OH, (int)OW, bad);
  CHECK_SAME(y1, y3, ny);
  kenv_free(&e1);
  kenv_free(&e3);
  free(x), free(y1), free(y3);
}

TEST(upsample_nearest) {
  check_upsample(3, 4, 5, 8, 10);     /* the usual 2× */
  check_upsample(2, 3, 5, 5, 11);     /* odd latent sizes diffusers passes */
  check_upsample(2, 7, 6, 7, 6);      /* identity */
  check_upsample(1, 9, 7, 4, 3);      /* downscale */
  check_upsample(1, 1, 2, 3, 82);     /* float scale rounding, see below */
  check_upsample(64, 32, 32, 64, 64); /* enough rows to split over threads */
}

TEST(upsample_known_indices) {
  /* 3 → 5 and 5 → 11 by hand: floor(d·in/out). */
  static const int64_t i35[5] = {0, 0, 1, 1, 2};
  static const int64_t i511[11] = {0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4};
  float x[5] = {0, 1, 2, 3, 4}, y[11];
  dif__upsample_nearest(NULL, x, 1, 1, 3, 1, 5, y);
  for (int j = 0; j < 5; j++) CHECK(y[j] == (float)i35[j]);
  dif__upsample_nearest(NULL, x, 1, 1, 5, 1, 11, y);
  for (int j = 0; j < 11; j++) CHECK(y[j] == (float)i511[j]);
  /* 2 → 82: float(2)/82 rounds down, so dst 41 reads src 0 in PyTorch where
   * exact arithmetic (41·2/82 = 1) would read src 1. We follow PyTorch. */
  float z[82];
  dif__upsample_nearest(NULL, x, 1, 1, 2, 1, 82, z);
  CHECK(z[40] == 0.0f && z[41] == 0.0f && z[42] == 1.0f);
}

TEST(add_in_place) {
  float *a = frand(NBIG, 9, -1, 1), *b = frand(NBIG, 10, -1, 1), *y = fbuf(NBIG);
  kenv e;
  kenv_init(&e, 3);
  dif__add(&e.k, a, b, NBIG, y);
  int bad = 0;
  for (size_t i = 0; i < NBIG; i++) bad += y[i] != a[i] + b[i];
  CHECK(bad == 0);
  dif__add(&e.k, a, b, NBIG, a);
  CHECK_SAME(a, y, NBIG);
  float *b0 = fbuf(NBIG);
  memcpy(b0, b, NBIG * sizeof *b);
  dif__add(NULL, y, b, NBIG, b); /* serial, into the second operand */
  for (size_t i = 0; i < NBIG; i++) bad += b[i] != y[i] + b0[i];
  CHECK(bad == 0);
  free(b0);
  kenv_free(&e);
  free(a), free(b), free(y);
}

TEST(concat_channels) {
  const int64_t N = 2, Ca = 3, Cb = 5, HW = 7;
  float *a = frand((size_t)(N * Ca * HW), 11, -1, 1), *b = frand((size_t)(N * Cb * HW), 12, -1, 1);
  float *y = fbuf((size_t)(N * (Ca + Cb) * HW));
  dif__concat_channels(a, Ca, b, Cb, N, HW, y);
  int bad = 0;
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < Ca + Cb; c++)
      for (int64_t i = 0; i < HW; i++) {
        float want = c < Ca ? a[(n * Ca + c) * HW + i] : b[(n * Cb + c - Ca) * HW + i];
        bad += y[(n * (Ca + Cb) + c) * HW + i] != want;
      }
  CHECK(bad == 0);
  free(a), free(b), free(y);
}

TEST(add_channel_bias) {
  kenv e;
  kenv_init(&e, 3);
  const int64_t N = 2, C = 5, HW = 7;
  float *x = frand((size_t)(N * C * HW), 50, -1, 1), *b = frand((size_t)C, 51, -1, 1);
  float *y = fbuf((size_t)(N * C * HW));
  dif__add_channel_bias(&e.k, x, N, C, HW, b, y);
  for (int64_t i = 0; i < N * C * HW; i++) CHECK(y[i] == x[i] + b[(i / HW) % C]);
  dif__add_channel_bias(&e.k, x, N, C, HW, b, x); /* in place */
  CHECK_SAME(x, y, (size_t)(N * C * HW));
  kenv_free(&e);
  free(x), free(b), free(y);
}

/* The convolutions' layout changes (kern_simd.h): every size around the
 * AVX2 build's 8 × 8 blocks, leading dimensions wider than the block, with
 * and without bias and accumulation, bit for bit against the element-wise
 * definition; nothing outside the block written. */
static const int64_t tsizes[] = {1, 3, 7, 8, 9, 15, 16, 17, 32, 33};
#define NTSIZES (sizeof tsizes / sizeof tsizes[0])

TEST(transpose) {
  const int64_t ld_src = 41, ld_dst = 37; /* ≥ every size + 1 */
  float *src = frand((size_t)(ld_src * 33), 60, -2, 2), *bias = frand(33, 61, -1, 1);
  float *d0 = frand((size_t)(ld_dst * 33), 62, -2, 2), *dst = fbuf((size_t)(ld_dst * 33));
  src[5] = -0.0f, src[ld_src + 2] = INFINITY, src[2 * ld_src] = NAN; /* carried as they are */
  for (size_t a = 0; a < NTSIZES; a++)
    for (size_t b = 0; b < NTSIZES; b++)
      for (int mode = 0; mode < 4; mode++) {
        const int64_t rows = tsizes[a], cols = tsizes[b];
        const float *bs = mode & 1 ? bias : NULL;
        const bool acc = mode & 2;
        memcpy(dst, d0, (size_t)(ld_dst * 33) * sizeof *dst);
        dif__k_transpose(src, ld_src, dst, ld_dst, rows, cols, bs, acc);
        bool same = true;
        for (int64_t r = 0; r < 33; r++)
          for (int64_t c = 0; c < ld_dst; c++) {
            float want = d0[r * ld_dst + c];
            if (r < rows && c < cols) {
              const float v = src[c * ld_src + r] + (bs ? bs[r] : 0.0f);
              want = acc ? want + v : v;
            }
            same &= memcmp(&want, &dst[r * ld_dst + c], sizeof want) == 0;
          }
        if (!same)
          printf("transpose %lld x %lld, bias %d, acc %d: differs (SIMD level %d)\n",
                 (long long)rows, (long long)cols, mode & 1, acc, dif__simd_level());
        CHECK(same);
      }
  free(src), free(bias), free(d0), free(dst);
}

TEST(transpose_bf16) {
  const int64_t ld_src = 41, ld_dst = 37;
  float *src = frand((size_t)(ld_src * 33), 63, -3, 3);
  /* rounding's edges: ties to even both ways, the carry into the exponent
   * and to Inf, subnormals, signed zero, infinities, NaNs quiet or not */
  const uint32_t edge[] = {0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x7f7fffffu, 0xff7fffffu,
                           0x00000001u, 0x80008000u, 0x80000000u, 0x7f800000u, 0xff800000u,
                           0x7fc00000u, 0x7f800001u, 0xffa00000u, 0x3f7fffffu, 0x007fffffu};
  for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
    memcpy(&src[(int64_t)i * ld_src + (int64_t)i % 9], &edge[i], sizeof edge[i]);
  uint16_t *dst = malloc((size_t)(ld_dst * 33) * sizeof *dst);
  CHECK(dst != NULL);
  for (size_t a = 0; a < NTSIZES && dst; a++)
    for (size_t b = 0; b < NTSIZES; b++) {
      const int64_t rows = tsizes[a], cols = tsizes[b];
      for (int64_t i = 0; i < ld_dst * 33; i++) dst[i] = 0xabcdu;
      dif__k_transpose_bf16(src, ld_src, dst, ld_dst, rows, cols);
      bool same = true;
      for (int64_t r = 0; r < 33; r++)
        for (int64_t c = 0; c < ld_dst; c++)
          same &= dst[r * ld_dst + c] ==
                  (r < rows && c < cols ? dif__bf16_rne(src[c * ld_src + r]) : 0xabcdu);
      if (!same)
        printf("transpose_bf16 %lld x %lld: differs (SIMD level %d)\n", (long long)rows,
               (long long)cols, dif__simd_level());
      CHECK(same);
    }
  free(src), free(dst);
}

/* The channels-last pack's kernel (dif__k_affine_bf16) and the float32
 * affine (dif__k_affine_vec) against double: within float32 rounding of
 * the terms, then (bf16) half a bf16 unit more; infinities and NaNs as the
 * span kernels give them (they propagate the same with or without FMA
 * contraction, which the builds and optimisation levels choose
 * differently). Every length's tail. */
TEST(affine_bf16) {
  const int64_t n = 53;
  float *x = frand((size_t)n, 64, -6, 6), *v = fbuf((size_t)n), *f = fbuf((size_t)n);
  float *prm[4] = {frand((size_t)n, 65, -1, 1), frand((size_t)n, 66, -1e-7f, 1e-7f),
                   frand((size_t)n, 67, 0.5f, 2), frand((size_t)n, 68, -1, 1)};
  const uint32_t edge[] = {0x7f800000u, 0xff800000u, 0x7fc00000u, 0x00000001u, 0x80000000u};
  for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) memcpy(&x[3 * i], &edge[i], 4);
  const float *const norm[4] = {prm[0], prm[1], prm[2], prm[3]};
  uint16_t *d = malloc((size_t)n * sizeof *d);
  CHECK(d != NULL);
  for (int mode = 0; mode < 4 && d; mode++)
    for (int64_t len = 0; len <= n; len += len < 20 ? 1 : 11) {
      const bool use_norm = mode & 1, silu = mode & 2;
      for (int64_t i = 0; i < len; i++) d[i] = 0xabcdu;
      dif__k_affine_bf16(x, len, use_norm ? norm : NULL, silu, d);
      if (use_norm) dif__k_affine_vec(x, len, norm, f);
      bool ok = true;
      for (int64_t i = 0; i < len; i++) {
        if (!isfinite(x[i])) { /* as the span kernels: the same bits */
          if (use_norm)
            dif__k_affine_span(x + i, v + i, 1, prm[0][i], prm[1][i], prm[2][i], prm[3][i], silu);
          else if (silu)
            dif__k_act_span(DIF__ACT_SILU, x + i, v + i, 1);
          else
            v[i] = x[i];
          ok &= d[i] == dif__bf16_rne(v[i]);
          continue;
        }
        double t = x[i], mag = fabs(t);
        if (use_norm) {
          const double u = ((double)x[i] - prm[0][i] - prm[1][i]) * prm[2][i];
          t = u + prm[3][i];
          mag = fabs(u) + fabs((double)prm[3][i]) + fabs((double)x[i] * prm[2][i]);
          ok &= fabs((double)f[i] - t) <= 4e-7 * mag + 1e-37;
        }
        double r = t, err = 4e-7 * mag;
        if (silu) {
          r = t / (1.0 + exp(-t));
          err = 1e-6 * (fabs(r) + err) + err;
        }
        ok &= fabs((double)dif__bf16_to_float(d[i]) - r) <= ldexp(fabs(r), -8) + err + 1e-37;
      }
      if (!ok)
        printf("affine_bf16 length %lld, norm %d, silu %d: off (SIMD level %d)\n", (long long)len,
               use_norm, silu, dif__simd_level());
      CHECK(ok);
    }
  free(x), free(v), free(f), free(d);
  for (int q = 0; q < 4; q++) free(prm[q]);
}

/* The channels-last GroupNorm's sums: against double sums, per channel. */
TEST(shifted_sums) {
  const int64_t P = 37, C = 13;
  float *x = frand((size_t)(P * C), 70, 90, 110), *shift = frand((size_t)C, 71, 95, 105);
  double s1[13] = {0}, s2[13] = {0};
  dif__k_shifted_sums(x, P, C, shift, s1, s2);
  for (int64_t c = 0; c < C; c++) {
    double r1 = 0, r2 = 0;
    for (int64_t p = 0; p < P; p++) {
      const double d = (double)x[p * C + c] - shift[c];
      r1 += d, r2 += d * d;
    }
    CHECK(fabs(s1[c] - r1) <= 1e-12 * (1 + fabs(r1)) && fabs(s2[c] - r2) <= 1e-12 * (1 + r2));
  }
  free(x), free(shift);
}

/* Channels-first ↔ channels-last: y[n, c, r] = x[n, r, c], tiles and edges. */
TEST(transpose_batched) {
  const int64_t N = 2, R = 70, C = 131;
  float *x = frand((size_t)(N * R * C), 69, -1, 1), *y = fbuf((size_t)(N * R * C));
  kenv e;
  kenv_init(&e, 3);
  dif__transpose_batched(&e.k, x, N, R, C, y);
  bool same = true;
  for (int64_t n = 0; n < N; n++)
    for (int64_t r = 0; r < R; r++)
      for (int64_t c = 0; c < C; c++) same &= y[(n * C + c) * R + r] == x[(n * R + r) * C + c];
  CHECK(same);
  kenv_free(&e);
  free(x), free(y);
}

/* Every kernel test runs with the baseline SIMD build and with the one the
 * CPU picks (AVX2 + FMA on most x86-64), so both are covered here. */
int main(void) {
  for (int level = 0; level <= 1; level++) {
    if (dif__simd_force(level) != level) continue; /* no AVX2 build or CPU */
    RUN(gelu);
    RUN(gelu_tanh);
    RUN(quick_gelu);
    RUN(silu);
    RUN(activation_tails);
    RUN(geglu_splits_value_then_gate);
    RUN(upsample_nearest);
    RUN(upsample_known_indices);
    RUN(add_in_place);
    RUN(concat_channels);
    RUN(add_channel_bias);
    RUN(transpose);
    RUN(transpose_bf16);
    RUN(affine_bf16);
    RUN(shifted_sums);
    RUN(transpose_batched);
  }
  dif__simd_force(-1);
  return dif__test_finish();
}
