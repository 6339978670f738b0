/* sched_unclip.c — UnCLIPScheduler (Karlo's prior/decoder scheduler).
 *
 * Steps from timestep(i) to timestep(i + 1) — the prev_timestep that
 * UnCLIPPipeline passes — and to t - 1 at the last step (diffusers' None). */
#include <math.h>
#include <string.h>

#include "samplers/sched_internal.h"
#include "samplers/schedule.h"
#include "samplers/torch_math.h"

static dif_status set_timesteps(dif__scheduler *s, int steps, dif__error *err) {
  if (steps < 2)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "UnCLIPScheduler needs at least 2 steps");
  dif_status st = dif__sched_alloc_schedule(s, steps, 0, err);
  if (st) return st;
  const double ratio = (double)(s->T - 1) / (double)(steps - 1);
  for (int i = 0; i < steps; i++)
    s->timesteps[steps - 1 - i] = (double)(int64_t)dif__np_round((double)i * ratio);
  return DIF_OK;
}

static dif_status check(const dif__sched_config *c, dif__error *err) {
  if (c->prediction_type == DIF__PRED_V)
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "UnCLIPScheduler does not support v_prediction");
  if (c->variance_type != DIF__VAR_FIXED_SMALL_LOG)
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "UnCLIPScheduler: variance_type must be fixed_small_log");
  return DIF_OK;
}

/* _get_variance with fixed_small_log (the only variance_type allowed). */
static float unclip_std(const dif__scheduler *s, const dif__posterior *p) {
  (void)s;
  const float bt = 1.0f - p->alpha_prod_t, bp = 1.0f - p->alpha_prod_prev;
  const float v = bp / bt * p->beta;
  return dif__torch_expf(0.5f * dif__torch_logf(v < 1e-20f ? 1e-20f : v));
}

static dif_status step(dif__scheduler *s, int i, dif__step_args *a, dif__error *err) {
  dif__posterior p = {.std = unclip_std};
  dif_status st = dif__sched_t_index(s, s->timesteps[i], &p.t, err);
  if (st) return st;
  p.prev = i + 1 < s->n_timesteps ? (int64_t)s->timesteps[i + 1] : p.t - 1;
  p.alpha_prod_t = s->alphas_cumprod[p.t];
  p.alpha_prod_prev = p.prev >= 0 ? s->alphas_cumprod[p.prev] : 1.0f;
  if (p.prev == p.t - 1) {
    p.beta = s->betas[p.t];
    p.alpha = s->alphas[p.t];
  } else {
    p.beta = 1.0f - p.alpha_prod_t / p.alpha_prod_prev;
    p.alpha = 1.0f - p.beta;
  }
  return dif__sched_posterior_step(s, &p, a, err);
}

const dif__sched_ops dif__sched_unclip_ops = {
    .check = check,
    .set_timesteps = set_timesteps,
    .step = step,
};
