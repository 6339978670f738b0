/* The scheduler side of real diffusers pipeline runs (cases/pipelines),
 * driven exactly as a libdif pipeline will drive it: one generator shared
 * by every draw, classifier-free guidance on the stored UNet outputs, img2img
 * strength and add_noise, the prior's DDPM built from Karlo's UnCLIP config.
 * The UNet / prior outputs are replayed from the fixture; everything else
 * (random draws, timesteps, steps) is computed and must match bit for bit
 * (the arithmetic is the same float32 sequence as PyTorch's). */
#include "io/safetensors.h"
#include "samplers/scheduler.h"
#include "test.h"

static dif__safetensors *open_case(const char *name) {
  char rel[256];
  snprintf(rel, sizeof rel, "golden/cases/pipelines/%s.safetensors", name);
  dif__safetensors *st = NULL;
  dif__error err = {0};
  CHECK_MSG(dif__st_open(dif__test_path(rel), &st, &err) == DIF_OK, "%s", err.msg);
  return st;
}

static const float *tensor(dif__safetensors *st, const char *key, int64_t n) {
  dif__tensor t;
  dif__error err = {0};
  if (dif__st_get_f32(st, key, &t, &err) != DIF_OK) {
    CHECK_MSG(0, "%s", err.msg);
    return NULL;
  }
  CHECK_MSG(dif__tensor_numel(&t) == n, "%s has %lld elements", key,
            (long long)dif__tensor_numel(&t));
  return t.data;
}

static dif__scheduler *load(const char *cls, const char *folder) {
  dif__scheduler *s = NULL;
  dif__error err = {0};
  char rel[256];
  snprintf(rel, sizeof rel, "golden/%s", folder);
  CHECK_MSG(dif__scheduler_load(cls, dif__test_path(rel), NULL, &s, &err) == DIF_OK, "%s", err.msg);
  return s;
}

/* got[n] equals key bit for bit. */
static void same(dif__safetensors *st, const char *key, const float *got, int64_t n) {
  const float *want = tensor(st, key, n);
  if (want) CHECK_MSG(memcmp(got, want, (size_t)n * sizeof *got) == 0, "%s differs", key);
}

/* uncond + g * (text - uncond) over the [uncond, text] halves of key. */
static void cfg_combine(dif__safetensors *st, const char *key, int64_t n, float g, float *out) {
  const float *o = tensor(st, key, 2 * n);
  for (int64_t k = 0; o && k < n; k++) out[k] = o[k] + g * (o[n + k] - o[k]);
}

TEST(sd_img2img_pndm_strength) {
  enum { N = 4 * 16 * 16 };
  dif__safetensors *st = open_case("sd_img2img.strength0.6");
  dif__scheduler *s = load("PNDMScheduler", "models/tiny-sd/scheduler");
  if (!st || !s) goto out;
  dif__error err = {0};
  dif__rng gen;
  dif__rng *gp = &gen;
  dif__rng_seed(&gen, 32);
  static float draw[N], lat[N], eps[N];
  CHECK(dif__scheduler_set_timesteps(s, 5, &err) == DIF_OK);
  int first = -1, run = -1;
  CHECK(dif__scheduler_img2img_start(s, 5, 0.6, &first, &run, &err) == DIF_OK);
  CHECK(first == 2 && run == 3 && dif__scheduler_timestep(s, first) == 601);
  /* init latents = 0.18215 * (mean + std * randn); noised at timestep(first) */
  const float *mean = tensor(st, "vae.encode.latent_mean", N);
  const float *std = tensor(st, "vae.encode.latent_std", N);
  CHECK(dif__randn_tensor(&gp, 1, 1, N, draw, &err) == DIF_OK);
  same(st, "randn.draw0", draw, N);
  for (int k = 0; mean && std && k < N; k++) lat[k] = 0.18215f * (mean[k] + std[k] * draw[k]);
  CHECK(dif__randn_tensor(&gp, 1, 1, N, draw, &err) == DIF_OK);
  same(st, "randn.draw1", draw, N);
  CHECK(dif__scheduler_add_noise(s, lat, draw, dif__scheduler_timestep(s, first), N, lat, &err) ==
        DIF_OK);
  const float *in0 = tensor(st, "unet.call0.sample", 2 * N); /* [latents] * 2 for CFG */
  CHECK(in0 && memcmp(in0, lat, sizeof lat) == 0 && memcmp(in0 + N, lat, sizeof lat) == 0);
  for (int i = first, c = 0; i < dif__scheduler_num_timesteps(s); i++, c++) {
    char key[64];
    snprintf(key, sizeof key, "unet.call%d.timestep", c);
    const float *t = tensor(st, key, 1);
    CHECK(t && t[0] == (float)dif__scheduler_timestep(s, i));
    snprintf(key, sizeof key, "unet.call%d.out", c);
    cfg_combine(st, key, N, 7.5f, eps);
    dif__step_args a = {
        .model_output = eps, .sample = lat, .prev_sample = lat, .n = N, .gens = &gp, .n_gens = 1};
    CHECK(dif__scheduler_step(s, i, &a, &err) == DIF_OK);
    snprintf(key, sizeof key, "callback.step%d.latents", c);
    same(st, key, lat, N);
  }
out:
  dif__scheduler_free(s);
  dif__st_close(st);
}

TEST(unclip_txt2img_prior_ddpm_and_decoder_ddim) {
  enum { E = 32, N = 4 * 16 * 16 };
  dif__safetensors *st = open_case("unclip_txt2img.nl0.32x32");
  dif__scheduler *prior = load("DDPMScheduler", "models/tiny-karlo-prior/prior_scheduler");
  dif__scheduler *dec = load("DDIMScheduler", "models/tiny-unclip/scheduler");
  if (!st || !prior || !dec) goto out;
  dif__error err = {0};
  dif__rng gen;
  dif__rng *gp = &gen;
  dif__rng_seed(&gen, 2024); /* one generator for prior and decoder */
  static float x[N], eps[N];
  /* Prior: 5 DDPM steps 800 ... 0 on randn(1, 32) * init_noise_sigma. */
  CHECK(dif__scheduler_set_timesteps(prior, 5, &err) == DIF_OK);
  CHECK(dif__randn_tensor(&gp, 1, 1, E, x, &err) == DIF_OK);
  same(st, "randn.draw0", x, E);
  for (int k = 0; k < E; k++) x[k] = x[k] * dif__scheduler_init_noise_sigma(prior);
  int draw = 1;
  for (int i = 0; i < dif__scheduler_num_timesteps(prior); i++) {
    char key[64];
    snprintf(key, sizeof key, "prior.call%d.timestep", i);
    const float *t = tensor(st, key, 1);
    CHECK(t && t[0] == (float)dif__scheduler_timestep(prior, i));
    snprintf(key, sizeof key, "prior_step%d.model_output_cfg", i);
    const float *mo = tensor(st, key, E);
    static float noise[E];
    dif__step_args a = {.model_output = mo,
                        .sample = x,
                        .prev_sample = x,
                        .n = E,
                        .gens = &gp,
                        .n_gens = 1,
                        .noise_out = noise};
    CHECK(mo && dif__scheduler_step(prior, i, &a, &err) == DIF_OK);
    if (a.drew_noise) {
      snprintf(key, sizeof key, "randn.draw%d", draw++);
      same(st, key, noise, E);
    }
    snprintf(key, sizeof key, "prior_step%d.prev_sample", i);
    same(st, key, x, E);
  }
  CHECK(draw == 5); /* noise for t = 800, 600, 400, 200; none at t = 0 */
  /* The embedding noise is the next draw (image-embedding noising). */
  CHECK(dif__randn_tensor(&gp, 1, 1, E, eps, &err) == DIF_OK);
  same(st, "randn.draw5", eps, E);
  /* Decoder: DDIM 4 steps 751, 501, 251, 1 on randn(1, 4, 16, 16). */
  CHECK(dif__scheduler_set_timesteps(dec, 4, &err) == DIF_OK);
  CHECK(dif__randn_tensor(&gp, 1, 1, N, x, &err) == DIF_OK);
  same(st, "randn.draw6", x, N);
  for (int k = 0; k < N; k++) x[k] = x[k] * dif__scheduler_init_noise_sigma(dec);
  for (int i = 0; i < dif__scheduler_num_timesteps(dec); i++) {
    char key[64];
    snprintf(key, sizeof key, "unet.call%d.timestep", i);
    const float *t = tensor(st, key, 1);
    CHECK(t && t[0] == (float)dif__scheduler_timestep(dec, i));
    snprintf(key, sizeof key, "unet.call%d.out", i);
    cfg_combine(st, key, N, 10.0f, eps);
    dif__step_args a = {
        .model_output = eps, .sample = x, .prev_sample = x, .n = N, .gens = &gp, .n_gens = 1};
    CHECK(dif__scheduler_step(dec, i, &a, &err) == DIF_OK);
    snprintf(key, sizeof key, "callback.step%d.latents", i);
    same(st, key, x, N);
  }
out:
  dif__scheduler_free(prior);
  dif__scheduler_free(dec);
  dif__st_close(st);
}

TEST(image_noising_alphas_cumprod) {
  /* The DDPM that noises unCLIP image embeddings (squaredcos_cap_v2): its
   * float32 alphas_cumprod as diffusers stored it next to the cases. */
  dif__safetensors *st = NULL;
  dif__error err = {0};
  CHECK(dif__st_open(dif__test_path("golden/cases/noise_image_embeddings/noise_level0.safetensors"),
                     &st, &err) == DIF_OK);
  dif__scheduler *s = load("DDPMScheduler", "models/tiny-unclip/image_noising_scheduler");
  if (st && s) {
    CHECK(dif__scheduler_num_train_timesteps(s) == 1000);
    same(st, "ref.alphas_cumprod", dif__scheduler_alphas_cumprod(s), 1000);
  }
  dif__scheduler_free(s);
  dif__st_close(st);
}

int main(void) {
  RUN(sd_img2img_pndm_strength);
  RUN(unclip_txt2img_prior_ddpm_and_decoder_ddim);
  RUN(image_noising_alphas_cumprod);
  return dif__test_finish();
}
