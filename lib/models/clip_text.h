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
#ifndef DIF__MODELS_CLIP_TEXT_H
#define DIF__MODELS_CLIP_TEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ops.h"
#include "models/clip_encoder.h"

typedef struct dif__clip_text {
  dif__clip_encoder enc;
  int64_t vocab, max_positions, projection_dim; /* projection_dim 0: no projection */
  int64_t eos_token_id;
  dif__weight tok_emb, proj; /* proj [P, C]; proj.data NULL without a projection */
  const float *pos_emb, *final_ln_w, *final_ln_b;
  dif__safetensors *weights;
  /* Rows added to the token table (textual inversion): ids [extra_first,
   * extra_first + n_extra) read extra[(id - extra_first) * C]; they take
   * precedence over tok_emb's rows. */
  float *extra;
  int64_t extra_first, n_extra;
} dif__clip_text;

dif_status dif__clip_text_load(const char *dir, dif__clip_text *m, dif__error *err);
/* Adds n rows[n, C] to the token table for the ids first .. first + n - 1
 * (transformers' resize_token_embeddings, then input_embeddings[id] =
 * row): first must continue the rows added before (or any id when none
 * were). All or nothing. */
dif_status dif__clip_text_add_rows(dif__clip_text *m, int64_t first, const float *rows, int64_t n,
                                   dif__error *err);
/* The number of token ids the table answers: max(vocab, the added rows' end). */
int64_t dif__clip_text_vocab(const dif__clip_text *m);
void dif__clip_text_free(dif__clip_text *m);

/* Outputs; any pointer may be NULL when not wanted. */
typedef struct dif__clip_text_out {
  float *last_hidden; /* [B, T, C]: final LN applied to the output of n_layers layers */
  float *pooled;      /* [B, C] */
  float *text_embeds; /* [B, P] (projection models only) */
  float *states;      /* [n_layers + 1, B, T, C]: embeddings, then each layer's output */
} dif__clip_text_out;

/* ids[B, T] (T <= max_positions, ids < vocab); mask[B, T] optional (0 = pad
 * key, masked as transformers does when attention_mask is passed);
 * n_layers 0 = all, k < all = "clip skip" (the output of layer k, then the
 * final layer norm, as diffusers' clip_skip does). */
dif_status dif__clip_text_forward(const dif__clip_text *m, const dif__kctx *k, const int32_t *ids,
                                  int64_t B, int64_t T, const int32_t *mask, int n_layers,
                                  dif__clip_text_out *out, dif__error *err);

#endif
