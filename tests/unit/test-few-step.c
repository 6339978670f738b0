/* test-few-step.c — latent consistency models (tests/fixtures/models/tiny-lcm,
 * a LatentConsistencyModelPipeline folder whose UNet has time_cond_proj_dim
 * 16): what a run feeds the UNet (one batch without classifier-free guidance
 * at any guidance, the guidance embedding), the UNet's refusal without one,
 * the requests LCMScheduler refuses, and the malformed folders refused at
 * load, each with its message. The whole-run comparison with diffusers is the
 * golden runner's "few_step" kind.
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

#define LCM "fixtures/models/tiny-lcm"

typedef struct seen {
  int64_t unet_sample, w_embedding, text_calls;
  float w0; /* w_embedding[0] */
  float t0; /* the first UNet call's timestep */
} seen;

static void on_trace(void *user, const char *name, const float *data, int64_t n) {
  seen *s = user;
  if (strcmp(name, "unet.call0.sample") == 0) s->unet_sample = n;
  if (strcmp(name, "unet.call0.timestep") == 0) s->t0 = data[0];
  if (strcmp(name, "w_embedding") == 0) s->w_embedding = n, s->w0 = data[0];
  if (strstr(name, "text_encoder.call") && strstr(name, ".last_hidden_state")) s->text_calls++;
}

/* One run of the tiny LCM at guidance g and steps (16x16, or img's size
 * with an init image, strength and mask); *sn what it traced. */
static dif_status run_with(const dif__models *m, float guidance, int steps, const char *negative,
                           const dif__image *img, float strength, const float *mask, seen *sn,
                           dif__error *err) {
  dif__pool *pool = NULL;
  dif_status s = dif__pool_new(1, &pool, err);
  if (s) return s;
  dif__arena arena;
  dif__arena_init(&arena, 1u << 20);
  dif__kctx k = {pool, &arena, NULL, NULL, 0, 0, false, 0, 0};
  dif__part part = {DIF__PART_TEXT, "a cat", NULL, 1.0f};
  dif__request r = {.parts = &part,
                    .n_parts = 1,
                    .negative = negative,
                    .width = img ? img->width : 16,
                    .height = img ? img->height : 16,
                    .steps = steps,
                    .batch = 1,
                    .guidance = guidance,
                    .prior_steps = 1,
                    .seed = 7,
                    .init_image = img,
                    .strength = strength,
                    .mask = mask,
                    .trace = on_trace,
                    .trace_user = sn};
  dif__result res = {0};
  memset(sn, 0, sizeof *sn);
  s = dif__generate(m, &k, &r, &res, err);
  dif__result_free(&res);
  dif__arena_free(&arena);
  dif__pool_free(pool);
  return s;
}

static dif_status run(const dif__models *m, float guidance, int steps, const char *negative,
                      seen *sn, dif__error *err) {
  return run_with(m, guidance, steps, negative, NULL, 0, NULL, sn, err);
}

TEST(no_guidance_batch_and_the_embedding) {
  dif__models m;
  dif__error err = {0};
  if (dif__models_load(&m, dif__test_path(LCM), NULL, NULL, NULL, &err)) {
    CHECK_MSG(0, "%s", err.msg);
    return;
  }
  CHECK(m.unet.time_cond_dim == 16);
  CHECK(m.defaults.steps == 4 && m.defaults.guidance == 8.5f);
  const int64_t one = 4 * 8 * 8; /* one item of latents, 16x16 pixels */
  const float scales[] = {8.5f, 1.0f, 0.0f, 20.0f};
  for (int i = 0; i < 4; i++) {
    seen sn;
    CHECK_MSG(run(&m, scales[i], 2, "ugly", &sn, &err) == DIF_OK, "%s", err.msg);
    /* never CFG: one UNet item, one text encoding (the negative unused) */
    CHECK_MSG(sn.unet_sample == one && sn.text_calls == 1, "guidance %g: %lld values, %lld texts",
              (double)scales[i], (long long)sn.unet_sample, (long long)sn.text_calls);
    /* sin(1000 (g - 1) * 1) first: sin(0) = 0 at guidance 1 */
    CHECK(sn.w_embedding == 16);
    if (scales[i] == 1.0f) CHECK(sn.w0 == 0.0f);
  }
  seen sn;
  CHECK_STATUS(run(&m, 8.5f, 60, NULL, &sn, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "60 steps need at least as many distillation timesteps");
  dif__models_free(&m);
}

TEST(unet_needs_the_embedding) {
  dif__unet u;
  dif__error err = {0};
  char dir[512];
  snprintf(dir, sizeof dir, "%s/unet", dif__test_path(LCM));
  if (dif__unet_load(dir, &u, &err)) {
    CHECK_MSG(0, "%s", err.msg);
    return;
  }
  dif__arena arena;
  dif__arena_init(&arena, 1u << 20);
  dif__kctx k = {NULL, &arena, NULL, NULL, 0, 0, false, 0, 0};
  float x[4 * 4 * 4] = {0}, ctx[2 * 32] = {0}, t = 10, out[4 * 4 * 4];
  dif__unet_input in = {.sample = x,
                        .B = 1,
                        .H = 4,
                        .W = 4,
                        .timesteps = &t,
                        .n_timesteps = 1,
                        .context = ctx,
                        .S = 2};
  CHECK_STATUS(dif__unet_forward(&u, &k, &in, out, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "time_cond_proj_dim 16 and needs a timestep_cond");
  dif__arena_free(&arena);
  dif__unet_free(&u);
}

static void copy_model(char dir[64]) {
  snprintf(dir, 64, "/tmp/dif-lcm-XXXXXX");
  if (!mkdtemp(dir)) abort();
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "cp -R '%s/.' '%s'", dif__test_path(LCM), dir);
  if (system(cmd) != 0) abort();
}

static void remove_tree(const char *dir) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) abort();
}

/* Sets key of dir/file to the JSON text raw. */
static void set_key(const char *dir, const char *file, const char *key, const char *raw) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  json_t *o = json_load_file(path, 0, NULL);
  if (!o) abort();
  json_object_set_new(o, key, json_loads(raw, JSON_DECODE_ANY, NULL));
  if (json_dump_file(o, path, JSON_INDENT(1))) abort();
  json_decref(o);
}

/* Loading a copy with file's key set to raw gives want (and substr). */
static void expect_load(const char *file, const char *key, const char *raw, dif_status want,
                        const char *substr) {
  char dir[64];
  copy_model(dir);
  set_key(dir, file, key, raw);
  dif__models m;
  dif__error err = {0};
  dif_status s = dif__models_load(&m, dir, NULL, NULL, NULL, &err);
  if (want == DIF_OK)
    CHECK_MSG(s == DIF_OK, "%s = %s: %s", key, raw, err.msg);
  else
    CHECK_STATUS(s, want, err.msg, substr);
  if (!s) dif__models_free(&m);
  remove_tree(dir);
}

TEST(folders) {
  expect_load("model_index.json", "_class_name", "\"LatentConsistencyModelImg2ImgPipeline\"",
              DIF_OK, NULL);
  expect_load("model_index.json", "_class_name", "\"LatentConsistencyModelXLPipeline\"",
              DIF_ERR_UNSUPPORTED, "unknown pipeline class 'LatentConsistencyModelXLPipeline'");
  expect_load("unet/config.json", "time_cond_proj_dim", "0", DIF_ERR_BAD_MODEL,
              "time_cond_proj_dim 0 is outside 1..65536");
  expect_load("unet/config.json", "time_cond_proj_dim", "-3", DIF_ERR_BAD_MODEL,
              "time_cond_proj_dim -3 is outside 1..65536");
  expect_load("unet/config.json", "time_cond_proj_dim", "8", DIF_ERR_BAD_MODEL,
              "time_embedding.cond_proj.weight");
  expect_load("unet/config.json", "time_cond_proj_dim", "\"16\"", DIF_ERR_BAD_MODEL,
              "time_cond_proj_dim");
  expect_load("scheduler/scheduler_config.json", "original_inference_steps", "0", DIF_ERR_BAD_MODEL,
              "original_inference_steps 0 must be in 1..1000");
  expect_load("scheduler/scheduler_config.json", "original_inference_steps", "1001",
              DIF_ERR_BAD_MODEL, "original_inference_steps 1001 must be in 1..1000");
  expect_load("scheduler/scheduler_config.json", "timestep_scaling", "\"ten\"", DIF_ERR_BAD_MODEL,
              "timestep_scaling");
  expect_load("dif_defaults.json", "scheduler", "\"lcm_turbo\"", DIF_ERR_BAD_MODEL, "lcm_turbo");
}

/* With an init image the strength goes into LCMScheduler.set_timesteps
 * (LatentConsistencyModelImg2ImgPipeline: 599 459 299 159 at 0.6); with a
 * mask too it trims the schedule as StableDiffusionInpaintPipeline does
 * (999 759 499 259 from index int(4 * 0.5) = 2 on: 499). */
TEST(strength_by_pipeline) {
  dif__models m;
  dif__image img = {0};
  dif__error err = {0};
  if (dif__models_load(&m, dif__test_path(LCM), NULL, NULL, NULL, &err) ||
      dif__image_load(dif__test_path("fixtures/cases/few_step/input_32x32.png"), NULL, &img,
                      &err)) {
    CHECK_MSG(0, "%s", err.msg);
    dif__models_free(&m);
    return;
  }
  seen sn;
  CHECK_MSG(run_with(&m, 8.5f, 4, NULL, &img, 0.6f, NULL, &sn, &err) == DIF_OK, "%s", err.msg);
  CHECK_MSG(sn.t0 == 599.0f, "img2img starts at %g", (double)sn.t0);
  float mask[32 * 32];
  for (int i = 0; i < 32 * 32; i++) mask[i] = 1.0f;
  CHECK_MSG(run_with(&m, 8.5f, 4, NULL, &img, 0.5f, mask, &sn, &err) == DIF_OK, "%s", err.msg);
  CHECK_MSG(sn.t0 == 499.0f && sn.unet_sample == 4 * 16 * 16, "inpaint starts at %g (%lld values)",
            (double)sn.t0, (long long)sn.unet_sample);
  CHECK_STATUS(run_with(&m, 8.5f, 4, NULL, &img, 0.05f, NULL, &sn, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "x strength 0.05 gives 2");
  dif__image_free(&img);
  dif__models_free(&m);
}

int main(void) {
  RUN(no_guidance_batch_and_the_embedding);
  RUN(unet_needs_the_embedding);
  RUN(strength_by_pipeline);
  RUN(folders);
  return dif__test_finish();
}
