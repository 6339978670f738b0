/* kind_upscale.c — StableDiffusionUpscalePipeline runs (tests/fixtures
 * README-editing.md, cases/upscale): the tiny x4 upscaler
 * (models/tiny-x4-upscaler) free-running from the case's seed, low-res image
 * and noise level, compared at every recorded tensor at the pipeline
 * tolerances (pipeline_run.c); every case runs in full. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"
#include "pipeline_run.h"
#include "pipelines/generate.h"

/* The case's low_res_scheduler must be the folder's own, as the run uses
 * (libdif always noises with the folder's low_res_scheduler). */
static int check_low_res_ref(golden *g, const char *name, json_t *set, const char *model) {
  json_t *ref = json_object_get(set, "low_res_scheduler");
  const char *cls = ref ? pipeline_str(ref, "class") : NULL,
             *cfg = ref ? pipeline_str(ref, "config") : NULL;
  json_t *ov = ref ? json_object_get(ref, "overrides") : NULL;
  char want[4096];
  snprintf(want, sizeof want, "%s/low_res_scheduler", model);
  if (!cls || strcmp(cls, "DDPMScheduler") != 0 || !cfg || strcmp(cfg, want) != 0 ||
      (ov && json_object_size(ov))) {
    golden_fail(g, name, "low_res_scheduler is not the folder's DDPMScheduler (%s)", want);
    return 0;
  }
  return 1;
}

static void run_case(golden *g, const char *dir, const char *name, const char *pipeline,
                     const dif__safetensors *st) {
  (void)pipeline; /* pipeline_each_run checked it */
  const char *settings = dif__st_metadata(st, "settings");
  json_error_t je;
  json_t *set = settings ? json_loads(settings, 0, &je) : NULL;
  const char *model = set ? pipeline_str(set, "model") : NULL, *image = NULL;
  if (!set || !model || !(image = pipeline_str(set, "image"))) {
    golden_fail(g, name, "metadata lacks settings / model / image");
    json_decref(set);
    return;
  }
  if (!check_low_res_ref(g, name, set, model)) {
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
  if (m.max_noise_level != (int32_t)pipeline_num(set, "max_noise_level", -1))
    golden_fail(g, name, "max_noise_level %d, the case says %g", (int)m.max_noise_level,
                pipeline_num(set, "max_noise_level", -1));
  dif__config *scfg = NULL;
  char *overrides = NULL;
  const char *sclass = NULL;
  dif__image img = {0};
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, image);
  dif_status s = pipeline_scheduler(g, set, &sclass, &scfg, &overrides, &err);
  if (!s) s = dif__image_load(path, NULL, &img, &err);
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
                    .steps = (int)pipeline_num(set, "num_inference_steps", 75),
                    .batch = 1,
                    .guidance = (float)pipeline_num(set, "guidance_scale", 9.0),
                    .prior_steps = 1,
                    .noise_level = (int)pipeline_num(set, "noise_level", 20),
                    .eta = (float)pipeline_num(set, "eta", 0.0),
                    .scheduler = sclass,
                    .scheduler_cfg = scfg,
                    .scheduler_overrides = overrides,
                    .seed = (uint64_t)pipeline_num(set, "seed", 0),
                    .init_image = &img,
                    .trace = pipeline_on_trace,
                    .trace_user = &rc};
  pipeline_generate(g, name, &m, &k, &r, &rc, s, &err);
  golden_wino_end(g, k.wino);
  dif__arena_free(&arena);
  dif__image_free(&img);
  dif__config_free(scfg);
  free(overrides);
  dif__models_free(&m);
  json_decref(set);
}

int golden_kind_upscale(golden *g, const char *dir) {
  return pipeline_each_run(g, dir, "upscale", "StableDiffusionUpscalePipeline", run_case);
}
