/* libdif's single-file presets (models/presets, lib/api/presets.c): each one
 * is found where an installed or built libdif looks, and everything in it is
 * read by libdif's own readers as the network it stands for — the pipeline
 * class, the UNet config (input channels, cross-attention width, sample
 * size), the VAE and text-encoder configs (each loader gets past its config
 * to the weights file a preset does not have), the scheduler (class,
 * prediction type, spacing) and the tokenizer (ids and padding of a known
 * prompt). The numbers expected are those of the published models
 * (models/presets/README.md). */
#include <limits.h>
#include <stdlib.h>

#include "api/presets.h"
#include "io/config.h"
#include "io/model_folder.h"
#include "models/clip_text.h"
#include "models/unet_config.h"
#include "models/vae.h"
#include "samplers/scheduler.h"
#include "test.h"
#include "text/clip_tokenizer.h"

typedef struct want {
  const char *name, *pipeline, *scheduler, *prediction, *spacing;
  int64_t in_ch, ctx_dim, sample;
  int32_t pad; /* the tokenizer's padding id: 49407 SD-1.x, 0 ("!") SD-2.x */
} want;

static const want presets[] = {
    {"sd15", "StableDiffusionPipeline", "DDIMScheduler", "epsilon", "leading", 4, 768, 64, 49407},
    {"sd15-inpaint", "StableDiffusionInpaintPipeline", "DDIMScheduler", "epsilon", "leading", 9,
     768, 64, 49407},
    {"sd21", "StableDiffusionPipeline", "DDIMScheduler", "v_prediction", "leading", 4, 1024, 96, 0},
    {"sd21-base", "StableDiffusionPipeline", "DDIMScheduler", "epsilon", "leading", 4, 1024, 64, 0},
    {"sd2-inpaint", "StableDiffusionInpaintPipeline", "DDIMScheduler", "epsilon", "leading", 9,
     1024, 64, 0},
    {"sd-turbo", "StableDiffusionPipeline", "EulerAncestralDiscreteScheduler", "epsilon",
     "trailing", 4, 1024, 64, 0},
};

static void check_config(const char *dir, const want *w) {
  char path[PATH_MAX + 64];
  dif__error err = {0};
  dif__config *cfg = NULL;
  snprintf(path, sizeof path, "%s/unet/config.json", dir);
  CHECK_STATUS(dif__config_load(path, &cfg, &err), DIF_OK, err.msg, "");
  dif__unet_config u;
  CHECK_STATUS(dif__unet_read_config(cfg, &u, &err), DIF_OK, err.msg, "");
  CHECK_MSG(u.in_ch == w->in_ch && u.ctx_dim == w->ctx_dim, "%s: UNet in %lld ctx %lld", w->name,
            (long long)u.in_ch, (long long)u.ctx_dim);
  int64_t sample = 0;
  CHECK(dif__config_int(cfg, "sample_size", &sample, &err) == DIF_OK && sample == w->sample);
  dif__config_free(cfg);
  snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", dir);
  CHECK_STATUS(dif__config_load(path, &cfg, &err), DIF_OK, err.msg, "");
  const char *cls = NULL, *pred = NULL, *spacing = NULL;
  CHECK(dif__config_str(cfg, "_class_name", &cls, &err) == DIF_OK && !strcmp(cls, w->scheduler));
  CHECK(dif__config_str(cfg, "prediction_type", &pred, &err) == DIF_OK &&
        !strcmp(pred, w->prediction));
  CHECK(dif__config_str(cfg, "timestep_spacing", &spacing, &err) == DIF_OK &&
        !strcmp(spacing, w->spacing));
  dif__config_free(cfg);
  dif__scheduler *s = NULL;
  snprintf(path, sizeof path, "%s/scheduler", dir);
  CHECK_STATUS(dif__scheduler_load(w->scheduler, path, NULL, &s, &err), DIF_OK, err.msg, "");
  CHECK(s && dif__scheduler_set_timesteps(s, 4, &err) == DIF_OK);
  dif__scheduler_free(s);
}

/* The loaders read and check the config first, then open the weights: a
 * preset (no weights) fails at the weights file, never at its config. */
static void check_networks(const char *dir) {
  char path[PATH_MAX + 64];
  dif__error err = {0};
  dif__vae v;
  snprintf(path, sizeof path, "%s/vae", dir);
  CHECK_STATUS(dif__vae_load(path, &v, &err), DIF_ERR_BAD_MODEL, err.msg, "vae: no weights");
  dif__clip_text t;
  snprintf(path, sizeof path, "%s/text_encoder", dir);
  err = (dif__error){0};
  CHECK_STATUS(dif__clip_text_load(path, &t, &err), DIF_ERR_BAD_MODEL, err.msg,
               "text_encoder: no weights");
}

static void check_tokenizer(const char *dir, const want *w) {
  char path[PATH_MAX + 64];
  dif__error err = {0};
  dif__clip_tokenizer *tok = NULL;
  snprintf(path, sizeof path, "%s/tokenizer", dir);
  CHECK_STATUS(dif__clip_tokenizer_load(path, &tok, &err), DIF_OK, err.msg, "");
  if (!tok) return;
  int32_t ids[77], mask[77];
  int n = 0;
  const char *text = "a photo of a cat";
  CHECK_STATUS(dif__clip_tokenize(tok, text, strlen(text), ids, mask, &n, &err), DIF_OK, err.msg,
               "");
  /* openai/clip-vit-large-patch14's ids for this prompt (tests/golden's clip-bpe cases) */
  const int32_t expect[] = {49406, 320, 1125, 539, 320, 2368, 49407};
  CHECK(n == 7 && !memcmp(ids, expect, sizeof expect));
  CHECK_MSG(ids[7] == w->pad && ids[76] == w->pad, "%s: padding %d", w->name, ids[7]);
  dif__clip_tokenizer_free(tok);
}

TEST(every_preset_reads_as_its_model) {
  const char *root = dif__presets_dir();
  CHECK_MSG(root != NULL, "the presets folder was not found");
  if (!root) return;
  for (size_t i = 0; i < sizeof presets / sizeof *presets; i++) {
    const want *w = &presets[i];
    char dir[PATH_MAX - 64];
    snprintf(dir, sizeof dir, "%s/%s", root, w->name);
    dif__error err = {0};
    dif__model_folder *mf = NULL;
    CHECK_STATUS(dif__model_folder_open(dir, &mf, &err), DIF_OK, err.msg, "");
    CHECK_MSG(mf && !strcmp(dif__model_folder_pipeline(mf), w->pipeline), "%s: pipeline %s",
              w->name, mf ? dif__model_folder_pipeline(mf) : "-");
    dif__model_folder_free(mf);
    check_config(dir, w);
    check_networks(dir);
    check_tokenizer(dir, w);
  }
}

int main(void) {
  unsetenv("DIF_PRESETS_DIR"); /* the presets libdif finds by itself */
  RUN(every_preset_reads_as_its_model);
  return dif__test_finish();
}
