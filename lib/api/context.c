/* context.c — creating, configuring and freeing a dif_context. */
#include "api/context.h"

#include <stdarg.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/blas.h"

DIF_API dif_status dif_context_new(dif_context **out) {
  if (!out) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_new: out is NULL");
  *out = NULL;
  dif_context *ctx = calloc(1, sizeof *ctx);
  if (!ctx)
    return dif__thread_fail(DIF_ERR_OUT_OF_MEMORY, "dif_context_new: out of memory (%zu bytes)",
                            sizeof *ctx);
  atomic_init(&ctx->refs, 1);
  ctx->threads = dif__cpu_count();
  pthread_mutex_init(&ctx->arena_lock, NULL);
  pthread_mutex_init(&ctx->err_lock, NULL);
  *out = ctx;
  dif__thread_ok();
  return DIF_OK;
}

DIF_API void dif_context_free(dif_context *ctx) { dif__ctx_unref(ctx); }

void dif__ctx_ref(dif_context *ctx) { atomic_fetch_add(&ctx->refs, 1); }

void dif__ctx_unref(dif_context *ctx) {
  if (!ctx || atomic_fetch_sub(&ctx->refs, 1) != 1) return;
  dif__pool_free(ctx->pool);
  dif__models_free(&ctx->models);
  dif__fast_free(ctx->fast); /* its packed weights, keyed by the models' addresses */
  dif__wino_free(ctx->wino); /* the same for the VAE's Winograd weights */
  free(ctx->info);
  free(ctx->prior_dir);
  free(ctx->config_dir);
  free(ctx->config_used);
  dif__ctx_free_loras(ctx);
  dif__ctx_free_embeddings(ctx);
  for (int i = 0; i < ctx->n_arenas; i++) {
    dif__arena_free(ctx->arenas[i]);
    free(ctx->arenas[i]);
  }
  pthread_mutex_destroy(&ctx->arena_lock);
  pthread_mutex_destroy(&ctx->err_lock);
  free(ctx);
}

/* A sample's first arena block; later ones double (core/arena.c). */
#define SAMPLE_ARENA_MIN ((size_t)16 << 20)

dif__arena *dif__ctx_take_arena(dif_context *ctx) {
  dif__arena *a = NULL;
  pthread_mutex_lock(&ctx->arena_lock);
  if (ctx->n_arenas > 0) a = ctx->arenas[--ctx->n_arenas];
  ctx->runs++; /* from here the run may use the packed weights */
  pthread_mutex_unlock(&ctx->arena_lock);
  if (a) {
    dif__arena_restart_peak(a); /* this run's own peak (its block stays) */
  } else if ((a = malloc(sizeof *a))) {
    dif__arena_init(a, SAMPLE_ARENA_MIN);
  } else { /* no run: its caller fails */
    pthread_mutex_lock(&ctx->arena_lock);
    ctx->runs--;
    pthread_mutex_unlock(&ctx->arena_lock);
  }
  return a;
}

void dif__ctx_give_arena(dif_context *ctx, dif__arena *a) {
  if (!a) return;
  const double peak_mib = (double)dif__arena_peak(a) / (1 << 20);
  double kept_mib = 0;
  pthread_mutex_lock(&ctx->arena_lock);
  ctx->runs--; /* done with the packed weights */
  bool keep = ctx->n_arenas < DIF__CTX_ARENAS;
  pthread_mutex_unlock(&ctx->arena_lock);
  if (keep) {
    /* One block, as large as the largest peak of the runs it served (reset
     * keeps a single block that holds this run's peak): the blocks a
     * growing run chained (each twice the last) would hold up to twice its
     * peak; the next run's scratch then lies in pages already touched,
     * where a fresh arena's each cost a page fault, expensive in a VM (a
     * 768² unCLIP's VAE decode 0.4-1.5 s faster, Zen 4,
     * docs/performance.md). Reset before the arena is back in the list,
     * where another run may take it; if the list filled meanwhile, freed. */
    dif__arena_reset(a);
    kept_mib = (double)dif__arena_capacity(a) / (1 << 20); /* before another run may take it */
    pthread_mutex_lock(&ctx->arena_lock);
    keep = ctx->n_arenas < DIF__CTX_ARENAS;
    if (keep) ctx->arenas[ctx->n_arenas++] = a;
    pthread_mutex_unlock(&ctx->arena_lock);
  }
  if (keep) {
    dif__ctx_log(ctx, DIF_LOG_DEBUG,
                 "scratch: the run's peak %.1f MiB; a block of %.1f MiB kept for the next run",
                 peak_mib, kept_mib);
  } else {
    dif__ctx_log(ctx, DIF_LOG_DEBUG,
                 "scratch: the run's peak %.1f MiB; freed (%d arenas are kept already)", peak_mib,
                 DIF__CTX_ARENAS);
    dif__arena_free(a);
    free(a);
  }
}

/* After freeing: gives the C library's free memory back to the OS. glibc
 * serves allocations below its mmap threshold (which grows up to 32 MiB as
 * large blocks are freed) from its heaps and keeps what is freed there:
 * after a 768² unCLIP in fast, releasing the packed weights (many of them a
 * few MiB) left 1.49 GiB of anonymous memory resident, 0.07 GiB after
 * malloc_trim (Zen 4, docs/performance.md). */
static void give_back_to_os(void) {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

DIF_API dif_status dif_context_release_scratch(dif_context *ctx, size_t *freed) {
  if (freed) *freed = 0;
  if (!ctx)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_release_scratch: ctx is NULL");
  dif__arena *kept[DIF__CTX_ARENAS];
  pthread_mutex_lock(&ctx->arena_lock); /* taken out here, freed outside the lock */
  const int n = ctx->n_arenas;
  for (int i = 0; i < n; i++) kept[i] = ctx->arenas[i];
  ctx->n_arenas = 0;
  pthread_mutex_unlock(&ctx->arena_lock);
  size_t bytes = 0;
  for (int i = 0; i < n; i++) {
    bytes += dif__arena_capacity(kept[i]);
    dif__arena_free(kept[i]);
    free(kept[i]);
  }
  if (n) give_back_to_os();
  dif__ctx_log(ctx, DIF_LOG_DEBUG, "scratch: released %d kept arena%s, %.1f MiB", n,
               n == 1 ? "" : "s", (double)bytes / (1 << 20));
  if (freed) *freed = bytes;
  return DIF_OK;
}

DIF_API dif_status dif_context_release_packed(dif_context *ctx, size_t *freed) {
  if (freed) *freed = 0;
  if (!ctx)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_release_packed: ctx is NULL");
  /* Under arena_lock: a run that starts meanwhile waits in
   * dif__ctx_take_arena until the weights are gone, then packs afresh. */
  pthread_mutex_lock(&ctx->arena_lock);
  const int runs = ctx->runs;
  size_t fast = 0, wino = 0;
  if (runs == 0) {
    fast = dif__fast_release(ctx->fast);
    wino = dif__wino_release(ctx->wino);
  }
  pthread_mutex_unlock(&ctx->arena_lock);
  if (fast + wino) give_back_to_os();
  if (runs)
    return dif__ctx_failf(ctx, DIF_ERR_BUSY,
                          "dif_context_release_packed: %d run%s of the context %s going on (a "
                          "sample's or an embedding's); nothing was released",
                          runs, runs == 1 ? "" : "s", runs == 1 ? "is" : "are");
  dif__ctx_log(ctx, DIF_LOG_DEBUG,
               "packed weights: released %.1f MiB (fast's bf16 %.1f, Winograd %.1f); the next run "
               "packs again",
               (double)(fast + wino) / (1 << 20), (double)fast / (1 << 20),
               (double)wino / (1 << 20));
  if (freed) *freed = fast + wino;
  return DIF_OK;
}

DIF_API dif_status dif_context_set_threads(dif_context *ctx, int threads) {
  if (!ctx)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_set_threads: ctx is NULL");
  if (ctx->loaded)
    return dif__ctx_failf(ctx, DIF_ERR_BUSY,
                          "dif_context_set_threads: settings are frozen once a model is loaded");
  if (threads < 0)
    return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT,
                          "dif_context_set_threads: threads must be >= 0, got %d", threads);
  if (threads > DIF_MAX_THREADS)
    return dif__ctx_failf(ctx, DIF_ERR_LIMIT,
                          "dif_context_set_threads: %d threads exceeds DIF_MAX_THREADS (%d)",
                          threads, DIF_MAX_THREADS);
  ctx->threads = threads == 0 ? dif__cpu_count() : threads;
  dif__ctx_ok(ctx);
  return DIF_OK;
}

DIF_API int dif_context_threads(const dif_context *ctx) { return ctx ? ctx->threads : 0; }

dif_precision dif__ctx_resolve_precision(dif_precision p, const dif__backend **backend, char *why,
                                         size_t size) {
  *backend = NULL;
  if (p == DIF_PRECISION_EXACT) return DIF_PRECISION_EXACT;
  if (p == DIF_PRECISION_AUTO) {
    /* Not under an address-space limit (ulimit -v): oneDNN 2.6 lets a
     * std::bad_alloc escape its C API when an allocation fails, which ends
     * the process (measured: tests/cli/test-memlimit.sh aborted from 300 to
     * 800 MiB), and libdif must report out of memory instead. */
    struct rlimit r;
    if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY) return DIF_PRECISION_EXACT;
    *backend = dif__backend_fast_native(NULL, 0);
    return *backend ? DIF_PRECISION_FAST : DIF_PRECISION_EXACT;
  }
  /* fast asked for: any backend with bf16 products, emulated ones too */
  if (why && size) why[0] = '\0';
  for (int i = 0; i < dif__backend_count(); i++) {
    const dif__backend_row *r = dif__backend_row_at(i);
    char tmp[256] = "";
    if (r->backend && r->backend->supports(DIF__DTYPE_BF16, tmp, sizeof tmp)) {
      *backend = r->backend;
      return DIF_PRECISION_FAST;
    }
    if (why && size && r->name && strcmp(r->name, "onednn") == 0)
      snprintf(why, size, "%s", r->backend ? tmp : r->missing);
  }
  return DIF_PRECISION_AUTO;
}

DIF_API dif_status dif_context_set_precision(dif_context *ctx, dif_precision precision) {
  if (!ctx)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_set_precision: ctx is NULL");
  if (ctx->loaded)
    return dif__ctx_failf(ctx, DIF_ERR_BUSY,
                          "dif_context_set_precision: settings are frozen once a model is loaded");
  if (!dif_precision_name(precision))
    return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT,
                          "dif_context_set_precision: unknown precision %d (DIF_PRECISION_AUTO, "
                          "_EXACT or _FAST)",
                          (int)precision);
  const dif__backend *b;
  char why[300] = "";
  if (precision == DIF_PRECISION_FAST &&
      dif__ctx_resolve_precision(precision, &b, why, sizeof why) != DIF_PRECISION_FAST)
    return dif__ctx_failf(ctx, DIF_ERR_UNSUPPORTED,
                          "dif_context_set_precision: fast (bf16) products cannot run here: %s",
                          why[0] ? why : "no backend has them");
  ctx->precision = precision;
  dif__ctx_ok(ctx);
  return DIF_OK;
}

DIF_API dif_precision dif_context_precision(const dif_context *ctx) {
  if (!ctx) return DIF_PRECISION_AUTO;
  if (ctx->loaded) return ctx->fast ? DIF_PRECISION_FAST : DIF_PRECISION_EXACT;
  const dif__backend *b;
  const dif_precision p = dif__ctx_resolve_precision(ctx->precision, &b, NULL, 0);
  return p == DIF_PRECISION_FAST ? p : DIF_PRECISION_EXACT;
}

DIF_API const char *dif_precision_name(dif_precision precision) {
  switch (precision) {
  case DIF_PRECISION_AUTO: return "auto";
  case DIF_PRECISION_EXACT: return "exact";
  case DIF_PRECISION_FAST: return "fast";
  }
  return NULL;
}

void dif__ctx_report_fast(const dif_context *ctx) {
  if (ctx->wino) {
    dif__wino_stats ws;
    dif__wino_get_stats(ctx->wino, &ws);
    dif__ctx_log(ctx, DIF_LOG_DEBUG,
                 "%lld 3x3 weights by float32 Winograd, %.1f MiB (%lld refused: im2col + sgemm)",
                 (long long)ws.weights, (double)ws.bytes / (1 << 20), (long long)ws.refused);
  }
  if (!ctx->fast) return;
  dif__fast_stats st;
  dif__fast_get_stats(ctx->fast, &st);
  dif__ctx_log(ctx, DIF_LOG_DEBUG, "fast path: %lld packed bf16 weights, %.1f MiB",
               (long long)st.weights, (double)st.bytes / (1 << 20));
  if (st.fallbacks)
    dif__ctx_log(ctx, DIF_LOG_WARN,
                 "fast path: %lld linear products ran in float32 instead (the first because: %s)",
                 (long long)st.fallbacks, st.first_fallback);
}

dif__kctx dif__ctx_kernels(dif_context *ctx, dif__arena *arena) {
  /* channels-last where fast's VAE convolutions are all bf16 (core/ops.h) */
  return (dif__kctx){dif__ctx_pool(ctx),
                     arena,
                     ctx->fast,
                     ctx->wino,
                     ctx->wino_vae_max_cc,
                     ctx->wino_nets_max_cc,
                     ctx->fast && !ctx->wino,
                     !ctx->fast,
                     ctx->wino_bf16_max_cc};
}

DIF_API dif_status dif_context_set_log(dif_context *ctx, dif_log_fn fn, dif_log_level max_level,
                                       void *user_data) {
  if (!ctx) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_set_log: ctx is NULL");
  if (ctx->loaded)
    return dif__ctx_failf(ctx, DIF_ERR_BUSY,
                          "dif_context_set_log: settings are frozen once a model is loaded");
  if (max_level < DIF_LOG_ERROR || max_level > DIF_LOG_DEBUG)
    return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT,
                          "dif_context_set_log: unknown log level %d", (int)max_level);
  ctx->log_fn = fn;
  ctx->log_level = max_level;
  ctx->log_user = user_data;
  dif__ctx_ok(ctx);
  return DIF_OK;
}

DIF_API const char *dif_context_last_error(const dif_context *ctx) {
  return ctx ? ctx->last_error : dif_last_error();
}

DIF_API const char *dif_blas_core(void) { return dif__blas_corename(); }

DIF_API dif_status dif_blas_setup(int threads) {
  if (threads < 0)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT,
                            "dif_blas_setup: threads must be >= 0, got %d", threads);
  if (threads > DIF_MAX_THREADS)
    return dif__thread_fail(DIF_ERR_LIMIT,
                            "dif_blas_setup: %d threads exceeds DIF_MAX_THREADS (%d)", threads,
                            DIF_MAX_THREADS);
  char msg[256], idle_msg[256];
  const bool best = dif__blas_use_best_core(msg, sizeof msg),
             idle = dif__blas_sleep_idle_threads(idle_msg, sizeof idle_msg);
  if (threads > 0) dif__blas_set_threads(threads);
  if (!best || !idle)
    return dif__thread_fail(DIF_ERR_UNSUPPORTED, "%s%s%s", best ? "" : msg,
                            !best && !idle ? "; " : "", idle ? "" : idle_msg);
  dif__thread_ok();
  return DIF_OK;
}

dif__pool *dif__ctx_pool(dif_context *ctx) {
  if (!ctx->pool) {
    dif__error err;
    if (dif__pool_new(ctx->threads, &ctx->pool, &err) != DIF_OK)
      dif__ctx_log(ctx, DIF_LOG_WARN, "running single-threaded: %s", err.msg);
  }
  return ctx->pool;
}

dif_status dif__ctx_fail(dif_context *ctx, const dif__error *err) {
  pthread_mutex_lock(&ctx->err_lock);
  snprintf(ctx->last_error, sizeof ctx->last_error, "%s", err->msg);
  pthread_mutex_unlock(&ctx->err_lock);
  dif__ctx_log(ctx, DIF_LOG_ERROR, "%s", err->msg);
  return err->status;
}

dif_status dif__ctx_failf(dif_context *ctx, dif_status st, const char *fmt, ...) {
  dif__error e;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e.msg, sizeof e.msg, fmt, ap);
  va_end(ap);
  e.status = st;
  return dif__ctx_fail(ctx, &e);
}

void dif__ctx_ok(dif_context *ctx) {
  pthread_mutex_lock(&ctx->err_lock);
  ctx->last_error[0] = '\0';
  pthread_mutex_unlock(&ctx->err_lock);
}

void dif__ctx_log(const dif_context *ctx, dif_log_level level, const char *fmt, ...) {
  if (!ctx || !ctx->log_fn || level > ctx->log_level) return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  ctx->log_fn(level, line, ctx->log_user);
}
