/* conv2d.c — 2-D convolution as im2col + one GEMM per band of output rows.
 *
 * Weights [cout, cin, kh, kw] are already the [cout, K] matrix (K = cin·kh·kw)
 * that multiplies the im2col matrix [K, rows·OW]. The im2col matrix for a
 * whole large image is huge (128 ch × 9 × 768² floats = 2.7 GB for a VAE
 * decode), so the output is produced in bands of rows whose im2col scratch
 * stays under a bound; each band's GEMM writes straight into y with
 * ldc = OH·OW. A 1×1, stride-1, unpadded convolution needs no im2col at all:
 * x[cin, HW] is already the right-hand matrix.
 */
#include <string.h>

#include "core/ops.h"
#include "core/ops_internal.h"

int64_t dif_conv2d_out(int64_t in, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi) {
  int64_t span = in + pad_lo + pad_hi - k;
  if (stride < 1 || k < 1 || span < 0) return 0;
  return span / stride + 1;
}

/* Floor division for a possibly negative numerator and positive d. */
static int64_t floor_div(int64_t a, int64_t d) { return a >= 0 ? a / d : -((-a + d - 1) / d); }

typedef struct im2col_job {
  const float *x; /* the first image [cin, H, W] */
  float *col;     /* [K, ldcol]: image i's band at columns [i·nrows·OW, (i+1)·nrows·OW) */
  int64_t H, W, OW, kh, kw, stride, pad_top, pad_left;
  int64_t oh0, nrows;         /* the band's first output row and row count */
  int64_t K, images, x_image; /* K = cin·kh·kw; images side by side, floats apart in x */
  int64_t ldcol;
} im2col_job;

/* Item i is (image, kernel row kidx, output row r): one contiguous run of
 * OW column entries, so the inner copy is a memcpy for stride 1. */
static void im2col_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const im2col_job *j = arg;
  const int64_t ncols = j->nrows * j->OW, OW = j->OW, s = j->stride;
  for (int64_t item = begin; item < end; item++) {
    const int64_t img = item / (j->K * j->nrows), rest = item % (j->K * j->nrows);
    const int64_t kidx = rest / j->nrows, r = rest % j->nrows;
    const int64_t kj = kidx % j->kw, ki = (kidx / j->kw) % j->kh, c = kidx / (j->kw * j->kh);
    float *restrict dst = j->col + kidx * j->ldcol + img * ncols + r * OW;
    const float *x = j->x + img * j->x_image;
    const int64_t ih = (j->oh0 + r) * s - j->pad_top + ki;
    if (ih < 0 || ih >= j->H) {
      memset(dst, 0, (size_t)OW * sizeof *dst);
      continue;
    }
    /* Output columns ow whose input column iw = ow·s - pad_left + kj lies
     * inside [0, W) form the range [lo, hi); the rest read padding. */
    const int64_t off = kj - j->pad_left;
    int64_t lo = off >= 0 ? 0 : floor_div(-off + s - 1, s);
    int64_t hi = floor_div(j->W - 1 - off, s) + 1;
    if (hi > OW) hi = OW;
    if (lo > OW) lo = OW;
    if (hi < lo) hi = lo;
    if (lo > 0) memset(dst, 0, (size_t)lo * sizeof *dst);
    if (hi > lo) {
      const float *restrict src = x + (c * j->H + ih) * j->W + lo * s + off;
      if (s == 1) {
        memcpy(dst + lo, src, (size_t)(hi - lo) * sizeof *dst);
      } else {
        for (int64_t ow = lo; ow < hi; ow++) dst[ow] = src[(ow - lo) * s];
      }
    }
    if (hi < OW) memset(dst + hi, 0, (size_t)(OW - hi) * sizeof *dst);
  }
}

static dif_status check_params(const dif_kctx *k, const dif_conv2d_params *p, const float *x,
                               int64_t N, int64_t H, int64_t W, const float *w, const float *y,
                               dif_error *err) {
  if (!k || !k->arena || !p || !x || !w || !y)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "conv2d: NULL argument");
  if (p->cin < 1 || p->cout < 1 || p->kh < 1 || p->kw < 1 || p->stride < 1 || p->pad_top < 0 ||
      p->pad_left < 0 || p->pad_bottom < 0 || p->pad_right < 0 || N < 0 || H < 1 || W < 1)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "conv2d: bad shape (cin %lld, cout %lld, kernel %lldx%lld, stride %lld, "
                    "padding %lld,%lld,%lld,%lld, input %lldx%lldx%lld)",
                    (long long)p->cin, (long long)p->cout, (long long)p->kh, (long long)p->kw,
                    (long long)p->stride, (long long)p->pad_top, (long long)p->pad_left,
                    (long long)p->pad_bottom, (long long)p->pad_right, (long long)N, (long long)H,
                    (long long)W);
  /* GEMM dimensions must fit OpenBLAS's int. Bounding every input by it
   * first means no sum or pairwise product below can overflow int64. */
  const int64_t lim = DIF_GEMM_DIM_MAX;
  if (p->cin > lim || p->cout > lim || p->kh > lim || p->kw > lim || p->stride > lim ||
      p->pad_top > lim || p->pad_left > lim || p->pad_bottom > lim || p->pad_right > lim ||
      H > lim || W > lim || H * W > lim || p->kh * p->kw > lim / p->cin)
    return dif_fail(err, DIF_ERR_LIMIT, "conv2d: dimensions exceed the BLAS limit of %d",
                    DIF_GEMM_DIM_MAX);
  const int64_t OH = dif_conv2d_out(H, p->kh, p->stride, p->pad_top, p->pad_bottom);
  const int64_t OW = dif_conv2d_out(W, p->kw, p->stride, p->pad_left, p->pad_right);
  if (OH < 1 || OW < 1)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "conv2d: %lldx%lld kernel does not fit the padded %lldx%lld input",
                    (long long)p->kh, (long long)p->kw, (long long)H, (long long)W);
  if (OH * OW > lim)
    return dif_fail(err, DIF_ERR_LIMIT, "conv2d: output of %lldx%lld exceeds the BLAS limit",
                    (long long)OH, (long long)OW);
  return DIF_OK;
}

/* Images are batched into one GEMM while one image's output has fewer
 * pixels than this: the UNet's low-resolution levels (8² to 48²) would
 * otherwise run products with a few hundred columns, far below BLAS's
 * efficient sizes. */
#define CONV_BATCH_COLS 4096

typedef struct scatter_job {
  const float *tmp; /* [cout, g·OHW] */
  float *y;         /* the group's first image [cout, OHW] */
  const float *b;
  int64_t cout, OHW, g;
  bool acc;
} scatter_job;

/* Item (image i, channel c): y[i, c, :] (+)= tmp[c, i·OHW + :] + b[c]. */
static void scatter_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const scatter_job *j = arg;
  for (int64_t item = begin; item < end; item++) {
    const int64_t i = item / j->cout, c = item % j->cout;
    const float *restrict t = j->tmp + (c * j->g + i) * j->OHW;
    float *restrict y = j->y + (i * j->cout + c) * j->OHW;
    const float bc = j->b ? j->b[c] : 0.0f;
    if (j->acc)
      for (int64_t p = 0; p < j->OHW; p++) y[p] += t[p] + bc;
    else
      for (int64_t p = 0; p < j->OHW; p++) y[p] = t[p] + bc;
  }
}

/* Several whole images per GEMM: im2col side by side, one product into a
 * [cout, g·OHW] scratch, then one pass that scatters it to the images and
 * adds the bias (and the residual already in y). */
static dif_status conv_grouped(const dif_kctx *k, const dif_conv2d_params *p, const float *x,
                               int64_t N, int64_t H, int64_t W, int64_t OH, int64_t OW,
                               const float *w, const float *b, float *y, int64_t group,
                               dif_error *err) {
  const int64_t K = p->cin * p->kh * p->kw, OHW = OH * OW;
  dif_arena_mark mark = dif_arena_get_mark(k->arena);
  float *col = dif_arena_floats(k->arena, (size_t)(K * group * OHW), err);
  float *tmp = dif_arena_floats(k->arena, (size_t)(p->cout * group * OHW), err);
  if (!col || !tmp) {
    dif_arena_release(k->arena, mark);
    dif_error_prefix(err, "conv2d im2col");
    return DIF_ERR_OUT_OF_MEMORY;
  }
  const int64_t grain = OW >= 4096 ? 1 : 4096 / OW;
  for (int64_t n0 = 0; n0 < N; n0 += group) {
    const int64_t g = N - n0 < group ? N - n0 : group;
    im2col_job j = {x + n0 * p->cin * H * W,
                    col,
                    H,
                    W,
                    OW,
                    p->kh,
                    p->kw,
                    p->stride,
                    p->pad_top,
                    p->pad_left,
                    0,
                    OH,
                    K,
                    g,
                    p->cin * H * W,
                    g * OHW};
    double t0 = DIF_PROF_START();
    dif_pool_for(k->pool, g * K * OH, grain, im2col_task, &j);
    DIF_PROF_END(DIF_PROF_CONV_PACK, t0, 0);
    dif_gemm_op(DIF_PROF_CONV_GEMM, false, false, p->cout, g * OHW, K, 1.0f, w, K, col, g * OHW,
                0.0f, tmp, g * OHW);
    scatter_job sj = {tmp, y + n0 * p->cout * OHW, b, p->cout, OHW, g, p->accumulate};
    t0 = DIF_PROF_START();
    dif_pool_for(k->pool, g * p->cout, OHW >= 4096 ? 1 : 4096 / OHW, scatter_task, &sj);
    DIF_PROF_END(DIF_PROF_ELEMENTWISE, t0, 0);
  }
  dif_arena_release(k->arena, mark);
  return DIF_OK;
}

/* Preloads the bias into one image's output (or adds it to the residual
 * there) for the beta = 1 products. */
static void bias_rows(const dif_kctx *k, const dif_conv2d_params *p, float *yn, int64_t OHW,
                      const float *b) {
  if (!b) return;
  if (p->accumulate)
    dif_add_rows(k->pool, yn, p->cout, OHW, OHW, b);
  else
    dif_fill_rows(k->pool, yn, p->cout, OHW, OHW, b);
}

dif_status dif_conv2d_bounded(const dif_kctx *k, const dif_conv2d_params *p, const float *x,
                              int64_t N, int64_t H, int64_t W, const float *w, const float *b,
                              float *y, size_t max_scratch, dif_error *err) {
  dif_status st = check_params(k, p, x, N, H, W, w, y, err);
  if (st != DIF_OK) return st;
  const int64_t OH = dif_conv2d_out(H, p->kh, p->stride, p->pad_top, p->pad_bottom);
  const int64_t OW = dif_conv2d_out(W, p->kw, p->stride, p->pad_left, p->pad_right);
  const int64_t K = p->cin * p->kh * p->kw, HW = H * W, OHW = OH * OW;
  const float beta = b || p->accumulate ? 1.0f : 0.0f;

  const bool direct = p->kh == 1 && p->kw == 1 && p->stride == 1 && p->pad_top == 0 &&
                      p->pad_left == 0 && p->pad_bottom == 0 && p->pad_right == 0;
  dif_prof_record_shape(DIF_PROF_CONV_GEMM, false, false, p->cout, OHW, K, N);
  int64_t group = 1;
  if (N > 1 && OHW < CONV_BATCH_COLS) {
    group = (CONV_BATCH_COLS + OHW - 1) / OHW;
    if (group > N) group = N;
    while (group > 1 && (size_t)(K * group * OHW) > max_scratch / sizeof(float)) group--;
  }
  if (group > 1) return conv_grouped(k, p, x, N, H, W, OH, OW, w, b, y, group, err);
  if (direct) {
    for (int64_t n = 0; n < N; n++) {
      float *yn = y + n * p->cout * OHW;
      bias_rows(k, p, yn, OHW, b);
      dif_gemm_op(DIF_PROF_CONV_GEMM, false, false, p->cout, HW, p->cin, 1.0f, w, p->cin,
                  x + n * p->cin * HW, HW, beta, yn, OHW);
    }
    return DIF_OK;
  }

  /* Rows per band: as many as fit in max_scratch, at least one. Counted in
   * floats: K · OW < 2^62 cannot overflow, its size in bytes might. */
  const size_t row_floats = (size_t)K * (size_t)OW;
  int64_t band = (int64_t)(max_scratch / sizeof(float) / row_floats);
  if (band < 1) band = 1;
  if (band > OH) band = OH;

  dif_arena_mark mark = dif_arena_get_mark(k->arena);
  float *col = dif_arena_floats(k->arena, row_floats * (size_t)band, err);
  if (!col) {
    dif_error_prefix(err, "conv2d im2col");
    return DIF_ERR_OUT_OF_MEMORY;
  }
  /* Enough (kernel row, output row) items per chunk to copy ~4k floats. */
  const int64_t grain = OW >= 4096 ? 1 : 4096 / OW;
  for (int64_t n = 0; n < N; n++) {
    const float *xn = x + n * p->cin * HW;
    float *yn = y + n * p->cout * OHW;
    bias_rows(k, p, yn, OHW, b);
    for (int64_t oh0 = 0; oh0 < OH; oh0 += band) {
      const int64_t nrows = OH - oh0 < band ? OH - oh0 : band;
      im2col_job j = {xn,         col,         H,   W,     OW, p->kh, p->kw,       p->stride,
                      p->pad_top, p->pad_left, oh0, nrows, K,  1,     p->cin * HW, nrows * OW};
      const double t0 = DIF_PROF_START();
      dif_pool_for(k->pool, K * nrows, grain, im2col_task, &j);
      DIF_PROF_END(DIF_PROF_CONV_PACK, t0, 0);
      dif_gemm_op(DIF_PROF_CONV_GEMM, false, false, p->cout, nrows * OW, K, 1.0f, w, K, col,
                  nrows * OW, beta, yn + oh0 * OW, OHW);
    }
  }
  dif_arena_release(k->arena, mark);
  return DIF_OK;
}

dif_status dif_conv2d(const dif_kctx *k, const dif_conv2d_params *p, const float *x, int64_t N,
                      int64_t H, int64_t W, const float *w, const float *b, float *y,
                      dif_error *err) {
  return dif_conv2d_bounded(k, p, x, N, H, W, w, b, y, DIF_CONV2D_SCRATCH_MAX, err);
}
