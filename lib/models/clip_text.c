/* clip_text.c — CLIP text encoder forward pass (see clip_text.h). */
#include "models/clip_text.h"

#include <string.h>

#include "models/loader.h"

static const char *const classes[] = {"CLIPTextModel", "CLIPTextModelWithProjection", NULL};

/* The class (CLIPTextModel or ...WithProjection; transformers names it in
 * "architectures", diffusers-written configs may use "_class_name") and the
 * sizes; projection_dim is 0 without a projection. */
static dif_status read_config(void *model, const dif_config *cfg, dif_error *err) {
  dif_clip_text *m = model;
  const char *cls = NULL;
  dif_config_str_opt(cfg, "_class_name", NULL, &cls, NULL);
  const char *arch[4];
  int n_arch = 0;
  if (!cls && dif_config_has(cfg, "architectures") &&
      !dif_config_str_list(cfg, "architectures", arch, 4, &n_arch, NULL) && n_arch > 0)
    cls = arch[0];
  if (cls && strcmp(cls, "CLIPTextModel") != 0 && strcmp(cls, "CLIPTextModelWithProjection") != 0)
    return dif_fail(err, DIF_ERR_UNSUPPORTED,
                    "%s: architecture %s is not a CLIP text model (CLIPTextModel, "
                    "CLIPTextModelWithProjection)",
                    dif_config_path(cfg), cls);
  const bool with_proj = cls && strcmp(cls, "CLIPTextModelWithProjection") == 0;
  dif_status s;
  if ((s = dif_config_int(cfg, "vocab_size", &m->vocab, err)) ||
      (s = dif_config_int_opt(cfg, "max_position_embeddings", 77, &m->max_positions, err)) ||
      (s = dif_config_int_opt(cfg, "eos_token_id", 2, &m->eos_token_id, err)) ||
      (s = dif_config_int_opt(cfg, "projection_dim", 512, &m->projection_dim, err)))
    return s;
  if (m->vocab <= 0 || m->vocab > 1 << 24 || m->max_positions <= 0 || m->max_positions > 4096)
    return dif_fail(err, DIF_ERR_BAD_MODEL,
                    "%s: vocab_size %lld / max_position_embeddings %lld out of range",
                    dif_config_path(cfg), (long long)m->vocab, (long long)m->max_positions);
  if (!with_proj) m->projection_dim = 0;
  if (with_proj && (m->projection_dim <= 0 || m->projection_dim > 65536))
    return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: projection_dim %lld out of range",
                    dif_config_path(cfg), (long long)m->projection_dim);
  return DIF_OK;
}

static dif_status build(void *model, const dif_config *cfg, dif_wloader *wl) {
  dif_clip_text *m = model;
  dif_status s = dif_clip_encoder_load(&m->enc, cfg, wl, "text_model.", wl->err);
  if (s) return s;
  const int64_t C = m->enc.hidden;
  m->tok_emb = DIF_WT2(wl, m->vocab, C, "text_model.embeddings.token_embedding.weight");
  m->pos_emb = DIF_W2(wl, m->max_positions, C, "text_model.embeddings.position_embedding.weight");
  m->final_ln_w = DIF_W1(wl, C, "text_model.final_layer_norm.weight");
  m->final_ln_b = DIF_W1(wl, C, "text_model.final_layer_norm.bias");
  if (m->projection_dim) m->proj = DIF_WT2(wl, m->projection_dim, C, "text_projection.weight");
  return wl->status;
}

static void free_model(void *model) { dif_clip_text_free(model); }

static const dif_model_loader loader = {classes, read_config, build, free_model};

dif_status dif_clip_text_load(const char *dir, dif_clip_text *m, dif_error *err) {
  memset(m, 0, sizeof *m);
  return dif_model_load(dir, &loader, m, &m->weights, err);
}

void dif_clip_text_free(dif_clip_text *m) {
  if (!m) return;
  dif_st_close(m->weights);
  memset(m, 0, sizeof *m);
}

static int64_t pooled_position(const dif_clip_text *m, const int32_t *ids, int64_t T) {
  int64_t pos = 0;
  if (m->eos_token_id == 2) { /* legacy rule: the first maximum id */
    for (int64_t t = 1; t < T; t++)
      if (ids[t] > ids[pos]) pos = t;
    return pos;
  }
  for (int64_t t = 0; t < T; t++)
    if (ids[t] == m->eos_token_id) return t;
  return 0;
}

dif_status dif_clip_text_forward(const dif_clip_text *m, const dif_kctx *k, const int32_t *ids,
                                 int64_t B, int64_t T, const int32_t *mask, int n_layers,
                                 dif_clip_text_out *out, dif_error *err) {
  int64_t C = m->enc.hidden;
  if (B < 1 || T < 1 || T > m->max_positions)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "CLIP text encoder: %lld tokens (must be 1..%lld), batch %lld", (long long)T,
                    (long long)m->max_positions, (long long)B);
  if (n_layers == 0) n_layers = m->enc.n_layers;
  if (n_layers < 1 || n_layers > m->enc.n_layers)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "CLIP text encoder: %d layers requested (has %d)", n_layers, m->enc.n_layers);
  for (int64_t i = 0; i < B * T; i++)
    if (ids[i] < 0 || ids[i] >= m->vocab)
      return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                      "CLIP text encoder: token id %d at position %lld is outside the vocabulary "
                      "(%lld)",
                      ids[i], (long long)i, (long long)m->vocab);
  dif_arena_mark mark = dif_arena_get_mark(k->arena);
  float *h = dif_arena_floats(k->arena, (size_t)(B * T * C), err);
  if (!h) return DIF_ERR_OUT_OF_MEMORY;
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < T; t++) {
      float *row = h + (b * T + t) * C;
      const float *pe = m->pos_emb + t * C;
      /* the token's row of the table, in float32 (the table keeps its dtype) */
      dif_weight_tile_f32(NULL, m->tok_emb, C, ids[b * T + t], 1, 0, C, row);
      for (int64_t c = 0; c < C; c++) row[c] += pe[c];
    }
  dif_status s =
      dif_clip_encoder_forward(&m->enc, k, h, B, T, true, mask, n_layers, out->states, err);
  if (!s) {
    dif_layer_norm(k, h, B * T, C, m->enc.eps, m->final_ln_w, m->final_ln_b, h);
    if (out->last_hidden) memcpy(out->last_hidden, h, (size_t)(B * T * C) * sizeof *h);
    float *pooled = out->pooled;
    if (!pooled && out->text_embeds) pooled = dif_arena_floats(k->arena, (size_t)(B * C), err);
    if (pooled) {
      for (int64_t b = 0; b < B; b++)
        memcpy(pooled + b * C, h + (b * T + pooled_position(m, ids + b * T, T)) * C,
               (size_t)C * sizeof *h);
      /* The projection head in float32 on both paths: B rows, nothing for
       * bf16 to speed up, and its rounding would land on the embedding the
       * prior and the decoder are conditioned on (docs/fidelity.md). */
      const dif_kctx exact = {k->pool, k->arena, NULL};
      if (out->text_embeds && m->proj.data)
        dif_linear(&exact, pooled, B, C, m->proj, NULL, m->projection_dim, out->text_embeds);
    } else if (out->text_embeds) {
      s = DIF_ERR_OUT_OF_MEMORY;
    }
  }
  dif_arena_release(k->arena, mark);
  return s;
}
