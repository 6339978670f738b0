/* checkpoint.h — single-file checkpoints: one .safetensors in the original
 * LDM / OpenCLIP layout (v1-5-pruned-emaonly.safetensors,
 * v2-1_768-ema-pruned.safetensors, sd21-unclip-h.safetensors, ...).
 *
 * The file is mapped once; each part is handed out as a safetensors view
 * (dif__st_open_view) whose tensors carry diffusers' names and layouts,
 * converted exactly as diffusers v0.26.3's single-file loading does
 * (checkpoint_keys.h), so the model loaders read it as they read a
 * component folder's file. The parts and their prefixes are one table in
 * checkpoint.c:
 *   unet          model.diffusion_model.            (with label_emb: unCLIP)
 *   vae           first_stage_model.                (attention 1x1 convs as linears)
 *   text_encoder  cond_stage_model.transformer.     CLIP ViT-L/14, SD-1.x
 *                 cond_stage_model.model.           OpenCLIP ViT-H, SD-2.x (in_proj split)
 * What a file is (family, dtype, parts) is read from its tensors;
 * what shapes cannot say (epsilon or v prediction, the scheduler, the
 * tokenizer) comes from a diffusers folder given with it (--config).
 * Pickle checkpoints (.ckpt, .pt, .pth, .bin) are refused: unpickling runs
 * code from the file.
 */
#ifndef DIF__IO_CHECKPOINT_H
#define DIF__IO_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "io/safetensors.h"

typedef struct dif__checkpoint dif__checkpoint;

typedef struct dif__ckpt_info {
  const char *family;       /* "SD-1.x", "SD-2.x", "Stable unCLIP (SD-2.x, 768-d image ...)" */
  const char *text_encoder; /* "CLIP ViT-L/14 (SD-1.x layout)", "OpenCLIP (SD-2.x layout)", NULL */
  const char *dtype;        /* of the UNet's conv_in weight: "F32", "F16", "BF16" */
  bool has_unet, has_vae, has_text_encoder;
  bool openclip;            /* the text encoder is in the OpenCLIP (SD-2.x) layout */
  bool has_ema;             /* model_ema.* (not loaded: diffusers' default) */
  bool has_image_embedder;  /* embedder.* of unCLIP files (not loaded, as diffusers) */
  int64_t unet_in_channels; /* 4; 9 for inpainting */
  int64_t context_dim;      /* cross-attention width: 768 SD-1.x, 1024 SD-2.x */
  int64_t class_embed_in;   /* unCLIP: 2 x the image embedding width; else 0 */
  int64_t text_width;       /* the text encoder's width */
  size_t tensors;
} dif__ckpt_info;

/* Opens and validates path as a single-file checkpoint. DIF_ERR_UNSUPPORTED
 * for a pickle (saying why and how to convert it) and for layouts libdif
 * does not read (SDXL); DIF_ERR_BAD_MODEL for a file with none of the parts. */
dif_status dif__checkpoint_open(const char *path, dif__checkpoint **out, dif__error *err);
/* Same over an opened handle (e.g. dif__st_open_memory, for the fuzzer), which
 * the checkpoint owns from then on, also on failure. */
dif_status dif__checkpoint_open_st(dif__safetensors *st, dif__checkpoint **out, dif__error *err);
void dif__checkpoint_close(dif__checkpoint *c);
const char *dif__checkpoint_path(const dif__checkpoint *c);
const dif__ckpt_info *dif__checkpoint_describe(const dif__checkpoint *c);

/* The preset (models/presets/<name>: configs, tokenizer and scheduler without
 * weights) a checkpoint loads with when no config folder is given
 * (checkpoint_preset.c): from its tensors, and where tensors cannot tell —
 * SD-2.x 768 v-prediction, 512 base or SD-Turbo share every shape — from its
 * file name; SD-2.x otherwise as diffusers' from_single_file (768,
 * v-prediction). NULL where none fits (Stable unCLIP: the image encoder's
 * weights are not in the file). *why (static text) says how it was chosen or
 * why there is none. */
const char *dif__checkpoint_preset(const dif__checkpoint *c, const char **why);

/* A view of one part ("unet", "vae", "text_encoder") under diffusers names;
 * config_dir is the component folder whose config.json gives the layout
 * (layers_per_block, the VAE's up blocks). DIF_ERR_BAD_MODEL naming the file
 * and the prefix when the checkpoint lacks the part. Close the view with
 * dif__st_close; it keeps the file mapped. */
dif_status dif__checkpoint_part(dif__checkpoint *c, const char *component, const char *config_dir,
                                dif__safetensors **out, dif__error *err);

/* DIF_ERR_BAD_MODEL naming the file and the first missing part's prefix
 * unless the checkpoint holds a UNet, a VAE and a text encoder. */
dif_status dif__checkpoint_require_all(const dif__checkpoint *c, dif__error *err);

/* DIF_ERR_UNSUPPORTED with the reason and a conversion command if path is a
 * pickle checkpoint (by its extension or its first bytes), else DIF_OK. */
dif_status dif__checkpoint_refuse_pickle(const char *path, dif__error *err);

#endif
