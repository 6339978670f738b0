/* sched_lms.c — LMSDiscreteScheduler (linear multistep, order 4).
 *
 * The coefficient of each stored derivative is the integral over the step of
 * a Lagrange basis polynomial in sigma, which diffusers computes with
 * scipy.integrate.quad(epsrel=1e-4). diffusers evaluates that polynomial with
 * float32 torch tensors (tau rounded to float, each factor and product in
 * float); the integrand below does the same and quad.c reproduces QUADPACK,
 * so the coefficients agree with diffusers'. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "samplers/quad.h"
#include "samplers/sched_internal.h"
#include "samplers/schedule.h"

#define LMS_ORDER 4
enum { X0 = LMS_ORDER, DERIV = LMS_ORDER + 1, NBUF = LMS_ORDER + 2 };

static dif_status set_timesteps(dif__scheduler *s, int steps, dif__error *err) {
  float *full = NULL, *logs = NULL;
  double *sig = malloc((size_t)steps * sizeof *sig);
  dif_status st = sig ? dif__sched_alloc_schedule(s, steps, steps + 1, err)
                      : dif__fail_oom(err, "sigmas", (size_t)steps * sizeof *sig);
  if (!st) st = dif__sched_spacing_euler(s, steps, s->timesteps, err);
  if (!st) st = dif__sched_log_sigmas(s, &full, &logs, err);
  if (!st) {
    for (int i = 0; i < steps; i++) sig[i] = dif__np_interp(s->timesteps[i], full, s->T);
    if (s->cfg.use_karras_sigmas) { /* timesteps stay float64 here */
      dif__karras_sigmas(sig[steps - 1], sig[0], steps, sig);
      for (int i = 0; i < steps; i++) s->timesteps[i] = dif__sigma_to_t(sig[i], logs, s->T);
    }
    for (int i = 0; i < steps; i++) s->sigmas[i] = (float)sig[i];
    s->sigmas[steps] = 0.0f;
    float max = 0.0f;
    for (int i = 0; i <= steps; i++) max = s->sigmas[i] > max ? s->sigmas[i] : max;
    s->init_noise_sigma =
        s->cfg.timestep_spacing == DIF__SPACING_LEADING ? sqrtf(max * max + 1.0f) : max;
  }
  free(sig);
  free(full);
  free(logs);
  return st;
}

typedef struct basis {
  const float *sigmas;
  int n_sigmas, order, t, cur;
} basis;

/* Python indexing of self.sigmas (negative wraps around). */
static float sig_at(const basis *b, int i) { return b->sigmas[i < 0 ? i + b->n_sigmas : i]; }

static double lms_derivative(double tau, void *u) {
  const basis *b = u;
  bool tensor = false; /* prod starts as the Python float 1.0 */
  float prod = 1.0f;
  for (int k = 0; k < b->order; k++) {
    if (k == b->cur) continue;
    const float f =
        ((float)tau - sig_at(b, b->t - k)) / (sig_at(b, b->t - b->cur) - sig_at(b, b->t - k));
    prod = tensor ? prod * f : 1.0f * f;
    tensor = true;
  }
  return prod;
}

double dif__lms_coefficient(const float *sigmas, int n_sigmas, int order, int t, int cur) {
  basis b = {sigmas, n_sigmas, order, t, cur};
  return dif__quad(lms_derivative, &b, sigmas[t], sigmas[t + 1], 1e-4, NULL);
}

static dif_status step(dif__scheduler *s, int i, dif__step_args *a, dif__error *err) {
  const int64_t n = a->n;
  dif_status st = DIF_OK;
  if (s->step_index < 0) st = dif__sched_locate(s, s->timesteps[i], false, err);
  if (!st && s->step_index + 1 >= s->n_sigmas)
    st = dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "LMSDiscreteScheduler: no step left");
  if (!st) st = dif__sched_buffers(s, NBUF, n, err);
  if (st) return st;
  const int si = s->step_index;
  const float sigma = s->sigmas[si];
  float *x0 = s->buf[X0];
  const float *mo = a->model_output, *x = a->sample;
  if (s->cfg.prediction_type == DIF__PRED_EPSILON) {
    for (int64_t k = 0; k < n; k++) x0[k] = x[k] - sigma * mo[k];
  } else if (s->cfg.prediction_type == DIF__PRED_SAMPLE) {
    memcpy(x0, mo, (size_t)n * sizeof *x0);
  } else {
    const float s2 = sigma * sigma + 1.0f, c = -sigma / sqrtf(s2);
    for (int64_t k = 0; k < n; k++) x0[k] = mo[k] * c + x[k] / s2;
  }
  /* derivative = (sample - x0) / sigma, appended (the oldest of 5 dropped) */
  float *deriv = s->buf[DERIV];
  for (int64_t k = 0; k < n; k++) deriv[k] = (x[k] - x0[k]) / sigma;
  dif__sched_hist_push(s, deriv, LMS_ORDER);
  const int order = si + 1 < LMS_ORDER ? si + 1 : LMS_ORDER;
  float coeff[LMS_ORDER];
  for (int c = 0; c < order; c++)
    coeff[c] = (float)dif__lms_coefficient(s->sigmas, s->n_sigmas, order, si, c);
  /* zip(coeffs, reversed(derivatives)): the newest derivative first */
  const int terms = order < s->n_hist ? order : s->n_hist;
  if (a->pred_original) {
    memcpy(a->pred_original, x0, (size_t)n * sizeof *x0);
    a->wrote_pred_original = true;
  }
  for (int64_t k = 0; k < n; k++) {
    float acc = 0.0f;
    for (int c = 0; c < terms; c++) acc = acc + coeff[c] * s->hist[s->n_hist - 1 - c][k];
    a->prev_sample[k] = x[k] + acc;
  }
  s->step_index++;
  return DIF_OK;
}

const dif__sched_ops dif__sched_lms_ops = {
    .set_timesteps = set_timesteps,
    .scale = dif__sched_scale_by_sigma,
    .step = step,
    .add_noise = dif__sched_add_noise_sigma,
};
