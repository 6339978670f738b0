/* gen.h — the shared blocks a generation recipe is built from (inside the
 * pipelines layer; generate.h is the interface).
 *
 * A recipe (recipe_<name>.c, one row of recipes.c's table) runs:
 *
 *   gen_begin      the decoder's scheduler, its timesteps and the first one
 *                  the strength leaves; the total of steps (progress)
 *   gen_condition  conditioning.c: priors, text, image parts, class labels
 *   latents        latents.c: noise, an encoded init image, a mask (mask.c)
 *   gen_denoise    the decoder's denoising loop (denoise.h, shared with the
 *                  prior) with the recipe's per-step hook
 *   gen_decode     latents.c: VAE decode to RGB8
 *   gen_end        frees what the blocks allocated
 *
 * Every block sets g->err where it fails and returns the status. */
#ifndef DIF__PIPELINES_GEN_H
#define DIF__PIPELINES_GEN_H

#include "pipelines/denoise.h"
#include "pipelines/generate.h"

typedef struct gen {
  const dif__models *m;
  const dif__kctx *k;     /* every model's but the VAE's: no Winograd state */
  const dif__kctx *vae_k; /* the VAE's: the caller's kctx as given (its wino, if any) */
  const dif__request *r;
  dif__error *err;
  dif__rng rng;
  dif__rng *gens[1];
  int draws, text_calls, prior_text_calls, image_calls;
  int step, total;
  int add_noise_calls;
  /* what the blocks make, freed by gen_end */
  dif__scheduler *sch; /* the decoder's */
  int first;           /* the first timestep index the strength leaves */
  int64_t h, w;        /* latent size */
  int64_t decode_tile; /* > 0: gen_decode decodes in tiles of this many pixels (vae.h) */
  float *embeds;       /* unCLIP: the prompt's image embedding [B, D] */
  float *labels;       /* unCLIP: class labels [NB, 2D] */
  int32_t *class_ids;  /* the x4 upscaler: noise-level labels [NB] */
  float *context;      /* the decoder's text [NB, T, C] */
  float *tcond;        /* the guidance embedding [B, time_cond_proj_dim] (LCM), or NULL */
  float *lat;          /* the latents [B, L, h, w] */
} gen;

/* ---- gen_util.c: tracing, random draws, progress, checks, allocation ---- */

void gen_trace(gen *g, const float *x, int64_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void gen_trace_ints(gen *g, const int32_t *x, int64_t n, const char *name);
/* Whether the decoder runs classifier-free guidance: guidance > 1 and a UNet
 * without time_cond_proj_dim (StableDiffusionPipeline's
 * do_classifier_free_guidance; a latent consistency model takes the guidance
 * as an input instead). */
bool gen_cfg(const gen *g);
/* DIF_ERR_CANCELLED if the request's cancel flag is set. */
dif_status gen_cancelled(gen *g);
/* After each denoising step: progress, and the callback's chance to cancel. */
dif_status gen_stepped(gen *g);
/* randn_tensor((batch, item), generator) — every draw of the run, in order. */
dif_status gen_draw(gen *g, float *out, int64_t batch, int64_t item);
/* A stochastic scheduler step drew from the same generator: count, trace. */
void gen_step_drew(gen *g, const dif__step_args *a);
/* DIF_ERR_NON_FINITE naming the first NaN/infinity with the message given. */
dif_status gen_check_finite(gen *g, const float *x, int64_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* n items of size bytes, or NULL with g->err naming what and its size. */
void *gen_alloc(gen *g, int64_t n, size_t size, const char *what);
float *gen_floats(gen *g, int64_t n, const char *what);
int32_t *gen_ints(gen *g, int64_t n, const char *what);

/* ---- recipes.c: the table of recipes and the frame they share ---- */

/* One pipeline: the first row of recipes.c's table whose `applies` holds
 * runs the request. */
typedef struct gen_recipe {
  const char *name; /* "text-to-image", "img2img", ... */
  bool (*applies)(const dif__models *m, const dif__request *r);
  dif_status (*run)(gen *g, dif__result *out);
} gen_recipe;

dif_status gen_recipe_from_noise(gen *g, dif__result *out); /* recipe_txt2img.c */
dif_status gen_recipe_img2img(gen *g, dif__result *out);    /* recipe_img2img.c */
dif_status gen_recipe_inpaint(gen *g, dif__result *out);    /* recipe_inpaint.c */
dif_status gen_recipe_upscale(gen *g, dif__result *out);    /* recipe_upscale.c */

/* The decoder's scheduler and timesteps; with use_strength (img2img,
 * inpainting) the first timestep the strength leaves; the latents buffer
 * g->lat. */
dif_status gen_begin(gen *g, bool use_strength);
/* The decoder's denoising loop over g->lat; step (may be NULL) runs after
 * every scheduler step, concat (may be NULL) is appended to every model
 * input item (denoise.h). */
dif_status gen_denoise(gen *g, const float *concat, int64_t concat_n, dif__loop_hook step,
                       void *step_user);
void gen_end(gen *g);

/* ---- conditioning.c ---- */

/* g->embeds (unCLIP), g->context, g->labels (unCLIP), in diffusers' order. */
dif_status gen_condition(gen *g);
/* The prior: text → out[B, D] (prior.c). */
dif_status gen_run_prior(gen *g, const char *text, float *out);
/* Tokenizes text (padded to the encoder's positions) and runs a text encoder
 * as the pipelines do; name is the trace prefix. */
dif_status gen_encode_text(gen *g, const dif__clip_tokenizer *tok, const dif__clip_text *te,
                           const char *text, const char *name, int *calls, float *hidden,
                           float *embeds, int32_t *mask);

/* ---- guidance_embed.c ---- */

/* g->tcond: get_guidance_scale_embedding(guidance - 1, time_cond_proj_dim)
 * for every item, traced as "w_embedding". */
dif_status gen_guidance_embedding(gen *g);

/* ---- latents.c ---- */

/* g->lat = randn · init_noise_sigma (the draw also in noise_out when not
 * NULL). */
dif_status gen_latents_noise(gen *g, float *noise_out);
/* An RGB8 image [H, W] → x[3, H, W] in [-1, 1] (VaeImageProcessor). */
void gen_image_to_x(const dif__image *img, float *x);
/* x[3, H, W] (the sample's size) through the VAE encoder, a posterior sample
 * (one draw), times the scaling factor: out[L, h, w]; what names the image
 * in messages ("the init image"), trace is the traces' prefix
 * ("vae.encode"). */
dif_status gen_encode_x(gen *g, const float *x, const char *what, const char *trace, float *out);
/* add_noise into out[n] (traced as "add_noise.call<j>.{timestep,out}"). */
dif_status gen_add_noise(gen *g, const float *original, const float *noise, double t, int64_t n,
                         float *out);
/* img2img: g->lat = the init image's latents, noised to timestep g->first
 * with noise[B, L, h, w] (one draw; kept in noise_out when not NULL). */
dif_status gen_latents_image(gen *g, const float *image_latents, float *noise_out);
/* Checks the init image's size against the request's. */
dif_status gen_check_init_size(gen *g, const dif__image *img);
/* The latents through the VAE decoder to out's RGB8 images, as diffusers'
 * postprocess: (x/2 + 0.5) clamped, ×255, rounded half to even. With
 * g->decode_tile > 0 an output larger than a tile is decoded in tiles
 * (diffusers' tiled_decode, dif__vae_decode_tiled). */
dif_status gen_decode(gen *g, dif__result *res);

#endif
