/* test-api-upscale.c — Upscale through the public API (dif.h:
 * dif_sample_set_upscale): Subtle and Creative on a Stable Diffusion model
 * (the picture resized ×factor, img2img at 0.25 / 0.5 in tiles of the
 * model's size: the steps run say which and how many tiles), an x4 upscaler context (every run
 * makes 4 × the picture; the factor must be 4; it refuses masks and the other edits), and records
 * that reproduce each run's pixels through dif_sample_apply_record. */
#include <stdlib.h>
#include <string.h>

#include "dif.h"
#include "test.h"

#define SD "golden/models/tiny-sd"
#define X4 "fixtures/models/tiny-x4-upscaler"
#define SD_IMAGE "golden/cases/pipelines/input_32x32.png"
#define X4_IMAGE "fixtures/cases/upscale/input_16x24.png"

static dif_context *load(const char *model) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(dif_context_set_threads(ctx, 2) == DIF_OK);
  CHECK(dif_context_set_precision(ctx, DIF_PRECISION_EXACT) == DIF_OK);
  dif_status s = dif_context_load(ctx, dif_test_path(model));
  CHECK_MSG(s == DIF_OK, "%s", dif_context_last_error(ctx));
  return ctx;
}

static dif_sample *sample(dif_context *ctx, const char *image) {
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK && dif_prompt_add_text(p, "a lighthouse", 1.0f) == DIF_OK);
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  dif_prompt_free(p);
  CHECK(dif_sample_set_init_image_file(s, dif_test_path(image), 1.0f) == DIF_OK);
  CHECK(dif_sample_set_seed(s, 11) == DIF_OK);
  return s;
}

static int last_total;
static int on_progress(int32_t step, int32_t total, void *user) {
  (void)step;
  (void)user;
  last_total = total;
  return 0;
}

static uint8_t *pixels(dif_sample *s) {
  uint8_t *px = malloc(dif_sample_image_bytes(s));
  CHECK(px && dif_sample_copy_image(s, 0, px, dif_sample_image_bytes(s)) == DIF_OK);
  return px;
}

/* A fresh sample from s's record gives s's pixels. */
static void check_record_reproduces(dif_context *ctx, dif_sample *s, const char *image_dir) {
  dif_prompt *p = NULL;
  dif_sample *t = NULL;
  const char *rec = dif_sample_parameters(s);
  CHECK_MSG(dif_prompt_from_record(rec, image_dir, &p) == DIF_OK, "%s", dif_last_error());
  CHECK(p && dif_sample_new(ctx, p, &t) == DIF_OK);
  CHECK_MSG(dif_sample_apply_record(t, rec, image_dir) == DIF_OK, "%s", dif_sample_last_error(t));
  CHECK_MSG(dif_sample_run(t) == DIF_OK, "%s", dif_sample_last_error(t));
  CHECK(dif_sample_width(t) == dif_sample_width(s) && dif_sample_height(t) == dif_sample_height(s));
  if (dif_sample_image_bytes(t) == dif_sample_image_bytes(s)) {
    uint8_t *a = pixels(s), *b = pixels(t);
    CHECK_MSG(a && b && memcmp(a, b, dif_sample_image_bytes(s)) == 0,
              "the record's run differs: %s", rec);
    free(a);
    free(b);
  }
  dif_sample_free(t);
  dif_prompt_free(p);
}

TEST(subtle_and_creative_on_sd) {
  dif_context *ctx = load(SD);
  dif_sample *s = sample(ctx, SD_IMAGE);
  CHECK(dif_sample_set_steps(s, 8) == DIF_OK);
  CHECK(dif_sample_set_scheduler(s, "ddim") == DIF_OK); /* one timestep per step */
  CHECK(dif_sample_set_progress(s, on_progress, NULL) == DIF_OK);
  CHECK(dif_sample_set_upscale(s, 2.0f, DIF_UPSCALE_SUBTLE) == DIF_OK);
  CHECK_MSG(dif_sample_run(s) == DIF_OK, "%s", dif_sample_last_error(s));
  CHECK(dif_sample_width(s) == 64 && dif_sample_height(s) == 64);
  /* tiles of the model's 32 px overlapping by 8: starts 0, 24, 32 -> 9 tiles */
  CHECK_MSG(last_total == 9 * 2, "Subtle ran %d steps, want 9 tiles x 2 of 8 (strength 0.25)",
            last_total);
  const char *rec = dif_sample_parameters(s);
  CHECK_MSG(strstr(rec, "\"edit\":{\"op\":\"upscale\",\"factor\":2.0,\"mode\":\"subtle\","
                        "\"width\":32,\"height\":32}") != NULL,
            "%s", rec);
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", dif_test_path("golden/cases/pipelines"));
  check_record_reproduces(ctx, s, dir);
  CHECK(dif_sample_set_upscale(s, 1.5f, DIF_UPSCALE_CREATIVE) == DIF_OK);
  CHECK_MSG(dif_sample_run(s) == DIF_OK, "%s", dif_sample_last_error(s));
  CHECK(dif_sample_width(s) == 48 && dif_sample_height(s) == 48);
  /* 48 px: starts 0, 16 -> 4 tiles */
  CHECK_MSG(last_total == 4 * 4, "Creative ran %d steps, want 4 tiles x 4 of 8 (strength 0.5)",
            last_total);
  check_record_reproduces(ctx, s, dir);
  dif_sample_free(s);
  dif_context_free(ctx);
}

TEST(x4_upscaler_context) {
  dif_context *ctx = load(X4);
  CHECK(strstr(dif_context_info(ctx), "\"x4_upscale\": true") ||
        strstr(dif_context_info(ctx), "\"x4_upscale\":true"));
  dif_sample *s = sample(ctx, X4_IMAGE);
  CHECK(dif_sample_set_steps(s, 3) == DIF_OK);
  CHECK_MSG(dif_sample_run(s) == DIF_OK, "%s", dif_sample_last_error(s));
  CHECK(dif_sample_width(s) == 96 && dif_sample_height(s) == 64);
  const char *rec = dif_sample_parameters(s);
  CHECK_MSG(strstr(rec, "\"noise_level\":20") && strstr(rec, "\"width\":96"), "%s", rec);
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", dif_test_path("fixtures/cases/upscale"));
  check_record_reproduces(ctx, s, dir);
  /* Creative: noise level 100 instead of the sample's, so other pixels */
  uint8_t *subtle = pixels(s);
  CHECK(dif_sample_set_upscale(s, 4.0f, DIF_UPSCALE_CREATIVE) == DIF_OK);
  CHECK_MSG(dif_sample_run(s) == DIF_OK, "%s", dif_sample_last_error(s));
  uint8_t *creative = pixels(s);
  CHECK(subtle && creative && memcmp(subtle, creative, dif_sample_image_bytes(s)) != 0);
  free(subtle);
  free(creative);
  check_record_reproduces(ctx, s, dir);
  CHECK(dif_sample_set_upscale(s, 2.0f, DIF_UPSCALE_SUBTLE) == DIF_OK);
  CHECK_STATUS(dif_sample_run(s), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "an x4 upscaler model upscales by 4 only");
  CHECK(dif_sample_set_zoom_out(s, 2.0f) == DIF_OK);
  CHECK_STATUS(dif_sample_run(s), DIF_ERR_UNSUPPORTED, dif_sample_last_error(s),
               "an x4 upscaler model only upscales");
  CHECK(dif_sample_clear_edit(s) == DIF_OK);
  CHECK_STATUS(dif_sample_set_noise_level(s, 351), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "351");
  CHECK(dif_sample_set_init_image_file(s, NULL, 1.0f) == DIF_OK);
  CHECK_STATUS(dif_sample_run(s), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "needs an image to upscale");
  dif_sample_free(s);
  dif_context_free(ctx);
}

int main(void) {
  RUN(subtle_and_creative_on_sd);
  RUN(x4_upscaler_context);
  return dif_test_finish();
}
