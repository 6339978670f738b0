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
#ifndef DIF_MODELS_PRIOR_H
#define DIF_MODELS_PRIOR_H

#include <stdint.h>

#include "core/ops.h"
#include "models/attention.h"

#define DIF_PRIOR_MAX_LAYERS 64

typedef struct dif_prior_block {
  const float *ln1_w, *ln1_b, *ln3_w, *ln3_b;
  dif_attn attn;
  dif_weight ff1_w, ff2_w;
  const float *ff1_b, *ff2_b;
} dif_prior_block;

typedef struct dif_prior {
  int64_t heads, head_dim, inner, n_layers, embed_dim, n_embeddings, n_extra, tokens;
  dif_weight time_w1, time_w2, proj_in_w, emb_proj_w, enc_proj_w, to_clip_w;
  const float *time_b1, *time_b2, *proj_in_b, *emb_proj_b, *enc_proj_b;
  const float *pos_emb, *prd_emb, *norm_out_w, *norm_out_b, *to_clip_b;
  const float *clip_mean, *clip_std;
  dif_prior_block blocks[DIF_PRIOR_MAX_LAYERS];
  dif_safetensors *weights;
} dif_prior;

dif_status dif_prior_load(const char *dir, dif_prior *p, dif_error *err);
void dif_prior_free(dif_prior *p);

typedef void (*dif_prior_hook)(void *user, const char *name, const float *data, int64_t n);

/* The text tokens' keys and values, computed once per generation.
 *
 * Under the causal mask the first n_embeddings tokens (projected text
 * hidden states + positions) attend only to each other, so every layer's
 * keys and values for them are the same at each denoising step; only the
 * last n_extra tokens (text embedding, time, noisy embedding, prd token)
 * change. With a cache a step runs n_extra tokens instead of all tokens
 * (Karlo: 4 of 81, about 20× less work). diffusers applies the causal mask
 * only together with an attention mask, so a cache needs one. */
typedef struct dif_prior_cache {
  int64_t B;
  float *k, *v; /* [n_layers, B, n_embeddings, inner] */
  float *mask;  /* [B, n_extra, tokens]: the additive mask of the last rows */
} dif_prior_cache;

/* Runs the text tokens of encoder_hidden [B, n_embeddings, embed_dim] with
 * attention_mask [B, n_embeddings] (1 = keep; required) through every layer
 * and keeps their keys and values in c (malloc'd; dif_prior_cache_free).
 * B counts distinct texts: a forward of n·B items uses cache item b / n for
 * item b, so CFG over a batch, [uncond × n, cond × n], needs a cache of
 * [uncond, cond] only (B = 2: 2 × 20 × 77 × 2048 floats ≈ 48 MiB for Karlo). */
dif_status dif_prior_cache_build(const dif_prior *p, const dif_kctx *k, const float *encoder_hidden,
                                 const int32_t *attention_mask, int64_t B, dif_prior_cache *c,
                                 dif_error *err);
void dif_prior_cache_free(dif_prior_cache *c);

typedef struct dif_prior_input {
  const float *hidden_states; /* [B, embed_dim]: the noisy image embedding */
  const float *timesteps;     /* [B] or [1] */
  int64_t n_timesteps;
  const float *proj_embedding;   /* [B, embed_dim]: the text embeds */
  const float *encoder_hidden;   /* [B, n_embeddings, embed_dim] */
  const int32_t *attention_mask; /* [B, n_embeddings], 1 = keep; NULL = no mask at all */
  int64_t B;
  dif_prior_hook hook;
  void *hook_user;
  /* NULL, or the cache of encoder_hidden and attention_mask (B a multiple
   * of the cache's B, see dif_prior_cache_build): then those two are not
   * read, only the last n_extra tokens run, and the hooks see those tokens
   * only (the same values as without a cache, to float rounding). */
  const dif_prior_cache *cache;
} dif_prior_input;

/* out[B, embed_dim] = predicted image embedding (before post-processing). */
dif_status dif_prior_forward(const dif_prior *p, const dif_kctx *k, const dif_prior_input *in,
                             float *out, dif_error *err);

/* y = x · clip_std + clip_mean for rows of embed_dim; y may be x. */
void dif_prior_post_process(const dif_prior *p, const float *x, int64_t rows, float *y);

#endif
