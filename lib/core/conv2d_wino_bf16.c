/* conv2d_wino_bf16.c — fast's 3×3 convolutions (stride 1, zero padding 1
 * all round, channels-last) by Winograd's F(2×2, 3×3) with bf16 products:
 * kctx.wino_bf16_max_cc, set for the denoising networks where the fast
 * backend's bf16 runs on dot-product instructions (AVX512-BF16), not on
 * matrix tiles (api/load.c).
 *
 * Each 2 × 2 block of outputs (a tile) reads a 4 × 4 block of inputs. With
 * F(2,3)'s matrices for the points 0, ±1, ∞ (the openblas backend's,
 * core/wino_xform_impl.h's bt4 / at2; G below):
 *   U[ξ][co][ci] = bf16((G g[co][ci] Gᵀ)[ξ])        once (dif__wino_bf16_make:
 *                                                    in double, then float32,
 *                                                    then bf16)
 *   V[ξ][t][ci]  = bf16((Bᵀ d[t][ci] B)[ξ])         per tile t, from float32 d
 *   M[ξ][t][co]  = Σ_ci V[ξ][t][ci] · U[ξ][co][ci]  16 products, float32 sums
 *                                                    (the backend's linear_bf16)
 *   y[t][co]     = Aᵀ M[·][t][co] A (+ bias, + y)   in float32
 * for the 16 positions ξ: 16 multiplies per 4 outputs against a direct
 * convolution's 36 (2.25× fewer). Error: each V and U is one rounding of a
 * sum of up to 4 inputs or 9 weights, about twice the magnitude of an input
 * or a weight, so about twice a direct bf16 convolution's error
 * (test-conv-wino-bf16 bounds it against a double reference;
 * test-fast-fidelity holds the forward passes to 1.5× PyTorch bf16's
 * distance: docs/fidelity.md).
 *
 * Tiles run in chunks of whole tile rows — of one image, or of several
 * small ones together (a CFG pair) —, so each product has many rows; a
 * chunk's buffers within max_scratch. The input rows a chunk reads go
 * through the input transform (nearest resize, GroupNorm affine, SiLU:
 * float32, as conv2d_fast.c's channels-last pack computes them before its
 * rounding) once, into a float32 stage with the zero padding; the tile
 * transforms read the stage. Transforms on the kernel pool, products on the
 * backend's threads from the calling thread. */
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/backend.h"
#include "core/dtype.h"
#include "core/kern_simd.h"
#include "core/ops.h"
#include "core/ops_internal.h"
#include "core/prof.h"
#include "core/threadpool.h"

#define XI 16        /* transform positions, 4 × 4 */
#define CB 64        /* channels a tile transform takes at a time */
#define MIN_ROWS 128 /* tiles per product at least, whatever max_scratch says */

struct dif__wino_bf16 {
  int64_t cout, cin;
  dif__packed *u[XI]; /* U_ξ [cout, cin], packed for bf16 products */
  size_t bytes;
};

/* F(2,3)'s G (GM) for the points 0, 1, −1 and ∞: G[j][k] = p_j^k / Π_{l≠j}(p_j −
 * p_l), then [0 0 1] — the sign of its first row matching Bᵀ's (d2 − d0)
 * and Aᵀ's columns below, as core/backend_openblas_wino.c's g_matrix. */
static const double GM[4][3] = {
    {-1.0, 0.0, 0.0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0.0, 0.0, 1.0}};

static int64_t test_chunk_rows;

void dif__wino_bf16_test_chunk(int64_t tile_rows) {
  test_chunk_rows = tile_rows > 0 ? tile_rows : 0;
}

void dif__wino_bf16_free(dif__wino_bf16 *c) {
  if (!c) return;
  for (int x = 0; x < XI; x++) dif__packed_free(c->u[x]);
  free(c);
}

size_t dif__wino_bf16_bytes(const dif__wino_bf16 *c) { return c ? c->bytes : 0; }

/* ---- the weight ---- */

typedef struct u_job {
  dif__weight w; /* [cout, cin, 3, 3], F32, F16 or BF16 */
  int64_t cout, cin;
  uint16_t *u; /* [XI][cout][cin] */
} u_job;

#define UB 64 /* input channels the weight transform takes at a time */

/* Item (output channel co): U_ξ[co][ci] for every ξ and ci — G g Gᵀ in
 * double from the weight's exact values, rounded once to float32 and then
 * to bf16 (to nearest even: the bits the backend's rounding of that float32
 * matrix would give). One pass over the weight; UB kernels at a time laid
 * tap-major, so the arithmetic runs across them in vector lanes. */
static void u_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const u_job *j = arg;
  const size_t plane = (size_t)(j->cout * j->cin);
  double g[9][UB], t[4][3][UB];
  for (int64_t co = begin; co < end; co++)
    for (int64_t c0 = 0; c0 < j->cin; c0 += UB) {
      const int64_t n = j->cin - c0 < UB ? j->cin - c0 : UB, at = (co * j->cin + c0) * 9;
      for (int64_t l = 0; l < n; l++)
        for (int e = 0; e < 9; e++) {
          const void *d = j->w.data;
          const int64_t i = at + l * 9 + e;
          g[e][l] = j->w.dtype == DIF__DTYPE_F32   ? ((const float *)d)[i]
                    : j->w.dtype == DIF__DTYPE_F16 ? dif__f16_to_float(((const uint16_t *)d)[i])
                                                   : dif__bf16_to_float(((const uint16_t *)d)[i]);
        }
      for (int i = 0; i < 4; i++) /* G g: rows */
        for (int b = 0; b < 3; b++)
          for (int64_t l = 0; l < n; l++)
            t[i][b][l] = GM[i][0] * g[b][l] + GM[i][1] * g[3 + b][l] + GM[i][2] * g[6 + b][l];
      uint16_t *u = j->u + co * j->cin + c0;
      for (int i = 0; i < 4; i++) /* (G g) Gᵀ: columns */
        for (int k = 0; k < 4; k++) {
          uint16_t *o = u + (size_t)(i * 4 + k) * plane;
          for (int64_t l = 0; l < n; l++)
            o[l] = dif__bf16_rne(
                (float)(t[i][0][l] * GM[k][0] + t[i][1][l] * GM[k][1] + t[i][2][l] * GM[k][2]));
        }
    }
}

dif_status dif__wino_bf16_make(const dif__kctx *kx, const dif__backend *b, dif__weight w,
                               int64_t cout, int64_t cin, dif__wino_bf16 **out, dif__error *err) {
  *out = NULL;
  if (!b || !b->linear_bf16)
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "fast path: the %s backend has no product on bf16 input for Winograd",
                     b ? b->name : "(none)");
  if (!w.data || cout < 1 || cin < 1 || cout > (1 << 20) || cin > (1 << 20) ||
      w.numel != cout * cin * 9 ||
      (w.dtype != DIF__DTYPE_F32 && w.dtype != DIF__DTYPE_F16 && w.dtype != DIF__DTYPE_BF16))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "bf16 winograd: bad weight (%lld x %lld x 3 x 3, %lld values of %s)",
                     (long long)cout, (long long)cin, (long long)w.numel, dif__dtype_name(w.dtype));
  /* the 16 matrices in bf16 (16/9 of the weight's count: what the backend
   * then holds packed), from the arena (its pages reused weight to weight)
   * or the heap */
  dif__arena *arena = kx ? kx->arena : NULL;
  const dif__arena_mark mark = arena ? dif__arena_get_mark(arena) : (dif__arena_mark){0};
  const size_t nu = (size_t)XI * (size_t)(cout * cin);
  dif__wino_bf16 *c = calloc(1, sizeof *c);
  uint16_t *u = NULL;
  if (c) u = arena ? dif__arena_alloc(arena, nu * sizeof *u, NULL) : malloc(nu * sizeof *u);
  dif_status st = DIF_OK;
  if (!c || !u) {
    st = dif__fail_oom(err, "a bf16 Winograd weight's transform", nu * sizeof *u);
  } else {
    u_job j = {w, cout, cin, u};
    const int64_t grain = ((int64_t)1 << 12) / cin; /* kernels per task: at least ~4K */
    dif__pool_for(dif__kpool(kx), cout, grain < 1 ? 1 : grain, u_task, &j);
    for (int x = 0; x < XI && !st; x++) {
      st = dif__backend_pack(b, kx, DIF__DTYPE_BF16, DIF__DTYPE_BF16,
                             u + (size_t)x * (size_t)(cout * cin), cout, cin, 0, &c->u[x], err);
      if (!st) c->bytes += c->u[x]->bytes;
    }
  }
  if (arena)
    dif__arena_release(arena, mark);
  else
    free(u);
  if (st) {
    dif__wino_bf16_free(c);
    return st;
  }
  c->cout = cout, c->cin = cin;
  *out = c;
  return DIF_OK;
}

/* ---- a chunk of tile rows ---- */

typedef struct chunk_job {
  const dif__conv2d_params *p;
  const float *x;   /* [N, H, W, cin] */
  const float *soa; /* [N][4][cin]: hi, lo, a, c of every image's GroupNorm, or NULL */
  int64_t H, W, Hin, Win, TY, TX, SW; /* SW: stage columns, 2·TX + 2 */
  int64_t g0, T;            /* tile rows g0 .. (row g: image g / TY, tile row g % TY); T tiles */
  int64_t n0, nimg;         /* the chunk's images */
  const int64_t *base, *lo; /* per image n0 + i: its first stage row, its first tile row */
  float *stage;             /* [rows][SW][cin] */
  uint16_t *v;              /* [XI][T][cin] */
  float *m;                 /* [XI][T][cout] */
  const float *b;
  float *y; /* [N, Hin, Win, cout] */
} chunk_job;

/* One input pixel's channels through the input transform into o. */
static void pixel(const chunk_job *j, int64_t n, const float *xp, float *o) {
  const int64_t cin = j->p->cin;
  if (j->soa) {
    const float *s = j->soa + n * 4 * cin;
    const float *const norm[4] = {s, s + cin, s + 2 * cin, s + 3 * cin};
    dif__k_affine_vec(xp, cin, norm, o);
    if (j->p->in_silu) dif__k_act_span(DIF__ACT_SILU, o, o, cin);
  } else if (j->p->in_silu) {
    dif__k_act_span(DIF__ACT_SILU, xp, o, cin);
  } else {
    memcpy(o, xp, (size_t)cin * sizeof *o);
  }
}

/* Item (stage row): input row 2·lo − 1 + s of its image, transformed, with
 * a zero column left and zero columns right (to SW); zeros outside the
 * image. */
static void stage_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const chunk_job *j = arg;
  const int64_t cin = j->p->cin;
  for (int64_t sr = begin; sr < end; sr++) {
    int64_t i = 0;
    while (i + 1 < j->nimg && j->base[i + 1] <= sr) i++;
    const int64_t n = j->n0 + i, r = 2 * j->lo[i] - 1 + (sr - j->base[i]);
    float *out = j->stage + sr * j->SW * cin;
    if (r < 0 || r >= j->Hin) {
      memset(out, 0, (size_t)(j->SW * cin) * sizeof *out);
      continue;
    }
    const int64_t srow = j->Hin != j->H ? dif__nearest_idx(r, j->H, j->Hin) : r;
    const float *row = j->x + (n * j->H + srow) * j->W * cin;
    memset(out, 0, (size_t)cin * sizeof *out);
    int64_t prev = -1;
    for (int64_t w = 0; w < j->Win; w++) {
      const int64_t sc = j->Win != j->W ? dif__nearest_idx(w, j->W, j->Win) : w;
      float *o = out + (w + 1) * cin;
      if (sc == prev)
        memcpy(o, o - cin, (size_t)cin * sizeof *o);
      else
        pixel(j, n, row + sc * cin, o);
      prev = sc;
    }
    memset(out + (j->Win + 1) * cin, 0, (size_t)((j->SW - j->Win - 1) * cin) * sizeof *out);
  }
}

/* The tile tl of the chunk: its image (index in the chunk), tile row and column. */
static void tile_at(const chunk_job *j, int64_t tl, int64_t *i, int64_t *ty, int64_t *tx) {
  const int64_t g = j->g0 + tl / j->TX;
  *i = g / j->TY - j->n0, *ty = g % j->TY, *tx = tl % j->TX;
}

/* Item (tile, channel block): V[ξ][tile][c] = bf16((Bᵀ d B)[ξ]). */
static void in_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const chunk_job *j = arg;
  const int64_t cin = j->p->cin, nb = (cin + CB - 1) / CB;
  const size_t xs = (size_t)j->T * (size_t)cin;
  float t[4][4][CB];
  for (int64_t item = begin; item < end; item++) {
    const int64_t tl = item / nb, c0 = item % nb * CB, nc = cin - c0 < CB ? cin - c0 : CB;
    int64_t i, ty, tx;
    tile_at(j, tl, &i, &ty, &tx);
    /* input rows 2·ty − 1 .. 2·ty + 2, columns 2·tx − 1 .. 2·tx + 2 (stage columns + 1) */
    const float *d = j->stage + ((j->base[i] + 2 * (ty - j->lo[i])) * j->SW + 2 * tx) * cin + c0;
    const int64_t rs = j->SW * cin;
    for (int col = 0; col < 4; col++) { /* Bᵀ d: over the rows, per column */
      const float *d0 = d + col * cin, *d1 = d0 + rs, *d2 = d1 + rs, *d3 = d2 + rs;
      for (int64_t l = 0; l < nc; l++) {
        t[0][col][l] = d2[l] - d0[l];
        t[1][col][l] = d1[l] + d2[l];
        t[2][col][l] = d2[l] - d1[l];
        t[3][col][l] = d3[l] - d1[l];
      }
    }
    uint16_t *v = j->v + tl * cin + c0;
    for (int a = 0; a < 4; a++) { /* (Bᵀ d) B: over the columns, per row */
      uint16_t *v0 = v + (size_t)(a * 4) * xs, *v1 = v0 + xs, *v2 = v1 + xs, *v3 = v2 + xs;
      for (int64_t l = 0; l < nc; l++) {
        const float e0 = t[a][0][l], e1 = t[a][1][l], e2 = t[a][2][l], e3 = t[a][3][l];
        v0[l] = dif__bf16_rne(e2 - e0);
        v1[l] = dif__bf16_rne(e1 + e2);
        v2[l] = dif__bf16_rne(e2 - e1);
        v3[l] = dif__bf16_rne(e3 - e1);
      }
    }
  }
}

/* Item (tile, channel block): y's 2 × 2 pixels (inside the image) (+)=
 * Aᵀ M A + bias. */
static void out_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const chunk_job *j = arg;
  const int64_t cout = j->p->cout, nb = (cout + CB - 1) / CB;
  const size_t xs = (size_t)j->T * (size_t)cout;
  float s[2][4][CB], r[2][2][CB];
  for (int64_t item = begin; item < end; item++) {
    const int64_t tl = item / nb, c0 = item % nb * CB, nc = cout - c0 < CB ? cout - c0 : CB;
    int64_t i, ty, tx;
    tile_at(j, tl, &i, &ty, &tx);
    const float *m = j->m + tl * cout + c0;
    for (int col = 0; col < 4; col++) { /* Aᵀ M: over the rows, per column */
      const float *m0 = m + (size_t)col * xs, *m1 = m0 + 4 * xs, *m2 = m1 + 4 * xs,
                  *m3 = m2 + 4 * xs;
      for (int64_t l = 0; l < nc; l++) {
        s[0][col][l] = m0[l] + m1[l] + m2[l];
        s[1][col][l] = m1[l] - m2[l] + m3[l];
      }
    }
    for (int a = 0; a < 2; a++) /* (Aᵀ M) A: over the columns */
      for (int64_t l = 0; l < nc; l++) {
        r[a][0][l] = s[a][0][l] + s[a][1][l] + s[a][2][l];
        r[a][1][l] = s[a][1][l] - s[a][2][l] + s[a][3][l];
      }
    const int64_t n = j->n0 + i;
    for (int a = 0; a < 2 && 2 * ty + a < j->Hin; a++)
      for (int c = 0; c < 2 && 2 * tx + c < j->Win; c++) {
        float *o = j->y + ((n * j->Hin + 2 * ty + a) * j->Win + 2 * tx + c) * cout + c0;
        const float *v = r[a][c];
        if (j->p->accumulate && j->b)
          for (int64_t l = 0; l < nc; l++) o[l] = o[l] + (v[l] + j->b[c0 + l]);
        else if (j->p->accumulate)
          for (int64_t l = 0; l < nc; l++) o[l] += v[l];
        else if (j->b)
          for (int64_t l = 0; l < nc; l++) o[l] = v[l] + j->b[c0 + l];
        else
          memcpy(o, v, (size_t)nc * sizeof *o);
      }
  }
}

/* The tile rows [g0, g0 + rows): stage, transform, 16 products, back. */
static dif_status run_chunk(const dif__kctx *k, const dif__wino_bf16 *wc, chunk_job *j,
                            int64_t rows, int64_t *base, int64_t *lo, dif__error *err) {
  const int64_t cin = j->p->cin, cout = j->p->cout;
  const int64_t g1 = j->g0 + rows;
  j->n0 = j->g0 / j->TY;
  j->nimg = (g1 - 1) / j->TY - j->n0 + 1;
  j->T = rows * j->TX;
  int64_t srows = 0;
  for (int64_t i = 0; i < j->nimg; i++) {
    const int64_t n = j->n0 + i;
    const int64_t a = n * j->TY > j->g0 ? n * j->TY : j->g0;
    const int64_t z = (n + 1) * j->TY < g1 ? (n + 1) * j->TY : g1; /* tile rows [a, z) */
    base[i] = srows, lo[i] = a - n * j->TY;
    srows += 2 * (z - a) + 2;
  }
  double t0 = DIF__PROF_START();
  dif__pool_for(k->pool, srows, 1, stage_task, j);
  const int64_t ib = (cin + CB - 1) / CB, ob = (cout + CB - 1) / CB;
  dif__pool_for(k->pool, j->T * ib, 4, in_task, j);
  DIF__PROF_END(DIF__PROF_CONV_PACK, t0, 0);
  t0 = DIF__PROF_START();
  const dif__backend *b = wc->u[0]->backend;
  for (int x = 0; x < XI; x++) {
    const dif_status st = b->linear_bf16(k, wc->u[x], j->v + (size_t)x * (size_t)(j->T * cin), j->T,
                                         j->m + (size_t)x * (size_t)(j->T * cout), err);
    if (st) return st;
  }
  /* counted as the direct convolution's multiplies, as conv2d_wino.c's */
  DIF__PROF_END(DIF__PROF_CONV_GEMM, t0,
                2.0 * 9.0 * (double)cin * (double)cout * 4.0 * (double)j->T);
  t0 = DIF__PROF_START();
  dif__pool_for(k->pool, j->T * ob, 4, out_task, j);
  DIF__PROF_END(DIF__PROF_TRANSPOSE, t0, 0);
  return DIF_OK;
}

bool dif__conv2d_wino_bf16(const dif__kctx *k, const dif__conv2d_params *p, const float *x,
                           int64_t N, int64_t H, int64_t W, dif__weight w, const float *b, float *y,
                           size_t max_scratch, dif_status *st, dif__error *err) {
  if (!k->fast || !k->wino_bf16_max_cc || !p->channels_last || x == y || N == 0) return false;
  if (p->kh != 3 || p->kw != 3 || p->stride != 1 || p->pad_top != 1 || p->pad_left != 1 ||
      p->pad_bottom != 1 || p->pad_right != 1 || p->cin * p->cout > k->wino_bf16_max_cc)
    return false;
  const dif__wino_bf16 *wc;
  dif__error werr = {0};
  if (dif__fast_wino_bf16_weight(k->fast, k, w, p->cout, p->cin, &wc, &werr)) {
    if (werr.status != DIF_ERR_UNSUPPORTED) dif__fast_note_fallback(k->fast, &werr);
    return false; /* conv2d_fast.c's direct convolution, then */
  }
  const int64_t cin = p->cin, cout = p->cout;
  chunk_job j = {.p = p, .x = x, .b = b, .y = y, .H = H, .W = W};
  j.Hin = p->in_h ? p->in_h : H, j.Win = p->in_w ? p->in_w : W;
  j.TY = (j.Hin + 1) / 2, j.TX = (j.Win + 1) / 2, j.SW = 2 * j.TX + 2;
  /* tile rows per chunk: V, M and two stage rows per tile row within
   * max_scratch, at least MIN_ROWS tiles */
  const size_t per_row = (size_t)j.TX * XI * (size_t)(2 * cin + 4 * cout) +
                         2 * (size_t)j.SW * (size_t)cin * sizeof(float);
  const int64_t G = N * j.TY;
  int64_t R = (int64_t)(max_scratch / per_row);
  if (R * j.TX < MIN_ROWS) R = (MIN_ROWS + j.TX - 1) / j.TX;
  if (test_chunk_rows) R = test_chunk_rows;
  if (R > G) R = G;
  const int64_t nimg_max = (R + j.TY - 1) / j.TY + 1 < N ? (R + j.TY - 1) / j.TY + 1 : N;
  const size_t stage_rows = (size_t)(2 * R + 2 * nimg_max);
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  j.stage = dif__arena_floats(k->arena, stage_rows * (size_t)(j.SW * cin), err);
  j.v =
      j.stage ? dif__arena_alloc(k->arena, (size_t)(XI * R * j.TX * cin) * sizeof *j.v, err) : NULL;
  j.m = j.v ? dif__arena_floats(k->arena, (size_t)(XI * R * j.TX * cout), err) : NULL;
  int64_t *idx = j.m ? dif__arena_alloc(k->arena, (size_t)(2 * nimg_max) * sizeof *idx, err) : NULL;
  if (!idx) {
    dif__arena_release(k->arena, mark);
    dif__error_prefix(err, "conv2d (bf16 winograd) chunk buffers");
    *st = DIF_ERR_OUT_OF_MEMORY;
    return true;
  }
  float *soa = NULL;
  if (p->in_norm && (soa = dif__arena_floats(k->arena, (size_t)(N * 4 * cin), err)))
    for (int64_t n = 0; n < N; n++)
      for (int64_t c = 0; c < cin; c++) {
        const dif__norm_affine *na = &p->in_norm[n * cin + c];
        float *o = soa + n * 4 * cin + c;
        o[0] = na->hi, o[cin] = na->lo, o[2 * cin] = na->a, o[3 * cin] = na->c;
      }
  *st = p->in_norm && !soa ? DIF_ERR_OUT_OF_MEMORY : DIF_OK;
  if (*st) dif__error_prefix(err, "conv2d (bf16 winograd) GroupNorm parameters");
  j.soa = soa, j.base = idx, j.lo = idx + nimg_max;
  for (int64_t g0 = 0; g0 < G && !*st; g0 += R) {
    j.g0 = g0;
    *st = run_chunk(k, wc, &j, G - g0 < R ? G - g0 : R, idx, idx + nimg_max, err);
  }
  dif__arena_release(k->arena, mark);
  return true;
}
