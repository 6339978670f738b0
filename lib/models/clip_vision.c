/* clip_vision.c — CLIP vision encoder forward pass (see clip_vision.h). */
#include "models/clip_vision.h"

#include <string.h>

#include "models/loader.h"

static const char *const classes[] = {"CLIPVisionModelWithProjection", NULL};

static dif_status read_config(void *model, const dif__config *cfg, dif__error *err) {
  dif__clip_vision *m = model;
  dif_status s;
  if ((s = dif__config_int(cfg, "image_size", &m->image_size, err)) ||
      (s = dif__config_int(cfg, "patch_size", &m->patch_size, err)) ||
      (s = dif__config_int_opt(cfg, "num_channels", 3, &m->channels, err)) ||
      (s = dif__config_int_opt(cfg, "projection_dim", 512, &m->projection_dim, err)))
    return s;
  if (m->patch_size <= 0 || m->image_size <= 0 || m->image_size > 4096 ||
      m->image_size % m->patch_size || m->channels <= 0 || m->channels > 4 ||
      m->projection_dim <= 0 || m->projection_dim > 65536)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: image_size %lld / patch_size %lld / num_channels %lld / projection_dim "
                     "%lld are not a valid combination",
                     dif__config_path(cfg), (long long)m->image_size, (long long)m->patch_size,
                     (long long)m->channels, (long long)m->projection_dim);
  const int64_t g = m->image_size / m->patch_size;
  m->tokens = g * g + 1;
  return DIF_OK;
}

static dif_status build(void *model, const dif__config *cfg, dif__wloader *wl) {
  dif__clip_vision *m = model;
  dif_status s = dif__clip_encoder_load(&m->enc, cfg, wl, "vision_model.", wl->err);
  if (s) return s;
  const int64_t C = m->enc.hidden, p = m->patch_size;
  m->class_emb = DIF__W1(wl, C, "vision_model.embeddings.class_embedding");
  m->patch_w = DIF__WT4(wl, C, m->channels, p, p, "vision_model.embeddings.patch_embedding.weight");
  m->pos_emb = DIF__W2(wl, m->tokens, C, "vision_model.embeddings.position_embedding.weight");
  m->pre_ln_w = DIF__W1(wl, C, "vision_model.pre_layrnorm.weight");
  m->pre_ln_b = DIF__W1(wl, C, "vision_model.pre_layrnorm.bias");
  m->post_ln_w = DIF__W1(wl, C, "vision_model.post_layernorm.weight");
  m->post_ln_b = DIF__W1(wl, C, "vision_model.post_layernorm.bias");
  m->proj = DIF__WT2(wl, m->projection_dim, C, "visual_projection.weight");
  return wl->status;
}

static void free_model(void *model) { dif__clip_vision_free(model); }

static const dif__model_loader loader = {classes, read_config, build, free_model};

dif_status dif__clip_vision_load(const char *dir, dif__clip_vision *m, dif__error *err) {
  memset(m, 0, sizeof *m);
  return dif__model_load(dir, &loader, m, &m->weights, err);
}

void dif__clip_vision_free(dif__clip_vision *m) {
  if (!m) return;
  dif__st_close(m->weights);
  memset(m, 0, sizeof *m);
}

dif_status dif__clip_vision_forward(const dif__clip_vision *m, const dif__kctx *k,
                                    const float *pixels, int64_t B, dif__clip_vision_out *out,
                                    dif__error *err) {
  int64_t C = m->enc.hidden, T = m->tokens, P = T - 1, S = m->image_size, p = m->patch_size;
  if (B < 1)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "CLIP vision encoder: batch %lld",
                     (long long)B);
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  float *h = dif__arena_floats(k->arena, (size_t)(B * T * C), err);
  float *patches = dif__arena_floats(k->arena, (size_t)(C * P), err);
  float *pooled = dif__arena_floats(k->arena, (size_t)(B * C), err);
  dif_status s = (!h || !patches || !pooled) ? DIF_ERR_OUT_OF_MEMORY : DIF_OK;
  dif__conv2d_params cp = {.cin = m->channels, .cout = C, .kh = p, .kw = p, .stride = p};
  for (int64_t b = 0; b < B && !s; b++) {
    /* patches[C, P] (NCHW with H·W = P), transposed into tokens 1..P */
    s = dif__conv2d(k, &cp, pixels + b * m->channels * S * S, 1, S, S, m->patch_w, NULL, patches,
                    err);
    float *hb = h + b * T * C;
    for (int64_t c = 0; c < C; c++) hb[c] = m->class_emb[c] + m->pos_emb[c];
    for (int64_t t = 0; t < P; t++)
      for (int64_t c = 0; c < C; c++)
        hb[(t + 1) * C + c] = patches[c * P + t] + m->pos_emb[(t + 1) * C + c];
  }
  if (!s) {
    dif__layer_norm(k, h, B * T, C, m->enc.eps, m->pre_ln_w, m->pre_ln_b, h);
    s = dif__clip_encoder_forward(&m->enc, k, h, B, T, false, NULL, m->enc.n_layers, out->states,
                                  err);
  }
  if (!s) {
    if (out->last_hidden) memcpy(out->last_hidden, h, (size_t)(B * T * C) * sizeof *h);
    for (int64_t b = 0; b < B; b++)
      dif__layer_norm(k, h + b * T * C, 1, C, m->enc.eps, m->post_ln_w, m->post_ln_b,
                      pooled + b * C);
    if (out->pooled) memcpy(out->pooled, pooled, (size_t)(B * C) * sizeof *pooled);
    /* the projection head in float32 on both paths, as CLIP text's */
    const dif__kctx exact = {k->pool, k->arena, NULL, NULL, 0, 0, false, 0, 0};
    if (out->image_embeds)
      dif__linear(&exact, pooled, B, C, m->proj, NULL, m->projection_dim, out->image_embeds);
  }
  dif__arena_release(k->arena, mark);
  return s;
}
