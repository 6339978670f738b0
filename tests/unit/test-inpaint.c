/* Masked generation (recipe_inpaint.c) on the tiny fixture models, from what
 * diffusers' StableDiffusionInpaintPipeline does (v0.26.3): the draws in its
 * order, a 4-channel UNet's unmasked latents put back after every step (the
 * last step: the image latents themselves), the mask binarized at 0.5 and
 * taken to the latents by nearest neighbour, soft masks averaged per cell,
 * and the requests an inpainting run refuses. The whole-run comparison with
 * diffusers is the golden runner's "inpaint" kind. */
#include "core/arena.h"
#include "core/threadpool.h"
#include "pipelines/generate.h"
#include "test.h"

#define MAX_TRACED 512

typedef struct traced {
  char *name[MAX_TRACED];
  float *data[MAX_TRACED];
  int64_t n[MAX_TRACED];
  int count;
} traced;

static void on_trace(void *user, const char *name, const float *data, int64_t n) {
  traced *t = user;
  if (t->count == MAX_TRACED) return;
  t->name[t->count] = strdup(name);
  t->data[t->count] = malloc((size_t)n * sizeof(float));
  memcpy(t->data[t->count], data, (size_t)n * sizeof(float));
  t->n[t->count++] = n;
}

static const float *find(const traced *t, const char *name, int64_t *n) {
  for (int i = t->count - 1; i >= 0; i--)
    if (strcmp(t->name[i], name) == 0) {
      if (n) *n = t->n[i];
      return t->data[i];
    }
  return NULL;
}

static void traced_free(traced *t) {
  for (int i = 0; i < t->count; i++) {
    free(t->name[i]);
    free(t->data[i]);
  }
  t->count = 0;
}

typedef struct fixture {
  dif__models m;
  dif__image init;
  dif__pool *pool;
  dif__arena arena;
  dif__kctx k;
} fixture;

static int setup(fixture *f, const char *model) {
  dif__error err = {0};
  char rel[128];
  snprintf(rel, sizeof rel, "%s/models/%s",
           strchr(model, '-') && strstr(model, "inpaint") ? "fixtures" : "golden", model);
  if (dif__models_load(&f->m, dif__test_path(rel), NULL, NULL, NULL, &err)) {
    CHECK_MSG(0, "%s", err.msg);
    return 0;
  }
  if (dif__image_load(dif__test_path("golden/cases/pipelines/input_32x32.png"), NULL, &f->init,
                      &err)) {
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
  dif__image_free(&f->init);
  dif__models_free(&f->m);
}

static dif__request request(fixture *f, const float *mask, traced *t) {
  static const dif__part text = {DIF__PART_TEXT, "a red square", NULL, 1.0f};
  return (dif__request){.parts = &text,
                        .n_parts = 1,
                        .width = 32,
                        .height = 32,
                        .steps = 4,
                        .batch = 1,
                        .guidance = 7.5f,
                        .prior_steps = 2,
                        .prior_guidance = 4.0f,
                        .seed = 7,
                        .scheduler = "ddim",
                        .init_image = &f->init,
                        .strength = 1.0f,
                        .mask = mask,
                        .trace = on_trace,
                        .trace_user = t};
}

/* The image latents as diffusers computes them: scaling_factor · (mean +
 * std · the posterior draw). */
static float image_latent(const fixture *f, const traced *t, int64_t i, const char *draw) {
  const float *mean = find(t, "vae.encode.call0.latent_mean", NULL);
  const float *std = find(t, "vae.encode.call0.latent_std", NULL);
  const float *eps = find(t, draw, NULL);
  return f->m.vae.scaling_factor * (mean[i] + std[i] * eps[i]);
}

/* Left half repainted: after the last step the right half's latents are
 * exactly the init image's latents; the left half is the UNet's. */
TEST(four_channel_keeps_unmasked_latents) {
  fixture f;
  if (!setup(&f, "tiny-sd")) return;
  float mask[32 * 32];
  for (int i = 0; i < 32 * 32; i++) mask[i] = (i % 32) < 16 ? 1.0f : 0.2f; /* 0.2 → 0 */
  traced t = {0};
  dif__request r = request(&f, mask, &t);
  dif__result res = {0};
  dif__error err = {0};
  CHECK_MSG(dif__generate(&f.m, &f.k, &r, &res, &err) == DIF_OK, "%s", err.msg);
  int64_t n = 0, nm = 0;
  const float *last = find(&t, "callback.step3.latents", &n);
  const float *mlat = find(&t, "mask_latents.mask", &nm);
  CHECK(last && mlat && find(&t, "randn.draw2", NULL) && !find(&t, "randn.draw3", NULL));
  CHECK(find(&t, "vae.encode.call1.latent_mean", NULL) != NULL);
  int64_t w = 32 / dif__vae_scale(&f.m.vae), hw = w * w, same = 0, changed = 0;
  CHECK(nm == 2 * hw); /* CFG-doubled, as diffusers' prepare_mask_latents */
  for (int64_t i = 0; last && mlat && i < n; i++) {
    int64_t x = (i % hw) % w;
    CHECK(mlat[i % hw] == (x < w / 2 ? 1.0f : 0.0f));
    if (x >= w / 2)
      same += last[i] == image_latent(&f, &t, i, "randn.draw0");
    else
      changed += fabsf(last[i] - image_latent(&f, &t, i, "randn.draw0")) > 1e-3f;
  }
  CHECK_MSG(same == n / 2, "%lld of %lld kept latents equal the image's", (long long)same,
            (long long)n / 2);
  CHECK_MSG(changed > n / 4, "only %lld of %lld repainted latents changed", (long long)changed,
            (long long)n / 2);
  /* the masked image is the init image with the left half zeroed */
  int64_t nx = 0;
  const float *mx = find(&t, "vae.encode.call1.in", &nx),
              *x0 = find(&t, "vae.encode.call0.in", NULL);
  for (int64_t i = 0; mx && x0 && i < nx; i++) CHECK(mx[i] == ((i % 32) < 16 ? 0.0f : x0[i]));
  CHECK(res.rgb && res.width == 32 && res.height == 32);
  dif__result_free(&res);
  traced_free(&t);
  teardown(&f);
}

/* strength < 1: the image latents noised to the first timestep the strength
 * leaves are the initial latents; draws: posterior, noise, masked posterior. */
TEST(strength_starts_later) {
  fixture f;
  if (!setup(&f, "tiny-sd")) return;
  float mask[32 * 32];
  for (int i = 0; i < 32 * 32; i++) mask[i] = i < 32 * 16 ? 1.0f : 0.0f;
  traced t = {0};
  dif__request r = request(&f, mask, &t);
  r.strength = 0.5f;
  dif__result res = {0};
  dif__error err = {0};
  CHECK_MSG(dif__generate(&f.m, &f.k, &r, &res, &err) == DIF_OK, "%s", err.msg);
  CHECK(find(&t, "callback.step1.latents", NULL) && !find(&t, "callback.step2.latents", NULL));
  CHECK(find(&t, "randn.draw2", NULL) && !find(&t, "randn.draw3", NULL));
  dif__result_free(&res);
  traced_free(&t);
  teardown(&f);
}

/* A soft mask keeps its values; each latent cell is its pixels' mean. */
TEST(soft_mask_is_averaged) {
  fixture f;
  if (!setup(&f, "tiny-sd")) return;
  float mask[32 * 32];
  for (int i = 0; i < 32 * 32; i++) mask[i] = (float)(i % 32) / 31.0f;
  traced t = {0};
  dif__request r = request(&f, mask, &t);
  r.soft_mask = true;
  r.steps = 1;
  dif__result res = {0};
  dif__error err = {0};
  CHECK_MSG(dif__generate(&f.m, &f.k, &r, &res, &err) == DIF_OK, "%s", err.msg);
  int64_t nm = 0, fs = dif__vae_scale(&f.m.vae), w = 32 / fs;
  const float *mlat = find(&t, "mask_latents.mask", &nm);
  CHECK(mlat && nm == 2 * w * w);
  for (int64_t c = 0; mlat && c < w * w; c++) {
    double want = 0;
    for (int64_t dx = 0; dx < fs; dx++)
      want += (double)(float)((double)((c % w) * fs + dx) / 31.0) / (double)fs;
    CHECK_MSG(fabs(mlat[c] - want) < 1e-6, "cell %lld: %g, want %g", (long long)c, mlat[c], want);
  }
  dif__result_free(&res);
  traced_free(&t);
  teardown(&f);
}

TEST(bad_requests) {
  fixture f;
  if (!setup(&f, "tiny-sd")) return;
  float mask[32 * 32] = {0};
  dif__request r = request(&f, mask, NULL);
  r.trace = NULL;
  dif__result res = {0};
  dif__error err = {0};
  r.init_image = NULL;
  CHECK_STATUS(dif__generate(&f.m, &f.k, &r, &res, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "a mask needs an init image");
  r.init_image = &f.init;
  r.width = 48;
  CHECK_STATUS(dif__generate(&f.m, &f.k, &r, &res, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "the init image is 32x32 but the sample is 48x32");
  CHECK(res.rgb == NULL);
  teardown(&f);
}

/* The unCLIP decoder (class labels from an image part) inpaints the same way;
 * the conditioning's noise-augmentation draw comes first. */
TEST(unclip_decoder_keeps_unmasked_latents) {
  fixture f;
  if (!setup(&f, "tiny-unclip")) return;
  float mask[32 * 32];
  for (int i = 0; i < 32 * 32; i++) mask[i] = i < 32 * 16 ? 0.0f : 1.0f;
  traced t = {0};
  dif__request r = request(&f, mask, &t);
  dif__part part = {DIF__PART_IMAGE, NULL, &f.init, 1.0f};
  r.parts = &part;
  dif__result res = {0};
  dif__error err = {0};
  CHECK_MSG(dif__generate(&f.m, &f.k, &r, &res, &err) == DIF_OK, "%s", err.msg);
  int64_t n = 0, w = 32 / dif__vae_scale(&f.m.vae), hw = w * w, same = 0;
  const float *last = find(&t, "callback.step3.latents", &n);
  CHECK(last && find(&t, "unet.class_labels", NULL) && find(&t, "randn.draw3", NULL));
  for (int64_t i = 0; last && i < n; i++)
    if ((i % hw) / w < w / 2) same += last[i] == image_latent(&f, &t, i, "randn.draw1");
  CHECK_MSG(same == n / 2, "%lld of %lld kept latents equal the image's", (long long)same,
            (long long)n / 2);
  dif__result_free(&res);
  traced_free(&t);
  teardown(&f);
}

/* An inpainting UNet (9 input channels) runs only with a mask. */
TEST(inpainting_model_needs_a_mask) {
  fixture f;
  if (!setup(&f, "tiny-sd-inpaint")) return;
  CHECK(f.m.unet.in_ch == 9);
  dif__request r = request(&f, NULL, NULL);
  r.trace = NULL;
  dif__result res = {0};
  dif__error err = {0};
  CHECK_STATUS(dif__generate(&f.m, &f.k, &r, &res, &err), DIF_ERR_UNSUPPORTED, err.msg,
               "inpainting model (its UNet takes 9 input channels)");
  r.init_image = NULL;
  CHECK_STATUS(dif__generate(&f.m, &f.k, &r, &res, &err), DIF_ERR_UNSUPPORTED, err.msg,
               "needs an init image and a mask");
  CHECK(res.rgb == NULL);
  teardown(&f);
}

/* A soft mask (the editing tools') still gives an inpainting UNet a 0/1 mask
 * channel: the binarized mask at (y·f, x·f). */
TEST(inpainting_model_gets_a_binary_mask) {
  fixture f;
  if (!setup(&f, "tiny-sd-inpaint")) return;
  float mask[32 * 32];
  for (int i = 0; i < 32 * 32; i++) mask[i] = (float)(i % 32) / 31.0f;
  traced t = {0};
  dif__request r = request(&f, mask, &t);
  r.soft_mask = true;
  r.steps = 1;
  dif__result res = {0};
  dif__error err = {0};
  CHECK_MSG(dif__generate(&f.m, &f.k, &r, &res, &err) == DIF_OK, "%s", err.msg);
  int64_t n = 0, fs = dif__vae_scale(&f.m.vae), w = 32 / fs, hw = w * w;
  const float *x = find(&t, "unet.call0.sample", &n);
  CHECK(x && n == 2 * 9 * hw);
  for (int64_t i = 0; x && i < hw; i++) {
    float want = (float)((i % w) * fs) / 31.0f < 0.5f ? 0.0f : 1.0f;
    CHECK_MSG(x[4 * hw + i] == want, "cell %lld: %g", (long long)i, x[4 * hw + i]);
  }
  dif__result_free(&res);
  traced_free(&t);
  teardown(&f);
}

int main(void) {
  RUN(inpainting_model_gets_a_binary_mask);
  RUN(inpainting_model_needs_a_mask);
  RUN(unclip_decoder_keeps_unmasked_latents);
  RUN(four_channel_keeps_unmasked_latents);
  RUN(strength_starts_later);
  RUN(soft_mask_is_averaged);
  RUN(bad_requests);
  return dif__test_finish();
}
