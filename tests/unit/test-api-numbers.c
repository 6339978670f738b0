/* test-api-numbers.c — hostile numbers: NaN and infinity in weights, settings
 * out of range, malformed scheduler configs, sizes from configs and images
 * that would overflow or bypass the caps (issue 13, items 3 and 5).
 *
 * Hostile models are copies of the tiny fixtures under a mkdtemp folder in
 * /tmp, with one config key or one tensor rewritten; the fixtures themselves
 * are never touched. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#define UNCLIP "golden/models/tiny-unclip"
#define SD "golden/models/tiny-sd"
#define PRIOR "golden/models/tiny-karlo-prior"
#define IMAGE "golden/cases/pipelines/input_32x32.png"

/* ---- hostile copies ---- */

/* Copies the fixture folder rel into a fresh temporary folder, in dir. */
static void copy_model(const char *rel, char dir[64]) {
  snprintf(dir, 64, "/tmp/dif-numbers-XXXXXX");
  if (!mkdtemp(dir)) abort();
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "cp -R '%s/.' '%s'", dif__test_path(rel), dir);
  if (system(cmd) != 0) abort();
}

static void remove_tree(const char *dir) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) abort();
}

/* Replaces every `from` in the NUL-terminated text *t by `to` (realloc'd). */
static void replace_all(char **t, const char *from, const char *to) {
  size_t nf = strlen(from), nt = strlen(to);
  for (char *at = strstr(*t, from); at; at = strstr(*t + (at - *t) + nt, from)) {
    size_t off = (size_t)(at - *t), len = strlen(*t);
    char *n = malloc(len - nf + nt + 1);
    if (!n) abort();
    memcpy(n, *t, off);
    memcpy(n + off, to, nt);
    memcpy(n + off + nt, *t + off + nf, len - off - nf + 1);
    free(*t);
    *t = n;
    at = n + off;
  }
}

/* Sets key of the JSON file dir/file to raw JSON text, which may hold
 * Python's bare Infinity as diffusers writes it (kept through the rewrite
 * as a marker string, since jansson does not read it). */
static void set_key(const char *dir, const char *file, const char *key, const char *raw) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *f = fopen(path, "rb");
  char *text = calloc(1, 1 << 20);
  if (!f || !text || fread(text, 1, (1 << 20) - 1, f) == 0) abort();
  fclose(f);
  replace_all(&text, "Infinity", "\"@INF@\"");
  json_t *o = json_loads(text, 0, NULL);
  free(text);
  if (!o) abort();
  json_object_set_new(o, key, json_string("@RAW@"));
  text = json_dumps(o, JSON_INDENT(1));
  json_decref(o);
  replace_all(&text, "\"@RAW@\"", raw);
  replace_all(&text, "\"@INF@\"", "Infinity");
  if (!(f = fopen(path, "w"))) abort();
  fputs(text, f);
  fclose(f);
  free(text);
}

/* Overwrites every element of the F32 tensor `name` of the safetensors file
 * dir/file with v (8-byte header length, JSON header, data). */
static void poison(const char *dir, const char *file, const char *name, float v) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *f = fopen(path, "r+b");
  uint64_t n = 0;
  if (!f || fread(&n, 8, 1, f) != 1 || n > 1 << 24) abort();
  char *h = malloc(n);
  if (!h || fread(h, 1, n, f) != n) abort();
  json_t *hdr = json_loadb(h, n, 0, NULL), *t = json_object_get(hdr, name);
  json_t *offs = json_object_get(t, "data_offsets");
  if (!t || strcmp(json_string_value(json_object_get(t, "dtype")), "F32") != 0) abort();
  long start = (long)json_integer_value(json_array_get(offs, 0));
  long end = (long)json_integer_value(json_array_get(offs, 1));
  if (fseek(f, 8 + (long)n + start, SEEK_SET) != 0) abort();
  for (long i = start; i < end; i += 4) fwrite(&v, 4, 1, f);
  fclose(f);
  json_decref(hdr);
  free(h);
}

static dif_context *load(const char *dir, const char *prior_dir, dif_status want,
                         const char *substr) {
  dif_context *ctx = NULL;
  if (dif_context_new(&ctx) != DIF_OK) abort();
  dif_context_set_threads(ctx, 2);
  if (prior_dir) CHECK(dif_context_set_prior(ctx, prior_dir) == DIF_OK);
  CHECK_STATUS(dif_context_load(ctx, dir), want, dif_context_last_error(ctx), substr);
  return ctx;
}

/* Loads a model copy whose one change must be refused at load. */
static void refused(const char *dir, const char *prior_dir, dif_status want, const char *substr) {
  dif_context_free(load(dir, prior_dir, want, substr));
}

/* ---- item 3: sizes read from configs ---- */

TEST(config_sizes_are_bounded) {
  char dir[64];
  copy_model(SD, dir);
  set_key(dir, "unet/config.json", "sample_size", "4611686018427387904"); /* 2^62 */
  refused(dir, NULL, DIF_ERR_BAD_MODEL, "sample_size 4611686018427387904 is outside 1..4096");
  set_key(dir, "unet/config.json", "sample_size", "0");
  refused(dir, NULL, DIF_ERR_BAD_MODEL, "sample_size 0");
  set_key(dir, "unet/config.json", "sample_size", "8");
  set_key(dir, "vae/config.json", "sample_size", "4611686018427387904");
  refused(dir, NULL, DIF_ERR_BAD_MODEL, "vae/config.json: sample_size");
  set_key(dir, "vae/config.json", "sample_size", "32");
  set_key(dir, "vae/config.json", "scaling_factor", "Infinity");
  refused(dir, NULL, DIF_ERR_BAD_MODEL, "scaling_factor");
  set_key(dir, "vae/config.json", "scaling_factor", "0.18215");
  set_key(dir, "unet/config.json", "freq_shift", "Infinity");
  refused(dir, NULL, DIF_ERR_BAD_MODEL, "freq_shift must be finite");
  set_key(dir, "unet/config.json", "freq_shift", "0");
  set_key(dir, "text_encoder/config.json", "layer_norm_eps", "Infinity");
  refused(dir, NULL, DIF_ERR_BAD_MODEL, "layer_norm_eps");
  set_key(dir, "text_encoder/config.json", "layer_norm_eps", "1e-05");
  dif_context_free(load(dir, NULL, DIF_OK, NULL)); /* restored: loads again */
  remove_tree(dir);

  /* heads x head_dim is 2^64: bounded factor by factor, no signed overflow */
  char prior[64];
  copy_model(PRIOR, prior);
  set_key(prior, "prior/config.json", "num_attention_heads", "4294967296");
  set_key(prior, "prior/config.json", "attention_head_dim", "4294967296");
  refused(dif__test_path(UNCLIP), prior, DIF_ERR_BAD_MODEL, "heads 4294967296 x head_dim");
  remove_tree(prior);
}

/* ---- item 3: scheduler configs ---- */

TEST(scheduler_betas_refused_at_load) {
  char dir[64];
  copy_model(SD, dir);
  const char *f = "scheduler/scheduler_config.json";
  set_key(dir, f, "beta_end", "1.5");
  refused(dir, NULL, DIF_ERR_BAD_MODEL, "scheduler/scheduler_config.json: beta_end = 1.5");
  set_key(dir, f, "beta_end", "Infinity");
  refused(dir, NULL, DIF_ERR_BAD_MODEL, "beta_end = inf is outside (0, 1)");
  set_key(dir, f, "beta_end", "0.012");
  set_key(dir, f, "beta_start", "0");
  refused(dir, NULL, DIF_ERR_BAD_MODEL, "beta_start = 0 is outside (0, 1)");
  set_key(dir, f, "beta_start", "-0.001");
  refused(dir, NULL, DIF_ERR_BAD_MODEL, "beta_start = -0.001");
  set_key(dir, f, "beta_start", "0.00085");
  /* trained_betas: 1000 values, one infinite, then one equal to 1 */
  char betas[16384] = "[";
  for (int i = 0; i < 1000; i++)
    strcat(betas, i == 500 ? "Infinity," : i == 999 ? "0.01]" : "0.01,");
  set_key(dir, f, "trained_betas", betas);
  refused(dir, NULL, DIF_ERR_BAD_MODEL, "trained_betas[500] = inf is outside (0, 1)");
  betas[0] = '\0';
  strcat(betas, "[");
  for (int i = 0; i < 1000; i++) strcat(betas, i == 7 ? "1," : i == 999 ? "0.01]" : "0.01,");
  set_key(dir, f, "trained_betas", betas);
  refused(dir, NULL, DIF_ERR_BAD_MODEL, "trained_betas[7] = 1 is outside (0, 1)");
  set_key(dir, f, "trained_betas", "null");
  set_key(dir, f, "num_train_timesteps", "1000000000");
  refused(dir, NULL, DIF_ERR_UNSUPPORTED,
          "scheduler/scheduler_config.json: num_train_timesteps 1000000000 is outside");
  set_key(dir, f, "num_train_timesteps", "1000");
  dif_context_free(load(dir, NULL, DIF_OK, NULL));
  remove_tree(dir);

  /* unCLIP's image noising scheduler, read with the model */
  copy_model(UNCLIP, dir);
  set_key(dir, "image_noising_scheduler/scheduler_config.json", "beta_schedule", "\"linear\"");
  set_key(dir, "image_noising_scheduler/scheduler_config.json", "beta_end", "2");
  refused(dir, NULL, DIF_ERR_BAD_MODEL, "image_noising_scheduler/scheduler_config.json: beta_end");
  remove_tree(dir);
}

/* ---- item 3: setting ranges ---- */

TEST(setting_ranges) {
  dif_context *ctx = load(dif__test_path(UNCLIP), NULL, DIF_OK, NULL);
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK(dif_prompt_add_image_file(p, dif__test_path(IMAGE), 1.0f) == DIF_OK);
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  float bad[] = {3.4e38f, INFINITY, NAN, -1.0f, 100.5f};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_STATUS(dif_sample_set_guidance(s, bad[i]), DIF_ERR_INVALID_ARGUMENT,
                 dif_sample_last_error(s), "<= 100");
    CHECK_STATUS(dif_sample_set_prior_guidance(s, bad[i]), DIF_ERR_INVALID_ARGUMENT,
                 dif_sample_last_error(s), "<= 100");
  }
  CHECK(dif_sample_set_guidance(s, 100.0f) == DIF_OK);
  CHECK(dif_sample_set_guidance(s, 0.0f) == DIF_OK);
  CHECK(dif_sample_set_prior_guidance(s, 30.0f) == DIF_OK);
  /* the noise level runs to the image noising scheduler's last timestep */
  CHECK(dif_sample_set_noise_level(s, 999) == DIF_OK);
  CHECK_STATUS(dif_sample_set_noise_level(s, 1000), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "outside 0..999");
  CHECK_STATUS(dif_sample_set_noise_level(s, -1), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "outside 0..999");
  float strengths[] = {0.0f, -0.5f, 1.5f, NAN, INFINITY};
  for (size_t i = 0; i < sizeof strengths / sizeof strengths[0]; i++)
    CHECK_STATUS(dif_sample_set_init_image_file(s, dif__test_path(IMAGE), strengths[i]),
                 DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s), "(0, 1]");
  dif_sample_free(s);
  dif_context_free(ctx);

  /* a model trained with 2000 noise levels takes 0..1999 */
  char dir[64];
  copy_model(UNCLIP, dir);
  set_key(dir, "image_noising_scheduler/scheduler_config.json", "num_train_timesteps", "2000");
  ctx = load(dir, NULL, DIF_OK, NULL);
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  CHECK(dif_sample_set_noise_level(s, 1500) == DIF_OK);
  CHECK_STATUS(dif_sample_set_noise_level(s, 2000), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "outside 0..1999");
  dif_sample_free(s);
  dif_context_free(ctx);
  /* ... and so does its dif_defaults.json; guidance there has the setters' range */
  FILE *f;
  char path[128];
  snprintf(path, sizeof path, "%s/dif_defaults.json", dir);
  CHECK((f = fopen(path, "w")) != NULL);
  fputs("{\"noise_level\": 1999}", f);
  fclose(f);
  dif_context_free(load(dir, NULL, DIF_OK, NULL));
  CHECK((f = fopen(path, "w")) != NULL);
  fputs("{\"guidance\": 1e6}", f);
  fclose(f);
  refused(dir, NULL, DIF_ERR_BAD_MODEL, "'guidance' is 1e+06; it must be a number in 0..100");
  remove_tree(dir);
  dif_prompt_free(p);
}

/* ---- item 3: NaN and infinity in weights ---- */

/* Runs one step on the model in dir with prompt p and checks the run fails
 * with DIF_ERR_NON_FINITE, a message containing each of want[], and no
 * image. */
static void run_non_finite(const char *dir, const char *prior_dir, const dif_prompt *p,
                           const char *const *want) {
  dif_context *ctx = load(dir, prior_dir, DIF_OK, NULL);
  dif_sample *s = NULL;
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  CHECK(dif_sample_set_steps(s, 2) == DIF_OK);
  CHECK(dif_sample_set_prior_steps(s, 2) == DIF_OK);
  CHECK(dif_sample_set_size(s, 16, 16) == DIF_OK);
  dif_status st = dif_sample_run(s);
  const char *msg = dif_sample_last_error(s);
  CHECK_STATUS(st, DIF_ERR_NON_FINITE, msg, want[0]);
  for (int i = 1; want[i]; i++)
    CHECK_MSG(strstr(msg, want[i]), "\"%s\" lacks \"%s\"", msg, want[i]);
  CHECK(dif_sample_image_count(s) == 0);
  char png[128];
  snprintf(png, sizeof png, "%s/out.png", dir);
  CHECK(dif_sample_save_png(s, 0, png) != DIF_OK);
  CHECK(access(png, F_OK) != 0);
  dif_sample_free(s);
  dif_context_free(ctx);
}

typedef struct poison_case {
  const char *model, *file, *tensor;
  float value;
  int image_prompt; /* 0: text prompt */
  const char *want[4];
} poison_case;

TEST(non_finite_weights_end_the_run_with_a_status) {
  static const poison_case cases[] = {
      {SD,
       "unet/diffusion_pytorch_model.safetensors",
       "conv_in.weight",
       NAN,
       0,
       {"the UNet produced non-finite values at decoder step 1 of ", "(timestep ", "NaN", NULL}},
      {SD,
       "unet/diffusion_pytorch_model.safetensors",
       "conv_out.bias",
       INFINITY,
       0,
       {"the UNet produced non-finite values at decoder step 1 of ", "infinity", NULL}},
      {SD,
       "vae/diffusion_pytorch_model.safetensors",
       "decoder.conv_in.weight",
       NAN,
       0,
       {"the VAE decoder (vae) produced non-finite pixels", NULL}},
      {SD,
       "text_encoder/model.safetensors",
       "text_model.final_layer_norm.weight",
       NAN,
       0,
       {"the text encoder (text_encoder) produced non-finite hidden states", NULL}},
      {UNCLIP,
       "image_encoder/model.safetensors",
       "visual_projection.weight",
       NAN,
       1,
       {"the image encoder (image_encoder) produced a non-finite image embedding", NULL}},
      {UNCLIP,
       "image_normalizer/diffusion_pytorch_model.safetensors",
       "std",
       0.0f,
       1,
       {"produced non-finite class labels", NULL}},
      {PRIOR,
       "prior/diffusion_pytorch_model.safetensors",
       "proj_to_clip_embeddings.weight",
       NAN,
       0,
       {"the prior produced non-finite values at prior step 1 of 2", NULL}},
  };
  dif_prompt *text = NULL, *image = NULL;
  CHECK(dif_prompt_new(&text) == DIF_OK && dif_prompt_new(&image) == DIF_OK);
  CHECK(dif_prompt_add_text(text, "a red circle", 1.0f) == DIF_OK);
  CHECK(dif_prompt_add_image_file(image, dif__test_path(IMAGE), 1.0f) == DIF_OK);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const poison_case *c = &cases[i];
    char dir[64];
    copy_model(c->model, dir);
    poison(dir, c->file, c->tensor, c->value);
    if (strcmp(c->model, PRIOR) == 0)
      run_non_finite(dif__test_path(UNCLIP), dir, text, c->want);
    else
      run_non_finite(dir, NULL, c->image_prompt ? image : text, c->want);
    remove_tree(dir);
  }
  dif_prompt_free(text);
  dif_prompt_free(image);
}

TEST(non_finite_embeddings_through_the_api) {
  char dir[64];
  copy_model(UNCLIP, dir);
  poison(dir, "image_encoder/model.safetensors", "visual_projection.weight", NAN);
  poison(dir, "text_encoder/model.safetensors", "text_model.final_layer_norm.bias", INFINITY);
  dif_context *ctx = load(dir, NULL, DIF_OK, NULL);
  float e[4096];
  size_t n = sizeof e / sizeof e[0];
  CHECK_STATUS(dif_context_encode_image_file(ctx, dif__test_path(IMAGE), e, &n), DIF_ERR_NON_FINITE,
               dif_context_last_error(ctx), "image encoder");
  n = sizeof e / sizeof e[0];
  CHECK_STATUS(dif_context_encode_text(ctx, "a cat", DIF_EMBED_TEXT_HIDDEN, e, &n),
               DIF_ERR_NON_FINITE, dif_context_last_error(ctx), "text encoder (text_encoder)");
  dif_context_free(ctx);
  remove_tree(dir);
}

/* ---- item 5: every size goes through the caps ---- */

TEST(init_image_size_is_capped) {
  dif_context *ctx = load(dif__test_path(SD), NULL, DIF_OK, NULL);
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK(dif_prompt_add_text(p, "a cat", 1.0f) == DIF_OK);
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  CHECK(dif_sample_set_steps(s, 2) == DIF_OK);
  /* a valid input (<= DIF_MAX_IMAGE_SIDE) wider than any output */
  int32_t w = 4104, h = 8;
  uint8_t *px = calloc((size_t)w * h, 3);
  CHECK(px != NULL);
  CHECK(dif_sample_set_init_image_rgb(s, px, w, h, w * 3, 0.5f) == DIF_OK);
  CHECK_STATUS(dif_sample_run(s), DIF_ERR_LIMIT, dif_sample_last_error(s),
               "exceeds DIF_MAX_OUTPUT_SIDE");
  CHECK(strstr(dif_sample_last_error(s), "dif_sample_set_size") != NULL);
  CHECK(dif_sample_image_count(s) == 0);
  /* with an explicit size the image is resized to it */
  CHECK(dif_sample_set_size(s, 16, 8) == DIF_OK);
  CHECK(dif_sample_run(s) == DIF_OK);
  CHECK(dif_sample_width(s) == 16 && dif_sample_height(s) == 8);
  CHECK_STATUS(dif_sample_set_size(s, 4104, 8), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "DIF_MAX_OUTPUT_SIDE");
  CHECK_STATUS(dif_sample_set_size(s, 12, 8), DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s),
               "multiples of 8");
  free(px);
  dif_sample_free(s);
  dif_prompt_free(p);
  dif_context_free(ctx);
}

TEST(encode_image_rgb_checks_a_size_query) {
  dif_context *ctx = load(dif__test_path(UNCLIP), NULL, DIF_OK, NULL);
  uint8_t px[12] = {0};
  size_t n = 0;
  CHECK_STATUS(dif_context_encode_image_rgb(ctx, px, 0, 2, 6, NULL, &n), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx), "must be positive");
  CHECK_STATUS(dif_context_encode_image_rgb(ctx, px, 2, -1, 6, NULL, &n), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx), "must be positive");
  CHECK_STATUS(dif_context_encode_image_rgb(ctx, px, 2, 2, 5, NULL, &n), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx), "stride 5 is less than 3 x width");
  CHECK_STATUS(dif_context_encode_image_rgb(ctx, px, 20000, 20000, 60000, NULL, &n), DIF_ERR_LIMIT,
               dif_context_last_error(ctx), "DIF_MAX_IMAGE_SIDE");
  CHECK_STATUS(dif_context_encode_image_rgb(ctx, NULL, 2, 2, 6, NULL, &n), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx), "NULL");
  CHECK(n == 0); /* nothing reported on failure */
  CHECK(dif_context_encode_image_rgb(ctx, px, 2, 2, 6, NULL, &n) == DIF_OK);
  CHECK(n > 0);
  dif_context_free(ctx);
}

int main(void) {
  RUN(config_sizes_are_bounded);
  RUN(scheduler_betas_refused_at_load);
  RUN(setting_ranges);
  RUN(non_finite_weights_end_the_run_with_a_status);
  RUN(non_finite_embeddings_through_the_api);
  RUN(init_image_size_is_capped);
  RUN(encode_image_rgb_checks_a_size_query);
  return dif__test_finish();
}
