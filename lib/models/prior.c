/* prior.c — PriorTransformer (see prior.h). */
#include "models/prior.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/config_check.h"
#include "models/loader.h"

static const char *const classes[] = {"PriorTransformer", NULL};

static const dif_fixed_key fixed[] = {{"added_emb_type", "\"prd\""},
                                      {"norm_in_type", "null"},
                                      {"embedding_proj_norm_type", "null"},
                                      {"encoder_hid_proj_type", "\"linear\""},
                                      {"time_embed_act_fn", "\"silu\""},
                                      {"time_embed_dim", "null"},
                                      {"embedding_proj_dim", "null"},
                                      {"clip_embed_dim", "null"},
                                      {NULL, NULL}};
static const char *const handled[] = {"_class_name",
                                      "_diffusers_version",
                                      "_name_or_path",
                                      "dropout",
                                      "num_attention_heads",
                                      "attention_head_dim",
                                      "num_layers",
                                      "embedding_dim",
                                      "num_embeddings",
                                      "additional_embeddings",
                                      NULL};

static dif_status read_config(void *model, const dif_config *cfg, dif_error *err) {
  dif_prior *p = model;
  dif_status s = dif_config_check_keys(cfg, fixed, handled, err);
  if (s || (s = dif_config_int(cfg, "num_attention_heads", &p->heads, err)) ||
      (s = dif_config_int(cfg, "attention_head_dim", &p->head_dim, err)) ||
      (s = dif_config_int(cfg, "num_layers", &p->n_layers, err)) ||
      (s = dif_config_int(cfg, "embedding_dim", &p->embed_dim, err)) ||
      (s = dif_config_int_opt(cfg, "num_embeddings", 77, &p->n_embeddings, err)) ||
      (s = dif_config_int_opt(cfg, "additional_embeddings", 4, &p->n_extra, err)))
    return s;
  /* each factor bounded before the product, so it cannot overflow */
  if (p->heads < 1 || p->head_dim < 1 || p->heads > 65536 || p->head_dim > 65536 ||
      p->heads * p->head_dim > 65536 || p->embed_dim < 1 || p->embed_dim > 65536 ||
      p->n_embeddings < 1 || p->n_embeddings > 4096 || p->n_layers < 1 ||
      p->n_layers > DIF_PRIOR_MAX_LAYERS)
    return dif_fail(err, DIF_ERR_BAD_MODEL,
                    "%s: heads %lld x head_dim %lld, embedding_dim %lld, num_embeddings %lld, "
                    "num_layers %lld: out of range",
                    dif_config_path(cfg), (long long)p->heads, (long long)p->head_dim,
                    (long long)p->embed_dim, (long long)p->n_embeddings, (long long)p->n_layers);
  /* added_emb_type "prd" puts exactly four tokens after the text: the text
   * embedding, the time, the noisy embedding and the prd token. */
  if (p->n_extra != 4)
    return dif_fail(err, DIF_ERR_UNSUPPORTED,
                    "%s: additional_embeddings = %lld (libdif implements Karlo's 4)",
                    dif_config_path(cfg), (long long)p->n_extra);
  p->inner = p->heads * p->head_dim;
  p->tokens = p->n_embeddings + p->n_extra;
  return DIF_OK;
}

static dif_status build(void *model, const dif_config *cfg, dif_wloader *wl) {
  (void)cfg;
  dif_prior *p = model;
  int64_t D = p->inner, E = p->embed_dim;
  p->time_w1 = DIF_WT2(wl, D, D, "time_embedding.linear_1.weight");
  p->time_b1 = DIF_W1(wl, D, "time_embedding.linear_1.bias");
  p->time_w2 = DIF_WT2(wl, D, D, "time_embedding.linear_2.weight");
  p->time_b2 = DIF_W1(wl, D, "time_embedding.linear_2.bias");
  p->proj_in_w = DIF_WT2(wl, D, E, "proj_in.weight");
  p->proj_in_b = DIF_W1(wl, D, "proj_in.bias");
  p->emb_proj_w = DIF_WT2(wl, D, E, "embedding_proj.weight");
  p->emb_proj_b = DIF_W1(wl, D, "embedding_proj.bias");
  p->enc_proj_w = DIF_WT2(wl, D, E, "encoder_hidden_states_proj.weight");
  p->enc_proj_b = DIF_W1(wl, D, "encoder_hidden_states_proj.bias");
  p->pos_emb = dif_wl_get(wl, 3, (const int64_t[]){1, p->tokens, D}, "positional_embedding");
  p->prd_emb = dif_wl_get(wl, 3, (const int64_t[]){1, 1, D}, "prd_embedding");
  p->norm_out_w = DIF_W1(wl, D, "norm_out.weight");
  p->norm_out_b = DIF_W1(wl, D, "norm_out.bias");
  p->to_clip_w = DIF_WT2(wl, E, D, "proj_to_clip_embeddings.weight");
  p->to_clip_b = DIF_W1(wl, E, "proj_to_clip_embeddings.bias");
  p->clip_mean = DIF_W2(wl, 1, E, "clip_mean");
  p->clip_std = DIF_W2(wl, 1, E, "clip_std");
  for (int i = 0; i < p->n_layers; i++) {
    dif_prior_block *b = &p->blocks[i];
    char name[96];
    b->ln1_w = DIF_W1(wl, D, "transformer_blocks.%d.norm1.weight", i);
    b->ln1_b = DIF_W1(wl, D, "transformer_blocks.%d.norm1.bias", i);
    b->ln3_w = DIF_W1(wl, D, "transformer_blocks.%d.norm3.weight", i);
    b->ln3_b = DIF_W1(wl, D, "transformer_blocks.%d.norm3.bias", i);
    snprintf(name, sizeof name, "transformer_blocks.%d.attn1", i);
    dif_attn_load(&b->attn, wl, name, D, D, p->heads, p->head_dim);
    b->ff1_w = DIF_WT2(wl, 4 * D, D, "transformer_blocks.%d.ff.net.0.proj.weight", i);
    b->ff1_b = DIF_W1(wl, 4 * D, "transformer_blocks.%d.ff.net.0.proj.bias", i);
    b->ff2_w = DIF_WT2(wl, D, 4 * D, "transformer_blocks.%d.ff.net.2.weight", i);
    b->ff2_b = DIF_W1(wl, D, "transformer_blocks.%d.ff.net.2.bias", i);
  }
  return wl->status;
}

static void free_model(void *model) { dif_prior_free(model); }

static const dif_model_loader loader = {classes, read_config, build, free_model};

dif_status dif_prior_load(const char *dir, dif_prior *p, dif_error *err) {
  memset(p, 0, sizeof *p);
  return dif_model_load(dir, &loader, p, &p->weights, err);
}

void dif_prior_free(dif_prior *p) {
  if (!p) return;
  dif_st_close(p->weights);
  memset(p, 0, sizeof *p);
}

void dif_prior_post_process(const dif_prior *p, const float *x, int64_t rows, float *y) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t i = 0; i < p->embed_dim; i++)
      y[r * p->embed_dim + i] = x[r * p->embed_dim + i] * p->clip_std[i] + p->clip_mean[i];
}

static void hook(const dif_prior_input *in, const char *name, const float *x, int64_t n) {
  if (in->hook) in->hook(in->hook_user, name, x, n);
}

/* Rows row0.. row0+rows-1 (absolute token indices) of the additive mask over
 * the first cols keys: (1 - mask)·-10000 on the text keys, 0 on the extra
 * ones, plus -10000 where the key comes after the query (causal). */
static void mask_rows(const dif_prior *p, const int32_t *amask, int64_t B, int64_t row0,
                      int64_t rows, int64_t cols, float *mask) {
  int64_t N = p->n_embeddings;
  for (int64_t b = 0; b < B; b++)
    for (int64_t i = 0; i < rows; i++)
      for (int64_t j = 0; j < cols; j++) {
        float key = j < N ? (1.0f - (float)amask[b * N + j]) * -10000.0f : 0.0f;
        mask[(b * rows + i) * cols + j] = key + (j > row0 + i ? -10000.0f : 0.0f);
      }
}

/* The four extra tokens (text embedding, time, noisy embedding, prd) of each
 * batch item into h, whose items are `stride` tokens apart, at token `first`
 * of each; positions not added. Scratch: tp, t1, small [B, inner]. */
static void extra_tokens(const dif_prior *p, const dif_kctx *k, const dif_prior_input *in,
                         float *tp, float *t1, float *small, float *h, int64_t stride,
                         int64_t first) {
  int64_t B = in->B, D = p->inner, E = p->embed_dim;
  for (int64_t b = 0; b < B; b++) tp[b] = in->timesteps[in->n_timesteps == 1 ? 0 : b];
  dif_timestep_embedding(tp, B, D, true, 0.0f, 1.0f, 10000.0f, t1);
  memcpy(tp, t1, (size_t)(B * D) * sizeof *tp);
  hook(in, "time_proj", tp, B * D);
  dif_linear(k, tp, B, D, p->time_w1, p->time_b1, D, t1);
  dif_silu(k, t1, B * D, t1);
  dif_linear(k, t1, B, D, p->time_w2, p->time_b2, D, tp); /* tp = time embedding */
  hook(in, "time_embedding", tp, B * D);
  for (int64_t b = 0; b < B; b++) {
    float *hb = h + (b * stride + first) * D;
    memcpy(hb + D, tp + b * D, (size_t)D * sizeof *h);
    memcpy(hb + 3 * D, p->prd_emb, (size_t)D * sizeof *h);
  }
  dif_linear(k, in->proj_embedding, B, E, p->emb_proj_w, p->emb_proj_b, D, small);
  hook(in, "embedding_proj", small, B * D);
  for (int64_t b = 0; b < B; b++)
    memcpy(h + (b * stride + first) * D, small + b * D, (size_t)D * sizeof *h);
  dif_linear(k, in->hidden_states, B, E, p->proj_in_w, p->proj_in_b, D, small);
  hook(in, "proj_in", small, B * D);
  for (int64_t b = 0; b < B; b++)
    memcpy(h + (b * stride + first + 2) * D, small + b * D, (size_t)D * sizeof *h);
}

/* h[rows, inner] += feed-forward(norm3(h)); n [rows, inner], ff [rows, 4·inner]
 * and a [rows, inner] are scratch. */
static void feed_forward(const dif_prior *p, const dif_prior_block *bl, const dif_kctx *k, float *h,
                         int64_t rows, float *n, float *ff, float *a) {
  int64_t D = p->inner;
  dif_layer_norm(k, h, rows, D, 1e-5f, bl->ln3_w, bl->ln3_b, n);
  dif_linear(k, n, rows, D, bl->ff1_w, bl->ff1_b, 4 * D, ff);
  dif_gelu(k, ff, rows * 4 * D, ff);
  dif_linear(k, ff, rows, 4 * D, bl->ff2_w, bl->ff2_b, D, a);
  dif_add(k, a, h, rows * D, h);
}

/* norm_out of the prd token (the last of each item's `stride` tokens in h),
 * then proj_to_clip_embeddings into out. */
static void output(const dif_prior *p, const dif_kctx *k, const dif_prior_input *in, float *h,
                   int64_t stride, float *small, float *out) {
  int64_t B = in->B, D = p->inner;
  dif_layer_norm(k, h, B * stride, D, 1e-5f, p->norm_out_w, p->norm_out_b, h);
  hook(in, "norm_out", h, B * stride * D);
  for (int64_t b = 0; b < B; b++)
    memcpy(small + b * D, h + (b * stride + stride - 1) * D, (size_t)D * sizeof *h);
  dif_linear(k, small, B, D, p->to_clip_w, p->to_clip_b, p->embed_dim, out);
  hook(in, "proj_to_clip_embeddings", out, B * p->embed_dim);
}

static void block_hook(const dif_prior_input *in, int l, const float *h, int64_t n) {
  if (!in->hook) return;
  char name[64];
  snprintf(name, sizeof name, "transformer_blocks.%d", l);
  hook(in, name, h, n);
}

dif_status dif_prior_cache_build(const dif_prior *p, const dif_kctx *k, const float *encoder_hidden,
                                 const int32_t *attention_mask, int64_t B, dif_prior_cache *c,
                                 dif_error *err) {
  int64_t D = p->inner, N = p->n_embeddings, X = p->n_extra, T = p->tokens, L = p->n_layers;
  memset(c, 0, sizeof *c);
  if (B < 1 || !attention_mask)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "prior cache: batch %lld%s (a cache needs the attention mask)", (long long)B,
                    attention_mask ? "" : " without an attention mask");
  size_t kv = (size_t)(L * B * N * D);
  c->B = B;
  c->k = malloc(kv * sizeof *c->k);
  c->v = malloc(kv * sizeof *c->v);
  c->mask = malloc((size_t)(B * X * T) * sizeof *c->mask);
  dif_arena_mark mark = dif_arena_get_mark(k->arena);
  float *h = dif_arena_floats(k->arena, (size_t)(B * N * D), err);
  float *n = dif_arena_floats(k->arena, (size_t)(B * N * D), err);
  float *a = dif_arena_floats(k->arena, (size_t)(B * N * D), err);
  float *ff = dif_arena_floats(k->arena, (size_t)(B * N * 4 * D), err);
  float *mask = dif_arena_floats(k->arena, (size_t)(B * N * N), err);
  dif_status s = DIF_OK;
  if (!c->k || !c->v || !c->mask || !h || !n || !a || !ff || !mask)
    s = dif_fail(err, DIF_ERR_OUT_OF_MEMORY, "prior cache: out of memory (%zu MiB)",
                 2 * kv * sizeof(float) >> 20);
  if (!s) {
    mask_rows(p, attention_mask, B, N, X, T, c->mask);
    mask_rows(p, attention_mask, B, 0, N, N, mask);
    dif_linear(k, encoder_hidden, B * N, p->embed_dim, p->enc_proj_w, p->enc_proj_b, D, h);
    for (int64_t b = 0; b < B; b++)
      for (int64_t i = 0; i < N * D; i++) h[b * N * D + i] += p->pos_emb[i];
  }
  for (int64_t l = 0; l < L && !s; l++) {
    const dif_prior_block *bl = &p->blocks[l];
    float *ck = c->k + l * B * N * D, *cv = c->v + l * B * N * D;
    dif_layer_norm(k, h, B * N, D, 1e-5f, bl->ln1_w, bl->ln1_b, n);
    if (l == L - 1) { /* the last layer's text outputs are never used: keys and values only */
      dif_linear(k, n, B * N, D, bl->attn.k_w, bl->attn.k_b, D, ck);
      dif_linear(k, n, B * N, D, bl->attn.v_w, bl->attn.v_b, D, cv);
      break;
    }
    s = dif_attn_forward_prefix(&bl->attn, k, n, B, N, NULL, NULL, 0, 1, mask, ck, cv, a, err);
    if (s) break;
    dif_add(k, a, h, B * N * D, h);
    feed_forward(p, bl, k, h, B * N, n, ff, a);
  }
  dif_arena_release(k->arena, mark);
  if (s) dif_prior_cache_free(c);
  return s;
}

void dif_prior_cache_free(dif_prior_cache *c) {
  if (!c) return;
  free(c->k);
  free(c->v);
  free(c->mask);
  memset(c, 0, sizeof *c);
}

/* Runs R tokens per batch item: all T, or with a cache only the last n_extra
 * (R = X), whose attention then reads the cached text keys and values. */
static dif_status forward(const dif_prior *p, const dif_kctx *k, const dif_prior_input *in,
                          int64_t R, float *out, dif_error *err) {
  const dif_prior_cache *c = in->cache;
  int64_t B = in->B, D = p->inner, E = p->embed_dim, N = p->n_embeddings, T = p->tokens;
  dif_arena_mark mark = dif_arena_get_mark(k->arena);
  float *tp = dif_arena_floats(k->arena, (size_t)(B * D), err);
  float *t1 = dif_arena_floats(k->arena, (size_t)(B * D), err);
  float *small = dif_arena_floats(k->arena, (size_t)(B * D), err);
  float *h = dif_arena_floats(k->arena, (size_t)(B * R * D), err);
  float *n = dif_arena_floats(k->arena, (size_t)(B * R * D), err);
  float *a = dif_arena_floats(k->arena, (size_t)(B * R * D), err);
  float *ff = dif_arena_floats(k->arena, (size_t)(B * R * 4 * D), err);
  int64_t share = c ? B / c->B : 1; /* batch items per cached text */
  bool want_mask = c || in->attention_mask;
  float *mask = want_mask ? dif_arena_floats(k->arena, (size_t)(B * R * T), err) : NULL;
  if (!tp || !t1 || !small || !h || !n || !a || !ff || (want_mask && !mask)) {
    dif_arena_release(k->arena, mark);
    return DIF_ERR_OUT_OF_MEMORY;
  }
  extra_tokens(p, k, in, tp, t1, small, h, R, R - p->n_extra);
  if (!c) { /* the text tokens first */
    dif_linear(k, in->encoder_hidden, B * N, E, p->enc_proj_w, p->enc_proj_b, D, n);
    hook(in, "encoder_hidden_states_proj", n, B * N * D);
    for (int64_t b = 0; b < B; b++)
      memcpy(h + b * T * D, n + b * N * D, (size_t)(N * D) * sizeof *h);
  }
  for (int64_t b = 0; b < B; b++) /* positions of the tokens that run */
    for (int64_t i = 0; i < R * D; i++) h[b * R * D + i] += p->pos_emb[(T - R) * D + i];
  if (c) /* the cached rows of each item's text */
    for (int64_t b = 0; b < B; b++)
      memcpy(mask + b * R * T, c->mask + b / share * R * T, (size_t)(R * T) * sizeof *mask);
  else if (mask)
    mask_rows(p, in->attention_mask, B, 0, T, T, mask);
  dif_status s = DIF_OK;
  for (int l = 0; l < p->n_layers && !s; l++) {
    const dif_prior_block *bl = &p->blocks[l];
    dif_layer_norm(k, h, B * R, D, 1e-5f, bl->ln1_w, bl->ln1_b, n);
    if (c)
      s = dif_attn_forward_prefix(&bl->attn, k, n, B, R, c->k + l * c->B * N * D,
                                  c->v + l * c->B * N * D, N, share, mask, NULL, NULL, a, err);
    else
      s = dif_attn_forward_masked(&bl->attn, k, n, B, T, NULL, 0, mask, a, err);
    if (s) break;
    dif_add(k, a, h, B * R * D, h);
    feed_forward(p, bl, k, h, B * R, n, ff, a);
    block_hook(in, l, h, B * R * D);
  }
  if (!s) output(p, k, in, h, R, small, out);
  dif_arena_release(k->arena, mark);
  return s;
}

dif_status dif_prior_forward(const dif_prior *p, const dif_kctx *k, const dif_prior_input *in,
                             float *out, dif_error *err) {
  int64_t B = in->B;
  if (B < 1 || (in->n_timesteps != 1 && in->n_timesteps != B))
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "prior: batch %lld with %lld timesteps",
                    (long long)B, (long long)in->n_timesteps);
  if (in->cache && B % in->cache->B)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "prior: batch %lld is not a multiple of the cache's %lld texts", (long long)B,
                    (long long)in->cache->B);
  return forward(p, k, in, in->cache ? p->n_extra : p->tokens, out, err);
}
