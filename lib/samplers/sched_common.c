/* sched_common.c — what several scheduler classes share: the Euler-family and
 * multistep timestep spacings, training log-sigmas, sigma scaling of the
 * model input, the two sigma-based add_noise variants and the history ring
 * of the multistep methods. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "samplers/sched_internal.h"
#include "samplers/schedule.h"

static void reverse(double *v, int n) {
  for (int i = 0; i < n / 2; i++) {
    double x = v[i];
    v[i] = v[n - 1 - i];
    v[n - 1 - i] = x;
  }
}

static dif_status trailing(const dif__scheduler *s, int steps, double start, double *out,
                           dif__error *err) {
  const double ratio = (double)s->T / (double)steps;
  const int64_t len = dif__np_arange_len(start, 0, -ratio);
  if (len != steps)
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: trailing spacing gives %lld timesteps for %d",
                     dif__scheduler_class_name(s), (long long)len, steps);
  dif__np_arange(start, -ratio, steps, out);
  return DIF_OK;
}

dif_status dif__sched_spacing_euler(const dif__scheduler *s, int steps, double *out,
                                    dif__error *err) {
  if (s->cfg.timestep_spacing == DIF__SPACING_LINSPACE) {
    /* np.linspace(0, T - 1, n, dtype=float32)[::-1] */
    dif__np_linspace(0, (double)(s->T - 1), steps, out);
    for (int i = 0; i < steps; i++) out[i] = (float)out[i];
    reverse(out, steps);
  } else if (s->cfg.timestep_spacing == DIF__SPACING_LEADING) {
    const int64_t ratio = s->T / steps;
    for (int i = 0; i < steps; i++)
      out[i] = (double)((float)((int64_t)(steps - 1 - i) * ratio) + (float)s->cfg.steps_offset);
  } else {
    dif_status st = trailing(s, steps, (double)s->T, out, err);
    if (st) return st;
    for (int i = 0; i < steps; i++) out[i] = (double)((float)dif__np_round(out[i]) - 1.0f);
  }
  return DIF_OK;
}

dif_status dif__sched_spacing_multistep(const dif__scheduler *s, int steps, int64_t last,
                                        double *out, dif__error *err) {
  if (s->cfg.timestep_spacing == DIF__SPACING_LINSPACE) {
    double *tmp = malloc((size_t)(steps + 1) * sizeof *tmp);
    if (!tmp) return dif__fail_oom(err, "timesteps", (size_t)(steps + 1) * sizeof *tmp);
    dif__np_linspace(0, (double)(last - 1), steps + 1, tmp);
    for (int i = 0; i < steps; i++) out[i] = (double)(int64_t)dif__np_round(tmp[steps - i]);
    free(tmp);
  } else if (s->cfg.timestep_spacing == DIF__SPACING_LEADING) {
    const int64_t ratio = last / (steps + 1);
    for (int i = 0; i < steps; i++)
      out[i] = (double)((int64_t)(steps - i) * ratio + s->cfg.steps_offset);
  } else {
    dif_status st = trailing(s, steps, (double)last, out, err);
    if (st) return st;
    for (int i = 0; i < steps; i++) out[i] = (double)((int64_t)dif__np_round(out[i]) - 1);
  }
  return DIF_OK;
}

dif_status dif__sched_log_sigmas(const dif__scheduler *s, float **sigmas, float **log_sigmas,
                                 dif__error *err) {
  *sigmas = malloc((size_t)s->T * sizeof(float));
  *log_sigmas = malloc((size_t)s->T * sizeof(float));
  if (!*sigmas || !*log_sigmas) {
    free(*sigmas);
    free(*log_sigmas);
    *sigmas = *log_sigmas = NULL;
    return dif__fail_oom(err, "sigmas", 2 * (size_t)s->T * sizeof(float));
  }
  dif__sched_train_sigmas(s->alphas_cumprod, s->T, *sigmas);
  for (int64_t i = 0; i < s->T; i++) (*log_sigmas)[i] = logf((*sigmas)[i]);
  return DIF_OK;
}

dif_status dif__sched_scale_by_sigma(dif__scheduler *s, int i, const float *x, float *out,
                                     int64_t n, dif__error *err) {
  if (s->step_index < 0) {
    dif_status st = dif__sched_locate(s, s->timesteps[i], false, err);
    if (st) return st;
  }
  const float sigma = s->sigmas[s->step_index];
  const float d = sqrtf(sigma * sigma + 1.0f);
  for (int64_t k = 0; k < n; k++) out[k] = x[k] / d;
  return DIF_OK;
}

dif_status dif__sched_add_noise_sigma(const dif__scheduler *s, const float *x, const float *noise,
                                      double t, int64_t n, float *out, dif__error *err) {
  int found = -1, count = 0;
  for (int i = 0; i < s->n_timesteps; i++)
    if (s->timesteps[i] == t) found = i, count++;
  if (count != 1)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "%s: add_noise timestep %g must occur once in the schedule (found %d)",
                     dif__scheduler_class_name(s), t, count);
  const float sigma = s->sigmas[found];
  for (int64_t k = 0; k < n; k++) out[k] = x[k] + noise[k] * sigma;
  return DIF_OK;
}

dif_status dif__sched_add_noise_alpha_sigma(const dif__scheduler *s, const float *x,
                                            const float *noise, double t, int64_t n, float *out,
                                            dif__error *err) {
  (void)err;
  int first = -1, second = -1;
  for (int i = 0; i < s->n_timesteps; i++)
    if (s->timesteps[i] == t) {
      if (first < 0)
        first = i;
      else if (second < 0)
        second = i;
    }
  const int idx = second >= 0 ? second : first >= 0 ? first : s->n_timesteps - 1;
  float alpha_t, sigma_t;
  dif__sigma_to_alpha_sigma(s->sigmas[idx], &alpha_t, &sigma_t);
  for (int64_t k = 0; k < n; k++) out[k] = alpha_t * x[k] + sigma_t * noise[k];
  return DIF_OK;
}

void dif__sched_hist_push(dif__scheduler *s, const float *x, int keep) {
  while (s->n_hist > keep - 1) { /* drop the oldest */
    memmove(s->hist, s->hist + 1, (size_t)(s->n_hist - 1) * sizeof *s->hist);
    s->n_hist--;
  }
  float *slot = NULL;
  for (int b = 0; b < keep && !slot; b++) {
    bool used = false;
    for (int h = 0; h < s->n_hist; h++) used |= s->hist[h] == s->buf[b];
    if (!used) slot = s->buf[b];
  }
  if (slot != x) memcpy(slot, x, (size_t)s->n * sizeof *slot);
  s->hist[s->n_hist++] = slot;
}

dif_status dif__sched_no_sample_prediction(const dif__sched_config *c, dif__error *err) {
  if (c->prediction_type == DIF__PRED_SAMPLE)
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s does not support prediction_type sample",
                     c->cls->name);
  return DIF_OK;
}

dif_status dif__sched_posterior_step(dif__scheduler *s, const dif__posterior *p, dif__step_args *a,
                                     dif__error *err) {
  const int64_t n = a->n;
  dif_status st = dif__sched_buffers(s, 2, n, err);
  if (st) return st;
  float *x0 = s->buf[0], *noise = s->buf[1];
  const float at = p->alpha_prod_t, ap = p->alpha_prod_prev;
  const float bt = 1.0f - at, bp = 1.0f - ap;
  const float sa = sqrtf(at), sb = sqrtf(bt);
  const float *mo = a->model_output, *x = a->sample;
  for (int64_t k = 0; k < n; k++)
    x0[k] = s->cfg.prediction_type == DIF__PRED_EPSILON  ? (x[k] - sb * mo[k]) / sa
            : s->cfg.prediction_type == DIF__PRED_SAMPLE ? mo[k]
                                                         : sa * x[k] - sb * mo[k];
  if ((st = dif__sched_clip_or_threshold(s, x0, n, a->batch, s->cfg.clip_sample, err))) return st;
  const float c0 = (sqrtf(ap) * p->beta) / bt;
  const float c1 = sqrtf(p->alpha) * bp / bt;
  float v = 0;
  if (p->t > 0) {
    if ((st = dif__sched_noise(a, noise, err))) return st;
    v = p->std(s, p);
  }
  if (a->pred_original) {
    memcpy(a->pred_original, x0, (size_t)n * sizeof *x0);
    a->wrote_pred_original = true;
  }
  for (int64_t k = 0; k < n; k++) {
    float q = c0 * x0[k] + c1 * x[k];
    a->prev_sample[k] = p->t > 0 ? q + v * noise[k] : q + 0.0f;
  }
  return DIF_OK;
}

dif_status dif__sched_convert_output(const dif__scheduler *s, const dif__step_args *a, bool to_x0,
                                     bool threshold_eps, float *out, dif__error *err) {
  const int64_t n = a->n;
  const float *mo = a->model_output, *x = a->sample;
  float al, sg;
  dif__sigma_to_alpha_sigma(s->sigmas[s->step_index], &al, &sg);
  const dif__pred_type pred = s->cfg.prediction_type;
  if (to_x0) {
    for (int64_t k = 0; k < n; k++)
      out[k] = pred == DIF__PRED_EPSILON  ? (x[k] - sg * mo[k]) / al
               : pred == DIF__PRED_SAMPLE ? mo[k]
                                          : al * x[k] - sg * mo[k];
    return s->cfg.thresholding ? dif__sched_clip_or_threshold(s, out, n, a->batch, false, err)
                               : DIF_OK;
  }
  for (int64_t k = 0; k < n; k++)
    out[k] = pred == DIF__PRED_EPSILON  ? mo[k]
             : pred == DIF__PRED_SAMPLE ? (x[k] - al * mo[k]) / sg
                                        : al * mo[k] + sg * x[k];
  if (threshold_eps && s->cfg.thresholding) {
    for (int64_t k = 0; k < n; k++) out[k] = (x[k] - sg * out[k]) / al;
    dif_status st = dif__sched_clip_or_threshold(s, out, n, a->batch, false, err);
    if (st) return st;
    for (int64_t k = 0; k < n; k++) out[k] = (x[k] - al * out[k]) / sg;
  }
  return DIF_OK;
}

dif_status dif__sched_multistep_done(dif__scheduler *s, int order) {
  if (s->lower_order_nums < order) s->lower_order_nums++;
  s->step_index++;
  return DIF_OK;
}

void dif__sched_karras_rounded(dif__scheduler *s, int steps, double *sig, const float *full,
                               const float *logs) {
  dif__karras_sigmas(full[0], full[s->T - 1], steps, sig);
  for (int i = 0; i < steps; i++)
    s->timesteps[i] = dif__np_round(dif__sigma_to_t(sig[i], logs, s->T));
}

dif_status dif__sched_multistep_begin(dif__scheduler *s, int i, int64_t n, int nbuf,
                                      dif__error *err) {
  dif_status st = DIF_OK;
  if (s->step_index < 0) st = dif__sched_locate(s, s->timesteps[i], true, err);
  if (!st) st = dif__sched_buffers(s, nbuf, n, err);
  if (!st && s->step_index + 1 >= s->n_sigmas)
    st = dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "%s: no step left", s->cfg.cls->name);
  return st;
}
