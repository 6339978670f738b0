/* Typed weights (core/weight.h): Linear and Conv2d weights stay in the
 * file's dtype and are converted by the kernel that uses them.
 *
 * What is checked, and why it pins the behaviour:
 *   - dif__f16_from_f32 (how the copies below are written): every half
 *     round-trips, and every midpoint between neighbouring halves rounds to
 *     the even one (round to nearest even, as numpy / PyTorch).
 *   - dif__weight_bf16 (what the fast path packs a 16-bit weight from):
 *     every F16 value (all 65536 bit patterns, NaNs and infinities among
 *     them) and F32 values at and beside bf16 midpoints give
 *     dif__bf16_rne of the exact float32 value, BF16 its own bits, the same
 *     on a pool of 2 threads as serially, from an odd address, at sizes on
 *     and beside its chunk (4096) and task (8 chunks) edges.
 *   - Kernels, exact path: a linear product (all four layouts, few rows
 *     and many) or a convolution with an F16/BF16 weight gives the bits of
 *     the same call with the float32 weight holding the widened values (the
 *     16-bit weight is widened exactly, then the same sgemm runs, or the
 *     few-row kernel of gemm_few.h on the widened values), and the scratch is
 *     released (a weight above 4M elements goes in bands of output
 *     channels: float32 accuracy). Against the *unrounded* float32 weight W the distance is
 *     bounded by what rounding W to 16 bits can do, computed per output:
 *       |y16 − y| ≤ Σ|x|·|ŵ − w| + 2·γ·(Σ|x||w| + Σ|x||ŵ| + |b|),
 *     γ = (in + 2)·2^-24 (float32 accumulation of in + 1 terms, both runs),
 *     where |ŵ − w| is the actual rounding error of each weight (≤ 2^-11|w|
 *     for a normal F16 value, ≤ 2^-25 absolute for a subnormal one, ≤ 2^-8|w|
 *     for BF16) — the bound is computed from the weights, not guessed. The
 *     path without an arena (a stack buffer, inputs split in chunks of 4096)
 *     meets the float32 bound against the double product.
 *   - Kernels, fast path (where a bf16 backend runs): an F16 weight packs to
 *     the bf16 form of its widened values, so its products are the bits of
 *     the widened float32 weight's.
 *   - Whole models (tiny UNet, VAE, CLIP text, prior from tests/golden): a
 *     copy of the folder in F16 (and BF16) gives, exact and fast, the bits
 *     of a float32 copy whose values were rounded through F16 (BF16): the
 *     16-bit path adds no error beyond the rounding of the weights
 *     themselves. The distance of those outputs to the original float32
 *     model's is printed (it is the weights' rounding, propagated).
 *   - F32 models: the golden runner and every other test run the same code
 *     path; here, an F32 weight through dif__linear gives dif__gemm's bits,
 *     or dif__few_rows's for the few rows it takes.
 *   - Memory: loading the F16 UNet allocates no float32 copy of its
 *     matrices (heap growth measured with mallinfo2 is at most the float32
 *     form of its 1-D tensors, which stay float32 by design), and its
 *     weights point into the file mapping.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/backend.h"
#include "core/gemm_few.h"
#include "io/component.h"
#include "io/safetensors.h"
#include "models/clip_text.h"
#include "models/prior.h"
#include "models/unet.h"
#include "models/vae.h"
#include "ops_test_util.h"

static const dif__backend *bf16_backend; /* NULL: the fast-path checks say why they are skipped */

/* ---- dif__f16_from_f32 ---- */

TEST(f16_rounding) {
  int bad = 0;
  for (uint32_t h = 0; h < 65536 && bad < 5; h++) {
    const float f = dif__f16_to_float((uint16_t)h);
    if (isnan(f)) {
      const uint16_t back = dif__f16_from_f32(f);
      if ((back & 0x7c00u) != 0x7c00u || !(back & 0x3ffu) || (back ^ h) & 0x8000u) bad++;
      continue;
    }
    if (dif__f16_from_f32(f) != h) {
      fprintf(stderr, "half 0x%04x (%a) comes back as 0x%04x\n", h, (double)f,
              dif__f16_from_f32(f));
      bad++;
    }
    /* the midpoint to the next half up (same sign) rounds to the even one;
     * just off it, to the nearer one */
    const uint32_t up = h + 1;
    if ((h & 0x7fffu) >= 0x7bffu) continue; /* the largest finite half, Inf, NaN */
    const float g = dif__f16_to_float((uint16_t)up);
    const float mid = (float)(((double)f + (double)g) / 2); /* exact in float32 */
    const uint16_t even = (h & 1u) ? (uint16_t)up : (uint16_t)h;
    if (dif__f16_from_f32(mid) != even) bad++;
    if (dif__f16_from_f32(nextafterf(mid, f)) != h) bad++;
    if (dif__f16_from_f32(nextafterf(mid, g)) != up) bad++;
  }
  CHECK(bad == 0);
  CHECK(dif__f16_from_f32(65519.996f) == 0x7bff && dif__f16_from_f32(65520.0f) == 0x7c00);
  CHECK(dif__f16_from_f32(-1e30f) == 0xfc00 && dif__f16_from_f32(0x1p-25f) == 0x0000);
  CHECK(dif__f16_from_f32(nextafterf(0x1p-25f, 1)) == 0x0001);
  CHECK(dif__f16_from_f32(-0.0f) == 0x8000);
}

/* ---- kernels ---- */

/* A 16-bit copy of w (host-order halves) and its widened float32 values. */
static uint16_t *round16(dif__dtype dt, const float *w, size_t n, float *widened) {
  uint16_t *h = malloc((n ? n : 1) * sizeof *h);
  if (!h) abort();
  for (size_t i = 0; i < n; i++) {
    h[i] = dt == DIF__DTYPE_F16 ? dif__f16_from_f32(w[i]) : dif__bf16_from_f32(w[i]);
    widened[i] = dt == DIF__DTYPE_F16 ? dif__f16_to_float(h[i]) : dif__bf16_to_float(h[i]);
  }
  return h;
}

/* The bound above, per output of y[n, out] = x[n, in]·W[out, in]ᵀ + b. */
static void check_rounding_bound(const float *y, const float *x, const float *w, const float *wr,
                                 const float *b, int64_t n, int64_t in, int64_t out,
                                 const char *what) {
  const double gamma = (double)(in + 2) * 0x1p-24;
  int bad = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t o = 0; o < out; o++) {
      double exact = b ? b[o] : 0, dw = 0, ax = 0, axr = 0;
      for (int64_t c = 0; c < in; c++) {
        const double xv = x[i * in + c], wv = w[o * in + c], rv = wr[o * in + c];
        exact += xv * wv;
        dw += fabs(xv) * fabs(rv - wv);
        ax += fabs(xv * wv);
        axr += fabs(xv * rv);
      }
      const double bound = dw + 2 * gamma * (ax + axr + (b ? fabs(b[o]) : 0));
      if (!(fabs(y[i * out + o] - exact) <= bound) && bad++ < 3)
        fprintf(stderr, "%s: y[%lld, %lld] = %.9g, exact %.9g, bound %.3g\n", what, (long long)i,
                (long long)o, (double)y[i * out + o], exact, bound);
    }
  CHECK_MSG(bad == 0, "%s: %d outputs beyond the rounding bound", what, bad);
}

/* y = x·Wᵀ + b in the four layouts, into y[4][n·out] (row-major results). */
static void linear4(const dif__kctx *k, const float *x, const float *xt, int64_t n, int64_t in,
                    dif__weight w, const float *b, int64_t out, const float *y0, float *y) {
  float *t = fbuf((size_t)(n * out));
  dif__linear(k, x, n, in, w, b, out, y);
  memcpy(y + n * out, y0, (size_t)(n * out) * sizeof *y);
  dif__linear_acc(k, x, n, in, w, b, out, y + n * out);
  dif__linear_cf_in(k, xt, n, in, w, b, out, y + 2 * n * out);
  dif__linear_cf_out(k, x, n, in, w, b, out, t, false);
  for (int64_t i = 0; i < n; i++)
    for (int64_t o = 0; o < out; o++) y[3 * n * out + i * out + o] = t[o * n + i];
  free(t);
}

/* The products of n rows (a few or many: gemm_few.h takes up to
 * DIF__FEW_ROWS_MAX rows where it runs, cblas_sgemm the others). */
static void linear_exact_rows(kenv *e, int64_t n) {
  const int64_t in = 77, out = 21;
  float *x = frand((size_t)(n * in), 1, -2, 2), *w = frand((size_t)(out * in), 2, -1, 1);
  float *b = frand((size_t)out, 3, -1, 1), *y0 = frand((size_t)(n * out), 4, -1, 1);
  w[5] = 3e-6f, w[6] = -1e-7f; /* subnormal halves */
  float *xt = fbuf((size_t)(n * in));
  for (int64_t i = 0; i < n; i++)
    for (int64_t c = 0; c < in; c++) xt[c * n + i] = x[i * in + c];
  /* an F32 weight is dif__gemm's product, bit for bit, or the few-row
   * kernel's where it takes the product (the path F32 models take) */
  float *y = fbuf((size_t)(4 * n * out)), *yr = fbuf((size_t)(4 * n * out));
  dif__linear(&e->k, x, n, in, dif__weight_f32(w, out * in), NULL, out, y);
  if (dif__few_rows_taken(n, dif__weight_f32(w, out * in)))
    dif__few_rows(NULL, x, n, in, in, dif__weight_f32(w, out * in), out, 0.0f, yr, out, 1);
  else
    dif__gemm(false, true, n, out, in, 1.0f, x, in, w, in, 0.0f, yr, out);
  CHECK_SAME(y, yr, (size_t)(n * out));
  printf("  %lld rows: %s\n", (long long)n,
         dif__few_rows_taken(n, dif__weight_f32(w, out * in)) ? "the few-row kernel"
                                                              : "cblas_sgemm");
  const dif__dtype dts[2] = {DIF__DTYPE_F16, DIF__DTYPE_BF16};
  for (int d = 0; d < 2; d++) {
    float *wr = fbuf((size_t)(out * in));
    uint16_t *h = round16(dts[d], w, (size_t)(out * in), wr);
    const dif__weight w16 = {h, dts[d], out * in, false};
    linear4(&e->k, x, xt, n, in, w16, b, out, y0, y);
    CHECK(e->arena.used_total == 0);
    linear4(&e->k, x, xt, n, in, dif__weight_f32(wr, out * in), b, out, y0, yr);
    CHECK_MSG(memcmp(y, yr, (size_t)(4 * n * out) * sizeof *y) == 0,
              "%s weight, %lld rows: not the widened float32 weight's bits",
              dif__dtype_name(dts[d]), (long long)n);
    check_rounding_bound(y, x, w, wr, b, n, in, out, dif__dtype_name(dts[d]));
    free(wr), free(h);
  }
  free(x), free(w), free(b), free(y0), free(xt), free(y), free(yr);
}

/* ---- dif__weight_bf16 ---- */

/* dif__weight_bf16 at n elements (every F16 pattern while n allows), on a
 * pool of 2 threads and serially, from an odd address. */
static void round_to_bf16_at(kenv *e, size_t n) {
  unsigned char *raw = malloc(2 * n + 1);
  float *f = malloc(n * sizeof *f);
  uint16_t *got = malloc(n * sizeof *got), *ser = malloc(n * sizeof *ser);
  if (!raw || !f || !got || !ser) abort();
  for (size_t i = 0; i < n; i++) {
    const uint16_t h = (uint16_t)(i * 40503u); /* an odd multiplier: every pattern */
    memcpy(raw + 1 + 2 * i, &h, 2);
    f[i] = dif__f16_to_float(h);
  }
  const dif__weight w16 = {raw + 1, DIF__DTYPE_F16, (int64_t)n, false};
  dif__weight_bf16(e->k.pool, w16, got);
  dif__weight_bf16(NULL, w16, ser);
  int bad = 0;
  for (size_t i = 0; i < n; i++) bad += got[i] != dif__bf16_rne(f[i]) || ser[i] != got[i];
  CHECK_MSG(bad == 0, "F16, %zu values: %d not rounded to nearest even bf16", n, bad);
  /* BF16: the bits as they are */
  const dif__weight wb = {raw + 1, DIF__DTYPE_BF16, (int64_t)n, false};
  dif__weight_bf16(e->k.pool, wb, got);
  CHECK_MSG(memcmp(got, raw + 1, 2 * n) == 0, "BF16, %zu values: not copied", n);
  /* F32: values at, just below and just above bf16 midpoints (ties to
   * even both ways), then subnormals, signed zeros, infinities, NaN */
  const uint32_t special[8] = {0x00000001u, 0x80000000u, 0x00000000u, 0x7f800000u,
                               0xff800000u, 0x7fc00001u, 0x7f7fffffu, 0x00008000u};
  for (size_t i = 0; i < n; i++) {
    const uint32_t u = (uint32_t)(i * 2654435761u), r = (uint32_t)(i % 5);
    const uint32_t low = r == 0 ? 0x8000u : r == 1 ? 0x7fffu : r == 2 ? 0x8001u : u;
    const uint32_t bits = i < 8 && n > 8 ? special[i] : (u & 0xffff0000u) | (low & 0xffffu);
    memcpy(f + i, &bits, 4);
  }
  dif__weight_bf16(e->k.pool, dif__weight_f32(f, (int64_t)n), got);
  bad = 0;
  for (size_t i = 0; i < n; i++) bad += got[i] != dif__bf16_rne(f[i]);
  CHECK_MSG(bad == 0, "F32, %zu values: %d not rounded to nearest even bf16", n, bad);
  if (n > 8) {
    CHECK(got[3] == 0x7f80 && got[4] == 0xff80 && (got[5] & 0x7fc0) == 0x7fc0); /* NaN: NaN */
    CHECK(got[6] == 0x7f80); /* the largest float rounds up to infinity (as .bfloat16()) */
  }
  free(raw), free(f), free(got), free(ser);
}

TEST(weights_round_to_bf16) {
  kenv e;
  kenv_init(&e, 2);
  /* one value; one chunk of 4096 exactly and one past it; one task of 8
   * chunks and one past it; every F16 pattern twice plus 3 (5 tasks) */
  const size_t sizes[] = {1, 4096, 4097, 8 * 4096, 8 * 4096 + 1, 2 * 65536 + 3};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) round_to_bf16_at(&e, sizes[i]);
  kenv_free(&e);
}

TEST(linear_exact) {
  kenv e;
  kenv_init(&e, 3);
  linear_exact_rows(&e, 9);                         /* gemm_few.h's dot kernel */
  linear_exact_rows(&e, DIF__FEW_ROWS_DOT_MAX + 8); /* its panel kernel */
  linear_exact_rows(&e, DIF__FEW_ROWS_MAX + 24);    /* cblas_sgemm */
  kenv_free(&e);
}

TEST(linear_without_arena) {
  /* No arena: the 16-bit weight goes through a stack buffer in tiles, the
   * inputs split in chunks (in = 5000 > 4096). Float32 accuracy against
   * the double product of the widened values. More rows than the few-row
   * kernel takes (it needs no scratch). */
  const int64_t n = DIF__FEW_ROWS_MAX + 1, in = 5000, out = 4;
  float *x = frand((size_t)(n * in), 5, -1, 1), *w = frand((size_t)(out * in), 6, -1, 1);
  float *b = frand((size_t)out, 7, -1, 1), *wr = fbuf((size_t)(out * in));
  uint16_t *h = round16(DIF__DTYPE_F16, w, (size_t)(out * in), wr);
  float *y = fbuf((size_t)(n * out));
  const dif__kctx bare = {NULL, NULL, NULL, NULL, 0, 0, false, 0, 0};
  dif__linear(&bare, x, n, in, (dif__weight){h, DIF__DTYPE_F16, out * in, false}, b, out, y);
  check_rounding_bound(y, x, wr, wr, b, n, in, out, "f16 without an arena");
  free(x), free(w), free(b), free(wr), free(h), free(y);
}

TEST(conv_exact) {
  kenv e;
  kenv_init(&e, 2);
  dif__conv2d_params p = {.cin = 5,
                          .cout = 6,
                          .kh = 3,
                          .kw = 3,
                          .stride = 1,
                          .pad_top = 1,
                          .pad_left = 1,
                          .pad_bottom = 1,
                          .pad_right = 1};
  const int64_t N = 2, H = 9, W = 7, nw = 6 * 5 * 9, ny = N * 6 * H * W;
  float *x = frand((size_t)(N * 5 * H * W), 8, -1, 1), *w = frand((size_t)nw, 9, -1, 1);
  float *b = frand(6, 10, -1, 1), *wr = fbuf((size_t)nw);
  float *y = fbuf((size_t)ny), *yr = fbuf((size_t)ny);
  dif__error err;
  dif__error_clear(&err);
  const dif__dtype dts[2] = {DIF__DTYPE_F16, DIF__DTYPE_BF16};
  for (int d = 0; d < 2; d++) {
    uint16_t *h = round16(dts[d], w, (size_t)nw, wr);
    CHECK_STATUS(dif__conv2d(&e.k, &p, x, N, H, W, (dif__weight){h, dts[d], nw, false}, b, y, &err),
                 DIF_OK, err.msg, "");
    CHECK(e.arena.used_total == 0);
    CHECK_STATUS(dif__conv2d(&e.k, &p, x, N, H, W, dif__weight_f32(wr, nw), b, yr, &err), DIF_OK,
                 err.msg, "");
    CHECK_SAME(y, yr, (size_t)ny);
    /* a weight of the wrong size is refused, naming both */
    CHECK_STATUS(
        dif__conv2d(&e.k, &p, x, N, H, W, (dif__weight){h, dts[d], nw - 1, false}, b, y, &err),
        DIF_ERR_INVALID_ARGUMENT, err.msg, "weight has 269 elements, expected 6 x 5 x 3 x 3");
    free(h);
  }
  free(x), free(w), free(b), free(wr), free(y), free(yr);
  kenv_free(&e);
}

TEST(conv_banded) {
  /* A 16-bit weight above 4M elements is widened per product in bands of
   * output channels (two here): float32 accuracy against the double
   * convolution of the widened values, scratch released. */
  kenv e;
  kenv_init(&e, 2);
  dif__conv2d_params p = {.cin = 520,
                          .cout = 1000,
                          .kh = 3,
                          .kw = 3,
                          .stride = 1,
                          .pad_top = 1,
                          .pad_left = 1,
                          .pad_bottom = 1,
                          .pad_right = 1};
  const int64_t H = 3, W = 3, K = 520 * 9, nw = 1000 * K, ny = 1000 * H * W;
  float *x = frand((size_t)(520 * H * W), 15, -1, 1), *w = frand((size_t)nw, 16, -1, 1);
  float *wr = fbuf((size_t)nw), *y = fbuf((size_t)ny);
  uint16_t *h = round16(DIF__DTYPE_BF16, w, (size_t)nw, wr);
  dif__error err;
  dif__error_clear(&err);
  CHECK_STATUS(dif__conv2d(&e.k, &p, x, 1, H, W, (dif__weight){h, DIF__DTYPE_BF16, nw, false}, NULL,
                           y, &err),
               DIF_OK, err.msg, "");
  CHECK(e.arena.used_total == 0 && dif__arena_peak(&e.arena) < ((size_t)20 << 20));
  double *r = dbuf((size_t)ny);
  for (int64_t o = 0; o < 1000; o++)
    for (int64_t oh = 0; oh < H; oh++)
      for (int64_t ow = 0; ow < W; ow++) {
        double acc = 0;
        for (int64_t c = 0; c < 520; c++)
          for (int64_t i = 0; i < 3; i++)
            for (int64_t j = 0; j < 3; j++) {
              const int64_t ih = oh + i - 1, iw = ow + j - 1;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              acc += (double)wr[o * K + c * 9 + i * 3 + j] * x[(c * H + ih) * W + iw];
            }
        r[(o * H + oh) * W + ow] = acc;
      }
  CHECK_NMSE(y, r, (size_t)ny, NMSE_MAX);
  free(x), free(w), free(wr), free(y), free(h), free(r);
  kenv_free(&e);
}

TEST(fast_linear_packs_the_typed_source) {
  if (!bf16_backend) {
    printf("  skipped: no bf16 backend here (the exact checks above still ran)\n");
    return;
  }
  kenv e;
  kenv_init(&e, 2);
  dif__error err;
  dif__error_clear(&err);
  const int64_t n = 13, in = 70, out = 33;
  float *x = frand((size_t)(n * in), 11, -1, 1), *w = frand((size_t)(out * in), 12, -1, 1);
  float *xt = fbuf((size_t)(n * in)), *y0 = frand((size_t)(n * out), 13, -1, 1);
  for (int64_t i = 0; i < n; i++)
    for (int64_t c = 0; c < in; c++) xt[c * n + i] = x[i * in + c];
  float *b = frand((size_t)out, 14, -1, 1), *wr = fbuf((size_t)(out * in));
  float *y = fbuf((size_t)(4 * n * out)), *yr = fbuf((size_t)(4 * n * out));
  const dif__dtype dts[2] = {DIF__DTYPE_F16, DIF__DTYPE_BF16};
  for (int d = 0; d < 2; d++) {
    uint16_t *h = round16(dts[d], w, (size_t)(out * in), wr);
    dif__fast *f = NULL;
    CHECK_STATUS(dif__fast_new(bf16_backend, &f, &err), DIF_OK, err.msg, "");
    e.k.fast = f;
    const dif__weight w16 = {h, dts[d], out * in, false};
    linear4(&e.k, x, xt, n, in, w16, b, out, y0, y);
    linear4(&e.k, x, xt, n, in, dif__weight_f32(wr, out * in), b, out, y0, yr);
    CHECK_MSG(memcmp(y, yr, (size_t)(4 * n * out) * sizeof *y) == 0,
              "fast, %s weight: not the widened float32 weight's bits", dif__dtype_name(dts[d]));
    const dif__packed *p = NULL;
    CHECK_STATUS(dif__fast_weight(f, &e.k, w16, out, in, n, &p, &err), DIF_OK, err.msg, "");
    CHECK(p && p->src == dts[d] && p->math == DIF__DTYPE_BF16);
    dif__fast_stats st;
    dif__fast_get_stats(f, &st);
    CHECK(st.weights == 2 && st.fallbacks == 0 && st.dropped == 0); /* not mapped: kept */
    e.k.fast = NULL;
    dif__fast_free(f);
    free(h);
  }
  free(x), free(w), free(xt), free(y0), free(b), free(wr), free(y), free(yr);
  kenv_free(&e);
}

TEST(dropping_mapped_pages) {
  /* A weight in a read-only private file mapping: dropping its pages keeps
   * its values (they come back from the file); pages it shares with its
   * neighbours are kept; memory of any other kind is never dropped. */
  const long ps = sysconf(_SC_PAGESIZE);
  const size_t size = (size_t)ps * 8;
  uint16_t *src = malloc(size);
  if (!src) abort();
  for (size_t i = 0; i < size / 2; i++) src[i] = (uint16_t)(i * 2654435761u >> 7);
  char path[] = "/tmp/dif-test-typed-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0 && write(fd, src, size) == (ssize_t)size);
  const uint16_t *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  CHECK(map != MAP_FAILED);
  if (map != MAP_FAILED) {
    /* from the middle of page 1 to the middle of page 6: pages 2..5 drop */
    const int64_t first = ps / 4, count = (int64_t)(ps / 2) * 5;
    const dif__weight w = {map + first, DIF__DTYPE_F16, count, true};
    CHECK(dif__weight_drop_pages(w) == (size_t)ps * 4);
    CHECK(memcmp(map, src, size) == 0);
    CHECK(dif__weight_drop_pages((dif__weight){src, DIF__DTYPE_F16, (int64_t)size / 2, false}) ==
          0);
    munmap((void *)(uintptr_t)map, size);
  }
  unlink(path);
  free(src);
}

/* ---- whole models from 16-bit folders ---- */

typedef enum mode { F16, BF16, R16, RB16 } mode; /* R*: float32 holding rounded values */
static const char *const mode_names[] = {"f16", "bf16", "f32-rounded-via-f16",
                                         "f32-rounded-via-bf16"};

static char tmp_root[64];

static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  CHECK(in && out);
  char buf[65536];
  size_t got;
  while (in && out && (got = fread(buf, 1, sizeof buf, in)) > 0)
    CHECK(fwrite(buf, 1, got, out) == got);
  if (in) fclose(in);
  if (out) fclose(out);
}

/* Writes st's tensors to path, float32 ones as m says, others as they are. */
static void write_converted(const dif__safetensors *st, const char *path, mode m) {
  size_t cap = 1 << 16, len = 0, nd = 0;
  char *head = malloc(cap);
  const size_t count = dif__st_count(st);
  uint64_t *ofs = calloc(count + 1, sizeof *ofs);
  if (!head || !ofs) abort();
  len += (size_t)snprintf(head, cap, "{");
  for (size_t i = 0; i < count; i++) {
    const dif__st_entry *e = dif__st_entry_at(st, i);
    const bool conv = e->dtype == DIF__ST_F32;
    const size_t bytes =
        (size_t)dif__st_numel(e) * (conv && m <= BF16 ? 2 : dif__st_dtype_size(e->dtype));
    const char *dt = !conv       ? dif__st_dtype_name(e->dtype)
                     : m == F16  ? "F16"
                     : m == BF16 ? "BF16"
                                 : "F32";
    while (cap - len < 512 + strlen(e->name)) head = realloc(head, cap *= 2);
    len += (size_t)snprintf(head + len, cap - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                            i ? "," : "", e->name, dt);
    for (int d = 0; d < e->ndim; d++)
      len +=
          (size_t)snprintf(head + len, cap - len, "%s%lld", d ? "," : "", (long long)e->shape[d]);
    len += (size_t)snprintf(head + len, cap - len, "],\"data_offsets\":[%llu,%llu]}",
                            (unsigned long long)nd, (unsigned long long)(nd + bytes));
    ofs[i] = nd;
    nd += bytes;
  }
  len += (size_t)snprintf(head + len, cap - len, "}");
  while (len % 8) head[len++] = ' ';
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (!f) return;
  uint8_t size8[8];
  for (int i = 0; i < 8; i++) size8[i] = (uint8_t)((uint64_t)len >> (8 * i));
  fwrite(size8, 1, 8, f), fwrite(head, 1, len, f);
  for (size_t i = 0; i < count; i++) {
    const dif__st_entry *e = dif__st_entry_at(st, i);
    const uint8_t *src = dif__st_data(st, e);
    const int64_t n = dif__st_numel(e);
    if (e->dtype != DIF__ST_F32) {
      fwrite(src, 1, (size_t)(e->end - e->begin), f);
      continue;
    }
    for (int64_t j = 0; j < n; j++) {
      float v;
      memcpy(&v, src + 4 * j, 4);
      const uint16_t h = m == F16 || m == R16 ? dif__f16_from_f32(v) : dif__bf16_from_f32(v);
      if (m <= BF16) {
        fwrite(&h, 2, 1, f);
      } else {
        const float r = m == R16 ? dif__f16_to_float(h) : dif__bf16_to_float(h);
        fwrite(&r, 4, 1, f);
      }
    }
  }
  fclose(f);
  free(head), free(ofs);
}

/* tests/golden/models/<rel> copied to <tmp_root>/<mode>/<rel> (config.json and
 * its weights file); returns the copy's folder. */
static const char *converted(const char *rel, mode m) {
  static char dir[512];
  char src[512], path[1100];
  snprintf(dir, sizeof dir, "%s/%s", tmp_root, mode_names[m]);
  mkdir(dir, 0700);
  for (char *s = strchr(strcpy(src, rel), '/'); s; s = strchr(s + 1, '/')) {
    *s = '\0';
    snprintf(path, sizeof path, "%s/%s", dir, src);
    mkdir(path, 0700);
    *s = '/';
  }
  snprintf(dir, sizeof dir, "%s/%s/%s", tmp_root, mode_names[m], rel);
  mkdir(dir, 0700);
  snprintf(src, sizeof src, "%s", dif__test_path("golden/models"));
  char from[700], to[700];
  snprintf(from, sizeof from, "%s/%s/config.json", src, rel);
  snprintf(to, sizeof to, "%s/config.json", dir);
  copy_file(from, to);
  snprintf(from, sizeof from, "%s/%s", src, rel);
  dif__safetensors *st = NULL;
  dif__error err;
  CHECK_STATUS(dif__component_weights(from, &st, &err), DIF_OK, err.msg, "");
  if (st) {
    const char *base = strrchr(dif__st_path(st), '/') + 1;
    snprintf(to, sizeof to, "%s/%s", dir, base);
    write_converted(st, to, m);
    dif__st_close(st);
  }
  return dir;
}

/* One forward pass of a model loaded from dir; the output in a malloc'd
 * array of *n floats (NULL on failure, with a CHECK failed). */
typedef float *(*run_fn)(const char *dir, const dif__kctx *k, int64_t *n);

static float *run_unet(const char *dir, const dif__kctx *k, int64_t *n) {
  dif__unet u;
  dif__error err;
  dif__error_clear(&err);
  if (dif__unet_load(dir, &u, &err) != DIF_OK) {
    CHECK_MSG(0, "%s", err.msg);
    return NULL;
  }
  enum { B = 2, H = 8, W = 6, S = 5 };
  float *x = frand((size_t)(B * u.in_ch * H * W), 21, -1, 1);
  float *ctx = frand((size_t)(B * S * u.ctx_dim), 22, -1, 1), ts[B] = {421, 17};
  *n = B * u.out_ch * H * W;
  float *out = fbuf((size_t)*n);
  dif__unet_input in = {.sample = x,
                        .B = B,
                        .H = H,
                        .W = W,
                        .timesteps = ts,
                        .n_timesteps = B,
                        .context = ctx,
                        .S = S};
  CHECK_STATUS(dif__unet_forward(&u, k, &in, out, &err), DIF_OK, err.msg, "");
  dif__unet_free(&u);
  free(x), free(ctx);
  return out;
}

static float *run_vae(const char *dir, const dif__kctx *k, int64_t *n) {
  dif__vae v;
  dif__error err;
  dif__error_clear(&err);
  if (dif__vae_load(dir, &v, &err) != DIF_OK) {
    CHECK_MSG(0, "%s", err.msg);
    return NULL;
  }
  const int64_t h = 4, w = 5, f = dif__vae_scale(&v);
  float *lat = frand((size_t)(v.latent_ch * h * w), 23, -1, 1);
  *n = v.out_ch * h * f * w * f;
  float *out = fbuf((size_t)*n);
  CHECK_STATUS(dif__vae_decode(&v, k, lat, 1, h, w, out, NULL, NULL, &err), DIF_OK, err.msg, "");
  dif__vae_free(&v);
  free(lat);
  return out;
}

static float *run_clip_text(const char *dir, const dif__kctx *k, int64_t *n) {
  dif__clip_text m;
  dif__error err;
  dif__error_clear(&err);
  if (dif__clip_text_load(dir, &m, &err) != DIF_OK) {
    CHECK_MSG(0, "%s", err.msg);
    return NULL;
  }
  enum { T = 7 };
  int32_t ids[T];
  uint64_t seed = 24;
  for (int t = 0; t < T; t++) ids[t] = (int32_t)(dif__test_rand_u64(&seed) % (uint64_t)m.vocab);
  *n = T * m.enc.hidden;
  float *out = fbuf((size_t)*n);
  dif__clip_text_out o = {.last_hidden = out};
  CHECK_STATUS(dif__clip_text_forward(&m, k, ids, 1, T, NULL, 0, &o, &err), DIF_OK, err.msg, "");
  dif__clip_text_free(&m);
  return out;
}

static float *run_prior(const char *dir, const dif__kctx *k, int64_t *n) {
  dif__prior p;
  dif__error err;
  dif__error_clear(&err);
  if (dif__prior_load(dir, &p, &err) != DIF_OK) {
    CHECK_MSG(0, "%s", err.msg);
    return NULL;
  }
  const int64_t E = p.embed_dim, N = p.n_embeddings;
  float *hid = frand((size_t)E, 25, -1, 1), *proj = frand((size_t)E, 26, -1, 1), t = 3;
  float *enc = frand((size_t)(N * E), 27, -1, 1);
  int32_t *mask = malloc((size_t)N * sizeof *mask);
  if (!mask) abort();
  for (int64_t i = 0; i < N; i++) mask[i] = i < N - 2;
  *n = E;
  float *out = fbuf((size_t)E);
  dif__prior_input in = {.hidden_states = hid,
                         .timesteps = &t,
                         .n_timesteps = 1,
                         .proj_embedding = proj,
                         .encoder_hidden = enc,
                         .attention_mask = mask,
                         .B = 1};
  CHECK_STATUS(dif__prior_forward(&p, k, &in, out, &err), DIF_OK, err.msg, "");
  dif__prior_free(&p);
  free(hid), free(proj), free(enc), free(mask);
  return out;
}

/* Runs dir on a fresh kctx, fast (a new dif__fast: its cache keys on this
 * load's addresses) or exact. */
static float *run_on(run_fn fn, const char *dir, bool fast, int64_t *n) {
  kenv e;
  kenv_init(&e, 2);
  dif__fast *f = NULL;
  dif__error err;
  dif__error_clear(&err);
  if (fast) CHECK_STATUS(dif__fast_new(bf16_backend, &f, &err), DIF_OK, err.msg, "");
  e.k.fast = f;
  float *out = fn(dir, &e.k, n);
  if (f) {
    dif__fast_stats st;
    dif__fast_get_stats(f, &st);
    CHECK_MSG(st.fallbacks == 0, "%lld fast products fell back: %s", (long long)st.fallbacks,
              st.first_fallback);
  }
  dif__fast_free(f);
  kenv_free(&e);
  return out;
}

static double rel_l2(const float *a, const float *b, int64_t n) {
  double d = 0, r = 0;
  for (int64_t i = 0; i < n; i++)
    d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), r += (double)b[i] * b[i];
  return r > 0 ? sqrt(d / r) : sqrt(d);
}

static void check_model(const char *rel, run_fn fn) {
  char orig[512];
  snprintf(orig, sizeof orig, "%s", dif__test_path("golden/models"));
  strcat(orig, "/"), strcat(orig, rel);
  for (int fast = 0; fast < 2; fast++) {
    if (fast && !bf16_backend) {
      printf("  %s fast: skipped (no bf16 backend here)\n", rel);
      continue;
    }
    int64_t n = 0, nn = 0;
    float *ref = run_on(fn, orig, fast, &n);
    for (mode m = F16; m <= BF16; m++) {
      float *y16 = run_on(fn, converted(rel, m), fast, &nn);
      float *yr = run_on(fn, converted(rel, m == F16 ? R16 : RB16), fast, &nn);
      if (ref && y16 && yr && nn == n) {
        CHECK_MSG(memcmp(y16, yr, (size_t)n * sizeof *y16) == 0,
                  "%s %s %s: not the bits of the float32 copy with the same values", rel,
                  fast ? "fast" : "exact", mode_names[m]);
        const double d = rel_l2(y16, ref, n);
        printf("  %-28s %-5s %-4s: bits of the rounded float32 copy; relative L2 to the float32 "
               "model %.3g\n",
               rel, fast ? "fast" : "exact", mode_names[m], d);
        CHECK(d > 0); /* the weights were rounded: something must differ */
      } else {
        CHECK_MSG(0, "%s: a run failed", rel);
      }
      free(y16), free(yr);
    }
    free(ref);
  }
}

TEST(models_from_16_bit_folders) {
  check_model("tiny-sd/unet", run_unet);
  check_model("tiny-sd/vae", run_vae);
  check_model("tiny-sd/text_encoder", run_clip_text);
  check_model("tiny-karlo-prior/prior", run_prior);
}

static size_t heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

TEST(f16_load_allocates_no_f32_copy) {
  dif__error err;
  dif__error_clear(&err);
  dif__unet u32, u16;
  size_t h0 = heap_in_use();
  CHECK_STATUS(dif__unet_load(dif__test_path("golden/models/tiny-sd/unet"), &u32, &err), DIF_OK,
               err.msg, "");
  const size_t grow32 = heap_in_use() - h0;
  const char *dir = converted("tiny-sd/unet", F16);
  h0 = heap_in_use();
  CHECK_STATUS(dif__unet_load(dir, &u16, &err), DIF_OK, err.msg, "");
  const size_t grow16 = heap_in_use() - h0;
  /* what the F16 file may cost on top: the float32 form of its 1-D tensors
   * (and an allocation's overhead each); its matrices' float32 form would
   * be far more */
  size_t vec = 0, mat = 0, nvec = 0;
  for (size_t i = 0; i < dif__st_count(u16.weights); i++) {
    const dif__st_entry *e = dif__st_entry_at(u16.weights, i);
    if (e->ndim <= 1)
      vec += 4 * (size_t)dif__st_numel(e), nvec++;
    else
      mat += 4 * (size_t)dif__st_numel(e);
  }
  printf("  load heap: F32 file %zu bytes, F16 file %zu bytes; float32 form of the 1-D tensors "
         "%zu, of the matrices %zu\n",
         grow32, grow16, vec, mat);
  CHECK(grow16 <= grow32 + vec + 64 * nvec);
  CHECK(vec + 64 * nvec < mat / 10);
  /* the matrices point into the file mapping, in F16 */
  const dif__weight ws[3] = {u16.conv_in_w, u16.time_w1, u16.down[0].res[0].conv1_w};
  for (int i = 0; i < 3; i++) CHECK(ws[i].dtype == DIF__DTYPE_F16 && ws[i].mapped);
  const dif__st_entry *e = dif__st_find(u16.weights, "conv_in.weight");
  CHECK(e && u16.conv_in_w.data == dif__st_data(u16.weights, e));
  dif__unet_free(&u32);
  dif__unet_free(&u16);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

int main(void) {
  for (int i = 0; i < dif__backend_count() && !bf16_backend; i++) {
    const dif__backend *b = dif__backend_row_at(i)->backend;
    char why[256];
    if (b && b->supports(DIF__DTYPE_BF16, why, sizeof why)) bf16_backend = b;
  }
  printf("fast path: %s\n", bf16_backend ? bf16_backend->name : "no bf16 backend here: skipped");
  snprintf(tmp_root, sizeof tmp_root, "/tmp/dif-test-typed-XXXXXX");
  if (!mkdtemp(tmp_root)) {
    perror("mkdtemp");
    return 1;
  }
  RUN(f16_rounding);
  RUN(weights_round_to_bf16);
  RUN(linear_exact);
  RUN(linear_without_arena);
  RUN(conv_exact);
  RUN(conv_banded);
  RUN(fast_linear_packs_the_typed_source);
  RUN(dropping_mapped_pages);
  RUN(models_from_16_bit_folders);
  RUN(f16_load_allocates_no_f32_copy);
  nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return dif__test_finish();
}
