/* backend_openblas_wino.c — the `openblas` backend's float32 3×3
 * convolutions (conv3x3_f32_*, core/backend.h) by Winograd's F(m×m, 3×3),
 * m = 4 (many channels) or 2 (few; F43_MIN_CHANNELS): the transforms are
 * ours, the products OpenBLAS's cblas_sgemm.
 *
 * Each m × m block of outputs (a tile) reads an n × n block of inputs,
 * n = m + 2. With G, Bᵀ, Aᵀ F(m,3)'s matrices (points: PTS43, PTS23):
 *   U[ξ][ci][co] = (G g[co][ci] Gᵀ)[ξ]            once, at pack (in double)
 *   V[ξ][t][ci]  = (Bᵀ d[t][ci] B)[ξ]              per tile t
 *   M[ξ][t][co]  = Σ_ci V[ξ][t][ci] · U[ξ][ci][co]  n² cblas_sgemm
 *   y[t][co]     = Aᵀ M[·][t][co] A               the m × m outputs
 * for the n² positions ξ of the transform: 36 / 16 = 2.25 products per
 * output for F(4,3), 16 / 4 = 4 for F(2,3), against a direct
 * convolution's 9. Channels are padded to multiples of 16 (nChw16c: the
 * transforms handle 16 channels at a time; the padding is zero in U, so
 * the channels past cout come out zero).
 *
 * Tiles run in chunks (scratch V and M within CHUNK_BYTES, at least
 * CHUNK_MIN tiles so each product has that many rows); the transforms of a
 * chunk are split over the kernel context's pool, the products run on
 * OpenBLAS's threads from the calling thread (dif__gemm_op), never inside
 * a pool task. Error against a double reference: float32-class, about that
 * of oneDNN's Winograd (tests/unit/test-conv-wino.c, docs/performance.md). */
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/backend.h"
#include "core/backend_openblas_wino.h"
#include "core/kern_simd.h"
#include "core/ops_internal.h"
#include "core/prof.h"
#include "core/threadpool.h"

#define BLK 16 /* channels per block (nChw16c) */
#define XI 36  /* at most 6×6 transform positions */
/* Scratch for one chunk's V and M; a chunk has at least CHUNK_MIN tiles
 * (the rows of its 36 products). 512 → 512 channels: ~227 tiles. */
#define CHUNK_BYTES ((size_t)32 << 20)
#define CHUNK_MIN 128

static int64_t test_chunk; /* dif__ob_wino_test_chunk */

void dif__ob_wino_test_chunk(int64_t tiles) { test_chunk = tiles > 0 ? tiles : 0; }

typedef struct ow_conv {
  dif__conv base;
  int m, n;            /* F(m×m, 3×3): tiles of m × m outputs from n × n inputs, n = m + 2 */
  int64_t cinp, coutp; /* channels rounded up to BLK */
  float *u;            /* [n²][cinp][coutp] */
} ow_conv;

/* ---- pack: U = G g Gᵀ in double, rounded once ---- */

/* The interpolation points (with ∞). F(4,3): 0, ±5/8, ±3/2, oneDNN's
 * (its constants 0.87890625 = (5/8·3/2)², 2.640625 = (5/8)² + (3/2)², ...):
 * against 0, ±1, ±2 (the textbook's, entries of Aᵀ up to 8) they keep the
 * transforms' magnitudes near 1, about 2.3× less float32 error (a model of
 * the roundings, 256 input channels: relative L2 1.4e-6 against 3.2e-6).
 * F(2,3): 0, ±1. Every constant of Bᵀ and Aᵀ is a short binary fraction,
 * exact in float32. */
static const double PTS43[5] = {0.0, 0.625, -0.625, 1.5, -1.5}; /* Bᵀ, Aᵀ: wino_xform_impl.h */
static const double PTS23[3] = {0.0, 1.0, -1.0};

/* F(4,3) where cin · cout reaches this, else F(2,3) — oneDNN's choice too
 * (its 2x3 kernel on few channels: every convolution of the golden tiny
 * models; its 4x3 on the SD VAE's 128..512 channels): F(4,3)'s 2.25
 * products per output against F(2,3)'s 4 pay where the products dominate,
 * and F(2,3)'s error is about half (the golden tolerances, met by oneDNN's
 * 2x3 there, need it: F(4,3) missed 3 of 84 checks by ≤ 19%). */
#define F43_MIN_CHANNELS (64 * 128)

/* conv3x3_f32_slow: an F(4,3) convolution with one tile per image (an
 * output of 4 × 4 or less), or with at most 4 tiles (8 × 8, 16 × 4, ...) and cin · cout
 * above 256 × 256. Each image is transformed alone, and its few tiles read
 * the whole transformed weight (36 · cin · cout floats, 4× the 3×3 weight)
 * where one im2col product over the batch reads the weight once. Measured
 * on Zen 3 (2 threads, a CFG pair; docs/performance.md), Winograd's time
 * over im2col + sgemm's: one tile 1.12 (64 → 128 at 4²) and 1.34–1.45
 * (128 → 128); four tiles 1.62 (320 → 320 at 8²), 1.84 (640 → 640), 1.90
 * (1920 → 640), but 0.53–0.93 up to 256 → 256; nine tiles or more
 * 0.44–0.88. F(2,3) (few channels) was the faster at every size, 4² too
 * (0.27–0.98). */
bool dif__ob_conv3x3_slow(int64_t cin, int64_t cout, int64_t OH, int64_t OW) {
  const int64_t cc = cin * cout, tiles = (OH + 3) / 4 * ((OW + 3) / 4);
  if (cc < F43_MIN_CHANNELS) return false;
  return tiles <= 1 || (tiles <= 4 && cc > 256 * 256);
}

/* G[j][k] = p_j^k / Π_{l≠j} (p_j − p_l) for the np finite points p, then
 * [0 0 1] for ∞. */
static void g_matrix(const double *p, int np, double G[][3]) {
  for (int j = 0; j < np; j++) {
    double f = 1.0;
    for (int l = 0; l < np; l++)
      if (l != j) f *= p[j] - p[l];
    G[j][0] = 1.0 / f, G[j][1] = p[j] / f, G[j][2] = p[j] * p[j] / f;
  }
  G[np][0] = G[np][1] = 0.0, G[np][2] = 1.0;
}

/* The transform takes XF_CO output channels at a time, in lanes, so each
 * of U's n² planes is written XF_CO values at a time, in order of co. */
#define XF_CO 16

typedef struct pack_job {
  const float *g; /* [cout, cin, 3, 3] */
  int64_t cout, cin, coutp;
  int n;
  double G[6][3];
  float *u; /* [n²][cinp][coutp] */
  size_t stride;
} pack_job;

/* Item (input channel ci): U[ξ][ci][co] = (G g[co][ci] Gᵀ)[ξ] for every
 * co, each value in double and rounded once: per kernel the sums in the
 * order written below, whatever the lanes (the values depend neither on
 * the threads nor on XF_CO). Only co < cout is written: U's padding stays
 * the zeros calloc gave it. */
static void pack_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const pack_job *j = arg;
  const int n = j->n;
  double g[9][XF_CO] = {{0}}, t[6][3][XF_CO];
  for (int64_t ci = begin; ci < end; ci++)
    for (int64_t co0 = 0; co0 < j->cout; co0 += XF_CO) {
      const int nc = j->cout - co0 < XF_CO ? (int)(j->cout - co0) : XF_CO;
      for (int c = 0; c < nc; c++)
        for (int e = 0; e < 9; e++) g[e][c] = j->g[((co0 + c) * j->cin + ci) * 9 + e];
      for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
          for (int c = 0; c < XF_CO; c++)
            t[i][k][c] = j->G[i][0] * g[k][c] + j->G[i][1] * g[3 + k][c] + j->G[i][2] * g[6 + k][c];
      float *u = j->u + ci * j->coutp + co0;
      for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
          float *o = u + (size_t)(i * n + k) * j->stride;
          for (int c = 0; c < nc; c++)
            o[c] = (float)(t[i][0][c] * j->G[k][0] + t[i][1][c] * j->G[k][1] +
                           t[i][2][c] * j->G[k][2]);
        }
    }
}

dif_status dif__ob_conv3x3_pack(const dif__kctx *kx, dif__weight w, int64_t cout, int64_t cin,
                                int64_t H, int64_t W, dif__conv **out, dif__error *err) {
  (void)H, (void)W; /* one layout for every size */
  if (!out || !w.data || cout < 1 || cin < 1 || cout > (1 << 20) || cin > (1 << 20) ||
      w.numel != cout * cin * 9)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "openblas winograd: bad weight (%lld x %lld x 3 x 3, %lld values)",
                     (long long)cout, (long long)cin, (long long)w.numel);
  *out = NULL;
  const int m = cin * cout >= F43_MIN_CHANNELS ? 4 : 2, n = m + 2;
  const int64_t cinp = (cin + BLK - 1) / BLK * BLK, coutp = (cout + BLK - 1) / BLK * BLK;
  const size_t nu = (size_t)(n * n) * (size_t)cinp * (size_t)coutp, nw = (size_t)w.numel;
  ow_conv *c = calloc(1, sizeof *c);
  float *u = c ? calloc(nu, sizeof *u) : NULL;
  /* a 16-bit weight widened first, on the pool, into scratch from the
   * arena (its pages reused weight to weight), else the heap */
  dif__arena *arena = kx ? kx->arena : NULL;
  const dif__arena_mark mark = arena ? dif__arena_get_mark(arena) : (dif__arena_mark){0};
  float *wide = NULL;
  if (u && w.dtype != DIF__DTYPE_F32)
    wide = arena ? dif__arena_floats(arena, nw, NULL) : malloc(nw * sizeof *wide);
  if (!c || !u || (w.dtype != DIF__DTYPE_F32 && !wide)) {
    free(c), free(u);
    if (arena) dif__arena_release(arena, mark);
    return dif__fail_oom(err, "a Winograd-transformed weight", nu * sizeof *u);
  }
  if (wide) dif__weight_tile_f32(dif__kpool(kx), w, cin * 9, 0, cout, 0, cin * 9, wide);
  pack_job j = {wide ? wide : w.data, cout, cin, coutp, n, {{0}}, u, (size_t)cinp * (size_t)coutp};
  g_matrix(m == 4 ? PTS43 : PTS23, n - 1, j.G);
  /* over the pool: the UNet's first step waited for this (Zen 3, four of
   * its shapes: 642 ms one kernel at a time, 238 ms so on two threads;
   * docs/performance.md) */
  const int64_t grain = ((int64_t)1 << 14) / cout; /* kernels per task: at least ~16K */
  dif__pool_for(dif__kpool(kx), cin, grain < 1 ? 1 : grain, pack_task, &j);
  if (arena)
    dif__arena_release(arena, mark);
  else
    free(wide);
  c->base = (dif__conv){&dif__backend_openblas, DIF__DTYPE_F32,
                        (dif__conv_geom){cout, cin, 3, 3, 1, 1, 1}, nu * sizeof *u};
  c->m = m, c->n = n, c->cinp = cinp, c->coutp = coutp, c->u = u;
  *out = &c->base;
  return DIF_OK;
}

void dif__ob_conv_free(dif__conv *w) {
  ow_conv *c = (ow_conv *)w;
  free(c->u);
  free(c);
}

/* ---- run ---- */

typedef struct run_job {
  const ow_conv *c;
  const float *src; /* [N, IB, H + 2, W, BLK] */
  float *dst;       /* [N, OB, H, W, BLK] */
  float *v, *m;     /* [n²][T][cinp], [n²][T][coutp] */
  int64_t H, W, TY, TX, t0, T;
  bool avx2; /* the transforms' AVX2 + FMA build */
} run_job;

/* The transforms (core/wino_xform_impl.h): this build, and the AVX2 + FMA
 * one (core/wino_xform_avx2.c) where kern_simd.h picked it. */
#define DIF__WX(name) name##_base
#define DIF__WX_LINKAGE static
#include "core/wino_xform_impl.h"

static void in_xform(bool avx2, int n, const float *d, float *v) {
#if defined(DIF_HAVE_AVX2_KERNELS)
  if (avx2) {
    dif__ob_wino_in_xform_avx2(n, d, v);
    return;
  }
#endif
  (void)avx2;
  in_xform_base(n, d, v);
}

static void out_xform(bool avx2, int n, const float *mv, float *y) {
#if defined(DIF_HAVE_AVX2_KERNELS)
  if (avx2) {
    dif__ob_wino_out_xform_avx2(n, mv, y);
    return;
  }
#endif
  (void)avx2;
  out_xform_base(n, mv, y);
}

/* Item (tile of the chunk, input channel block): V's n² vectors. */
static void in_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const run_job *j = arg;
  const int m = j->c->m, n = j->c->n;
  const int64_t IB = j->c->cinp / BLK, per = j->TY * j->TX;
  const size_t xs = (size_t)j->T * (size_t)j->c->cinp;
  float d[XI * BLK], v[XI * BLK];
  for (int64_t item = begin; item < end; item++) {
    const int64_t tl = item / IB, cb = item % IB, tile = j->t0 + tl;
    const int64_t b = tile / per, ty = tile % per / j->TX, tx = tile % j->TX;
    const float *plane = j->src + (b * IB + cb) * (j->H + 2) * j->W * BLK;
    for (int i = 0; i < n; i++) { /* src rows m·ty + i, columns m·tx − 1 + jj */
      const int64_t r = m * ty + i;
      for (int jj = 0; jj < n; jj++) {
        const int64_t col = m * tx - 1 + jj;
        float *o = d + (i * n + jj) * BLK;
        if (r < j->H + 2 && col >= 0 && col < j->W)
          memcpy(o, plane + (r * j->W + col) * BLK, BLK * sizeof *o);
        else
          memset(o, 0, BLK * sizeof *o);
      }
    }
    in_xform(j->avx2, n, d, v);
    float *o = j->v + tl * j->c->cinp + cb * BLK;
    for (int x = 0; x < n * n; x++) memcpy(o + x * xs, v + x * BLK, BLK * sizeof *o);
  }
}

/* Item (tile of the chunk, output channel block): its m × m outputs. */
static void out_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const run_job *j = arg;
  const int m = j->c->m, n = j->c->n;
  const int64_t OB = j->c->coutp / BLK, per = j->TY * j->TX;
  const size_t xs = (size_t)j->T * (size_t)j->c->coutp;
  float mv[XI * BLK], y[16 * BLK];
  for (int64_t item = begin; item < end; item++) {
    const int64_t tl = item / OB, ob = item % OB, tile = j->t0 + tl;
    const int64_t b = tile / per, ty = tile % per / j->TX, tx = tile % j->TX;
    const float *in = j->m + tl * j->c->coutp + ob * BLK;
    for (int x = 0; x < n * n; x++) memcpy(mv + x * BLK, in + x * xs, BLK * sizeof *mv);
    out_xform(j->avx2, n, mv, y);
    float *plane = j->dst + (b * OB + ob) * j->H * j->W * BLK;
    for (int64_t i = 0; i < m && m * ty + i < j->H; i++)
      for (int64_t jj = 0; jj < m && m * tx + jj < j->W; jj++)
        memcpy(plane + ((m * ty + i) * j->W + m * tx + jj) * BLK, y + (i * m + jj) * BLK,
               BLK * sizeof *y);
  }
}

/* One chunk of tiles [j->t0, j->t0 + j->T): transform, n² products, back. */
static void run_chunk(const dif__kctx *k, run_job *j) {
  const int64_t cinp = j->c->cinp, coutp = j->c->coutp, T = j->T;
  dif__pool_for(k ? k->pool : NULL, T * (cinp / BLK), 8, in_task, j);
  for (int x = 0; x < j->c->n * j->c->n; x++) /* the caller (conv2d_wino.c) times the run */
    dif__gemm_op(DIF__PROF_OP_COUNT, false, false, T, coutp, cinp, 1.0f, j->v + x * T * cinp, cinp,
                 j->c->u + x * cinp * coutp, coutp, 0.0f, j->m + x * T * coutp, coutp);
  dif__pool_for(k ? k->pool : NULL, T * (coutp / BLK), 8, out_task, j);
}

dif_status dif__ob_conv3x3_run(const dif__kctx *k, const dif__conv *w, int64_t N, int64_t H,
                               int64_t W, const float *src, float *dst, dif__error *err) {
  if (!w || w->backend != &dif__backend_openblas || w->math != DIF__DTYPE_F32 || !src || !dst ||
      N < 1 || H < 1 || W < 1)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "openblas winograd: bad arguments");
  const ow_conv *c = (const ow_conv *)w;
  const int64_t TY = (H + c->m - 1) / c->m, TX = (W + c->m - 1) / c->m;
  if (N > DIF__GEMM_DIM_MAX / TY / TX)
    return dif__fail(err, DIF_ERR_LIMIT, "openblas winograd: %lld x %lld x %lld is too large",
                     (long long)N, (long long)H, (long long)W);
  const int64_t tiles = N * TY * TX;
  const size_t nn = (size_t)(c->n * c->n);
  const size_t per_tile = nn * (size_t)(c->cinp + c->coutp) * sizeof(float);
  int64_t T = (int64_t)(CHUNK_BYTES / per_tile);
  if (T < CHUNK_MIN) T = CHUNK_MIN;
  const int64_t chunks = (tiles + T - 1) / T;
  T = (tiles + chunks - 1) / chunks; /* chunks of (nearly) equal size */
  if (test_chunk) T = test_chunk < tiles ? test_chunk : tiles;
  const size_t bytes = (size_t)T * per_tile;
  dif__arena_mark mark = {0};
  float *v;
  if (k && k->arena) {
    mark = dif__arena_get_mark(k->arena);
    v = dif__arena_alloc(k->arena, bytes, err);
  } else {
    v = malloc(bytes);
    if (!v) dif__fail_oom(err, "openblas winograd scratch", bytes);
  }
  if (!v) return DIF_ERR_OUT_OF_MEMORY;
  run_job j = {c,
               src,
               dst,
               v,
               v + nn * (size_t)T * (size_t)c->cinp,
               H,
               W,
               TY,
               TX,
               0,
               T,
               dif__simd_level() > 0};
  for (int64_t t0 = 0; t0 < tiles; t0 += T) {
    j.t0 = t0;
    j.T = tiles - t0 < T ? tiles - t0 : T;
    run_chunk(k, &j);
  }
  if (k && k->arena)
    dif__arena_release(k->arena, mark);
  else
    free(v);
  return DIF_OK;
}
