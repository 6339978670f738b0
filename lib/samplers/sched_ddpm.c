/* sched_ddpm.c — DDPMScheduler (fixed_small / fixed_small_log / fixed_large
 * variances, clip_sample, thresholding, the three prediction types). It is
 * also what StableUnCLIPPipeline runs as its prior scheduler (built from
 * Karlo's UnCLIPScheduler config) and what noises the image embeddings. */
#include <math.h>
#include <string.h>

#include "samplers/sched_internal.h"
#include "samplers/torch_math.h"

static dif_status set_timesteps(dif__scheduler *s, int steps, dif__error *err) {
  dif_status st = dif__sched_alloc_schedule(s, steps, 0, err);
  if (!st) st = dif__sched_spacing_ddim(s, steps, s->timesteps, err);
  return st;
}

/* _get_variance(t) for the configured variance_type. */
static float get_variance(const dif__scheduler *s, int64_t t, int64_t prev) {
  const float at = s->alphas_cumprod[t];
  const float ap = prev >= 0 ? s->alphas_cumprod[prev] : 1.0f;
  const float beta = 1.0f - at / ap;
  float v = (1.0f - ap) / (1.0f - at) * beta;
  v = v < 1e-20f ? 1e-20f : v;
  switch (s->cfg.variance_type) {
  case DIF__VAR_FIXED_SMALL_LOG: return dif__torch_expf(0.5f * dif__torch_logf(v));
  case DIF__VAR_FIXED_LARGE: return beta;
  case DIF__VAR_FIXED_LARGE_LOG: return dif__torch_logf(beta);
  default: return v;
  }
}

/* The noise's standard deviation: the variance, its square root unless it
 * is already one (fixed_small_log). */
static float ddpm_std(const dif__scheduler *s, const dif__posterior *p) {
  float v = get_variance(s, p->t, p->prev);
  return s->cfg.variance_type != DIF__VAR_FIXED_SMALL_LOG ? sqrtf(v) : v;
}

static dif_status step(dif__scheduler *s, int i, dif__step_args *a, dif__error *err) {
  dif__posterior p = {.std = ddpm_std};
  dif_status st = dif__sched_t_index(s, s->timesteps[i], &p.t, err);
  if (st) return st;
  p.prev = p.t - s->T / s->num_inference_steps;
  p.alpha_prod_t = s->alphas_cumprod[p.t];
  p.alpha_prod_prev = p.prev >= 0 ? s->alphas_cumprod[p.prev] : 1.0f;
  p.alpha = p.alpha_prod_t / p.alpha_prod_prev; /* current_alpha_t */
  p.beta = 1.0f - p.alpha;
  return dif__sched_posterior_step(s, &p, a, err);
}

const dif__sched_ops dif__sched_ddpm_ops = {
    .set_timesteps = set_timesteps,
    .step = step,
};
