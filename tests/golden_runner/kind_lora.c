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

#define DIF__MAX_LORAS_RUNNER 8

typedef struct loras {
  dif__lora_use uses[DIF__MAX_LORAS_RUNNER];
  int n;
} loras;

static dif_status open_loras(golden *g, json_t *set, loras *L, dif__error *err) {
  json_t *list = json_object_get(set, "loras"), *item;
  size_t i;
  L->n = 0;
  if (!json_is_array(list) || json_array_size(list) > DIF__MAX_LORAS_RUNNER)
    return dif__fail(err, DIF_ERR_BAD_MODEL, "settings.loras is not a list of at most %d",
                     DIF__MAX_LORAS_RUNNER);
  json_array_foreach(list, i, item) {
    dif_status s =
        dif__lora_open(golden_path(g, pipeline_str(item, "file")), &L->uses[L->n].lora, err);
    if (s) return s;
    L->uses[L->n++].weight = (float)pipeline_num(item, "weight", 1.0);
  }
  return DIF_OK;
}

/* merged.<component>.<tensor>: the component's weights opened with the
 * LoRAs bound, as the model loaders open them. */
static void check_merged(golden *g, const char *name, const dif__safetensors *st, const char *model,
                         const loras *L) {
  for (size_t i = 0; i < dif__st_count(st); i++) {
    const char *key = dif__st_entry_at(st, i)->name;
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
    dif__error err = {0};
    dif__safetensors *w = NULL;
    dif__tensor t;
    dif__component_bind_loras(L->uses, L->n, model);
    dif_status s = dif__component_weights(dir, &w, &err);
    dif__component_bind_loras(NULL, 0, NULL);
    if (!s) s = dif__st_get_f32(w, dot + 1, &t, &err);
    if (s)
      golden_fail(g, name, "%s: %s", key, err.msg);
    else
      golden_check(g, name, key, t.data, dif__tensor_numel(&t), st, 1e-6, 0);
    dif__st_close(w);
  }
}

static void run_case(golden *g, const char *name, const dif__safetensors *st) {
  const char *settings = dif__st_metadata(st, "settings");
  json_t *set = settings ? json_loads(settings, 0, NULL) : NULL;
  const char *model_rel = set ? pipeline_str(set, "model") : NULL;
  loras L = {0};
  dif__error err = {0};
  if (!model_rel) {
    golden_fail(g, name, "metadata lacks settings.model");
  } else if (open_loras(g, set, &L, &err)) {
    golden_fail(g, name, "LoRA: %s", err.msg);
  } else {
    char model[4096];
    snprintf(model, sizeof model, "%s", golden_path(g, model_rel));
    check_merged(g, name, st, model, &L);
    dif__models m;
    dif__component_bind_loras(L.uses, L.n, model);
    dif_status s = dif__models_load(&m, model, NULL, NULL, NULL, &err);
    dif__component_bind_loras(NULL, 0, NULL);
    if (s) {
      golden_fail(g, name, "load: %s", err.msg);
    } else {
      static const char *const skip[] = {"merged."};
      if (pipeline_run_settings(g, name, st, set, &m, skip, 1, &err))
        golden_fail(g, name, "%s", err.msg);
      dif__models_free(&m);
    }
  }
  for (int i = 0; i < L.n; i++) dif__lora_close(L.uses[i].lora);
  json_decref(set);
}

int golden_kind_lora(golden *g, const char *dir) { return golden_each_case(g, dir, run_case); }
