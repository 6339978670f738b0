/* scheduler.h — diffusers noise schedulers (v0.26.3 semantics) for libdif.
 *
 * A dif__scheduler is `<Class>.from_config(<folder>/scheduler_config.json,
 * **overrides)`: DDIMScheduler, DDPMScheduler, PNDMScheduler,
 * EulerDiscreteScheduler, EulerAncestralDiscreteScheduler,
 * DPMSolverMultistepScheduler, LMSDiscreteScheduler, UniPCMultistepScheduler,
 * LCMScheduler and UnCLIPScheduler, also reachable by the short names ddim,
 * ddpm, pndm, euler, euler_a, dpmpp_2m, dpmpp_2m_karras (use_karras_sigmas),
 * lms, unipc, lcm, unclip. It never knows which network it drives: tensors are plain float
 * arrays of n elements whose leading dimension is `batch`.
 *
 * How a pipeline drives it (diffusers' denoising loop):
 *
 *   dif__scheduler_load("DDIMScheduler", "<model>/scheduler", NULL, &s, &err);
 *   dif__scheduler_set_timesteps(s, steps, &err);
 *   int first = 0;                                   // txt2img
 *   // img2img: dif__scheduler_img2img_start(s, steps, strength, &first,
 *   //                                      &steps_run, &err);
 *   //          latents = add_noise(image_latents, noise, timestep(first))
 *   // txt2img: latents = randn(...) * dif__scheduler_init_noise_sigma(s)
 *   for (int i = first; i < dif__scheduler_num_timesteps(s); i++) {
 *     double t = dif__scheduler_timestep(s, i);       // what the UNet gets
 *     dif__scheduler_scale_model_input(s, i, latents, x_in, n, &err);
 *     ... model(x_in, t) -> eps (with CFG) ...
 *     dif__step_args a = {.model_output = eps, .sample = latents,
 *                        .prev_sample = latents, .n = n, .batch = B,
 *                        .gens = gens, .n_gens = 1};
 *     dif__scheduler_step(s, i, &a, &err);
 *   }
 *
 * Index i is the position in dif__scheduler_timestep's list (the full list
 * set_timesteps made, also for img2img). Like diffusers, the step-index
 * schedulers (Euler, Euler ancestral, LMS, DPM-Solver, UniPC) locate their
 * position from the first timestep they see and then count steps; PNDM counts
 * its own calls; the others only use timestep(i). The state (PNDM ets,
 * DPM-Solver model outputs, LMS derivatives, UniPC history) lives in the
 * scheduler and is reset by set_timesteps; n must stay the same between
 * set_timesteps calls. A scheduler is used by one thread at a time.
 *
 * Stochastic steps (DDPM and UnCLIP at t > 0, DDIM with eta > 0, Euler —
 * which always draws, even with s_churn 0 —, Euler ancestral and LCM before
 * its last step) draw their
 * noise exactly as diffusers' randn_tensor(model_output.shape, generator) does,
 * from the generator(s) in the step arguments, so a run shares one generator
 * stream with the pipeline.
 */
#ifndef DIF__SAMPLERS_SCHEDULER_H
#define DIF__SAMPLERS_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "io/config.h"
#include "samplers/rng.h"

typedef struct dif__scheduler dif__scheduler;

/* The diffusers class name for a class or short name (case-insensitive for
 * short names), or NULL if unknown. */
const char *dif__scheduler_class_for(const char *name);
/* Same, but an unknown name is DIF_ERR_UNSUPPORTED with a message listing
 * every valid name. */
dif_status dif__scheduler_check_name(const char *name, dif__error *err);

/* Builds `name` from a parsed scheduler_config.json (cfg may be NULL: class
 * defaults) and overrides, a JSON object text such as
 * {"prediction_type": "epsilon", "timestep_spacing": "trailing"} (NULL or ""
 * for none). A short name's implied settings (dpmpp_2m: algorithm_type
 * dpmsolver++, solver_order 2; dpmpp_2m_karras: also use_karras_sigmas)
 * apply unless the overrides set those keys. */
dif_status dif__scheduler_create(const char *name, const dif__config *cfg, const char *overrides,
                                 dif__scheduler **out, dif__error *err);
/* Same, reading <folder>/scheduler_config.json. */
dif_status dif__scheduler_load(const char *name, const char *folder, const char *overrides,
                               dif__scheduler **out, dif__error *err);
void dif__scheduler_free(dif__scheduler *s);

const char *dif__scheduler_class_name(const dif__scheduler *s);
int64_t dif__scheduler_num_train_timesteps(const dif__scheduler *s);
/* alphas_cumprod[num_train_timesteps] (float32, as diffusers keeps it). */
const float *dif__scheduler_alphas_cumprod(const dif__scheduler *s);

/* set_timesteps(num_inference_steps): 1 <= steps <= num_train_timesteps.
 * Resets the step state. */
dif_status dif__scheduler_set_timesteps(dif__scheduler *s, int num_inference_steps,
                                        dif__error *err);
/* LCMScheduler.set_timesteps(num_inference_steps, strength=strength), as
 * LatentConsistencyModelImg2ImgPipeline calls it: the schedule is taken from
 * the first int(original_inference_steps * strength) distillation timesteps
 * and has num_inference_steps entries; strength in (0, 1]. Another class
 * takes only strength 1 (DIF_ERR_INVALID_ARGUMENT otherwise: its img2img
 * uses dif__scheduler_img2img_start). */
dif_status dif__scheduler_set_timesteps_strength(dif__scheduler *s, int num_inference_steps,
                                                 double strength, dif__error *err);
/* Whether s's set_timesteps takes a strength (LCMScheduler). */
bool dif__scheduler_takes_strength(const dif__scheduler *s);
/* Length of the timestep list (PNDM with skip_prk_steps has one more than
 * the steps; 0 before set_timesteps) and its entries, as float64 (integer
 * for most classes, float32 values for Euler/LMS). */
int dif__scheduler_num_timesteps(const dif__scheduler *s);
double dif__scheduler_timestep(const dif__scheduler *s, int i);
/* The sigmas of the schedulers that have them (Euler, Euler ancestral, LMS,
 * DPM-Solver, UniPC: num_timesteps + 1 values), else NULL. */
const float *dif__scheduler_sigmas(const dif__scheduler *s, int *n);
/* Standard deviation of the initial noise (1, or the largest sigma for the
 * sigma schedulers; sqrt(max^2 + 1) with leading spacing). */
float dif__scheduler_init_noise_sigma(const dif__scheduler *s);

/* scale_model_input(sample, timestep(i)) into out[n] (may alias sample). */
dif_status dif__scheduler_scale_model_input(dif__scheduler *s, int i, const float *sample,
                                            float *out, int64_t n, dif__error *err);

typedef struct dif__step_args {
  const float *model_output; /* [n] */
  const float *sample;       /* [n] */
  float *prev_sample;        /* [n] out; may alias sample or model_output */
  float *pred_original;      /* [n] out, optional: x0 when the class returns it */
  int64_t n;
  int batch; /* leading dimension: 0 means 1 */
  /* Generator(s) for a stochastic step: one, or one per batch item. */
  dif__rng *const *gens;
  int n_gens;
  const float *noise; /* optional: use this instead of drawing (replays, tests) */
  float *noise_out;   /* optional [n]: receives the noise the step used */
  /* Step options (pipeline kwargs): DDIM's eta and use_clipped_model_output. */
  double eta;
  bool use_clipped_model_output;
  /* Set by the step. */
  bool drew_noise;
  bool wrote_pred_original;
} dif__step_args;

/* step(model_output, timestep(i), sample): writes prev_sample. */
dif_status dif__scheduler_step(dif__scheduler *s, int i, dif__step_args *a, dif__error *err);

/* add_noise(original, noise, timestep) into out[n] (may alias either input):
 * sqrt(ac[t]) x + sqrt(1 - ac[t]) noise, or x + sigma noise for the sigma
 * schedulers (timestep must then be one of the current timesteps). */
dif_status dif__scheduler_add_noise(const dif__scheduler *s, const float *original,
                                    const float *noise, double timestep, int64_t n, float *out,
                                    dif__error *err);

/* img2img strength as diffusers' img2img pipelines: init = min(int(steps *
 * strength), steps), t_start = max(steps - init, 0); returns the first index
 * into the timestep list (t_start * order) and sets *steps_run to
 * steps - t_start. Call after set_timesteps(steps). strength must be in
 * [0, 1]; a strength that leaves no step is DIF_ERR_INVALID_ARGUMENT. */
dif_status dif__scheduler_img2img_start(const dif__scheduler *s, int num_inference_steps,
                                        double strength, int *first, int *steps_run,
                                        dif__error *err);

#endif
