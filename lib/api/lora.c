/* lora.c — LoRAs added to a context (dif_context_add_lora) and merged
 * into its weights when it loads (io/lora.h). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/context.h"
#include "io/component.h"

DIF_API dif_status dif_context_add_lora(dif_context *ctx, const char *path, float weight) {
  if (!ctx) return dif_thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_add_lora: ctx is NULL");
  if (ctx->loaded)
    return dif_ctx_failf(ctx, DIF_ERR_BUSY,
                         "dif_context_add_lora: a model is already loaded; add LoRAs before "
                         "dif_context_load (they are merged into the weights as they load)");
  if (!path)
    return dif_ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT, "dif_context_add_lora: path is NULL");
  if (!isfinite(weight))
    return dif_ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT,
                         "dif_context_add_lora: %s: weight must be a finite number", path);
  if (ctx->n_loras >= DIF_MAX_LORAS)
    return dif_ctx_failf(ctx, DIF_ERR_LIMIT, "dif_context_add_lora: %s: at most %d LoRAs", path,
                         DIF_MAX_LORAS);
  dif_error err = {0};
  dif_lora *l = NULL;
  if (dif_lora_open(path, &l, &err)) return dif_ctx_fail(ctx, &err);
  dif_ctx_lora *grown = realloc(ctx->loras, (size_t)(ctx->n_loras + 1) * sizeof *grown);
  char *copy = strdup(path);
  if (grown) ctx->loras = grown;
  if (!grown || !copy) {
    free(copy);
    dif_lora_close(l);
    return dif_ctx_failf(ctx, DIF_ERR_OUT_OF_MEMORY, "dif_context_add_lora: out of memory");
  }
  ctx->loras[ctx->n_loras++] =
      (dif_ctx_lora){copy, realpath(path, NULL), weight, dif_st_xxh3(l->st), l};
  dif_ctx_log(ctx, DIF_LOG_INFO,
              "LoRA %s (%s names, %zu modules: %zu UNet, %zu text encoder), weight %g", path,
              l->format, l->n, dif_lora_count(l, DIF_LORA_UNET),
              dif_lora_count(l, DIF_LORA_TEXT_ENCODER), (double)weight);
  dif_ctx_ok(ctx);
  return DIF_OK;
}

DIF_API dif_status dif_context_clear_loras(dif_context *ctx) {
  if (!ctx)
    return dif_thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_clear_loras: ctx is NULL");
  if (ctx->loaded)
    return dif_ctx_failf(ctx, DIF_ERR_BUSY,
                         "dif_context_clear_loras: a model is already loaded with its LoRAs "
                         "merged; use a new context");
  dif_ctx_free_loras(ctx);
  dif_ctx_ok(ctx);
  return DIF_OK;
}

DIF_API int dif_context_lora_count(const dif_context *ctx) { return ctx ? ctx->n_loras : 0; }

DIF_API dif_status dif_context_lora(const dif_context *ctx, int i, const char **path, float *weight,
                                    uint64_t *xxh3) {
  if (!ctx || i < 0 || i >= ctx->n_loras)
    return dif_thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_lora: %s",
                           ctx ? "index out of range" : "ctx is NULL");
  if (path) *path = ctx->loras[i].path;
  if (weight) *weight = ctx->loras[i].weight;
  if (xxh3) *xxh3 = ctx->loras[i].xxh3;
  return DIF_OK;
}

/* Each LoRA's modules of each component were merged. */
static dif_status check_reached(const dif_context *ctx, const dif_lora_use *uses,
                                const size_t *before, dif_error *err) {
  static const char *const names[] = {"unet", "text_encoder"};
  for (int i = 0; i < ctx->n_loras; i++)
    for (int c = 0; c < DIF_LORA_COMPONENTS; c++) {
      const dif_lora *l = uses[i].lora;
      if (dif_lora_count(l, (dif_lora_component)c) && l->merged[c] == before[i * 2 + c])
        return dif_fail(err, DIF_ERR_BAD_MODEL,
                        "%s: the LoRA has %s modules but the model's %s was not loaded from a "
                        "folder it could be merged into",
                        l->path, names[c], names[c]);
    }
  return DIF_OK;
}

dif_status dif_ctx_load_with_loras(dif_context *ctx, const char *root,
                                   dif_status (*load)(dif_context *ctx, const char *path,
                                                      dif_error *err),
                                   const char *path, dif_error *err) {
  if (!ctx->n_loras || !root) return load(ctx, path, err);
  dif_lora_use uses[DIF_MAX_LORAS];
  size_t before[DIF_MAX_LORAS * 2];
  for (int i = 0; i < ctx->n_loras; i++) {
    uses[i] = (dif_lora_use){ctx->loras[i].lora, ctx->loras[i].weight};
    before[i * 2] = uses[i].lora->merged[0];
    before[i * 2 + 1] = uses[i].lora->merged[1];
  }
  dif_component_bind_loras(uses, ctx->n_loras, root);
  dif_status s = load(ctx, path, err);
  dif_component_bind_loras(NULL, 0, NULL);
  if (!s) s = check_reached(ctx, uses, before, err);
  for (int i = 0; !s && i < ctx->n_loras; i++) {
    dif_ctx_log(ctx, DIF_LOG_INFO, "LoRA %s merged (weight %g)", ctx->loras[i].path,
                (double)ctx->loras[i].weight);
    dif_lora_close(ctx->loras[i].lora); /* the merged weights belong to the model files */
    ctx->loras[i].lora = NULL;
  }
  return s;
}

void dif_ctx_free_loras(dif_context *ctx) {
  for (int i = 0; i < ctx->n_loras; i++) {
    dif_lora_close(ctx->loras[i].lora);
    free(ctx->loras[i].path);
    free(ctx->loras[i].canon);
  }
  free(ctx->loras);
  ctx->loras = NULL;
  ctx->n_loras = 0;
}
