/* sched_euler.c — EulerDiscreteScheduler and EulerAncestralDiscreteScheduler.
 *
 * Euler draws a noise tensor on every step even though, with the pipelines'
 * default s_churn = 0, it is multiplied by nothing: the draw still advances
 * the generator, so it is made here too. Karras sigmas, log-linear
 * interpolation and continuous (v-prediction) timesteps follow diffusers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "samplers/sched_internal.h"
#include "samplers/schedule.h"
#include "samplers/torch_math.h"

/* torch.linspace(log(sigma[-1]), log(sigma[0]), n + 1).exp(): n + 1 sigmas
 * into sig (diffusers' own quirk; a zero is appended after them). */
static dif_status log_linear_sigmas(const dif__scheduler *s, int steps, const float *logs,
                                    double *sig, dif__error *err) {
  float *ls = malloc((size_t)(steps + 1) * sizeof *ls);
  if (!ls) return dif__fail_oom(err, "sigmas", (size_t)(steps + 1) * sizeof *ls);
  dif__torch_linspace_f32(logs[s->T - 1], logs[0], steps + 1, ls);
  for (int i = 0; i <= steps; i++) sig[i] = dif__torch_expf(ls[i]);
  free(ls);
  return DIF_OK;
}

/* The n_sig sigmas in sig (Karras-spaced when asked) become the scheduler's
 * sigmas, zero-terminated, and set the timesteps and init_noise_sigma. */
static void set_sigmas(dif__scheduler *s, int steps, bool euler, int n_sig, double *sig,
                       const float *logs) {
  if (euler && s->cfg.use_karras_sigmas) {
    double lo = s->cfg.has_sigma_min ? s->cfg.sigma_min : sig[n_sig - 1];
    double hi = s->cfg.has_sigma_max ? s->cfg.sigma_max : sig[0];
    dif__karras_sigmas(lo, hi, steps, sig);
    n_sig = steps;
    for (int i = 0; i < steps; i++) s->timesteps[i] = (float)dif__sigma_to_t(sig[i], logs, s->T);
  }
  for (int i = 0; i < n_sig; i++) s->sigmas[i] = (float)sig[i];
  s->sigmas[n_sig] = 0.0f;
  s->n_sigmas = n_sig + 1;
  if (euler && s->cfg.timestep_continuous && s->cfg.prediction_type == DIF__PRED_V)
    for (int i = 0; i < steps; i++) s->timesteps[i] = 0.25f * dif__torch_logf(s->sigmas[i]);
  float max = s->sigmas[0];
  for (int i = 1; i < s->n_sigmas; i++) max = s->sigmas[i] > max ? s->sigmas[i] : max;
  s->init_noise_sigma =
      s->cfg.timestep_spacing == DIF__SPACING_LEADING ? sqrtf(max * max + 1.0f) : max;
}

/* Shared by both classes: timesteps and sigmas; Euler's options when
 * `euler` (Euler ancestral has none of them). */
static dif_status euler_schedule(dif__scheduler *s, int steps, bool euler, dif__error *err) {
  float *full = NULL, *logs = NULL;
  double *sig = malloc((size_t)(steps + 1) * sizeof *sig);
  dif_status st = sig ? dif__sched_alloc_schedule(s, steps, steps + 2, err)
                      : dif__fail_oom(err, "sigmas", (size_t)(steps + 1) * sizeof *sig);
  if (!st) st = dif__sched_spacing_euler(s, steps, s->timesteps, err);
  if (!st) st = dif__sched_log_sigmas(s, &full, &logs, err);
  const bool log_linear = euler && s->cfg.interpolation_log_linear;
  if (!st && log_linear) st = log_linear_sigmas(s, steps, logs, sig, err);
  if (!st && !log_linear)
    for (int i = 0; i < steps; i++) sig[i] = dif__np_interp(s->timesteps[i], full, s->T);
  if (!st) set_sigmas(s, steps, euler, log_linear ? steps + 1 : steps, sig, logs);
  free(sig);
  free(full);
  free(logs);
  return st;
}

/* With rescale_betas_zero_snr the last alphas_cumprod is 0; both Euler
 * classes replace it by 2**-24 so that the largest sigma stays finite. */
static dif_status euler_init(dif__scheduler *s, dif__error *err) {
  (void)err;
  if (s->cfg.rescale_betas_zero_snr) s->alphas_cumprod[s->T - 1] = 0x1p-24f;
  return DIF_OK;
}

static dif_status euler_set_timesteps(dif__scheduler *s, int steps, dif__error *err) {
  return euler_schedule(s, steps, true, err);
}

static dif_status ancestral_set_timesteps(dif__scheduler *s, int steps, dif__error *err) {
  return euler_schedule(s, steps, false, err);
}

/* pred_original_sample of the sigma schedulers (Euler's sigma_hat = sigma). */
static void sigma_x0(dif__pred_type pred, float sigma, const float *mo, const float *x, float *x0,
                     int64_t n) {
  if (pred == DIF__PRED_EPSILON) {
    for (int64_t k = 0; k < n; k++) x0[k] = x[k] - sigma * mo[k];
  } else if (pred == DIF__PRED_SAMPLE) {
    memcpy(x0, mo, (size_t)n * sizeof *x0);
  } else {
    const float s2 = sigma * sigma + 1.0f;
    const float c = -sigma / sqrtf(s2);
    for (int64_t k = 0; k < n; k++) x0[k] = mo[k] * c + x[k] / s2;
  }
}

static dif_status locate(dif__scheduler *s, int i, int64_t n, int nbuf, dif__error *err) {
  dif_status st = DIF_OK;
  if (s->step_index < 0) st = dif__sched_locate(s, s->timesteps[i], false, err);
  if (!st && s->step_index + 1 >= s->n_sigmas)
    st = dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "%s: no step left", dif__scheduler_class_name(s));
  if (!st) st = dif__sched_buffers(s, nbuf, n, err);
  return st;
}

static dif_status euler_step(dif__scheduler *s, int i, dif__step_args *a, dif__error *err) {
  const int64_t n = a->n;
  dif_status st = locate(s, i, n, 2, err);
  if (st) return st;
  float *x0 = s->buf[0], *noise = s->buf[1];
  const float sigma = s->sigmas[s->step_index];
  /* gamma = 0 (s_churn 0): sigma_hat = sigma * (0 + 1); the noise times
   * s_noise is drawn but unused. */
  if ((st = dif__sched_noise(a, noise, err))) return st;
  const float sigma_hat = sigma * 1.0f; /* epsilon uses sigma_hat, v sigma: equal here */
  sigma_x0(s->cfg.prediction_type, sigma_hat, a->model_output, a->sample, x0, n);
  const float dt = s->sigmas[s->step_index + 1] - sigma_hat;
  if (a->pred_original) {
    memcpy(a->pred_original, x0, (size_t)n * sizeof *x0);
    a->wrote_pred_original = true;
  }
  for (int64_t k = 0; k < n; k++) {
    const float d = (a->sample[k] - x0[k]) / sigma_hat;
    a->prev_sample[k] = a->sample[k] + d * dt;
  }
  s->step_index++;
  return DIF_OK;
}

static dif_status ancestral_step(dif__scheduler *s, int i, dif__step_args *a, dif__error *err) {
  const int64_t n = a->n;
  dif_status st = locate(s, i, n, 2, err);
  if (st) return st;
  float *x0 = s->buf[0], *noise = s->buf[1];
  const float sigma = s->sigmas[s->step_index];
  sigma_x0(s->cfg.prediction_type, sigma, a->model_output, a->sample, x0, n);
  const float from = sigma, to = s->sigmas[s->step_index + 1];
  const float up = sqrtf(to * to * (from * from - to * to) / (from * from));
  const float down = sqrtf(to * to - up * up);
  const float dt = down - sigma;
  if ((st = dif__sched_noise(a, noise, err))) return st;
  if (a->pred_original) {
    memcpy(a->pred_original, x0, (size_t)n * sizeof *x0);
    a->wrote_pred_original = true;
  }
  for (int64_t k = 0; k < n; k++) {
    const float d = (a->sample[k] - x0[k]) / sigma;
    const float p = a->sample[k] + d * dt;
    a->prev_sample[k] = p + noise[k] * up;
  }
  s->step_index++;
  return DIF_OK;
}

const dif__sched_ops dif__sched_euler_ops = {
    .init = euler_init,
    .set_timesteps = euler_set_timesteps,
    .scale = dif__sched_scale_by_sigma,
    .step = euler_step,
    .add_noise = dif__sched_add_noise_sigma,
};

const dif__sched_ops dif__sched_euler_a_ops = {
    .check = dif__sched_no_sample_prediction,
    .init = euler_init,
    .set_timesteps = ancestral_set_timesteps,
    .scale = dif__sched_scale_by_sigma,
    .step = ancestral_step,
    .add_noise = dif__sched_add_noise_sigma,
};
