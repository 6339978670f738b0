/* checkpoint_keys.h — the key conversions of single-file checkpoints (inside io/).
 *
 * One function per part, each the exact name mapping of diffusers v0.26.3
 * loaders/single_file_utils.py for that part: convert_ldm_unet_checkpoint,
 * convert_ldm_vae_checkpoint (with conv_attn_to_linear), the CLIP-L text
 * encoder (create_text_encoder_from_ldm_clip_checkpoint: the prefix removed)
 * and the OpenCLIP one (create_text_encoder_from_open_clip_checkpoint: renamed,
 * the fused attn.in_proj split into q/k/v). A function gets a key with its
 * part's prefix removed and the source tensor, and writes 0 (a key diffusers
 * does not load), 1 or 3 (in_proj) view entries; -1 with a message for a key
 * it cannot convert. Nothing is copied: entries are names, shapes and byte
 * offsets into the source tensor.
 */
#ifndef DIF__IO_CHECKPOINT_KEYS_H
#define DIF__IO_CHECKPOINT_KEYS_H

#include "core/error.h"
#include "io/safetensors.h"

/* Keys longer than this are refused before conversion (the longest real one
 * is under 100 bytes), so no converted name is ever cut short. */
#define DIF__CKPT_MAX_KEY 160

typedef struct dif__ckpt_layout {
  int layers_per_block; /* UNet: unet/config.json layers_per_block */
  int vae_up_blocks;    /* VAE: len(vae/config.json up_block_types) */
  const char *file;     /* for messages */
} dif__ckpt_layout;

typedef int (*dif__ckpt_rename_fn)(const dif__ckpt_layout *l, const char *key,
                                   const dif__st_entry *src, dif__st_view_entry out[3],
                                   dif__error *err);

int dif__ckpt_rename_unet(const dif__ckpt_layout *l, const char *key, const dif__st_entry *src,
                          dif__st_view_entry out[3], dif__error *err);
int dif__ckpt_rename_vae(const dif__ckpt_layout *l, const char *key, const dif__st_entry *src,
                         dif__st_view_entry out[3], dif__error *err);
int dif__ckpt_rename_clip(const dif__ckpt_layout *l, const char *key, const dif__st_entry *src,
                          dif__st_view_entry out[3], dif__error *err);
int dif__ckpt_rename_openclip(const dif__ckpt_layout *l, const char *key, const dif__st_entry *src,
                              dif__st_view_entry out[3], dif__error *err);

#endif
