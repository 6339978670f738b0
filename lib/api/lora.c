/* lora.c — LoRAs added to a context (dif_context_add_lora) and merged
 * into its weights when it loads (io/lora.h). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/context.h"
#include "io/component.h"

DIF_API dif_status dif_context_add_lora(dif_context *ctx, const char *path, float weight) {
  if (!ctx) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_add_lora: ctx is NULL");
  if (ctx->loaded)
    return dif__ctx_failf(ctx, DIF_ERR_BUSY,
                          "dif_context_add_lora: a model is already loaded; add LoRAs before "
                          "dif_context_load (they are merged into the weights as they load)");
  if (!path)
    return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT, "dif_context_add_lora: path is NULL");
  if (!isfinite(weight))
    return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT,
                          "dif_context_add_lora: %s: weight must be a finite number", path);
  if (ctx->n_loras >= DIF_MAX_LORAS)
    return dif__ctx_failf(ctx, DIF_ERR_LIMIT, "dif_context_add_lora: %s: at most %d LoRAs", path,
                          DIF_MAX_LORAS);
  dif__error err = {0};
  dif__lora *l = NULL;
  if (dif__lora_open(path, &l, &err)) return dif__ctx_fail(ctx, &err);
  dif__ctx_lora *grown = realloc(ctx->loras, (size_t)(ctx->n_loras + 1) * sizeof *grown);
  char *copy = strdup(path);
  if (grown) ctx->loras = grown;
  if (!grown || !copy) {
    free(copy);
    dif__lora_close(l);
    return dif__ctx_failf(ctx, DIF_ERR_OUT_OF_MEMORY, "dif_context_add_lora: out of memory");
  }
  ctx->loras[ctx->n_loras++] =
      (dif__ctx_lora){copy, realpath(path, NULL), weight, dif__st_xxh3(l->st), l};
  dif__ctx_log(ctx, DIF_LOG_INFO,
               "LoRA %s (%s names, %zu modules: %zu UNet, %zu text encoder), weight %g", path,
               l->format, l->n, dif__lora_count(l, DIF__LORA_UNET),
               dif__lora_count(l, DIF__LORA_TEXT_ENCODER), (double)weight);
  dif__ctx_ok(ctx);
  return DIF_OK;
}

DIF_API dif_status dif_context_clear_loras(dif_context *ctx) {
  if (!ctx)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_clear_loras: ctx is NULL");
  if (ctx->loaded)
    return dif__ctx_failf(ctx, DIF_ERR_BUSY,
                          "dif_context_clear_loras: a model is already loaded with its LoRAs "
                          "merged; use a new context");
  dif__ctx_free_loras(ctx);
  dif__ctx_ok(ctx);
  return DIF_OK;
}

DIF_API int dif_context_lora_count(const dif_context *ctx) { return ctx ? ctx->n_loras : 0; }

DIF_API dif_status dif_context_lora(const dif_context *ctx, int i, const char **path, float *weight,
                                    uint64_t *xxh3) {
  if (!ctx || i < 0 || i >= ctx->n_loras)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_lora: %s",
                            ctx ? "index out of range" : "ctx is NULL");
  if (path) *path = ctx->loras[i].path;
  if (weight) *weight = ctx->loras[i].weight;
  if (xxh3) *xxh3 = ctx->loras[i].xxh3;
  return DIF_OK;
}

/* Each LoRA's modules of each component were merged. */
static dif_status check_reached(const dif_context *ctx, const dif__lora_use *uses,
                                const size_t *before, dif__error *err) {
  static const char *const names[] = {"unet", "text_encoder"};
  for (int i = 0; i < ctx->n_loras; i++)
    for (int c = 0; c < DIF__LORA_COMPONENTS; c++) {
      const dif__lora *l = uses[i].lora;
      if (dif__lora_count(l, (dif__lora_component)c) && l->merged[c] == before[i * 2 + c])
        return dif__fail(err, DIF_ERR_BAD_MODEL,
                         "%s: the LoRA has %s modules but the model's %s was not loaded from a "
                         "folder it could be merged into",
                         l->path, names[c], names[c]);
    }
  return DIF_OK;
}

dif_status dif__ctx_load_with_loras(dif_context *ctx, const char *root,
                                    dif_status (*load)(dif_context *ctx, const char *path,
                                                       dif__error *err),
                                    const char *path, dif__error *err) {
  if (!ctx->n_loras || !root) return load(ctx, path, err);
  dif__lora_use uses[DIF_MAX_LORAS];
  size_t before[DIF_MAX_LORAS * 2];
  for (int i = 0; i < ctx->n_loras; i++) {
    uses[i] = (dif__lora_use){ctx->loras[i].lora, ctx->loras[i].weight};
    before[i * 2] = uses[i].lora->merged[0];
    before[i * 2 + 1] = uses[i].lora->merged[1];
  }
  dif__component_bind_loras(uses, ctx->n_loras, root);
  dif_status s = load(ctx, path, err);
  dif__component_bind_loras(NULL, 0, NULL);
  if (!s) s = check_reached(ctx, uses, before, err);
  for (int i = 0; !s && i < ctx->n_loras; i++) {
    dif__ctx_log(ctx, DIF_LOG_INFO, "LoRA %s merged (weight %g)", ctx->loras[i].path,
                 (double)ctx->loras[i].weight);
    dif__lora_close(ctx->loras[i].lora); /* the merged weights belong to the model files */
    ctx->loras[i].lora = NULL;
  }
  return s;
}

void dif__ctx_free_loras(dif_context *ctx) {
  for (int i = 0; i < ctx->n_loras; i++) {
    dif__lora_close(ctx->loras[i].lora);
    free(ctx->loras[i].path);
    free(ctx->loras[i].canon);
  }
  free(ctx->loras);
  ctx->loras = NULL;
  ctx->n_loras = 0;
}
