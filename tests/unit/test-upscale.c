/* test-upscale.c — the x4 upscaler (recipe_upscale.c, StableDiffusionUpscale
 * Pipeline folders) on the tiny fixture model: what a run feeds the UNet
 * (the noised image appended to every item, the noise level as the class
 * label of both CFG halves), the requests it refuses, and the malformed
 * folders and UNet configs it refuses at load, each with its message. The
 * whole-run comparison with diffusers is the golden runner's "upscale" kind.
 *
 * Hostile folders are copies of the fixture under a mkdtemp folder in /tmp
 * with one config key rewritten; the fixture itself is never touched. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/threadpool.h"
#include "pipelines/generate.h"
#include "test.h"

#define UPSCALER "fixtures/models/tiny-x4-upscaler"
#define IMAGE "fixtures/cases/upscale/input_16x16.png"
#define TILED_MEAN_MAX 8.0 /* /255, measured 6.88: see tiled_decode_close_to_whole */
#define TILED_MAX 72

typedef struct fixture {
  dif__models m;
  dif__image img;
  dif__pool *pool;
  dif__arena arena;
  dif__kctx k;
} fixture;

static int setup(fixture *f) {
  dif__error err = {0};
  memset(f, 0, sizeof *f);
  if (dif__models_load(&f->m, dif__test_path(UPSCALER), NULL, NULL, NULL, &err) ||
      dif__image_load(dif__test_path(IMAGE), NULL, &f->img, &err)) {
    CHECK_MSG(0, "%s", err.msg);
    dif__models_free(&f->m);
    return 0;
  }
  CHECK(dif__pool_new(2, &f->pool, &err) == DIF_OK);
  dif__arena_init(&f->arena, 1u << 20);
  f->k = (dif__kctx){f->pool, &f->arena, NULL, NULL, 0, 0, false, 0, 0};
  return 1;
}

static void teardown(fixture *f) {
  dif__arena_free(&f->arena);
  dif__pool_free(f->pool);
  dif__image_free(&f->img);
  dif__models_free(&f->m);
}

typedef struct seen {
  float labels[8];
  int64_t n_labels;
  float sample[2 * 7 * 16 * 16], noised[3 * 16 * 16];
  int got_sample, got_noised;
} seen;

static void on_trace(void *user, const char *name, const float *data, int64_t n) {
  seen *s = user;
  if (strcmp(name, "unet.class_labels") == 0 && n <= 8) {
    memcpy(s->labels, data, (size_t)n * sizeof *data);
    s->n_labels = n;
  } else if (strcmp(name, "unet.call0.sample") == 0 && n == 2 * 7 * 16 * 16) {
    memcpy(s->sample, data, sizeof s->sample);
    s->got_sample = 1;
  } else if (strcmp(name, "low_res.noised_image") == 0 && n == 3 * 16 * 16) {
    memcpy(s->noised, data, sizeof s->noised);
    s->got_noised = 1;
  }
}

static dif__request request(fixture *f, const dif__part *part, seen *s) {
  return (dif__request){.parts = part,
                        .n_parts = 1,
                        .negative = "blurry",
                        .width = 64,
                        .height = 64,
                        .steps = 2,
                        .batch = 1,
                        .guidance = 9.0f,
                        .prior_steps = 1,
                        .noise_level = 20,
                        .seed = 7,
                        .init_image = &f->img,
                        .trace = s ? on_trace : NULL,
                        .trace_user = s};
}

TEST(loads_as_upscaler) {
  fixture f;
  if (!setup(&f)) return;
  CHECK(dif__models_is_upscaler(&f.m));
  CHECK(f.m.max_noise_level == 350 && dif__models_max_noise_level(&f.m) == 350);
  CHECK(f.m.defaults.noise_level == 20 && f.m.defaults.guidance == 9.0f);
  CHECK(f.m.unet.in_ch == 7 && f.m.unet.n_class_embeds == 1000);
  CHECK(dif__vae_scale(&f.m.vae) == 4);
  teardown(&f);
}

/* Both CFG halves get the noise level as label and the same noised image. */
TEST(unet_input_layout) {
  fixture f;
  if (!setup(&f)) return;
  static seen s;
  memset(&s, 0, sizeof s);
  dif__part part = {DIF__PART_TEXT, "a lighthouse", NULL, 1.0f};
  dif__request r = request(&f, &part, &s);
  r.noise_level = 123;
  dif__result res = {0};
  dif__error err = {0};
  CHECK_MSG(dif__generate(&f.m, &f.k, &r, &res, &err) == DIF_OK, "%s", err.msg);
  CHECK(res.width == 64 && res.height == 64 && res.count == 1);
  CHECK(s.n_labels == 2 && s.labels[0] == 123.0f && s.labels[1] == 123.0f);
  CHECK(s.got_sample && s.got_noised);
  int64_t hw = 16 * 16, bad = 0;
  for (int64_t item = 0; item < 2; item++)
    for (int64_t i = 0; i < 3 * hw; i++) bad += s.sample[item * 7 * hw + 4 * hw + i] != s.noised[i];
  CHECK_MSG(bad == 0, "%lld noised-image values differ in the UNet input", (long long)bad);
  dif__result_free(&res);
  teardown(&f);
}

TEST(bad_requests) {
  fixture f;
  if (!setup(&f)) return;
  dif__part part = {DIF__PART_TEXT, "a lighthouse", NULL, 1.0f};
  dif__request r = request(&f, &part, NULL);
  dif__result res = {0};
  dif__error err = {0};
  r.init_image = NULL;
  CHECK_STATUS(dif__generate(&f.m, &f.k, &r, &res, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "the x4 upscaler needs an image to upscale");
  r.init_image = &f.img;
  r.width = 32;
  CHECK_STATUS(dif__generate(&f.m, &f.k, &r, &res, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "a 16x16 image gives 64x64, not the sample's 32x64");
  r.width = 64;
  r.noise_level = 351;
  CHECK_STATUS(dif__generate(&f.m, &f.k, &r, &res, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "noise level 351 is outside 0..350");
  r.noise_level = -1;
  CHECK_STATUS(dif__generate(&f.m, &f.k, &r, &res, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "noise level -1 is outside 0..350");
  r.noise_level = 20;
  float mask[64 * 64] = {0};
  r.mask = mask;
  CHECK_STATUS(dif__generate(&f.m, &f.k, &r, &res, &err), DIF_ERR_UNSUPPORTED, err.msg,
               "the x4 upscaler takes no mask");
  CHECK(res.rgb == NULL);
  teardown(&f);
}

/* A label outside the embedding table is refused by the UNet itself. */
TEST(unet_refuses_label_outside_table) {
  fixture f;
  if (!setup(&f)) return;
  static float x[7 * 8 * 8], ctx[77 * 32], out[4 * 8 * 8];
  float t = 1;
  int32_t id = 1000;
  dif__unet_input in = {.sample = x,
                        .B = 1,
                        .H = 8,
                        .W = 8,
                        .timesteps = &t,
                        .n_timesteps = 1,
                        .context = ctx,
                        .S = 77,
                        .class_ids = &id};
  dif__error err = {0};
  CHECK_STATUS(dif__unet_forward(&f.m.unet, &f.k, &in, out, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "class label 1000 is outside 0..999");
  in.class_ids = NULL;
  CHECK_STATUS(dif__unet_forward(&f.m.unet, &f.k, &in, out, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "no class labels");
  teardown(&f);
}

/* The 64x96 output decoded in 48-pixel tiles (12 latent cells, starting
 * every 9: 2 x 3 tiles, blended over 12 pixels) against the whole decode of
 * the same latents (same seed: the run is the same up to the decode).
 * Measured on this tiny random VAE: mean |diff| 6.88 / 255, max 61 (32-px
 * tiles: 11.1, 104; 64-px: 4.38, 48) — each tile's GroupNorm sees only the
 * tile, and its border zero padding, which the blending hides only partly;
 * bound: mean 8, max 72. */
TEST(tiled_decode_close_to_whole) {
  fixture f;
  if (!setup(&f)) return;
  dif__image wide = {0};
  dif__error err = {0};
  CHECK(dif__image_load(dif__test_path("fixtures/cases/upscale/input_16x24.png"), NULL, &wide,
                        &err) == DIF_OK);
  dif__part part = {DIF__PART_TEXT, "a lighthouse", NULL, 1.0f};
  dif__request r = request(&f, &part, NULL);
  r.init_image = &wide;
  r.width = 96;
  dif__result whole = {0}, tiled = {0}, dflt = {0};
  r.decode_tile = -1;
  CHECK_MSG(dif__generate(&f.m, &f.k, &r, &whole, &err) == DIF_OK, "%s", err.msg);
  r.decode_tile = 0; /* the default tile (512) is larger than the output: whole */
  CHECK_MSG(dif__generate(&f.m, &f.k, &r, &dflt, &err) == DIF_OK, "%s", err.msg);
  r.decode_tile = 48;
  CHECK_MSG(dif__generate(&f.m, &f.k, &r, &tiled, &err) == DIF_OK, "%s", err.msg);
  size_t n = 64 * 96 * 3;
  CHECK(whole.rgb && dflt.rgb && memcmp(whole.rgb, dflt.rgb, n) == 0);
  double sum = 0;
  int max = 0;
  for (size_t i = 0; whole.rgb && tiled.rgb && i < n; i++) {
    int d = abs((int)whole.rgb[i] - tiled.rgb[i]);
    sum += d;
    max = d > max ? d : max;
  }
  printf("  tiled (48 px) vs whole decode: mean |diff| %.3f, max %d (/255)\n", sum / (double)n,
         max);
  CHECK_MSG(sum / (double)n <= TILED_MEAN_MAX && max <= TILED_MAX, "mean %.3f max %d",
            sum / (double)n, max);
  dif__result_free(&whole);
  dif__result_free(&tiled);
  r.decode_tile = 24;
  CHECK_STATUS(dif__generate(&f.m, &f.k, &r, &tiled, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "decode tile 24: a positive multiple of 16 pixels");
  CHECK(tiled.rgb == NULL);
  dif__result_free(&dflt);
  dif__image_free(&wide);
  teardown(&f);
}

/* ---- hostile copies ---- */

static void copy_model(char dir[64]) {
  snprintf(dir, 64, "/tmp/dif-upscale-XXXXXX");
  if (!mkdtemp(dir)) abort();
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "cp -R '%s/.' '%s'", dif__test_path(UPSCALER), dir);
  if (system(cmd) != 0) abort();
}

static void remove_tree(const char *dir) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) abort();
}

/* Sets key of dir/file to the JSON text raw (a missing key: raw NULL). */
static void set_key(const char *dir, const char *file, const char *key, const char *raw) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  json_t *o = json_load_file(path, 0, NULL);
  if (!o) abort();
  if (raw)
    json_object_set_new(o, key, json_loads(raw, JSON_DECODE_ANY, NULL));
  else
    json_object_del(o, key);
  if (json_dump_file(o, path, JSON_INDENT(1))) abort();
  json_decref(o);
}

/* Loading a copy with file's key set to raw fails with want and substr. */
static void expect_load_fails(const char *file, const char *key, const char *raw, dif_status want,
                              const char *substr) {
  char dir[64];
  copy_model(dir);
  set_key(dir, file, key, raw);
  dif__models m;
  dif__error err = {0};
  CHECK_STATUS(dif__models_load(&m, dir, NULL, NULL, NULL, &err), want, err.msg, substr);
  remove_tree(dir);
}

TEST(bad_folders) {
  expect_load_fails("unet/config.json", "only_cross_attention", "[true, false]", DIF_ERR_BAD_MODEL,
                    "only_cross_attention must be a bool or a list of 3 bools");
  expect_load_fails("unet/config.json", "only_cross_attention", "[true, 1, false]",
                    DIF_ERR_BAD_MODEL, "only_cross_attention[1] is not a bool");
  expect_load_fails("unet/config.json", "num_class_embeds", "-5", DIF_ERR_BAD_MODEL,
                    "num_class_embeds -5 out of range");
  expect_load_fails("unet/config.json", "num_class_embeds", "100", DIF_ERR_BAD_MODEL,
                    "'class_embedding.weight' has shape [1000, 64], expected [100, 64]");
  expect_load_fails("unet/config.json", "class_embed_type", "\"timestep\"", DIF_ERR_UNSUPPORTED,
                    "class_embed_type = timestep is not supported");
  expect_load_fails("unet/config.json", "class_embeddings_concat", "true", DIF_ERR_UNSUPPORTED,
                    "class_embeddings_concat");
  expect_load_fails("model_index.json", "max_noise_level", "1000", DIF_ERR_BAD_MODEL,
                    "max_noise_level 1000 is outside 0..999");
  expect_load_fails("model_index.json", "_class_name", "\"StableDiffusionPipeline\"",
                    DIF_ERR_UNSUPPORTED, "feeds integer class labels only to the x4 upscaler");
  expect_load_fails("low_res_scheduler/scheduler_config.json", "num_train_timesteps", "300",
                    DIF_ERR_BAD_MODEL, "300 train timesteps cannot noise to max_noise_level 350");
  char dir[64];
  copy_model(dir);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -r '%s/low_res_scheduler'", dir);
  CHECK(system(cmd) == 0);
  dif__models m;
  dif__error err = {0};
  CHECK_STATUS(dif__models_load(&m, dir, NULL, NULL, NULL, &err), DIF_ERR_IO, err.msg,
               "low_res_scheduler");
  remove_tree(dir);
}

int main(void) {
  RUN(loads_as_upscaler);
  RUN(unet_input_layout);
  RUN(bad_requests);
  RUN(unet_refuses_label_outside_table);
  RUN(tiled_decode_close_to_whole);
  RUN(bad_folders);
  return dif__test_finish();
}
