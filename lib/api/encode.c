/* encode.c — text and image embeddings through the public API. */
#include <stdlib.h>
#include <string.h>

#include "api/context.h"
#include "api/prompt.h"
#include "core/blas.h"

static dif_status need(dif_context *ctx, const char *fn, size_t n, float *out, size_t *count) {
  if (!count) return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT, "%s: count is NULL", fn);
  if (out && *count < n)
    return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT,
                          "%s: the buffer holds %zu floats, the embedding has %zu", fn, *count, n);
  return DIF_OK;
}

/* The context's threads, with scratch from the arenas it keeps between
 * runs (dif__ctx_take_arena; NULL if out of memory, then err says so): an
 * embedding reuses what a sample's run touched, and gives it back. */
static dif__kctx kernels(dif_context *ctx, dif__arena **arena, dif__error *err) {
  *arena = dif__ctx_take_arena(ctx);
  if (!*arena) dif__fail_oom(err, "a scratch arena", sizeof **arena);
  dif__kctx k = dif__ctx_kernels(ctx, *arena);
  k.wino = NULL; /* the VAE's only (core/ops.h); the CLIP encoders have no 3x3 convolutions */
  return k;
}

DIF_API dif_status dif_context_encode_text(dif_context *ctx, const char *text,
                                           dif_text_embedding kind, float *out, size_t *count) {
  const char *fn = "dif_context_encode_text";
  if (!ctx) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
  if (!ctx->loaded) return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT, "%s: no model loaded", fn);
  if (!text) return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT, "%s: text is NULL", fn);
  const dif__models *m = &ctx->models;
  const dif__clip_text *te;
  const dif__clip_tokenizer *tok;
  size_t n;
  if (kind == DIF_EMBED_TEXT_HIDDEN) {
    te = &m->text_encoder;
    tok = m->tokenizer;
    n = (size_t)(te->max_positions * te->enc.hidden);
  } else if (kind == DIF_EMBED_TEXT_PROJECTED) {
    if (!m->has_prior)
      return dif__ctx_failf(ctx, DIF_ERR_UNSUPPORTED,
                            "%s: projected text embeddings come from the prior's text encoder, and "
                            "no prior is loaded",
                            fn);
    te = &m->prior_text_encoder;
    tok = m->prior_tokenizer;
    n = (size_t)te->projection_dim;
  } else {
    return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT, "%s: unknown embedding kind %d", fn,
                          (int)kind);
  }
  dif_status s = need(ctx, fn, n, out, count);
  if (s) return s;
  *count = n;
  if (!out) return DIF_OK;
  int64_t T = te->max_positions;
  int32_t *ids = malloc((size_t)T * sizeof *ids), *mask = malloc((size_t)T * sizeof *mask);
  float *hidden = malloc((size_t)(T * te->enc.hidden) * sizeof *hidden);
  dif__error err = {0};
  dif__arena *arena;
  dif__kctx k = kernels(ctx, &arena, &err);
  if (!arena) s = err.status;
  if (!s && (!ids || !mask || !hidden)) s = dif__fail_oom(&err, "text embedding", (size_t)T * 8);
  if (!s) s = dif__blas_reserve(&err);
  if (!s) s = dif__models_check_files(m, &err);
  char *converted = NULL; /* multi-vector embedding tokens, as encode_prompt converts them */
  if (!s && kind == DIF_EMBED_TEXT_HIDDEN)
    s = dif__clip_convert_prompt(tok, text, strlen(text), &converted, &err);
  if (!s)
    s = dif__clip_tokenize(tok, converted ? converted : text, strlen(converted ? converted : text),
                           ids, mask, NULL, &err);
  free(converted);
  if (!s) {
    dif__clip_text_out o = {hidden, NULL, kind == DIF_EMBED_TEXT_PROJECTED ? out : NULL, NULL};
    s = dif__clip_text_forward(te, &k, ids, 1, T, NULL, 0, &o, &err);
  }
  if (!s && kind == DIF_EMBED_TEXT_HIDDEN) memcpy(out, hidden, n * sizeof *out);
  if (!s && dif__first_nonfinite(out, (int64_t)n) >= 0)
    s = dif__fail(&err, DIF_ERR_NON_FINITE, "%s: the text encoder (%s) produced NaN or infinity",
                  fn, kind == DIF_EMBED_TEXT_HIDDEN ? "text_encoder" : "prior_text_encoder");
  dif__ctx_give_arena(ctx, arena);
  free(ids);
  free(mask);
  free(hidden);
  if (s) return dif__ctx_fail(ctx, &err);
  dif__ctx_ok(ctx);
  return DIF_OK;
}

static dif_status encode_image(dif_context *ctx, const char *fn, const dif__image *img, float *out,
                               size_t *count) {
  const dif__models *m = &ctx->models;
  size_t n = (size_t)m->image_encoder.projection_dim;
  dif_status s = need(ctx, fn, n, out, count);
  if (s) return s;
  *count = n;
  if (!out) return DIF_OK;
  int64_t S = m->image_encoder.image_size, np = m->image_encoder.channels * S * S;
  float *px = malloc((size_t)np * sizeof *px);
  dif__error err = {0};
  dif__arena *arena;
  dif__kctx k = kernels(ctx, &arena, &err);
  int w = 0, h = 0;
  if (!arena) s = err.status;
  if (!s && !px) s = dif__fail_oom(&err, "image pixels", (size_t)np * sizeof *px);
  if (!s) s = dif__blas_reserve(&err);
  if (!s) s = dif__models_check_files(m, &err);
  if (!s) s = dif__clip_preprocess_image(&m->feature_extractor, img, px, (size_t)np, &w, &h, &err);
  if (!s && (w != S || h != S))
    s = dif__fail(&err, DIF_ERR_BAD_MODEL,
                  "feature_extractor makes %dx%d pixels but the image encoder takes %lldx%lld", w,
                  h, (long long)S, (long long)S);
  if (!s) {
    dif__clip_vision_out o = {NULL, NULL, out, NULL};
    s = dif__clip_vision_forward(&m->image_encoder, &k, px, 1, &o, &err);
  }
  if (!s && dif__first_nonfinite(out, (int64_t)n) >= 0)
    s = dif__fail(&err, DIF_ERR_NON_FINITE,
                  "the image encoder (image_encoder) produced NaN or infinity");
  dif__ctx_give_arena(ctx, arena);
  free(px);
  if (s) {
    dif__error_prefix(&err, "%s", fn);
    return dif__ctx_fail(ctx, &err);
  }
  dif__ctx_ok(ctx);
  return DIF_OK;
}

static dif_status check_image_encoder(dif_context *ctx, const char *fn) {
  if (!ctx->loaded) return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT, "%s: no model loaded", fn);
  if (!ctx->models.has_image_encoder)
    return dif__ctx_failf(ctx, DIF_ERR_UNSUPPORTED,
                          "%s: the model has no image_encoder/feature_extractor", fn);
  return DIF_OK;
}

DIF_API dif_status dif_context_encode_image_file(dif_context *ctx, const char *path, float *out,
                                                 size_t *count) {
  const char *fn = "dif_context_encode_image_file";
  if (!ctx) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
  if (!path) return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT, "%s: path is NULL", fn);
  dif_status s = check_image_encoder(ctx, fn);
  if (s) return s;
  if (!out) return encode_image(ctx, fn, NULL, NULL, count); /* size query: no decoding */
  dif__image img;
  dif__error err = {0};
  dif__image_limits l = {DIF_MAX_IMAGE_SIDE, DIF_MAX_IMAGE_SIDE, DIF_MAX_IMAGE_PIXELS, 0};
  if ((s = dif__image_load(path, &l, &img, &err))) return dif__ctx_fail(ctx, &err);
  s = encode_image(ctx, fn, &img, out, count);
  dif__image_free(&img);
  return s;
}

DIF_API dif_status dif_context_encode_image_rgb(dif_context *ctx, const uint8_t *rgb, int32_t width,
                                                int32_t height, int32_t stride, float *out,
                                                size_t *count) {
  const char *fn = "dif_context_encode_image_rgb";
  if (!ctx) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
  dif_status s = check_image_encoder(ctx, fn);
  if (s) return s;
  dif__image img;
  dif__error err = {0};
  /* the arguments are checked as in a real call, also in a size query */
  if ((s = dif__image_check_rgb(rgb, width, height, stride, &err))) {
    dif__error_prefix(&err, "%s", fn);
    return dif__ctx_fail(ctx, &err);
  }
  if (!out) return encode_image(ctx, fn, NULL, NULL, count);
  if ((s = dif__image_from_rgb(rgb, width, height, stride, &img, &err))) {
    dif__error_prefix(&err, "%s", fn);
    return dif__ctx_fail(ctx, &err);
  }
  s = encode_image(ctx, fn, &img, out, count);
  dif__image_free(&img);
  return s;
}
