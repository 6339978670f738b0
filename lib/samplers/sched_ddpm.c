/* sched_ddpm.c — DDPMScheduler (fixed_small / fixed_small_log / fixed_large
 * variances, clip_sample, thresholding, the three prediction types). It is
 * also what StableUnCLIPPipeline runs as its prior scheduler (built from
 * Karlo's UnCLIPScheduler config) and what noises the image embeddings. */
#include <math.h>
#include <string.h>

#include "samplers/sched_internal.h"
#include "samplers/torch_math.h"

static dif_status set_timesteps(dif_scheduler *s, int steps, dif_error *err) {
  dif_status st = dif_sched_alloc_schedule(s, steps, 0, err);
  if (!st) st = dif_sched_spacing_ddim(s, steps, s->timesteps, err);
  return st;
}

/* _get_variance(t) for the configured variance_type. */
static float get_variance(const dif_scheduler *s, int64_t t, int64_t prev) {
  const float at = s->alphas_cumprod[t];
  const float ap = prev >= 0 ? s->alphas_cumprod[prev] : 1.0f;
  const float beta = 1.0f - at / ap;
  float v = (1.0f - ap) / (1.0f - at) * beta;
  v = v < 1e-20f ? 1e-20f : v;
  switch (s->cfg.variance_type) {
  case DIF_VAR_FIXED_SMALL_LOG: return dif_torch_expf(0.5f * dif_torch_logf(v));
  case DIF_VAR_FIXED_LARGE: return beta;
  case DIF_VAR_FIXED_LARGE_LOG: return dif_torch_logf(beta);
  default: return v;
  }
}

static dif_status step(dif_scheduler *s, int i, dif_step_args *a, dif_error *err) {
  const int64_t n = a->n;
  int64_t t;
  dif_status st = dif_sched_t_index(s, s->timesteps[i], &t, err);
  if (!st) st = dif_sched_buffers(s, 2, n, err);
  if (st) return st;
  const int64_t prev = t - s->T / s->num_inference_steps;
  float *x0 = s->buf[0], *noise = s->buf[1];
  const float at = s->alphas_cumprod[t];
  const float ap = prev >= 0 ? s->alphas_cumprod[prev] : 1.0f;
  const float bt = 1.0f - at, bp = 1.0f - ap;
  const float cur_alpha = at / ap, cur_beta = 1.0f - cur_alpha;
  const float sa = sqrtf(at), sb = sqrtf(bt);
  const float *mo = a->model_output, *x = a->sample;
  for (int64_t k = 0; k < n; k++)
    x0[k] = s->cfg.prediction_type == DIF_PRED_EPSILON  ? (x[k] - sb * mo[k]) / sa
            : s->cfg.prediction_type == DIF_PRED_SAMPLE ? mo[k]
                                                        : sa * x[k] - sb * mo[k];
  if ((st = dif_sched_clip_or_threshold(s, x0, n, a->batch, s->cfg.clip_sample, err))) return st;
  const float c0 = (sqrtf(ap) * cur_beta) / bt;
  const float c1 = sqrtf(cur_alpha) * bp / bt;
  float v = 0;
  if (t > 0) {
    if ((st = dif_sched_noise(a, noise, err))) return st;
    v = get_variance(s, t, prev);
    if (s->cfg.variance_type != DIF_VAR_FIXED_SMALL_LOG) v = sqrtf(v);
  }
  if (a->pred_original) {
    memcpy(a->pred_original, x0, (size_t)n * sizeof *x0);
    a->wrote_pred_original = true;
  }
  for (int64_t k = 0; k < n; k++) {
    float p = c0 * x0[k] + c1 * x[k];
    a->prev_sample[k] = t > 0 ? p + v * noise[k] : p + 0.0f;
  }
  return DIF_OK;
}

const dif_sched_ops dif_sched_ddpm_ops = {
    .set_timesteps = set_timesteps,
    .step = step,
};
