/* conv2d.c — 2-D convolution as im2col + one GEMM per band of output rows.
 *
 * Weights [cout, cin, kh, kw] are already the [cout, K] matrix (K = cin·kh·kw)
 * that multiplies the im2col matrix [K, rows·OW]. The im2col matrix for a
 * whole large image is huge (128 ch × 9 × 768² floats = 2.7 GB for a VAE
 * decode), so the output is produced in bands of rows whose im2col scratch
 * stays under a bound; each band's GEMM writes straight into y with
 * ldc = OH·OW. A 1×1, stride-1, unpadded convolution needs no im2col at all:
 * x[cin, HW] is already the right-hand matrix.
 *
 * Small images (fewer than CONV_BATCH_COLS output pixels) are batched:
 * several images side by side in one im2col matrix and one GEMM, whose
 * [cout, g·OHW] result is scattered back.
 *
 * Each product is dif__kgemm: float32 through OpenBLAS on the exact path, bf16
 * through the fast path's backend (the weight rounded per call) otherwise.
 * An F16/BF16 weight (core/weight.h) is widened to float32 into arena
 * scratch released at the end of the call: whole, once per call, when it
 * has at most 4M elements (16 MiB in float32; all but the largest UNet
 * convolutions), else per product in bands of output channels of that
 * size; an F32 one is used in place.
 *
 * An input transform (nearest resize, GroupNorm affine, SiLU) is applied
 * while the input is read: per band, the input rows the band needs are
 * transformed into a small buffer, and im2col reads that. So a ResnetBlock
 * needs no normalised copy of its input, and an upsampler no resized one.
 */
#include <string.h>

#include "core/kern_simd.h"
#include "core/ops.h"
#include "core/ops_internal.h"

int64_t dif__conv2d_out(int64_t in, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi) {
  int64_t span = in + pad_lo + pad_hi - k;
  if (stride < 1 || k < 1 || span < 0) return 0;
  return span / stride + 1;
}

/* Floor division for a possibly negative numerator and positive d. */
static int64_t floor_div(int64_t a, int64_t d) { return a >= 0 ? a / d : -((-a + d - 1) / d); }

typedef struct im2col_job {
  const float *x; /* the first image; channel c, row ih at x + c·x_chan + (ih - row0)·W */
  float *col;     /* [K, ldcol]: image i's band at columns [i·nrows·OW, (i+1)·nrows·OW) */
  int64_t H, W, OW, kh, kw, stride, pad_top, pad_left;
  int64_t oh0, nrows;         /* the band's first output row and row count */
  int64_t K, images, x_image; /* K = cin·kh·kw; images side by side, floats apart in x */
  int64_t ldcol;
  int64_t x_chan, row0; /* x holds input rows [row0, row0 + x_chan / W) of each channel */
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
      const float *restrict src = x + c * j->x_chan + (ih - j->row0) * j->W + lo * s + off;
      if (s == 1) {
        memcpy(dst + lo, src, (size_t)(hi - lo) * sizeof *dst);
      } else {
        for (int64_t ow = lo; ow < hi; ow++) dst[ow] = src[(ow - lo) * s];
      }
    }
    if (hi < OW) memset(dst + hi, 0, (size_t)(OW - hi) * sizeof *dst);
  }
}

/* ---- the input transform ---- */

typedef struct xform_job {
  const dif__conv2d_params *p;
  const float *x; /* the first image [cin, H, W] */
  float *out;     /* [images][cin][rows][Win] */
  int64_t H, W, Hin, Win, row0, rows, n0;
} xform_job;

/* Item (image, channel, row): input row row0 + r of channel c, transformed. */
static void xform_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const xform_job *j = arg;
  const dif__conv2d_params *p = j->p;
  for (int64_t item = begin; item < end; item++) {
    const int64_t r = item % j->rows, c = (item / j->rows) % p->cin,
                  img = item / (j->rows * p->cin);
    const int64_t ir = j->row0 + r, sr = j->Hin != j->H ? dif__nearest_idx(ir, j->H, j->Hin) : ir;
    const float *src = j->x + ((img * p->cin + c) * j->H + sr) * j->W;
    float *dst = j->out + ((img * p->cin + c) * j->rows + r) * j->Win;
    if (j->Win != j->W) {
      if (j->Win == 2 * j->W) {
        for (int64_t i = 0; i < j->W; i++) dst[2 * i] = dst[2 * i + 1] = src[i];
      } else {
        for (int64_t i = 0; i < j->Win; i++) dst[i] = src[dif__nearest_idx(i, j->W, j->Win)];
      }
      src = dst;
    }
    if (p->in_norm) {
      const dif__norm_affine *a = &p->in_norm[(j->n0 + img) * p->cin + c];
      dif__k_affine_span(src, dst, j->Win, a->hi, a->lo, a->a, a->c, p->in_silu);
    } else if (p->in_silu) {
      dif__k_act_span(DIF__ACT_SILU, src, dst, j->Win);
    } else if (src != dst) {
      memcpy(dst, src, (size_t)j->Win * sizeof *dst);
    }
  }
}

void dif__conv2d_xform_span(const dif__conv2d_params *p, const float *x,
                            const dif__norm_affine *norm, int64_t c, int64_t H, int64_t W,
                            int64_t Hin, int64_t Win, int64_t ir, int64_t w0, int64_t n, float *t) {
  const float *src = x + (c * H + dif__nearest_idx(ir, H, Hin)) * W;
  if (Win != W) {
    for (int64_t i = 0; i < n; i++) t[i] = src[dif__nearest_idx(w0 + i, W, Win)];
  } else {
    memcpy(t, src + w0, (size_t)n * sizeof *t);
  }
  if (norm) {
    const dif__norm_affine *a = &norm[c];
    dif__k_affine_span(t, t, n, a->hi, a->lo, a->a, a->c, p->in_silu);
  } else if (p->in_silu) {
    dif__k_act_span(DIF__ACT_SILU, t, t, n);
  }
}

/* Transforms input rows [row0, row0 + rows) of images [n0, n0 + g) into out. */
void dif__conv2d_xform_rows(const dif__kctx *k, const dif__conv2d_params *p, const float *x,
                            int64_t n0, int64_t g, int64_t H, int64_t W, int64_t Hin, int64_t Win,
                            int64_t row0, int64_t rows, float *out) {
  xform_job j = {p, x + n0 * p->cin * H * W, out, H, W, Hin, Win, row0, rows, n0};
  const double t0 = DIF__PROF_START();
  dif__pool_for(k->pool, g * p->cin * rows, Win >= 4096 ? 1 : 4096 / Win, xform_task, &j);
  DIF__PROF_END(DIF__PROF_CONV_PACK, t0, 0);
}

static dif_status check_params(const dif__kctx *k, const dif__conv2d_params *p, const float *x,
                               int64_t N, int64_t H, int64_t W, const void *w, const float *y,
                               dif__error *err) {
  if (!k || !k->arena || !p || !x || !w || !y)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "conv2d: NULL argument");
  if (p->cin < 1 || p->cout < 1 || p->kh < 1 || p->kw < 1 || p->stride < 1 || p->pad_top < 0 ||
      p->pad_left < 0 || p->pad_bottom < 0 || p->pad_right < 0 || N < 0 || H < 1 || W < 1 ||
      p->in_h < 0 || p->in_w < 0 || (p->in_h > 0) != (p->in_w > 0))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "conv2d: bad shape (cin %lld, cout %lld, kernel %lldx%lld, stride %lld, "
                     "padding %lld,%lld,%lld,%lld, input %lldx%lldx%lld, resized to %lldx%lld)",
                     (long long)p->cin, (long long)p->cout, (long long)p->kh, (long long)p->kw,
                     (long long)p->stride, (long long)p->pad_top, (long long)p->pad_left,
                     (long long)p->pad_bottom, (long long)p->pad_right, (long long)N, (long long)H,
                     (long long)W, (long long)p->in_h, (long long)p->in_w);
  /* GEMM dimensions must fit OpenBLAS's int. Bounding every input by it
   * first means no sum or pairwise product below can overflow int64. */
  const int64_t lim = DIF__GEMM_DIM_MAX;
  const int64_t Hin = p->in_h ? p->in_h : H, Win = p->in_w ? p->in_w : W;
  if (p->cin > lim || p->cout > lim || p->kh > lim || p->kw > lim || p->stride > lim ||
      p->pad_top > lim || p->pad_left > lim || p->pad_bottom > lim || p->pad_right > lim ||
      H > lim || W > lim || H * W > lim || Hin > lim || Win > lim || Hin * Win > lim ||
      p->kh * p->kw > lim / p->cin)
    return dif__fail(err, DIF_ERR_LIMIT, "conv2d: dimensions exceed the BLAS limit of %d",
                     DIF__GEMM_DIM_MAX);
  const int64_t OH = dif__conv2d_out(Hin, p->kh, p->stride, p->pad_top, p->pad_bottom);
  const int64_t OW = dif__conv2d_out(Win, p->kw, p->stride, p->pad_left, p->pad_right);
  if (OH < 1 || OW < 1)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "conv2d: %lldx%lld kernel does not fit the padded %lldx%lld input",
                     (long long)p->kh, (long long)p->kw, (long long)Hin, (long long)Win);
  if (OH * OW > lim)
    return dif__fail(err, DIF_ERR_LIMIT, "conv2d: output of %lldx%lld exceeds the BLAS limit",
                     (long long)OH, (long long)OW);
  const bool direct = p->kh == 1 && p->kw == 1 && p->stride == 1 && p->pad_top == 0 &&
                      p->pad_left == 0 && p->pad_bottom == 0 && p->pad_right == 0;
  const bool xform = p->in_h || p->in_norm || p->in_silu;
  const char *xb = (const char *)x, *yb = (const char *)y;
  const size_t xs = (size_t)(N * p->cin * H * W) * sizeof(float),
               ys = (size_t)(N * p->cout * OH * OW) * sizeof(float);
  if (N > 0 && xb < yb + ys && yb < xb + xs && !(x == y && direct && !xform && p->cout <= p->cin))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "conv2d: output overlaps the input (only a 1x1 convolution with cout <= cin "
                     "may run in place)");
  return DIF_OK;
}

/* The weight W[cout, K] as the products read it: float32 (an F32 weight in
 * place, or a 16-bit one small enough to be widened whole, once per call),
 * or a 16-bit one widened band by band of output channels into buf for
 * each product, so scratch stays bounded (CONV_WEIGHT_BAND_FLOATS) whatever
 * the weight's size. */
typedef struct conv_w {
  const float *f32; /* the whole weight in float32, or NULL: banded */
  dif__weight w;
  float *buf;   /* [rows, K] */
  int64_t rows; /* output channels per band */
} conv_w;

#define CONV_WEIGHT_BAND_FLOATS ((int64_t)4 << 20) /* 16 MiB */

/* C[cout, n] = W · B[K, n] + beta·C (row-major, leading dimensions ldb,
 * ldc): one dif__kgemm for a float32 weight — the call the convolution
 * always made —, else one per band of output channels, each widened
 * first. */
static dif_status w_gemm(const dif__kctx *k, const conv_w *cw, int64_t cout, int64_t n, int64_t K,
                         const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                         dif__error *err) {
  if (cw->f32)
    return dif__kgemm(k, DIF__PROF_CONV_GEMM, false, false, cout, n, K, 1.0f, cw->f32, K, B, ldb,
                      beta, C, ldc, err);
  dif_status st = DIF_OK;
  for (int64_t r0 = 0; r0 < cout && !st; r0 += cw->rows) {
    const int64_t rows = cout - r0 < cw->rows ? cout - r0 : cw->rows;
    const double t0 = DIF__PROF_START();
    dif__weight_tile_f32(k->pool, cw->w, K, r0, rows, 0, K, cw->buf);
    DIF__PROF_END(DIF__PROF_WEIGHT_CONVERT, t0, 0);
    st = dif__kgemm(k, DIF__PROF_CONV_GEMM, false, false, rows, n, K, 1.0f, cw->buf, K, B, ldb,
                    beta, C + r0 * ldc, ldc, err);
  }
  return st;
}

/* Images are batched into one GEMM while one image's output has fewer
 * pixels than this: the UNet's low-resolution levels (8² to 48²) would
 * otherwise run products with a few hundred columns, far below BLAS's
 * efficient sizes. */
#define CONV_BATCH_COLS 4096

typedef struct scatter_job {
  const float *tmp; /* [cout, g·OHW] */
  float *y;         /* the group's first image: channel c of image i at y + (i·cout + c)·ldy */
  const float *b;
  int64_t cout, OHW, g, ldy;
  bool acc;
} scatter_job;

/* Item (image i, channel c): y[i, c, :OHW] (+)= tmp[c, i·OHW + :] + b[c]. */
static void scatter_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const scatter_job *j = arg;
  for (int64_t item = begin; item < end; item++) {
    const int64_t i = item / j->cout, c = item % j->cout;
    const float *restrict t = j->tmp + (c * j->g + i) * j->OHW;
    float *restrict y = j->y + (i * j->cout + c) * j->ldy;
    const float bc = j->b ? j->b[c] : 0.0f;
    if (j->acc)
      for (int64_t p = 0; p < j->OHW; p++) y[p] += t[p] + bc;
    else
      for (int64_t p = 0; p < j->OHW; p++) y[p] = t[p] + bc;
  }
}

/* Several whole images per GEMM: (transform,) im2col side by side, one
 * product into a [cout, g·OHW] scratch, then one pass that scatters it to
 * the images and adds the bias (and the residual already in y). */
static dif_status conv_grouped(const dif__kctx *k, const dif__conv2d_params *p, const float *x,
                               int64_t N, int64_t H, int64_t W, int64_t OH, int64_t OW,
                               const conv_w *cw, const float *b, float *y, int64_t group,
                               dif__error *err) {
  const int64_t K = p->cin * p->kh * p->kw, OHW = OH * OW;
  const int64_t Hin = p->in_h ? p->in_h : H, Win = p->in_w ? p->in_w : W;
  const bool xform = p->in_h || p->in_norm || p->in_silu;
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  float *col = dif__arena_floats(k->arena, (size_t)(K * group * OHW), err);
  float *tmp = dif__arena_floats(k->arena, (size_t)(p->cout * group * OHW), err);
  float *xt = xform ? dif__arena_floats(k->arena, (size_t)(group * p->cin * Hin * Win), err) : NULL;
  if (!col || !tmp || (xform && !xt)) {
    dif__arena_release(k->arena, mark);
    dif__error_prefix(err, "conv2d im2col");
    return DIF_ERR_OUT_OF_MEMORY;
  }
  const int64_t grain = OW >= 4096 ? 1 : 4096 / OW;
  for (int64_t n0 = 0; n0 < N; n0 += group) {
    const int64_t g = N - n0 < group ? N - n0 : group;
    const float *src = x + n0 * p->cin * H * W;
    if (xform) {
      dif__conv2d_xform_rows(k, p, x, n0, g, H, W, Hin, Win, 0, Hin, xt);
      src = xt;
    }
    im2col_job j = {src,     col,       Hin,       Win,        OW,
                    p->kh,   p->kw,     p->stride, p->pad_top, p->pad_left,
                    0,       OH,        K,         g,          p->cin * Hin * Win,
                    g * OHW, Hin * Win, 0};
    double t0 = DIF__PROF_START();
    dif__pool_for(k->pool, g * K * OH, grain, im2col_task, &j);
    DIF__PROF_END(DIF__PROF_CONV_PACK, t0, 0);
    const dif_status st = w_gemm(k, cw, p->cout, g * OHW, K, col, g * OHW, 0.0f, tmp, g * OHW, err);
    if (st) {
      dif__arena_release(k->arena, mark);
      return st;
    }
    scatter_job sj = {tmp, y + n0 * p->cout * OHW, b, p->cout, OHW, g, OHW, p->accumulate};
    t0 = DIF__PROF_START();
    dif__pool_for(k->pool, g * p->cout, OHW >= 4096 ? 1 : 4096 / OHW, scatter_task, &sj);
    DIF__PROF_END(DIF__PROF_ELEMENTWISE, t0, 0);
  }
  dif__arena_release(k->arena, mark);
  return DIF_OK;
}

/* Preloads the bias into one image's output (or adds it to the residual
 * there) for the beta = 1 products. */
static void bias_rows(const dif__kctx *k, const dif__conv2d_params *p, float *yn, int64_t OHW,
                      const float *b) {
  if (!b) return;
  if (p->accumulate)
    dif__add_rows(k->pool, yn, p->cout, OHW, OHW, b);
  else
    dif__fill_rows(k->pool, yn, p->cout, OHW, OHW, b);
}

/* 1×1 convolution writing over its own input (cout <= cin): pixel bands go
 * through a [cout, band] scratch, and each band's result lands only on the
 * band's own pixels, which no later band reads. */
static dif_status conv1x1_in_place(const dif__kctx *k, const dif__conv2d_params *p, float *x,
                                   int64_t N, int64_t HW, const conv_w *cw, const float *b,
                                   size_t max_scratch, dif__error *err) {
  int64_t band = (int64_t)(max_scratch / sizeof(float) / (size_t)p->cout);
  if (band < 64) band = 64;
  if (band > HW) band = HW;
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  float *tmp = dif__arena_floats(k->arena, (size_t)(p->cout * band), err);
  if (!tmp) {
    dif__error_prefix(err, "conv2d in place");
    return DIF_ERR_OUT_OF_MEMORY;
  }
  for (int64_t n = 0; n < N; n++) {
    float *xn = x + n * p->cin * HW, *yn = x + n * p->cout * HW;
    for (int64_t p0 = 0; p0 < HW; p0 += band) {
      const int64_t m = HW - p0 < band ? HW - p0 : band;
      const dif_status st = w_gemm(k, cw, p->cout, m, p->cin, xn + p0, HW, 0.0f, tmp, m, err);
      if (st) {
        dif__arena_release(k->arena, mark);
        return st;
      }
      /* Channel slots are HW floats apart in both layouts, so an output
       * element can only land on an input element of the same pixel index:
       * one of this band's, already read by the GEMM above. Image n's output
       * (slots n·cout .. (n+1)·cout) ends before image n + 1's input. */
      scatter_job sj = {tmp, yn + p0, b, p->cout, m, 1, HW, false};
      const double t0 = DIF__PROF_START();
      dif__pool_for(k->pool, p->cout, m >= 4096 ? 1 : 4096 / m, scatter_task, &sj);
      DIF__PROF_END(DIF__PROF_ELEMENTWISE, t0, 0);
    }
  }
  dif__arena_release(k->arena, mark);
  return DIF_OK;
}

/* The convolution, arguments checked. */
static dif_status conv2d_run(const dif__kctx *k, const dif__conv2d_params *p, const float *x,
                             int64_t N, int64_t H, int64_t W, const conv_w *cw, const float *b,
                             float *y, size_t max_scratch, dif__error *err) {
  dif_status st = DIF_OK;
  const int64_t Hin = p->in_h ? p->in_h : H, Win = p->in_w ? p->in_w : W;
  const int64_t OH = dif__conv2d_out(Hin, p->kh, p->stride, p->pad_top, p->pad_bottom);
  const int64_t OW = dif__conv2d_out(Win, p->kw, p->stride, p->pad_left, p->pad_right);
  const int64_t K = p->cin * p->kh * p->kw, HW = H * W, OHW = OH * OW;
  const float beta = b || p->accumulate ? 1.0f : 0.0f;
  const bool xform = p->in_h || p->in_norm || p->in_silu;
  const bool direct = !xform && p->kh == 1 && p->kw == 1 && p->stride == 1 && p->pad_top == 0 &&
                      p->pad_left == 0 && p->pad_bottom == 0 && p->pad_right == 0;
  dif__prof_record_shape(DIF__PROF_CONV_GEMM, false, false, p->cout, OHW, K, N);
  if (N == 0) return DIF_OK;
  if (x == y) /* checked: a 1×1 convolution that may run in place */
    return conv1x1_in_place(k, p, y, N, HW, cw, b, max_scratch, err);

  int64_t group = 1;
  if (N > 1 && OHW < CONV_BATCH_COLS) {
    group = (CONV_BATCH_COLS + OHW - 1) / OHW;
    if (group > N) group = N;
    while (group > 1 &&
           (size_t)((K + (xform ? p->cin : 0)) * group * OHW) > max_scratch / sizeof(float))
      group--;
  }
  if (group > 1) return conv_grouped(k, p, x, N, H, W, OH, OW, cw, b, y, group, err);
  if (direct) {
    for (int64_t n = 0; n < N; n++) {
      float *yn = y + n * p->cout * OHW;
      bias_rows(k, p, yn, OHW, b);
      st = w_gemm(k, cw, p->cout, HW, p->cin, x + n * p->cin * HW, HW, beta, yn, OHW, err);
      if (st) return st;
    }
    return DIF_OK;
  }

  /* Rows per band: as many as fit in max_scratch, at least one. Counted in
   * floats: K · OW < 2^62 cannot overflow, its size in bytes might. With a
   * transform, a band also holds its (transformed) input rows:
   * (band - 1)·stride + kh rows of cin × Win. */
  const size_t row_floats = (size_t)K * (size_t)OW;
  const size_t in_row = xform ? (size_t)p->cin * (size_t)Win : 0;
  const size_t avail = max_scratch / sizeof(float);
  const size_t fixed = in_row * (size_t)p->kh;
  int64_t band =
      avail > fixed ? (int64_t)((avail - fixed) / (row_floats + in_row * (size_t)p->stride)) : 1;
  if (band < 1) band = 1;
  if (band > OH) band = OH;
  const int64_t band_in = (band - 1) * p->stride + p->kh; /* input rows a band can need */

  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  float *col = dif__arena_floats(k->arena, row_floats * (size_t)band, err);
  float *xb = xform ? dif__arena_floats(k->arena, in_row * (size_t)band_in, err) : NULL;
  if (!col || (xform && !xb)) {
    dif__arena_release(k->arena, mark);
    dif__error_prefix(err, "conv2d im2col");
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
      const float *src = xn;
      int64_t x_chan = HW, row0 = 0;
      if (xform) { /* the input rows this band reads, clipped to the image */
        int64_t r0 = oh0 * p->stride - p->pad_top, r1 = r0 + (nrows - 1) * p->stride + p->kh;
        if (r0 < 0) r0 = 0;
        if (r1 > Hin) r1 = Hin;
        if (r1 <= r0) r0 = 0, r1 = 1; /* the band reads only padding: any row will do */
        dif__conv2d_xform_rows(k, p, x, n, 1, H, W, Hin, Win, r0, r1 - r0, xb);
        src = xb;
        x_chan = (r1 - r0) * Win;
        row0 = r0;
      }
      im2col_job j = {src,   col,       Hin,         Win,         OW,     p->kh,
                      p->kw, p->stride, p->pad_top,  p->pad_left, oh0,    nrows,
                      K,     1,         p->cin * HW, nrows * OW,  x_chan, row0};
      const double t0 = DIF__PROF_START();
      dif__pool_for(k->pool, K * nrows, grain, im2col_task, &j);
      DIF__PROF_END(DIF__PROF_CONV_PACK, t0, 0);
      st = w_gemm(k, cw, p->cout, nrows * OW, K, col, nrows * OW, beta, yn + oh0 * OW, OHW, err);
      if (st) {
        dif__arena_release(k->arena, mark);
        return st;
      }
    }
  }
  dif__arena_release(k->arena, mark);
  return DIF_OK;
}

/* A channels-last call on the channels-first paths: x (and y, with
 * accumulate) changed to channels-first in scratch, the usual call, its
 * output changed back into y (core/ops.h: exact, Winograd, a refused fast
 * weight). */
static dif_status conv2d_cl_by_cf(const dif__kctx *k, const dif__conv2d_params *p, const float *x,
                                  int64_t N, int64_t H, int64_t W, dif__weight w, const float *b,
                                  float *y, size_t max_scratch, dif__error *err) {
  const int64_t Hin = p->in_h ? p->in_h : H, Win = p->in_w ? p->in_w : W;
  const int64_t OHW = dif__conv2d_out(Hin, p->kh, p->stride, p->pad_top, p->pad_bottom) *
                      dif__conv2d_out(Win, p->kw, p->stride, p->pad_left, p->pad_right);
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  float *xc = dif__arena_floats(k->arena, (size_t)(N * p->cin * H * W), err);
  float *yc = dif__arena_floats(k->arena, (size_t)(N * p->cout * OHW), err);
  if (!xc || !yc) {
    dif__arena_release(k->arena, mark);
    dif__error_prefix(err, "conv2d (channels-last) channels-first copies");
    return DIF_ERR_OUT_OF_MEMORY;
  }
  dif__transpose_batched(k, x, N, H * W, p->cin, xc);
  if (p->accumulate) dif__transpose_batched(k, y, N, OHW, p->cout, yc);
  dif__conv2d_params q = *p;
  q.channels_last = false;
  dif_status st = dif__conv2d_bounded(k, &q, xc, N, H, W, w, b, yc, max_scratch, err);
  if (!st) dif__transpose_batched(k, yc, N, p->cout, OHW, y);
  dif__arena_release(k->arena, mark);
  return st;
}

dif_status dif__conv2d_bounded(const dif__kctx *k, const dif__conv2d_params *p, const float *x,
                               int64_t N, int64_t H, int64_t W, dif__weight w, const float *b,
                               float *y, size_t max_scratch, dif__error *err) {
  dif_status st = check_params(k, p, x, N, H, W, w.data, y, err);
  if (st != DIF_OK) return st;
  const int64_t K = p->cin * p->kh * p->kw;
  if (w.numel != p->cout * K)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "conv2d: weight has %lld elements, expected %lld x %lld x %lld x %lld",
                     (long long)w.numel, (long long)p->cout, (long long)p->cin, (long long)p->kh,
                     (long long)p->kw);
  if (p->channels_last) {
    if (k->fast && k->wino_bf16_max_cc &&
        dif__conv2d_wino_bf16(k, p, x, N, H, W, w, b, y, max_scratch, &st, err))
      return st;
    if (k->fast && dif__conv2d_fast(k, p, x, N, H, W, w, b, y, max_scratch, &st, err)) return st;
    return conv2d_cl_by_cf(k, p, x, N, H, W, w, b, y, max_scratch, err);
  }
  /* Winograd first: where a fast context has it, it serves the 3×3 ones (core/ops.h) */
  if (k->wino && dif__conv2d_wino(k, p, x, N, H, W, w, b, y, max_scratch, &st, err)) return st;
  if (k->fast && dif__conv2d_fast(k, p, x, N, H, W, w, b, y, max_scratch, &st, err)) return st;
  conv_w cw = {dif__weight_as_f32(w), w, NULL, p->cout};
  if (N == 0 || cw.f32) return conv2d_run(k, p, x, N, H, W, &cw, b, y, max_scratch, err);
  /* A 16-bit weight: its float32 form, whole when it fits a band (widened
   * once for every product of the call), else band by band per product. */
  int64_t rows = CONV_WEIGHT_BAND_FLOATS / K;
  if (rows < 1) rows = 1;
  if (rows > p->cout) rows = p->cout;
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  cw.buf = dif__arena_floats(k->arena, (size_t)(rows * K), err);
  if (!cw.buf) {
    dif__error_prefix(err, "conv2d: float32 form of a %s weight [%lld, %lld, %lld, %lld]",
                      dif__dtype_name(w.dtype), (long long)p->cout, (long long)p->cin,
                      (long long)p->kh, (long long)p->kw);
    return DIF_ERR_OUT_OF_MEMORY;
  }
  cw.rows = rows;
  if (rows == p->cout) {
    const double t0 = DIF__PROF_START();
    dif__weight_tile_f32(k->pool, w, K, 0, p->cout, 0, K, cw.buf);
    DIF__PROF_END(DIF__PROF_WEIGHT_CONVERT, t0, 0);
    cw.f32 = cw.buf;
  }
  st = conv2d_run(k, p, x, N, H, W, &cw, b, y, max_scratch, err);
  dif__arena_release(k->arena, mark);
  return st;
}

dif_status dif__conv2d(const dif__kctx *k, const dif__conv2d_params *p, const float *x, int64_t N,
                       int64_t H, int64_t W, dif__weight w, const float *b, float *y,
                       dif__error *err) {
  return dif__conv2d_bounded(k, p, x, N, H, W, w, b, y, DIF__CONV2D_SCRATCH_MAX, err);
}
