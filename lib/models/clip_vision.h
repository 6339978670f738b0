/* clip_vision.h — CLIP's vision tower (transformers
 * CLIPVisionModelWithProjection), loaded from an image_encoder/ folder.
 *
 * x = [class_embedding; patch_conv(pixels) flattened over (h, w)] + positions;
 * x = pre_layrnorm(x) (HF's spelling); the encoder layers without masks;
 * last hidden state = encoder output (no post LN);
 * pooled = post_layernorm(last[:, 0]); image_embeds = pooled · visual_projectionᵀ.
 */
#ifndef DIF_MODELS_CLIP_VISION_H
#define DIF_MODELS_CLIP_VISION_H

#include <stdint.h>

#include "core/ops.h"
#include "models/clip_encoder.h"

typedef struct dif_clip_vision {
  dif_clip_encoder enc;
  int64_t image_size, patch_size, channels, projection_dim, tokens;
  dif_weight patch_w, proj;
  const float *class_emb, *pos_emb, *pre_ln_w, *pre_ln_b, *post_ln_w, *post_ln_b;
  dif_safetensors *weights;
} dif_clip_vision;

dif_status dif_clip_vision_load(const char *dir, dif_clip_vision *m, dif_error *err);
void dif_clip_vision_free(dif_clip_vision *m);

typedef struct dif_clip_vision_out {
  float *last_hidden;  /* [B, tokens, C] */
  float *pooled;       /* [B, C] */
  float *image_embeds; /* [B, P] */
  float *states;       /* [n_layers + 1, B, tokens, C] */
} dif_clip_vision_out;

/* pixels[B, channels, image_size, image_size], already preprocessed. */
dif_status dif_clip_vision_forward(const dif_clip_vision *m, const dif_kctx *k, const float *pixels,
                                   int64_t B, dif_clip_vision_out *out, dif_error *err);

#endif
