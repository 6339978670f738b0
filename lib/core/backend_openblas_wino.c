/* backend_openblas_wino.c — the `openblas` backend's float32 3×3
 * convolutions (conv3x3_f32_*, core/backend.h) by Winograd's F(4×4, 3×3):
 * the transforms are ours, the products OpenBLAS's cblas_sgemm.
 *
 * Each 4×4 block of outputs (a tile) reads a 6×6 block of inputs. With
 * G, Bᵀ, Aᵀ the usual F(4,3) matrices (points 0, ±1, ±2, ∞):
 *   U[ξ][ci][co] = (G g[co][ci] Gᵀ)[ξ]          once, at pack (in double)
 *   V[ξ][t][ci]  = (Bᵀ d[t][ci] B)[ξ]            per tile t
 *   M[ξ][t][co]  = Σ_ci V[ξ][t][ci] · U[ξ][ci][co]  36 cblas_sgemm
 *   y[t][co]     = Aᵀ M[·][t][co] A             the 4×4 outputs
 * for the 36 positions ξ of the 6×6 transform. 36 / 16 = 2.25 products per
 * output against a direct convolution's 9. Channels are padded to
 * multiples of 16 (nChw16c: the transforms handle 16 channels at a time;
 * the padding is zero in U, so the channels past cout come out zero).
 *
 * Tiles run in chunks (scratch V and M within CHUNK_BYTES, at least
 * CHUNK_MIN tiles so each product has that many rows); the transforms of a
 * chunk are split over the kernel context's pool, the products run on
 * OpenBLAS's threads from the calling thread (dif__gemm_op), never inside
 * a pool task. Error against a double reference: float32-class, about that
 * of oneDNN's F(4,3) (tests/unit/test-conv-wino.c, docs/performance.md). */
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/backend.h"
#include "core/backend_openblas_wino.h"
#include "core/ops_internal.h"
#include "core/prof.h"
#include "core/threadpool.h"

#define BLK 16 /* channels per block (nChw16c) */
#define XI 36  /* 6×6 transform positions */
/* Scratch for one chunk's V and M; a chunk has at least CHUNK_MIN tiles
 * (the rows of its 36 products). 512 → 512 channels: ~227 tiles. */
#define CHUNK_BYTES ((size_t)32 << 20)
#define CHUNK_MIN 128

static int64_t test_chunk; /* dif__ob_wino_test_chunk */

void dif__ob_wino_test_chunk(int64_t tiles) { test_chunk = tiles > 0 ? tiles : 0; }

typedef struct ow_conv {
  dif__conv base;
  int64_t cinp, coutp; /* channels rounded up to BLK */
  float *u;            /* [XI][cinp][coutp] */
} ow_conv;

/* ---- pack: U = G g Gᵀ in double, rounded once ---- */

static const double G[6][3] = {{1.0 / 4, 0, 0},
                               {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                               {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                               {1.0 / 24, 1.0 / 12, 1.0 / 6},
                               {1.0 / 24, -1.0 / 12, 1.0 / 6},
                               {0, 0, 1}};

/* U's 36 values for one 3×3 kernel g, at u[ξ · stride]. */
static void weight_xform(const float *g, float *u, size_t stride) {
  double t[6][3];
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 3; j++) t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 6; j++)
      u[(size_t)(i * 6 + j) * stride] =
          (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
}

dif_status dif__ob_conv3x3_pack(dif__weight w, int64_t cout, int64_t cin, int64_t H, int64_t W,
                                dif__conv **out, dif__error *err) {
  (void)H, (void)W; /* one layout for every size */
  if (!out || !w.data || cout < 1 || cin < 1 || cout > (1 << 20) || cin > (1 << 20) ||
      w.numel != cout * cin * 9)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "openblas winograd: bad weight (%lld x %lld x 3 x 3, %lld values)",
                     (long long)cout, (long long)cin, (long long)w.numel);
  *out = NULL;
  const int64_t cinp = (cin + BLK - 1) / BLK * BLK, coutp = (cout + BLK - 1) / BLK * BLK;
  const size_t n = (size_t)XI * (size_t)cinp * (size_t)coutp, nw = (size_t)w.numel;
  ow_conv *c = calloc(1, sizeof *c);
  float *u = c ? calloc(n, sizeof *u) : NULL;
  float *wide = u && w.dtype != DIF__DTYPE_F32 ? malloc(nw * sizeof *wide) : NULL;
  if (!c || !u || (w.dtype != DIF__DTYPE_F32 && !wide)) {
    free(c), free(u), free(wide);
    return dif__fail_oom(err, "a Winograd-transformed weight", n * sizeof *u);
  }
  if (wide) dif__dtype_to_f32(w.dtype, w.data, nw, wide);
  const float *g = wide ? wide : w.data;
  const size_t stride = (size_t)cinp * (size_t)coutp;
  for (int64_t co = 0; co < cout; co++)
    for (int64_t ci = 0; ci < cin; ci++)
      weight_xform(g + (co * cin + ci) * 9, u + ci * coutp + co, stride);
  free(wide);
  c->base = (dif__conv){&dif__backend_openblas, DIF__DTYPE_F32,
                        (dif__conv_geom){cout, cin, 3, 3, 1, 1, 1}, n * sizeof *u};
  c->cinp = cinp, c->coutp = coutp, c->u = u;
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
  float *v, *m;     /* [XI][T][cinp], [XI][T][coutp] */
  int64_t H, W, TY, TX, t0, T;
} run_job;

/* Bᵀ d over 6 vectors of BLK lanes, d[i] at in + i·is, into out + i·os. */
static inline void bt6(const float *in, int64_t is, float *out, int64_t os) {
  for (int l = 0; l < BLK; l++) {
    const float d0 = in[l], d1 = in[is + l], d2 = in[2 * is + l], d3 = in[3 * is + l];
    const float d4 = in[4 * is + l], d5 = in[5 * is + l];
    out[l] = 4.0f * d0 - 5.0f * d2 + d4;
    out[os + l] = -4.0f * (d1 + d2) + (d3 + d4);
    out[2 * os + l] = 4.0f * (d1 - d2) + (d4 - d3);
    out[3 * os + l] = 2.0f * (d3 - d1) + (d4 - d2);
    out[4 * os + l] = 2.0f * (d1 - d3) + (d4 - d2);
    out[5 * os + l] = 4.0f * d1 - 5.0f * d3 + d5;
  }
}

/* Aᵀ m over 6 vectors of BLK lanes into 4. */
static inline void at4(const float *in, int64_t is, float *out, int64_t os) {
  for (int l = 0; l < BLK; l++) {
    const float m0 = in[l], m1 = in[is + l], m2 = in[2 * is + l], m3 = in[3 * is + l];
    const float m4 = in[4 * is + l], m5 = in[5 * is + l];
    const float a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
    out[l] = m0 + a + c;
    out[os + l] = b + 2.0f * d;
    out[2 * os + l] = a + 4.0f * c;
    out[3 * os + l] = b + 8.0f * d + m5;
  }
}

/* Item (tile of the chunk, input channel block): V's 36 vectors. */
static void in_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const run_job *j = arg;
  const int64_t IB = j->c->cinp / BLK, per = j->TY * j->TX;
  float d[XI * BLK], t[XI * BLK], v[XI * BLK];
  for (int64_t item = begin; item < end; item++) {
    const int64_t tl = item / IB, cb = item % IB, tile = j->t0 + tl;
    const int64_t n = tile / per, ty = tile % per / j->TX, tx = tile % j->TX;
    const float *plane = j->src + (n * IB + cb) * (j->H + 2) * j->W * BLK;
    for (int64_t i = 0; i < 6; i++) { /* rows 4ty + i (src rows), columns 4tx - 1 + jj */
      const int64_t r = 4 * ty + i;
      for (int64_t jj = 0; jj < 6; jj++) {
        const int64_t col = 4 * tx - 1 + jj;
        float *o = d + (i * 6 + jj) * BLK;
        if (r < j->H + 2 && col >= 0 && col < j->W)
          memcpy(o, plane + (r * j->W + col) * BLK, BLK * sizeof *o);
        else
          memset(o, 0, BLK * sizeof *o);
      }
    }
    for (int jj = 0; jj < 6; jj++) bt6(d + jj * BLK, 6 * BLK, t + jj * BLK, 6 * BLK);
    for (int i = 0; i < 6; i++) bt6(t + i * 6 * BLK, BLK, v + i * 6 * BLK, BLK);
    const size_t xs = (size_t)j->T * (size_t)j->c->cinp;
    float *o = j->v + tl * j->c->cinp + cb * BLK;
    for (int x = 0; x < XI; x++) memcpy(o + x * xs, v + x * BLK, BLK * sizeof *o);
  }
}

/* Item (tile of the chunk, output channel block): its 4×4 outputs. */
static void out_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const run_job *j = arg;
  const int64_t OB = j->c->coutp / BLK, per = j->TY * j->TX;
  const size_t xs = (size_t)j->T * (size_t)j->c->coutp;
  float m[XI * BLK], t[24 * BLK], y[16 * BLK];
  for (int64_t item = begin; item < end; item++) {
    const int64_t tl = item / OB, ob = item % OB, tile = j->t0 + tl;
    const int64_t n = tile / per, ty = tile % per / j->TX, tx = tile % j->TX;
    const float *in = j->m + tl * j->c->coutp + ob * BLK;
    for (int x = 0; x < XI; x++) memcpy(m + x * BLK, in + x * xs, BLK * sizeof *m);
    for (int jj = 0; jj < 6; jj++) at4(m + jj * BLK, 6 * BLK, t + jj * BLK, 6 * BLK);
    for (int i = 0; i < 4; i++) at4(t + i * 6 * BLK, BLK, y + i * 4 * BLK, BLK);
    float *plane = j->dst + (n * OB + ob) * j->H * j->W * BLK;
    for (int64_t i = 0; i < 4 && 4 * ty + i < j->H; i++)
      for (int64_t jj = 0; jj < 4 && 4 * tx + jj < j->W; jj++)
        memcpy(plane + ((4 * ty + i) * j->W + 4 * tx + jj) * BLK, y + (i * 4 + jj) * BLK,
               BLK * sizeof *y);
  }
}

/* One chunk of tiles [j->t0, j->t0 + j->T): transform, 36 products, back. */
static void run_chunk(const dif__kctx *k, run_job *j) {
  const int64_t cinp = j->c->cinp, coutp = j->c->coutp, T = j->T;
  dif__pool_for(k ? k->pool : NULL, T * (cinp / BLK), 8, in_task, j);
  for (int x = 0; x < XI; x++) /* the caller (conv2d_wino.c) times the whole run */
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
  const int64_t TY = (H + 3) / 4, TX = (W + 3) / 4;
  if (N > DIF__GEMM_DIM_MAX / TY / TX)
    return dif__fail(err, DIF_ERR_LIMIT, "openblas winograd: %lld x %lld x %lld is too large",
                     (long long)N, (long long)H, (long long)W);
  const int64_t tiles = N * TY * TX;
  const size_t per_tile = (size_t)XI * (size_t)(c->cinp + c->coutp) * sizeof(float);
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
  run_job j = {c, src, dst, v, v + (size_t)XI * (size_t)T * (size_t)c->cinp, H, W, TY, TX, 0, T};
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
