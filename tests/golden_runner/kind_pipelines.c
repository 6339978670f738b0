/* kind_pipelines.c — whole pipelines (README-diffusers "cases/pipelines"):
 * StableUnCLIPPipeline, StableUnCLIPImg2ImgPipeline, StableDiffusionPipeline
 * and StableDiffusionImg2ImgPipeline runs (and, as kind few_step,
 * LatentConsistencyModelPipeline and LatentConsistencyModelImg2ImgPipeline), free-running from the
 * same seed and settings, compared at every recorded tensor.
 *
 * Tolerances (README-diffusers "Suggested tolerances"; the reference's own
 * noise floor is 0):
 *   randn.draw*                         bit-exact: the generator must match
 *   ids, timesteps, masks               exact
 *   encoder outputs (text, image)       1e-5 abs: single components
 *   per-step tensors (prior and UNet)   1e-4 abs: a free-running C loop with
 *                                       another summation order drifts a little
 *                                       each step
 *   vae.decode.in                       1e-4 / scaling_factor: the final latents
 *                                       divided by the VAE's scaling factor
 *                                       (0.18215), so the latent bound scaled
 *   vae.decode.out, out.images          1e-3 abs: the final [0,1] image
 * Every tensor the run records that libdif also produces is compared; a
 * fixture tensor libdif never produced fails the case. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"
#include "pipeline_run.h"
#include "pipelines/generate.h"

/* index.json names each run's pipeline class; the file's metadata holds the
 * same settings. */
static void run_case(golden *g, const char *dir, const char *name, const char *pipeline,
                     const dif__safetensors *st) {
  const char *settings = dif__st_metadata(st, "settings");
  json_error_t je;
  json_t *set = settings ? json_loads(settings, 0, &je) : NULL;
  const char *model = set ? pipeline_str(set, "model") : NULL;
  if (!set || !pipeline || !model) {
    golden_fail(g, name, "metadata lacks settings / pipeline / model");
    json_decref(set);
    return;
  }
  bool unclip_txt = strcmp(pipeline, "StableUnCLIPPipeline") == 0;
  bool unclip_img = strcmp(pipeline, "StableUnCLIPImg2ImgPipeline") == 0;
  /* a latent consistency model's pipelines run as Stable Diffusion's (the
   * model's time_cond_proj_dim switches guidance off and the embedding on) */
  bool sd_txt = strcmp(pipeline, "StableDiffusionPipeline") == 0 ||
                strcmp(pipeline, "LatentConsistencyModelPipeline") == 0;
  bool sd_img = strcmp(pipeline, "StableDiffusionImg2ImgPipeline") == 0 ||
                strcmp(pipeline, "LatentConsistencyModelImg2ImgPipeline") == 0;
  if (!unclip_txt && !unclip_img && !sd_txt && !sd_img) {
    golden_fail(g, name, "unknown pipeline %s", pipeline);
    json_decref(set);
    return;
  }
  const char *prior_model = pipeline_str(set, "prior_model");
  dif__models m;
  dif__error err = {0};
  char prior_path[4096];
  if (prior_model) snprintf(prior_path, sizeof prior_path, "%s", golden_path(g, prior_model));
  if (dif__models_load(&m, golden_path(g, model), prior_model ? prior_path : NULL, NULL, NULL,
                       &err)) {
    golden_fail(g, name, "load: %s", err.msg);
    json_decref(set);
    return;
  }
  /* the decoder scheduler reference: class, config folder, overrides */
  dif__config *scfg = NULL;
  char *overrides = NULL;
  const char *sclass = NULL;
  dif_status s = pipeline_scheduler(g, set, &sclass, &scfg, &overrides, &err);
  json_t *pref = json_object_get(set, "prior_scheduler");
  const char *pclass = json_is_object(pref) ? pipeline_str(pref, "class") : NULL;
  /* the prompt */
  dif__part parts[2];
  int n_parts = 0;
  dif__image image = {0};
  const char *prompt = pipeline_str(set, "prompt"), *image_file = pipeline_str(set, "image");
  if (!s && image_file) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, image_file);
    s = dif__image_load(path, NULL, &image, &err);
  }
  if (!s && unclip_img) parts[n_parts++] = (dif__part){DIF__PART_IMAGE, NULL, &image, 1.0f};
  if (!s && prompt) parts[n_parts++] = (dif__part){DIF__PART_TEXT, prompt, NULL, 1.0f};
  int height = (int)pipeline_num(set, "height", image.rgb ? image.height : 0);
  int width = (int)pipeline_num(set, "width", image.rgb ? image.width : 0);
  run_ctx rc = {g, name, st, NULL, 0, 0, m.vae.scaling_factor};
  dif__arena arena;
  dif__arena_init(&arena, 1u << 20);
  /* exact: the fixtures' float32 path (the VAE's by Winograd with --wino) */
  dif__kctx k = golden_pipeline_kctx(g, &arena);
  dif__request r = {
      .parts = parts,
      .n_parts = n_parts,
      .negative = pipeline_str(set, "negative_prompt"),
      .width = width,
      .height = height,
      .steps = (int)pipeline_num(set, "num_inference_steps", sd_txt || sd_img ? 50 : 20),
      .batch = (int)pipeline_num(set, "num_images_per_prompt", 1),
      .guidance = (float)pipeline_num(set, "guidance_scale", sd_txt || sd_img ? 7.5 : 10.0),
      .prior_steps = (int)pipeline_num(set, "prior_num_inference_steps", 25),
      .prior_guidance = (float)pipeline_num(set, "prior_guidance_scale", 4.0),
      .prior_scheduler = pclass,
      .noise_level = (int)pipeline_num(set, "noise_level", 0),
      .eta = (float)pipeline_num(set, "eta", 0.0),
      .scheduler = sclass,
      .scheduler_cfg = scfg,
      .scheduler_overrides = overrides,
      .seed = (uint64_t)pipeline_num(set, "seed", 0),
      .init_image = sd_img ? &image : NULL,
      .strength = (float)pipeline_num(set, "strength", 0.8),
      .text_to_prior = unclip_txt,
      .trace = pipeline_on_trace,
      .trace_user = &rc,
  };
  pipeline_generate(g, name, &m, &k, &r, &rc, s, &err);
  golden_wino_end(g, k.wino);
  dif__arena_free(&arena);
  dif__image_free(&image);
  dif__config_free(scfg);
  free(overrides);
  dif__models_free(&m);
  json_decref(set);
}

int golden_kind_pipelines(golden *g, const char *dir) {
  return pipeline_each_run(g, dir, "pipelines", NULL, run_case);
}

/* tests/fixtures cases/few_step (tests/oracle/make_few_step.py): the same
 * runs and tolerances for LatentConsistencyModel(Img2Img)Pipeline on a tiny
 * latent consistency model and StableDiffusion(Img2Img)Pipeline with
 * SD-Turbo- and LCM-LoRA-style settings. */
int golden_kind_few_step(golden *g, const char *dir) {
  return pipeline_each_run(g, dir, "few_step", NULL, run_case);
}
