/* kind_lora.c — LoRA files merged at load (tests/fixtures/cases/lora, made by
 * tests/oracle/make_lora.py with diffusers v0.26.3's load_lora_weights).
 *
 * Each case names the model, its LoRAs (file, weight) and the settings of a
 * tests/golden pipeline case (sd_txt2img, or unclip_img2img: "image").
 * Checked:
 *   1. merged.<component>.<tensor>: the weights as io/lora_merge.c merges
 *      them against diffusers' fuse_lora(lora_scale=weight) values, 1e-6
 *      abs (float32 sums in another order; the weights are O(1));
 *   2. the whole run (StableDiffusionPipeline or StableUnCLIPImg2ImgPipeline
 *      with the LoRAs, scale = the weight) at every recorded tensor with the pipelines' tolerances
 *      (pipeline_run.c). diffusers runs the LoRA layers unfused
 *      (W·x + s·up·down·x); its own fused run differs from that by
 *      settings.fused_vs_unfused_max_abs (under 1e-6), far inside them. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/component.h"
#include "io/lora.h"
#include "kinds.h"
#include "pipeline_run.h"
#include "pipelines/generate.h"

#define DIF_MAX_LORAS_RUNNER 8

typedef struct loras {
  dif_lora_use uses[DIF_MAX_LORAS_RUNNER];
  int n;
} loras;

static dif_status open_loras(golden *g, json_t *set, loras *L, dif_error *err) {
  json_t *list = json_object_get(set, "loras"), *item;
  size_t i;
  L->n = 0;
  if (!json_is_array(list) || json_array_size(list) > DIF_MAX_LORAS_RUNNER)
    return dif_fail(err, DIF_ERR_BAD_MODEL, "settings.loras is not a list of at most %d",
                    DIF_MAX_LORAS_RUNNER);
  json_array_foreach(list, i, item) {
    dif_status s =
        dif_lora_open(golden_path(g, pipeline_str(item, "file")), &L->uses[L->n].lora, err);
    if (s) return s;
    L->uses[L->n++].weight = (float)pipeline_num(item, "weight", 1.0);
  }
  return DIF_OK;
}

/* merged.<component>.<tensor>: the component's weights opened with the
 * LoRAs bound, as the model loaders open them. */
static void check_merged(golden *g, const char *name, const dif_safetensors *st, const char *model,
                         const loras *L) {
  for (size_t i = 0; i < dif_st_count(st); i++) {
    const char *key = dif_st_entry_at(st, i)->name;
    if (strncmp(key, "merged.", 7) != 0) continue;
    char comp[64], dir[4200];
    const char *dot = strchr(key + 7, '.');
    if (!dot || (size_t)(dot - key - 7) >= sizeof comp) {
      golden_fail(g, name, "%s: no component in the name", key);
      continue;
    }
    memcpy(comp, key + 7, (size_t)(dot - key - 7));
    comp[dot - key - 7] = 0;
    snprintf(dir, sizeof dir, "%s/%s", model, comp);
    dif_error err = {0};
    dif_safetensors *w = NULL;
    dif_tensor t;
    dif_component_bind_loras(L->uses, L->n, model);
    dif_status s = dif_component_weights(dir, &w, &err);
    dif_component_bind_loras(NULL, 0, NULL);
    if (!s) s = dif_st_get_f32(w, dot + 1, &t, &err);
    if (s)
      golden_fail(g, name, "%s: %s", key, err.msg);
    else
      golden_check(g, name, key, t.data, dif_tensor_numel(&t), st, 1e-6, 0);
    dif_st_close(w);
  }
}

/* The run of the case's settings: SD txt2img, or (an "image" setting)
 * Stable unCLIP image variation with the prompt as its text part, as
 * kind_pipelines.c runs them. */
static dif_status run(golden *g, const char *name, const dif_safetensors *st, json_t *set,
                      dif_models *m, dif_error *err) {
  const char *sclass = NULL, *image_file = pipeline_str(set, "image");
  dif_config *scfg = NULL;
  char *overrides = NULL;
  dif_image image = {0};
  dif_part parts[2];
  int n_parts = 0;
  dif_status s = pipeline_scheduler(g, set, &sclass, &scfg, &overrides, err);
  if (!s && image_file && !(s = dif_image_load(golden_path(g, image_file), NULL, &image, err)))
    parts[n_parts++] = (dif_part){DIF_PART_IMAGE, NULL, &image, 1.0f};
  parts[n_parts++] = (dif_part){DIF_PART_TEXT, pipeline_str(set, "prompt"), NULL, 1.0f};
  run_ctx rc = {g, name, st, NULL, 0, 0, m->vae.scaling_factor};
  dif_arena arena;
  dif_arena_init(&arena, 1u << 20);
  dif_kctx k = {g->k.pool, &arena, NULL}; /* exact: the fixtures' float32 path */
  dif_request r = {
      .parts = parts,
      .n_parts = n_parts,
      .negative = pipeline_str(set, "negative_prompt"),
      .width = (int)pipeline_num(set, "width", 0),
      .height = (int)pipeline_num(set, "height", 0),
      .steps = (int)pipeline_num(set, "num_inference_steps", 0),
      .batch = 1,
      .guidance = (float)pipeline_num(set, "guidance_scale", 7.5),
      .prior_steps = 25,
      .prior_guidance = 4.0f,
      .noise_level = (int)pipeline_num(set, "noise_level", 0),
      .eta = (float)pipeline_num(set, "eta", 0.0),
      .scheduler = sclass,
      .scheduler_cfg = scfg,
      .scheduler_overrides = overrides,
      .seed = (uint64_t)pipeline_num(set, "seed", 0),
      .trace = pipeline_on_trace,
      .trace_user = &rc,
  };
  dif_result res = {0};
  if (!s) s = dif_generate(m, &k, &r, &res, err);
  static const char *const skip[] = {"merged."};
  if (!s) pipeline_finish(&rc, skip, 1);
  for (int j = 0; j < rc.n_seen; j++) free(rc.seen[j]);
  free(rc.seen);
  dif_result_free(&res);
  dif_arena_free(&arena);
  dif_image_free(&image);
  dif_config_free(scfg);
  free(overrides);
  return s;
}

static void run_case(golden *g, const char *name, const dif_safetensors *st) {
  const char *settings = dif_st_metadata(st, "settings");
  json_t *set = settings ? json_loads(settings, 0, NULL) : NULL;
  const char *model_rel = set ? pipeline_str(set, "model") : NULL;
  loras L = {0};
  dif_error err = {0};
  if (!model_rel) {
    golden_fail(g, name, "metadata lacks settings.model");
  } else if (open_loras(g, set, &L, &err)) {
    golden_fail(g, name, "LoRA: %s", err.msg);
  } else {
    char model[4096];
    snprintf(model, sizeof model, "%s", golden_path(g, model_rel));
    check_merged(g, name, st, model, &L);
    dif_models m;
    dif_component_bind_loras(L.uses, L.n, model);
    dif_status s = dif_models_load(&m, model, NULL, NULL, NULL, &err);
    dif_component_bind_loras(NULL, 0, NULL);
    if (s) {
      golden_fail(g, name, "load: %s", err.msg);
    } else {
      if (run(g, name, st, set, &m, &err)) golden_fail(g, name, "%s", err.msg);
      dif_models_free(&m);
    }
  }
  for (int i = 0; i < L.n; i++) dif_lora_close(L.uses[i].lora);
  json_decref(set);
}

int golden_kind_lora(golden *g, const char *dir) { return golden_each_case(g, dir, run_case); }
