/* prior.c — the diffusion prior: text → image embedding [B, D]
 * (StableUnCLIPPipeline's _encode_prior_prompt and prior loop), on the
 * shared denoising loop (denoise.h). */
#include <stdlib.h>
#include <string.h>

#include "pipelines/gen.h"

/* One prior run's sizes and buffers. Batch order [uncond × B, cond × B]
 * with guidance (NB = 2B), [cond × B] without (NB = B). */
typedef struct prior_run {
  gen *g;
  int64_t B, NB, D, T, C, P;
  bool cfg;
  float *hid, *emb;  /* [uncond, cond] text: hidden states [2, T, C], embeds [2, P] */
  int32_t *mask;     /* [2, T] */
  float *proj, *enc; /* the prior's text inputs per batch item: [NB, P], [NB, T, C] */
  int32_t *amask;    /* [NB, T] */
  float *lat;        /* latents [B, D] */
  dif__scheduler *sch;
  dif__prior_cache cache; /* the text tokens' keys and values */
} prior_run;

static dif_status prior_alloc(gen *g, prior_run *p) {
  const dif__clip_text *te = &g->m->prior_text_encoder;
  *p = (prior_run){.g = g,
                   .B = g->r->batch,
                   .D = g->m->prior.embed_dim,
                   .T = te->max_positions,
                   .C = te->enc.hidden,
                   .P = te->projection_dim,
                   .cfg = g->r->prior_guidance > 1.0f};
  int64_t B = p->B, NB = p->NB = p->cfg ? 2 * B : B, D = p->D, T = p->T, C = p->C, P = p->P;
  p->hid = gen_floats(g, 2 * T * C, "prior text hidden states");
  p->emb = gen_floats(g, 2 * P, "prior text embeddings");
  p->mask = gen_ints(g, 2 * T, "prior text mask");
  p->proj = gen_floats(g, NB * P, "prior text embeddings per item");
  p->enc = gen_floats(g, NB * T * C, "prior hidden states per item");
  p->amask = gen_ints(g, NB * T, "prior attention mask");
  p->lat = gen_floats(g, B * D, "prior latents");
  bool ok = p->hid && p->emb && p->mask && p->proj && p->enc && p->amask && p->lat;
  return ok ? DIF_OK : DIF_ERR_OUT_OF_MEMORY;
}

static void prior_free(prior_run *p) {
  dif__scheduler_free(p->sch);
  dif__prior_cache_free(&p->cache);
  free(p->hid);
  free(p->emb);
  free(p->mask);
  free(p->proj);
  free(p->enc);
  free(p->amask);
  free(p->lat);
}

/* The text through the prior's text encoder ([cond] then, with guidance, the
 * unconditional "", always empty for the prior), copied per batch item; the
 * scheduler; the text tokens' cache. */
static dif_status prior_condition(gen *g, prior_run *p, const char *text) {
  const dif__models *m = g->m;
  const dif__clip_text *te = &m->prior_text_encoder;
  int64_t B = p->B, NB = p->NB, T = p->T, C = p->C, P = p->P;
  dif_status s = gen_encode_text(g, m->prior_tokenizer, te, text, "prior_text_encoder",
                                 &g->prior_text_calls, p->hid + T * C, p->emb + P, p->mask + T);
  if (!s && p->cfg)
    s = gen_encode_text(g, m->prior_tokenizer, te, "", "prior_text_encoder", &g->prior_text_calls,
                        p->hid, p->emb, p->mask);
  if (s) return s;
  for (int64_t b = 0; b < NB; b++) {
    int src = (!p->cfg || b >= B) ? 1 : 0;
    memcpy(p->proj + b * P, p->emb + src * P, (size_t)P * sizeof *p->emb);
    memcpy(p->enc + b * T * C, p->hid + src * T * C, (size_t)(T * C) * sizeof *p->hid);
    memcpy(p->amask + b * T, p->mask + src * T, (size_t)T * sizeof *p->mask);
  }
  gen_trace(g, p->proj, NB * P, "prior.proj_embedding");
  gen_trace(g, p->enc, NB * T * C, "prior.encoder_hidden_states");
  gen_trace_ints(g, p->amask, NB * T, "prior.attention_mask");
  s = dif__scheduler_create(g->r->prior_scheduler ? g->r->prior_scheduler : "DDPMScheduler",
                            m->prior_scheduler_cfg, NULL, &p->sch, g->err);
  /* The text tokens are the same at every step: run them once for each
   * distinct text, hid = [uncond, cond] (item b of the batch uses b / B). */
  int skip = p->cfg ? 0 : 1;
  if (!s)
    s = dif__prior_cache_build(&m->prior, g->k, p->hid + skip * T * C, p->mask + skip * T, 2 - skip,
                               &p->cache, g->err);
  return s;
}

/* The loop's model: the prior on its cached text. */
static dif_status prior_model(void *user, const float *x_in, int64_t NB, float t, float *pred,
                              dif__error *err) {
  prior_run *p = user;
  dif__prior_input in = {x_in, &t, 1, p->proj, p->enc, p->amask, NB, NULL, NULL, &p->cache};
  return dif__prior_forward(&p->g->m->prior, p->g->k, &in, pred, err);
}

dif_status gen_run_prior(gen *g, const char *text, float *out) {
  prior_run p;
  dif_status s = prior_alloc(g, &p);
  int64_t B = p.B, D = p.D;
  if (!s) s = prior_condition(g, &p, text);
  if (!s) s = dif__scheduler_set_timesteps(p.sch, g->r->prior_steps, g->err);
  if (!s) s = gen_draw(g, p.lat, B, D);
  if (!s) {
    float sigma = dif__scheduler_init_noise_sigma(p.sch);
    for (int64_t i = 0; i < B * D; i++) p.lat[i] *= sigma;
  }
  dif__loop l = {.sch = p.sch,
                 .lat = p.lat,
                 .B = B,
                 .n = D,
                 .guidance = g->r->prior_guidance,
                 .cfg = g->r->prior_guidance > 1.0f,
                 .eta = g->r->eta,
                 .model = prior_model,
                 .model_user = &p,
                 .model_name = "the prior",
                 .latents_name = "the prior's latents",
                 .step_name = "prior step",
                 .call = "prior.call",
                 .input = "hidden_states",
                 .output = "predicted_image_embedding",
                 .step = "prior_step",
                 .step_output = "model_output_cfg",
                 .callback = "prior_callback"};
  if (!s) s = dif__denoise(g, &l);
  if (!s) {
    gen_trace(g, p.lat, B * D, "prior.post_process_latents.in");
    dif__prior_post_process(&g->m->prior, p.lat, B, out);
    gen_trace(g, out, B * D, "prior.post_process_latents.out");
    s = gen_check_finite(
        g, out, B * D,
        "the prior's post-processing (clip_mean, clip_std) produced a non-finite image embedding");
  }
  prior_free(&p);
  return s;
}
