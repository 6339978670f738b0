/* info.c — dif_context_info: the loaded model described as JSON. */
#include <jansson.h>
#include <stdio.h>

#include "api/context.h"
#include "core/attn_f32.h"
#include "core/attn_fused.h"
#include "core/blas.h"
#include "core/gemm_few.h"

static json_t *int_list(const int64_t *v, int64_t n) {
  json_t *a = json_array();
  for (int64_t i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
  return a;
}

static json_t *text_encoder(const dif__clip_text *t) {
  return json_pack("{s:I, s:I, s:I, s:s, s:I}", "hidden_size", (json_int_t)t->enc.hidden, "layers",
                   (json_int_t)t->enc.n_layers, "heads", (json_int_t)t->enc.heads, "activation",
                   t->enc.act == DIF__CLIP_GELU ? "gelu" : "quick_gelu", "projection_dim",
                   (json_int_t)t->projection_dim);
}

/* "files": the weight files with sizes and fingerprints; "loras": the
 * LoRAs merged at load, in order; "embeddings" the same. */
static void add_files(json_t *o, const dif_context *ctx) {
  json_t *files = json_array();
  for (int i = 0; i < dif_context_model_file_count(ctx); i++) {
    const char *path;
    uint64_t size, h;
    dif_context_model_file(ctx, i, &path, &size, &h);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    json_array_append_new(
        files, json_pack("{s:s, s:I, s:s}", "file", path, "bytes", (json_int_t)size, "xxh3", hex));
  }
  json_object_set_new(o, "files", files);
  json_t *loras = json_array(); /* merged at load, in order */
  for (int i = 0; i < ctx->n_loras; i++)
    json_array_append_new(
        loras, json_pack("{s:s, s:f, s:o}", "file", ctx->loras[i].path, "weight",
                         (double)ctx->loras[i].weight, "xxh3",
                         json_sprintf("%016llx", (unsigned long long)ctx->loras[i].xxh3)));
  json_object_set_new(o, "loras", loras);
  json_t *embs = json_array(); /* added at load, in order */
  for (int i = 0; i < ctx->n_embeddings; i++) {
    const dif__ctx_embedding *e = &ctx->embeddings[i];
    json_array_append_new(embs, json_pack("{s:s, s:s, s:i, s:o}", "file", e->e.path, "token",
                                          e->e.token, "vectors", e->vectors, "xxh3",
                                          json_sprintf("%016llx", (unsigned long long)e->e.xxh3)));
  }
  json_object_set_new(o, "embeddings", embs);
}

/* What runs the products: threads, precision as set and in effect, backend,
 * ISA, CPU. */
static void add_products(json_t *o, const dif_context *ctx) {
  json_object_set_new(o, "blas_core", json_string(dif_blas_core()));
  json_object_set_new(o, "threads", json_integer(ctx->threads));
  json_object_set_new(o, "blas_threads", json_integer(dif__blas_threads()));
  json_object_set_new(o, "blas_idle_threads", json_string(dif__blas_idle_threads()));
  json_object_set_new(
      o, "precision",
      json_string(dif_precision_name(ctx->fast ? DIF_PRECISION_FAST : DIF_PRECISION_EXACT)));
  json_object_set_new(o, "precision_setting", json_string(dif_precision_name(ctx->precision)));
  const dif__backend *fb = dif__fast_backend(ctx->fast);
  json_object_set_new(o, "gemm_backend", json_string(fb ? fb->name : "openblas"));
  json_object_set_new(o, "isa", json_string(fb ? fb->isa() : dif_blas_core()));
  /* the 3x3 convolutions: float32 Winograd (exact; fast's VAE where its bf16 is not on
   * AMX tiles), bf16 products (fast) or im2col + sgemm (api/load.c) */
  json_object_set_new(o, "unet_conv3x3",
                      json_string(ctx->wino_nets_max_cc   ? "winograd up to 1920x640 channels"
                                  : ctx->wino_bf16_max_cc ? "bf16 winograd"
                                  : ctx->fast             ? "bf16"
                                                          : "sgemm"));
  json_object_set_new(o, "vae_conv3x3",
                      json_string(ctx->wino_bf16_max_cc    ? "bf16 winograd"
                                  : ctx->wino && ctx->fast ? "winograd up to 512x256 channels, bf16"
                                  : ctx->wino              ? "winograd"
                                  : ctx->fast              ? "bf16"
                                                           : "sgemm"));
  /* the UNet's and the VAE's attention (core/attn_fused.h; the text encoder and the prior keep
   * the unfused path) */
  json_object_set_new(o, "attention", json_string(dif__ctx_attention(ctx)));
  /* the linear products of at most 192 rows (core/gemm_few.h): the prior's cached steps, the
   * text encoders, the time embeddings */
  json_object_set_new(o, "linear_few_rows", json_string(dif__ctx_linear_few_rows(ctx)));
  char cpu[160];
  dif__cpu_describe(cpu, sizeof cpu);
  json_object_set_new(o, "cpu", json_string(cpu));
  const char *note = dif__blas_note();
  json_object_set_new(o, "blas_note", note ? json_string(note) : json_null());
}

const char *dif__ctx_linear_few_rows(const dif_context *ctx) {
  if (ctx->fast) return "bf16";
  return dif__few_rows_runs() ? "weights read once, AVX2" : "sgemm";
}

const char *dif__ctx_attention(const dif_context *ctx) {
  if (!ctx->fast)
    return !dif__attn_f32_taken()                           ? "float32"
           : dif__attn_f32_native() == DIF__ATTN_F32_AVX512 ? "fused float32, AVX-512"
                                                            : "fused float32, AVX2";
  switch (dif__attn_fused_best()) {
  case DIF__ATTN_FUSED_AMX: return "fused bf16, AMX tiles";
  case DIF__ATTN_FUSED_AVX512BF16: return "fused bf16, AVX512-BF16";
  default: return "bf16";
  }
}

char *dif__ctx_describe(const dif_context *ctx) {
  const dif__models *m = &ctx->models;
  json_t *o = json_object();
  int64_t f = dif__vae_scale(&m->vae);
  const dif_defaults *d = &m->defaults;
  const char *dflt_dir = dif_default_model_dir();
  json_object_set_new(o, "libdif", json_string(dif_version_string()));
  json_object_set_new(o, "model", json_string(dif__model_folder_dir(m->folder)));
  /* a single-file checkpoint: its weights, with "model" the config folder */
  json_object_set_new(o, "checkpoint", m->checkpoint ? json_string(m->checkpoint) : json_null());
  const char *pipe = dif__model_folder_pipeline(m->folder);
  json_object_set_new(o, "pipeline", pipe ? json_string(pipe) : json_null());
  json_object_set_new(o, "family", json_string(m->family == DIF__FAMILY_UNCLIP ? "unclip" : "sd"));
  json_object_set_new(o, "prior",
                      m->prior_folder ? json_string(dif__model_folder_dir(m->prior_folder))
                      : m->has_prior  ? json_string("(in the model folder)")
                                      : json_null());
  json_object_set_new(o, "default_model", dflt_dir ? json_string(dflt_dir) : json_null());
  json_object_set_new(o, "default_size",
                      json_pack("[i, i]", (int)d->width, (int)d->height)); /* = defaults' */
  json_object_set_new(o, "scheduler", json_string(m->scheduler_class));
  /* what a new sample starts from, and where the model's recommendations came from */
  json_t *dj = json_pack("{s:i, s:i, s:i, s:f, s:i, s:f, s:i, s:s}", "width", (int)d->width,
                         "height", (int)d->height, "steps", (int)d->steps, "guidance",
                         (double)d->guidance, "prior_steps", (int)d->prior_steps, "prior_guidance",
                         (double)d->prior_guidance, "noise_level", (int)d->noise_level, "scheduler",
                         d->scheduler[0] ? d->scheduler : m->scheduler_class);
  json_object_set_new(o, "defaults", dj);
  json_object_set_new(o, "defaults_file", d->from_file ? json_string(d->path) : json_null());
  json_object_set_new(
      o, "can",
      json_pack("{s:b, s:b, s:b, s:b}", "text_to_image",
                (m->family == DIF__FAMILY_SD || m->has_prior) && !dif__models_is_upscaler(m),
                "image_prompts", m->has_image_encoder, "img2img", !dif__models_is_upscaler(m),
                "x4_upscale", dif__models_is_upscaler(m)));
  json_object_set_new(o, "unet",
                      json_pack("{s:o, s:I, s:I, s:I, s:I, s:b, s:I}", "block_out_channels",
                                int_list(m->unet.channels, m->unet.n_blocks), "layers_per_block",
                                (json_int_t)m->unet.layers_per_block, "cross_attention_dim",
                                (json_int_t)m->unet.ctx_dim, "sample_size",
                                (json_int_t)m->unet.sample_size, "class_embeddings_input_dim",
                                (json_int_t)m->unet.class_in, "linear_projection",
                                m->unet.linear_proj, "in_channels", (json_int_t)m->unet.in_ch));
  json_object_set_new(o, "vae",
                      json_pack("{s:o, s:I, s:I, s:f}", "block_out_channels",
                                int_list(m->vae.channels, m->vae.n_blocks), "latent_channels",
                                (json_int_t)m->vae.latent_ch, "scale_factor", (json_int_t)f,
                                "scaling_factor", (double)m->vae.scaling_factor));
  json_object_set_new(o, "text_encoder", text_encoder(&m->text_encoder));
  if (m->has_image_encoder)
    json_object_set_new(o, "image_encoder",
                        json_pack("{s:I, s:I, s:I, s:I}", "image_size",
                                  (json_int_t)m->image_encoder.image_size, "patch_size",
                                  (json_int_t)m->image_encoder.patch_size, "hidden_size",
                                  (json_int_t)m->image_encoder.enc.hidden, "projection_dim",
                                  (json_int_t)m->image_encoder.projection_dim));
  if (m->has_prior) {
    json_t *p =
        json_pack("{s:I, s:I, s:I}", "embedding_dim", (json_int_t)m->prior.embed_dim, "layers",
                  (json_int_t)m->prior.n_layers, "heads", (json_int_t)m->prior.heads);
    json_object_set_new(p, "text_encoder", text_encoder(&m->prior_text_encoder));
    json_object_set_new(o, "prior_model", p);
  }
  add_files(o, ctx);
  add_products(o, ctx);
  char *text = json_dumps(o, JSON_INDENT(2) | JSON_ENSURE_ASCII);
  json_decref(o);
  return text;
}

DIF_API const char *dif_context_info(const dif_context *ctx) {
  return ctx && ctx->info ? ctx->info : "{}";
}
