/* sched_dpm.c — DPMSolverMultistepScheduler: dpmsolver++ / dpmsolver and
 * their SDE variants, orders 1 to 3, midpoint or heun second-order update,
 * Karras or Lu sigmas, lower_order_final / euler_at_final.
 *
 * model_outputs (the converted outputs of the last solver_order steps) live
 * in hist[]; every coefficient is a float computed as diffusers' 0-d tensors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "samplers/sched_internal.h"
#include "samplers/schedule.h"
#include "samplers/torch_math.h"

enum { NOISE = 3, CONV = 4, NBUF = 5 };

/* last_timestep = T - searchsorted(flip(lambda_t), lambda_min_clipped) */
static int64_t last_timestep(const dif__scheduler *s) {
  int64_t clipped = 0;
  for (int64_t j = s->T - 1; j >= 0; j--) {
    const float at = sqrtf(s->alphas_cumprod[j]), st_ = sqrtf(1.0f - s->alphas_cumprod[j]);
    const float lambda = dif__torch_logf(at) - dif__torch_logf(st_);
    if (lambda < s->cfg.lambda_min_clipped)
      clipped++;
    else
      break;
  }
  return s->T - clipped;
}

/* The steps + 1 sigmas (Karras, Lu's lambdas or interpolated) into sig and
 * the scheduler, with the timesteps they imply. */
static void set_sigmas(dif__scheduler *s, int steps, double *sig, const float *full,
                       const float *logs) {
  if (s->cfg.use_karras_sigmas) {
    dif__sched_karras_rounded(s, steps, sig, full, logs);
  } else if (s->cfg.use_lu_lambdas) {
    const double lmin = logs[0], lmax = logs[s->T - 1];
    dif__np_linspace(0, 1, steps, sig);
    for (int i = 0; i < steps; i++) {
      sig[i] = exp(lmax + sig[i] * (lmin - lmax));
      s->timesteps[i] = dif__np_round(dif__sigma_to_t(sig[i], logs, s->T));
    }
  } else {
    for (int i = 0; i < steps; i++) sig[i] = dif__np_interp(s->timesteps[i], full, s->T);
  }
  const float ac0 = s->alphas_cumprod[0];
  sig[steps] = s->cfg.final_sigmas_zero ? 0.0 : (double)sqrtf((1.0f - ac0) / ac0);
  for (int i = 0; i <= steps; i++) s->sigmas[i] = (float)sig[i];
}

static dif_status set_timesteps(dif__scheduler *s, int steps, dif__error *err) {
  float *full = NULL, *logs = NULL;
  double *sig = malloc((size_t)(steps + 1) * sizeof *sig);
  dif_status st = sig ? dif__sched_log_sigmas(s, &full, &logs, err)
                      : dif__fail_oom(err, "sigmas", (size_t)(steps + 1) * sizeof *sig);
  if (!st) st = dif__sched_alloc_schedule(s, steps, steps + 1, err);
  if (!st) st = dif__sched_spacing_multistep(s, steps, last_timestep(s), s->timesteps, err);
  if (!st) set_sigmas(s, steps, sig, full, logs);
  free(sig);
  free(full);
  free(logs);
  return st;
}

static dif_status check(const dif__sched_config *c, dif__error *err) {
  if (c->solver_order == 3 && (c->algorithm_type == DIF__ALGO_SDE_DPMSOLVERPP ||
                               c->algorithm_type == DIF__ALGO_SDE_DPMSOLVER))
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "DPMSolverMultistepScheduler: the SDE algorithms have no third-order update");
  return DIF_OK;
}

typedef struct point {
  float alpha, sigma, lambda;
} point;

static point at_sigma(float sigma) {
  point p;
  dif__sigma_to_alpha_sigma(sigma, &p.alpha, &p.sigma);
  p.lambda = dif__torch_logf(p.alpha) - dif__torch_logf(p.sigma);
  return p;
}

static void first_order(const dif__scheduler *s, const float *x, const float *m0,
                        const float *noise, float *out, int64_t n) {
  const point t = at_sigma(s->sigmas[s->step_index + 1]), p = at_sigma(s->sigmas[s->step_index]);
  const float h = t.lambda - p.lambda;
  switch (s->cfg.algorithm_type) {
  case DIF__ALGO_DPMSOLVERPP: {
    const float c1 = t.sigma / p.sigma, c2 = t.alpha * (dif__torch_expf(-h) - 1.0f);
    for (int64_t k = 0; k < n; k++) out[k] = c1 * x[k] - c2 * m0[k];
  } break;
  case DIF__ALGO_DPMSOLVER: {
    const float c1 = t.alpha / p.alpha, c2 = t.sigma * (dif__torch_expf(h) - 1.0f);
    for (int64_t k = 0; k < n; k++) out[k] = c1 * x[k] - c2 * m0[k];
  } break;
  case DIF__ALGO_SDE_DPMSOLVERPP: {
    const float c1 = t.sigma / p.sigma * dif__torch_expf(-h);
    const float c2 = t.alpha * (1.0f - dif__torch_expf(-2.0f * h));
    const float c3 = t.sigma * sqrtf(1.0f - dif__torch_expf(-2.0f * h));
    for (int64_t k = 0; k < n; k++) out[k] = c1 * x[k] + c2 * m0[k] + c3 * noise[k];
  } break;
  case DIF__ALGO_SDE_DPMSOLVER: {
    const float c1 = t.alpha / p.alpha, c2 = 2.0f * (t.sigma * (dif__torch_expf(h) - 1.0f));
    const float c3 = t.sigma * sqrtf(dif__torch_expf(2.0f * h) - 1.0f);
    for (int64_t k = 0; k < n; k++) out[k] = c1 * x[k] - c2 * m0[k] + c3 * noise[k];
  } break;
  }
}

static void second_order(const dif__scheduler *s, const float *x, const float *noise, float *out,
                         int64_t n) {
  const int si = s->step_index;
  const point t = at_sigma(s->sigmas[si + 1]), p0 = at_sigma(s->sigmas[si]),
              p1 = at_sigma(s->sigmas[si - 1]);
  const float *m0 = s->hist[s->n_hist - 1], *m1 = s->hist[s->n_hist - 2];
  const float h = t.lambda - p0.lambda, h0 = p0.lambda - p1.lambda;
  const float r0 = h0 / h, inv_r0 = 1.0f / r0;
  const bool heun = s->cfg.solver_type == DIF__SOLVER_HEUN;
  float c1, c2, c3, c4 = 0;
  switch (s->cfg.algorithm_type) {
  case DIF__ALGO_DPMSOLVERPP: {
    const float e = dif__torch_expf(-h) - 1.0f;
    c1 = t.sigma / p0.sigma;
    c2 = t.alpha * e;
    /* midpoint: - 0.5 * (alpha_t * e) * D1; heun: + (alpha_t * (e / h + 1)) * D1 */
    c3 = heun ? t.alpha * (e / h + 1.0f) : 0.5f * (t.alpha * e);
    for (int64_t k = 0; k < n; k++) {
      const float d1 = inv_r0 * (m0[k] - m1[k]);
      const float a = c1 * x[k] - c2 * m0[k];
      out[k] = heun ? a + c3 * d1 : a - c3 * d1;
    }
    return;
  }
  case DIF__ALGO_DPMSOLVER: {
    const float e = dif__torch_expf(h) - 1.0f;
    c1 = t.alpha / p0.alpha;
    c2 = t.sigma * e;
    c3 = heun ? t.sigma * (e / h - 1.0f) : 0.5f * (t.sigma * e);
    for (int64_t k = 0; k < n; k++) {
      const float d1 = inv_r0 * (m0[k] - m1[k]);
      out[k] = c1 * x[k] - c2 * m0[k] - c3 * d1;
    }
    return;
  }
  case DIF__ALGO_SDE_DPMSOLVERPP: {
    const float e2 = 1.0f - dif__torch_expf(-2.0f * h);
    c1 = t.sigma / p0.sigma * dif__torch_expf(-h);
    c2 = t.alpha * e2;
    c3 = heun ? t.alpha * (e2 / (-2.0f * h) + 1.0f) : 0.5f * (t.alpha * e2);
    c4 = t.sigma * sqrtf(1.0f - dif__torch_expf(-2.0f * h));
    for (int64_t k = 0; k < n; k++) {
      const float d1 = inv_r0 * (m0[k] - m1[k]);
      out[k] = c1 * x[k] + c2 * m0[k] + c3 * d1 + c4 * noise[k];
    }
    return;
  }
  case DIF__ALGO_SDE_DPMSOLVER: {
    const float e = dif__torch_expf(h) - 1.0f;
    c1 = t.alpha / p0.alpha;
    c2 = 2.0f * (t.sigma * e);
    c3 = heun ? 2.0f * (t.sigma * (e / h - 1.0f)) : t.sigma * e;
    c4 = t.sigma * sqrtf(dif__torch_expf(2.0f * h) - 1.0f);
    for (int64_t k = 0; k < n; k++) {
      const float d1 = inv_r0 * (m0[k] - m1[k]);
      out[k] = c1 * x[k] - c2 * m0[k] - c3 * d1 + c4 * noise[k];
    }
    return;
  }
  }
}

static void third_order(const dif__scheduler *s, const float *x, float *out, int64_t n) {
  const int si = s->step_index;
  const point t = at_sigma(s->sigmas[si + 1]), p0 = at_sigma(s->sigmas[si]),
              p1 = at_sigma(s->sigmas[si - 1]), p2 = at_sigma(s->sigmas[si - 2]);
  const float *m0 = s->hist[s->n_hist - 1], *m1 = s->hist[s->n_hist - 2],
              *m2 = s->hist[s->n_hist - 3];
  const float h = t.lambda - p0.lambda, h0 = p0.lambda - p1.lambda, h1 = p1.lambda - p2.lambda;
  const float r0 = h0 / h, r1 = h1 / h;
  const float i0 = 1.0f / r0, i1 = 1.0f / r1, w = r0 / (r0 + r1), i01 = 1.0f / (r0 + r1);
  float c1, c2, c3, c4;
  if (s->cfg.algorithm_type == DIF__ALGO_DPMSOLVERPP) {
    const float e = dif__torch_expf(-h) - 1.0f;
    c1 = t.sigma / p0.sigma;
    c2 = t.alpha * e;
    c3 = t.alpha * (e / h + 1.0f);
    c4 = t.alpha * ((dif__torch_expf(-h) - 1.0f + h) / (h * h) - 0.5f);
    for (int64_t k = 0; k < n; k++) {
      const float d10 = i0 * (m0[k] - m1[k]), d11 = i1 * (m1[k] - m2[k]);
      const float d1 = d10 + w * (d10 - d11), d2 = i01 * (d10 - d11);
      out[k] = c1 * x[k] - c2 * m0[k] + c3 * d1 - c4 * d2;
    }
  } else {
    const float e = dif__torch_expf(h) - 1.0f;
    c1 = t.alpha / p0.alpha;
    c2 = t.sigma * e;
    c3 = t.sigma * (e / h - 1.0f);
    c4 = t.sigma * ((dif__torch_expf(h) - 1.0f - h) / (h * h) - 0.5f);
    for (int64_t k = 0; k < n; k++) {
      const float d10 = i0 * (m0[k] - m1[k]), d11 = i1 * (m1[k] - m2[k]);
      const float d1 = d10 + w * (d10 - d11), d2 = i01 * (d10 - d11);
      out[k] = c1 * x[k] - c2 * m0[k] - c3 * d1 - c4 * d2;
    }
  }
}

static dif_status step(dif__scheduler *s, int i, dif__step_args *a, dif__error *err) {
  const int64_t n = a->n;
  dif_status st = dif__sched_multistep_begin(s, i, n, NBUF, err);
  if (st) return st;
  const int si = s->step_index, len = s->n_timesteps, order = (int)s->cfg.solver_order;
  const bool final =
      si == len - 1 &&
      (s->cfg.euler_at_final || (s->cfg.lower_order_final && len < 15) || s->cfg.final_sigmas_zero);
  const bool second = si == len - 2 && s->cfg.lower_order_final && len < 15;
  const bool to_x0 = s->cfg.algorithm_type == DIF__ALGO_DPMSOLVERPP ||
                     s->cfg.algorithm_type == DIF__ALGO_SDE_DPMSOLVERPP;
  if ((st = dif__sched_convert_output(s, a, to_x0, true, s->buf[CONV], err))) return st;
  dif__sched_hist_push(s, s->buf[CONV], order);
  const float *noise = NULL;
  if (s->cfg.algorithm_type == DIF__ALGO_SDE_DPMSOLVERPP ||
      s->cfg.algorithm_type == DIF__ALGO_SDE_DPMSOLVER) {
    if ((st = dif__sched_noise(a, s->buf[NOISE], err))) return st;
    noise = s->buf[NOISE];
  }
  const float *m0 = s->hist[s->n_hist - 1];
  if (order == 1 || s->lower_order_nums < 1 || final)
    first_order(s, a->sample, m0, noise, a->prev_sample, n);
  else if (order == 2 || s->lower_order_nums < 2 || second)
    second_order(s, a->sample, noise, a->prev_sample, n);
  else
    third_order(s, a->sample, a->prev_sample, n);
  return dif__sched_multistep_done(s, order);
}

const dif__sched_ops dif__sched_dpm_ops = {
    .check = check,
    .set_timesteps = set_timesteps,
    .step = step,
    .add_noise = dif__sched_add_noise_alpha_sigma,
};
