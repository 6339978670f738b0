/* shape_ops.c — nearest-neighbour resize, element-wise add, channel
 * concatenation and the channels-first ↔ channels-last transpose. */
#include <math.h>
#include <string.h>

#include "core/kern_simd.h"
#include "core/ops.h"
#include "core/ops_internal.h"

typedef struct upsample_job {
  const float *x;
  float *y;
  int64_t H, W, OH, OW;
} upsample_job;

/* One item is one output row (plane nc, row oh). */
static void upsample_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const upsample_job *j = arg;
  const int64_t W = j->W, OW = j->OW;
  for (int64_t item = begin; item < end; item++) {
    const int64_t nc = item / j->OH, oh = item % j->OH;
    const float *restrict src = j->x + (nc * j->H + dif__nearest_idx(oh, j->H, j->OH)) * W;
    float *restrict dst = j->y + item * OW;
    if (OW == 2 * W) {
      for (int64_t i = 0; i < W; i++) dst[2 * i] = dst[2 * i + 1] = src[i];
    } else if (OW == W) {
      memcpy(dst, src, (size_t)W * sizeof *dst);
    } else {
      for (int64_t ow = 0; ow < OW; ow++) dst[ow] = src[dif__nearest_idx(ow, W, OW)];
    }
  }
}

void dif__upsample_nearest(const dif__kctx *k, const float *x, int64_t NC, int64_t H, int64_t W,
                           int64_t OH, int64_t OW, float *y) {
  if (NC <= 0 || H <= 0 || W <= 0 || OH <= 0 || OW <= 0) return;
  upsample_job j = {x, y, H, W, OH, OW};
  const double t0 = DIF__PROF_START();
  dif__pool_for(dif__kpool(k), NC * OH, OW >= 8192 ? 1 : 8192 / OW, upsample_task, &j);
  DIF__PROF_END(DIF__PROF_UPSAMPLE, t0, 0);
}

typedef struct add_job {
  const float *a, *b;
  float *y;
} add_job;

static void add_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const add_job *j = arg;
  const float *a = j->a, *b = j->b; /* y may alias a or b: no restrict */
  float *y = j->y;
  for (int64_t i = begin; i < end; i++) y[i] = a[i] + b[i];
}

void dif__add(const dif__kctx *k, const float *a, const float *b, int64_t n, float *y) {
  add_job j = {a, b, y};
  const double t0 = DIF__PROF_START();
  dif__pool_for(dif__kpool(k), n, 32768, add_task, &j);
  DIF__PROF_END(DIF__PROF_ELEMENTWISE, t0, 0);
}

void dif__concat_channels(const float *a, int64_t Ca, const float *b, int64_t Cb, int64_t N,
                          int64_t HW, float *y) {
  /* Two memcpys per image: already memory-bound, threads would not help. */
  const double t0 = DIF__PROF_START();
  const size_t na = (size_t)(Ca * HW), nb = (size_t)(Cb * HW);
  for (int64_t n = 0; n < N; n++) {
    float *yn = y + (size_t)n * (na + nb);
    if (na) memcpy(yn, a + (size_t)n * na, na * sizeof *yn);
    if (nb) memcpy(yn + na, b + (size_t)n * nb, nb * sizeof *yn);
  }
  DIF__PROF_END(DIF__PROF_ELEMENTWISE, t0, 0);
}

typedef struct cat_job {
  const float *a, *b;
  float *y;
  int64_t Ca, Cb;
} cat_job;

static void concat_cl_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const cat_job *j = arg;
  for (int64_t p = begin; p < end; p++) {
    float *y = j->y + p * (j->Ca + j->Cb);
    memcpy(y, j->a + p * j->Ca, (size_t)j->Ca * sizeof *y);
    memcpy(y + j->Ca, j->b + p * j->Cb, (size_t)j->Cb * sizeof *y);
  }
}

void dif__concat_channels_cl(const dif__kctx *k, const float *a, int64_t Ca, const float *b,
                             int64_t Cb, int64_t P, float *y) {
  if (P <= 0) return;
  cat_job j = {a, b, y, Ca, Cb};
  const double t0 = DIF__PROF_START();
  dif__pool_for(dif__kpool(k), P, 1 + 8192 / (Ca + Cb + 1), concat_cl_task, &j);
  DIF__PROF_END(DIF__PROF_ELEMENTWISE, t0, 0);
}

#define TR_TILE 64

typedef struct tr_job {
  const float *x;
  float *y;
  int64_t R, C, rt, ct; /* rt × ct tiles per image */
} tr_job;

/* One item is one TR_TILE × TR_TILE tile of one image. */
static void transpose_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const tr_job *j = arg;
  for (int64_t item = begin; item < end; item++) {
    const int64_t n = item / (j->rt * j->ct), t = item % (j->rt * j->ct);
    const int64_t r0 = t / j->ct * TR_TILE, c0 = t % j->ct * TR_TILE;
    const int64_t nr = j->R - r0 < TR_TILE ? j->R - r0 : TR_TILE;
    const int64_t nc = j->C - c0 < TR_TILE ? j->C - c0 : TR_TILE;
    const float *x = j->x + n * j->R * j->C;
    float *y = j->y + n * j->R * j->C;
    /* y[c, r] for c in the tile's columns: rows of y are x's columns */
    dif__k_transpose(x + r0 * j->C + c0, j->C, y + c0 * j->R + r0, j->R, nc, nr, NULL, false);
  }
}

void dif__transpose_batched(const dif__kctx *k, const float *x, int64_t N, int64_t R, int64_t C,
                            float *y) {
  if (N <= 0 || R <= 0 || C <= 0) return;
  tr_job j = {x, y, R, C, (R + TR_TILE - 1) / TR_TILE, (C + TR_TILE - 1) / TR_TILE};
  const double t0 = DIF__PROF_START();
  dif__pool_for(dif__kpool(k), N * j.rt * j.ct, 1, transpose_task, &j);
  DIF__PROF_END(DIF__PROF_TRANSPOSE, t0, 0);
}
