/* load.c — dif_context_load and what the loaded model can do. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "api/context.h"
#include "api/presets.h"
#include "core/attn_fused.h"
#include "core/blas.h"

DIF_API dif_status dif_context_set_prior(dif_context *ctx, const char *prior_dir) {
  if (!ctx) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_set_prior: ctx is NULL");
  if (ctx->loaded)
    return dif__ctx_failf(ctx, DIF_ERR_BUSY,
                          "dif_context_set_prior: a model is already loaded; set the prior first");
  if (!prior_dir)
    return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT,
                          "dif_context_set_prior: prior_dir is NULL");
  char *copy = strdup(prior_dir);
  if (!copy)
    return dif__ctx_failf(ctx, DIF_ERR_OUT_OF_MEMORY, "dif_context_set_prior: out of memory");
  free(ctx->prior_dir);
  ctx->prior_dir = copy;
  dif__ctx_ok(ctx);
  return DIF_OK;
}

DIF_API dif_status dif_context_set_config(dif_context *ctx, const char *config_dir) {
  if (!ctx)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_set_config: ctx is NULL");
  if (ctx->loaded)
    return dif__ctx_failf(
        ctx, DIF_ERR_BUSY,
        "dif_context_set_config: a model is already loaded; set the config first");
  if (!config_dir)
    return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT,
                          "dif_context_set_config: config_dir is NULL");
  char *copy = strdup(config_dir);
  if (!copy)
    return dif__ctx_failf(ctx, DIF_ERR_OUT_OF_MEMORY, "dif_context_set_config: out of memory");
  free(ctx->config_dir);
  ctx->config_dir = copy;
  dif__ctx_ok(ctx);
  return DIF_OK;
}

DIF_API dif_status dif_context_set_load_progress(dif_context *ctx, dif_load_fn fn,
                                                 void *user_data) {
  if (!ctx)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_set_load_progress: ctx is NULL");
  if (ctx->loaded)
    return dif__ctx_failf(
        ctx, DIF_ERR_BUSY,
        "dif_context_set_load_progress: settings are frozen once a model is loaded");
  ctx->load_fn = fn;
  ctx->load_user = user_data;
  dif__ctx_ok(ctx);
  return DIF_OK;
}

static void on_load(void *user, const char *component, int index, int total) {
  dif_context *ctx = user;
  dif__ctx_log(ctx, DIF_LOG_INFO, "loading %s (%d of %d)", component, index, total);
  if (ctx->load_fn) ctx->load_fn(component, index, total, ctx->load_user);
}

/* Auto stays exact for a small model: packing every weight to bf16 and
 * creating oneDNN's primitives cost more than bf16 saves on its small
 * products (measured on Zen 4 with the default model, 28 MB of weights: a
 * 64² picture in 0.4-0.7 s exact, 1.1-1.3 s fast; a full-size UNet step is
 * 1.5-1.9x faster in fast, docs/performance.md). */
#define DIF__AUTO_FAST_MIN_BYTES ((uint64_t)128 << 20)

static void auto_small_model_exact(dif_context *ctx) {
  if (ctx->precision != DIF_PRECISION_AUTO || !ctx->fast) return;
  uint64_t total = 0;
  for (int i = 0; i < dif_context_model_file_count(ctx); i++) {
    const char *path;
    uint64_t size, h;
    dif_context_model_file(ctx, i, &path, &size, &h);
    total += size;
  }
  if (total >= DIF__AUTO_FAST_MIN_BYTES) return;
  dif__fast_free(ctx->fast);
  ctx->fast = NULL;
  dif__ctx_log(ctx, DIF_LOG_INFO,
               "precision auto: exact for this small model (%llu MiB of weights, fast from %llu "
               "MiB)",
               (unsigned long long)(total >> 20),
               (unsigned long long)(DIF__AUTO_FAST_MIN_BYTES >> 20));
}

/* In exact, the VAE's 3×3 convolutions run by float32 Winograd where a
 * backend has it (core/backend.h): not under an address-space limit, for
 * the reason dif__ctx_resolve_precision gives (oneDNN aborts the process
 * when an allocation fails there). Without it, today's im2col + sgemm. The
 * UNet's first levels too (core/ops.h, DIF__WINO_NETS_MAX_CC), measured
 * faster per step on both backends (oneDNN's on AVX-512; the openblas one
 * on an AVX2 CPU emulated under DIF_MAX_CPU_ISA=avx2: 512² step 11.6 -> 9.4
 * and 9.8 -> 8.6 s, alternated; docs/performance.md). In fast, only where
 * dif__wino_for_fast (bf16 not on AMX tiles: Winograd measured faster):
 * every 3x3 convolution by bf16 Winograd (conv_wino_bf16, below), else
 * (DIF_WINO_BF16=off, a backend without products on bf16 input) the VAE's
 * up to 512 x 256 channels by float32 Winograd. */
/* oneDNN runs on libgomp, whose threads spin after each parallel region
 * unless OMP_WAIT_POLICY says otherwise, and then take the cores from
 * libdif's and OpenBLAS's threads (dif.h, DIF_PRECISION_FAST). libgomp reads
 * it when it is loaded, so only the program can set it: say so when oneDNN
 * will run and no policy was chosen (any value silences this). */
static void warn_omp_policy(dif_context *ctx, const char *what) {
  if (getenv("OMP_WAIT_POLICY")) return;
  dif__ctx_log(ctx, DIF_LOG_WARN,
               "%s run on oneDNN, whose OpenMP threads spin between products unless the "
               "program starts with OMP_WAIT_POLICY=passive in its environment (measured up to 2x "
               "slower without, on 2 cores); the dif command and the Python and Go packages set "
               "it, a C program has to",
               what);
}

/* Fast's 3x3 convolutions, the UNet's and the VAE's, by bf16 Winograd
 * F(2x2, 3x3) where its bf16 products run on dot-product instructions, not
 * matrix tiles (the rule of dif__wino_for_fast: there 2.25x fewer multiplies
 * pay; core/ops.h, core/conv2d_wino_bf16.c): true then. DIF_WINO_BF16=off in
 * the environment keeps them as before (the UNet's bf16 direct, the VAE's
 * by float32 Winograd up to 512 x 256 channels; measurements:
 * docs/performance.md). */
static bool conv_wino_bf16(dif_context *ctx) {
  const dif__backend *b = dif__fast_backend(ctx->fast);
  if (!b || !b->linear_bf16 || !dif__wino_for_fast(b)) return false;
  const char *env = getenv("DIF_WINO_BF16");
  if (env && strcmp(env, "off") == 0) {
    dif__ctx_log(ctx, DIF_LOG_INFO, "bf16 Winograd convolutions off (DIF_WINO_BF16=off)");
    return false;
  }
  ctx->wino_bf16_max_cc = DIF__WINO_BF16_MAX_CC;
  dif__ctx_log(ctx, DIF_LOG_INFO,
               "UNet and VAE 3x3 convolutions: bf16 Winograd F(2x2, 3x3) on the %s backend "
               "(transformed weights about 1.8x the bf16 3x3 weights)",
               b->name);
  return true;
}

static void conv_wino(dif_context *ctx) {
  if (ctx->fast && !dif__wino_for_fast(dif__fast_backend(ctx->fast))) return;
  if (ctx->fast && conv_wino_bf16(ctx)) return;
  struct rlimit r;
  if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY) return;
  char why[256] = "";
  const dif__backend *b = dif__backend_wino(why, sizeof why);
  dif__error err = {0};
  if (!b) {
    dif__ctx_log(ctx, DIF_LOG_DEBUG, "VAE convolutions on %s: %s",
                 ctx->fast ? "bf16 products" : "im2col + sgemm", why);
  } else if (dif__wino_new(b, &ctx->wino, &err)) {
    dif__ctx_log(ctx, DIF_LOG_WARN, "VAE convolutions on %s: %s",
                 ctx->fast ? "bf16 products" : "im2col + sgemm", err.msg);
  } else {
    ctx->wino_vae_max_cc = ctx->fast ? DIF__WINO_FAST_VAE_MAX_CC : 0;
    ctx->wino_nets_max_cc = ctx->fast ? 0 : DIF__WINO_NETS_MAX_CC;
    dif__ctx_log(ctx, DIF_LOG_INFO,
                 "%s 3x3 convolutions: float32 Winograd on the %s backend (transformed weights "
                 "about 4x the float32 3x3 weights)%s",
                 ctx->fast               ? "VAE (up to 512 x 256 channels; bf16 beyond)"
                 : ctx->wino_nets_max_cc ? "VAE and UNet (up to 1920 x 640 channels)"
                                         : "VAE",
                 b->name, ctx->fast ? "" : "; the smallest on im2col + sgemm");
    if (!ctx->fast && strcmp(b->name, "onednn") == 0)
      warn_omp_policy(ctx, "the Winograd convolutions");
  }
}

/* Each loads the models, then adds the embeddings (inside the LoRA binding,
 * so a refused embedding leaves the LoRAs as they were: the context can
 * load again). */
static dif_status load_checkpoint(dif_context *ctx, const char *path, dif__error *err) {
  dif_status s = dif__models_load_checkpoint(&ctx->models, path, ctx->config_used, ctx->prior_dir,
                                             on_load, ctx, err);
  return s ? s : dif__ctx_apply_embeddings(ctx, err);
}

static dif_status load_folder(dif_context *ctx, const char *path, dif__error *err) {
  dif_status s = dif__models_load(&ctx->models, path, ctx->prior_dir, on_load, ctx, err);
  return s ? s : dif__ctx_apply_embeddings(ctx, err);
}

/* A folder, or a single-file checkpoint with its config folder (the one
 * set, or a preset: api/presets.h); the LoRAs go into the unet/ and
 * text_encoder/ of the folder (or of the config folder, whose components
 * read the checkpoint's parts). */
static dif_status load_models(dif_context *ctx, const char *path, dif__error *err) {
  struct stat sb;
  if (stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
    free(ctx->config_used);
    dif_status s = dif__config_for_checkpoint(ctx, path, &ctx->config_used, err);
    if (s) return s;
    s = dif__ctx_load_with_loras(ctx, ctx->config_used, load_checkpoint, path, err);
    if (s == DIF_ERR_BAD_MODEL && !ctx->config_dir) dif__preset_explain(ctx->config_used, err);
    return s;
  }
  if (ctx->config_dir)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "%s is a model folder, which has its own configs: a config folder (%s) is "
                     "only for single-file checkpoints",
                     path, ctx->config_dir);
  return dif__ctx_load_with_loras(ctx, path, load_folder, path, err);
}

DIF_API dif_status dif_context_load(dif_context *ctx, const char *model_dir) {
  if (!ctx) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_load: ctx is NULL");
  if (!model_dir)
    return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT, "dif_context_load: model_dir is NULL");
  if (ctx->loaded)
    return dif__ctx_failf(ctx, DIF_ERR_BUSY,
                          "dif_context_load: a model is already loaded (%s); use a new context",
                          dif__model_folder_dir(ctx->models.folder));
  if (!dif__blas_runnable())
    return dif__ctx_failf(ctx, DIF_ERR_UNSUPPORTED,
                          "OpenBLAS runs the %s kernels, which this CPU cannot run (crash at the "
                          "first product): %s",
                          dif_blas_core(), dif__blas_note());
  dif__error err = {0};
  const dif__backend *fast_backend;
  char why[300] = "";
  if (dif__ctx_resolve_precision(ctx->precision, &fast_backend, why, sizeof why) ==
      DIF_PRECISION_AUTO) /* fast was accepted by the setter, so this does not happen */
    return dif__ctx_failf(ctx, DIF_ERR_UNSUPPORTED, "dif_context_load: fast cannot run here: %s",
                          why);
  if (fast_backend && dif__fast_new(fast_backend, &ctx->fast, &err))
    return dif__ctx_fail(ctx, &err);
  /* OpenBLAS's buffers before anything else grows (core/blas.c says why) */
  dif_status s = dif__blas_reserve(&err);
  if (!s) s = load_models(ctx, model_dir, &err);
  if (s) {
    dif__fast_free(ctx->fast);
    ctx->fast = NULL;
    return dif__ctx_fail(ctx, &err);
  }
  for (int i = 0; i < dif_context_model_file_count(ctx); i++) {
    const char *path;
    uint64_t size, h;
    dif_context_model_file(ctx, i, &path, &size, &h);
    dif__ctx_log(ctx, DIF_LOG_INFO, "%s: %llu bytes, xxh3 %016llx", path, (unsigned long long)size,
                 (unsigned long long)h);
  }
  ctx->loaded = 1;
  auto_small_model_exact(ctx);
  conv_wino(ctx);
  ctx->info = dif__ctx_describe(ctx); /* NULL only when out of memory: info reports "{}" */
  dif__ctx_pool(ctx);
  dif__ctx_log(ctx, DIF_LOG_INFO, "BLAS kernels: %s, %d BLAS threads, %d kernel threads",
               dif_blas_core(), dif__blas_threads(), ctx->threads);
  char cpu[160];
  dif__cpu_describe(cpu, sizeof cpu);
  if (ctx->fast)
    dif__ctx_log(ctx, DIF_LOG_INFO,
                 "precision fast (%s): products in bf16 with float32 accumulation on the %s "
                 "backend, ISA %s; attention %s; CPU %s",
                 dif_precision_name(ctx->precision), fast_backend->name, fast_backend->isa(),
                 dif__ctx_attention(ctx), cpu);
  else
    dif__ctx_log(
        ctx, DIF_LOG_INFO,
        "precision exact (%s): float32 products on the openblas backend, kernels %s; products "
        "of at most 192 rows: %s; attention %s; CPU %s",
        dif_precision_name(ctx->precision), dif_blas_core(), dif__ctx_linear_few_rows(ctx),
        dif__ctx_attention(ctx), cpu);
  if (ctx->fast && strcmp(fast_backend->name, "onednn") == 0)
    warn_omp_policy(ctx, "fast's bf16 products");
  const char *note = dif__blas_note();
  if (note && *note) dif__ctx_log(ctx, DIF_LOG_WARN, "%s", note);
  const char *cap = dif__cpu_isa_env_note();
  if (cap) dif__ctx_log(ctx, strstr(cap, "ignored") ? DIF_LOG_WARN : DIF_LOG_INFO, "%s", cap);
  const char *attn = ctx->fast ? dif__attn_fused_env_note() : NULL;
  if (attn) dif__ctx_log(ctx, strstr(attn, "ignored") ? DIF_LOG_WARN : DIF_LOG_INFO, "%s", attn);
  dif__ctx_ok(ctx);
  return DIF_OK;
}

/* The model's weight files: the folder's, then the separate prior folder's. */
static const dif__model_file *file_at(const dif_context *ctx, int i) {
  if (!ctx || !ctx->loaded) return NULL;
  size_t n = dif__model_folder_file_count(ctx->models.folder);
  if (i < 0) return NULL;
  if ((size_t)i < n) return dif__model_folder_file_at(ctx->models.folder, (size_t)i);
  return ctx->models.prior_folder
             ? dif__model_folder_file_at(ctx->models.prior_folder, (size_t)i - n)
             : NULL;
}

DIF_API int dif_context_model_file_count(const dif_context *ctx) {
  if (!ctx || !ctx->loaded) return 0;
  size_t n = dif__model_folder_file_count(ctx->models.folder);
  if (ctx->models.prior_folder) n += dif__model_folder_file_count(ctx->models.prior_folder);
  return (int)n;
}

DIF_API dif_status dif_context_model_file(const dif_context *ctx, int i, const char **path,
                                          uint64_t *size, uint64_t *xxh3) {
  if (!ctx)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_model_file: ctx is NULL");
  const dif__model_file *f = file_at(ctx, i);
  if (!f)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT,
                            "dif_context_model_file: index %d out of range (model has %d files)", i,
                            dif_context_model_file_count(ctx));
  if (path) *path = f->path;
  if (size) *size = f->size;
  if (xxh3) *xxh3 = f->xxh3;
  return DIF_OK;
}

DIF_API int dif_context_is_unclip(const dif_context *ctx) {
  return ctx && ctx->loaded && ctx->models.family == DIF__FAMILY_UNCLIP;
}
DIF_API int dif_context_has_prior(const dif_context *ctx) {
  return ctx && ctx->loaded && ctx->models.has_prior;
}
DIF_API int dif_context_has_image_encoder(const dif_context *ctx) {
  return ctx && ctx->loaded && ctx->models.has_image_encoder;
}
