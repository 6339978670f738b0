/* prior.h — diffusers' PriorTransformer as Karlo (kakaobrain/karlo-v1-alpha)
 * configures it: the diffusion prior that turns a CLIP text embedding into a
 * CLIP image embedding.
 *
 * tokens = [proj(encoder hidden states) (77), embedding_proj(text embeds),
 * time embedding, proj_in(noisy image embedding), prd token] + positions;
 * self-attention blocks (biased q/k/v, GELU feed-forward) with a causal mask
 * plus the text padding mask ((1 - mask)·-10000); output =
 * proj_to_clip_embeddings(norm_out(h)[:, -1]). post_process: x·clip_std +
 * clip_mean.
 */
#ifndef DIF__MODELS_PRIOR_H
#define DIF__MODELS_PRIOR_H

#include <stdint.h>

#include "core/ops.h"
#include "models/attention.h"

#define DIF__PRIOR_MAX_LAYERS 64

typedef struct dif__prior_block {
  const float *ln1_w, *ln1_b, *ln3_w, *ln3_b;
  dif__attn attn;
  dif__weight ff1_w, ff2_w;
  const float *ff1_b, *ff2_b;
} dif__prior_block;

typedef struct dif__prior {
  int64_t heads, head_dim, inner, n_layers, embed_dim, n_embeddings, n_extra, tokens;
  dif__weight time_w1, time_w2, proj_in_w, emb_proj_w, enc_proj_w, to_clip_w;
  const float *time_b1, *time_b2, *proj_in_b, *emb_proj_b, *enc_proj_b;
  const float *pos_emb, *prd_emb, *norm_out_w, *norm_out_b, *to_clip_b;
  const float *clip_mean, *clip_std;
  dif__prior_block blocks[DIF__PRIOR_MAX_LAYERS];
  dif__safetensors *weights;
} dif__prior;

dif_status dif__prior_load(const char *dir, dif__prior *p, dif__error *err);
void dif__prior_free(dif__prior *p);

typedef void (*dif__prior_hook)(void *user, const char *name, const float *data, int64_t n);

/* The text tokens' keys and values, computed once per generation.
 *
 * Under the causal mask the first n_embeddings tokens (projected text
 * hidden states + positions) attend only to each other, so every layer's
 * keys and values for them are the same at each denoising step; only the
 * last n_extra tokens (text embedding, time, noisy embedding, prd token)
 * change. With a cache a step runs n_extra tokens instead of all tokens
 * (Karlo: 4 of 81, about 20× less work). diffusers applies the causal mask
 * only together with an attention mask, so a cache needs one. */
typedef struct dif__prior_cache {
  int64_t B;
  float *k, *v; /* [n_layers, B, n_embeddings, inner] */
  float *mask;  /* [B, n_extra, tokens]: the additive mask of the last rows */
} dif__prior_cache;

/* Runs the text tokens of encoder_hidden [B, n_embeddings, embed_dim] with
 * attention_mask [B, n_embeddings] (1 = keep; required) through every layer
 * and keeps their keys and values in c (malloc'd; dif__prior_cache_free).
 * B counts distinct texts: a forward of n·B items uses cache item b / n for
 * item b, so CFG over a batch, [uncond × n, cond × n], needs a cache of
 * [uncond, cond] only (B = 2: 2 × 20 × 77 × 2048 floats ≈ 48 MiB for Karlo). */
dif_status dif__prior_cache_build(const dif__prior *p, const dif__kctx *k,
                                  const float *encoder_hidden, const int32_t *attention_mask,
                                  int64_t B, dif__prior_cache *c, dif__error *err);
void dif__prior_cache_free(dif__prior_cache *c);

typedef struct dif__prior_input {
  const float *hidden_states; /* [B, embed_dim]: the noisy image embedding */
  const float *timesteps;     /* [B] or [1] */
  int64_t n_timesteps;
  const float *proj_embedding;   /* [B, embed_dim]: the text embeds */
  const float *encoder_hidden;   /* [B, n_embeddings, embed_dim] */
  const int32_t *attention_mask; /* [B, n_embeddings], 1 = keep; NULL = no mask at all */
  int64_t B;
  dif__prior_hook hook;
  void *hook_user;
  /* NULL, or the cache of encoder_hidden and attention_mask (B a multiple
   * of the cache's B, see dif__prior_cache_build): then those two are not
   * read, only the last n_extra tokens run, and the hooks see those tokens
   * only (the same values as without a cache, to float rounding). */
  const dif__prior_cache *cache;
} dif__prior_input;

/* out[B, embed_dim] = predicted image embedding (before post-processing). */
dif_status dif__prior_forward(const dif__prior *p, const dif__kctx *k, const dif__prior_input *in,
                              float *out, dif__error *err);

/* y = x · clip_std + clip_mean for rows of embed_dim; y may be x. */
void dif__prior_post_process(const dif__prior *p, const float *x, int64_t rows, float *y);

#endif
