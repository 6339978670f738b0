/* sched_pndm.c — PNDMScheduler: pseudo Runge–Kutta warm-up (unless
 * skip_prk_steps) then the linear multistep (PLMS) steps.
 *
 * State as diffusers: ets (the last model outputs, at most 4, oldest first in
 * hist[]), cur_sample, cur_model_output and the call counter. With
 * skip_prk_steps the second timestep is repeated (901, 801, 801, 701, ...):
 * call 0 takes a first-order step and remembers the sample, call 1 redoes
 * that step from the remembered sample with the averaged output. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "samplers/sched_internal.h"
#include "samplers/schedule.h"

enum { N_ETS = 4, CUR_SAMPLE = 4, CUR_OUTPUT = 5, COMBINED = 6, NBUF = 7 };

/* Number of PRK timesteps at the head of s->timesteps (0 with skip_prk). */
static int n_prk(const dif__scheduler *s) {
  return s->cfg.skip_prk_steps ? 0 : s->n_timesteps - (s->num_inference_steps - 3);
}

/* self._timesteps: the ascending base timesteps of the spacing. */
static dif_status base_timesteps(const dif__scheduler *s, int steps, double *ts, dif__error *err) {
  const int64_t T = s->T;
  if (s->cfg.timestep_spacing == DIF__SPACING_LINSPACE) {
    dif__np_linspace(0, (double)(T - 1), steps, ts);
    for (int i = 0; i < steps; i++) ts[i] = dif__np_round(ts[i]);
  } else if (s->cfg.timestep_spacing == DIF__SPACING_LEADING) {
    for (int i = 0; i < steps; i++)
      ts[i] = (double)((int64_t)i * (T / steps) + s->cfg.steps_offset);
  } else {
    const double ratio = (double)T / (double)steps;
    if (dif__np_arange_len((double)T, 0, -ratio) != steps)
      return dif__fail(err, DIF_ERR_UNSUPPORTED, "PNDMScheduler: trailing spacing with %d steps",
                       steps);
    dif__np_arange((double)T, -ratio, steps, ts);
    for (int i = 0; i < steps / 2; i++) {
      double x = ts[i];
      ts[i] = ts[steps - 1 - i];
      ts[steps - 1 - i] = x;
    }
    for (int i = 0; i < steps; i++) ts[i] = (double)(int64_t)dif__np_round(ts[i]) - 1;
  }
  return DIF_OK;
}

/* skip_prk_steps: concat(ts[:-1], ts[-2:-1], ts[-1:])[::-1]. */
static dif_status skip_prk_schedule(dif__scheduler *s, int steps, const double *ts,
                                    dif__error *err) {
  dif_status st = dif__sched_alloc_schedule(s, steps + 1, 0, err);
  if (st) return st;
  double *o = s->timesteps;
  int k = 0;
  for (int i = 0; i < steps - 1; i++) o[k++] = ts[i];
  if (steps >= 2) o[k++] = ts[steps - 2];
  o[k++] = ts[steps - 1];
  s->n_timesteps = k;
  for (int i = 0; i < k / 2; i++) {
    double x = o[i];
    o[i] = o[k - 1 - i];
    o[k - 1 - i] = x;
  }
  return DIF_OK;
}

/* The Runge-Kutta warm-up, then PLMS. */
static dif_status prk_schedule(dif__scheduler *s, int steps, const double *ts, dif__error *err) {
  const int64_t T = s->T;
  /* prk = (ts[-4:].repeat(2) + tile([0, T//n//2], 4))[:-1].repeat(2)[1:-1][::-1];
   * plms = ts[:-3][::-1]. */
  double rep[8], prk[16];
  int nrep = 0, nprk = 0;
  for (int i = steps - 4; i < steps; i++) {
    rep[nrep++] = ts[i];
    rep[nrep++] = ts[i] + (double)(T / steps / 2);
  }
  for (int i = 0; i + 1 < nrep; i++) { /* [:-1].repeat(2) */
    prk[nprk++] = rep[i];
    prk[nprk++] = rep[i];
  }
  const int first = 1, end = nprk - 1; /* [1:-1] */
  const int n_plms = steps - 3;
  dif_status st = dif__sched_alloc_schedule(s, (end - first) + n_plms, 0, err);
  if (st) return st;
  int k = 0;
  for (int i = end - 1; i >= first; i--) s->timesteps[k++] = prk[i];
  for (int i = n_plms - 1; i >= 0; i--) s->timesteps[k++] = ts[i];
  return DIF_OK;
}

static dif_status set_timesteps(dif__scheduler *s, int steps, dif__error *err) {
  if (!s->cfg.skip_prk_steps && steps < 4) /* diffusers fails on this too */
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "PNDMScheduler: the Runge-Kutta warm-up needs at least 4 steps (or "
                     "skip_prk_steps)");
  double *ts = malloc((size_t)steps * sizeof *ts); /* self._timesteps, ascending */
  if (!ts) return dif__fail_oom(err, "timesteps", (size_t)steps * sizeof *ts);
  dif_status st = base_timesteps(s, steps, ts, err);
  if (!st)
    st = s->cfg.skip_prk_steps ? skip_prk_schedule(s, steps, ts, err)
                               : prk_schedule(s, steps, ts, err);
  free(ts);
  return st;
}

/* _get_prev_sample: DDIM-like transfer from timestep t to prev with the
 * (combined) model output mo. */
static void prev_sample(const dif__scheduler *s, const float *x, int64_t t, int64_t prev,
                        const float *mo, float *out, int64_t n) {
  const float at = s->alphas_cumprod[t];
  const float ap = prev >= 0 ? s->alphas_cumprod[prev] : s->final_alpha_cumprod;
  const float bt = 1.0f - at, bp = 1.0f - ap;
  const float sa = sqrtf(at), sb = sqrtf(bt);
  const float sample_coeff = sqrtf(ap / at);
  const float denom = at * sqrtf(bp) + sqrtf(at * bt * ap);
  const float diff = ap - at;
  const bool v = s->cfg.prediction_type == DIF__PRED_V;
  for (int64_t k = 0; k < n; k++) {
    const float e = v ? sa * mo[k] + sb * x[k] : mo[k];
    out[k] = sample_coeff * x[k] - diff * e / denom;
  }
}

static dif_status step_prk(dif__scheduler *s, int i, dif__step_args *a, dif__error *err) {
  const int64_t n = a->n, T = s->T;
  const int64_t t_in = (int64_t)s->timesteps[i];
  const int64_t diff_to_prev = s->counter % 2 ? 0 : T / s->num_inference_steps / 2;
  const int64_t prev = t_in - diff_to_prev;
  int64_t t;
  dif_status st = dif__sched_t_index(s, s->timesteps[s->counter / 4 * 4], &t, err);
  if (st) return st;
  float *cur = s->buf[CUR_OUTPUT], *comb = s->buf[COMBINED];
  const float *mo = a->model_output;
  const float sixth = (float)(1.0 / 6), third = (float)(1.0 / 3);
  const int phase = s->counter % 4;
  if (phase == 0) {
    for (int64_t k = 0; k < n; k++)
      cur[k] = s->cur_model_output_is_zero ? 0 + sixth * mo[k] : cur[k] + sixth * mo[k];
    s->cur_model_output_is_zero = 0;
    dif__sched_hist_push(s, mo, N_ETS);
    memcpy(s->buf[CUR_SAMPLE], a->sample, (size_t)n * sizeof(float));
    s->have_last = true;
  } else if (phase == 1 || phase == 2) {
    for (int64_t k = 0; k < n; k++) cur[k] = cur[k] + third * mo[k];
  } else {
    for (int64_t k = 0; k < n; k++) comb[k] = cur[k] + sixth * mo[k];
    s->cur_model_output_is_zero = 1;
    mo = comb;
  }
  const float *x = s->have_last ? s->buf[CUR_SAMPLE] : a->sample;
  prev_sample(s, x, t, prev, mo, a->prev_sample, n);
  s->counter++;
  return DIF_OK;
}

static dif_status step_plms(dif__scheduler *s, int i, dif__step_args *a, dif__error *err) {
  const int64_t n = a->n, ratio = s->T / s->num_inference_steps;
  int64_t t = (int64_t)s->timesteps[i];
  int64_t prev = t - ratio;
  if (s->counter != 1) {
    dif__sched_hist_push(s, a->model_output, N_ETS);
  } else {
    prev = t;
    t = t + ratio;
  }
  int64_t ti;
  dif_status st = dif__sched_t_index(s, (double)t, &ti, err);
  if (st) return st;
  const float *x = a->sample;
  float *mo = s->buf[COMBINED];
  float **e = s->hist + s->n_hist - 1; /* e[0] = ets[-1], e[-1] = ets[-2], ... */
  if (s->n_hist == 1 && s->counter == 0) {
    memcpy(mo, a->model_output, (size_t)n * sizeof *mo);
    memcpy(s->buf[CUR_SAMPLE], x, (size_t)n * sizeof *x);
    s->have_last = true;
  } else if (s->n_hist == 1 && s->counter == 1) {
    for (int64_t k = 0; k < n; k++) mo[k] = (a->model_output[k] + e[0][k]) / 2;
    x = s->buf[CUR_SAMPLE];
    s->have_last = false; /* cur_sample = None (x still points at its data) */
  } else if (s->n_hist == 2) {
    for (int64_t k = 0; k < n; k++) mo[k] = (3 * e[0][k] - e[-1][k]) / 2;
  } else if (s->n_hist == 3) {
    for (int64_t k = 0; k < n; k++) mo[k] = (23 * e[0][k] - 16 * e[-1][k] + 5 * e[-2][k]) / 12;
  } else {
    const float c = (float)(1.0 / 24);
    for (int64_t k = 0; k < n; k++)
      mo[k] = c * (55 * e[0][k] - 59 * e[-1][k] + 37 * e[-2][k] - 9 * e[-3][k]);
  }
  prev_sample(s, x, ti, prev, mo, a->prev_sample, n);
  s->counter++;
  return DIF_OK;
}

static dif_status step(dif__scheduler *s, int i, dif__step_args *a, dif__error *err) {
  dif_status st = dif__sched_buffers(s, NBUF, a->n, err);
  if (st) return st;
  if (s->counter < n_prk(s)) return step_prk(s, i, a, err);
  if (!s->cfg.skip_prk_steps && s->n_hist < 3)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "PNDMScheduler: PLMS steps need the 12 PRK steps first");
  return step_plms(s, i, a, err);
}

const dif__sched_ops dif__sched_pndm_ops = {
    .check = dif__sched_no_sample_prediction,
    .set_timesteps = set_timesteps,
    .step = step,
};
