/* context.c — creating, configuring and freeing a dif_context. */
#include "api/context.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"

DIF_API dif_status dif_context_new(dif_context **out) {
  if (!out) return dif_thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_new: out is NULL");
  *out = NULL;
  dif_context *ctx = calloc(1, sizeof *ctx);
  if (!ctx)
    return dif_thread_fail(DIF_ERR_OUT_OF_MEMORY, "dif_context_new: out of memory (%zu bytes)",
                           sizeof *ctx);
  atomic_init(&ctx->refs, 1);
  ctx->threads = dif_cpu_count();
  pthread_mutex_init(&ctx->err_lock, NULL);
  *out = ctx;
  dif_thread_ok();
  return DIF_OK;
}

DIF_API void dif_context_free(dif_context *ctx) { dif_ctx_unref(ctx); }

void dif_ctx_ref(dif_context *ctx) { atomic_fetch_add(&ctx->refs, 1); }

void dif_ctx_unref(dif_context *ctx) {
  if (!ctx || atomic_fetch_sub(&ctx->refs, 1) != 1) return;
  dif_pool_free(ctx->pool);
  dif_models_free(&ctx->models);
  free(ctx->info);
  free(ctx->prior_dir);
  pthread_mutex_destroy(&ctx->err_lock);
  free(ctx);
}

DIF_API dif_status dif_context_set_threads(dif_context *ctx, int threads) {
  if (!ctx)
    return dif_thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_set_threads: ctx is NULL");
  if (ctx->loaded)
    return dif_ctx_failf(ctx, DIF_ERR_BUSY,
                         "dif_context_set_threads: settings are frozen once a model is loaded");
  if (threads < 0)
    return dif_ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT,
                         "dif_context_set_threads: threads must be >= 0, got %d", threads);
  if (threads > DIF_MAX_THREADS)
    return dif_ctx_failf(ctx, DIF_ERR_LIMIT,
                         "dif_context_set_threads: %d threads exceeds DIF_MAX_THREADS (%d)",
                         threads, DIF_MAX_THREADS);
  ctx->threads = threads == 0 ? dif_cpu_count() : threads;
  dif_ctx_ok(ctx);
  return DIF_OK;
}

DIF_API int dif_context_threads(const dif_context *ctx) { return ctx ? ctx->threads : 0; }

DIF_API dif_status dif_context_set_log(dif_context *ctx, dif_log_fn fn, dif_log_level max_level,
                                       void *user_data) {
  if (!ctx) return dif_thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_set_log: ctx is NULL");
  if (ctx->loaded)
    return dif_ctx_failf(ctx, DIF_ERR_BUSY,
                         "dif_context_set_log: settings are frozen once a model is loaded");
  if (max_level < DIF_LOG_ERROR || max_level > DIF_LOG_DEBUG)
    return dif_ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT, "dif_context_set_log: unknown log level %d",
                         (int)max_level);
  ctx->log_fn = fn;
  ctx->log_level = max_level;
  ctx->log_user = user_data;
  dif_ctx_ok(ctx);
  return DIF_OK;
}

DIF_API const char *dif_context_last_error(const dif_context *ctx) {
  return ctx ? ctx->last_error : dif_last_error();
}

DIF_API const char *dif_blas_core(void) { return dif_blas_corename(); }

DIF_API dif_status dif_blas_setup(int threads) {
  if (threads < 0)
    return dif_thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_blas_setup: threads must be >= 0, got %d",
                           threads);
  if (threads > DIF_MAX_THREADS)
    return dif_thread_fail(DIF_ERR_LIMIT, "dif_blas_setup: %d threads exceeds DIF_MAX_THREADS (%d)",
                           threads, DIF_MAX_THREADS);
  char msg[256];
  const bool best = dif_blas_use_best_core(msg, sizeof msg);
  if (threads > 0) dif_blas_set_threads(threads);
  if (!best) return dif_thread_fail(DIF_ERR_UNSUPPORTED, "%s", msg);
  dif_thread_ok();
  return DIF_OK;
}

dif_pool *dif_ctx_pool(dif_context *ctx) {
  if (!ctx->pool) {
    dif_error err;
    if (dif_pool_new(ctx->threads, &ctx->pool, &err) != DIF_OK)
      dif_ctx_log(ctx, DIF_LOG_WARN, "running single-threaded: %s", err.msg);
  }
  return ctx->pool;
}

dif_status dif_ctx_fail(dif_context *ctx, const dif_error *err) {
  pthread_mutex_lock(&ctx->err_lock);
  snprintf(ctx->last_error, sizeof ctx->last_error, "%s", err->msg);
  pthread_mutex_unlock(&ctx->err_lock);
  dif_ctx_log(ctx, DIF_LOG_ERROR, "%s", err->msg);
  return err->status;
}

dif_status dif_ctx_failf(dif_context *ctx, dif_status st, const char *fmt, ...) {
  dif_error e;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e.msg, sizeof e.msg, fmt, ap);
  va_end(ap);
  e.status = st;
  return dif_ctx_fail(ctx, &e);
}

void dif_ctx_ok(dif_context *ctx) {
  pthread_mutex_lock(&ctx->err_lock);
  ctx->last_error[0] = '\0';
  pthread_mutex_unlock(&ctx->err_lock);
}

void dif_ctx_log(const dif_context *ctx, dif_log_level level, const char *fmt, ...) {
  if (!ctx || !ctx->log_fn || level > ctx->log_level) return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  ctx->log_fn(level, line, ctx->log_user);
}
