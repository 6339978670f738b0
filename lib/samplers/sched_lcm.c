/* sched_lcm.c — LCMScheduler (diffusers v0.26.3 scheduling_lcm.py): the
 * multistep latent consistency sampler. Its timesteps are a subset of the
 * distillation schedule (original_inference_steps points, every
 * T / original_inference_steps); each step maps the model output to x0, takes
 * the consistency function's boundary-condition mix
 * denoised = c_out x0 + c_skip x, and, before the last step, noises it
 * again to the next timestep with fresh noise from the generator.
 *
 * timestep_spacing and steps_offset are config keys of the class that its
 * set_timesteps does not use; they are read (and checked) like diffusers
 * reads them, nothing more. */
#include <math.h>
#include <string.h>

#include "samplers/sched_internal.h"

/* set_timesteps(num_inference_steps, strength=s->strength) without custom
 * timesteps. */
static dif_status set_timesteps(dif__scheduler *s, int steps, dif__error *err) {
  const int64_t T = s->T, orig = s->cfg.original_inference_steps;
  const int64_t k = T / orig;
  /* int(original_steps * strength): a Python float product, truncated */
  const int64_t n_origin = (int64_t)((double)orig * s->strength);
  const int64_t skipping = n_origin / steps;
  if (skipping < 1)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "LCMScheduler: %d steps need at least as many distillation timesteps, but "
                     "original_inference_steps %lld x strength %g gives %lld",
                     steps, (long long)orig, s->strength, (long long)n_origin);
  if (steps > orig)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "LCMScheduler: %d steps exceed original_inference_steps %lld (the schedule "
                     "is a subset of that one)",
                     steps, (long long)orig);
  dif_status st = dif__sched_alloc_schedule(s, steps, 0, err);
  if (st) return st;
  /* lcm_origin_timesteps = arange(1, n_origin + 1) * k - 1, reversed;
   * indices = floor(np.linspace(0, n_origin, steps, endpoint=False)) */
  const double step = (double)n_origin / (double)steps;
  for (int i = 0; i < steps; i++) {
    int64_t idx = (int64_t)floor((double)i * step);
    s->timesteps[i] = (double)((n_origin - idx) * k - 1);
  }
  return DIF_OK;
}

/* get_scalings_for_boundary_condition_discrete(t): float32 0-d tensors,
 * t (int64) times timestep_scaling (a Python float) promoted to float32. */
static void boundary_scalings(const dif__scheduler *s, int64_t t, float *c_skip, float *c_out) {
  const float scaled = (float)t * (float)s->cfg.timestep_scaling;
  const float d = scaled * scaled + 0.25f; /* sigma_data ** 2 */
  *c_skip = (1.0f / d) * 0.25f;            /* torch: scalar / tensor is reciprocal() * scalar */
  *c_out = scaled / sqrtf(d);
}

/* predicted_original_sample for the prediction type. */
static void predict_x0(dif__pred_type pred, float sa, float sb, const float *mo, const float *x,
                       float *x0, int64_t n) {
  for (int64_t k = 0; k < n; k++) {
    if (pred == DIF__PRED_EPSILON)
      x0[k] = (x[k] - sb * mo[k]) / sa;
    else if (pred == DIF__PRED_SAMPLE)
      x0[k] = mo[k];
    else
      x0[k] = sa * x[k] - sb * mo[k];
  }
}

static dif_status step(dif__scheduler *s, int i, dif__step_args *a, dif__error *err) {
  const int64_t n = a->n;
  int64_t t, prev;
  dif_status st = dif__sched_t_index(s, s->timesteps[i], &t, err);
  /* the next timestep in the list, the same one at the last step */
  if (!st) st = dif__sched_t_index(s, s->timesteps[i + 1 < s->n_timesteps ? i + 1 : i], &prev, err);
  if (!st) st = dif__sched_buffers(s, 2, n, err);
  if (st) return st;
  float *denoised = s->buf[0], *noise = s->buf[1];
  const float at = s->alphas_cumprod[t];
  const float ap = prev >= 0 ? s->alphas_cumprod[prev] : s->final_alpha_cumprod;
  const float bt = 1.0f - at, bp = 1.0f - ap;
  float c_skip, c_out;
  boundary_scalings(s, t, &c_skip, &c_out);
  predict_x0(s->cfg.prediction_type, sqrtf(at), sqrtf(bt), a->model_output, a->sample, denoised, n);
  if ((st = dif__sched_clip_or_threshold(s, denoised, n, a->batch, s->cfg.clip_sample, err)))
    return st;
  for (int64_t k = 0; k < n; k++) denoised[k] = c_out * denoised[k] + c_skip * a->sample[k];
  if (a->pred_original) { /* LCMSchedulerOutput.denoised */
    memcpy(a->pred_original, denoised, (size_t)n * sizeof *denoised);
    a->wrote_pred_original = true;
  }
  if (i == s->num_inference_steps - 1) { /* step_index is i: the list has no repeats */
    if (a->prev_sample != denoised) memcpy(a->prev_sample, denoised, (size_t)n * sizeof *denoised);
    return DIF_OK;
  }
  if ((st = dif__sched_noise(a, noise, err))) return st;
  const float sap = sqrtf(ap), sbp = sqrtf(bp);
  for (int64_t k = 0; k < n; k++) a->prev_sample[k] = sap * denoised[k] + sbp * noise[k];
  return DIF_OK;
}

const dif__sched_ops dif__sched_lcm_ops = {
    .set_timesteps = set_timesteps,
    .strength_in_set_timesteps = true,
    .step = step,
};
