/* sched_unclip.c — UnCLIPScheduler (Karlo's prior/decoder scheduler).
 *
 * Steps from timestep(i) to timestep(i + 1) — the prev_timestep that
 * UnCLIPPipeline passes — and to t - 1 at the last step (diffusers' None). */
#include <math.h>
#include <string.h>

#include "samplers/sched_internal.h"
#include "samplers/schedule.h"
#include "samplers/torch_math.h"

static dif_status set_timesteps(dif_scheduler *s, int steps, dif_error *err) {
  if (steps < 2)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "UnCLIPScheduler needs at least 2 steps");
  dif_status st = dif_sched_alloc_schedule(s, steps, 0, err);
  if (st) return st;
  const double ratio = (double)(s->T - 1) / (double)(steps - 1);
  for (int i = 0; i < steps; i++)
    s->timesteps[steps - 1 - i] = (double)(int64_t)dif_np_round((double)i * ratio);
  return DIF_OK;
}

static dif_status check(const dif_sched_config *c, dif_error *err) {
  if (c->prediction_type == DIF_PRED_V)
    return dif_fail(err, DIF_ERR_UNSUPPORTED, "UnCLIPScheduler does not support v_prediction");
  if (c->variance_type != DIF_VAR_FIXED_SMALL_LOG)
    return dif_fail(err, DIF_ERR_UNSUPPORTED,
                    "UnCLIPScheduler: variance_type must be fixed_small_log");
  return DIF_OK;
}

static dif_status step(dif_scheduler *s, int i, dif_step_args *a, dif_error *err) {
  const int64_t n = a->n;
  int64_t t;
  dif_status st = dif_sched_t_index(s, s->timesteps[i], &t, err);
  if (!st) st = dif_sched_buffers(s, 2, n, err);
  if (st) return st;
  const int64_t prev = i + 1 < s->n_timesteps ? (int64_t)s->timesteps[i + 1] : t - 1;
  float *x0 = s->buf[0], *noise = s->buf[1];
  const float at = s->alphas_cumprod[t];
  const float ap = prev >= 0 ? s->alphas_cumprod[prev] : 1.0f;
  const float bt = 1.0f - at, bp = 1.0f - ap;
  float beta, alpha;
  if (prev == t - 1) {
    beta = s->betas[t];
    alpha = s->alphas[t];
  } else {
    beta = 1.0f - at / ap;
    alpha = 1.0f - beta;
  }
  const float sa = sqrtf(at), sb = sqrtf(bt);
  const float *mo = a->model_output, *x = a->sample;
  for (int64_t k = 0; k < n; k++)
    x0[k] = s->cfg.prediction_type == DIF_PRED_EPSILON ? (x[k] - sb * mo[k]) / sa : mo[k];
  if ((st = dif_sched_clip_or_threshold(s, x0, n, a->batch, s->cfg.clip_sample, err))) return st;
  const float c0 = (sqrtf(ap) * beta) / bt;
  const float c1 = sqrtf(alpha) * bp / bt;
  float v = 0;
  if (t > 0) {
    if ((st = dif_sched_noise(a, noise, err))) return st;
    v = bp / bt * beta;
    if (s->cfg.variance_type == DIF_VAR_FIXED_SMALL_LOG)
      v = dif_torch_expf(0.5f * dif_torch_logf(v < 1e-20f ? 1e-20f : v));
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

const dif_sched_ops dif_sched_unclip_ops = {
    .check = check,
    .set_timesteps = set_timesteps,
    .step = step,
};
