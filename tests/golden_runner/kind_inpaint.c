/* kind_inpaint.c — StableDiffusionInpaintPipeline runs (tests/fixtures
 * README-editing.md, cases/inpaint): 4-channel UNets (tiny-sd) and a
 * 9-channel inpainting UNet (tiny-sd-inpaint), free-running from the same
 * seed, image and mask, compared at every recorded tensor at the pipeline
 * tolerances (pipeline_run.c). The padding_mask_crop case also checks the
 * crop box (crop.coords), the generated picture as 8-bit pixels and the
 * final picture after the paste-back (out.generated_uint8,
 * out.image_uint8). Every case runs: a setting the runner does not know
 * fails the case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"
#include "pipeline_run.h"
#include "pipelines/edit.h"
#include "pipelines/generate.h"

typedef struct inputs {
  dif__image image, mask_image;
  float *mask;
} inputs;

static dif_status load_inputs(const char *dir, json_t *set, inputs *in, dif__error *err) {
  const char *image = pipeline_str(set, "image"), *mask = pipeline_str(set, "mask_image");
  if (!image || !mask)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "settings lack image / mask_image");
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, image);
  dif_status s = dif__image_load(path, NULL, &in->image, err);
  snprintf(path, sizeof path, "%s/%s", dir, mask);
  if (!s) s = dif__image_load(path, NULL, &in->mask_image, err);
  int W = (int)pipeline_num(set, "width", 0), H = (int)pipeline_num(set, "height", 0);
  if (!s) s = dif__mask_from_image(&in->mask_image, W, H, "the mask", &in->mask, err);
  return s;
}

static void run_case(golden *g, const char *dir, const char *name, const char *pipeline,
                     const dif__safetensors *st) {
  (void)pipeline; /* pipeline_each_run checked it */
  const char *settings = dif__st_metadata(st, "settings");
  json_error_t je;
  json_t *set = settings ? json_loads(settings, 0, &je) : NULL;
  const char *model = set ? pipeline_str(set, "model") : NULL;
  if (!set || !model) {
    golden_fail(g, name, "metadata lacks settings / model");
    json_decref(set);
    return;
  }
  /* every setting the case records and the run reproduces (reference_error:
   * the tensors compared with a float64 replay, pipeline_run.c) */
  static const char *const known[] = {"model",
                                      "scheduler",
                                      "prompt",
                                      "negative_prompt",
                                      "image",
                                      "mask_image",
                                      "height",
                                      "width",
                                      "strength",
                                      "guidance_scale",
                                      "num_inference_steps",
                                      "seed",
                                      "generator",
                                      "padding_mask_crop",
                                      "mask_rect",
                                      "unet_in_channels",
                                      "output_type",
                                      "timesteps",
                                      "draw_order",
                                      "reference_error"};
  const char *key;
  json_t *val;
  json_object_foreach(set, key, val) {
    size_t k = 0;
    while (k < sizeof known / sizeof *known && strcmp(known[k], key) != 0) k++;
    if (k == sizeof known / sizeof *known) {
      golden_fail(g, name, "setting '%s' is not one the runner reproduces", key);
      json_decref(set);
      return;
    }
  }
  json_t *crop = json_object_get(set, "padding_mask_crop");
  if (crop && !json_is_integer(crop)) {
    golden_fail(g, name, "padding_mask_crop is not an integer");
    json_decref(set);
    return;
  }
  dif__models m;
  dif__error err = {0};
  if (dif__models_load(&m, golden_path(g, model), NULL, NULL, NULL, &err)) {
    golden_fail(g, name, "load: %s", err.msg);
    json_decref(set);
    return;
  }
  dif__config *scfg = NULL;
  char *overrides = NULL;
  const char *sclass = NULL;
  inputs in = {0};
  dif_status s = pipeline_scheduler(g, set, &sclass, &scfg, &overrides, &err);
  if (!s) s = load_inputs(dir, set, &in, &err);
  const char *prompt = pipeline_str(set, "prompt");
  dif__part part = {DIF__PART_TEXT, prompt ? prompt : "", NULL, 1.0f};
  run_ctx rc = {g, name, st, NULL, 0, 0, m.vae.scaling_factor};
  dif__arena arena;
  dif__arena_init(&arena, 1u << 20);
  /* exact: the fixtures' float32 path (the VAE's by Winograd with --wino) */
  dif__kctx k = golden_pipeline_kctx(g, &arena);
  dif__request r = {.parts = &part,
                    .n_parts = 1,
                    .negative = pipeline_str(set, "negative_prompt"),
                    .width = (int)pipeline_num(set, "width", 0),
                    .height = (int)pipeline_num(set, "height", 0),
                    .steps = (int)pipeline_num(set, "num_inference_steps", 50),
                    .batch = 1,
                    .guidance = (float)pipeline_num(set, "guidance_scale", 7.5),
                    .prior_steps = 1,
                    .eta = (float)pipeline_num(set, "eta", 0.0),
                    .scheduler = sclass,
                    .scheduler_cfg = scfg,
                    .scheduler_overrides = overrides,
                    .seed = (uint64_t)pipeline_num(set, "seed", 0),
                    .init_image = &in.image,
                    .strength = (float)pipeline_num(set, "strength", 1.0),
                    .mask = in.mask,
                    .mask_crop = crop != NULL,
                    .mask_crop_padding = crop ? (int)json_integer_value(crop) : 0,
                    .trace = pipeline_on_trace,
                    .trace_user = &rc};
  pipeline_generate(g, name, &m, &k, &r, &rc, s, &err);
  golden_wino_end(g, k.wino);
  dif__arena_free(&arena);
  dif__image_free(&in.image);
  dif__image_free(&in.mask_image);
  free(in.mask);
  dif__config_free(scfg);
  free(overrides);
  dif__models_free(&m);
  json_decref(set);
}

int golden_kind_inpaint(golden *g, const char *dir) {
  return pipeline_each_run(g, dir, "inpaint", "StableDiffusionInpaintPipeline", run_case);
}
