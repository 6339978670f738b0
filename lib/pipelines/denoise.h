/* denoise.h — the one denoising loop, for the prior and the decoder alike.
 *
 * diffusers' loop: for each timestep i from `first`: the model input is the
 * latents repeated [uncond × B, cond × B] with guidance (`cfg`; B items
 * without),
 * through scale_model_input, with `concat` appended to every item (an
 * inpainting UNet's mask and masked-image latents); the model; classifier-
 * free guidance u + g·(c − u); the scheduler's step; the recipe's hook (an
 * inpainting 4-channel UNet puts the unmasked latents back); progress. The
 * network is a callback: the loop never knows which one it drives. Every
 * tensor is traced under the names the golden fixtures use. */
#ifndef DIF__PIPELINES_DENOISE_H
#define DIF__PIPELINES_DENOISE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "samplers/scheduler.h"

struct gen;

/* The network: pred[NB, n_out] from x_in[NB, n_in] at timestep t. */
typedef dif_status (*dif__loop_model)(void *user, const float *x_in, int64_t NB, float t,
                                      float *pred, dif__error *err);
/* After the scheduler's step i (of the full timestep list), on lat[B, n]. */
typedef dif_status (*dif__loop_hook)(void *user, int i, float *lat, dif__error *err);

typedef struct dif__loop {
  dif__scheduler *sch;
  int first;           /* the first timestep index run */
  float *lat;          /* [B, n], updated in place */
  int64_t B, n;        /* items, values per item (also the model's output) */
  const float *concat; /* [NB, concat_n] appended to each input item, or NULL */
  int64_t concat_n;
  float guidance; /* the scale (messages; CFG's factor when cfg) */
  bool cfg;       /* classifier-free guidance: batches of 2B */
  float eta;
  dif__loop_model model;
  void *model_user;
  dif__loop_hook hook; /* may be NULL */
  void *hook_user;
  /* for messages: "the UNet", "the latents", "decoder step" */
  const char *model_name, *latents_name, *step_name;
  /* trace names: "<call>%d.<input>", "<call>%d.timestep", "<call>%d.<output>",
   * "<step>%d.<step_output>" (the guided output), "<step>%d.timestep",
   * "<step>%d.prev_sample" (the scheduler's output, before the hook), then
   * "<callback>.step%d.latents", "<callback>.step%d.t" */
  const char *call, *input, *output, *step, *step_output, *callback;
} dif__loop;

dif_status dif__denoise(struct gen *g, const dif__loop *l);

#endif
