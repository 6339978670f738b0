/* models.c — loading everything a generation needs (see models.h). */
#include "pipelines/models.h"
#include "io/component.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static dif_status component_dir(const dif__model_folder *f, const char *name, char *buf,
                                size_t size, dif__error *err) {
  return dif__model_folder_path(f, name, NULL, buf, size, err);
}

typedef struct loader {
  dif__models *m;
  dif__load_progress progress;
  void *user;
  int index, total;
  dif__error *err;
} loader;

static void report(loader *L, const char *what) {
  if (L->progress) L->progress(L->user, what, ++L->index, L->total);
}

/* The tokenizer must fill exactly the encoder's positions. */
static dif_status check_lengths(const dif__clip_tokenizer *tok, const dif__clip_text *te,
                                const char *which, dif__error *err) {
  if (dif__clip_tokenizer_max_length(tok) != te->max_positions)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: the tokenizer's model_max_length %d differs from the text encoder's "
                     "max_position_embeddings %lld",
                     which, dif__clip_tokenizer_max_length(tok), (long long)te->max_positions);
  return DIF_OK;
}

/* A scheduler config is resolved once at load, as class `cls` (the one a
 * run uses by default), so that a malformed one — betas outside (0, 1),
 * a huge num_train_timesteps — is refused by dif_context_load naming the
 * file and key, not found as NaN latents in the middle of a run. */
static dif_status check_scheduler(const char *cls, const dif__config *cfg, dif__error *err) {
  dif__scheduler *probe = NULL;
  dif_status s = dif__scheduler_create(cls, cfg, NULL, &probe, err);
  dif__scheduler_free(probe);
  return s;
}

/* A separate prior folder holds the four prior parts. Given one of them
 * instead (".../karlo-v1-alpha/prior"), say which folder is meant. */
static dif_status check_prior_folder(const dif__model_folder *f, dif__error *err) {
  static const char *const parts[] = {"prior", "prior_text_encoder", "prior_tokenizer",
                                      "prior_scheduler"};
  const char *dir = dif__model_folder_dir(f);
  int missing = -1;
  for (int i = 0; i < 4 && missing < 0; i++)
    if (!dif__model_folder_has(f, parts[i])) missing = i;
  if (missing < 0) return DIF_OK;
  char parent[4096];
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--;
  while (n > 0 && dir[n - 1] != '/') n--; /* the last component */
  while (n > 1 && dir[n - 1] == '/') n--;
  snprintf(parent, sizeof parent, "%.*s", (int)n, n ? dir : ".");
  char probe[4200];
  struct stat sb;
  snprintf(probe, sizeof probe, "%s/%s", parent, parts[0]);
  if (stat(probe, &sb) == 0 && S_ISDIR(sb.st_mode))
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s is not a prior folder but a part of one: give the folder that contains "
                     "prior/, prior_text_encoder/, prior_tokenizer/ and prior_scheduler/ (%s)",
                     dir, parent);
  return dif__fail(err, DIF_ERR_BAD_MODEL,
                   "%s is not a prior folder: it has no %s/ (a prior folder such as "
                   "kakaobrain/karlo-v1-alpha contains prior/, prior_text_encoder/, "
                   "prior_tokenizer/ and prior_scheduler/)",
                   dir, parts[missing]);
}

/* Loads the prior parts from folder f. */
static dif_status load_prior(loader *L, dif__model_folder *f) {
  dif__models *m = L->m;
  char dir[4096];
  dif_status s;
  report(L, "prior_tokenizer");
  if ((s = component_dir(f, "prior_tokenizer", dir, sizeof dir, L->err)) ||
      (s = dif__clip_tokenizer_load(dir, &m->prior_tokenizer, L->err)))
    return s;
  report(L, "prior_text_encoder");
  if ((s = component_dir(f, "prior_text_encoder", dir, sizeof dir, L->err)) ||
      (s = dif__clip_text_load(dir, &m->prior_text_encoder, L->err)))
    return s;
  dif__model_folder_record(f, "prior_text_encoder", m->prior_text_encoder.weights);
  if ((s = check_lengths(m->prior_tokenizer, &m->prior_text_encoder, "prior", L->err))) return s;
  if (!m->prior_text_encoder.proj.data)
    return dif__fail(L->err, DIF_ERR_BAD_MODEL,
                     "%s: the prior text encoder must be a CLIPTextModelWithProjection", dir);
  report(L, "prior");
  if ((s = component_dir(f, "prior", dir, sizeof dir, L->err)) ||
      (s = dif__prior_load(dir, &m->prior, L->err)))
    return s;
  dif__model_folder_record(f, "prior", m->prior.weights);
  report(L, "prior_scheduler");
  if ((s = dif__model_folder_config(f, "prior_scheduler", "scheduler_config.json", NULL,
                                    &m->prior_scheduler_cfg, L->err)) ||
      (s = check_scheduler("DDPMScheduler", m->prior_scheduler_cfg, L->err)))
    return s;
  m->has_prior = true;
  return DIF_OK;
}

/* The embedding sizes of the parts must agree; Karlo's prior (768, OpenAI
 * ViT-L/14) only fits decoders trained on ViT-L/14 embeddings. */
static dif_status check_dims(const dif__models *m, dif__error *err) {
  int64_t need = m->unet.class_in / 2;
  if (m->has_normalizer && m->normalizer.dim != need)
    return dif__fail(
        err, DIF_ERR_BAD_MODEL,
        "image_normalizer has %lld dimensions but the UNet's class_labels take 2 x %lld",
        (long long)m->normalizer.dim, (long long)need);
  if (m->has_image_encoder && m->image_encoder.projection_dim != need)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "image_encoder embeds have %lld dimensions but the UNet expects %lld",
                     (long long)m->image_encoder.projection_dim, (long long)need);
  if (m->has_prior && m->prior.embed_dim != need)
    return dif__fail(
        err, DIF_ERR_BAD_MODEL,
        "the prior makes %lld-dimensional image embeddings but this decoder needs %lld: "
        "a prior fits a decoder trained on the same CLIP (Karlo's 768-dimensional "
        "ViT-L/14 prior fits stable-diffusion-2-1-unclip-small; "
        "stable-diffusion-2-1-unclip uses 1024-dimensional ViT-H embeddings)",
        (long long)m->prior.embed_dim, (long long)need);
  if (m->text_encoder.enc.hidden != m->unet.ctx_dim)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "text_encoder width %lld does not match the UNet's cross_attention_dim %lld",
                     (long long)m->text_encoder.enc.hidden, (long long)m->unet.ctx_dim);
  return DIF_OK;
}

/* An x4 upscaler folder: low_res_scheduler, max_noise_level, and a UNet
 * that takes the latents and the low-res RGB image (in_channels 4 + 3) with
 * a noise-level embedding holding every level up to max_noise_level. */
static dif_status load_upscaler(loader *L, dif__model_folder *f) {
  dif__models *m = L->m;
  const char *dir = dif__model_folder_dir(f);
  char path[4096];
  int64_t max = 350; /* StableDiffusionUpscalePipeline.__init__'s default */
  const dif__config *idx = dif__model_folder_index(f);
  dif_status s = idx ? dif__config_int_opt(idx, "max_noise_level", 350, &max, L->err) : DIF_OK;
  if (s) return s;
  if (max < 0 || max > 999)
    return dif__fail(L->err, DIF_ERR_BAD_MODEL,
                     "%s/model_index.json: max_noise_level %lld is outside 0..999", dir,
                     (long long)max);
  m->max_noise_level = (int32_t)max;
  if ((s = component_dir(f, "low_res_scheduler", path, sizeof path, L->err)) ||
      (s = dif__scheduler_load("DDPMScheduler", path, NULL, &m->low_res, L->err)))
    return s;
  if ((int64_t)dif__scheduler_num_train_timesteps(m->low_res) <= max)
    return dif__fail(
        L->err, DIF_ERR_BAD_MODEL,
        "%s/low_res_scheduler: %d train timesteps cannot noise to max_noise_level %lld", dir,
        (int)dif__scheduler_num_train_timesteps(m->low_res), (long long)max);
  if (m->unet.in_ch != m->vae.latent_ch + 3 || m->unet.out_ch != m->vae.latent_ch ||
      m->unet.n_class_embeds <= max)
    return dif__fail(
        L->err, DIF_ERR_BAD_MODEL,
        "%s/unet: an x4 upscaler's UNet takes %lld input channels (latents + RGB) and "
        "num_class_embeds above max_noise_level %lld; this one takes %lld and has %lld",
        dir, (long long)(m->vae.latent_ch + 3), (long long)max, (long long)m->unet.in_ch,
        (long long)m->unet.n_class_embeds);
  return DIF_OK;
}

static bool upscaler_folder(const dif__model_folder *f) {
  const char *p = dif__model_folder_pipeline(f);
  return p && strcmp(p, "StableDiffusionUpscalePipeline") == 0;
}

/* The UNet's input and output channels against the VAE's latents (an
 * inpainting UNet takes latents + mask + masked-image latents; the x4
 * upscaler its low-res image and noise-level labels). */
static dif_status check_unet_io(loader *L, dif__model_folder *f, const char *dir) {
  dif__models *m = L->m;
  dif__error *err = L->err;
  dif_status s = DIF_OK;
  /* in: the latents, or for an inpainting UNet latents + mask + masked-image latents */
  int64_t Lc = m->vae.latent_ch;
  if (upscaler_folder(f)) {
    s = load_upscaler(L, f);
  } else if (m->unet.n_class_embeds) {
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "%s/unet: num_class_embeds %lld: libdif feeds integer class labels only to "
                     "the x4 upscaler (a StableDiffusionUpscalePipeline folder)",
                     dir, (long long)m->unet.n_class_embeds);
  } else if ((m->unet.in_ch != Lc && m->unet.in_ch != 2 * Lc + 1) || m->unet.out_ch != Lc)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: the VAE has %lld latent channels but the UNet takes %lld (expected %lld, "
                     "or %lld for an inpainting UNet) and gives %lld",
                     dir, (long long)Lc, (long long)m->unet.in_ch, (long long)Lc,
                     (long long)(2 * Lc + 1), (long long)m->unet.out_ch);
  return s;
}

static dif_status load_scheduler_part(loader *L, dif__model_folder *f, const char *dir) {
  dif__models *m = L->m;
  dif__error *err = L->err;
  dif_status s;
  report(L, "scheduler");
  if ((s = dif__model_folder_config(f, "scheduler", "scheduler_config.json", NULL,
                                    &m->scheduler_cfg, err)) ||
      (s = dif__config_str(m->scheduler_cfg, "_class_name", &m->scheduler_class, err)))
    return s;
  if ((s = dif__scheduler_check_name(m->scheduler_class, err))) {
    dif__error_prefix(err, "%s/scheduler", dir);
    return s;
  }
  if ((s = check_scheduler(m->scheduler_class, m->scheduler_cfg, err))) return s;
  return DIF_OK;
}

/* unCLIP's image normalizer and noising scheduler; the image encoder and
 * its feature extractor when the folder has them. */
static dif_status load_image_parts(loader *L, dif__model_folder *f) {
  dif__models *m = L->m;
  dif__error *err = L->err;
  char path[4096];
  dif_status s;
  report(L, "image_normalizer");
  if (m->family == DIF__FAMILY_UNCLIP) {
    if ((s = component_dir(f, "image_normalizer", path, sizeof path, err)) ||
        (s = dif__image_normalizer_load(path, &m->normalizer, err)))
      return s;
    dif__model_folder_record(f, "image_normalizer", m->normalizer.weights);
    m->has_normalizer = true;
    if ((s = component_dir(f, "image_noising_scheduler", path, sizeof path, err)) ||
        (s = dif__scheduler_load("DDPMScheduler", path, NULL, &m->noising, err)))
      return s;
  }
  if (dif__model_folder_has(f, "image_encoder")) {
    report(L, "image_encoder");
    if ((s = component_dir(f, "image_encoder", path, sizeof path, err)) ||
        (s = dif__clip_vision_load(path, &m->image_encoder, err)))
      return s;
    dif__model_folder_record(f, "image_encoder", m->image_encoder.weights);
    report(L, "feature_extractor");
    if ((s = component_dir(f, "feature_extractor", path, sizeof path, err)) ||
        (s = dif__clip_preprocess_load(path, &m->feature_extractor, err)))
      return s;
    m->has_image_encoder = true;
  }
  return DIF_OK;
}

/* The model's defaults: its size and family, then its dif_defaults.json. */
static dif_status load_defaults(dif__models *m, dif__model_folder *f, dif__error *err) {
  /* sample_size <= 4096 (unet_config.c) and the VAE factor <= 32: no overflow */
  dif__defaults_init(&m->defaults, m->unet.sample_size * dif__vae_scale(&m->vae),
                     m->family == DIF__FAMILY_UNCLIP);
  m->defaults.max_noise_level = dif__models_max_noise_level(m);
  if (m->low_res) { /* StableDiffusionUpscalePipeline.__call__'s defaults */
    m->defaults.noise_level = 20;
    m->defaults.guidance = 9.0f;
  }
  return dif__defaults_load(&m->defaults, dif__model_folder_dir(f), err);
}

static dif_status load(loader *L, const char *dir, const char *prior_dir) {
  dif__models *m = L->m;
  dif__error *err = L->err;
  char path[4096];
  dif_status s = dif__model_folder_open(dir, &m->folder, err);
  if (s) return s;
  dif__model_folder *f = m->folder;
  static const char *const required[] = {"unet", "vae", "text_encoder", "tokenizer", "scheduler"};
  for (int i = 0; i < 5; i++)
    if (!dif__model_folder_has(f, required[i]))
      return dif__fail(err, DIF_ERR_BAD_MODEL,
                       "%s: not a usable diffusers model folder: no %s/ component (a model needs "
                       "unet, vae, text_encoder, tokenizer and scheduler)",
                       dir, required[i]);
  bool own_prior = dif__model_folder_has(f, "prior");
  L->total = 6 + (dif__model_folder_has(f, "image_encoder") ? 3 : 0) + 1 +
             ((prior_dir || own_prior) ? 4 : 0);
  report(L, "tokenizer");
  if ((s = component_dir(f, "tokenizer", path, sizeof path, err)) ||
      (s = dif__clip_tokenizer_load(path, &m->tokenizer, err)))
    return s;
  report(L, "text_encoder");
  if ((s = component_dir(f, "text_encoder", path, sizeof path, err)) ||
      (s = dif__clip_text_load(path, &m->text_encoder, err)))
    return s;
  dif__model_folder_record(f, "text_encoder", m->text_encoder.weights);
  if ((s = check_lengths(m->tokenizer, &m->text_encoder, dir, err))) return s;
  report(L, "unet");
  if ((s = component_dir(f, "unet", path, sizeof path, err)) ||
      (s = dif__unet_load(path, &m->unet, err)))
    return s;
  dif__model_folder_record(f, "unet", m->unet.weights);
  report(L, "vae");
  if ((s = component_dir(f, "vae", path, sizeof path, err)) ||
      (s = dif__vae_load(path, &m->vae, err)))
    return s;
  dif__model_folder_record(f, "vae", m->vae.weights);
  if ((s = check_unet_io(L, f, dir))) return s;
  if ((s = load_scheduler_part(L, f, dir))) return s;
  m->family = m->unet.class_in ? DIF__FAMILY_UNCLIP : DIF__FAMILY_SD;
  if ((s = load_image_parts(L, f))) return s;
  if (prior_dir) {
    if ((s = dif__model_folder_open(prior_dir, &m->prior_folder, err)) ||
        (s = check_prior_folder(m->prior_folder, err)) || (s = load_prior(L, m->prior_folder)))
      return s;
  } else if (own_prior) {
    if ((s = load_prior(L, f))) return s;
  }
  if ((m->family == DIF__FAMILY_UNCLIP || m->text_encoder.enc.hidden != m->unet.ctx_dim) &&
      (s = check_dims(m, err)))
    return s;
  return load_defaults(m, f, err);
}

dif_status dif__models_load(dif__models *m, const char *dir, const char *prior_dir,
                            dif__load_progress progress, void *user, dif__error *err) {
  memset(m, 0, sizeof *m);
  loader L = {m, progress, user, 0, 0, err};
  dif_status s = load(&L, dir, prior_dir);
  if (s) dif__models_free(m);
  return s;
}

dif_status dif__models_load_checkpoint(dif__models *m, const char *file, const char *config_dir,
                                       const char *prior_dir, dif__load_progress progress,
                                       void *user, dif__error *err) {
  memset(m, 0, sizeof *m);
  dif__checkpoint *c;
  dif_status s = dif__checkpoint_open(file, &c, err);
  if (s) return s;
  if ((s = dif__checkpoint_require_all(c, err))) {
    dif__checkpoint_close(c);
    return s;
  }
  if (!config_dir) {
    const dif__ckpt_info *in = dif__checkpoint_describe(c);
    s = dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                  "%s is a single-file %s checkpoint; its configs, tokenizer and scheduler must "
                  "come from a diffusers folder of the same model given with it (--config DIR, "
                  "dif_context_set_config; e.g. stable-diffusion-v1-5 for SD-1.x, "
                  "stable-diffusion-2-1 for SD-2.x 768 v-prediction)",
                  file, in->family);
    dif__checkpoint_close(c);
    return s;
  }
  loader L = {m, progress, user, 0, 0, err};
  if (!(m->checkpoint = strdup(file))) {
    dif__checkpoint_close(c);
    return dif__fail_oom(err, "checkpoint path", strlen(file) + 1);
  }
  dif__component_bind_checkpoint(c, config_dir);
  s = load(&L, config_dir, prior_dir);
  dif__component_bind_checkpoint(NULL, NULL);
  dif__checkpoint_close(c); /* the parts' views keep the file mapped */
  if (s) dif__models_free(m);
  return s;
}

void dif__models_free(dif__models *m) {
  if (!m) return;
  dif__clip_tokenizer_free(m->tokenizer);
  dif__clip_text_free(&m->text_encoder);
  dif__unet_free(&m->unet);
  dif__vae_free(&m->vae);
  dif__config_free(m->scheduler_cfg);
  dif__clip_vision_free(&m->image_encoder);
  dif__image_normalizer_free(&m->normalizer);
  dif__scheduler_free(m->noising);
  dif__scheduler_free(m->low_res);
  dif__clip_tokenizer_free(m->prior_tokenizer);
  dif__clip_text_free(&m->prior_text_encoder);
  dif__prior_free(&m->prior);
  dif__config_free(m->prior_scheduler_cfg);
  dif__model_folder_free(m->folder);
  dif__model_folder_free(m->prior_folder);
  free(m->checkpoint);
  memset(m, 0, sizeof *m);
}

dif_status dif__models_check_files(const dif__models *m, dif__error *err) {
  const dif__safetensors *files[] = {
      m->text_encoder.weights,  m->unet.weights,       m->vae.weights,
      m->image_encoder.weights, m->normalizer.weights, m->prior_text_encoder.weights,
      m->prior.weights,
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    if (files[i] && dif__st_check_unchanged(files[i], err)) return err->status;
  return DIF_OK;
}

size_t dif__models_drop_networks(const dif__models *m) {
  const dif__safetensors *files[] = {
      m->text_encoder.weights, m->unet.weights,  m->image_encoder.weights,
      m->normalizer.weights,   m->prior.weights, m->prior_text_encoder.weights,
  };
  size_t dropped = 0;
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    dropped += dif__st_drop_pages(files[i]);
  return dropped;
}

int32_t dif__models_max_noise_level(const dif__models *m) {
  if (m->low_res) return m->max_noise_level;
  if (!m->noising) return 999;
  /* num_train_timesteps <= DIF__SCHED_MAX_TRAIN_TIMESTEPS (sched_config.c) */
  return (int32_t)dif__scheduler_num_train_timesteps(m->noising) - 1;
}

bool dif__models_is_upscaler(const dif__models *m) { return m->low_res != NULL; }
