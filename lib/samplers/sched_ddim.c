/* sched_ddim.c — DDIMScheduler (eta, use_clipped_model_output, clip_sample,
 * thresholding, the three prediction types). */
#include <math.h>
#include <string.h>

#include "samplers/sched_internal.h"

static dif_status set_timesteps(dif__scheduler *s, int steps, dif__error *err) {
  dif_status st = dif__sched_alloc_schedule(s, steps, 0, err);
  if (!st) st = dif__sched_spacing_ddim(s, steps, s->timesteps, err);
  return st;
}

/* x0 and epsilon from the model output, as DDIM's step. */
static void x0_eps(dif__pred_type pred, float sa, float sb, const float *mo, const float *x,
                   float *x0, float *eps, int64_t n) {
  for (int64_t k = 0; k < n; k++) {
    if (pred == DIF__PRED_EPSILON) {
      x0[k] = (x[k] - sb * mo[k]) / sa;
      eps[k] = mo[k];
    } else if (pred == DIF__PRED_SAMPLE) {
      x0[k] = mo[k];
      eps[k] = (x[k] - sa * mo[k]) / sb;
    } else {
      x0[k] = sa * x[k] - sb * mo[k];
      eps[k] = sa * mo[k] + sb * x[k];
    }
  }
}

static dif_status step(dif__scheduler *s, int i, dif__step_args *a, dif__error *err) {
  const int64_t n = a->n;
  int64_t t, prev = (int64_t)s->timesteps[i] - s->T / s->num_inference_steps;
  dif_status st = dif__sched_t_index(s, s->timesteps[i], &t, err);
  if (!st) st = dif__sched_buffers(s, 3, n, err);
  if (st) return st;
  float *x0 = s->buf[0], *eps = s->buf[1], *noise = s->buf[2];
  const float at = s->alphas_cumprod[t];
  const float ap = prev >= 0 ? s->alphas_cumprod[prev] : s->final_alpha_cumprod;
  const float bt = 1.0f - at;
  const float sa = sqrtf(at), sb = sqrtf(bt);
  x0_eps(s->cfg.prediction_type, sa, sb, a->model_output, a->sample, x0, eps, n);
  if ((st = dif__sched_clip_or_threshold(s, x0, n, a->batch, s->cfg.clip_sample, err))) return st;
  const float bp = 1.0f - ap;
  const float variance = (bp / bt) * (1.0f - at / ap);
  const float std_dev = (float)a->eta * sqrtf(variance);
  if (a->use_clipped_model_output)
    for (int64_t k = 0; k < n; k++) eps[k] = (a->sample[k] - sa * x0[k]) / sb;
  const float dir = sqrtf(1.0f - ap - std_dev * std_dev);
  const float sap = sqrtf(ap);
  if (a->eta > 0 && (st = dif__sched_noise(a, noise, err))) return st;
  if (a->pred_original) {
    memcpy(a->pred_original, x0, (size_t)n * sizeof *x0);
    a->wrote_pred_original = true;
  }
  for (int64_t k = 0; k < n; k++) {
    float p = sap * x0[k] + dir * eps[k];
    a->prev_sample[k] = a->eta > 0 ? p + std_dev * noise[k] : p;
  }
  return DIF_OK;
}

const dif__sched_ops dif__sched_ddim_ops = {
    .set_timesteps = set_timesteps,
    .step = step,
};
