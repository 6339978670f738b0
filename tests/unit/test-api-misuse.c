/* Bad input through the public API: every call returns a status and a
 * message naming the problem, never crashes (run under ASan+UBSan in the
 * test command). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/attn_f32.h"
#include "core/attn_fused.h"
#include "core/backend.h"
#include "core/gemm_few.h"
#include "test.h"

#define MODEL "golden/models/tiny-unclip"
#define SD "golden/models/tiny-sd"
#define PRIOR "golden/models/tiny-karlo-prior"
#define IMAGE "golden/cases/pipelines/input_32x32.png"

static dif_context *load(const char *model, const char *prior) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(dif_context_set_threads(ctx, 2) == DIF_OK);
  if (prior) CHECK(dif_context_set_prior(ctx, dif__test_path(prior)) == DIF_OK);
  dif_status s = dif_context_load(ctx, dif__test_path(model));
  CHECK_MSG(s == DIF_OK, "%s", dif_context_last_error(ctx));
  return ctx;
}

static dif_prompt *text_prompt(const char *text) {
  dif_prompt *p = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK(dif_prompt_add_text(p, text, 1.0f) == DIF_OK);
  return p;
}

TEST(null_handles) {
  CHECK_STATUS(dif_prompt_new(NULL), DIF_ERR_INVALID_ARGUMENT, dif_last_error(), "NULL");
  CHECK_STATUS(dif_prompt_add_text(NULL, "x", 1), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "NULL");
  CHECK_STATUS(dif_prompt_add_image_file(NULL, "x", 1), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "NULL");
  CHECK_STATUS(dif_prompt_add_image_rgb(NULL, NULL, 1, 1, 3, 1), DIF_ERR_INVALID_ARGUMENT,
               dif_last_error(), "NULL");
  CHECK_STATUS(dif_prompt_set_negative(NULL, "x"), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "NULL");
  CHECK_STATUS(dif_sample_new(NULL, NULL, NULL), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "NULL");
  CHECK_STATUS(dif_sample_set_size(NULL, 8, 8), DIF_ERR_INVALID_ARGUMENT, dif_last_error(), "NULL");
  CHECK_STATUS(dif_sample_set_steps(NULL, 1), DIF_ERR_INVALID_ARGUMENT, dif_last_error(), "NULL");
  CHECK_STATUS(dif_sample_run(NULL), DIF_ERR_INVALID_ARGUMENT, dif_last_error(), "NULL");
  CHECK_STATUS(dif_context_add_embedding(NULL, "x", NULL), DIF_ERR_INVALID_ARGUMENT,
               dif_last_error(), "NULL");
  CHECK_STATUS(dif_context_clear_embeddings(NULL), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "NULL");
  CHECK_STATUS(dif_context_embedding(NULL, 0, NULL, NULL, NULL, NULL), DIF_ERR_INVALID_ARGUMENT,
               dif_last_error(), "NULL");
  CHECK(dif_context_embedding_count(NULL) == 0);
  size_t freed = 123;
  CHECK_STATUS(dif_context_release_scratch(NULL, &freed), DIF_ERR_INVALID_ARGUMENT,
               dif_last_error(), "NULL");
  CHECK(freed == 0);
  freed = 123;
  CHECK_STATUS(dif_context_release_packed(NULL, &freed), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "NULL");
  CHECK(freed == 0);
  CHECK_STATUS(dif_sample_start(NULL), DIF_ERR_INVALID_ARGUMENT, dif_last_error(), "NULL");
  CHECK_STATUS(dif_sample_poll(NULL, NULL, NULL), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "NULL");
  CHECK_STATUS(dif_sample_wait(NULL), DIF_ERR_INVALID_ARGUMENT, dif_last_error(), "NULL");
  CHECK_STATUS(dif_sample_cancel(NULL), DIF_ERR_INVALID_ARGUMENT, dif_last_error(), "NULL");
  CHECK_STATUS(dif_sample_copy_image(NULL, 0, NULL, 0), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "NULL");
  CHECK_STATUS(dif_sample_save_png(NULL, 0, "x.png"), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "NULL");
  CHECK_STATUS(dif_context_encode_text(NULL, "x", DIF_EMBED_TEXT_HIDDEN, NULL, NULL),
               DIF_ERR_INVALID_ARGUMENT, dif_last_error(), "NULL");
  CHECK_STATUS(dif_context_set_prior(NULL, "x"), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "NULL");
  CHECK(dif_prompt_part_count(NULL) == 0);
  CHECK(dif_sample_image_count(NULL) == 0 && dif_sample_width(NULL) == 0);
  CHECK(dif_sample_image_bytes(NULL) == 0 && dif_sample_seed(NULL) == 0);
  CHECK(*dif_sample_parameters(NULL) == '\0');
  CHECK(dif_sample_last_error(NULL) != NULL && dif_prompt_last_error(NULL) != NULL);
  CHECK_STATUS(dif_sample_set_mask_file(NULL, "x.png"), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "NULL");
  CHECK_STATUS(dif_sample_set_mask_rgb(NULL, NULL, 8, 8, 24), DIF_ERR_INVALID_ARGUMENT,
               dif_last_error(), "NULL");
  CHECK_STATUS(dif_sample_set_mask_rect(NULL, 0, 0, 8, 8), DIF_ERR_INVALID_ARGUMENT,
               dif_last_error(), "NULL");
  CHECK_STATUS(dif_sample_set_zoom_out(NULL, 2), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "NULL");
  CHECK_STATUS(dif_sample_set_make_square(NULL), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "NULL");
  CHECK_STATUS(dif_sample_set_pan(NULL, DIF_DIRECTION_LEFT, 0.5f), DIF_ERR_INVALID_ARGUMENT,
               dif_last_error(), "NULL");
  CHECK_STATUS(dif_sample_set_upscale(NULL, 2.0f, DIF_UPSCALE_SUBTLE), DIF_ERR_INVALID_ARGUMENT,
               dif_last_error(), "NULL");
  CHECK_STATUS(dif_sample_clear_edit(NULL), DIF_ERR_INVALID_ARGUMENT, dif_last_error(), "NULL");
  CHECK_STATUS(dif_sample_set_mask_crop(NULL, 4), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "NULL");
  dif_prompt_free(NULL);
  dif_sample_free(NULL);
}

TEST(prompt_errors) {
  dif_prompt *p = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK_STATUS(dif_prompt_add_text(p, NULL, 1), DIF_ERR_INVALID_ARGUMENT, dif_prompt_last_error(p),
               "NULL");
  CHECK_STATUS(dif_prompt_add_text(p, "a", 0.0f), DIF_ERR_INVALID_ARGUMENT,
               dif_prompt_last_error(p), "weight");
  CHECK_STATUS(dif_prompt_add_text(p, "a", NAN), DIF_ERR_INVALID_ARGUMENT, dif_prompt_last_error(p),
               "weight");
  CHECK_STATUS(dif_prompt_add_text(p, "a", INFINITY), DIF_ERR_INVALID_ARGUMENT,
               dif_prompt_last_error(p), "weight");
  CHECK_STATUS(dif_prompt_add_text(p, "ok \xff\xfe bad", 1), DIF_ERR_INVALID_ARGUMENT,
               dif_prompt_last_error(p), "byte offset 3");
  CHECK_STATUS(dif_prompt_set_negative(p, "\xc3"), DIF_ERR_INVALID_ARGUMENT,
               dif_prompt_last_error(p), "UTF-8");
  CHECK_STATUS(dif_prompt_add_image_file(p, "/nonexistent/ref.png", 1), DIF_ERR_IO,
               dif_prompt_last_error(p), "/nonexistent/ref.png");
  CHECK_STATUS(dif_prompt_add_image_file(p, dif__test_path("golden/README-clip.md"), 1),
               DIF_ERR_BAD_IMAGE, dif_prompt_last_error(p), "PNG");
  uint8_t px[12] = {0};
  CHECK_STATUS(dif_prompt_add_image_rgb(p, px, 0, 2, 6, 1), DIF_ERR_INVALID_ARGUMENT,
               dif_prompt_last_error(p), "empty");
  CHECK_STATUS(dif_prompt_add_image_rgb(p, px, 2, 2, 5, 1), DIF_ERR_INVALID_ARGUMENT,
               dif_prompt_last_error(p), "stride");
  CHECK_STATUS(dif_prompt_add_image_rgb(p, px, 100000, 100000, 300000, 1), DIF_ERR_LIMIT,
               dif_prompt_last_error(p), "DIF_MAX_IMAGE_SIDE");
  CHECK_STATUS(dif_prompt_add_image_rgb(p, NULL, 2, 2, 6, 1), DIF_ERR_INVALID_ARGUMENT,
               dif_prompt_last_error(p), "NULL");
  CHECK(dif_prompt_part_count(p) == 0);
  for (int i = 0; i < DIF_MAX_PROMPT_PARTS; i++) CHECK(dif_prompt_add_text(p, "x", 1) == DIF_OK);
  CHECK_STATUS(dif_prompt_add_text(p, "one too many", 1), DIF_ERR_LIMIT, dif_prompt_last_error(p),
               "DIF_MAX_PROMPT_PARTS");
  dif_prompt_free(p);
}

TEST(sample_errors) {
  dif_context *ctx = load(MODEL, NULL);
  dif_context *empty = NULL;
  CHECK(dif_context_new(&empty) == DIF_OK);
  dif_prompt *p = text_prompt("a cat"), *none = NULL;
  CHECK(dif_prompt_new(&none) == DIF_OK);
  dif_sample *s = NULL;
  CHECK_STATUS(dif_sample_new(empty, p, &s), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(empty), "no model");
  CHECK_STATUS(dif_sample_new(ctx, none, &s), DIF_ERR_INVALID_ARGUMENT, dif_context_last_error(ctx),
               "no text or image");
  CHECK_STATUS(dif_sample_new(ctx, NULL, &s), DIF_ERR_INVALID_ARGUMENT, dif_context_last_error(ctx),
               "prompt is NULL");
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  CHECK_STATUS(dif_sample_set_size(s, 0, 32), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "multiples of 8");
  CHECK_STATUS(dif_sample_set_size(s, 33, 32), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "33x32");
  CHECK_STATUS(dif_sample_set_size(s, 1 << 20, 32), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "4096");
  CHECK_STATUS(dif_sample_set_size(s, -8, -8), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "-8");
  CHECK_STATUS(dif_sample_set_steps(s, 0), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "0 steps");
  CHECK_STATUS(dif_sample_set_steps(s, DIF_MAX_STEPS + 1), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "steps");
  CHECK_STATUS(dif_sample_set_guidance(s, NAN), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "finite");
  CHECK_STATUS(dif_sample_set_guidance(s, -1), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               ">= 0");
  CHECK_STATUS(dif_sample_set_prior_guidance(s, INFINITY), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "finite");
  CHECK_STATUS(dif_sample_set_prior_steps(s, -3), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "-3");
  CHECK_STATUS(dif_sample_set_scheduler(s, "warp_drive"), DIF_ERR_UNSUPPORTED,
               dif_sample_last_error(s), "euler_a");
  CHECK_STATUS(dif_sample_set_batch(s, 0), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "0 images");
  CHECK_STATUS(dif_sample_set_batch(s, DIF_MAX_BATCH + 1), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "images");
  CHECK_STATUS(dif_sample_set_noise_level(s, 1000), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "0..999");
  CHECK_STATUS(dif_sample_set_blend(s, (dif_blend)7), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "mode");
  CHECK_STATUS(dif_sample_set_init_image_file(s, dif__test_path(IMAGE), 0.0f),
               DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s), "strength");
  CHECK_STATUS(dif_sample_set_init_image_file(s, dif__test_path(IMAGE), 1.5f),
               DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s), "strength");
  CHECK_STATUS(dif_sample_set_init_image_file(s, "/nonexistent.png", 0.5f), DIF_ERR_IO,
               dif_sample_last_error(s), "/nonexistent.png");
  CHECK_STATUS(dif_sample_set_init_image_rgb(s, NULL, 8, 8, 24, 0.5f), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "NULL");
  /* a text-only prompt on an unCLIP model without a prior is refused at run */
  CHECK(dif_sample_set_size(s, 32, 32) == DIF_OK);
  CHECK(dif_sample_set_steps(s, 2) == DIF_OK);
  CHECK_STATUS(dif_sample_run(s), DIF_ERR_UNSUPPORTED, dif_sample_last_error(s), "prior");
  CHECK(dif_sample_image_count(s) == 0);
  uint8_t buf[16];
  CHECK_STATUS(dif_sample_copy_image(s, 0, buf, sizeof buf), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "image 0 of 0");
  CHECK_STATUS(dif_sample_save_png(s, 0, "/tmp/never.png"), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "image 0 of 0");
  dif_sample_free(s);
  dif_prompt_free(p);
  dif_prompt_free(none);
  dif_context_free(ctx);
  dif_context_free(empty);
}

/* Masks and edits: values out of range at the setters, what only the run
 * can know (no init image, a rectangle outside the picture, a square
 * picture to make square) at the run, each named. */
TEST(mask_and_edit_errors) {
  dif_context *ctx = load(SD, NULL);
  dif_prompt *p = text_prompt("a cat");
  dif_sample *s = NULL;
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  CHECK(dif_sample_set_steps(s, 1) == DIF_OK);
  CHECK_STATUS(dif_sample_set_mask_file(s, "/nonexistent-mask.png"), DIF_ERR_IO,
               dif_sample_last_error(s), "/nonexistent-mask.png");
  CHECK_STATUS(dif_sample_set_mask_rgb(s, NULL, 8, 8, 24), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "NULL");
  uint8_t px[8 * 8 * 3] = {0};
  CHECK_STATUS(dif_sample_set_mask_rgb(s, px, 0, 8, 24), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "dif_sample_set_mask_rgb");
  CHECK_STATUS(dif_sample_set_mask_rect(s, -1, 0, 8, 8), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "x, y >= 0");
  CHECK_STATUS(dif_sample_set_mask_rect(s, 0, 0, 0, 8), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "0x8");
  CHECK_STATUS(dif_sample_set_zoom_out(s, 1.0f), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "(1, 4]");
  CHECK_STATUS(dif_sample_set_zoom_out(s, 4.5f), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "4.5");
  CHECK_STATUS(dif_sample_set_zoom_out(s, NAN), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "factor");
  CHECK_STATUS(dif_sample_set_pan(s, (dif_direction)9, 0.5f), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "direction 9");
  CHECK_STATUS(dif_sample_set_pan(s, DIF_DIRECTION_UP, 0.0f), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "(0, 1]");
  CHECK_STATUS(dif_sample_set_pan(s, DIF_DIRECTION_UP, 1.5f), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "1.5");
  CHECK_STATUS(dif_sample_set_upscale(s, 1.0f, DIF_UPSCALE_SUBTLE), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "factor 1 must be in (1, 4]");
  CHECK_STATUS(dif_sample_set_upscale(s, 5.0f, DIF_UPSCALE_CREATIVE), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "factor 5 must be in (1, 4]");
  CHECK_STATUS(dif_sample_set_upscale(s, NAN, DIF_UPSCALE_SUBTLE), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "factor");
  CHECK_STATUS(dif_sample_set_upscale(s, 2.0f, (dif_upscale_mode)7), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "unknown mode 7");
  CHECK(dif_sample_set_upscale(s, 2.0f, DIF_UPSCALE_CREATIVE) == DIF_OK);
  CHECK_STATUS(dif_sample_run(s), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "an edit (zoom out, make square, pan, upscale) needs an init image");
  /* no init image: refused at the run, naming what is missing */
  CHECK(dif_sample_set_mask_rect(s, 0, 0, 8, 8) == DIF_OK);
  CHECK_STATUS(dif_sample_run(s), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "a mask needs an init image");
  CHECK(dif_sample_set_zoom_out(s, 2.0f) == DIF_OK);
  CHECK_STATUS(dif_sample_run(s), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "an edit (zoom out, make square, pan, upscale) needs an init image");
  /* with the 32x32 picture */
  CHECK(dif_sample_set_init_image_file(s, dif__test_path(IMAGE), 1.0f) == DIF_OK);
  CHECK(dif_sample_set_mask_rect(s, 24, 0, 16, 8) == DIF_OK);
  CHECK_STATUS(dif_sample_run(s), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "16x8 at (24, 0) is not inside the 32x32 picture");
  CHECK(dif_sample_set_make_square(s) == DIF_OK);
  CHECK_STATUS(dif_sample_run(s), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "already square");
  CHECK(dif_sample_set_pan(s, DIF_DIRECTION_RIGHT, 1.0f) == DIF_OK);
  CHECK(dif_sample_set_size(s, 4096, 32) == DIF_OK);
  CHECK_STATUS(dif_sample_run(s), DIF_ERR_LIMIT, dif_sample_last_error(s), "DIF_MAX_OUTPUT_SIDE");
  CHECK(dif_sample_set_upscale(s, 2.0f, DIF_UPSCALE_SUBTLE) == DIF_OK);
  CHECK_STATUS(dif_sample_run(s), DIF_ERR_LIMIT, dif_sample_last_error(s),
               "4096x32 × 2 would be 8192x64, beyond DIF_MAX_OUTPUT_SIDE");
  /* the mask crop: its padding; a run without a mask, or with an all-black one */
  CHECK_STATUS(dif_sample_set_mask_crop(s, -2), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "padding -2 must be 0..4096");
  CHECK_STATUS(dif_sample_set_mask_crop(s, DIF_MAX_OUTPUT_SIDE + 1), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "padding 4097");
  CHECK(dif_sample_set_size(s, 32, 32) == DIF_OK);
  CHECK(dif_sample_clear_edit(s) == DIF_OK && dif_sample_set_mask_file(s, NULL) == DIF_OK);
  CHECK(dif_sample_set_mask_crop(s, 4) == DIF_OK);
  CHECK_STATUS(dif_sample_run(s), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "the mask crop (padding 4) needs a mask");
  uint8_t black[32 * 32 * 3] = {0};
  CHECK(dif_sample_set_mask_rgb(s, black, 32, 32, 96) == DIF_OK);
  CHECK_STATUS(dif_sample_run(s), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "this 32x32 mask is all black");
  CHECK(dif_sample_set_mask_crop(s, DIF_MASK_CROP_NONE) == DIF_OK);
  CHECK(dif_sample_clear_edit(s) == DIF_OK && dif_sample_set_mask_file(s, NULL) == DIF_OK);
  CHECK(dif_sample_image_count(s) == 0);
  dif_sample_free(s);
  dif_prompt_free(p);
  dif_context_free(ctx);
}

TEST(image_prompt_on_sd_model) {
  dif_context *ctx = load(SD, NULL);
  dif_prompt *p = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK(dif_prompt_add_image_file(p, dif__test_path(IMAGE), 1) == DIF_OK);
  dif_sample *s = NULL;
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  CHECK(dif_sample_set_size(s, 32, 32) == DIF_OK);
  CHECK_STATUS(dif_sample_run(s), DIF_ERR_UNSUPPORTED, dif_sample_last_error(s), "Stable unCLIP");
  CHECK(dif_sample_poll(s, NULL, NULL) == DIF_ERR_UNSUPPORTED);
  float emb[64];
  size_t n = 64;
  CHECK_STATUS(dif_context_encode_image_file(ctx, dif__test_path(IMAGE), emb, &n),
               DIF_ERR_UNSUPPORTED, dif_context_last_error(ctx), "image_encoder");
  CHECK_STATUS(dif_context_encode_text(ctx, "x", DIF_EMBED_TEXT_PROJECTED, emb, &n),
               DIF_ERR_UNSUPPORTED, dif_context_last_error(ctx), "prior");
  dif_sample_free(s);
  dif_prompt_free(p);
  dif_context_free(ctx);
}

TEST(embedding_buffers) {
  dif_context *ctx = load(MODEL, NULL);
  size_t n = 0;
  CHECK(dif_context_encode_text(ctx, "a cat", DIF_EMBED_TEXT_HIDDEN, NULL, &n) == DIF_OK);
  CHECK(n == 77 * 32);
  float small[4];
  size_t have = 4;
  CHECK_STATUS(dif_context_encode_text(ctx, "a cat", DIF_EMBED_TEXT_HIDDEN, small, &have),
               DIF_ERR_INVALID_ARGUMENT, dif_context_last_error(ctx), "holds 4 floats");
  CHECK_STATUS(dif_context_encode_text(ctx, "a cat", (dif_text_embedding)9, NULL, &n),
               DIF_ERR_INVALID_ARGUMENT, dif_context_last_error(ctx), "kind");
  CHECK_STATUS(dif_context_encode_text(ctx, "a cat", DIF_EMBED_TEXT_HIDDEN, NULL, NULL),
               DIF_ERR_INVALID_ARGUMENT, dif_context_last_error(ctx), "count");
  CHECK_STATUS(
      dif_context_encode_text(ctx, "bad \xff", DIF_EMBED_TEXT_HIDDEN, small, &(size_t){77 * 32}),
      DIF_ERR_INVALID_ARGUMENT, dif_context_last_error(ctx), "offset");
  CHECK_STATUS(dif_context_encode_image_file(ctx, "/nonexistent.jpg", small, &have), DIF_ERR_IO,
               dif_context_last_error(ctx), "/nonexistent.jpg");
  CHECK_STATUS(dif_context_encode_image_rgb(ctx, NULL, 4, 4, 12, small, &have),
               DIF_ERR_INVALID_ARGUMENT, dif_context_last_error(ctx), "NULL");
  dif_context_free(ctx);
}

TEST(load_errors_and_mismatches) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK_STATUS(dif_context_set_prior(ctx, NULL), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx), "NULL");
  /* a folder of loose prior parts is not a model */
  CHECK_STATUS(dif_context_load(ctx, dif__test_path(PRIOR)), DIF_ERR_BAD_MODEL,
               dif_context_last_error(ctx), "no unet/");
  CHECK(dif_context_model_file_count(ctx) == 0);
  /* a prior that is not a prior folder */
  CHECK(dif_context_set_prior(ctx, dif__test_path(SD)) == DIF_OK);
  CHECK_STATUS(dif_context_load(ctx, dif__test_path(MODEL)), DIF_ERR_BAD_MODEL,
               dif_context_last_error(ctx), "prior_tokenizer");
  dif_context_free(ctx);
  ctx = load(MODEL, PRIOR);
  CHECK(dif_context_is_unclip(ctx) && dif_context_has_prior(ctx) &&
        dif_context_has_image_encoder(ctx));
  CHECK_STATUS(dif_context_set_prior(ctx, dif__test_path(PRIOR)), DIF_ERR_BUSY,
               dif_context_last_error(ctx), "already");
  CHECK_STATUS(dif_context_set_load_progress(ctx, NULL, NULL), DIF_ERR_BUSY,
               dif_context_last_error(ctx), "frozen");
  dif_context_free(ctx);
}

/* The precision setting: its values, its moment, what it resolves to, and
 * records that carry one. */
TEST(precision_setting) {
  CHECK_STATUS(dif_context_set_precision(NULL, DIF_PRECISION_EXACT), DIF_ERR_INVALID_ARGUMENT,
               dif_last_error(), "NULL");
  CHECK(dif_context_precision(NULL) == DIF_PRECISION_AUTO);
  CHECK(strcmp(dif_precision_name(DIF_PRECISION_AUTO), "auto") == 0);
  CHECK(strcmp(dif_precision_name(DIF_PRECISION_FAST), "fast") == 0);
  CHECK(dif_precision_name((dif_precision)7) == NULL);
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  /* auto resolves at once: never AUTO for a context */
  const dif_precision dflt = dif_context_precision(ctx);
  CHECK(dflt == DIF_PRECISION_EXACT || dflt == DIF_PRECISION_FAST);
  CHECK_STATUS(dif_context_set_precision(ctx, (dif_precision)3), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx), "unknown precision 3");
  CHECK_STATUS(dif_context_set_precision(ctx, (dif_precision)-1), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx), "unknown precision");
  CHECK(dif_context_precision(ctx) == dflt); /* a refused value changes nothing */
  CHECK(dif_context_set_precision(ctx, DIF_PRECISION_EXACT) == DIF_OK);
  CHECK(dif_context_precision(ctx) == DIF_PRECISION_EXACT);
  const dif_status fast = dif_context_set_precision(ctx, DIF_PRECISION_FAST);
  if (fast == DIF_OK) {
    CHECK(dif_context_precision(ctx) == DIF_PRECISION_FAST);
  } else { /* refused where no bf16 backend runs, saying what is missing */
    CHECK_STATUS(fast, DIF_ERR_UNSUPPORTED, dif_context_last_error(ctx), "cannot run here");
    CHECK(dif_context_precision(ctx) == DIF_PRECISION_EXACT);
    printf("  fast: %s\n", dif_context_last_error(ctx));
  }
  /* a record: bad values refused as a whole, none = exact (made before fast) */
  CHECK_STATUS(dif_context_apply_record(ctx, NULL), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx), "NULL");
  CHECK_STATUS(dif_context_apply_record(NULL, "{}"), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "NULL");
  CHECK_STATUS(dif_context_apply_record(
                   ctx, "{\"prompt\":[{\"text\":\"a\",\"weight\":1}],\"precision\":\"half\"}"),
               DIF_ERR_INVALID_ARGUMENT, dif_context_last_error(ctx), "\"precision\" must be");
  CHECK_STATUS(
      dif_context_apply_record(ctx, "{\"prompt\":[{\"text\":\"a\",\"weight\":1}],\"precision\":1}"),
      DIF_ERR_INVALID_ARGUMENT, dif_context_last_error(ctx), "precision");
  CHECK(dif_context_apply_record(ctx, "{\"prompt\":[{\"text\":\"a\",\"weight\":1}]}") == DIF_OK);
  CHECK(dif_context_precision(ctx) == DIF_PRECISION_EXACT);
  if (fast == DIF_OK) {
    CHECK(dif_context_apply_record(
              ctx, "{\"prompt\":[{\"text\":\"a\",\"weight\":1}],\"precision\":\"fast\"}") ==
          DIF_OK);
    CHECK(dif_context_precision(ctx) == DIF_PRECISION_FAST);
  }
  /* frozen once loaded; the info and the record say what is in effect */
  CHECK(dif_context_set_precision(ctx, DIF_PRECISION_EXACT) == DIF_OK);
  CHECK(dif_context_load(ctx, dif__test_path(SD)) == DIF_OK);
  CHECK_STATUS(dif_context_set_precision(ctx, DIF_PRECISION_AUTO), DIF_ERR_BUSY,
               dif_context_last_error(ctx), "frozen");
  CHECK_STATUS(dif_context_apply_record(ctx, "{\"prompt\":[{\"text\":\"a\",\"weight\":1}]}"),
               DIF_ERR_BUSY, dif_context_last_error(ctx), "frozen");
  CHECK(dif_context_precision(ctx) == DIF_PRECISION_EXACT);
  const char *info = dif_context_info(ctx);
  CHECK(strstr(info, "\"precision\": \"exact\"") && strstr(info, "\"gemm_backend\": \"openblas\""));
  CHECK(strstr(info, "\"isa\":") != NULL);
  /* exact: the VAE's 3x3 convolutions by Winograd (oneDNN's or openblas's)
   * or im2col + sgemm, never bf16 */
  CHECK(strstr(info, "\"vae_conv3x3\": \"winograd\"") ||
        strstr(info, "\"vae_conv3x3\": \"sgemm\""));
  /* the UNet's first levels by Winograd exactly where the VAE's are, never bf16 */
  CHECK(strstr(info, "\"unet_conv3x3\": \"winograd up to 1920x640 channels\"") ||
        strstr(info, "\"unet_conv3x3\": \"sgemm\""));
  CHECK(!strstr(info, "\"unet_conv3x3\": \"winograd") ==
        !strstr(info, "\"vae_conv3x3\": \"winograd\""));
  /* exact: float32, fused on an AVX2 CPU without AVX-512 or with split
   * AVX-512 (core/attn_f32.h), by its AVX-512 build where that runs */
  CHECK(strstr(info, !dif__attn_f32_taken() ? "\"attention\": \"float32\""
                     : dif__attn_f32_native() == DIF__ATTN_F32_AVX512
                         ? "\"attention\": \"fused float32, AVX-512\""
                         : "\"attention\": \"fused float32, AVX2\"") != NULL);
  /* exact: few-row products on libdif's kernel where it runs (core/gemm_few.h) */
  CHECK(strstr(info, dif__few_rows_runs() ? "\"linear_few_rows\": \"weights read once, AVX2\""
                                          : "\"linear_few_rows\": \"sgemm\"") != NULL);
  dif_prompt *p = text_prompt("a cat");
  dif_sample *s = NULL;
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  CHECK(dif_sample_set_size(s, 32, 32) == DIF_OK && dif_sample_set_steps(s, 1) == DIF_OK);
  CHECK(dif_sample_set_seed(s, 1) == DIF_OK);
  CHECK_MSG(dif_sample_run(s) == DIF_OK, "%s", dif_sample_last_error(s));
  CHECK(strstr(dif_sample_parameters(s), "\"precision\":\"exact\"") != NULL);
  dif_sample_free(s);
  dif_prompt_free(p);
  dif_context_free(ctx);
}

/* auto on a small model (the tiny SD fixture, well under 128 MiB) resolves
 * to exact at load even where fast runs; an explicit fast stays fast. */
TEST(auto_small_model_exact) {
  const dif_precision asked[] = {DIF_PRECISION_AUTO, DIF_PRECISION_FAST};
  for (int i = 0; i < 2; i++) {
    dif_context *ctx = NULL;
    CHECK(dif_context_new(&ctx) == DIF_OK);
    if (dif_context_set_precision(ctx, asked[i]) != DIF_OK) { /* fast refused on this CPU */
      dif_context_free(ctx);
      continue;
    }
    CHECK_MSG(dif_context_load(ctx, dif__test_path(SD)) == DIF_OK, "%s",
              dif_context_last_error(ctx));
    const dif_precision want = i == 0 ? DIF_PRECISION_EXACT : DIF_PRECISION_FAST;
    CHECK(dif_context_precision(ctx) == want);
    CHECK(strstr(dif_context_info(ctx), want == DIF_PRECISION_EXACT ? "\"precision\": \"exact\""
                                                                    : "\"precision\": \"fast\""));
    if (want == DIF_PRECISION_FAST) {
      /* fast: the UNet's convolutions in bf16; the VAE's by Winograd where its bf16 is not on
       * AMX tiles (core/backend.h, dif__wino_for_fast) and a Winograd backend runs here */
      const char *info = dif_context_info(ctx);
      const dif__backend *fb =
          dif__backend_find(strstr(info, "\"gemm_backend\": \"onednn\"") ? "onednn" : "openblas");
      /* both by bf16 Winograd there where the backend has products on bf16 input, else the
       * VAE's by float32 Winograd up to 512 x 256 channels (api/load.c) */
      const bool wino_bf16 = dif__wino_for_fast(fb) && fb->linear_bf16;
      const bool wino = !wino_bf16 && dif__wino_for_fast(fb) && dif__backend_wino(NULL, 0);
      CHECK(strstr(info, wino_bf16 ? "\"unet_conv3x3\": \"bf16 winograd\""
                                   : "\"unet_conv3x3\": \"bf16\"") != NULL);
      CHECK(strstr(info, "\"linear_few_rows\": \"bf16\"") != NULL);
      /* the attention fused on the best native build (core/attn_fused.h) */
      const dif__attn_fused_isa best = dif__attn_fused_best();
      CHECK_MSG(strstr(info, best == DIF__ATTN_FUSED_AMX
                                 ? "\"attention\": \"fused bf16, AMX tiles\""
                             : best == DIF__ATTN_FUSED_AVX512BF16
                                 ? "\"attention\": \"fused bf16, AVX512-BF16\""
                                 : "\"attention\": \"bf16\""),
                "%s", info);
      CHECK_MSG(strstr(info, wino_bf16 ? "\"vae_conv3x3\": \"bf16 winograd\""
                             : wino ? "\"vae_conv3x3\": \"winograd up to 512x256 channels, bf16\""
                                    : "\"vae_conv3x3\": \"bf16\""),
                "%s", info);
    }
    dif_context_free(ctx);
  }
}

/* DIF_WINO_BF16=off, read at load, keeps a fast context's convolutions off bf16
 * Winograd (api/load.c): the UNet's bf16 direct, the VAE's by float32 Winograd
 * up to 512 x 256 channels where that runs; another value changes nothing. */
TEST(wino_bf16_off) {
  const char *was = getenv("DIF_WINO_BF16");
  char saved[64] = "";
  if (was) snprintf(saved, sizeof saved, "%s", was);
  for (int off = 0; off < 2; off++) {
    setenv("DIF_WINO_BF16", off ? "off" : "on", 1);
    dif_context *ctx = NULL;
    CHECK(dif_context_new(&ctx) == DIF_OK);
    if (dif_context_set_precision(ctx, DIF_PRECISION_FAST) != DIF_OK) { /* refused here */
      dif_context_free(ctx);
      break;
    }
    CHECK_MSG(dif_context_load(ctx, dif__test_path(SD)) == DIF_OK, "%s",
              dif_context_last_error(ctx));
    const char *info = dif_context_info(ctx);
    const dif__backend *fb =
        dif__backend_find(strstr(info, "\"gemm_backend\": \"onednn\"") ? "onednn" : "openblas");
    const bool wino_bf16 = !off && dif__wino_for_fast(fb) && fb->linear_bf16;
    const bool wino = !wino_bf16 && dif__wino_for_fast(fb) && dif__backend_wino(NULL, 0);
    CHECK_MSG(strstr(info, wino_bf16 ? "\"unet_conv3x3\": \"bf16 winograd\""
                                     : "\"unet_conv3x3\": \"bf16\""),
              "DIF_WINO_BF16=%s: %s", off ? "off" : "on", info);
    CHECK_MSG(strstr(info, wino_bf16 ? "\"vae_conv3x3\": \"bf16 winograd\""
                           : wino    ? "\"vae_conv3x3\": \"winograd up to 512x256 channels, bf16\""
                                     : "\"vae_conv3x3\": \"bf16\""),
              "DIF_WINO_BF16=%s: %s", off ? "off" : "on", info);
    dif_context_free(ctx);
  }
  if (was)
    setenv("DIF_WINO_BF16", saved, 1);
  else
    unsetenv("DIF_WINO_BF16");
}

/* Loading a model whose products or convolutions run on oneDNN warns, once,
 * when the program started without OMP_WAIT_POLICY (libgomp's threads then
 * spin; dif.h, DIF_PRECISION_FAST), and never when a policy was chosen or
 * oneDNN does not run. */
static int policy_warnings;
static void on_policy_log(dif_log_level level, const char *message, void *user) {
  (void)user;
  if (level == DIF_LOG_WARN && strstr(message, "OMP_WAIT_POLICY=passive")) policy_warnings++;
}

TEST(omp_wait_policy_warning) {
  const char *was = getenv("OMP_WAIT_POLICY");
  char saved[64] = "";
  if (was) snprintf(saved, sizeof saved, "%s", was);
  const dif__backend *wb = dif__backend_wino(NULL, 0);
  const bool wino_onednn = wb && strcmp(wb->name, "onednn") == 0;
  const dif_precision asked[] = {DIF_PRECISION_EXACT, DIF_PRECISION_FAST};
  for (int i = 0; i < 2; i++)
    for (int set = 0; set < 2; set++) {
      if (set)
        setenv("OMP_WAIT_POLICY", "active", 1);
      else
        unsetenv("OMP_WAIT_POLICY");
      dif_context *ctx = NULL;
      CHECK(dif_context_new(&ctx) == DIF_OK);
      if (dif_context_set_precision(ctx, asked[i]) != DIF_OK) { /* fast refused on this CPU */
        dif_context_free(ctx);
        continue;
      }
      CHECK(dif_context_set_log(ctx, on_policy_log, DIF_LOG_WARN, NULL) == DIF_OK);
      policy_warnings = 0;
      CHECK_MSG(dif_context_load(ctx, dif__test_path(SD)) == DIF_OK, "%s",
                dif_context_last_error(ctx));
      const char *info = dif_context_info(ctx);
      const bool onednn = strstr(info, "\"gemm_backend\": \"onednn\"") ||
                          (strstr(info, "\"vae_conv3x3\": \"winograd") && wino_onednn);
      CHECK_MSG(policy_warnings == (!set && onednn ? 1 : 0),
                "%s, OMP_WAIT_POLICY %s, oneDNN %s: %d warnings", i ? "fast" : "exact",
                set ? "set" : "unset", onednn ? "runs" : "does not run", policy_warnings);
      dif_context_free(ctx);
    }
  if (was)
    setenv("OMP_WAIT_POLICY", saved, 1);
  else
    unsetenv("OMP_WAIT_POLICY");
}

int main(void) {
  RUN(precision_setting);
  RUN(auto_small_model_exact);
  RUN(wino_bf16_off);
  RUN(omp_wait_policy_warning);
  RUN(null_handles);
  RUN(prompt_errors);
  RUN(sample_errors);
  RUN(mask_and_edit_errors);
  RUN(image_prompt_on_sd_model);
  RUN(embedding_buffers);
  RUN(load_errors_and_mismatches);
  return dif__test_finish();
}
