/* clip_text.c — CLIP text encoder forward pass (see clip_text.h). */
#include "models/clip_text.h"

#include <stdlib.h>
#include <string.h>

#include "models/loader.h"

static const char *const classes[] = {"CLIPTextModel", "CLIPTextModelWithProjection", NULL};

/* The class (CLIPTextModel or ...WithProjection; transformers names it in
 * "architectures", diffusers-written configs may use "_class_name") and the
 * sizes; projection_dim is 0 without a projection. */
static dif_status read_config(void *model, const dif__config *cfg, dif__error *err) {
  dif__clip_text *m = model;
  const char *cls = NULL;
  dif__config_str_opt(cfg, "_class_name", NULL, &cls, NULL);
  const char *arch[4];
  int n_arch = 0;
  if (!cls && dif__config_has(cfg, "architectures") &&
      !dif__config_str_list(cfg, "architectures", arch, 4, &n_arch, NULL) && n_arch > 0)
    cls = arch[0];
  if (cls && strcmp(cls, "CLIPTextModel") != 0 && strcmp(cls, "CLIPTextModelWithProjection") != 0)
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "%s: architecture %s is not a CLIP text model (CLIPTextModel, "
                     "CLIPTextModelWithProjection)",
                     dif__config_path(cfg), cls);
  const bool with_proj = cls && strcmp(cls, "CLIPTextModelWithProjection") == 0;
  dif_status s;
  if ((s = dif__config_int(cfg, "vocab_size", &m->vocab, err)) ||
      (s = dif__config_int_opt(cfg, "max_position_embeddings", 77, &m->max_positions, err)) ||
      (s = dif__config_int_opt(cfg, "eos_token_id", 2, &m->eos_token_id, err)) ||
      (s = dif__config_int_opt(cfg, "projection_dim", 512, &m->projection_dim, err)))
    return s;
  if (m->vocab <= 0 || m->vocab > 1 << 24 || m->max_positions <= 0 || m->max_positions > 4096)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: vocab_size %lld / max_position_embeddings %lld out of range",
                     dif__config_path(cfg), (long long)m->vocab, (long long)m->max_positions);
  if (!with_proj) m->projection_dim = 0;
  if (with_proj && (m->projection_dim <= 0 || m->projection_dim > 65536))
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: projection_dim %lld out of range",
                     dif__config_path(cfg), (long long)m->projection_dim);
  return DIF_OK;
}

static dif_status build(void *model, const dif__config *cfg, dif__wloader *wl) {
  dif__clip_text *m = model;
  dif_status s = dif__clip_encoder_load(&m->enc, cfg, wl, "text_model.", wl->err);
  if (s) return s;
  const int64_t C = m->enc.hidden;
  m->tok_emb = DIF__WT2(wl, m->vocab, C, "text_model.embeddings.token_embedding.weight");
  m->pos_emb = DIF__W2(wl, m->max_positions, C, "text_model.embeddings.position_embedding.weight");
  m->final_ln_w = DIF__W1(wl, C, "text_model.final_layer_norm.weight");
  m->final_ln_b = DIF__W1(wl, C, "text_model.final_layer_norm.bias");
  if (m->projection_dim) m->proj = DIF__WT2(wl, m->projection_dim, C, "text_projection.weight");
  return wl->status;
}

static void free_model(void *model) { dif__clip_text_free(model); }

static const dif__model_loader loader = {classes, read_config, build, free_model};

dif_status dif__clip_text_load(const char *dir, dif__clip_text *m, dif__error *err) {
  memset(m, 0, sizeof *m);
  return dif__model_load(dir, &loader, m, &m->weights, err);
}

dif_status dif__clip_text_add_rows(dif__clip_text *m, int64_t first, const float *rows, int64_t n,
                                   dif__error *err) {
  const int64_t C = m->enc.hidden;
  if (n < 1 || first < 0 || first + n > (1 << 24) ||
      (m->n_extra && first != m->extra_first + m->n_extra))
    return dif__fail(err, DIF_ERR_INTERNAL,
                     "CLIP text encoder: %lld added rows at id %lld do not follow the %lld added "
                     "at %lld",
                     (long long)n, (long long)first, (long long)m->n_extra,
                     (long long)m->extra_first);
  size_t bytes = (size_t)((m->n_extra + n) * C) * sizeof(float);
  float *grown = realloc(m->extra, bytes);
  if (!grown) return dif__fail_oom(err, "added token embeddings", bytes);
  memcpy(grown + m->n_extra * C, rows, (size_t)(n * C) * sizeof *rows);
  if (!m->n_extra) m->extra_first = first;
  m->extra = grown;
  m->n_extra += n;
  return DIF_OK;
}

int64_t dif__clip_text_vocab(const dif__clip_text *m) {
  int64_t end = m->extra_first + m->n_extra;
  return m->n_extra && end > m->vocab ? end : m->vocab;
}

void dif__clip_text_free(dif__clip_text *m) {
  if (!m) return;
  free(m->extra);
  dif__st_close(m->weights);
  memset(m, 0, sizeof *m);
}

static int64_t pooled_position(const dif__clip_text *m, const int32_t *ids, int64_t T) {
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

dif_status dif__clip_text_forward(const dif__clip_text *m, const dif__kctx *k, const int32_t *ids,
                                  int64_t B, int64_t T, const int32_t *mask, int n_layers,
                                  dif__clip_text_out *out, dif__error *err) {
  int64_t C = m->enc.hidden;
  if (B < 1 || T < 1 || T > m->max_positions)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "CLIP text encoder: %lld tokens (must be 1..%lld), batch %lld", (long long)T,
                     (long long)m->max_positions, (long long)B);
  if (n_layers == 0) n_layers = m->enc.n_layers;
  if (n_layers < 1 || n_layers > m->enc.n_layers)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "CLIP text encoder: %d layers requested (has %d)", n_layers, m->enc.n_layers);
  for (int64_t i = 0; i < B * T; i++)
    if (ids[i] < 0 || ids[i] >= dif__clip_text_vocab(m) ||
        (ids[i] >= m->vocab && ids[i] < m->extra_first))
      return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                       "CLIP text encoder: token id %d at position %lld is outside the vocabulary "
                       "(%lld)",
                       ids[i], (long long)i, (long long)dif__clip_text_vocab(m));
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  float *h = dif__arena_floats(k->arena, (size_t)(B * T * C), err);
  if (!h) return DIF_ERR_OUT_OF_MEMORY;
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < T; t++) {
      float *row = h + (b * T + t) * C;
      const float *pe = m->pos_emb + t * C;
      /* the token's row of the table, in float32 (the table keeps its dtype) */
      int64_t id = ids[b * T + t];
      if (m->n_extra && id >= m->extra_first && id < m->extra_first + m->n_extra)
        memcpy(row, m->extra + (id - m->extra_first) * C, (size_t)C * sizeof *row);
      else
        dif__weight_tile_f32(NULL, m->tok_emb, C, id, 1, 0, C, row);
      for (int64_t c = 0; c < C; c++) row[c] += pe[c];
    }
  dif_status s =
      dif__clip_encoder_forward(&m->enc, k, h, B, T, true, mask, n_layers, out->states, err);
  if (!s) {
    dif__layer_norm(k, h, B * T, C, m->enc.eps, m->final_ln_w, m->final_ln_b, h);
    if (out->last_hidden) memcpy(out->last_hidden, h, (size_t)(B * T * C) * sizeof *h);
    float *pooled = out->pooled;
    if (!pooled && out->text_embeds) pooled = dif__arena_floats(k->arena, (size_t)(B * C), err);
    if (pooled) {
      for (int64_t b = 0; b < B; b++)
        memcpy(pooled + b * C, h + (b * T + pooled_position(m, ids + b * T, T)) * C,
               (size_t)C * sizeof *h);
      /* The projection head in float32 on both paths: B rows, nothing for
       * bf16 to speed up, and its rounding would land on the embedding the
       * prior and the decoder are conditioned on (docs/fidelity.md). */
      const dif__kctx exact = {k->pool, k->arena, NULL, NULL, 0, 0, false, 0, 0};
      if (out->text_embeds && m->proj.data)
        dif__linear(&exact, pooled, B, C, m->proj, NULL, m->projection_dim, out->text_embeds);
    } else if (out->text_embeds) {
      s = DIF_ERR_OUT_OF_MEMORY;
    }
  }
  dif__arena_release(k->arena, mark);
  return s;
}
