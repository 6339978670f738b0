/* embedding.c — textual-inversion embeddings added to a context
 * (dif_context_add_embedding) and added to its model as it loads
 * (pipelines/textual_inversion.h). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "api/context.h"
#include "pipelines/textual_inversion.h"

DIF_API dif_status dif_context_add_embedding(dif_context *ctx, const char *path,
                                             const char *token) {
  if (!ctx)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_add_embedding: ctx is NULL");
  if (ctx->loaded)
    return dif__ctx_failf(ctx, DIF_ERR_BUSY,
                          "dif_context_add_embedding: a model is already loaded; add embeddings "
                          "before dif_context_load (they are added to its tokenizer and text "
                          "encoder as it loads)");
  if (!path)
    return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT, "dif_context_add_embedding: path is NULL");
  if (ctx->n_embeddings >= DIF_MAX_EMBEDDINGS)
    return dif__ctx_failf(ctx, DIF_ERR_LIMIT,
                          "dif_context_add_embedding: %s: at most %d embeddings", path,
                          DIF_MAX_EMBEDDINGS);
  dif__error err = {0};
  dif__ctx_embedding add = {0};
  if (dif__embedding_read(path, token, &add.e, &err)) return dif__ctx_fail(ctx, &err);
  dif__ctx_embedding *grown =
      realloc(ctx->embeddings, (size_t)(ctx->n_embeddings + 1) * sizeof *grown);
  if (!grown) {
    dif__embedding_free(&add.e);
    return dif__ctx_failf(ctx, DIF_ERR_OUT_OF_MEMORY, "dif_context_add_embedding: out of memory");
  }
  ctx->embeddings = grown;
  add.canon = realpath(path, NULL);
  add.vectors = (int)add.e.n;
  ctx->embeddings[ctx->n_embeddings++] = add;
  dif__ctx_log(ctx, DIF_LOG_INFO,
               "embedding %s (%s layout, tensor \"%s\"): token \"%s\", %d x %lld", path,
               add.e.layout, add.e.tensor, add.e.token, add.vectors, (long long)add.e.dim);
  dif__ctx_ok(ctx);
  return DIF_OK;
}

DIF_API dif_status dif_context_clear_embeddings(dif_context *ctx) {
  if (!ctx)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_clear_embeddings: ctx is NULL");
  if (ctx->loaded)
    return dif__ctx_failf(ctx, DIF_ERR_BUSY,
                          "dif_context_clear_embeddings: a model is already loaded with its "
                          "embeddings; use a new context");
  dif__ctx_free_embeddings(ctx);
  dif__ctx_ok(ctx);
  return DIF_OK;
}

DIF_API int dif_context_embedding_count(const dif_context *ctx) {
  return ctx ? ctx->n_embeddings : 0;
}

DIF_API dif_status dif_context_embedding(const dif_context *ctx, int i, const char **path,
                                         const char **token, int *vectors, uint64_t *xxh3) {
  if (!ctx || i < 0 || i >= ctx->n_embeddings)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_embedding: %s",
                            ctx ? "index out of range" : "ctx is NULL");
  const dif__ctx_embedding *e = &ctx->embeddings[i];
  if (path) *path = e->e.path;
  if (token) *token = e->e.token;
  if (vectors) *vectors = e->vectors;
  if (xxh3) *xxh3 = e->e.xxh3;
  return DIF_OK;
}

dif_status dif__ctx_apply_embeddings(dif_context *ctx, dif__error *err) {
  if (!ctx->n_embeddings) return DIF_OK;
  dif__embedding *list = malloc((size_t)ctx->n_embeddings * sizeof *list);
  dif_status s = list ? DIF_OK : dif__fail_oom(err, "embeddings", sizeof *list);
  for (int i = 0; !s && i < ctx->n_embeddings; i++) list[i] = ctx->embeddings[i].e;
  if (!s) s = dif__models_add_embeddings(&ctx->models, list, ctx->n_embeddings, err);
  free(list);
  if (s) {
    dif__models_free(&ctx->models);
    memset(&ctx->models, 0, sizeof ctx->models);
    return s;
  }
  for (int i = 0; i < ctx->n_embeddings; i++) {
    dif__ctx_embedding *e = &ctx->embeddings[i];
    dif__ctx_log(ctx, DIF_LOG_INFO, "embedding %s added: token \"%s\" (%d vector%s)", e->e.path,
                 e->e.token, e->vectors, e->vectors == 1 ? "" : "s");
    free(e->e.data); /* the vectors now belong to the text encoder */
    e->e.data = NULL;
  }
  return DIF_OK;
}

void dif__ctx_free_embeddings(dif_context *ctx) {
  for (int i = 0; i < ctx->n_embeddings; i++) {
    dif__embedding_free(&ctx->embeddings[i].e);
    free(ctx->embeddings[i].canon);
  }
  free(ctx->embeddings);
  ctx->embeddings = NULL;
  ctx->n_embeddings = 0;
}
