/* conv2d_fast.c — a convolution in the precision fast (k->fast set).
 *
 * The weight is packed once by the backend's bf16 convolution
 * (dif__fast_conv_weight: the context keeps it, like a linear layer's).
 * For each band of output rows (or a batch of whole small images), the
 * input rows it reads — through the input transform of conv2d.c when there
 * is one — are rounded to bf16 and laid channels-last ([rows, Win, cin];
 * zero rows where the band reads the padding above or below); the backend
 * convolves them into float32 channels-last [rows · OW, cout] (oneDNN's
 * direct convolution: no im2col, AMX tiles where the CPU has them), which
 * is transposed into y with the bias (added to y for accumulate). The
 * roundings are those of every fast product — inputs and weights to bf16,
 * round to nearest even, float32 sums. A weight or size the backend
 * refuses (at its first band) runs on conv2d.c's im2col instead (its
 * products still bf16, through the backend's matmul), counted as a
 * fallback (dif__fast_note_fallback).
 *
 * Channels-last (dif__conv2d_params.channels_last: the networks' maps kept
 * [N, H, W, C]) skips both layout changes: each input pixel's channels
 * are rounded to bf16 as they lie (cl_pack_task) and the backend writes
 * y's rows itself with the bias and the residual (conv_bf16_run's bias and
 * acc). */
#include <string.h>

#include "core/backend.h"
#include "core/kern_simd.h"
#include "core/ops.h"
#include "core/ops_internal.h"
#include "core/prof.h"

#define BATCH_COLS 4096 /* batch images while one has fewer output pixels (conv2d.c) */
#define TILE 32         /* the transposes' tiles */
#define CHUNK 256       /* columns of an input row transformed at a time */

typedef struct hwc_job {
  const dif__conv2d_params *p;
  const float *x; /* images n0 .. n0 + g − 1, [cin, H, W] each */
  uint16_t *hwc;  /* [g][rows][Win][cin]; input row r0 + r of image i at row off + r */
  int64_t H, W, Hin, Win, n0, r0, nr, rows, off, cblocks, chunks;
  bool xform;
} hwc_job;

/* Item (image, row, channel tile, column chunk): TILE channels × CHUNK
 * columns of one input row, through the input transform (in float32, as
 * conv2d.c's), rounded to bf16 and transposed into channels-last. */
static void hwc_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const hwc_job *j = arg;
  const int64_t cin = j->p->cin;
  float buf[TILE][CHUNK];
  for (int64_t item = begin; item < end; item++) {
    const int64_t cb = item % j->cblocks, ch = item / j->cblocks % j->chunks;
    const int64_t ir = item / (j->cblocks * j->chunks), i = ir / j->nr, r = ir % j->nr;
    const int64_t c0 = cb * TILE, w0 = ch * CHUNK;
    const int64_t nc = cin - c0 < TILE ? cin - c0 : TILE;
    const int64_t n = j->Win - w0 < CHUNK ? j->Win - w0 : CHUNK;
    const float *img = j->x + i * cin * j->H * j->W;
    /* channel c's n values at src + c·ld: the transformed span in buf, or
     * the row itself (the planes H·W apart) */
    const float *src = img + (c0 * j->H + j->r0 + r) * j->W + w0;
    int64_t ld = j->H * j->W;
    if (j->xform) {
      const dif__norm_affine *norm = j->p->in_norm ? j->p->in_norm + (j->n0 + i) * cin : NULL;
      for (int64_t c = 0; c < nc; c++)
        dif__conv2d_xform_span(j->p, img, norm, c0 + c, j->H, j->W, j->Hin, j->Win, j->r0 + r, w0,
                               n, buf[c]);
      src = buf[0], ld = CHUNK;
    }
    uint16_t *out = j->hwc + (((i * j->rows + j->off + r) * j->Win + w0) * cin + c0);
    dif__k_transpose_bf16(src, ld, out, cin, n, nc);
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
    const int64_t c0 = cb * TILE, q0 = pb * TILE;
    const int64_t nc = j->cout - c0 < TILE ? j->cout - c0 : TILE;
    const int64_t nq = j->per - q0 < TILE ? j->per - q0 : TILE;
    dif__k_transpose(j->yt + (i * j->per + q0) * j->cout + c0, j->cout,
                     j->y + (i * j->cout + c0) * j->OHW + j->pix0 + q0, j->OHW, nc, nq,
                     j->b ? j->b + c0 : NULL, j->acc);
  }
}

/* ---- channels-last (dif__conv2d_params.channels_last) ----
 * x is [N, H, W, cin] already: each input pixel's cin floats go through the
 * transform (its norm as four arrays per image, `soa`) into bf16 in one
 * contiguous pass, nearest-resized pixels copied from their left
 * neighbour's; the backend writes y's rows itself, bias and accumulation
 * included, so nothing is transposed either way. */

typedef struct cl_job {
  const dif__conv2d_params *p;
  const float *x;   /* images n0 .. n0 + g − 1, [H, W, cin] each */
  const float *soa; /* [N][4][cin]: hi, lo, a, c of every image, or NULL */
  uint16_t *hwc;    /* as hwc_job's */
  int64_t H, W, Hin, Win, n0, r0, nr, rows, off;
} cl_job;

/* Item (image, input row). */
static void cl_pack_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const cl_job *j = arg;
  const int64_t cin = j->p->cin;
  for (int64_t item = begin; item < end; item++) {
    const int64_t i = item / j->nr, r = item % j->nr, ir = j->r0 + r;
    const int64_t sr = j->Hin != j->H ? dif__nearest_idx(ir, j->H, j->Hin) : ir;
    const float *row = j->x + (i * j->H + sr) * j->W * cin;
    const float *norm[4] = {NULL, NULL, NULL, NULL};
    if (j->soa)
      for (int q = 0; q < 4; q++) norm[q] = j->soa + ((j->n0 + i) * 4 + q) * cin;
    uint16_t *out = j->hwc + ((i * j->rows + j->off + r) * j->Win) * cin;
    int64_t prev = -1;
    for (int64_t w = 0; w < j->Win; w++, out += cin) {
      const int64_t sc = j->Win != j->W ? dif__nearest_idx(w, j->W, j->Win) : w;
      if (sc == prev)
        memcpy(out, out - cin, (size_t)cin * sizeof *out);
      else
        dif__k_affine_bf16(row + sc * cin, cin, j->soa ? norm : NULL, j->p->in_silu, out);
      prev = sc;
    }
  }
}

/* The shape of one call: sizes, and how output pixels are banded. */
typedef struct plan {
  int64_t Hin, Win, OH, OW, OHW;
  bool xform;
  int64_t g;    /* images per product (whole images when > 1) */
  int64_t band; /* output rows per product of one image (OH when g > 1) */
  int64_t rows; /* input rows a product reads per image: (band − 1)·stride + kh */
} plan;

static plan make_plan(const dif__conv2d_params *p, int64_t N, int64_t H, int64_t W,
                      size_t max_scratch) {
  plan l = {.Hin = p->in_h ? p->in_h : H, .Win = p->in_w ? p->in_w : W};
  l.OH = dif__conv2d_out(l.Hin, p->kh, p->stride, p->pad_top, p->pad_bottom);
  l.OW = dif__conv2d_out(l.Win, p->kw, p->stride, p->pad_left, p->pad_right);
  l.OHW = l.OH * l.OW;
  l.xform = p->in_h || p->in_norm || p->in_silu;
  /* bytes per output row (the float32 result) and per input row (bf16
   * channels-last) */
  const size_t out_row = p->channels_last ? 0 : (size_t)l.OW * (size_t)p->cout * 4;
  const size_t in_row = (size_t)p->cin * (size_t)l.Win * 2;
  l.g = 1;
  if (N > 1 && l.OHW < BATCH_COLS) {
    l.g = (BATCH_COLS + l.OHW - 1) / l.OHW;
    if (l.g > N) l.g = N;
    const size_t rows = (size_t)((l.OH - 1) * p->stride + p->kh);
    while (l.g > 1 && (size_t)l.g * ((size_t)l.OH * out_row + rows * in_row) > max_scratch) l.g--;
  }
  if (l.g > 1) {
    l.band = l.OH;
  } else {
    const size_t fixed = in_row * (size_t)p->kh;
    l.band = max_scratch > fixed
                 ? (int64_t)((max_scratch - fixed) / (out_row + in_row * (size_t)p->stride))
                 : 1;
    if (l.band < 1) l.band = 1;
    if (l.band > l.OH) l.band = l.OH;
  }
  l.rows = (l.band - 1) * p->stride + p->kh;
  return l;
}

/* One product: output rows [oh0, oh0 + nrows) of images [n0, n0 + g). */
typedef struct bufs {
  uint16_t *hwc;
  float *yt;        /* channels-first only */
  const float *soa; /* channels-last with in_norm: cl_job's */
} bufs;

static dif_status band_run(const dif__kctx *k, const dif__conv2d_params *p, const plan *l,
                           const dif__conv *pw, const float *x, int64_t H, int64_t W,
                           const float *b, float *y, int64_t n0, int64_t g, int64_t oh0,
                           int64_t nrows, const bufs *bf, dif__error *err) {
  /* the input rows read, a .. a + rows − 1; those inside the image r0 .. r1 − 1 */
  const int64_t a = oh0 * p->stride - p->pad_top, rows = (nrows - 1) * p->stride + p->kh;
  const int64_t r0 = a > 0 ? a : 0, r1 = a + rows < l->Hin ? a + rows : l->Hin;
  const size_t row_elems = (size_t)l->Win * (size_t)p->cin;
  double t0 = DIF__PROF_START();
  for (int64_t i = 0; i < g; i++) { /* the zero rows of the padding above and below */
    uint16_t *img = bf->hwc + (size_t)(i * rows) * row_elems;
    const int64_t top = r1 > r0 ? r0 - a : rows, bottom = r1 > r0 ? a + rows - r1 : 0;
    memset(img, 0, (size_t)top * row_elems * sizeof *img);
    memset(img + (size_t)(rows - bottom) * row_elems, 0, (size_t)bottom * row_elems * sizeof *img);
  }
  if (r1 > r0 && p->channels_last) {
    cl_job cj = {p,       x + n0 * p->cin * H * W,
                 bf->soa, bf->hwc,
                 H,       W,
                 l->Hin,  l->Win,
                 n0,      r0,
                 r1 - r0, rows,
                 r0 - a};
    dif__pool_for(k->pool, g * (r1 - r0), 1, cl_pack_task, &cj);
  } else if (r1 > r0) {
    const int64_t cblocks = (p->cin + TILE - 1) / TILE, chunks = (l->Win + CHUNK - 1) / CHUNK;
    hwc_job hj = {p,       x + n0 * p->cin * H * W,
                  bf->hwc, H,
                  W,       l->Hin,
                  l->Win,  n0,
                  r0,      r1 - r0,
                  rows,    r0 - a,
                  cblocks, chunks,
                  l->xform};
    dif__pool_for(k->pool, g * (r1 - r0) * chunks * cblocks, 1, hwc_task, &hj);
  }
  DIF__PROF_END(DIF__PROF_CONV_PACK, t0, 0);
  const int64_t per = nrows * l->OW;
  const double flops = 2.0 * (double)(g * per) * (double)p->cout * (double)(p->cin * p->kh * p->kw);
  t0 = DIF__PROF_START();
  if (p->channels_last) { /* straight into y's rows: [n0·OHW + oh0·OW, cout] on */
    dif_status st = dif__conv_bf16_run(k, pw, g, rows, l->Win, bf->hwc, b, p->accumulate,
                                       y + (n0 * l->OHW + oh0 * l->OW) * p->cout, err);
    DIF__PROF_END(DIF__PROF_CONV_GEMM, t0, flops);
    return st;
  }
  dif_status st = dif__conv_bf16_run(k, pw, g, rows, l->Win, bf->hwc, NULL, false, bf->yt, err);
  DIF__PROF_END(DIF__PROF_CONV_GEMM, t0, flops);
  if (st) return st;
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
  /* in place (a 1×1 one, cout <= cin): channels-last only, where each band
   * is packed before its rows are written, and those rows of y lie within
   * x's rows up to the band's (rows of cout ≤ cin floats) */
  if (!k->fast || (x == y && !p->channels_last) || N == 0) return false;
  const plan l = make_plan(p, N, H, W, max_scratch);
  const int64_t K = p->cin * p->kh * p->kw;
  dif__prof_record_shape(DIF__PROF_CONV_GEMM, false, true, l.g * l.band * l.OW, p->cout, K, N);
  const dif__conv_geom geom = {p->cout, p->cin, p->kh, p->kw, p->stride, p->pad_left, p->pad_right};
  const dif__conv *pw;
  dif__error perr = {0};
  /* Refusals are noted as fallbacks, except channels-last ones: their
   * channels-first retry (conv2d.c) comes back here and notes it if it
   * falls back too (a size refused with bias and sum may run there). */
  if (dif__fast_conv_weight(k->fast, k, w, &geom, &pw, &perr)) {
    if (!p->channels_last) dif__fast_note_fallback(k->fast, &perr);
    return false;
  }
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  const size_t in_elems = (size_t)(l.g * p->cin * l.rows) * (size_t)l.Win;
  bufs bf = {dif__arena_alloc(k->arena, in_elems * sizeof(uint16_t), err), NULL, NULL};
  float *soa = NULL;
  if (p->channels_last && p->in_norm &&
      (soa = dif__arena_floats(k->arena, (size_t)(N * 4 * p->cin), err)))
    for (int64_t n = 0; n < N; n++)
      for (int64_t c = 0; c < p->cin; c++) {
        const dif__norm_affine *na = &p->in_norm[n * p->cin + c];
        float *o = soa + n * 4 * p->cin + c;
        o[0] = na->hi, o[p->cin] = na->lo, o[2 * p->cin] = na->a, o[3 * p->cin] = na->c;
      }
  bf.soa = soa;
  if (!p->channels_last)
    bf.yt = dif__arena_floats(k->arena, (size_t)(l.g * l.band * l.OW * p->cout), err);
  *st = bf.hwc && (bf.yt || p->channels_last) && (soa || !p->channels_last || !p->in_norm)
            ? DIF_OK
            : DIF_ERR_OUT_OF_MEMORY;
  if (*st) dif__error_prefix(err, "conv2d (fast) band buffers");
  bool first = true;
  for (int64_t n0 = 0; n0 < N && !*st; n0 += l.g) {
    const int64_t g = N - n0 < l.g ? N - n0 : l.g;
    for (int64_t oh0 = 0; oh0 < l.OH && !*st; oh0 += l.band, first = false) {
      const int64_t nrows = l.OH - oh0 < l.band ? l.OH - oh0 : l.band;
      *st = band_run(k, p, &l, pw, x, H, W, b, y, n0, g, oh0, nrows, &bf, first ? &perr : err);
      if (*st == DIF_ERR_UNSUPPORTED && first) { /* refused before writing y: conv2d.c's way */
        dif__arena_release(k->arena, mark);
        if (!p->channels_last) dif__fast_note_fallback(k->fast, &perr);
        return false;
      }
      if (*st && first && err) *err = perr;
    }
  }
  dif__arena_release(k->arena, mark);
  return true;
}
