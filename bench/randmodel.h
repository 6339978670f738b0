/* randmodel.h — full-size component folders with seeded random weights.
 *
 * A component folder (config.json + model.safetensors) is written from a
 * config alone: the model's own loader is run once in schema-recording mode
 * (models/weights.h) against an empty weights file, which lists every tensor
 * with its shape; then the safetensors file is streamed out with values from
 * a seeded generator (PyTorch-like default init: U(±1/√fan_in) for weights,
 * norms 1/0, small biases and embeddings), never holding more than a small
 * buffer in memory. No download, no Python.
 */
#ifndef DIF_BENCH_RANDMODEL_H
#define DIF_BENCH_RANDMODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/dtype.h"

typedef enum bench_kind {
  BENCH_UNET,
  BENCH_VAE,
  BENCH_CLIP_TEXT,
  BENCH_CLIP_VISION,
  BENCH_PRIOR,
  BENCH_NORMALIZER, /* StableUnCLIPImageNormalizer: mean and std [1, embedding_dim] */
} bench_kind;

/* Writes dir/config.json (a copy of config_path) and dir/model.safetensors
 * (the image normalizer's std is 1, its mean small random values), every
 * tensor in dtype dt (F32, or F16 / BF16 as diffusers' fp16 variants ship:
 * the same values rounded to nearest even). Returns 0, or -1 with a
 * message in msg. *bytes is the weights file size. */
int bench_make_component(const char *dir, const char *config_path, bench_kind kind, uint64_t seed,
                         dif_dtype dt, uint64_t *bytes, char *msg, size_t msg_size);

/* True if every tensor of the safetensors file at path has dtype dt (a
 * folder kept from an earlier run is reused only in the dtype asked for). */
int bench_weights_dtype_is(const char *path, dif_dtype dt);

/* Writes a whole Stable unCLIP folder in diffusers layout into dir, as
 * stabilityai/stable-diffusion-2-1-unclip-small ships it (StableUnCLIPPipeline
 * with Karlo's prior): unet, vae, text_encoder, image_encoder,
 * image_normalizer, prior, prior_text_encoder with random weights from the
 * configs in configs_dir (sd21-unclip-small.*.json, karlo.*.json,
 * clip-vit-large-patch14.text_encoder.json); scheduler,
 * image_noising_scheduler, prior_scheduler and feature_extractor configs
 * from the same folder; tokenizer and prior_tokenizer copied from
 * tokenizers_dir/clip-bpe-sd2 and tokenizers_dir/clip-bpe (the real CLIP
 * vocabulary); model_index.json. Weights in dtype dt. Components whose
 * weights exist already are kept (in that dtype; another is an error). Progress lines go to log
 * (may be NULL). *bytes gets the size of all weights files. Returns 0, or -1 with a message in msg.
 */
int bench_make_unclip(const char *dir, const char *configs_dir, const char *tokenizers_dir,
                      uint64_t seed, dif_dtype dt, FILE *log, uint64_t *bytes, char *msg,
                      size_t msg_size);

/* Removes what bench_make_unclip wrote into dir, and dir if it is then empty. */
void bench_remove_unclip(const char *dir);

#endif
