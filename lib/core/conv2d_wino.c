/* conv2d_wino.c — a 3×3, stride-1, pad-1 convolution by float32 Winograd
 * (k->wino set: the exact path's VAE and the UNet's first levels, fast's VAE
 * where dif__wino_for_fast; core/ops.h).
 *
 * The weight is transformed once into the backend's layout
 * (dif__wino_weight: the context keeps it). Per band of output rows of an
 * image, one pass reads the input rows the band needs (one more above and
 * below: zeros past the image's edges) — through the input transform
 * (nearest resize, GroupNorm affine, SiLU, computed as conv2d.c's) — into
 * the backend's channels-blocked source [⌈cin/16⌉, rows, Win, 16] (zeros
 * past cin); the backend convolves it into the blocked
 * [⌈cout/16⌉, band, Win, 16]; one pass writes that to y with the bias,
 * added to y for accumulate. Scratch: one band's blocked input and output
 * (within max_scratch) and the backend's own, from k->arena, released at the end.
 * A weight or size the backend refuses at the first band runs on conv2d.c's
 * im2col + sgemm instead (a later band refused, not seen with oneDNN, is an
 * error: y is partly written then). */
#include <string.h>

#include "core/backend.h"
#include "core/kern_simd.h"
#include "core/ops.h"
#include "core/ops_internal.h"
#include "core/prof.h"

#define BLK 16    /* channels per block (nChw16c) */
#define CHUNK 256 /* columns transformed at a time */

typedef struct pack_job {
  const dif__conv2d_params *p;
  const float *x;               /* the image [cin, H, W] */
  float *out;                   /* [cblocks, rows, Win, BLK] */
  const dif__norm_affine *norm; /* this image's [cin], or NULL */
  int64_t H, W, Hin, Win;
  int64_t r0, rows; /* (transformed) input rows r0 .. r0 + rows - 1; outside [0, Hin): zeros */
} pack_job;

/* Item (channel block, row): the block's 16 channels of one input row. */
static void pack_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const pack_job *j = arg;
  float t[BLK][CHUNK];
  for (int64_t item = begin; item < end; item++) {
    const int64_t cb = item / j->rows, ir = j->r0 + item % j->rows;
    float *row = j->out + item * j->Win * BLK; /* (cb·rows + r)·Win·BLK */
    const int64_t nc = j->p->cin - cb * BLK < BLK ? j->p->cin - cb * BLK : BLK;
    if (nc < BLK || ir < 0 || ir >= j->Hin) memset(row, 0, (size_t)(j->Win * BLK) * sizeof *row);
    for (int64_t w0 = 0; w0 < j->Win && ir >= 0 && ir < j->Hin; w0 += CHUNK) {
      const int64_t n = j->Win - w0 < CHUNK ? j->Win - w0 : CHUNK;
      for (int64_t q = 0; q < nc; q++)
        dif__conv2d_xform_span(j->p, j->x, j->norm, cb * BLK + q, j->H, j->W, j->Hin, j->Win, ir,
                               w0, n, t[q]);
      dif__k_transpose(t[0], CHUNK, row + w0 * BLK, BLK, n, nc, NULL, false);
    }
  }
}

typedef struct unpack_job {
  const float *in; /* [cblocks, nrows, OW, BLK] */
  float *y;        /* the image [cout, OH, OW] */
  const float *b;
  int64_t cout, OH, OW, oh0, nrows;
  bool acc;
} unpack_job;

/* Item (channel block, row): y's rows of the block's channels (+)= in + b. */
static void unpack_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const unpack_job *j = arg;
  for (int64_t item = begin; item < end; item++) {
    const int64_t cb = item / j->nrows, r = j->oh0 + item % j->nrows;
    const float *in = j->in + item * j->OW * BLK;
    const int64_t nc = j->cout - cb * BLK < BLK ? j->cout - cb * BLK : BLK;
    dif__k_transpose(in, BLK, j->y + (cb * BLK * j->OH + r) * j->OW, j->OH * j->OW, nc, j->OW,
                     j->b ? j->b + cb * BLK : NULL, j->acc);
  }
}

/* Output rows [oh0, oh0 + nrows) of one image through the backend: pack
 * their input rows (one more above and below), convolve, unpack. */
static dif_status one_band(const dif__kctx *k, const dif__conv2d_params *p, const dif__conv *pw,
                           pack_job *pj, float *dst, const float *b, float *yn, int64_t oh0,
                           int64_t nrows, dif__error *err) {
  const int64_t Win = pj->Win;
  const int64_t ib = (p->cin + BLK - 1) / BLK, ob = (p->cout + BLK - 1) / BLK;
  const int64_t grain = Win >= 256 ? 1 : 256 / Win;
  pj->r0 = oh0 - 1, pj->rows = nrows + 2;
  double t0 = DIF__PROF_START();
  dif__pool_for(k->pool, ib * pj->rows, grain, pack_task, pj);
  DIF__PROF_END(DIF__PROF_CONV_PACK, t0, 0);
  t0 = DIF__PROF_START();
  const dif_status st = pw->backend->conv3x3_f32_run(k, pw, 1, nrows, Win, pj->out, dst, err);
  DIF__PROF_END(DIF__PROF_CONV_GEMM, t0,
                2.0 * 9.0 * (double)p->cin * (double)p->cout * (double)(nrows * Win));
  if (st) return st;
  unpack_job uj = {dst, yn, b, p->cout, pj->Hin, Win, oh0, nrows, p->accumulate};
  t0 = DIF__PROF_START();
  dif__pool_for(k->pool, ob * nrows, grain, unpack_task, &uj);
  DIF__PROF_END(DIF__PROF_TRANSPOSE, t0, 0);
  return DIF_OK;
}

/* Output rows per band: the blocked input and output within max_scratch
 * (dif__conv2d's 32 MiB, as its im2col bound; oneDNN's own scratch for the
 * band comes on top, about 2.25× that for F(4,3)), a multiple of 4 (F(4,3)'s
 * output tile), at least 4, at most OH. Bands of 32 rows ran as fast as
 * whole images in oneDNN (Zen 4, the SD VAE's shapes). */
static int64_t band_rows(const dif__conv2d_params *p, int64_t OH, int64_t Win, size_t max_scratch) {
  const int64_t ib = (p->cin + BLK - 1) / BLK, ob = (p->cout + BLK - 1) / BLK;
  const size_t row = (size_t)((ib + ob) * BLK) * (size_t)Win * sizeof(float);
  int64_t band = (int64_t)(max_scratch / row) - 2;
  band -= band % 4;
  if (band < 4) band = 4;
  return band < OH ? band : OH;
}

bool dif__conv2d_wino(const dif__kctx *k, const dif__conv2d_params *p, const float *x, int64_t N,
                      int64_t H, int64_t W, dif__weight w, const float *b, float *y,
                      size_t max_scratch, dif_status *st, dif__error *err) {
  if (!k->wino || x == y || N == 0) return false;
  if (p->kh != 3 || p->kw != 3 || p->stride != 1 || p->pad_top != 1 || p->pad_left != 1 ||
      p->pad_bottom != 1 || p->pad_right != 1)
    return false;
  if (k->wino_max_cc && p->cin * p->cout > k->wino_max_cc) return false;
  const int64_t Hin = p->in_h ? p->in_h : H, Win = p->in_w ? p->in_w : W;
  if (k->wino_skip_small) { /* too small for that backend's Winograd to pay */
    const dif__backend *wb = dif__wino_backend(k->wino);
    if (wb->conv3x3_f32_slow && wb->conv3x3_f32_slow(p->cin, p->cout, Hin, Win)) return false;
  }
  const int64_t band = band_rows(p, Hin, Win, max_scratch);
  const dif__conv *pw;
  dif__error perr = {0};
  if (dif__wino_weight(k->wino, k, w, p->cout, p->cin, band, Win, &pw, &perr)) return false;
  const int64_t ib = (p->cin + BLK - 1) / BLK, ob = (p->cout + BLK - 1) / BLK;
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  float *src = dif__arena_floats(k->arena, (size_t)(ib * BLK * (band + 2)) * (size_t)Win, err);
  float *dst = src ? dif__arena_floats(k->arena, (size_t)(ob * BLK * band) * (size_t)Win, err) : 0;
  *st = src && dst ? DIF_OK : DIF_ERR_OUT_OF_MEMORY;
  if (*st) dif__error_prefix(err, "conv2d (winograd) blocked bands");
  for (int64_t n = 0; n < N && !*st; n++) {
    pack_job pj = {p,   x + n * p->cin * H * W,
                   src, p->in_norm ? p->in_norm + n * p->cin : NULL,
                   H,   W,
                   Hin, Win,
                   0,   0};
    for (int64_t oh0 = 0; oh0 < Hin && !*st; oh0 += band) {
      const int64_t nrows = Hin - oh0 < band ? Hin - oh0 : band;
      dif__error rerr = {0};
      *st = one_band(k, p, pw, &pj, dst, b, y + n * p->cout * Hin * Win, oh0, nrows, &rerr);
      if (*st == DIF_ERR_UNSUPPORTED && n == 0 && oh0 == 0) { /* refused: y is untouched */
        dif__arena_release(k->arena, mark);
        return false;
      }
      if (*st) *err = rerr;
    }
  }
  dif__arena_release(k->arena, mark);
  return true;
}
