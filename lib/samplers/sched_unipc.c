/* sched_unipc.c — UniPCMultistepScheduler: the UniP predictor and UniC
 * corrector (bh1 / bh2), predict_x0 or noise, orders 1 to 3, Karras sigmas,
 * disable_corrector.
 *
 * hist[] holds model_outputs (converted), buf[LAST] the last (corrected)
 * sample. Small linear systems are solved as torch.linalg.solve does (LU
 * with partial pivoting in float32, LAPACK's operation order). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "samplers/sched_internal.h"
#include "samplers/schedule.h"
#include "samplers/torch_math.h"

enum { LAST = 3, CONV = 4, CORR = 5, NBUF = 6 };

/* The steps + 1 sigmas (Karras or interpolated) into sig and the
 * scheduler, with the timesteps Karras spacing implies. */
static void set_sigmas(dif__scheduler *s, int steps, double *sig, const float *full,
                       const float *logs) {
  if (s->cfg.use_karras_sigmas) {
    dif__sched_karras_rounded(s, steps, sig, full, logs);
    sig[steps] = sig[steps - 1];
  } else {
    for (int i = 0; i < steps; i++) sig[i] = dif__np_interp(s->timesteps[i], full, s->T);
    const float ac0 = s->alphas_cumprod[0];
    sig[steps] = sqrtf((1.0f - ac0) / ac0);
  }
  for (int i = 0; i <= steps; i++) s->sigmas[i] = (float)sig[i];
}

static dif_status set_timesteps(dif__scheduler *s, int steps, dif__error *err) {
  float *full = NULL, *logs = NULL;
  double *sig = malloc((size_t)(steps + 1) * sizeof *sig);
  dif_status st = sig ? dif__sched_alloc_schedule(s, steps, steps + 1, err)
                      : dif__fail_oom(err, "sigmas", (size_t)(steps + 1) * sizeof *sig);
  if (!st) st = dif__sched_spacing_multistep(s, steps, s->T, s->timesteps, err);
  if (!st) st = dif__sched_log_sigmas(s, &full, &logs, err);
  if (!st) set_sigmas(s, steps, sig, full, logs);
  free(sig);
  free(full);
  free(logs);
  return st;
}

static float lambda_of(float sigma, float *alpha_t, float *sigma_t) {
  dif__sigma_to_alpha_sigma(sigma, alpha_t, sigma_t);
  return dif__torch_logf(*alpha_t) - dif__torch_logf(*sigma_t);
}

/* Solves A x = b for n <= 3 (row-major A) as torch.linalg.solve does for a
 * contiguous float32 A: LU-factor A^T (LAPACK sgetrf: partial pivoting,
 * multipliers by the reciprocal pivot), then solve the transposed system
 * (sgetrs 'T': U^T y = b forward, L^T z = y backward, interchanges undone in
 * reverse order). */
static void solve(int n, const float *A, float *b) {
  float M[9];
  int piv[3];
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) M[i * n + j] = A[j * n + i]; /* M = A^T */
  for (int c = 0; c < n; c++) {
    int p = c;
    for (int r = c + 1; r < n; r++)
      if (fabsf(M[r * n + c]) > fabsf(M[p * n + c])) p = r;
    piv[c] = p;
    if (p != c)
      for (int j = 0; j < n; j++) {
        float t = M[c * n + j];
        M[c * n + j] = M[p * n + j];
        M[p * n + j] = t;
      }
    const float inv = 1.0f / M[c * n + c];
    for (int r = c + 1; r < n; r++) {
      M[r * n + c] = M[r * n + c] * inv;
      for (int j = c + 1; j < n; j++) M[r * n + j] = M[r * n + j] - M[r * n + c] * M[c * n + j];
    }
  }
  for (int i = 0; i < n; i++) { /* U^T y = b */
    float t = b[i];
    for (int k = 0; k < i; k++) t = t - M[k * n + i] * b[k];
    b[i] = t / M[i * n + i];
  }
  for (int i = n - 1; i >= 0; i--) { /* L^T z = y (unit) */
    float t = b[i];
    for (int k = i + 1; k < n; k++) t = t - M[k * n + i] * b[k];
    b[i] = t;
  }
  for (int i = n - 1; i >= 0; i--) /* x = P^T z */
    if (piv[i] != i) {
      float t = b[i];
      b[i] = b[piv[i]];
      b[piv[i]] = t;
    }
}

/* The coefficients shared by predictor and corrector: rks (order - 1 of
 * them, plus 1), h_phi_1, B_h, b[order]. */
typedef struct bh {
  float rks[3], b[3], h_phi_1, B_h;
} bh;

static void bh_coeffs(const dif__scheduler *s, float h, int order, bh *o) {
  const float hh = s->cfg.predict_x0 ? -h : h;
  o->h_phi_1 = dif__torch_expm1f(hh);
  float h_phi_k = o->h_phi_1 / hh - 1.0f;
  int64_t factorial = 1;
  o->B_h = s->cfg.solver_type == DIF__SOLVER_BH1 ? hh : dif__torch_expm1f(hh);
  for (int i = 1; i <= order; i++) {
    o->b[i - 1] = h_phi_k * (float)factorial / o->B_h;
    factorial *= i + 1;
    h_phi_k = h_phi_k / hh - (float)(1.0 / (double)factorial);
  }
}

/* R = [rks^0; rks^1; ...] (order x order). */
static void bh_matrix(const bh *c, int order, float *R) {
  for (int i = 0; i < order; i++)
    for (int j = 0; j < order; j++)
      R[i * order + j] = i == 0 ? 1.0f : i == 1 ? c->rks[j] : c->rks[j] * c->rks[j];
}

static void predictor(const dif__scheduler *s, const float *x, int order, float *out, int64_t n) {
  const int si = s->step_index;
  const float *m0 = s->hist[s->n_hist - 1];
  float at, st_, as0, ss0;
  const float lt = lambda_of(s->sigmas[si + 1], &at, &st_);
  const float l0 = lambda_of(s->sigmas[si], &as0, &ss0);
  const float h = lt - l0;
  bh c;
  const float *mi[2] = {NULL, NULL};
  for (int i = 1; i < order; i++) {
    float a_, s_;
    c.rks[i - 1] = (lambda_of(s->sigmas[si - i], &a_, &s_) - l0) / h;
    mi[i - 1] = s->hist[s->n_hist - 1 - i];
  }
  c.rks[order - 1] = 1.0f;
  bh_coeffs(s, h, order, &c);
  float rhos[2] = {0.5f, 0};
  if (order == 3) {
    float R[9];
    bh_matrix(&c, 3, R);
    float R2[4] = {R[0], R[1], R[3], R[4]};
    rhos[0] = c.b[0];
    rhos[1] = c.b[1];
    solve(2, R2, rhos);
  }
  const bool x0 = s->cfg.predict_x0;
  const float c1 = x0 ? st_ / ss0 : at / as0;
  const float c2 = x0 ? at * c.h_phi_1 : st_ * c.h_phi_1;
  const float c3 = x0 ? at * c.B_h : st_ * c.B_h;
  for (int64_t k = 0; k < n; k++) {
    const float xt = c1 * x[k] - c2 * m0[k];
    float res = 0.0f;
    if (order >= 2) {
      res = rhos[0] * ((mi[0][k] - m0[k]) / c.rks[0]);
      if (order == 3) res = res + rhos[1] * ((mi[1][k] - m0[k]) / c.rks[1]);
      out[k] = xt - c3 * res;
    } else {
      out[k] = xt - c3 * 0.0f;
    }
  }
}

/* The corrector: refines this_sample given this step's converted output. */
static void corrector(const dif__scheduler *s, const float *model_t, const float *last,
                      const float *this_sample, int order, float *out, int64_t n) {
  (void)this_sample;
  const int si = s->step_index;
  const float *m0 = s->hist[s->n_hist - 1];
  float at, st_, as0, ss0;
  const float lt = lambda_of(s->sigmas[si], &at, &st_);
  const float l0 = lambda_of(s->sigmas[si - 1], &as0, &ss0);
  const float h = lt - l0;
  bh c;
  const float *mi[2] = {NULL, NULL};
  for (int i = 1; i < order; i++) {
    float a_, s_;
    c.rks[i - 1] = (lambda_of(s->sigmas[si - (i + 1)], &a_, &s_) - l0) / h;
    mi[i - 1] = s->hist[s->n_hist - 1 - i];
  }
  c.rks[order - 1] = 1.0f;
  bh_coeffs(s, h, order, &c);
  float rhos[3] = {0.5f, 0, 0};
  if (order > 1) {
    float R[9];
    bh_matrix(&c, order, R);
    memcpy(rhos, c.b, sizeof rhos);
    solve(order, R, rhos);
  }
  const float rho_last = rhos[order - 1];
  const bool x0 = s->cfg.predict_x0;
  const float c1 = x0 ? st_ / ss0 : at / as0;
  const float c2 = x0 ? at * c.h_phi_1 : st_ * c.h_phi_1;
  const float c3 = x0 ? at * c.B_h : st_ * c.B_h;
  for (int64_t k = 0; k < n; k++) {
    const float xt = c1 * last[k] - c2 * m0[k];
    float corr = 0.0f;
    for (int i = 0; i < order - 1; i++) {
      const float d = (mi[i][k] - m0[k]) / c.rks[i];
      corr = i == 0 ? rhos[0] * d : corr + rhos[i] * d;
    }
    const float d1t = model_t[k] - m0[k];
    out[k] = xt - c3 * (corr + rho_last * d1t);
  }
}

static dif_status step(dif__scheduler *s, int i, dif__step_args *a, dif__error *err) {
  const int64_t n = a->n;
  dif_status st = dif__sched_multistep_begin(s, i, n, NBUF, err);
  if (st) return st;
  const int si = s->step_index, order = (int)s->cfg.solver_order;
  bool use_corrector = si > 0 && s->have_last;
  for (int k = 0; k < s->cfg.n_disable_corrector; k++)
    if (s->cfg.disable_corrector[k] == si - 1) use_corrector = false;
  float *conv = s->buf[CONV];
  if ((st = dif__sched_convert_output(s, a, s->cfg.predict_x0, false, conv, err))) return st;
  const float *sample = a->sample;
  if (use_corrector) {
    corrector(s, conv, s->buf[LAST], a->sample, s->this_order, s->buf[CORR], n);
    sample = s->buf[CORR];
  }
  dif__sched_hist_push(s, conv, order);
  int this_order =
      s->cfg.lower_order_final && s->n_timesteps - si < order ? s->n_timesteps - si : order;
  s->this_order = this_order < s->lower_order_nums + 1 ? this_order : s->lower_order_nums + 1;
  if (sample != s->buf[LAST]) memmove(s->buf[LAST], sample, (size_t)n * sizeof *sample);
  s->have_last = true;
  predictor(s, s->buf[LAST], s->this_order, a->prev_sample, n);
  return dif__sched_multistep_done(s, order);
}

const dif__sched_ops dif__sched_unipc_ops = {
    .set_timesteps = set_timesteps,
    .step = step,
    .add_noise = dif__sched_add_noise_alpha_sigma,
};
