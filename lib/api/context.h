/* context.h — the insides of a dif_context (api layer only). */
#ifndef DIF__API_CONTEXT_H
#define DIF__API_CONTEXT_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/backend.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "dif.h"
#include "io/embedding.h"
#include "io/lora.h"
#include "io/model_folder.h"
#include "pipelines/models.h"

/* A LoRA added to a context: its file stays open (checked) until the load
 * merges it, then only its name, weight and fingerprint are kept. */
typedef struct dif__ctx_lora {
  char *path;
  char *canon; /* its canonical path (NULL if unknown), for records */
  float weight;
  uint64_t xxh3;
  dif__lora *lora; /* NULL after loading */
} dif__ctx_lora;

/* A textual-inversion embedding added to a context: read (checked) when
 * added, its vectors freed once the load has added them to the model. */
typedef struct dif__ctx_embedding {
  dif__embedding e; /* e.data NULL after loading */
  char *canon;      /* its canonical path (NULL if unknown), for records */
  int vectors;
} dif__ctx_embedding;

/* Scratch arenas a context keeps between samples: one per sample that ran at
 * the same time, up to this many (more are freed when their sample ends). */
#define DIF__CTX_ARENAS 4

struct dif_context {
  /* References: the caller's (dropped by dif_context_free) and one per live
   * sample; the context is destroyed when the last one goes (dif__ctx_unref). */
  atomic_int refs;
  int threads; /* resolved: >= 1 */
  int loaded;  /* settings are frozen once a model part is loaded */
  dif_log_fn log_fn;
  dif_log_level log_level;
  void *log_user;
  dif_precision precision;  /* as set (DIF_PRECISION_AUTO by default) */
  dif__fast *fast;          /* made at load when the precision in effect is fast, else NULL */
  dif__wino *wino;          /* made at load where a backend has float32 Winograd convolutions
                             * (core/backend.h) in exact, and in fast where dif__wino_for_fast: the
                             * VAE's 3×3 convolutions; else NULL */
  int64_t wino_vae_max_cc;  /* the VAE's up to this cin·cout (kctx.wino_max_cc); 0: all */
  int64_t wino_nets_max_cc; /* and the UNet's up to this (kctx.wino_nets_max_cc); 0: none */
  int64_t wino_bf16_max_cc; /* fast: the UNet's by bf16 Winograd up to this (kctx); 0: none */
  dif__pool *pool;          /* created on first use */
  dif__models models;       /* valid when loaded */
  char *prior_dir;          /* dif_context_set_prior */
  char *config_dir;         /* dif_context_set_config (single-file checkpoints) */
  char *config_used;        /* the folder a single file loaded with (api/presets.h) */
  char *info;               /* dif_context_info's JSON, made at load */
  dif__ctx_lora *loras;     /* dif_context_add_lora, in order */
  int n_loras;
  dif__ctx_embedding *embeddings; /* dif_context_add_embedding, in order */
  int n_embeddings;
  dif_load_fn load_fn;
  void *load_user;
  /* Scratch arenas that finished samples gave back (dif__ctx_take_arena),
   * each one block as large as its sample's peak, its pages already in the
   * process: the next sample reuses one instead of touching fresh memory. */
  pthread_mutex_t arena_lock;
  dif__arena *arenas[DIF__CTX_ARENAS];
  int n_arenas;
  /* Runs going on (under arena_lock): each holds an arena from
   * dif__ctx_take_arena until dif__ctx_give_arena, and only then uses the
   * packed weights (fast, wino); dif_context_release_packed frees them only
   * while there is none. */
  int runs;
  pthread_mutex_t err_lock;
  char last_error[DIF__ERROR_MSG_MAX];
};

/* Stores err's message as the context's last error and returns its status. */
dif_status dif__ctx_fail(dif_context *ctx, const dif__error *err);
/* Same with a printf-style message. */
dif_status dif__ctx_failf(dif_context *ctx, dif_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Clears the context's last error. */
void dif__ctx_ok(dif_context *ctx);
/* Sends a line to the context's log callback if its level is enabled. */
void dif__ctx_log(const dif_context *ctx, dif_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The context's kernel thread pool, created on first use; also applies the
 * context's thread count to BLAS. NULL (serial) if threads cannot start. */
dif__pool *dif__ctx_pool(dif_context *ctx);

/* What set precision p resolves to here: DIF_PRECISION_EXACT or
 * DIF_PRECISION_FAST, with *backend the bf16 backend for fast (NULL for
 * exact). DIF_PRECISION_FAST that cannot run returns DIF_PRECISION_AUTO and
 * why in why. */
dif_precision dif__ctx_resolve_precision(dif_precision p, const dif__backend **backend, char *why,
                                         size_t size);
/* Runs load (a model load under root, the folder whose unet/ and
 * text_encoder/ receive them) with ctx's LoRAs bound (io/component.h), then
 * checks that every LoRA reached each component it has modules for and
 * closes the files (api/lora.c). */
dif_status dif__ctx_load_with_loras(dif_context *ctx, const char *root,
                                    dif_status (*load)(dif_context *ctx, const char *path,
                                                       dif__error *err),
                                    const char *path, dif__error *err);
/* Frees ctx's LoRA list. */
void dif__ctx_free_loras(dif_context *ctx);
/* Adds ctx's embeddings to its just-loaded models (api/embedding.c); on
 * failure frees the models (the load fails, nothing half-applied). */
dif_status dif__ctx_apply_embeddings(dif_context *ctx, dif__error *err);
/* Frees ctx's embedding list. */
void dif__ctx_free_embeddings(dif_context *ctx);

/* A sample's scratch arena: one a finished sample gave back, else a new
 * one; NULL when out of memory. Every run on the context's models (a
 * sample's, an embedding's) holds one: the context counts them (runs). */
dif__arena *dif__ctx_take_arena(dif_context *ctx);
/* Gives a back when its sample is done (nothing in it is in use):
 * consolidated into one block as large as its peak (dif__arena_reset) and
 * kept for the next sample, or freed when DIF__CTX_ARENAS are kept already.
 * NULL is a no-op. */
void dif__ctx_give_arena(dif_context *ctx, dif__arena *a);

/* The kernel context of a run on ctx: its pool, the arena, its precision
 * (wino: for dif__generate, which gives it to the VAE up to
 * wino_vae_max_cc, and to the UNet up to wino_nets_max_cc). */
dif__kctx dif__ctx_kernels(dif_context *ctx, dif__arena *arena);

/* Logs what the fast path holds (debug) and, as a warning, how many linear
 * products fell back to float32 so far (core/fast.c); in exact, what the
 * VAE's Winograd state holds (debug; core/wino.c). */
void dif__ctx_report_fast(const dif_context *ctx);

/* A sample's reference to its context (dif_sample_new / dif_sample_free). */
void dif__ctx_ref(dif_context *ctx);
void dif__ctx_unref(dif_context *ctx);

/* How the UNet's and the VAE's attention runs on ctx (api/info.c): "float32"
 * or "fused float32, AVX2" / "fused float32, AVX-512" (exact: core/attn_f32.h), "fused bf16, AMX
 * tiles" or "fused bf16, AVX512-BF16" (core/attn_fused.h), or "bf16" (fast's unfused path). */
const char *dif__ctx_attention(const dif_context *ctx);
/* What runs the linear products of at most 192 rows (info's "linear_few_rows"):
 * "weights read once, AVX2" (core/gemm_few.h), "sgemm" or, in fast, "bf16". */
const char *dif__ctx_linear_few_rows(const dif_context *ctx);

/* Builds ctx->info from the loaded models (api/info.c). */
char *dif__ctx_describe(const dif_context *ctx);

/* Per-thread error for calls without a context. */
dif_status dif__thread_fail(dif_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void dif__thread_ok(void);

#endif
