/* sched_internal.h — the scheduler object shared by scheduler.c and the
 * per-class files sched_<class>.c.
 *
 * Scalar coefficients follow diffusers' 0-d float32 tensors: every one is a
 * float computed op by op in diffusers' order (a Python float operand is
 * rounded to float first, as torch does with a wrapped scalar), and every
 * elementwise expression is evaluated left to right in float. Nothing here
 * may be reassociated.
 */
#ifndef DIF__SAMPLERS_SCHED_INTERNAL_H
#define DIF__SAMPLERS_SCHED_INTERNAL_H

#include "samplers/sched_config.h"
#include "samplers/scheduler.h"

#define DIF__SCHED_MAX_BUFS 8

typedef struct dif__sched_ops {
  /* NULL, or the settings combinations the class refuses (diffusers refuses
   * them when stepping; libdif when the scheduler is made). */
  dif_status (*check)(const dif__sched_config *c, dif__error *err);
  /* After the tables: class-specific init (before any set_timesteps). */
  dif_status (*init)(dif__scheduler *s, dif__error *err);
  dif_status (*set_timesteps)(dif__scheduler *s, int steps, dif__error *err);
  /* Whether set_timesteps takes an img2img strength (s->strength). */
  bool strength_in_set_timesteps;
  /* NULL: identity. */
  dif_status (*scale)(dif__scheduler *s, int i, const float *x, float *out, int64_t n,
                      dif__error *err);
  dif_status (*step)(dif__scheduler *s, int i, dif__step_args *a, dif__error *err);
  /* NULL: the alphas_cumprod formula. */
  dif_status (*add_noise)(const dif__scheduler *s, const float *x, const float *noise, double t,
                          int64_t n, float *out, dif__error *err);
} dif__sched_ops;

struct dif__scheduler {
  dif__sched_config cfg;
  const dif__sched_ops *ops;
  int64_t T;             /* num_train_timesteps */
  float *betas, *alphas; /* [T] */
  float *alphas_cumprod; /* [T] */
  float final_alpha_cumprod;

  int num_inference_steps; /* 0 before set_timesteps */
  double strength;         /* set_timesteps' strength (LCM img2img), else 1 */
  int n_timesteps;
  double *timesteps; /* [n_timesteps] */
  int n_sigmas;      /* 0: the class has no sigmas */
  float *sigmas;     /* [n_sigmas] */
  float init_noise_sigma;

  /* Step state, reset by set_timesteps. */
  int step_index; /* -1: not yet located (diffusers' None) */
  int counter;    /* PNDM */
  int lower_order_nums, this_order;
  int n_hist;     /* entries used in hist[] */
  bool have_last; /* UniPC last_sample / PNDM cur_sample is set */
  int64_t n;      /* element count of the state buffers, 0: none yet */
  float *buf[DIF__SCHED_MAX_BUFS];
  float *hist[DIF__SCHED_MAX_BUFS]; /* views into buf: ets / model outputs / derivatives */
  bool cur_model_output_is_zero;    /* PNDM PRK: cur_model_output is still the int 0 */
};

extern const dif__sched_ops dif__sched_ddim_ops, dif__sched_ddpm_ops, dif__sched_pndm_ops,
    dif__sched_euler_ops, dif__sched_euler_a_ops, dif__sched_dpm_ops, dif__sched_lms_ops,
    dif__sched_unipc_ops, dif__sched_unclip_ops, dif__sched_lcm_ops;

/* One step of the DDPM family (DDPM, UnCLIP) from timestep t to prev: the
 * class gives the cumulative alphas of both, the step's beta and alpha (each
 * class computes them its own way, bit for bit as diffusers) and, for
 * t > 0, the noise's standard deviation. */
typedef struct dif__posterior {
  int64_t t, prev;
  float alpha_prod_t, alpha_prod_prev; /* alphas_cumprod[t], [prev] (1 before the start) */
  float beta, alpha;
  float (*std)(const dif__scheduler *s, const struct dif__posterior *p); /* called when t > 0 */
} dif__posterior;
/* x0 from the model output (prediction_type), clipped or thresholded, then
 * prev_sample = c0 x0 + c1 x (+ std * noise, drawn when t > 0), as
 * diffusers' DDPMScheduler.step and UnCLIPScheduler.step. Uses buf[0..1]. */
dif_status dif__sched_posterior_step(dif__scheduler *s, const dif__posterior *p, dif__step_args *a,
                                     dif__error *err);

/* convert_model_output of DPM-Solver and UniPC at sigmas[step_index]: x0
 * (to_x0: dpmsolver++ / predict_x0, thresholded if configured) or epsilon
 * (thresholded through x0 only if threshold_eps: DPM-Solver) into out[n]. */
dif_status dif__sched_convert_output(const dif__scheduler *s, const dif__step_args *a, bool to_x0,
                                     bool threshold_eps, float *out, dif__error *err);

/* A check (dif__sched_ops) refusing prediction_type sample (PNDM, Euler
 * ancestral). */
dif_status dif__sched_no_sample_prediction(const dif__sched_config *c, dif__error *err);

/* Allocates s->timesteps (n) and, if n_sigmas > 0, s->sigmas. */
dif_status dif__sched_alloc_schedule(dif__scheduler *s, int n_timesteps, int n_sigmas,
                                     dif__error *err);
/* Makes sure s->buf[0..count) hold n floats each (zeroed when (re)made). */
dif_status dif__sched_buffers(dif__scheduler *s, int count, int64_t n, dif__error *err);

/* *idx = t for an integer timestep in [0, T), else an error. */
dif_status dif__sched_t_index(const dif__scheduler *s, double t, int64_t *idx, dif__error *err);

/* diffusers' _init_step_index: the position of timestep t in the list (the
 * second one if it occurs more than once); not found: the last position when
 * last_if_missing (DPM-Solver, UniPC), else an error. */
dif_status dif__sched_locate(dif__scheduler *s, double t, bool last_if_missing, dif__error *err);

/* Timestep spacing of the DDIM/DDPM family: n values, descending. */
dif_status dif__sched_spacing_ddim(const dif__scheduler *s, int steps, double *out,
                                   dif__error *err);
/* Spacing of Euler, Euler ancestral and LMS (float32 values, descending). */
dif_status dif__sched_spacing_euler(const dif__scheduler *s, int steps, double *out,
                                    dif__error *err);
/* Spacing of DPM-Solver and UniPC (n + 1 points, the last dropped), given
 * the last usable training timestep. */
dif_status dif__sched_spacing_multistep(const dif__scheduler *s, int steps, int64_t last,
                                        double *out, dif__error *err);

/* The training sigmas and their float32 logs (malloc'd [T] each). */
dif_status dif__sched_log_sigmas(const dif__scheduler *s, float **sigmas, float **log_sigmas,
                                 dif__error *err);

/* scale_model_input of the sigma schedulers: x / sqrt(sigma^2 + 1). */
dif_status dif__sched_scale_by_sigma(dif__scheduler *s, int i, const float *x, float *out,
                                     int64_t n, dif__error *err);
/* add_noise of Euler / Euler ancestral / LMS: x + noise * sigma(t). */
dif_status dif__sched_add_noise_sigma(const dif__scheduler *s, const float *x, const float *noise,
                                      double t, int64_t n, float *out, dif__error *err);
/* add_noise of DPM-Solver / UniPC: alpha_t x + sigma_t noise. */
dif_status dif__sched_add_noise_alpha_sigma(const dif__scheduler *s, const float *x,
                                            const float *noise, double t, int64_t n, float *out,
                                            dif__error *err);

/* Pushes a copy of x[n] as the newest of `keep` history entries (hist[0] the
 * oldest), recycling the oldest buffer among buf[0..keep]. */
void dif__sched_hist_push(dif__scheduler *s, const float *x, int keep);
/* Karras sigmas between the full schedule's ends into sig[0..steps) and the
 * timesteps they imply, rounded as numpy does (DPM-Solver, UniPC). */
void dif__sched_karras_rounded(dif__scheduler *s, int steps, double *sig, const float *full,
                               const float *logs);
/* A multistep solver's step begun: the step index located from timestep i
 * on the first step, nbuf buffers of n floats, and a step left to take. */
dif_status dif__sched_multistep_begin(dif__scheduler *s, int i, int64_t n, int nbuf,
                                      dif__error *err);
/* A multistep solver's step done (DPM-Solver, UniPC): one more history entry
 * usable (up to order) and the next step's index; returns DIF_OK. */
dif_status dif__sched_multistep_done(dif__scheduler *s, int order);

/* Draws (or replays) the step noise into out[n] as randn_tensor. */
dif_status dif__sched_noise(dif__step_args *a, float *out, dif__error *err);

/* Dynamic thresholding if configured, else clamp(-r, r) if clip, in place. */
dif_status dif__sched_clip_or_threshold(const dif__scheduler *s, float *x0, int64_t n, int batch,
                                        bool clip, dif__error *err);
/* diffusers' _threshold_sample on x[batch][n / batch], in place. */
dif_status dif__sched_threshold(float *x, int64_t n, int batch, double ratio, double max_value,
                                dif__error *err);

/* LMS: the integral over [sigmas[t], sigmas[t + 1]] of the Lagrange basis
 * polynomial `cur` of the last `order` sigmas (as get_lms_coefficient). */
double dif__lms_coefficient(const float *sigmas, int n_sigmas, int order, int t, int cur);

/* sqrt(1 / (sigma^2 + 1)) and sigma * that, as _sigma_to_alpha_sigma_t. */
void dif__sigma_to_alpha_sigma(float sigma, float *alpha_t, float *sigma_t);

#endif
