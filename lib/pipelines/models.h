/* models.h — the networks and settings one generation can use, loaded from a
 * diffusers folder (and, for Stable unCLIP text-to-image, a Karlo prior
 * folder).
 *
 * Two families share the UNet, VAE and CLIP code:
 *   - Stable unCLIP (StableUnCLIPImg2ImgPipeline / StableUnCLIPPipeline
 *     folders): the UNet takes class_labels = the noised CLIP image embedding;
 *     image_encoder + feature_extractor turn reference images into
 *     embeddings, image_normalizer + image_noising_scheduler augment them,
 *     and a prior (prior/, prior_text_encoder/, prior_tokenizer/,
 *     prior_scheduler/ — in the folder itself or a separate one) turns text
 *     into an image embedding.
 *   - Stable Diffusion 1.x/2.x (StableDiffusion(Img2Img)Pipeline folders),
 *     and the x4 upscaler (StableDiffusionUpscalePipeline folders: a UNet
 *     with 4 + 3 input channels — latents and the noised low-res image —
 *     and a noise-level embedding; low_res_scheduler noises the image).
 *
 * Loaded once, then only read: a dif__models may be used by several
 * generations at once (each brings its own scratch arena and scheduler).
 */
#ifndef DIF__PIPELINES_MODELS_H
#define DIF__PIPELINES_MODELS_H

#include <stdbool.h>

#include "io/checkpoint.h"
#include "io/config.h"
#include "io/model_folder.h"
#include "models/clip_preprocess.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"
#include "models/image_normalizer.h"
#include "models/prior.h"
#include "models/unet.h"
#include "models/vae.h"
#include "pipelines/defaults.h"
#include "samplers/scheduler.h"
#include "text/clip_tokenizer.h"

typedef enum dif__family { DIF__FAMILY_SD = 0, DIF__FAMILY_UNCLIP = 1 } dif__family;

typedef void (*dif__load_progress)(void *user, const char *component, int index, int total);

typedef struct dif__models {
  dif__family family;
  dif__model_folder *folder, *prior_folder;
  char *checkpoint; /* a single-file checkpoint's path (folder: its config), else NULL */
  /* decoder side */
  dif__clip_tokenizer *tokenizer;
  dif__clip_text text_encoder;
  dif__unet unet;
  dif__vae vae;
  dif__config *scheduler_cfg; /* scheduler/scheduler_config.json */
  const char *scheduler_class;
  /* unCLIP image conditioning (has_image_encoder etc. say what exists) */
  bool has_image_encoder, has_normalizer;
  dif__clip_vision image_encoder;
  dif__clip_preprocess feature_extractor;
  dif__image_normalizer normalizer;
  dif__scheduler *noising; /* image_noising_scheduler (only add_noise is used) */
  /* the prior (unCLIP text-to-image) */
  bool has_prior;
  dif__clip_tokenizer *prior_tokenizer;
  dif__clip_text prior_text_encoder;
  dif__prior prior;
  dif__config *prior_scheduler_cfg;
  /* the x4 upscaler (recipe_upscale.c): NULL / 0 for other models */
  dif__scheduler *low_res; /* low_res_scheduler (DDPMScheduler; only add_noise is used) */
  int32_t max_noise_level; /* model_index.json's max_noise_level (diffusers' default 350) */
  /* what a new sample starts from: libdif's defaults for this kind of model,
   * overridden by the folder's dif_defaults.json (defaults.h) */
  dif_defaults defaults;
} dif__models;

/* Loads a model folder; prior_dir (may be NULL) names a separate folder with
 * the prior parts. The folder's dif_defaults.json, if any, is read last. Reports each component
 * through progress (may be NULL). On failure nothing stays loaded. */
dif_status dif__models_load(dif__models *m, const char *dir, const char *prior_dir,
                            dif__load_progress progress, void *user, dif__error *err);
/* Loads a single-file checkpoint (io/checkpoint.h): its UNet, VAE and text
 * encoder from file, everything else — configs, tokenizer, schedulers and,
 * for Stable unCLIP, the image encoder, feature extractor and image
 * normalizer, which diffusers does not take from a single file either — from
 * the diffusers folder config_dir, as diffusers' from_single_file(file,
 * config=config_dir). config_dir NULL: DIF_ERR_INVALID_ARGUMENT saying what
 * the file is and that a folder is needed. */
dif_status dif__models_load_checkpoint(dif__models *m, const char *file, const char *config_dir,
                                       const char *prior_dir, dif__load_progress progress,
                                       void *user, dif__error *err);
void dif__models_free(dif__models *m);
/* Before a run: DIF_ERR_IO naming the file if a mapped weights file was
 * changed in place since loading (io/safetensors.h). */
dif_status dif__models_check_files(const dif__models *m, dif__error *err);

/* Before the VAE decodes: drops the process's pages of every network's
 * weights file but the VAE's (text encoders, image encoder, normaliser,
 * prior, UNet; io/safetensors.h, dif__st_drop_pages), so the decode's
 * memory (its activations, exact's Winograd weights) does not stack on
 * theirs. The next run reads them again from the page cache (minor page
 * faults: well under a second for a full-size model). Returns the bytes
 * dropped. Safe while another thread runs these networks (their pages come
 * back on access). */
size_t dif__models_drop_networks(const dif__models *m);

/* The highest unCLIP noise level the model takes: its image noising
 * scheduler's num_train_timesteps - 1 (999 for Stable unCLIP); the x4
 * upscaler's max_noise_level (350); 999 for a Stable Diffusion model, which
 * has no noise augmentation. */
int32_t dif__models_max_noise_level(const dif__models *m);
/* True for an x4 upscaler folder (StableDiffusionUpscalePipeline). */
bool dif__models_is_upscaler(const dif__models *m);

#endif
