/* conv2d_fast.c — a convolution in the precision fast (k->fast set).
 *
 * The weight is packed to bf16 once, as the [cout, kh·kw·cin] matrix of a
 * linear layer with its columns in (tap, channel) order
 * (dif__fast_conv_weight: the context keeps it, like a linear layer's). For
 * each band of output rows, the input rows it reads — through the input
 * transform of conv2d.c when there is one — are rounded to bf16 and laid
 * channels-last ([rows, Win, cin]); each output pixel's row of the product's
 * source is then kh runs of kw·cin contiguous values (pixel-major [pixels,
 * kh·kw·cin]: the plain row-major source the backend runs fast; oneDNN 2.6
 * has only reference code for a transposed one). One product per band gives
 * [pixels, cout] in float32, transposed into y with the bias (added to y for
 * accumulate). The roundings are those
 * of every fast product — inputs and weights to bf16, round to nearest
 * even, float32 sums — without a float32 im2col and its conversion on
 * every call. Small images are batched into one product as in conv2d.c. */
#include <string.h>

#include "core/backend.h"
#include "core/dtype.h"
#include "core/ops.h"
#include "core/ops_internal.h"
#include "core/prof.h"

#define BATCH_COLS 4096 /* batch images while one has fewer output pixels (conv2d.c) */
#define TILE 32         /* the transpose's tiles */

typedef struct hwc_job {
  const float *src; /* image i, channel c, input row ih: src + i·img + c·chan + (ih - row0)·Win */
  uint16_t *hwc;    /* [g][rows][Win][cin]: input rows [row0, row0 + rows) */
  int64_t img, chan, row0, rows, Win, cin, wblocks, cblocks;
} hwc_job;

/* Item (image, row, column tile, channel tile): TILE × TILE values rounded
 * to bf16 and transposed into channels-last. */
static void hwc_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const hwc_job *j = arg;
  uint16_t t[TILE][TILE];
  for (int64_t item = begin; item < end; item++) {
    const int64_t cb = item % j->cblocks, wb = item / j->cblocks % j->wblocks;
    const int64_t ir = item / (j->cblocks * j->wblocks), i = ir / j->rows, r = ir % j->rows;
    const int64_t c0 = cb * TILE, w0 = wb * TILE;
    const int64_t nc = j->cin - c0 < TILE ? j->cin - c0 : TILE;
    const int64_t nw = j->Win - w0 < TILE ? j->Win - w0 : TILE;
    const float *in = j->src + i * j->img + c0 * j->chan + r * j->Win + w0;
    for (int64_t c = 0; c < nc; c++)
      for (int64_t w = 0; w < nw; w++) t[w][c] = dif__bf16_rne(in[c * j->chan + w]);
    uint16_t *out = j->hwc + ((ir * j->Win + w0) * j->cin + c0);
    for (int64_t w = 0; w < nw; w++) memcpy(out + w * j->cin, t[w], (size_t)nc * sizeof **t);
  }
}

typedef struct gather_job {
  const uint16_t *hwc; /* [g][rows][Win][cin]: input rows [row0, row0 + rows) */
  uint16_t *col;       /* [m, K]: pixel (i, r, ow) is row (i·nrows + r)·OW + ow */
  int64_t rows, row0, Hin, Win, cin;
  int64_t OW, oh0, nrows, kh, kw, stride, pad_top, pad_left, K;
} gather_job;

/* Item (i·nrows + r): the output row's pixels, each kh runs of kw·cin
 * values (zeros where the kernel reads padding). */
static void gather_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const gather_job *j = arg;
  const size_t run = (size_t)j->cin * sizeof(uint16_t);
  for (int64_t rr = begin; rr < end; rr++) {
    const int64_t i = rr / j->nrows, r = rr % j->nrows;
    for (int64_t ow = 0; ow < j->OW; ow++) {
      uint16_t *d = j->col + (rr * j->OW + ow) * j->K;
      const int64_t iw0 = ow * j->stride - j->pad_left;
      const bool inside = iw0 >= 0 && iw0 + j->kw <= j->Win;
      for (int64_t ki = 0; ki < j->kh; ki++, d += j->kw * j->cin) {
        const int64_t ih = (j->oh0 + r) * j->stride - j->pad_top + ki;
        if (ih < 0 || ih >= j->Hin) {
          memset(d, 0, run * (size_t)j->kw);
          continue;
        }
        const uint16_t *in = j->hwc + ((i * j->rows + ih - j->row0) * j->Win) * j->cin;
        if (inside) {
          memcpy(d, in + iw0 * j->cin, run * (size_t)j->kw);
          continue;
        }
        for (int64_t kj = 0; kj < j->kw; kj++) {
          const int64_t iw = iw0 + kj;
          if (iw >= 0 && iw < j->Win)
            memcpy(d + kj * j->cin, in + iw * j->cin, run);
          else
            memset(d + kj * j->cin, 0, run);
        }
      }
    }
  }
}

typedef struct scatter_job {
  const float *yt; /* [g·per, cout] */
  float *y;        /* image n0's first channel; channel c of image i at y + (i·cout + c)·OHW */
  const float *b;
  int64_t per, cout, OHW, pix0, cblocks, pblocks;
  bool acc;
} scatter_job;

/* Item (image, channel tile, pixel tile): y[i, c, pix0 + q] (+)= yt + b. */
static void scatter_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const scatter_job *j = arg;
  for (int64_t item = begin; item < end; item++) {
    const int64_t pb = item % j->pblocks, cb = item / j->pblocks % j->cblocks;
    const int64_t i = item / (j->pblocks * j->cblocks);
    const int64_t c1 = (cb + 1) * TILE < j->cout ? (cb + 1) * TILE : j->cout;
    const int64_t q1 = (pb + 1) * TILE < j->per ? (pb + 1) * TILE : j->per;
    for (int64_t c = cb * TILE; c < c1; c++) {
      const float bc = j->b ? j->b[c] : 0.0f;
      float *yo = j->y + (i * j->cout + c) * j->OHW + j->pix0;
      const float *src = j->yt + i * j->per * j->cout + c;
      for (int64_t q = pb * TILE; q < q1; q++) {
        const float v = src[q * j->cout] + bc;
        yo[q] = j->acc ? yo[q] + v : v;
      }
    }
  }
}

/* The shape of one call: sizes, and how output pixels are banded. */
typedef struct plan {
  int64_t Hin, Win, OH, OW, OHW, K;
  bool xform;
  int64_t g;    /* images per product (whole images when > 1) */
  int64_t band; /* output rows per product of one image (OH when g > 1) */
} plan;

static plan make_plan(const dif__conv2d_params *p, int64_t N, int64_t H, int64_t W,
                      size_t max_scratch) {
  plan l = {.Hin = p->in_h ? p->in_h : H, .Win = p->in_w ? p->in_w : W};
  l.OH = dif__conv2d_out(l.Hin, p->kh, p->stride, p->pad_top, p->pad_bottom);
  l.OW = dif__conv2d_out(l.Win, p->kw, p->stride, p->pad_left, p->pad_right);
  l.OHW = l.OH * l.OW, l.K = p->cin * p->kh * p->kw;
  l.xform = p->in_h || p->in_norm || p->in_silu;
  /* bytes per output row (gathered bf16 + float32 result) and per input row */
  const size_t out_row = (size_t)l.OW * ((size_t)l.K * 2 + (size_t)p->cout * 4);
  /* the rows read, channels-last in bf16, and with a transform in float32 first */
  const size_t in_row = (size_t)p->cin * (size_t)l.Win * (l.xform ? 6 : 2);
  l.g = 1;
  if (N > 1 && l.OHW < BATCH_COLS) {
    l.g = (BATCH_COLS + l.OHW - 1) / l.OHW;
    if (l.g > N) l.g = N;
    while (l.g > 1 && (size_t)l.g * ((size_t)l.OH * out_row + (size_t)l.Hin * in_row) > max_scratch)
      l.g--;
  }
  if (l.g > 1) {
    l.band = l.OH;
    return l;
  }
  const size_t fixed = in_row * (size_t)p->kh;
  l.band = max_scratch > fixed
               ? (int64_t)((max_scratch - fixed) / (out_row + in_row * (size_t)p->stride))
               : 1;
  if (l.band < 1) l.band = 1;
  if (l.band > l.OH) l.band = l.OH;
  return l;
}

/* One product: output rows [oh0, oh0 + nrows) of images [n0, n0 + g). */
typedef struct bufs {
  uint16_t *col, *hwc;
  float *yt, *xb;
} bufs;

static dif_status band_run(const dif__kctx *k, const dif__conv2d_params *p, const plan *l,
                           const dif__packed *pw, const float *x, int64_t H, int64_t W,
                           const float *b, float *y, int64_t n0, int64_t g, int64_t oh0,
                           int64_t nrows, const bufs *bf, dif__error *err) {
  const float *src = x + n0 * p->cin * H * W;
  int64_t img = p->cin * H * W, chan = H * W;
  /* the input rows the band reads, clipped to the image */
  int64_t r0 = oh0 * p->stride - p->pad_top, r1 = r0 + (nrows - 1) * p->stride + p->kh;
  if (r0 < 0) r0 = 0;
  if (r1 > l->Hin) r1 = l->Hin;
  if (r1 <= r0) r0 = 0, r1 = 1; /* the band reads only padding: any row will do */
  if (l->xform) {
    dif__conv2d_xform_rows(k, p, x, n0, g, H, W, l->Hin, l->Win, r0, r1 - r0, bf->xb);
    src = bf->xb, chan = (r1 - r0) * l->Win, img = p->cin * chan;
  } else {
    src += r0 * l->Win;
  }
  const int64_t rows = r1 - r0, tiles = (l->Win + TILE - 1) / TILE;
  hwc_job hj = {src,  bf->hwc, img,    chan,  r0,
                rows, l->Win,  p->cin, tiles, (p->cin + TILE - 1) / TILE};
  double t0 = DIF__PROF_START();
  dif__pool_for(k->pool, g * rows * hj.wblocks * hj.cblocks, 1, hwc_task, &hj);
  const int64_t m = g * nrows * l->OW;
  gather_job gj = {bf->hwc, bf->col, rows,  r0,    l->Hin,    l->Win,     p->cin,      l->OW,
                   oh0,     nrows,   p->kh, p->kw, p->stride, p->pad_top, p->pad_left, l->K};
  dif__pool_for(k->pool, g * nrows, 1, gather_task, &gj);
  DIF__PROF_END(DIF__PROF_CONV_PACK, t0, 0);
  t0 = DIF__PROF_START();
  dif_status st = dif__packed_linear_bf16_in(k, pw, bf->col, m, bf->yt, err);
  DIF__PROF_END(DIF__PROF_CONV_GEMM, t0, 2.0 * (double)m * (double)p->cout * (double)l->K);
  if (st) return st;
  const int64_t per = nrows * l->OW;
  scatter_job sj = {bf->yt,
                    y + n0 * p->cout * l->OHW,
                    b,
                    per,
                    p->cout,
                    l->OHW,
                    oh0 * l->OW,
                    (p->cout + TILE - 1) / TILE,
                    (per + TILE - 1) / TILE,
                    p->accumulate};
  t0 = DIF__PROF_START();
  dif__pool_for(k->pool, g * sj.cblocks * sj.pblocks, 1, scatter_task, &sj);
  DIF__PROF_END(DIF__PROF_TRANSPOSE, t0, 0);
  return DIF_OK;
}

bool dif__conv2d_fast(const dif__kctx *k, const dif__conv2d_params *p, const float *x, int64_t N,
                      int64_t H, int64_t W, dif__weight w, const float *b, float *y,
                      size_t max_scratch, dif_status *st, dif__error *err) {
  if (!k->fast || x == y || N == 0) return false;
  const plan l = make_plan(p, N, H, W, max_scratch);
  dif__prof_record_shape(DIF__PROF_CONV_GEMM, false, true, l.g * l.band * l.OW, p->cout, l.K, N);
  const dif__packed *pw;
  dif__error perr = {0};
  if (dif__fast_conv_weight(k->fast, w, p->cout, p->cin, p->kh * p->kw, l.g * l.band * l.OW, &pw,
                            &perr)) {
    dif__fast_note_fallback(k->fast, &perr);
    return false;
  }
  if (!pw->backend->linear_bf16_in) return false;
  const int64_t m = l.g * l.band * l.OW;
  const int64_t band_in = l.g > 1 ? l.Hin : (l.band - 1) * p->stride + p->kh;
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  const size_t in_elems = (size_t)(l.g * p->cin * band_in) * (size_t)l.Win;
  bufs bf = {dif__arena_alloc(k->arena, (size_t)m * (size_t)l.K * sizeof(uint16_t), err),
             dif__arena_alloc(k->arena, in_elems * sizeof(uint16_t), err),
             dif__arena_floats(k->arena, (size_t)m * (size_t)p->cout, err),
             l.xform ? dif__arena_floats(k->arena, in_elems, err) : NULL};
  *st = bf.col && bf.hwc && bf.yt && (bf.xb || !l.xform) ? DIF_OK : DIF_ERR_OUT_OF_MEMORY;
  if (*st) dif__error_prefix(err, "conv2d (fast) band buffers");
  for (int64_t n0 = 0; n0 < N && !*st; n0 += l.g) {
    const int64_t g = N - n0 < l.g ? N - n0 : l.g;
    for (int64_t oh0 = 0; oh0 < l.OH && !*st; oh0 += l.band) {
      const int64_t nrows = l.OH - oh0 < l.band ? l.OH - oh0 : l.band;
      *st = band_run(k, p, &l, pw, x, H, W, b, y, n0, g, oh0, nrows, &bf, err);
    }
  }
  dif__arena_release(k->arena, mark);
  return true;
}
