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

static dif_safetensors *open_case(const char *name) {
  char rel[256];
  snprintf(rel, sizeof rel, "golden/cases/pipelines/%s.safetensors", name);
  dif_safetensors *st = NULL;
  dif_error err = {0};
  CHECK_MSG(dif_st_open(dif_test_path(rel), &st, &err) == DIF_OK, "%s", err.msg);
  return st;
}

static const float *tensor(dif_safetensors *st, const char *key, int64_t n) {
  dif_tensor t;
  dif_error err = {0};
  if (dif_st_get_f32(st, key, &t, &err) != DIF_OK) {
    CHECK_MSG(0, "%s", err.msg);
    return NULL;
  }
  CHECK_MSG(dif_tensor_numel(&t) == n, "%s has %lld elements", key,
            (long long)dif_tensor_numel(&t));
  return t.data;
}

static dif_scheduler *load(const char *cls, const char *folder) {
  dif_scheduler *s = NULL;
  dif_error err = {0};
  char rel[256];
  snprintf(rel, sizeof rel, "golden/%s", folder);
  CHECK_MSG(dif_scheduler_load(cls, dif_test_path(rel), NULL, &s, &err) == DIF_OK, "%s", err.msg);
  return s;
}

/* got[n] equals key bit for bit. */
static void same(dif_safetensors *st, const char *key, const float *got, int64_t n) {
  const float *want = tensor(st, key, n);
  if (want) CHECK_MSG(memcmp(got, want, (size_t)n * sizeof *got) == 0, "%s differs", key);
}

/* uncond + g * (text - uncond) over the [uncond, text] halves of key. */
static void cfg_combine(dif_safetensors *st, const char *key, int64_t n, float g, float *out) {
  const float *o = tensor(st, key, 2 * n);
  for (int64_t k = 0; o && k < n; k++) out[k] = o[k] + g * (o[n + k] - o[k]);
}

TEST(sd_img2img_pndm_strength) {
  enum { N = 4 * 16 * 16 };
  dif_safetensors *st = open_case("sd_img2img.strength0.6");
  dif_scheduler *s = load("PNDMScheduler", "models/tiny-sd/scheduler");
  if (!st || !s) goto out;
  dif_error err = {0};
  dif_rng gen;
  dif_rng *gp = &gen;
  dif_rng_seed(&gen, 32);
  static float draw[N], lat[N], eps[N];
  CHECK(dif_scheduler_set_timesteps(s, 5, &err) == DIF_OK);
  int first = -1, run = -1;
  CHECK(dif_scheduler_img2img_start(s, 5, 0.6, &first, &run, &err) == DIF_OK);
  CHECK(first == 2 && run == 3 && dif_scheduler_timestep(s, first) == 601);
  /* init latents = 0.18215 * (mean + std * randn); noised at timestep(first) */
  const float *mean = tensor(st, "vae.encode.latent_mean", N);
  const float *std = tensor(st, "vae.encode.latent_std", N);
  CHECK(dif_randn_tensor(&gp, 1, 1, N, draw, &err) == DIF_OK);
  same(st, "randn.draw0", draw, N);
  for (int k = 0; mean && std && k < N; k++) lat[k] = 0.18215f * (mean[k] + std[k] * draw[k]);
  CHECK(dif_randn_tensor(&gp, 1, 1, N, draw, &err) == DIF_OK);
  same(st, "randn.draw1", draw, N);
  CHECK(dif_scheduler_add_noise(s, lat, draw, dif_scheduler_timestep(s, first), N, lat, &err) ==
        DIF_OK);
  const float *in0 = tensor(st, "unet.call0.sample", 2 * N); /* [latents] * 2 for CFG */
  CHECK(in0 && memcmp(in0, lat, sizeof lat) == 0 && memcmp(in0 + N, lat, sizeof lat) == 0);
  for (int i = first, c = 0; i < dif_scheduler_num_timesteps(s); i++, c++) {
    char key[64];
    snprintf(key, sizeof key, "unet.call%d.timestep", c);
    const float *t = tensor(st, key, 1);
    CHECK(t && t[0] == (float)dif_scheduler_timestep(s, i));
    snprintf(key, sizeof key, "unet.call%d.out", c);
    cfg_combine(st, key, N, 7.5f, eps);
    dif_step_args a = {
        .model_output = eps, .sample = lat, .prev_sample = lat, .n = N, .gens = &gp, .n_gens = 1};
    CHECK(dif_scheduler_step(s, i, &a, &err) == DIF_OK);
    snprintf(key, sizeof key, "callback.step%d.latents", c);
    same(st, key, lat, N);
  }
out:
  dif_scheduler_free(s);
  dif_st_close(st);
}

TEST(unclip_txt2img_prior_ddpm_and_decoder_ddim) {
  enum { E = 32, N = 4 * 16 * 16 };
  dif_safetensors *st = open_case("unclip_txt2img.nl0.32x32");
  dif_scheduler *prior = load("DDPMScheduler", "models/tiny-karlo-prior/prior_scheduler");
  dif_scheduler *dec = load("DDIMScheduler", "models/tiny-unclip/scheduler");
  if (!st || !prior || !dec) goto out;
  dif_error err = {0};
  dif_rng gen;
  dif_rng *gp = &gen;
  dif_rng_seed(&gen, 2024); /* one generator for prior and decoder */
  static float x[N], eps[N];
  /* Prior: 5 DDPM steps 800 ... 0 on randn(1, 32) * init_noise_sigma. */
  CHECK(dif_scheduler_set_timesteps(prior, 5, &err) == DIF_OK);
  CHECK(dif_randn_tensor(&gp, 1, 1, E, x, &err) == DIF_OK);
  same(st, "randn.draw0", x, E);
  for (int k = 0; k < E; k++) x[k] = x[k] * dif_scheduler_init_noise_sigma(prior);
  int draw = 1;
  for (int i = 0; i < dif_scheduler_num_timesteps(prior); i++) {
    char key[64];
    snprintf(key, sizeof key, "prior.call%d.timestep", i);
    const float *t = tensor(st, key, 1);
    CHECK(t && t[0] == (float)dif_scheduler_timestep(prior, i));
    snprintf(key, sizeof key, "prior_step%d.model_output_cfg", i);
    const float *mo = tensor(st, key, E);
    static float noise[E];
    dif_step_args a = {.model_output = mo,
                       .sample = x,
                       .prev_sample = x,
                       .n = E,
                       .gens = &gp,
                       .n_gens = 1,
                       .noise_out = noise};
    CHECK(mo && dif_scheduler_step(prior, i, &a, &err) == DIF_OK);
    if (a.drew_noise) {
      snprintf(key, sizeof key, "randn.draw%d", draw++);
      same(st, key, noise, E);
    }
    snprintf(key, sizeof key, "prior_step%d.prev_sample", i);
    same(st, key, x, E);
  }
  CHECK(draw == 5); /* noise for t = 800, 600, 400, 200; none at t = 0 */
  /* The embedding noise is the next draw (image-embedding noising). */
  CHECK(dif_randn_tensor(&gp, 1, 1, E, eps, &err) == DIF_OK);
  same(st, "randn.draw5", eps, E);
  /* Decoder: DDIM 4 steps 751, 501, 251, 1 on randn(1, 4, 16, 16). */
  CHECK(dif_scheduler_set_timesteps(dec, 4, &err) == DIF_OK);
  CHECK(dif_randn_tensor(&gp, 1, 1, N, x, &err) == DIF_OK);
  same(st, "randn.draw6", x, N);
  for (int k = 0; k < N; k++) x[k] = x[k] * dif_scheduler_init_noise_sigma(dec);
  for (int i = 0; i < dif_scheduler_num_timesteps(dec); i++) {
    char key[64];
    snprintf(key, sizeof key, "unet.call%d.timestep", i);
    const float *t = tensor(st, key, 1);
    CHECK(t && t[0] == (float)dif_scheduler_timestep(dec, i));
    snprintf(key, sizeof key, "unet.call%d.out", i);
    cfg_combine(st, key, N, 10.0f, eps);
    dif_step_args a = {
        .model_output = eps, .sample = x, .prev_sample = x, .n = N, .gens = &gp, .n_gens = 1};
    CHECK(dif_scheduler_step(dec, i, &a, &err) == DIF_OK);
    snprintf(key, sizeof key, "callback.step%d.latents", i);
    same(st, key, x, N);
  }
out:
  dif_scheduler_free(prior);
  dif_scheduler_free(dec);
  dif_st_close(st);
}

TEST(image_noising_alphas_cumprod) {
  /* The DDPM that noises unCLIP image embeddings (squaredcos_cap_v2): its
   * float32 alphas_cumprod as diffusers stored it next to the cases. */
  dif_safetensors *st = NULL;
  dif_error err = {0};
  CHECK(dif_st_open(dif_test_path("golden/cases/noise_image_embeddings/noise_level0.safetensors"),
                    &st, &err) == DIF_OK);
  dif_scheduler *s = load("DDPMScheduler", "models/tiny-unclip/image_noising_scheduler");
  if (st && s) {
    CHECK(dif_scheduler_num_train_timesteps(s) == 1000);
    same(st, "ref.alphas_cumprod", dif_scheduler_alphas_cumprod(s), 1000);
  }
  dif_scheduler_free(s);
  dif_st_close(st);
}

int main(void) {
  RUN(sd_img2img_pndm_strength);
  RUN(unclip_txt2img_prior_ddpm_and_decoder_ddim);
  RUN(image_noising_alphas_cumprod);
  return dif_test_finish();
}
