/* clip_text.h — CLIP's text tower (transformers CLIPTextModel and
 * CLIPTextModelWithProjection), loaded from a text_encoder/ folder.
 *
 * h = token_embedding[ids] + position_embedding[0..T-1]; the encoder layers
 * with a causal mask (plus an optional padding mask); last hidden state =
 * final_layer_norm(h); pooled = last hidden state at the pooled position;
 * text_embeds = pooled · text_projectionᵀ (WithProjection only).
 *
 * Pooled position (transformers' rule, chosen by the config's
 * eos_token_id): eos_token_id == 2 (the legacy configs of OpenAI CLIP and
 * SD-2) → argmax(ids), the first maximum, i.e. the first <|endoftext|> of a
 * tokenizer-made sequence; otherwise the first position whose id equals
 * eos_token_id, 0 if there is none.
 */
#ifndef DIF_MODELS_CLIP_TEXT_H
#define DIF_MODELS_CLIP_TEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ops.h"
#include "models/clip_encoder.h"

typedef struct dif_clip_text {
  dif_clip_encoder enc;
  int64_t vocab, max_positions, projection_dim; /* projection_dim 0: no projection */
  int64_t eos_token_id;
  dif_weight tok_emb, proj; /* proj [P, C]; proj.data NULL without a projection */
  const float *pos_emb, *final_ln_w, *final_ln_b;
  dif_safetensors *weights;
} dif_clip_text;

dif_status dif_clip_text_load(const char *dir, dif_clip_text *m, dif_error *err);
void dif_clip_text_free(dif_clip_text *m);

/* Outputs; any pointer may be NULL when not wanted. */
typedef struct dif_clip_text_out {
  float *last_hidden; /* [B, T, C]: final LN applied to the output of n_layers layers */
  float *pooled;      /* [B, C] */
  float *text_embeds; /* [B, P] (projection models only) */
  float *states;      /* [n_layers + 1, B, T, C]: embeddings, then each layer's output */
} dif_clip_text_out;

/* ids[B, T] (T <= max_positions, ids < vocab); mask[B, T] optional (0 = pad
 * key, masked as transformers does when attention_mask is passed);
 * n_layers 0 = all, k < all = "clip skip" (the output of layer k, then the
 * final layer norm, as diffusers' clip_skip does). */
dif_status dif_clip_text_forward(const dif_clip_text *m, const dif_kctx *k, const int32_t *ids,
                                 int64_t B, int64_t T, const int32_t *mask, int n_layers,
                                 dif_clip_text_out *out, dif_error *err);

#endif
