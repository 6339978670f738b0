/* norm.c — GroupNorm and LayerNorm with PyTorch semantics (biased variance,
 * y = (x - mean) / sqrt(var + eps) · gamma + beta).
 *
 * Statistics are two-pass sums in double: activations with a large mean
 * (VAE features reach |mean| ≫ std) would lose the variance to cancellation
 * with float sums or with E[x²] - E[x]². The output is computed as
 * (x - mean) · a + beta rather than x · a + b for the same reason. Both
 * kernels may run in place: each group/row is read fully before it is
 * written, and one task owns a whole group/row.
 *
 * The mean is carried as a float pair hi + lo: x - hi is exact when x is
 * near the mean (Sterbenz), and subtracting lo afterwards keeps the part of
 * the double mean that one float would round away — with |mean| = 1000 and
 * std ≈ 1 that rounding alone would be a 3e-5 bias in every output.
 */
#include <math.h>

#include "core/kern_simd.h"
#include "core/ops.h"
#include "core/ops_internal.h"

/* Eight independent partial sums: an unrolled form the SLP vectoriser turns
 * into SIMD without -ffast-math, and more accurate than one long chain. */
#define LANES 8

static double sum_d(const float *x, int64_t n) {
  double acc[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += (double)x[i + l];
  double s = 0;
  for (; i < n; i++) s += (double)x[i];
  for (int l = 0; l < LANES; l++) s += acc[l];
  return s;
}

static double sum_sq_dev_d(const float *x, int64_t n, double mean) {
  double acc[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) {
      double d = (double)x[i + l] - mean;
      acc[l] += d * d;
    }
  double s = 0;
  for (; i < n; i++) {
    double d = (double)x[i] - mean;
    s += d * d;
  }
  for (int l = 0; l < LANES; l++) s += acc[l];
  return s;
}

typedef struct moments {
  float hi, lo; /* mean = hi + lo */
  float rstd;   /* 1/sqrt(var + eps) */
} moments;

static moments make_moments(double m, double var, float eps) {
  moments r;
  r.hi = (float)m;
  r.lo = (float)(m - (double)r.hi);
  r.rstd = (float)(1.0 / sqrt(var + (double)eps));
  return r;
}

static moments compute_moments(const float *x, int64_t n, float eps) {
  double m = sum_d(x, n) / (double)n;
  return make_moments(m, sum_sq_dev_d(x, n, m) / (double)n, eps);
}

/* y[i] = (x[i] - mean) · a + c; x and y may be equal (no restrict). */
static void affine(const float *x, float *y, int64_t n, moments m, float a, float c) {
  for (int64_t i = 0; i < n; i++) y[i] = ((x[i] - m.hi) - m.lo) * a + c;
}

typedef struct gn_job {
  const float *x;
  float *y;
  int64_t C, HW, groups;
  float eps;
  const float *gamma, *beta;
  bool silu;
} gn_job;

/* One item is one (image, group): cg channels × HW contiguous floats. */
static void group_norm_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const gn_job *j = arg;
  const int64_t cg = j->C / j->groups, len = cg * j->HW;
  for (int64_t item = begin; item < end; item++) {
    const int64_t g = item % j->groups;
    const float *x = j->x + item * len;
    float *y = j->y + item * len;
    const moments m = compute_moments(x, len, j->eps);
    for (int64_t ci = 0; ci < cg; ci++) {
      const int64_t c = g * cg + ci;
      const float a = j->gamma ? m.rstd * j->gamma[c] : m.rstd;
      const float bc = j->beta ? j->beta[c] : 0.0f;
      dif__k_affine_span(x + ci * j->HW, y + ci * j->HW, j->HW, m.hi, m.lo, a, bc, j->silu);
    }
  }
}

static void group_norm(const dif__kctx *k, const float *x, int64_t N, int64_t C, int64_t HW,
                       int64_t groups, float eps, const float *gamma, const float *beta, float *y,
                       bool silu) {
  /* Preconditions (void kernel, checked by the model loader): groups divides
   * C. A degenerate call does nothing rather than divide by zero. */
  if (N <= 0 || C <= 0 || HW <= 0 || groups <= 0 || C % groups != 0) return;
  gn_job j = {x, y, C, HW, groups, eps, gamma, beta, silu};
  const double t0 = DIF__PROF_START();
  dif__pool_for(dif__kpool(k), N * groups, 1, group_norm_task, &j);
  DIF__PROF_END(DIF__PROF_GROUP_NORM, t0, 0);
}

typedef struct gnp_job {
  const float *x;
  int64_t C, HW, groups;
  float eps;
  const float *gamma, *beta;
  dif__norm_affine *out;
} gnp_job;

static void group_norm_params_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const gnp_job *j = arg;
  const int64_t cg = j->C / j->groups, len = cg * j->HW;
  for (int64_t item = begin; item < end; item++) {
    const int64_t n = item / j->groups, g = item % j->groups;
    const moments m = compute_moments(j->x + item * len, len, j->eps);
    for (int64_t ci = 0; ci < cg; ci++) {
      const int64_t c = g * cg + ci;
      dif__norm_affine *o = &j->out[n * j->C + c];
      o->hi = m.hi;
      o->lo = m.lo;
      o->a = j->gamma ? m.rstd * j->gamma[c] : m.rstd;
      o->c = j->beta ? j->beta[c] : 0.0f;
    }
  }
}

void dif__group_norm_params(const dif__kctx *k, const float *x, int64_t N, int64_t C, int64_t HW,
                            int64_t groups, float eps, const float *gamma, const float *beta,
                            dif__norm_affine *out) {
  if (N <= 0 || C <= 0 || HW <= 0 || groups <= 0 || C % groups != 0) return;
  gnp_job j = {x, C, HW, groups, eps, gamma, beta, out};
  const double t0 = DIF__PROF_START();
  dif__pool_for(dif__kpool(k), N * groups, 1, group_norm_params_task, &j);
  DIF__PROF_END(DIF__PROF_GROUP_NORM, t0, 0);
}

/* ---- channels-last GroupNorm: x[N, HW, C] ----
 * A group's channels are interleaved with the others' in every pixel, so
 * the sums run per channel over chunks of pixels (one task each, all
 * channels of a pixel read together) into double partials, reduced per
 * group afterwards, in one pass: per channel c the sums of d = x − s_c and
 * d² with s_c the channel's value at the image's first pixel (a shift near
 * the channel's mean, so d² does not swamp the variance as E[x²] − E[x]²
 * would); the group's squared deviations from its mean m are then
 * Σ_c Σd² − 2(m − s_c)·Σd + HW·(m − s_c)², in double. */

#define CL_CHUNKS 32 /* pixel chunks per image */

typedef struct gncl_job {
  const float *x;
  int64_t C, HW, chunk;
  double *part; /* [N·CL_CHUNKS][2][C]: Σd, then Σd² */
} gncl_job;

static void gn_cl_sums_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const gncl_job *j = arg;
  const int64_t C = j->C;
  for (int64_t item = begin; item < end; item++) {
    const int64_t n = item / CL_CHUNKS, p0 = item % CL_CHUNKS * j->chunk;
    const int64_t p1 = p0 + j->chunk < j->HW ? p0 + j->chunk : j->HW;
    double *restrict s1 = j->part + item * 2 * C, *restrict s2 = s1 + C;
    const float *restrict shift = j->x + n * j->HW * C; /* the image's first pixel */
    for (int64_t c = 0; c < C; c++) s1[c] = s2[c] = 0.0;
    if (p1 > p0) dif__k_shifted_sums(j->x + (n * j->HW + p0) * C, p1 - p0, C, shift, s1, s2);
  }
}

dif_status dif__group_norm_params_cl(const dif__kctx *k, const float *x, int64_t N, int64_t C,
                                     int64_t HW, int64_t groups, float eps, const float *gamma,
                                     const float *beta, dif__norm_affine *out, dif__error *err) {
  if (N <= 0 || C <= 0 || HW <= 0 || groups <= 0 || C % groups != 0) return DIF_OK;
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  double *part = dif__arena_alloc(k->arena, (size_t)(N * CL_CHUNKS * 2 * C) * sizeof *part, err);
  if (!part) {
    dif__arena_release(k->arena, mark);
    dif__error_prefix(err, "GroupNorm (channels-last) partial sums");
    return DIF_ERR_OUT_OF_MEMORY;
  }
  const double t0 = DIF__PROF_START();
  const int64_t cg = C / groups;
  gncl_job j = {x, C, HW, (HW + CL_CHUNKS - 1) / CL_CHUNKS, part};
  dif__pool_for(dif__kpool(k), N * CL_CHUNKS, 1, gn_cl_sums_task, &j);
  for (int64_t n = 0; n < N; n++) {
    const float *shift = x + n * HW * C;
    /* each channel's Σd and Σd² over the chunks, into the first chunk's */
    double *s1 = part + n * CL_CHUNKS * 2 * C, *s2 = s1 + C;
    for (int64_t ch = 1; ch < CL_CHUNKS; ch++)
      for (int64_t c = 0; c < C; c++) {
        s1[c] += part[(n * CL_CHUNKS + ch) * 2 * C + c];
        s2[c] += part[(n * CL_CHUNKS + ch) * 2 * C + C + c];
      }
    for (int64_t g = 0; g < groups; g++) {
      double sum = 0, sq = 0;
      for (int64_t c = g * cg; c < (g + 1) * cg; c++) sum += (double)shift[c] * (double)HW + s1[c];
      const double m = sum / (double)(cg * HW);
      for (int64_t c = g * cg; c < (g + 1) * cg; c++) {
        const double e = m - (double)shift[c];
        sq += s2[c] - 2.0 * e * s1[c] + (double)HW * e * e;
      }
      const moments mo = make_moments(m, (sq > 0 ? sq : 0) / (double)(cg * HW), eps);
      for (int64_t c = g * cg; c < (g + 1) * cg; c++) {
        dif__norm_affine *o = &out[n * C + c];
        o->hi = mo.hi;
        o->lo = mo.lo;
        o->a = gamma ? mo.rstd * gamma[c] : mo.rstd;
        o->c = beta ? beta[c] : 0.0f;
      }
    }
  }
  DIF__PROF_END(DIF__PROF_GROUP_NORM, t0, 0);
  dif__arena_release(k->arena, mark);
  return DIF_OK;
}

typedef struct napply_job {
  const float *x;
  float *y;
  int64_t C, HW;
  const dif__norm_affine *norm;
} napply_job;

#define APPLY_CHUNK 256 /* channels whose parameters a task holds at a time */

/* Items are pixels; per chunk of channels the parameters are laid out as
 * four arrays on the stack for dif__k_affine_vec. x and y may be the same
 * array (element-wise). */
static void norm_apply_cl_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const napply_job *j = arg;
  float prm[4][APPLY_CHUNK];
  const float *const norm[4] = {prm[0], prm[1], prm[2], prm[3]};
  for (int64_t c0 = 0; c0 < j->C; c0 += APPLY_CHUNK) {
    const int64_t nc = j->C - c0 < APPLY_CHUNK ? j->C - c0 : APPLY_CHUNK;
    int64_t image = -1;
    for (int64_t item = begin; item < end; item++) {
      if (item / j->HW != image) { /* this image's parameters for the chunk */
        image = item / j->HW;
        const dif__norm_affine *na = j->norm + image * j->C + c0;
        for (int64_t i = 0; i < nc; i++)
          prm[0][i] = na[i].hi, prm[1][i] = na[i].lo, prm[2][i] = na[i].a, prm[3][i] = na[i].c;
      }
      dif__k_affine_vec(j->x + item * j->C + c0, nc, norm, j->y + item * j->C + c0);
    }
  }
}

void dif__norm_apply_cl(const dif__kctx *k, const float *x, int64_t N, int64_t C, int64_t HW,
                        const dif__norm_affine *norm, float *y) {
  if (N <= 0 || C <= 0 || HW <= 0) return;
  napply_job j = {x, y, C, HW, norm};
  const double t0 = DIF__PROF_START();
  dif__pool_for(dif__kpool(k), N * HW, C >= 4096 ? 1 : 4096 / C, norm_apply_cl_task, &j);
  DIF__PROF_END(DIF__PROF_GROUP_NORM, t0, 0);
}

void dif__group_norm(const dif__kctx *k, const float *x, int64_t N, int64_t C, int64_t HW,
                     int64_t groups, float eps, const float *gamma, const float *beta, float *y) {
  group_norm(k, x, N, C, HW, groups, eps, gamma, beta, y, false);
}

void dif__group_norm_silu(const dif__kctx *k, const float *x, int64_t N, int64_t C, int64_t HW,
                          int64_t groups, float eps, const float *gamma, const float *beta,
                          float *y) {
  group_norm(k, x, N, C, HW, groups, eps, gamma, beta, y, true);
}

typedef struct ln_job {
  const float *x;
  float *y;
  int64_t dim;
  float eps;
  const float *gamma, *beta;
} ln_job;

static void layer_norm_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const ln_job *j = arg;
  const int64_t dim = j->dim;
  for (int64_t r = begin; r < end; r++) {
    const float *x = j->x + r * dim;
    float *y = j->y + r * dim;
    const moments m = compute_moments(x, dim, j->eps);
    const float hi = m.hi, lo = m.lo, rstd = m.rstd;
    if (j->gamma && j->beta) {
      const float *g = j->gamma, *b = j->beta;
      for (int64_t i = 0; i < dim; i++) y[i] = ((x[i] - hi) - lo) * rstd * g[i] + b[i];
    } else if (j->gamma) {
      const float *g = j->gamma;
      for (int64_t i = 0; i < dim; i++) y[i] = ((x[i] - hi) - lo) * rstd * g[i];
    } else if (j->beta) {
      const float *b = j->beta;
      for (int64_t i = 0; i < dim; i++) y[i] = ((x[i] - hi) - lo) * rstd + b[i];
    } else {
      affine(x, y, dim, m, rstd, 0.0f);
    }
  }
}

void dif__layer_norm(const dif__kctx *k, const float *x, int64_t rows, int64_t dim, float eps,
                     const float *gamma, const float *beta, float *y) {
  if (rows <= 0 || dim <= 0) return;
  ln_job j = {x, y, dim, eps, gamma, beta};
  const int64_t grain = dim >= 4096 ? 1 : 4096 / dim;
  const double t0 = DIF__PROF_START();
  dif__pool_for(dif__kpool(k), rows, grain, layer_norm_task, &j);
  DIF__PROF_END(DIF__PROF_LAYER_NORM, t0, 0);
}
