/*
 * dif.h — libdif, text and image prompts to pictures on a CPU.
 *
 * This header is the manual. Read it top to bottom:
 *
 *   1. Overview
 *   2. Versions
 *   3. Status codes and error messages
 *   4. Logging
 *   5. dif_context — loaded models
 *   6. dif_prompt, dif_sample — planned (see docs/architecture.md)
 *
 * ---------------------------------------------------------------------------
 * 1. OVERVIEW
 *
 * libdif runs the Stable unCLIP stack (CLIP tokenizer and encoders, the Karlo
 * diffusion prior, the UNet decoder and the VAE) and plain Stable Diffusion
 * 1.x/2.x from Hugging Face diffusers model folders, in C11 on a CPU.
 *
 * Three opaque handles, no public structs:
 *   dif_context  the loaded models; created once, shared by many samples.
 *   dif_prompt   weighted text and image parts plus a negative text.
 *   dif_sample   one generation request and its images.
 *
 * Conventions that hold for every function unless its contract says otherwise:
 *   - Functions that can fail return a dif_status. DIF_OK (0) is success.
 *   - On failure a human-readable message names the problem (file, tensor,
 *     key, value, limit). Calls on a context store it in that context
 *     (dif_context_last_error); calls that fail before a context exists store
 *     it per thread (dif_last_error). Messages are never NULL.
 *   - The library never prints, never calls abort() or exit(), and reports
 *     allocation failure as DIF_ERR_OUT_OF_MEMORY.
 *   - Passing NULL where a handle or output pointer is required returns
 *     DIF_ERR_INVALID_ARGUMENT. dif_*_free(NULL) is a harmless no-op.
 *   - Strings passed in are UTF-8 and are copied if the library keeps them.
 *     Strings returned are owned by the library; their lifetime is stated.
 *   - Callbacks take their user pointer as the last argument.
 */
#ifndef DIF_H
#define DIF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DIF_BUILDING) && defined(__GNUC__)
#define DIF_API __attribute__((visibility("default")))
#else
#define DIF_API
#endif

/* ---------------------------------------------------------------------------
 * 2. VERSIONS
 *
 * The macros give the version of the header you compiled against;
 * dif_version() gives the version of the library you run against. The shared
 * library's SONAME is libdif.so.<MAJOR>; the ABI only breaks when MAJOR
 * changes. Both functions are thread-safe and never fail.
 */
#define DIF_VERSION_MAJOR 0
#define DIF_VERSION_MINOR 1
#define DIF_VERSION_PATCH 0
/* MAJOR*10000 + MINOR*100 + PATCH */
#define DIF_VERSION_NUMBER (DIF_VERSION_MAJOR * 10000 + DIF_VERSION_MINOR * 100 + DIF_VERSION_PATCH)

/* Returns DIF_VERSION_NUMBER of the library that is running. */
DIF_API int dif_version(void);
/* Returns "MAJOR.MINOR.PATCH" of the running library; a static string. */
DIF_API const char *dif_version_string(void);

/* ---------------------------------------------------------------------------
 * 3. STATUS CODES AND ERROR MESSAGES
 *
 * The numeric values are part of the ABI and never change; new codes are only
 * appended.
 */
typedef enum dif_status {
  DIF_OK = 0, /* success */
  DIF_ERR_INVALID_ARGUMENT =
      1,                     /* a NULL handle, an out-of-range value, a call in the wrong state */
  DIF_ERR_IO = 2,            /* a file could not be opened, read, written or renamed */
  DIF_ERR_BAD_MODEL = 3,     /* a model file or config is malformed or inconsistent */
  DIF_ERR_BAD_IMAGE = 4,     /* an image file is corrupt, truncated or not an image */
  DIF_ERR_UNSUPPORTED = 5,   /* well-formed but not implemented (dtype, class, config value) */
  DIF_ERR_OUT_OF_MEMORY = 6, /* an allocation failed */
  DIF_ERR_LIMIT = 7,         /* a documented limit (size, pixels, parts) was exceeded */
  DIF_ERR_CANCELLED = 8,     /* the caller cancelled the operation */
  DIF_ERR_BUSY = 9,          /* the handle is in use (e.g. a sample is still running) */
  DIF_ERR_INTERNAL = 10      /* a bug in libdif; the message says where */
} dif_status;

/* Returns a static, never-NULL English name for a status ("invalid argument").
 * Unknown values give "unknown status". Thread-safe. */
DIF_API const char *dif_status_string(dif_status status);

/* Returns the message of the last failing libdif call made by this thread
 * that had no context to store it in (for example dif_context_new), or "" if
 * there was none. Never NULL. The string is owned by the library and valid
 * until this thread's next libdif call. Thread-safe (per-thread storage). */
DIF_API const char *dif_last_error(void);

/* ---------------------------------------------------------------------------
 * 4. LOGGING
 *
 * The library is silent by default. Install a callback per context to see
 * what it does (loading progress, the BLAS kernels in use, warnings).
 */
typedef enum dif_log_level {
  DIF_LOG_ERROR = 0,
  DIF_LOG_WARN = 1,
  DIF_LOG_INFO = 2,
  DIF_LOG_DEBUG = 3
} dif_log_level;

/* message is a NUL-terminated UTF-8 line without a trailing newline, valid
 * only during the call. The callback may be called from any thread that
 * calls into the context; it must not call back into libdif. */
typedef void (*dif_log_fn)(dif_log_level level, const char *message, void *user_data);

/* ---------------------------------------------------------------------------
 * 5. DIF_CONTEXT — LOADED MODELS
 *
 * Lifetime: dif_context_new → setters (threads, log) → loading (added by the
 * model issues) → use → dif_context_free. Settings are only accepted before
 * the first model is loaded; after that they return DIF_ERR_BUSY, because a
 * loaded context is immutable and may be shared between threads.
 */
typedef struct dif_context dif_context;
typedef struct dif_prompt dif_prompt; /* planned: weighted prompt parts */
typedef struct dif_sample dif_sample; /* planned: one generation request */

/* Creates an empty context and stores it in *out (set to NULL on failure).
 * Errors: DIF_ERR_INVALID_ARGUMENT (out is NULL), DIF_ERR_OUT_OF_MEMORY; the
 * message is in dif_last_error(). Thread-safe. The caller owns the context
 * and frees it with dif_context_free. */
DIF_API dif_status dif_context_new(dif_context **out);

/* Frees the context and everything it loaded. NULL is a no-op. Must not be
 * called while another thread uses the context. */
DIF_API void dif_context_free(dif_context *ctx);

/* Number of worker threads for the context's kernels and for BLAS.
 * 0 (the default) means the number of online CPU cores. Values above
 * DIF_MAX_THREADS are refused with DIF_ERR_LIMIT. Before loading only.
 * libdif's own kernels and OpenBLAS take turns (BLAS is called while the
 * kernel threads sleep), so at most this many threads compute at once.
 * OpenBLAS's thread count is process-global: contexts with different values
 * share whichever was applied last (at load). */
#define DIF_MAX_THREADS 256
DIF_API dif_status dif_context_set_threads(dif_context *ctx, int threads);

/* The number of threads the context will use (the default resolved).
 * Returns 0 if ctx is NULL. */
DIF_API int dif_context_threads(const dif_context *ctx);

/* Installs a log callback with the most verbose level it wants to receive;
 * fn NULL silences the context again. Before loading only. */
DIF_API dif_status dif_context_set_log(dif_context *ctx, dif_log_fn fn, dif_log_level max_level,
                                       void *user_data);

/* Returns the message of the last failing call on this context, or "" if
 * none failed. Never NULL, also for ctx NULL (then: dif_last_error()). Owned
 * by the context, valid until the next call on it. When several threads share
 * a context, the message belongs to whichever call failed last. */
DIF_API const char *dif_context_last_error(const dif_context *ctx);

/* Opens a diffusers model folder (the directory holding model_index.json and
 * component subfolders such as unet/, vae/, text_encoder/) and validates it:
 * the index must name a pipeline and component classes libdif knows, and
 * every component's weights (diffusion_pytorch_model.safetensors or
 * model.safetensors) must pass the safetensors validation. Each weight file
 * is fingerprinted (xxh3-64) while it is validated; see
 * dif_context_model_file. A folder without model_index.json (loose parts,
 * e.g. a Karlo prior folder) is accepted.
 * Errors: DIF_ERR_INVALID_ARGUMENT (NULL), DIF_ERR_BUSY (a model is already
 * loaded), DIF_ERR_IO, DIF_ERR_BAD_MODEL, DIF_ERR_UNSUPPORTED (unknown class,
 * dtype), DIF_ERR_OUT_OF_MEMORY; the message names the file and the problem.
 * On failure the context stays empty and usable. Not thread-safe: call it
 * before sharing the context. */
DIF_API dif_status dif_context_load(dif_context *ctx, const char *model_dir);

/* Number of weight files the loaded model consists of (0 before loading or
 * for ctx NULL). */
DIF_API int dif_context_model_file_count(const dif_context *ctx);

/* Describes weight file i (0-based): its path relative to the model folder
 * (owned by the context, valid until it is freed), size in bytes and xxh3-64
 * fingerprint, the model identity. Any output pointer may be NULL.
 * Errors: DIF_ERR_INVALID_ARGUMENT (ctx NULL or i out of range; message in
 * dif_last_error(), the context is not modified). Thread-safe
 * on a loaded context. */
DIF_API dif_status dif_context_model_file(const dif_context *ctx, int i, const char **path,
                                          uint64_t *size, uint64_t *xxh3);

/* The name of the GEMM kernel set the BLAS library runs on this CPU, for
 * example "SkylakeX" or "Prescott" (OpenBLAS's openblas_get_corename()).
 * A static string, never NULL. Thread-safe. */
DIF_API const char *dif_blas_core(void);

#ifdef __cplusplus
}
#endif
#endif /* DIF_H */
