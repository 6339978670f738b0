/* conditioning.c — what conditions the decoder, in diffusers' order: for
 * unCLIP the prompt's image embedding (priors first: they draw, then image
 * parts through CLIP, combined by weight), the decoder's text, and the
 * noise-augmented class labels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/gen.h"

/* ---- text ---- */

/* Tokenizes text (padded to the encoder's 77 positions) and runs the text
 * encoder without the attention mask, as the pipelines do. */
dif_status gen_encode_text(gen *g, const dif__clip_tokenizer *tok, const dif__clip_text *te,
                           const char *text, const char *name, int *calls, float *hidden,
                           float *embeds, int32_t *mask) {
  int64_t T = te->max_positions, C = te->enc.hidden;
  int32_t *ids = gen_ints(g, T, "token ids"), *msk = gen_ints(g, T, "token mask");
  float *pooled = gen_floats(g, C, "pooled text");
  dif_status s = (!ids || !msk || !pooled) ? DIF_ERR_OUT_OF_MEMORY : DIF_OK;
  /* maybe_convert_prompt: multi-vector textual-inversion tokens (a no-op
   * without them, so also for the prior's tokenizer, which has none) */
  char *converted = NULL;
  if (!s) s = dif__clip_convert_prompt(tok, text, strlen(text), &converted, g->err);
  if (converted) text = converted;
  if (!s) s = dif__clip_tokenize(tok, text, strlen(text), ids, msk, NULL, g->err);
  if (!s) {
    dif__clip_text_out out = {hidden, pooled, embeds, NULL};
    s = dif__clip_text_forward(te, g->k, ids, 1, T, NULL, 0, &out, g->err);
  }
  if (!s)
    s = gen_check_finite(g, hidden, T * C,
                         "the text encoder (%s) produced non-finite hidden states", name);
  if (!s && embeds)
    s = gen_check_finite(g, embeds, te->projection_dim,
                         "the text encoder (%s) produced a non-finite text embedding", name);
  if (!s) {
    char key[96];
    snprintf(key, sizeof key, "%s.call%d.input_ids", name, *calls);
    gen_trace_ints(g, ids, T, key);
    gen_trace(g, hidden, T * C, "%s.call%d.last_hidden_state", name, *calls);
    if (embeds)
      gen_trace(g, embeds, te->projection_dim, "%s.call%d.text_embeds", name, *calls);
    else
      gen_trace(g, pooled, C, "%s.call%d.pooler_output", name, *calls);
    if (mask) memcpy(mask, msk, (size_t)T * sizeof *msk);
  }
  (*calls)++;
  free(converted);
  free(ids);
  free(msk);
  free(pooled);
  return s;
}

/* ---- reference images: RGB8 → CLIP image embedding [D] ---- */

static dif_status encode_image(gen *g, const dif__image *img, float *out) {
  const dif__models *m = g->m;
  int64_t S = m->image_encoder.image_size, n = m->image_encoder.channels * S * S;
  float *px = gen_floats(g, n, "image prompt pixels");
  if (!px) return DIF_ERR_OUT_OF_MEMORY;
  int pw = 0, ph = 0;
  dif_status s =
      dif__clip_preprocess_image(&m->feature_extractor, img, px, (size_t)n, &pw, &ph, g->err);
  if (!s && (pw != S || ph != S))
    s = dif__fail(g->err, DIF_ERR_BAD_MODEL,
                  "feature_extractor makes %dx%d pixels but the image encoder takes %lldx%lld", pw,
                  ph, (long long)S, (long long)S);
  if (!s) {
    dif__clip_vision_out o = {NULL, NULL, out, NULL};
    s = dif__clip_vision_forward(&m->image_encoder, g->k, px, 1, &o, g->err);
  }
  if (!s)
    s = gen_check_finite(g, out, m->image_encoder.projection_dim,
                         "the image encoder (image_encoder) produced a non-finite image embedding");
  if (!s) {
    gen_trace(g, px, n, "image_encoder.call%d.pixel_values", g->image_calls);
    gen_trace(g, out, m->image_encoder.projection_dim, "image_encoder.call%d.image_embeds",
              g->image_calls);
  }
  g->image_calls++;
  free(px);
  return s;
}

/* The decoder's positive text: the text parts with positive weight, joined. */
static char *positive_text(gen *g) {
  size_t len = 1;
  for (int i = 0; i < g->r->n_parts; i++)
    if (g->r->parts[i].kind == DIF__PART_TEXT && g->r->parts[i].weight > 0)
      len += strlen(g->r->parts[i].text) + 2;
  char *t = malloc(len);
  if (!t) {
    dif__fail_oom(g->err, "prompt text", len);
    return NULL;
  }
  t[0] = '\0';
  for (int i = 0; i < g->r->n_parts; i++) {
    const dif__part *p = &g->r->parts[i];
    if (p->kind != DIF__PART_TEXT || !(p->weight > 0)) continue;
    if (t[0]) strcat(t, ", ");
    strcat(t, p->text);
  }
  return t;
}

/* unCLIP: the image embedding of the prompt [B, D], from priors and images. */
static dif_status image_embedding(gen *g, float *out) {
  const dif__models *m = g->m;
  const dif__request *r = g->r;
  int64_t B = r->batch, D = m->unet.class_in / 2;
  int n_img = 0, n_txt = 0;
  for (int i = 0; i < r->n_parts; i++) {
    if (r->parts[i].kind == DIF__PART_IMAGE)
      n_img++;
    else
      n_txt++;
  }
  /* without a prior (or when asked), text only conditions the decoder */
  bool use_text = m->has_prior && r->text_to_prior;
  if (n_img == 0 && !use_text)
    return dif__fail(g->err, DIF_ERR_UNSUPPORTED,
                     "a text-only prompt on a Stable unCLIP model needs a diffusion prior "
                     "(load one with the model's prior folder, e.g. karlo-v1-alpha)");
  if (n_img && !m->has_image_encoder)
    return dif__fail(g->err, DIF_ERR_UNSUPPORTED,
                     "image prompts need the model's image_encoder and feature_extractor, which "
                     "this folder does not have");
  int n = n_img + (use_text ? n_txt : 0);
  float *parts = gen_floats(g, (int64_t)n * B * D, "prompt embeddings");
  float *w = gen_floats(g, n, "prompt weights"), *rows = gen_floats(g, (int64_t)n * D, "rows");
  dif_status s = (!parts || !w || !rows) ? DIF_ERR_OUT_OF_MEMORY : DIF_OK;
  int j = 0;
  for (int i = 0; i < r->n_parts && !s; i++) { /* priors first: they draw from the generator */
    if (r->parts[i].kind != DIF__PART_TEXT || !use_text) continue;
    w[j] = r->parts[i].weight;
    s = gen_run_prior(g, r->parts[i].text, parts + (int64_t)j++ * B * D);
  }
  for (int i = 0; i < r->n_parts && !s; i++) {
    if (r->parts[i].kind != DIF__PART_IMAGE) continue;
    w[j] = r->parts[i].weight;
    float *dst = parts + (int64_t)j++ * B * D;
    s = encode_image(g, r->parts[i].image, dst);
    for (int64_t b = 1; b < B && !s; b++) memcpy(dst + b * D, dst, (size_t)D * sizeof *dst);
  }
  for (int64_t b = 0; b < B && !s; b++) {
    for (int i = 0; i < n; i++)
      memcpy(rows + (int64_t)i * D, parts + ((int64_t)i * B + b) * D, (size_t)D * sizeof *rows);
    s = dif__embeds_combine(r->blend, rows, w, n, D, out + b * D, g->err);
    if (!s)
      s = gen_check_finite(g, out + b * D, D,
                           "combining the prompt's %d embeddings by weight gave non-finite values",
                           n);
  }
  free(parts);
  free(w);
  free(rows);
  return s;
}

/* The decoder's text conditioning, context[NB, T, C]: [negative × B,
 * positive × B] with guidance, [positive × B] without. */
static dif_status decoder_context(gen *g, float *context) {
  const dif__models *m = g->m;
  const dif__request *r = g->r;
  bool cfg = gen_cfg(g);
  int64_t B = r->batch, NB = cfg ? 2 * B : B, T = m->text_encoder.max_positions,
          C = m->text_encoder.enc.hidden;
  char *text = positive_text(g);
  float *hid = gen_floats(g, 2 * T * C, "text hidden states");
  dif_status s = (!text || !hid) ? DIF_ERR_OUT_OF_MEMORY : DIF_OK;
  if (!s)
    s = gen_encode_text(g, m->tokenizer, &m->text_encoder, text, "text_encoder", &g->text_calls,
                        hid + T * C, NULL, NULL);
  if (!s && cfg)
    s = gen_encode_text(g, m->tokenizer, &m->text_encoder, r->negative ? r->negative : "",
                        "text_encoder", &g->text_calls, hid, NULL, NULL);
  if (!s) {
    for (int64_t b = 0; b < NB; b++)
      memcpy(context + b * T * C, hid + ((!cfg || b >= B) ? T * C : 0),
             (size_t)(T * C) * sizeof *hid);
    gen_trace(g, context, NB * T * C, "unet.encoder_hidden_states");
  }
  free(text);
  free(hid);
  return s;
}

/* unCLIP: the image embedding [B, D] through the image normalizer and noise
 * augmentation, as class labels[NB, 2D]: [zeros × B, augmented × B] with
 * guidance, [augmented × B] without. */
static dif_status unclip_class_labels(gen *g, const float *embeds, float *labels) {
  const dif__models *m = g->m;
  const dif__request *r = g->r;
  bool cfg = gen_cfg(g);
  int64_t B = r->batch, NB = cfg ? 2 * B : B, D = m->unet.class_in / 2;
  float *noise = gen_floats(g, B * D, "embedding noise");
  if (!noise) return DIF_ERR_OUT_OF_MEMORY;
  memset(labels, 0, (size_t)(NB * 2 * D) * sizeof *labels);
  float *cond = labels + (cfg ? B * 2 * D : 0);
  dif_status s = gen_draw(g, noise, B, D);
  if (!s)
    s = dif__noise_image_embeddings(&m->normalizer, m->noising, embeds, noise, B, r->noise_level,
                                    cond, g->err);
  if (!s)
    s = gen_check_finite(
        g, cond, B * 2 * D,
        "the image normalizer and noise augmentation (image_normalizer, "
        "image_noising_scheduler, noise level %d) produced non-finite class labels",
        r->noise_level);
  if (!s) gen_trace(g, labels, NB * 2 * D, "unet.class_labels");
  free(noise);
  return s;
}

/* The initial latents [B, L, h, w]: img2img's noised init image, or noise. */

dif_status gen_condition(gen *g) {
  const dif__models *m = g->m;
  int64_t B = g->r->batch, T = m->text_encoder.max_positions, C = m->text_encoder.enc.hidden;
  int64_t D = m->unet.class_in / 2, NB = gen_cfg(g) ? 2 * B : B;
  dif_status s = DIF_OK;
  /* 1. unCLIP: the prompt's image embedding (priors first: they draw) */
  if (m->family == DIF__FAMILY_UNCLIP) {
    g->embeds = gen_floats(g, B * D, "image embedding");
    s = g->embeds ? image_embedding(g, g->embeds) : DIF_ERR_OUT_OF_MEMORY;
  }
  /* 2. the decoder's text conditioning */
  if (!s) {
    g->context = gen_floats(g, NB * T * C, "UNet context");
    s = g->context ? decoder_context(g, g->context) : DIF_ERR_OUT_OF_MEMORY;
  }
  /* 3. unCLIP: noise augmentation and class labels */
  if (!s && m->family == DIF__FAMILY_UNCLIP) {
    g->labels = gen_floats(g, NB * 2 * D, "class labels");
    s = g->labels ? unclip_class_labels(g, g->embeds, g->labels) : DIF_ERR_OUT_OF_MEMORY;
  }
  /* 4. a latent consistency model: the guidance scale as an embedding */
  if (!s && m->unet.time_cond_dim) s = gen_guidance_embedding(g);
  return s;
}
