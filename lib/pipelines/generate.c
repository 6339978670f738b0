/* generate.c — one generation from prompt parts to pixels (see generate.h).
 *
 * Read top-down: dif_generate → conditioning (priors, text, image parts) →
 * initial latents → the denoising loop → decoding. Every buffer a generation
 * keeps is allocated once here; the networks take their scratch from the
 * kernel context's arena. */
#include "pipelines/generate.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gen {
  const dif_models *m;
  const dif_kctx *k;
  const dif_request *r;
  dif_error *err;
  dif_rng rng;
  dif_rng *gens[1];
  int draws, text_calls, prior_text_calls, image_calls;
  int step, total;
} gen;

static void trace(gen *g, const float *x, int64_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void trace(gen *g, const float *x, int64_t n, const char *fmt, ...) {
  if (!g->r->trace) return;
  char name[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  g->r->trace(g->r->trace_user, name, x, n);
}

static void trace_ints(gen *g, const int32_t *x, int64_t n, const char *name) {
  if (!g->r->trace) return;
  float *f = malloc((size_t)n * sizeof *f);
  if (!f) return;
  for (int64_t i = 0; i < n; i++) f[i] = (float)x[i];
  g->r->trace(g->r->trace_user, name, f, n);
  free(f);
}

static dif_status cancelled(gen *g) {
  if (g->r->cancel && atomic_load(g->r->cancel))
    return dif_fail(g->err, DIF_ERR_CANCELLED, "cancelled after %d of %d steps", g->step, g->total);
  return DIF_OK;
}

/* After each denoising step: progress, and the callback's chance to cancel. */
static dif_status stepped(gen *g) {
  g->step++;
  if (g->r->on_step && g->r->on_step(g->r->step_user, g->step, g->total)) {
    if (g->r->cancel) atomic_store(g->r->cancel, 1);
    return dif_fail(g->err, DIF_ERR_CANCELLED,
                    "cancelled by the progress callback at step %d of %d", g->step, g->total);
  }
  return DIF_OK;
}

/* randn_tensor((batch, item), generator) — every draw of the run, in order. */
static dif_status draw(gen *g, float *out, int64_t batch, int64_t item) {
  dif_status s = dif_randn_tensor(g->gens, 1, batch, item, out, g->err);
  if (!s) trace(g, out, batch * item, "randn.draw%d", g->draws);
  g->draws++;
  return s;
}

/* A stochastic scheduler step draws from the same generator: count and
 * trace its draw like ours. */
static void step_drew(gen *g, const dif_step_args *a) {
  if (!a->drew_noise) return;
  if (a->noise_out) trace(g, a->noise_out, a->n, "randn.draw%d", g->draws);
  g->draws++;
}

/* ---- finiteness ----
 *
 * A NaN or an infinity anywhere (broken weights, a hostile config, an
 * overflowing guidance) spreads to every later value and would end as a black
 * picture, through a float-to-integer cast of NaN that C leaves undefined.
 * Each network's output and the latents after each step are scanned instead
 * (a pass over a buffer is negligible next to the network that filled it),
 * and the first non-finite value ends the run with DIF_ERR_NON_FINITE naming
 * the component and the step.
 *
 * Weights are not scanned at load. A scan is one more pass over every
 * weight (measured: about 0.1 s per 400 MB of float32 already in memory on
 * the development machine, so about 1 s more per load of a 4 GB model, for
 * every user, for a fault a broken file rarely has), while a NaN or infinite
 * weight shows in the output of the network that holds it on its first
 * call, which these checks catch and name (tests/unit/test-api-numbers.c
 * poisons a tensor of each component). */
static dif_status check_finite(gen *g, const float *x, int64_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static dif_status check_finite(gen *g, const float *x, int64_t n, const char *fmt, ...) {
  int64_t i = dif_first_nonfinite(x, n);
  if (i < 0) return DIF_OK;
  char what[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return dif_fail(g->err, DIF_ERR_NON_FINITE, "%s (%s at value %lld of %lld)", what,
                  isnan(x[i]) ? "NaN" : "infinity", (long long)i, (long long)n);
}

/* n items of size bytes, or NULL with g->err naming what and its size. */
static void *alloc_items(gen *g, int64_t n, size_t size, const char *what) {
  void *p = malloc((size_t)(n > 0 ? n : 1) * size);
  if (!p) dif_fail_oom(g->err, what, (size_t)n * size);
  return p;
}

static float *alloc_floats(gen *g, int64_t n, const char *what) {
  return alloc_items(g, n, sizeof(float), what);
}

static int32_t *alloc_ints(gen *g, int64_t n, const char *what) {
  return alloc_items(g, n, sizeof(int32_t), what);
}

/* ---- text ---- */

/* Tokenizes text (padded to the encoder's 77 positions) and runs the text
 * encoder without the attention mask, as the pipelines do. */
static dif_status encode_text(gen *g, const dif_clip_tokenizer *tok, const dif_clip_text *te,
                              const char *text, const char *name, int *calls, float *hidden,
                              float *embeds, int32_t *mask) {
  int64_t T = te->max_positions, C = te->enc.hidden;
  int32_t *ids = alloc_ints(g, T, "token ids"), *msk = alloc_ints(g, T, "token mask");
  float *pooled = alloc_floats(g, C, "pooled text");
  dif_status s = (!ids || !msk || !pooled) ? DIF_ERR_OUT_OF_MEMORY : DIF_OK;
  if (!s) s = dif_clip_tokenize(tok, text, strlen(text), ids, msk, NULL, g->err);
  if (!s) {
    dif_clip_text_out out = {hidden, pooled, embeds, NULL};
    s = dif_clip_text_forward(te, g->k, ids, 1, T, NULL, 0, &out, g->err);
  }
  if (!s)
    s = check_finite(g, hidden, T * C, "the text encoder (%s) produced non-finite hidden states",
                     name);
  if (!s && embeds)
    s = check_finite(g, embeds, te->projection_dim,
                     "the text encoder (%s) produced a non-finite text embedding", name);
  if (!s) {
    char key[96];
    snprintf(key, sizeof key, "%s.call%d.input_ids", name, *calls);
    trace_ints(g, ids, T, key);
    trace(g, hidden, T * C, "%s.call%d.last_hidden_state", name, *calls);
    if (embeds)
      trace(g, embeds, te->projection_dim, "%s.call%d.text_embeds", name, *calls);
    else
      trace(g, pooled, C, "%s.call%d.pooler_output", name, *calls);
    if (mask) memcpy(mask, msk, (size_t)T * sizeof *msk);
  }
  (*calls)++;
  free(ids);
  free(msk);
  free(pooled);
  return s;
}

/* out[rows, n] = u + g · (c - u) in float32, as PyTorch computes CFG. */
static void guide(const float *u, const float *c, float scale, int64_t n, float *out) {
  for (int64_t i = 0; i < n; i++) out[i] = u[i] + scale * (c[i] - u[i]);
}

/* ---- the prior: text → image embedding [B, D] ---- */

/* One prior run's sizes and buffers. Batch order [uncond × B, cond × B]
 * with guidance (NB = 2B), [cond × B] without (NB = B). */
typedef struct prior_run {
  int64_t B, NB, D, T, C, P;
  bool cfg;
  float *hid, *emb;    /* [uncond, cond] text: hidden states [2, T, C], embeds [2, P] */
  int32_t *mask;       /* [2, T] */
  float *proj, *enc;   /* the prior's text inputs per batch item: [NB, P], [NB, T, C] */
  int32_t *amask;      /* [NB, T] */
  float *lat, *x_in;   /* latents [B, D], the model input [NB, D] */
  float *pred, *drawn; /* model output [NB, D], a stochastic step's noise [B, D] */
  dif_scheduler *sch;
  dif_prior_cache cache; /* the text tokens' keys and values */
} prior_run;

static dif_status prior_alloc(gen *g, prior_run *p) {
  const dif_clip_text *te = &g->m->prior_text_encoder;
  *p = (prior_run){.B = g->r->batch,
                   .D = g->m->prior.embed_dim,
                   .T = te->max_positions,
                   .C = te->enc.hidden,
                   .P = te->projection_dim,
                   .cfg = g->r->prior_guidance > 1.0f};
  int64_t B = p->B, NB = p->NB = p->cfg ? 2 * B : B, D = p->D, T = p->T, C = p->C, P = p->P;
  p->hid = alloc_floats(g, 2 * T * C, "prior text hidden states");
  p->emb = alloc_floats(g, 2 * P, "prior text embeddings");
  p->mask = alloc_ints(g, 2 * T, "prior text mask");
  p->proj = alloc_floats(g, NB * P, "prior text embeddings per item");
  p->enc = alloc_floats(g, NB * T * C, "prior hidden states per item");
  p->amask = alloc_ints(g, NB * T, "prior attention mask");
  p->lat = alloc_floats(g, B * D, "prior latents");
  p->x_in = alloc_floats(g, NB * D, "prior input");
  p->pred = alloc_floats(g, NB * D, "prior output");
  p->drawn = alloc_floats(g, B * D, "prior step noise");
  bool ok = p->hid && p->emb && p->mask && p->proj && p->enc && p->amask && p->lat && p->x_in &&
            p->pred && p->drawn;
  return ok ? DIF_OK : DIF_ERR_OUT_OF_MEMORY;
}

static void prior_free(prior_run *p) {
  dif_scheduler_free(p->sch);
  dif_prior_cache_free(&p->cache);
  free(p->hid);
  free(p->emb);
  free(p->mask);
  free(p->proj);
  free(p->enc);
  free(p->amask);
  free(p->lat);
  free(p->x_in);
  free(p->pred);
  free(p->drawn);
}

/* The text through the prior's text encoder ([cond] then, with guidance, the
 * unconditional "", always empty for the prior), copied per batch item; the
 * scheduler; the text tokens' cache. */
static dif_status prior_condition(gen *g, prior_run *p, const char *text) {
  const dif_models *m = g->m;
  const dif_clip_text *te = &m->prior_text_encoder;
  int64_t B = p->B, NB = p->NB, T = p->T, C = p->C, P = p->P;
  dif_status s = encode_text(g, m->prior_tokenizer, te, text, "prior_text_encoder",
                             &g->prior_text_calls, p->hid + T * C, p->emb + P, p->mask + T);
  if (!s && p->cfg)
    s = encode_text(g, m->prior_tokenizer, te, "", "prior_text_encoder", &g->prior_text_calls,
                    p->hid, p->emb, p->mask);
  if (s) return s;
  for (int64_t b = 0; b < NB; b++) {
    int src = (!p->cfg || b >= B) ? 1 : 0;
    memcpy(p->proj + b * P, p->emb + src * P, (size_t)P * sizeof *p->emb);
    memcpy(p->enc + b * T * C, p->hid + src * T * C, (size_t)(T * C) * sizeof *p->hid);
    memcpy(p->amask + b * T, p->mask + src * T, (size_t)T * sizeof *p->mask);
  }
  trace(g, p->proj, NB * P, "prior.proj_embedding");
  trace(g, p->enc, NB * T * C, "prior.encoder_hidden_states");
  trace_ints(g, p->amask, NB * T, "prior.attention_mask");
  s = dif_scheduler_create(g->r->prior_scheduler ? g->r->prior_scheduler : "DDPMScheduler",
                           m->prior_scheduler_cfg, NULL, &p->sch, g->err);
  /* The text tokens are the same at every step: run them once for each
   * distinct text, hid = [uncond, cond] (item b of the batch uses b / B). */
  int skip = p->cfg ? 0 : 1;
  if (!s)
    s = dif_prior_cache_build(&m->prior, g->k, p->hid + skip * T * C, p->mask + skip * T, 2 - skip,
                              &p->cache, g->err);
  return s;
}

/* Prior step i of n_t: the model with guidance, then the scheduler's step. */
static dif_status prior_step(gen *g, prior_run *p, int i, int n_t) {
  const dif_request *r = g->r;
  int64_t B = p->B, NB = p->NB, D = p->D;
  dif_status s = cancelled(g);
  if (s) return s;
  for (int64_t b = 0; b < NB; b++)
    memcpy(p->x_in + b * D, p->lat + (b % B) * D, (size_t)D * sizeof *p->lat);
  if ((s = dif_scheduler_scale_model_input(p->sch, i, p->x_in, p->x_in, NB * D, g->err))) return s;
  float t = (float)dif_scheduler_timestep(p->sch, i);
  dif_prior_input in = {p->x_in, &t, 1, p->proj, p->enc, p->amask, NB, NULL, NULL, &p->cache};
  if ((s = dif_prior_forward(&g->m->prior, g->k, &in, p->pred, g->err))) return s;
  if ((s = check_finite(g, p->pred, NB * D,
                        "the prior produced non-finite values at prior step %d of %d (timestep %g)",
                        i + 1, n_t, (double)t)))
    return s;
  trace(g, p->x_in, NB * D, "prior.call%d.hidden_states", i);
  trace(g, &t, 1, "prior.call%d.timestep", i);
  trace(g, p->pred, NB * D, "prior.call%d.predicted_image_embedding", i);
  if (p->cfg) {
    guide(p->pred, p->pred + B * D, r->prior_guidance, B * D, p->pred);
    trace(g, p->pred, B * D, "prior_step%d.model_output_cfg", i);
  }
  dif_step_args a = {.model_output = p->pred,
                     .sample = p->lat,
                     .prev_sample = p->lat,
                     .n = B * D,
                     .batch = (int)B,
                     .gens = g->gens,
                     .n_gens = 1,
                     .eta = r->eta,
                     .noise_out = p->drawn};
  if ((s = dif_scheduler_step(p->sch, i, &a, g->err))) return s;
  step_drew(g, &a);
  if ((s = check_finite(
           g, p->lat, B * D,
           "the prior's latents became non-finite at prior step %d of %d (timestep %g) "
           "after guidance %g and the %s step",
           i + 1, n_t, (double)t, (double)r->prior_guidance, dif_scheduler_class_name(p->sch))))
    return s;
  trace(g, p->lat, B * D, "prior_step%d.prev_sample", i);
  trace(g, p->lat, B * D, "prior_callback.step%d.latents", i);
  trace(g, &t, 1, "prior_callback.step%d.t", i);
  return stepped(g);
}

/* text → out[B, D]: conditioning, initial latents, the steps, post-processing. */
static dif_status run_prior(gen *g, const char *text, float *out) {
  prior_run p;
  dif_status s = prior_alloc(g, &p);
  int64_t B = p.B, D = p.D;
  if (!s) s = prior_condition(g, &p, text);
  if (!s) s = dif_scheduler_set_timesteps(p.sch, g->r->prior_steps, g->err);
  if (!s) s = draw(g, p.lat, B, D);
  if (!s) {
    float sigma = dif_scheduler_init_noise_sigma(p.sch);
    for (int64_t i = 0; i < B * D; i++) p.lat[i] *= sigma;
  }
  int n_t = s ? 0 : dif_scheduler_num_timesteps(p.sch);
  for (int i = 0; i < n_t && !s; i++) s = prior_step(g, &p, i, n_t);
  if (!s) {
    trace(g, p.lat, B * D, "prior.post_process_latents.in");
    dif_prior_post_process(&g->m->prior, p.lat, B, out);
    trace(g, out, B * D, "prior.post_process_latents.out");
    s = check_finite(
        g, out, B * D,
        "the prior's post-processing (clip_mean, clip_std) produced a non-finite image embedding");
  }
  prior_free(&p);
  return s;
}

/* ---- reference images: RGB8 → CLIP image embedding [D] ---- */

static dif_status encode_image(gen *g, const dif_image *img, float *out) {
  const dif_models *m = g->m;
  int64_t S = m->image_encoder.image_size, n = m->image_encoder.channels * S * S;
  float *px = alloc_floats(g, n, "image prompt pixels");
  if (!px) return DIF_ERR_OUT_OF_MEMORY;
  int pw = 0, ph = 0;
  dif_status s =
      dif_clip_preprocess_image(&m->feature_extractor, img, px, (size_t)n, &pw, &ph, g->err);
  if (!s && (pw != S || ph != S))
    s = dif_fail(g->err, DIF_ERR_BAD_MODEL,
                 "feature_extractor makes %dx%d pixels but the image encoder takes %lldx%lld", pw,
                 ph, (long long)S, (long long)S);
  if (!s) {
    dif_clip_vision_out o = {NULL, NULL, out, NULL};
    s = dif_clip_vision_forward(&m->image_encoder, g->k, px, 1, &o, g->err);
  }
  if (!s)
    s = check_finite(g, out, m->image_encoder.projection_dim,
                     "the image encoder (image_encoder) produced a non-finite image embedding");
  if (!s) {
    trace(g, px, n, "image_encoder.call%d.pixel_values", g->image_calls);
    trace(g, out, m->image_encoder.projection_dim, "image_encoder.call%d.image_embeds",
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
    if (g->r->parts[i].kind == DIF_PART_TEXT && g->r->parts[i].weight > 0)
      len += strlen(g->r->parts[i].text) + 2;
  char *t = malloc(len);
  if (!t) {
    dif_fail_oom(g->err, "prompt text", len);
    return NULL;
  }
  t[0] = '\0';
  for (int i = 0; i < g->r->n_parts; i++) {
    const dif_part *p = &g->r->parts[i];
    if (p->kind != DIF_PART_TEXT || !(p->weight > 0)) continue;
    if (t[0]) strcat(t, ", ");
    strcat(t, p->text);
  }
  return t;
}

/* unCLIP: the image embedding of the prompt [B, D], from priors and images. */
static dif_status image_embedding(gen *g, float *out) {
  const dif_models *m = g->m;
  const dif_request *r = g->r;
  int64_t B = r->batch, D = m->unet.class_in / 2;
  int n_img = 0, n_txt = 0;
  for (int i = 0; i < r->n_parts; i++) {
    if (r->parts[i].kind == DIF_PART_IMAGE)
      n_img++;
    else
      n_txt++;
  }
  /* without a prior (or when asked), text only conditions the decoder */
  bool use_text = m->has_prior && r->text_to_prior;
  if (n_img == 0 && !use_text)
    return dif_fail(g->err, DIF_ERR_UNSUPPORTED,
                    "a text-only prompt on a Stable unCLIP model needs a diffusion prior "
                    "(load one with the model's prior folder, e.g. karlo-v1-alpha)");
  if (n_img && !m->has_image_encoder)
    return dif_fail(g->err, DIF_ERR_UNSUPPORTED,
                    "image prompts need the model's image_encoder and feature_extractor, which "
                    "this folder does not have");
  int n = n_img + (use_text ? n_txt : 0);
  float *parts = alloc_floats(g, (int64_t)n * B * D, "prompt embeddings");
  float *w = alloc_floats(g, n, "prompt weights"), *rows = alloc_floats(g, (int64_t)n * D, "rows");
  dif_status s = (!parts || !w || !rows) ? DIF_ERR_OUT_OF_MEMORY : DIF_OK;
  int j = 0;
  for (int i = 0; i < r->n_parts && !s; i++) { /* priors first: they draw from the generator */
    if (r->parts[i].kind != DIF_PART_TEXT || !use_text) continue;
    w[j] = r->parts[i].weight;
    s = run_prior(g, r->parts[i].text, parts + (int64_t)j++ * B * D);
  }
  for (int i = 0; i < r->n_parts && !s; i++) {
    if (r->parts[i].kind != DIF_PART_IMAGE) continue;
    w[j] = r->parts[i].weight;
    float *dst = parts + (int64_t)j++ * B * D;
    s = encode_image(g, r->parts[i].image, dst);
    for (int64_t b = 1; b < B && !s; b++) memcpy(dst + b * D, dst, (size_t)D * sizeof *dst);
  }
  for (int64_t b = 0; b < B && !s; b++) {
    for (int i = 0; i < n; i++)
      memcpy(rows + (int64_t)i * D, parts + ((int64_t)i * B + b) * D, (size_t)D * sizeof *rows);
    s = dif_embeds_combine(r->blend, rows, w, n, D, out + b * D, g->err);
    if (!s)
      s = check_finite(g, out + b * D, D,
                       "combining the prompt's %d embeddings by weight gave non-finite values", n);
  }
  free(parts);
  free(w);
  free(rows);
  return s;
}

/* ---- initial latents ---- */

/* img2img: the init image through the VAE encoder, a posterior sample,
 * noised to timestep `first`, the first one the strength leaves. */
static dif_status init_latents_from_image(gen *g, dif_scheduler *sch, float *lat, int64_t h,
                                          int64_t w, int first) {
  const dif_models *m = g->m;
  const dif_request *r = g->r;
  const dif_image *img = r->init_image;
  int64_t B = r->batch, L = m->vae.latent_ch, H = img->height, W = img->width, HW = H * W;
  if (H != r->height || W != r->width)
    return dif_fail(g->err, DIF_ERR_INVALID_ARGUMENT,
                    "the init image is %dx%d but the sample is %dx%d", img->width, img->height,
                    r->width, r->height);
  dif_status s = DIF_OK;
  float *x = alloc_floats(g, 3 * HW, "init image"), *mean = alloc_floats(g, L * h * w, "latents");
  float *logvar = alloc_floats(g, L * h * w, "latents"),
        *noise = alloc_floats(g, B * L * h * w, "noise");
  if (!x || !mean || !logvar || !noise) s = DIF_ERR_OUT_OF_MEMORY;
  if (!s) {
    /* VaeImageProcessor: u8 / 255 (float32), then 2x - 1, channel first */
    for (int64_t c = 0; c < 3; c++)
      for (int64_t i = 0; i < HW; i++)
        x[c * HW + i] = 2.0f * ((float)img->rgb[i * 3 + c] / 255.0f) - 1.0f;
    trace(g, x, 3 * HW, "vae.encode.in");
    s = dif_vae_encode(&m->vae, g->k, x, 1, H, W, mean, logvar, NULL, NULL, g->err);
  }
  if (!s)
    s = check_finite(g, mean, L * h * w,
                     "the VAE encoder (vae) produced non-finite latents for the init image");
  if (!s)
    s = check_finite(g, logvar, L * h * w,
                     "the VAE encoder (vae) produced a non-finite log-variance for the init image");
  if (!s) {
    for (int64_t i = 0; i < L * h * w; i++) logvar[i] = expf(0.5f * logvar[i]); /* std */
    trace(g, mean, L * h * w, "vae.encode.latent_mean");
    trace(g, logvar, L * h * w, "vae.encode.latent_std");
    s = draw(g, noise, 1, L * h * w); /* latent_dist.sample(generator) */
  }
  if (!s) {
    for (int64_t i = 0; i < L * h * w; i++)
      mean[i] = m->vae.scaling_factor * (mean[i] + logvar[i] * noise[i]);
    for (int64_t b = 0; b < B; b++)
      memcpy(lat + b * L * h * w, mean, (size_t)(L * h * w) * sizeof *lat);
    s = draw(g, noise, B, L * h * w);
  }
  if (!s)
    s = dif_scheduler_add_noise(sch, lat, noise, dif_scheduler_timestep(sch, first), B * L * h * w,
                                lat, g->err);
  if (!s)
    s = check_finite(g, lat, B * L * h * w,
                     "the init image's noised latents are non-finite (timestep %g)",
                     dif_scheduler_timestep(sch, first));
  free(x);
  free(mean);
  free(logvar);
  free(noise);
  return s;
}

/* ---- the denoising loop ---- */

static dif_status denoise(gen *g, dif_scheduler *sch, int first, float *lat, int64_t h, int64_t w,
                          const float *context, int64_t S, const float *labels) {
  const dif_models *m = g->m;
  const dif_request *r = g->r;
  bool cfg = r->guidance > 1.0f;
  int64_t B = r->batch, NB = cfg ? 2 * B : B, n1 = m->unet.in_ch * h * w;
  float *x_in = alloc_floats(g, NB * n1, "UNet input"),
        *pred = alloc_floats(g, NB * n1, "UNet output");
  float *drawn = alloc_floats(g, B * n1, "step noise");
  dif_status s = (!x_in || !pred || !drawn) ? DIF_ERR_OUT_OF_MEMORY : DIF_OK;
  int n_t = dif_scheduler_num_timesteps(sch);
  for (int i = first; i < n_t && !s; i++) {
    int j = i - first;
    if ((s = cancelled(g))) break;
    for (int64_t b = 0; b < NB; b++)
      memcpy(x_in + b * n1, lat + (b % B) * n1, (size_t)n1 * sizeof *lat);
    if ((s = dif_scheduler_scale_model_input(sch, i, x_in, x_in, NB * n1, g->err))) break;
    float t = (float)dif_scheduler_timestep(sch, i);
    dif_unet_input in = {.sample = x_in,
                         .B = NB,
                         .H = h,
                         .W = w,
                         .timesteps = &t,
                         .n_timesteps = 1,
                         .context = context,
                         .S = S,
                         .class_labels = labels};
    if ((s = dif_unet_forward(&m->unet, g->k, &in, pred, g->err))) break;
    if ((s = check_finite(
             g, pred, NB * n1,
             "the UNet produced non-finite values at decoder step %d of %d (timestep %g)", j + 1,
             n_t - first, (double)t)))
      break;
    trace(g, x_in, NB * n1, "unet.call%d.sample", j);
    trace(g, &t, 1, "unet.call%d.timestep", j);
    trace(g, pred, NB * n1, "unet.call%d.out", j);
    if (cfg) guide(pred, pred + B * n1, r->guidance, B * n1, pred);
    dif_step_args a = {.model_output = pred,
                       .sample = lat,
                       .prev_sample = lat,
                       .n = B * n1,
                       .batch = (int)B,
                       .gens = g->gens,
                       .n_gens = 1,
                       .eta = r->eta,
                       .noise_out = drawn};
    if ((s = dif_scheduler_step(sch, i, &a, g->err))) break;
    step_drew(g, &a);
    if ((s = check_finite(
             g, lat, B * n1,
             "the latents became non-finite at decoder step %d of %d (timestep %g) after "
             "guidance %g and the %s step",
             j + 1, n_t - first, (double)t, (double)r->guidance, dif_scheduler_class_name(sch))))
      break;
    trace(g, lat, B * n1, "callback.step%d.latents", j);
    trace(g, &t, 1, "callback.step%d.t", j);
    s = stepped(g);
  }
  free(x_in);
  free(pred);
  free(drawn);
  return s;
}

/* ---- decoding ---- */

static dif_status decode(gen *g, float *lat, int64_t h, int64_t w, dif_result *res) {
  const dif_models *m = g->m;
  int64_t B = g->r->batch, L = m->vae.latent_ch, f = dif_vae_scale(&m->vae), H = h * f, W = w * f;
  float *img = alloc_floats(g, B * 3 * H * W, "decoded image");
  float *hwc = alloc_floats(g, B * H * W * 3, "output images");
  res->rgb = alloc_items(g, B * H * W * 3, 1, "output pixels");
  dif_status s = (!img || !hwc || !res->rgb) ? DIF_ERR_OUT_OF_MEMORY : DIF_OK;
  if (!s) {
    for (int64_t i = 0; i < B * L * h * w; i++) lat[i] = lat[i] / m->vae.scaling_factor;
    trace(g, lat, B * L * h * w, "vae.decode.in");
    s = cancelled(g);
  }
  if (!s) s = dif_vae_decode(&m->vae, g->k, lat, B, h, w, img, NULL, NULL, g->err);
  if (!s)
    s = check_finite(g, img, B * 3 * H * W, "the VAE decoder (vae) produced non-finite pixels");
  if (!s) {
    trace(g, img, B * 3 * H * W, "vae.decode.out");
    for (int64_t b = 0; b < B; b++)
      for (int64_t c = 0; c < 3; c++)
        for (int64_t i = 0; i < H * W; i++) {
          float v = img[(b * 3 + c) * H * W + i] / 2.0f + 0.5f;
          v = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f; /* NaN, never expected here, gives 0 */
          hwc[(b * H * W + i) * 3 + c] = v;
          res->rgb[(b * H * W + i) * 3 + c] = (uint8_t)nearbyintf(v * 255.0f); /* half to even */
        }
    trace(g, hwc, B * H * W * 3, "out.images");
    res->count = (int)B;
    res->width = (int)W;
    res->height = (int)H;
  }
  free(img);
  free(hwc);
  if (s) {
    free(res->rgb);
    res->rgb = NULL;
  }
  return s;
}

/* ---- the whole generation ---- */

static dif_status check_request(const dif_models *m, const dif_request *r, dif_error *err) {
  int64_t f = dif_vae_scale(&m->vae);
  if (r->width < 8 || r->height < 8 || r->width % 8 || r->height % 8 || r->width % f ||
      r->height % f)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "size %dx%d: width and height must be positive multiples of 8", r->width,
                    r->height);
  if (r->width > DIF_MAX_OUTPUT_SIDE || r->height > DIF_MAX_OUTPUT_SIDE)
    return dif_fail(err, DIF_ERR_LIMIT, "size %dx%d exceeds DIF_MAX_OUTPUT_SIDE (%d)", r->width,
                    r->height, DIF_MAX_OUTPUT_SIDE);
  if (r->steps < 1 || r->batch < 1 || r->batch > DIF_MAX_BATCH ||
      !(r->guidance >= 0 && r->guidance <= DIF_MAX_GUIDANCE) ||
      !(r->prior_guidance >= 0 && r->prior_guidance <= DIF_MAX_GUIDANCE) || !isfinite(r->eta) ||
      r->prior_steps < 1)
    return dif_fail(
        err, DIF_ERR_INVALID_ARGUMENT,
        "steps %d, prior steps %d, batch %d, guidance %g, prior guidance %g: out of range",
        r->steps, r->prior_steps, r->batch, (double)r->guidance, (double)r->prior_guidance);
  for (int i = 0; i < r->n_parts; i++)
    if (r->parts[i].kind == DIF_PART_IMAGE && m->family == DIF_FAMILY_SD)
      return dif_fail(err, DIF_ERR_UNSUPPORTED,
                      "image prompts need a Stable unCLIP model; this is a Stable Diffusion model "
                      "(use an init image with a strength for img2img instead)");
  return DIF_OK;
}

/* The decoder's text conditioning, context[NB, T, C]: [negative × B,
 * positive × B] with guidance, [positive × B] without. */
static dif_status decoder_context(gen *g, float *context) {
  const dif_models *m = g->m;
  const dif_request *r = g->r;
  bool cfg = r->guidance > 1.0f;
  int64_t B = r->batch, NB = cfg ? 2 * B : B, T = m->text_encoder.max_positions,
          C = m->text_encoder.enc.hidden;
  char *text = positive_text(g);
  float *hid = alloc_floats(g, 2 * T * C, "text hidden states");
  dif_status s = (!text || !hid) ? DIF_ERR_OUT_OF_MEMORY : DIF_OK;
  if (!s)
    s = encode_text(g, m->tokenizer, &m->text_encoder, text, "text_encoder", &g->text_calls,
                    hid + T * C, NULL, NULL);
  if (!s && cfg)
    s = encode_text(g, m->tokenizer, &m->text_encoder, r->negative ? r->negative : "",
                    "text_encoder", &g->text_calls, hid, NULL, NULL);
  if (!s) {
    for (int64_t b = 0; b < NB; b++)
      memcpy(context + b * T * C, hid + ((!cfg || b >= B) ? T * C : 0),
             (size_t)(T * C) * sizeof *hid);
    trace(g, context, NB * T * C, "unet.encoder_hidden_states");
  }
  free(text);
  free(hid);
  return s;
}

/* unCLIP: the image embedding [B, D] through the image normalizer and noise
 * augmentation, as class labels[NB, 2D]: [zeros × B, augmented × B] with
 * guidance, [augmented × B] without. */
static dif_status unclip_class_labels(gen *g, const float *embeds, float *labels) {
  const dif_models *m = g->m;
  const dif_request *r = g->r;
  bool cfg = r->guidance > 1.0f;
  int64_t B = r->batch, NB = cfg ? 2 * B : B, D = m->unet.class_in / 2;
  float *noise = alloc_floats(g, B * D, "embedding noise");
  if (!noise) return DIF_ERR_OUT_OF_MEMORY;
  memset(labels, 0, (size_t)(NB * 2 * D) * sizeof *labels);
  float *cond = labels + (cfg ? B * 2 * D : 0);
  dif_status s = draw(g, noise, B, D);
  if (!s)
    s = dif_noise_image_embeddings(&m->normalizer, m->noising, embeds, noise, B, r->noise_level,
                                   cond, g->err);
  if (!s)
    s = check_finite(g, cond, B * 2 * D,
                     "the image normalizer and noise augmentation (image_normalizer, "
                     "image_noising_scheduler, noise level %d) produced non-finite class labels",
                     r->noise_level);
  if (!s) trace(g, labels, NB * 2 * D, "unet.class_labels");
  free(noise);
  return s;
}

/* The initial latents [B, L, h, w]: img2img's noised init image, or noise. */
static dif_status initial_latents(gen *g, dif_scheduler *sch, float *lat, int64_t h, int64_t w,
                                  int first) {
  int64_t n = g->r->batch * g->m->vae.latent_ch * h * w;
  if (g->r->init_image) return init_latents_from_image(g, sch, lat, h, w, first);
  dif_status s = draw(g, lat, g->r->batch, n / g->r->batch);
  float sigma = dif_scheduler_init_noise_sigma(sch);
  for (int64_t i = 0; !s && i < n; i++) lat[i] *= sigma;
  if (!s)
    s = check_finite(
        g, lat, n, "the initial latents are non-finite (the %s scheduler's init_noise_sigma is %g)",
        dif_scheduler_class_name(sch), (double)sigma);
  return s;
}

dif_status dif_generate(const dif_models *m, const dif_kctx *k, const dif_request *r,
                        dif_result *out, dif_error *err) {
  memset(out, 0, sizeof *out);
  dif_status s = check_request(m, r, err);
  if (s) return s;
  gen g = {.m = m, .k = k, .r = r, .err = err};
  g.gens[0] = &g.rng;
  dif_rng_seed(&g.rng, r->seed);
  int64_t B = r->batch, T = m->text_encoder.max_positions, C = m->text_encoder.enc.hidden;
  int64_t f = dif_vae_scale(&m->vae), h = r->height / f, w = r->width / f, L = m->vae.latent_ch;
  int64_t D = m->unet.class_in / 2, NB = r->guidance > 1.0f ? 2 * B : B;
  float *embeds = NULL, *labels = NULL, *context = NULL, *lat = NULL;
  dif_scheduler *sch = NULL;
  /* 0. the decoder's scheduler, first so that progress knows every step */
  s = dif_scheduler_create(r->scheduler ? r->scheduler : m->scheduler_class,
                           r->scheduler_cfg ? r->scheduler_cfg : m->scheduler_cfg,
                           r->scheduler_overrides, &sch, err);
  if (!s) s = dif_scheduler_set_timesteps(sch, r->steps, err);
  int first = 0, steps_run = 0;
  if (!s && r->init_image)
    s = dif_scheduler_img2img_start(sch, r->steps, r->strength, &first, &steps_run, err);
  if (!s) {
    g.total = dif_scheduler_num_timesteps(sch) - first;
    if (m->family == DIF_FAMILY_UNCLIP && m->has_prior && r->text_to_prior)
      for (int i = 0; i < r->n_parts; i++)
        if (r->parts[i].kind == DIF_PART_TEXT) g.total += r->prior_steps;
  }
  /* 1. unCLIP: the prompt's image embedding (priors first: they draw) */
  if (!s && m->family == DIF_FAMILY_UNCLIP) {
    embeds = alloc_floats(&g, B * D, "image embedding");
    s = embeds ? image_embedding(&g, embeds) : DIF_ERR_OUT_OF_MEMORY;
  }
  /* 2. the decoder's text conditioning */
  if (!s) {
    context = alloc_floats(&g, NB * T * C, "UNet context");
    s = context ? decoder_context(&g, context) : DIF_ERR_OUT_OF_MEMORY;
  }
  /* 3. unCLIP: noise augmentation and class labels */
  if (!s && m->family == DIF_FAMILY_UNCLIP) {
    labels = alloc_floats(&g, NB * 2 * D, "class labels");
    s = labels ? unclip_class_labels(&g, embeds, labels) : DIF_ERR_OUT_OF_MEMORY;
  }
  /* 4. the initial latents */
  if (!s) {
    lat = alloc_floats(&g, B * L * h * w, "latents");
    s = lat ? initial_latents(&g, sch, lat, h, w, first) : DIF_ERR_OUT_OF_MEMORY;
  }
  /* 5. denoise, 6. decode */
  if (!s) s = denoise(&g, sch, first, lat, h, w, context, T, labels);
  if (!s) s = decode(&g, lat, h, w, out);
  dif_scheduler_free(sch);
  free(embeds);
  free(labels);
  free(context);
  free(lat);
  return s;
}

void dif_result_free(dif_result *res) {
  if (!res) return;
  free(res->rgb);
  memset(res, 0, sizeof *res);
}
