/*
 * dif.h — libdif, text and image prompts to pictures on a CPU.
 *
 * This header is the manual. Read it top to bottom:
 *
 *   1. Overview
 *   2. Versions
 *   3. Status codes and error messages
 *   4. Logging
 *   5. dif_context — loaded models, embeddings
 *   6. dif_prompt — what to draw: weighted text and image parts
 *   7. dif_sample — one generation request and its images
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
 *     allocation failure as DIF_ERR_OUT_OF_MEMORY. That includes the BLAS
 *     library's working buffers (OpenBLAS: 128 MiB of address space per
 *     BLAS thread), which OpenBLAS would retry forever: libdif makes sure
 *     they exist before it loads a model and before each run, or fails with
 *     DIF_ERR_OUT_OF_MEMORY. One caveat is OpenBLAS's own, in any program
 *     linked with it: under an address-space limit (ulimit -v) too small for
 *     one buffer per OpenBLAS thread, its idle threads spin at exit. Run
 *     such a program with OPENBLAS_NUM_THREADS=1 (the dif command does so by
 *     itself under a tight limit).
 *   - Passing NULL where a handle or output pointer is required returns
 *     DIF_ERR_INVALID_ARGUMENT. dif_*_free(NULL) is a harmless no-op.
 *   - Strings passed in are UTF-8 and are copied if the library keeps them.
 *     Strings returned are owned by the library; their lifetime is stated.
 *   - Callbacks take their user pointer as the last argument.
 *   - The cancel rule: a callback that can stop an operation (the progress
 *     callback, dif_progress_fn) returns non-zero — "true" — to cancel it and
 *     0 to go on. Every binding says the same in its own idiom: C++ `true`,
 *     Python `True` (None or False go on), Go `true`.
 *   - Files read: regular files only, symbolic links followed. Whatever libdif
 *     reads (model_index.json and configs, tokenizer files,
 *     preprocessor_config.json, dif_defaults.json, weights, images, records)
 *     is checked without blocking: a FIFO, device, socket or directory in its
 *     place is an error whose message names the file and says what it is
 *     ("…/tokenizer/vocab.json is a FIFO, not a regular file"), as is a
 *     symbolic link loop or a dangling link. There are no exceptions.
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
  DIF_ERR_INTERNAL = 10,     /* a bug in libdif; the message says where */
  DIF_ERR_NON_FINITE = 11    /* a computation produced NaN or infinity (broken weights, a
                                hostile config); the message names the component and step */
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
 * Lifetime: dif_context_new → setters (threads, log, prior folder, load
 * progress) → dif_context_load → use → dif_context_free (samples may outlive
 * the call, see there). Settings are only accepted before
 * the first model is loaded; after that they return DIF_ERR_BUSY, because a
 * loaded context is immutable and may be shared between threads.
 */
typedef struct dif_context dif_context;
typedef struct dif_prompt dif_prompt; /* section 6 */
typedef struct dif_sample dif_sample; /* section 7 */

/* Creates an empty context and stores it in *out (set to NULL on failure).
 * Errors: DIF_ERR_INVALID_ARGUMENT (out is NULL), DIF_ERR_OUT_OF_MEMORY; the
 * message is in dif_last_error(). Thread-safe. The caller owns the context
 * and frees it with dif_context_free. */
DIF_API dif_status dif_context_new(dif_context **out);

/* Releases the caller's context: NULL is a no-op. The context and what it
 * loaded are freed once it and all samples made from it are freed (a sample
 * holds its context alive, like SQLite's sqlite3_close_v2): samples stay
 * usable after dif_context_free — a running one finishes —, and the last
 * dif_sample_free frees the context. The handle itself must not be used
 * after this call; its log callback may still be called by live samples.
 * Thread-safe against samples of the context running on other threads;
 * other calls on the same context must not run concurrently with it. */
DIF_API void dif_context_free(dif_context *ctx);

/* Frees the scratch memory the context keeps between runs and keeps the
 * model: the arenas that finished runs gave back (dif_sample_run,
 * "Memory": one per run that ran at the same time as others, each as large
 * as the largest run it served; about 1 GiB after a 768² unCLIP). For a
 * host that generates now and then and wants that memory back in between
 * (a game between scenes, a server between requests). The next run
 * allocates its scratch afresh, as the first did (fresh pages: a 768²
 * unCLIP's VAE decode measured 0.4-1.5 s slower, Zen 4). A run going on
 * meanwhile keeps its own scratch and gives it to the context when it
 * ends. Sets *freed (NULL: not wanted) to the bytes released, 0 if none
 * were kept; with glibc it then gives the C library's free memory back to
 * the OS (malloc_trim). The weights, packed or not, stay
 * (dif_context_release_packed frees the packed ones). Thread-safe, also against
 * runs of the context's samples; not concurrently with dif_context_free.
 * Errors: DIF_ERR_INVALID_ARGUMENT (ctx is NULL). */
DIF_API dif_status dif_context_release_scratch(dif_context *ctx, size_t *freed);

/* Frees the forms of the weights the context built at its runs and keeps
 * the model: in DIF_PRECISION_FAST the packed bf16 copy of every weight a
 * product used (as large as the models' weights in bf16; a packed weight
 * replaced its mapped file pages, which come back from the file when it is
 * packed again), and the Winograd-transformed 3x3 convolution weights
 * (exact: the VAE's and the UNet's smaller ones, 4x their float32 size;
 * fast: the VAE's up to 512x256 channels). For a host that generates now
 * and then and wants the memory back in between, together with
 * dif_context_release_scratch (with glibc both then give the C library's
 * free memory back to the OS, malloc_trim, which briefly holds every
 * thread's malloc): after a 768² unCLIP from an F16 folder in fast, 4.4
 * GiB packed and 0.95 GiB of scratch, the process's RSS 4.5 -> 0.09 GiB
 * (Zen 4, docs/performance.md). The next run packs again what it uses, as
 * a context's first run does (there 40 s for 1 + 1 steps against 28 s for
 * a later run), and draws what a context that loaded the model afresh
 * would. Sets *freed (NULL: not wanted) to the bytes released, 0 if none
 * were held. Thread-safe, also against the context's samples; not
 * concurrently with dif_context_free. Errors: DIF_ERR_INVALID_ARGUMENT
 * (ctx is NULL), DIF_ERR_BUSY while a run uses the context's models (a
 * sample's run or an embedding being computed; nothing released: call it
 * between runs). A sample started but not yet at its models may find them
 * released, and packs again. */
DIF_API dif_status dif_context_release_packed(dif_context *ctx, size_t *freed);

/* Number of worker threads for the context's own kernels. 0 (the default)
 * means the number of online CPU cores. Values above DIF_MAX_THREADS are
 * refused with DIF_ERR_LIMIT. Before loading only. libdif's own kernels and
 * OpenBLAS take turns (BLAS is called while the kernel threads sleep).
 * OpenBLAS's thread count is process-global and libdif does not change it
 * (see dif_blas_setup); dif_context_info reports it ("blas_threads"). */
#define DIF_MAX_THREADS 256
DIF_API dif_status dif_context_set_threads(dif_context *ctx, int threads);

/* The number of threads the context will use (the default resolved).
 * Returns 0 if ctx is NULL. */
DIF_API int dif_context_threads(const dif_context *ctx);

/* How the matrix products run (every convolution, linear layer and
 * attention product; everything else is float32 on both):
 *   DIF_PRECISION_EXACT  float32 through OpenBLAS: the results the
 *                        reference fixtures are checked against, the same
 *                        bits on every CPU with the same OpenBLAS kernels
 *                        and thread count. Except the VAE's 3x3
 *                        convolutions (not under an address-space limit):
 *                        they run by float32 Winograd, oneDNN's on a CPU
 *                        with AVX-512 (libdif built with oneDNN), else
 *                        libdif's own over OpenBLAS (AVX2 CPUs; the
 *                        environment variable DIF_WINO_BACKEND=openblas
 *                        picks it on any CPU, read when the context
 *                        loads): float32 throughout, its error against an
 *                        exact product the size of a float32 direct
 *                        convolution's (PyTorch's float32 path), every
 *                        reference tolerance held, but not the bits of
 *                        im2col + sgemm; a VAE decode about 2.6x faster
 *                        (Zen 4, 512²: 14.9 -> 5.7 s; an emulated AVX2
 *                        CPU: about 2x, 1.7-2.9x PyTorch f32;
 *                        docs/performance.md).
 *                        Memory: its transformed
 *                        weights are made at the first decode (about 1.8 s
 *                        for SD's VAE) and kept with the context (until
 *                        dif_context_release_packed), 4x the
 *                        VAE's 3x3 weights in float32 (737 MiB for SD's
 *                        VAE, whatever dtype its file has), plus scratch
 *                        in bands of rows (a 512² decode's peak scratch
 *                        0.41 -> 0.51 GiB). The UNet's 3x3 convolutions
 *                        of up to 1920 x 640 channels (its levels of 320
 *                        and 640 channels) run the same way: a UNet step
 *                        about 1.15x faster (Zen 4, 512²: 9.9 -> 8.6 s;
 *                        emulated AVX2: 11.6 -> 9.4 s), every reference
 *                        tolerance held, their transformed weights (about
 *                        1.1 GiB for SD's UNet) made at the first step and
 *                        kept. The smallest (an output of at most 8x8
 *                        pixels: the deepest levels at small image sizes,
 *                        by a rule measured for each Winograd backend)
 *                        stay on im2col + sgemm, faster there. Before the VAE
 *                        decodes, the pages of every
 *                        other network's weights file are dropped from the
 *                        process (read again from the page cache next
 *                        run), so the two do not add up: a whole 768²
 *                        unCLIP from an F16 folder peaks at 6.0 GiB (6.2
 *                        GiB on an emulated AVX2 CPU).
 *   DIF_PRECISION_FAST   bf16 inputs with float32 accumulation through
 *                        oneDNN (as PyTorch's bf16 CPU path; the smallest
 *                        products, such as the prior's per-head attention,
 *                        by OpenBLAS on bf16-rounded operands: the same
 *                        roundings without a oneDNN call): linear and
 *                        convolution weights are packed to bf16 once,
 *                        activations rounded at each product; the UNet's
 *                        and VAE's attention runs as one fused bf16
 *                        kernel where the CPU has AVX512-BF16 (the same
 *                        roundings). A 512² UNet step 1.7x faster than
 *                        exact on Zen 4 (AVX512-BF16), 1.7x PyTorch bf16
 *                        (1.9x at 768²);
 *                        pixels differ from exact ones by bf16's rounding
 *                        (docs/performance.md, docs/fidelity.md). Refused with
 *                        DIF_ERR_UNSUPPORTED (and a message naming what the
 *                        CPU or build lacks) where no bf16 backend runs: a
 *                        build without oneDNN, a CPU without AVX-512.
 *   DIF_PRECISION_AUTO   the default: fast where bf16 runs natively
 *                        (AVX512-BF16 or AMX) and the model is full-size
 *                        (weight files of 128 MiB or more in all: every
 *                        published SD/unCLIP model), exact elsewhere: for a
 *                        small model (the default model: packing its
 *                        weights costs more than bf16 saves, measured 2x
 *                        slower in fast), on AVX2 CPUs, on plain AVX-512
 *                        where bf16 is only emulated, and
 *                        in a process with an address-space limit (ulimit
 *                        -v): oneDNN 2.6 ends the process when one of its
 *                        allocations fails (an uncaught std::bad_alloc)
 *                        instead of returning an error, so under a limit
 *                        only an explicit DIF_PRECISION_FAST takes that
 *                        risk.
 * oneDNN runs its products (fast's, and exact's VAE convolutions on
 * AVX-512) on OpenMP threads (libgomp; as many as the
 * context's threads, dif_context_set_threads), which by default
 * spin between parallel regions and then compete with libdif's own kernel
 * threads: on a busy machine a run of a small model measured 8x slower
 * than with OMP_WAIT_POLICY=passive in the environment (read by libgomp
 * when it is loaded, so libdif cannot set it; the dif command does, and so
 * do the Python and Go packages when they load libdif, unless the user set
 * a policy; the default model's tests measured 2x faster passive on 2 cores;
 * loading a model that will run on oneDNN logs a warning when the program
 * started without any OMP_WAIT_POLICY).
 * Before loading only (DIF_ERR_BUSY after). A loaded context packs each
 * linear weight's bf16 form (from the file's dtype) at its first fast
 * product and keeps it, and then drops that weight's pages of the mapped
 * file from memory (read again from the file only if ever needed): in
 * fast, a linear weight takes its bf16 size rather than that plus its
 * file's. The log (info level) and
 * dif_context_info ("precision", "gemm_backend", "isa", "unet_conv3x3"
 * ("winograd up to 1920x640 channels", "sgemm", "bf16", or "bf16 winograd":
 * fast where bf16 is not on AMX tiles, by Winograd F(2x2, 3x3) with bf16
 * products, 2.25x fewer multiplies) and "vae_conv3x3"
 * ("winograd", "sgemm", "bf16", "bf16 winograd" (as the UNet's), or
 * "winograd up to 512x256 channels, bf16" (fast where bf16 is not on AMX
 * tiles when the environment variable DIF_WINO_BF16=off, read at load,
 * keeps both networks off bf16 Winograd: about half its distance to
 * float32, slower), "attention"
 * (the UNet's and the VAE's: in exact "fused float32, AVX2" on a CPU whose
 * best is AVX2 (Zen 3, Haswell) or "fused float32, AVX-512" on one whose
 * AVX-512 runs in 256-bit halves (Zen 4) — the UNet's in one float32 kernel
 * per block of queries — or "float32"; in fast "fused bf16, AMX tiles" or
 * "fused bf16, AVX512-BF16" — one kernel per block of queries, its products on AMX tiles
 * where the CPU has them and the OS grants them — or "bf16"; the
 * environment variable DIF_FUSED_ATTENTION=avx512bf16 keeps it off AMX
 * tiles, =unfused runs either precision's as two products and a softmax,
 * read once per process, said in the load log), "linear_few_rows" (the
 * linear products of at most 192 rows — the prior's cached steps, the
 * text encoders, the time embeddings —: in exact "weights read once,
 * AVX2", libdif's kernels on a CPU with AVX2, FMA and F16C, which read each
 * weight once in the file's dtype, or "sgemm"; in fast "bf16")) say what
 * runs; the
 * record of a sample stores it ("precision") and
 * dif_context_apply_record sets it from a record.
 * The environment variable DIF_MAX_CPU_ISA (avx512, avx2, avx or sse; read
 * once per process, said in the load log and dif_context_info's "cpu") makes libdif
 * run as on a CPU with no more than that and without AMX: its own kernels,
 * the fused attention, the Winograd convolutions and oneDNN's ISA (so
 * DIF_MAX_CPU_ISA=avx2 makes auto exact, and fast unavailable, as on an
 * AVX2 CPU). It is how the test suite runs as an AVX2-only machine would on
 * an AVX-512 one (tools/test), and a way round a CPU-specific path; set
 * OPENBLAS_CORETYPE as well for OpenBLAS's own kernels. */
typedef enum dif_precision {
  DIF_PRECISION_AUTO = 0,
  DIF_PRECISION_EXACT = 1,
  DIF_PRECISION_FAST = 2
} dif_precision;
DIF_API dif_status dif_context_set_precision(dif_context *ctx, dif_precision precision);

/* The precision in effect: DIF_PRECISION_EXACT or DIF_PRECISION_FAST. After
 * loading, what runs; before, what auto resolves to on this CPU for a
 * full-size model (a small model then makes it exact, see above). Returns
 * DIF_PRECISION_AUTO only for ctx NULL. */
DIF_API dif_precision dif_context_precision(const dif_context *ctx);

/* "auto", "exact" or "fast" (the names records and the dif command use);
 * NULL for a value outside the enum. */
DIF_API const char *dif_precision_name(dif_precision precision);

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
 * e.g. a Karlo prior folder) is accepted. A dif_defaults.json in the folder
 * (the model's recommended sample settings, section 7) is read and checked.
 * Errors: DIF_ERR_INVALID_ARGUMENT (NULL), DIF_ERR_BUSY (a model is already
 * loaded), DIF_ERR_IO, DIF_ERR_BAD_MODEL, DIF_ERR_UNSUPPORTED (unknown class,
 * dtype), DIF_ERR_OUT_OF_MEMORY; the message names the file and the problem.
 * On failure the context stays empty and usable. Not thread-safe: call it
 * before sharing the context.
 * Weight files are memory-mapped, not copied (as the safetensors crate
 * does), and weights stay in the file's dtype (F32, F16 or BF16): a folder
 * in F16 (a model's fp16 variant) takes half the memory of its F32 form;
 * the exact precision widens each 16-bit weight to float32 for the product
 * that uses it (the same products as an F32 file holding those values). Do
 * not truncate or rewrite them in place while a context uses
 * them. Replacing one by another file (rename, or a new download) is safe:
 * the mapping keeps the old file. Each run and embedding call first checks
 * that no weight file changed in place since loading (size, mtime) and
 * fails with DIF_ERR_IO naming it; a file truncated in place DURING a run
 * makes the process die with SIGBUS, as with any mapped file. */
DIF_API dif_status dif_context_load(dif_context *ctx, const char *model_dir);
/* model_dir may also name a single-file checkpoint: one .safetensors in the
 * original Stable Diffusion (LDM) layout, as most checkpoints are shared —
 * SD-1.x (CLIP ViT-L/14 text encoder), SD-2.x (OpenCLIP text encoder, its
 * fused attention projections split at load), Stable unCLIP
 * (sd21-unclip-l/-h: the UNet's image-embedding layers). Its UNet, VAE and
 * text encoder are read from the file, their names and layouts converted
 * exactly as diffusers 0.26.3's from_single_file does (zero copy: the file is
 * mapped once). Everything the tensors cannot say — configs, tokenizer,
 * schedulers, epsilon or v prediction, and for unCLIP the image encoder,
 * feature extractor and image normalizer — comes from a diffusers folder of
 * the same model named by dif_context_set_config first, or without one from
 * the libdif preset the file's tensors choose (logged at DIF_LOG_INFO):
 * "sd15" (SD-1.x), "sd15-inpaint", "sd2-inpaint" (9-channel UNets), and for
 * SD-2.x, whose tensors cannot tell 768 v-prediction from 512 epsilon or
 * SD-Turbo, by the file's name: "sd-turbo" when it contains "turbo" (its
 * dif_defaults.json: 1 step, guidance 0, Euler ancestral with trailing
 * timesteps), "sd21-base" when it contains "512" or "base", else "sd21" (768
 * px, v-prediction: what diffusers' from_single_file assumes for an SD-2.x
 * file). A Stable unCLIP file needs its folder (its image encoder is not in
 * the file): without one the load fails with DIF_ERR_INVALID_ARGUMENT saying
 * what the file is. The presets are diffusers' own single-file configs, in
 * ${datadir}/dif/models/presets ($DIF_PRESETS_DIR overrides). Parts that do
 * not fit the folder's configs are refused naming the file, the part and the
 * tensor (DIF_ERR_BAD_MODEL). Pickle checkpoints (.ckpt, .pt, .pth, .bin)
 * are refused with DIF_ERR_UNSUPPORTED: loading one runs code from the file;
 * the message gives a conversion command. dif_context_model_file lists the
 * file once per part ("unet/NAME [unet]", ...), with the file's size and
 * xxh3. */

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

/* Loads the diffusion prior parts (prior/, prior_text_encoder/,
 * prior_tokenizer/, prior_scheduler/) from a separate folder, e.g.
 * kakaobrain/karlo-v1-alpha, for text-to-image with a Stable unCLIP model.
 * Call it BEFORE dif_context_load (the two are loaded together); a prior
 * whose embedding size does not fit the decoder is refused at load with a
 * message naming the models that fit. A model folder that contains its own
 * prior/ needs no call. Errors: DIF_ERR_INVALID_ARGUMENT, DIF_ERR_BUSY (a
 * model is already loaded). Not thread-safe. */
DIF_API dif_status dif_context_set_prior(dif_context *ctx, const char *prior_dir);

/* For a single-file checkpoint (see dif_context_load): the diffusers folder
 * whose configs, tokenizer and schedulers (and unCLIP image parts) are used
 * with the file's weights, as diffusers' from_single_file(file,
 * config=config_dir) — or the name of one of libdif's presets ("sd15",
 * "sd15-inpaint", "sd21", "sd21-base", "sd2-inpaint", "sd-turbo"; a folder
 * of that name, when one exists, comes first). An unknown name fails the
 * load with DIF_ERR_INVALID_ARGUMENT listing the presets. Without a call the
 * file's tensors choose a preset (see dif_context_load). Call it BEFORE
 * dif_context_load; loading a folder
 * with a config set fails (DIF_ERR_INVALID_ARGUMENT: the folder has its own).
 * Errors: DIF_ERR_INVALID_ARGUMENT (NULL), DIF_ERR_BUSY (a model is already
 * loaded), DIF_ERR_OUT_OF_MEMORY. Not thread-safe. */
DIF_API dif_status dif_context_set_config(dif_context *ctx, const char *config_dir);

/* Adds a LoRA file to merge into the model's weights as it loads: call it
 * BEFORE dif_context_load, once per file (at most DIF_MAX_LORAS), each with
 * its own weight (the "lora_scale" of diffusers, the number in A1111's
 * <lora:name:0.8>). Read: .safetensors LoRAs in the kohya / AUTOMATIC1111
 * layout (lora_unet_…, lora_te_…, with their alphas) and the diffusers /
 * PEFT layout (unet.….lora.down.weight, text_encoder.….lora_linear_layer.…,
 * ….lora_A/lora_B.weight), on the UNet and the text encoder, Linear and
 * Conv2d weights (LoRA convolutions 1x1 and 3x3). Each targeted weight
 * becomes W + weight·(alpha/rank)·up·down, an owned float32 copy (4 bytes
 * per element of every targeted matrix; the model file itself is never
 * changed, so a context loaded without the LoRA has the original bits; in
 * DIF_PRECISION_FAST that copy is what is packed to bf16, 2 bytes more per
 * element, both kept);
 * several LoRAs add up in the order added. The file is opened and checked
 * here (every key known, down/up pairs of matching rank, finite values);
 * its shapes are checked against the model at load, where a LoRA for
 * another model (a module the model lacks, a shape that does not fit)
 * fails the load naming the LoRA file, its tensor and the model's, with
 * nothing merged. Errors: DIF_ERR_INVALID_ARGUMENT (NULL, weight not
 * finite), DIF_ERR_BUSY (a model is already loaded), DIF_ERR_LIMIT,
 * DIF_ERR_IO, DIF_ERR_BAD_MODEL, DIF_ERR_UNSUPPORTED (a layout libdif does
 * not read: SDXL's second text encoder, LDM block names, LyCORIS),
 * DIF_ERR_NON_FINITE, DIF_ERR_OUT_OF_MEMORY. Not thread-safe. */
#define DIF_MAX_LORAS 16
DIF_API dif_status dif_context_add_lora(dif_context *ctx, const char *path, float weight);
/* Forgets the LoRAs added (before loading: e.g. after a load that refused
 * one). Errors: DIF_ERR_INVALID_ARGUMENT (NULL), DIF_ERR_BUSY (loaded). */
DIF_API dif_status dif_context_clear_loras(dif_context *ctx);
/* The LoRAs added to ctx (0 for NULL), and the i-th: its path as given, its
 * weight and the xxh3-64 of its file (any output may be NULL). Errors:
 * DIF_ERR_INVALID_ARGUMENT (ctx NULL or i out of range; message in
 * dif_last_error). */
DIF_API int dif_context_lora_count(const dif_context *ctx);
DIF_API dif_status dif_context_lora(const dif_context *ctx, int i, const char **path, float *weight,
                                    uint64_t *xxh3);

/* Adds a textual-inversion embedding: call it BEFORE dif_context_load, once
 * per file (at most DIF_MAX_EMBEDDINGS). As diffusers v0.26.3's
 * load_textual_inversion, its token goes into the (decoder's) tokenizer and
 * its vectors become new rows of the text encoder's token-embedding table;
 * for Stable unCLIP only the decoder's text encoder receives it (the prior's
 * prompt is not converted, as in diffusers). Read: .safetensors files in the
 * diffusers layout (one tensor named by its token, [dim] or [n, dim]) and
 * AUTOMATIC1111's (one tensor "emb_params" [n, dim]; its token is the file's
 * name without ".safetensors", as in AUTOMATIC1111 — diffusers itself would
 * name it "emb_params"); values F32, F16 or BF16. token (may be NULL: the
 * file's) overrides the file's token. An embedding of n > 1 vectors adds the
 * tokens "tok", "tok_1", … "tok_{n-1}", and each prompt and negative prompt
 * has every occurrence of "tok" (written exactly so: str.replace) rewritten
 * to "tok tok_1 … tok_{n-1}" before it is tokenized (diffusers'
 * maybe_convert_prompt). A token matches the prompt only as written, case
 * included (transformers' CLIPTokenizer splits the raw text on added tokens:
 * "TinyStyle" is not the token "tinystyle"), and anywhere, also inside a
 * longer word. The file is read and checked here (one tensor, its dtype and
 * shape, finite values; pickles — .pt, .bin — are refused: they could run
 * code); against the model at load, where a token already in the vocabulary
 * (or "tok_1" …, or another embedding's: DIF_ERR_INVALID_ARGUMENT), or a
 * width that is not the text encoder's (768 for SD-1.x, 1024 for SD-2.x:
 * DIF_ERR_BAD_MODEL naming the file, the tensor and both widths) fails the
 * load with nothing added (the context stays unloaded and may load again
 * after dif_context_clear_embeddings). Memory: 4·n·width bytes per
 * embedding. Errors: DIF_ERR_INVALID_ARGUMENT (NULL, empty token),
 * DIF_ERR_BUSY (a model is already loaded), DIF_ERR_LIMIT, DIF_ERR_IO,
 * DIF_ERR_BAD_MODEL, DIF_ERR_UNSUPPORTED (a pickle, a dtype),
 * DIF_ERR_NON_FINITE, DIF_ERR_OUT_OF_MEMORY. Not thread-safe. */
#define DIF_MAX_EMBEDDINGS 64
DIF_API dif_status dif_context_add_embedding(dif_context *ctx, const char *path, const char *token);
/* Forgets the embeddings added (before loading: e.g. after a load that
 * refused one). Errors: DIF_ERR_INVALID_ARGUMENT (NULL), DIF_ERR_BUSY
 * (loaded). Not thread-safe. */
DIF_API dif_status dif_context_clear_embeddings(dif_context *ctx);
/* The embeddings added to ctx (0 for NULL), and the i-th: its path as given,
 * its token (as given or the file's), its number of
 * vectors and the xxh3-64 of its file (any output may be NULL; the strings
 * live as long as ctx or until dif_context_clear_embeddings). Errors:
 * DIF_ERR_INVALID_ARGUMENT (ctx NULL or i out of range; message in
 * dif_last_error). */
DIF_API int dif_context_embedding_count(const dif_context *ctx);
DIF_API dif_status dif_context_embedding(const dif_context *ctx, int i, const char **path,
                                         const char **token, int *vectors, uint64_t *xxh3);

/* Describes a single-file checkpoint without loading it, as JSON (UTF-8,
 * NUL-terminated): "file", "family" ("SD-1.x", "SD-2.x", "Stable unCLIP
 * (SD-2.x, 768-d image embeddings)", "... inpainting"), "dtype" (of the
 * UNet), "parts" (of "unet", "vae", "text_encoder"), "not_loaded" (parts
 * the file has that are not used), "text_encoder", "text_width",
 * "unet_in_channels", "cross_attention_dim", "image_embedding_dim" (0 but
 * for unCLIP), "preset" (the libdif preset it loads with when no config is
 * set, or null), "load" (why that preset, or what loading it needs). Read
 * from the tensors' names and shapes, and for the preset of an SD-2.x file
 * its name (see dif_context_load). With buf NULL only *size is set (the bytes needed,
 * NUL included); else buf must hold *size bytes. Errors as dif_context_load
 * for the file (pickles refused, a file that is no checkpoint: BAD_MODEL),
 * DIF_ERR_INVALID_ARGUMENT (NULLs, buffer too small; *size says how much is
 * needed); the message is in dif_last_error(). Thread-safe. */
DIF_API dif_status dif_checkpoint_info(const char *path, char *buf, size_t *size);

/* Load progress: called once per component while dif_context_load runs, on
 * the loading thread: index counts from 1 to total. Before loading only. */
typedef void (*dif_load_fn)(const char *component, int32_t index, int32_t total, void *user_data);
DIF_API dif_status dif_context_set_load_progress(dif_context *ctx, dif_load_fn fn, void *user_data);

/* A JSON description of the loaded model, made at load: the folder ("model";
 * for a single-file checkpoint its config folder, the file in "checkpoint",
 * else null), its pipeline class and family ("unclip" or "sd"), each component with its
 * class and main config values, the weight files with sizes and xxh3
 * fingerprints, the LoRAs merged ("loras": file, weight, xxh3), the embeddings added
 * ("embeddings": file, token, vectors, xxh3), the default image size
 * ("default_size") and every sample default ("defaults", section 7) with the dif_defaults.json they
 * came from
 * ("defaults_file", null if none), what it can do, libdif's default model
 * folder ("default_model", see dif_default_model_dir), and the BLAS kernels
 * and threads in use ("blas_core", "blas_threads", "blas_note", and
 * "blas_idle_threads": what OpenBLAS's threads do between products, see
 * dif_blas_setup). "{}" before loading or for NULL. Owned by the context,
 * valid until it is freed; thread-safe. */
DIF_API const char *dif_context_info(const dif_context *ctx);

/* What the loaded model can do, for choosing a mode: */
DIF_API int dif_context_is_unclip(const dif_context *ctx); /* 1: Stable unCLIP, 0: SD or none */
DIF_API int dif_context_has_prior(const dif_context *ctx); /* 1: text-to-image with unCLIP */
DIF_API int dif_context_has_image_encoder(const dif_context *ctx); /* 1: image prompts */

/* Embeddings, for callers who do their own arithmetic (and for the
 * bindings). Each writes at most *count floats into out and sets *count to
 * the number the embedding has; out NULL just queries the count. A *count
 * smaller than needed is DIF_ERR_INVALID_ARGUMENT (nothing written).
 *
 * DIF_EMBED_TEXT_HIDDEN: the decoder text encoder's last hidden state for
 *   the text, [77 × hidden] (what the UNet cross-attends to).
 * DIF_EMBED_TEXT_PROJECTED: the prior text encoder's projected text
 *   embedding (CLIP text_embeds), [projection_dim]; needs a prior.
 * Thread-safe on a loaded context. Errors: DIF_ERR_INVALID_ARGUMENT,
 * DIF_ERR_UNSUPPORTED (the model lacks the encoder), DIF_ERR_OUT_OF_MEMORY. */
typedef enum dif_text_embedding {
  DIF_EMBED_TEXT_HIDDEN = 0,
  DIF_EMBED_TEXT_PROJECTED = 1
} dif_text_embedding;
DIF_API dif_status dif_context_encode_text(dif_context *ctx, const char *text,
                                           dif_text_embedding kind, float *out, size_t *count);

/* The CLIP image embedding (image_embeds, [projection_dim]) of an image file
 * (PNG, JPEG or WebP, EXIF orientation applied) or of RGB8 pixels (rows of
 * `stride` bytes, stride >= 3·width). Needs the model's image_encoder.
 * A size query (out NULL) of the RGB8 form checks its arguments as a real
 * call does. Thread-safe on a loaded context. Errors as above plus
 * DIF_ERR_IO, DIF_ERR_BAD_IMAGE, DIF_ERR_LIMIT (size caps, see
 * DIF_MAX_IMAGE_SIDE), DIF_ERR_NON_FINITE (the encoder produced NaN or
 * infinity). */
DIF_API dif_status dif_context_encode_image_file(dif_context *ctx, const char *path, float *out,
                                                 size_t *count);
DIF_API dif_status dif_context_encode_image_rgb(dif_context *ctx, const uint8_t *rgb, int32_t width,
                                                int32_t height, int32_t stride, float *out,
                                                size_t *count);

/* The folder of libdif's default model, or NULL if none is found: the
 * small Stable unCLIP model that ships with the library (dif-shapes-64, 64×64
 * pictures of coloured circles, squares and triangles on coloured
 * backgrounds; what it can and cannot draw: docs/default-model.md). It holds
 * its recommended settings (dif_defaults.json), so dif_context_load of this
 * folder is all a caller needs. Looked up once, in order: the DIF_MODEL_DIR
 * environment variable; ${datadir}/dif/models/dif-shapes-64 relative to the
 * installed library (or, for the static library, to the program), so a moved
 * install is found; the configured install folder; the source tree the
 * library was built from (models/dif-shapes-64), so a build tree works
 * without installing. A folder counts if it has a model_index.json.
 * Thread-safe; a static string. */
DIF_API const char *dif_default_model_dir(void);

/* The name of the GEMM kernel set the BLAS library runs on this CPU, for
 * example "SkylakeX" or "Prescott" (OpenBLAS's openblas_get_corename()).
 * A static string, never NULL. Thread-safe: it only reads; no libdif call
 * changes the BLAS library's process-wide state except dif_blas_setup. */
DIF_API const char *dif_blas_core(void);

/* Process-wide BLAS set-up, an explicit opt-in for programs that own their
 * process (the dif command calls it first thing):
 *   - if OpenBLAS picked a kernel set slower than this CPU runs (OpenBLAS
 *     0.3.21 gives some new CPUs, e.g. Intel Emerald Rapids, its SSE3
 *     "Prescott" kernels, ~5x slower), switches it to the best set, as
 *     OPENBLAS_CORETYPE would at start-up; an OPENBLAS_CORETYPE the user set
 *     is kept;
 *   - makes OpenBLAS's idle threads sleep right after each product, as
 *     OPENBLAS_THREAD_TIMEOUT=4 at start-up would (by default they poll for
 *     ~0.1 s, taking cores from libdif's own kernel threads that run next:
 *     an exact 512² VAE decode measured 8.2–9.6 s polling, 7.0–7.3 s
 *     sleeping, on 2 cores); an OPENBLAS_THREAD_TIMEOUT the user set is
 *     kept, and a program that cannot call this can set that variable
 *     before it starts;
 *   - threads > 0 sets OpenBLAS's thread count (0 leaves it: OpenBLAS's own
 *     default, OPENBLAS_NUM_THREADS or the number of cores).
 * All are OpenBLAS's global state: NOT thread-safe with any BLAS call in
 * the process (a thread inside cblas_sgemm while the kernel table changes
 * may crash). Call it before any other thread — yours or a library's — may
 * use BLAS, or not at all. Without it libdif uses OpenBLAS as the process
 * set it up, and a context's log (and dif_context_info's "blas_note") says
 * when faster kernels exist. Errors: DIF_ERR_INVALID_ARGUMENT (threads < 0),
 * DIF_ERR_LIMIT (threads > DIF_MAX_THREADS), DIF_ERR_UNSUPPORTED (this BLAS
 * cannot be switched; the message says which OPENBLAS_CORETYPE or
 * OPENBLAS_THREAD_TIMEOUT to set instead — the thread count is still
 * applied); message in dif_last_error(). */
DIF_API dif_status dif_blas_setup(int threads);

/* ---------------------------------------------------------------------------
 * 6. DIF_PROMPT — WHAT TO DRAW
 *
 * A prompt is a list of weighted parts — texts and reference images
 * ("image prompts", 垫图) — plus one negative text. With a Stable unCLIP
 * model the picture is conditioned on one CLIP image embedding made from the
 * parts: each text part goes through the diffusion prior, each image part
 * through the CLIP image encoder, and the results are combined by weight
 * (dif_sample_set_blend; formulas in docs/prompts.md). The decoder's text
 * conditioning is the positive-weight text parts joined with ", ", and the
 * negative text drives its unconditional branch. Examples:
 *   text only                    → text-to-image (needs a prior)
 *   one image, no text           → image variation
 *   image + text                 → image prompt with text (weights = --iw)
 *   2–5 images, no text          → blend
 * A negative weight pushes away from a part. The weights must sum to a
 * positive value. With a Stable Diffusion model only text parts are allowed
 * (joined the same way).
 *
 * A prompt is a plain value: the library copies what it is given (texts,
 * decoded pixels) and a dif_sample copies the prompt, so a prompt may be
 * changed or freed after creating samples from it. Not thread-safe: one
 * thread at a time per prompt.
 */
#define DIF_MAX_PROMPT_PARTS 16
#define DIF_MAX_IMAGE_SIDE 16384         /* pixels, per side, of any input image */
#define DIF_MAX_IMAGE_PIXELS (64u << 20) /* pixels of any input image */

/* Creates an empty prompt. Errors: DIF_ERR_INVALID_ARGUMENT (out NULL),
 * DIF_ERR_OUT_OF_MEMORY; message in dif_last_error(). */
DIF_API dif_status dif_prompt_new(dif_prompt **out);
/* Frees the prompt; NULL is a no-op. */
DIF_API void dif_prompt_free(dif_prompt *prompt);

/* Adds a text part (UTF-8; any length, truncated to the encoder's 77
 * tokens). weight: finite, non-zero. Errors: DIF_ERR_INVALID_ARGUMENT (NULL,
 * invalid UTF-8 — the byte offset is named —, bad weight), DIF_ERR_LIMIT
 * (more than DIF_MAX_PROMPT_PARTS parts). */
DIF_API dif_status dif_prompt_add_text(dif_prompt *prompt, const char *text, float weight);

/* Adds an image part from a PNG, JPEG or WebP file (the format is told by
 * the file's first bytes, not its name), decoded now (EXIF orientation
 * applied, alpha dropped, gray/palette/CMYK converted to RGB; an animated
 * WebP is refused). Errors: as above plus DIF_ERR_IO, DIF_ERR_BAD_IMAGE
 * (corrupt, or not an image: "not an image (a text file that starts with
 * ...)"), DIF_ERR_UNSUPPORTED (an image in another format, named: "a GIF
 * image, which libdif does not read (PNG, JPEG and WebP only)"),
 * DIF_ERR_LIMIT. */
DIF_API dif_status dif_prompt_add_image_file(dif_prompt *prompt, const char *path, float weight);

/* Adds an image part from RGB8 pixels: height rows of `stride` bytes, each
 * starting with width × 3 bytes R, G, B. The pixels are copied. */
DIF_API dif_status dif_prompt_add_image_rgb(dif_prompt *prompt, const uint8_t *rgb, int32_t width,
                                            int32_t height, int32_t stride, float weight);

/* Sets (replaces) the negative text; NULL or "" clears it. */
DIF_API dif_status dif_prompt_set_negative(dif_prompt *prompt, const char *text);

/* Number of parts (0 for NULL). */
DIF_API int32_t dif_prompt_part_count(const dif_prompt *prompt);

/* The last error on this prompt, or ""; never NULL (dif_last_error() for NULL). */
DIF_API const char *dif_prompt_last_error(const dif_prompt *prompt);

/* ---------------------------------------------------------------------------
 * 7. DIF_SAMPLE — ONE GENERATION
 *
 * Lifetime: dif_sample_new(ctx, prompt) → typed setters → dif_sample_run
 * (blocking) or dif_sample_start + dif_sample_poll / dif_sample_wait
 * (non-blocking, for game loops and UIs) → results → dif_sample_free. A
 * sample may be run again (with other settings) once it has finished.
 *
 * Defaults: the loaded model's recommended settings when its folder has a
 * dif_defaults.json (a small JSON object of ours with any of the keys width,
 * height, steps, guidance, prior_steps, prior_guidance, noise_level,
 * scheduler and comment; docs/model-defaults.md; an unknown key or a value
 * out of a setter's range makes dif_context_load fail with
 * DIF_ERR_BAD_MODEL naming the file and the key). For what the file does
 * not set: the UNet's sample_size × the VAE factor as the size (e.g.
 * 768×768), 20 steps, guidance 10 (unCLIP) or 7.5 (SD), prior 25 steps with
 * guidance 4, the model's scheduler, noise level 0. Always: seed 0, one
 * image, sum blending. dif_context_info lists the defaults in effect. The
 * default model's file sets 64×64, 25 steps, guidance 3, prior 25 steps
 * with guidance 2, noise level 0.
 *
 * Reproducibility: the same model, prompt, settings, seed and thread count
 * give the same pixels, bit for bit, also when samples run concurrently; the
 * random numbers are those of diffusers with
 * torch.Generator("cpu").manual_seed(seed). Another thread count may change
 * the last bits of a few pixels: OpenBLAS splits matrix products differently
 * and so sums in another order.
 *
 * Threads: a sample belongs to one thread at a time, except that
 * dif_sample_poll and dif_sample_cancel may be called from any thread while
 * it runs. Different samples may run at the same time on one context.
 * A sample keeps its context alive: dif_context_free may come first
 * (section 5).
 */
#define DIF_MAX_STEPS 1000
#define DIF_MAX_BATCH 16
#define DIF_MAX_OUTPUT_SIDE 4096 /* pixels, per side, of a generated image */
/* Classifier-free guidance scales (decoder and prior) are 0..DIF_MAX_GUIDANCE.
 * Typical values are 1 to 15; UIs offer up to 30 (AUTOMATIC1111) or 100
 * (ComfyUI), so 100 keeps every setting a user of those tools may bring.
 * Beyond, the guided prediction is extrapolated so far that it means
 * nothing, and float32 overflows soon after (3.4e38 would turn the first
 * step into infinity). */
#define DIF_MAX_GUIDANCE 100

typedef enum dif_blend {
  DIF_BLEND_SUM = 0,  /* direction of the weighted sum, weighted mean norm */
  DIF_BLEND_SLERP = 1 /* spherical interpolation, DALL-E 2 style */
} dif_blend;

/* Progress: called on the thread running the sample after every denoising
 * step (prior steps included): step counts from 1 to total. The cancel rule
 * (section 1): return non-zero (true) to cancel — the run then ends with
 * DIF_ERR_CANCELLED without a further step — and 0 to go on. */
typedef int (*dif_progress_fn)(int32_t step, int32_t total, void *user_data);

/* Creates a sample of ctx (which must be loaded) for a copy of prompt.
 * Errors: DIF_ERR_INVALID_ARGUMENT (NULL, empty prompt, context not loaded),
 * DIF_ERR_OUT_OF_MEMORY; message in dif_context_last_error(ctx). */
DIF_API dif_status dif_sample_new(dif_context *ctx, const dif_prompt *prompt, dif_sample **out);

/* Frees the sample; if it is running it is cancelled and waited for first.
 * NULL is a no-op. */
DIF_API void dif_sample_free(dif_sample *sample);

/* Setters. Each returns DIF_ERR_BUSY while the sample runs and
 * DIF_ERR_INVALID_ARGUMENT for a value out of range (named in the message). */
/* Width and height in pixels: multiples of 8, at most DIF_MAX_OUTPUT_SIDE
 * (4096) each. */
DIF_API dif_status dif_sample_set_size(dif_sample *sample, int32_t width, int32_t height);
/* Denoising steps of the decoder: 1..DIF_MAX_STEPS. A scheduler may allow
 * fewer than its num_train_timesteps (e.g. DDIM with "leading" spacing and
 * steps_offset 1 stops at 999 steps of 1000, as in diffusers): the run then
 * fails with DIF_ERR_INVALID_ARGUMENT naming the timestep. */
DIF_API dif_status dif_sample_set_steps(dif_sample *sample, int32_t steps);
/* Classifier-free guidance scale: 0..DIF_MAX_GUIDANCE; <= 1 disables
 * guidance. A latent consistency model (its UNet has time_cond_proj_dim, as
 * LCM Dreamshaper) never runs classifier-free guidance: the scale is its
 * UNet's input (the guidance embedding of scale − 1), as in diffusers. */
DIF_API dif_status dif_sample_set_guidance(dif_sample *sample, float scale);
/* The prior's steps (1..DIF_MAX_STEPS) and guidance (0..DIF_MAX_GUIDANCE). */
DIF_API dif_status dif_sample_set_prior_steps(dif_sample *sample, int32_t steps);
DIF_API dif_status dif_sample_set_prior_guidance(dif_sample *sample, float scale);
/* The decoder's scheduler by diffusers class name or short name (ddim,
 * ddpm, pndm, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, lms, unipc, lcm,
 * unclip: dif_scheduler_names; lcm is LCMScheduler, the few-step sampler of
 * latent consistency models and LCM-LoRAs); NULL restores the model's default (its
 * dif_defaults.json "scheduler", else its scheduler/ folder's class). An
 * unknown name is DIF_ERR_UNSUPPORTED with the valid names listed. */
DIF_API dif_status dif_sample_set_scheduler(dif_sample *sample, const char *name);
/* The prior's scheduler, by the same names; NULL restores the default, a
 * DDPMScheduler built from the prior's scheduler config as diffusers'
 * StableUnCLIPPipeline documentation does (Karlo ships an UnCLIPScheduler
 * config; "unclip" selects that class itself). */
DIF_API dif_status dif_sample_set_prior_scheduler(dif_sample *sample, const char *name);
/* The short scheduler names the two setters accept, ", " between them
 * ("ddim, ddpm, ..."), in the order of libdif's table of schedulers; each
 * one's diffusers class name ("DDIMScheduler", ...) is accepted too. A static
 * string: never NULL, never freed, the same for every call and thread. */
DIF_API const char *dif_scheduler_names(void);
/* The seed (any 64-bit value, 0 included). */
DIF_API dif_status dif_sample_set_seed(dif_sample *sample, uint64_t seed);
/* Picks a random seed now (from the operating system) and uses it;
 * dif_sample_seed() reports it so the image can be reproduced. */
DIF_API dif_status dif_sample_set_random_seed(dif_sample *sample);
/* The seed the sample uses (0 for NULL). */
DIF_API uint64_t dif_sample_seed(const dif_sample *sample);
/* Number of images drawn in one run (1..DIF_MAX_BATCH), as diffusers'
 * num_images_per_prompt: one generator draws all of them, so image i of a
 * batch depends on the batch. (It also undoes a record's "index", see
 * dif_sample_apply_record.) */
DIF_API dif_status dif_sample_set_batch(dif_sample *sample, int32_t count);
/* unCLIP noise augmentation of the image embedding, 0 to the model's
 * highest level: its image_noising_scheduler's num_train_timesteps - 1 (999
 * for Stable unCLIP; 999 for a Stable Diffusion model, where it has no
 * effect). 0 keeps close to the references ("vary subtle"), higher values
 * vary more ("strong"). */
DIF_API dif_status dif_sample_set_noise_level(dif_sample *sample, int32_t level);
/* How prompt parts combine (see section 6). */
DIF_API dif_status dif_sample_set_blend(dif_sample *sample, dif_blend mode);
/* img2img: start from an image (file or RGB8 pixels, copied) noised to
 * strength in (0, 1] (1 = ignore the image's content; a strength so small
 * that no step is left is refused by the run). The steps skipped are the
 * first steps − int(steps × strength), as in diffusers' img2img pipelines; on a
 * latent consistency model with the lcm scheduler (diffusers'
 * LatentConsistencyModelImg2ImgPipeline) every step runs instead, on a
 * schedule that starts at the strength's timestep (a strength below
 * steps / original_inference_steps is refused by the run). The sample's size becomes
 * the image's size rounded down to multiples of 8 unless set explicitly;
 * the image is then resized to it. An image larger than
 * DIF_MAX_OUTPUT_SIDE on a side (inputs may be up to DIF_MAX_IMAGE_SIDE)
 * needs an explicit size: without one the run fails with DIF_ERR_LIMIT
 * before allocating anything. NULL path clears. */
DIF_API dif_status dif_sample_set_init_image_file(dif_sample *sample, const char *path,
                                                  float strength);
DIF_API dif_status dif_sample_set_init_image_rgb(dif_sample *sample, const uint8_t *rgb,
                                                 int32_t width, int32_t height, int32_t stride,
                                                 float strength);
/* Masked generation (inpainting) and Vary (Region): with an init image,
 * only the mask's white part is repainted, by the sample's prompt, as
 * diffusers' StableDiffusionInpaintPipeline (v0.26.3) does:
 *   - the mask (a file: PNG, JPEG, WebP; or RGB8 pixels, copied) is scaled
 *     to the sample's size when its size differs (Pillow's Lanczos, as
 *     diffusers), turned grey as PIL's convert("L") does (ITU-R 601-2
 *     luma), and binarized: grey >= 128 (0.5) repaints, below keeps;
 *   - the init image's strength applies: DIF_VARY_STRONG (1) repaints the
 *     masked part from noise, DIF_VARY_SUBTLE (0.6) keeps its layout and
 *     colours (set it with dif_sample_set_init_image_file);
 *   - any model inpaints: a model whose UNet takes 4 channels (Stable
 *     Diffusion, Stable unCLIP's decoder) gets its unmasked latents reset to
 *     the init image's after every step; an inpainting model (UNet with 9
 *     input channels: latents, mask, masked-image latents) needs a mask.
 *     Nothing is pasted back (as diffusers): the kept pixels come back
 *     through the VAE, close to but not exactly the init image's (unless
 *     dif_sample_set_mask_crop, below, is set).
 * Masks need an init image: a run with a mask and none fails with
 * DIF_ERR_INVALID_ARGUMENT. A mask and an edit (below) exclude each other:
 * setting one clears the other. NULL path clears the mask. */
#define DIF_VARY_STRONG 1.0f
#define DIF_VARY_SUBTLE 0.6f
DIF_API dif_status dif_sample_set_mask_file(dif_sample *sample, const char *path);
DIF_API dif_status dif_sample_set_mask_rgb(dif_sample *sample, const uint8_t *rgb, int32_t width,
                                           int32_t height, int32_t stride);
/* The mask as a rectangle [x, x + width) × [y, y + height) of the picture
 * at the sample's size (the init image's size rounded down to multiples of
 * 8, or the size set): width, height >= 1, x, y >= 0. A rectangle not
 * inside the picture fails the run with DIF_ERR_INVALID_ARGUMENT naming it. */
DIF_API dif_status dif_sample_set_mask_rect(dif_sample *sample, int32_t x, int32_t y, int32_t width,
                                            int32_t height);
/* Repaint only the region around the mask, in full detail: diffusers'
 * padding_mask_crop (v0.26.3). The box of the mask's non-zero pixels, grown
 * by padding pixels on each side and then to the sample's aspect ratio
 * (inside the picture), is cut from the picture and the mask and scaled to
 * the sample's size (Pillow's Lanczos, bands left at the sides filled from
 * the edge), generated there, scaled back into the box, and the picture is
 * laid over the result where the mask is black (grey levels blend): the
 * kept pixels are the init image's exactly, not through the VAE. padding
 * 0..DIF_MAX_OUTPUT_SIDE; DIF_MASK_CROP_NONE turns it off (the default);
 * anything else is DIF_ERR_INVALID_ARGUMENT. The setting stays when the
 * mask is replaced; clearing the mask or setting an edit (below) turns it
 * off. A run with a crop and no mask, or a mask with no white pixel, fails
 * with DIF_ERR_INVALID_ARGUMENT. Recorded as the mask's "crop_padding". */
#define DIF_MASK_CROP_NONE (-1)
DIF_API dif_status dif_sample_set_mask_crop(dif_sample *sample, int32_t padding);

/* The editing tools (Midjourney's Zoom Out, Make Square and Pan) repaint a
 * canvas built around the init image (the "picture", at the sample's size)
 * with the sample's prompt; the output has the canvas's size:
 *   zoom out by factor in (1, DIF_MAX_ZOOM_OUT]: the canvas keeps the
 *     picture's size, the picture shrinks by the factor into its centre
 *     (1.5 and 2 are Midjourney's presets);
 *   make square: a square canvas of about the picture's pixel count (side
 *     sqrt(width × height) rounded down to a multiple of 8), the picture
 *     scaled to fit, centred (a square picture is refused at the run);
 *   pan towards direction by amount in (0, 1] of the picture's width
 *     (left, right) or height (up, down): the canvas grows by that many
 *     pixels (rounded up to a multiple of 8) on that side, the picture
 *     keeps its pixels; a canvas beyond DIF_MAX_OUTPUT_SIDE on a side fails
 *     the run with DIF_ERR_LIMIT.
 * The new area is painted; the mask fades over a band of the picture along
 * the edges that meet it (1/8 of the picture's shorter side, at least two
 * latent cells), so no seam shows. The init image's strength applies as for
 * masks (DIF_VARY_STRONG is usual). Setting an edit clears a mask, and
 * dif_sample_clear_edit removes it. */
#define DIF_MAX_ZOOM_OUT 4
typedef enum dif_direction {
  DIF_DIRECTION_LEFT = 0,
  DIF_DIRECTION_RIGHT = 1,
  DIF_DIRECTION_UP = 2,
  DIF_DIRECTION_DOWN = 3
} dif_direction;
DIF_API dif_status dif_sample_set_zoom_out(dif_sample *sample, float factor);
DIF_API dif_status dif_sample_set_make_square(dif_sample *sample);
DIF_API dif_status dif_sample_set_pan(dif_sample *sample, dif_direction direction, float amount);
/* Upscale (Midjourney's Upscale Subtle / Creative) of the init image (the
 * picture, at the sample's size), by factor in (1, DIF_MAX_UPSCALE]:
 *   - on any model but an x4 upscaler: the picture resized (Lanczos where
 *     libdif has Pillow's, else bicubic) to each side × factor rounded to a
 *     multiple of 8 (at most DIF_MAX_OUTPUT_SIDE: else the run fails with
 *     DIF_ERR_LIMIT), then img2img with the prompt at strength 0.25
 *     (DIF_UPSCALE_SUBTLE: keeps the picture, sharpens) or 0.5
 *     (DIF_UPSCALE_CREATIVE: redraws detail) instead of the init image's
 *     strength. An output larger than the model's own size (its default
 *     picture's shorter side: 512 for SD-1.x) runs in tiles of that size
 *     overlapping by a quarter tile, each its own img2img run (seed + the
 *     tile's index), blended with linear ramps across the overlaps: memory
 *     stays one tile's run plus the output (16 bytes a pixel) whatever the
 *     output's size, and progress counts every tile's steps.
 *   - on an x4 upscaler (a StableDiffusionUpscalePipeline folder, which only
 *     upscales: every run on it takes the init image as the low-res picture
 *     and makes 4 × its size, as diffusers' pipeline, at the sample's noise
 *     level): factor must be 4 (else the run fails with
 *     DIF_ERR_INVALID_ARGUMENT), and the mode sets the noise level of the
 *     low-res picture: 20 (Subtle, diffusers' default) or 100 (Creative).
 *     Its VAE decodes an output beyond 512 pixels on a side in 512-pixel
 *     tiles overlapping by 128 (blended, as diffusers' vae.enable_tiling()),
 *     so the decoder's memory stays one tile's; the UNet runs whole at the
 *     low-res size.
 * Like the other edits it clears a mask; dif_sample_clear_edit removes it. */
#define DIF_MAX_UPSCALE 4
typedef enum dif_upscale_mode { DIF_UPSCALE_SUBTLE = 0, DIF_UPSCALE_CREATIVE = 1 } dif_upscale_mode;
DIF_API dif_status dif_sample_set_upscale(dif_sample *sample, float factor, dif_upscale_mode mode);
DIF_API dif_status dif_sample_clear_edit(dif_sample *sample);
/* Progress callback (NULL to remove). */
DIF_API dif_status dif_sample_set_progress(dif_sample *sample, dif_progress_fn fn, void *user_data);

/* Runs the generation on the calling thread and returns its status:
 * DIF_OK, DIF_ERR_CANCELLED, or an error with a message. A network or step
 * that produces NaN or infinity (broken weights, a hostile config) ends the
 * run with DIF_ERR_NON_FINITE; the message names the component and the step
 * ("the UNet produced non-finite values at decoder step 3 of 20 (timestep
 * 801)"). A failed run produces no images (the results stay those of the
 * last successful run).
 * Memory: a run's scratch (activations, attention blocks, a VAE decode's
 * bands, and on a context's first fast run (and the first after
 * dif_context_release_packed) the staging of each 16-bit
 * weight it packs; not its results, nor the x4 upscaler's tiled decode,
 * which has its own) is one arena that the context keeps when the run
 * ends, made one block as large as the largest run it served, and hands
 * to a later run (dif_context_encode_text / _image_* take theirs from the
 * same): run after run, from the third on, the scratch of runs no larger lies in
 * pages already touched instead of fresh ones, each a page fault (costly
 * in a VM: a 768² unCLIP's VAE decode measured 0.4-1.5 s faster on Zen 4,
 * the process's peak 5.93 -> 5.52 GiB, docs/performance.md). A context
 * keeps one such arena per run that ran at the same time as others, at
 * most 4; dif_context_release_scratch frees them while the model stays,
 * dif_context_free with the rest of the context.
 * Between runs the context therefore holds its largest run's scratch
 * besides the weights (about 1 GiB for a 768² unCLIP, mostly its VAE
 * decode; the log says how much at DIF_LOG_DEBUG), up to 4 times that
 * after runs at the same time. */
DIF_API dif_status dif_sample_run(dif_sample *sample);
/* Starts the generation on a new thread and returns at once (DIF_ERR_BUSY if
 * it is already running). */
DIF_API dif_status dif_sample_start(dif_sample *sample);
/* Never blocks. While running: DIF_ERR_BUSY, with the progress so far in
 * *step / *total (either may be NULL). Once finished: the run's status. */
DIF_API dif_status dif_sample_poll(dif_sample *sample, int32_t *step, int32_t *total);
/* Blocks until a started run has finished and returns its status (DIF_OK
 * at once if nothing runs and the last run succeeded). */
DIF_API dif_status dif_sample_wait(dif_sample *sample);
/* Asks a running sample to stop; it does within one denoising step, ends
 * with DIF_ERR_CANCELLED, and leaves the context usable. Safe from any
 * thread; a no-op if the sample is not running. */
DIF_API dif_status dif_sample_cancel(dif_sample *sample);

/* Results of the last successful run (0 / NULL-safe before one). */
DIF_API int32_t dif_sample_image_count(const dif_sample *sample);
DIF_API int32_t dif_sample_width(const dif_sample *sample);
DIF_API int32_t dif_sample_height(const dif_sample *sample);
/* Bytes one image takes as RGB8: width × height × 3. */
DIF_API size_t dif_sample_image_bytes(const dif_sample *sample);
/* Copies image `index` as RGB8 rows (no padding) into rgb, which must hold
 * dif_sample_image_bytes() bytes (size says how many it holds). */
DIF_API dif_status dif_sample_copy_image(const dif_sample *sample, int32_t index, uint8_t *rgb,
                                         size_t size);
/* Writes image `index` as a PNG whose "dif:parameters" text chunk holds the
 * generation parameters as JSON (see dif_sample_parameters), with each image
 * file of the prompt and the init image named relative to the PNG's folder:
 * its path below that folder when it lies there (in it or a subfolder),
 * else its base name (copy the image next to the PNG to reproduce it
 * elsewhere). The file is written atomically, by the rules of
 * dif_check_output_path: on failure no partial file is left and an existing
 * file is untouched. */
DIF_API dif_status dif_sample_save_png(const dif_sample *sample, int32_t index, const char *path);
/* Writes image `index` in the format the path's extension names,
 * case-insensitive: .png (as dif_sample_save_png), .jpg or .jpeg (JPEG,
 * quality 95), .webp (WebP, lossless: the exact pixels, usually smaller than
 * the PNG). Any other name (no extension included) is DIF_ERR_UNSUPPORTED,
 * and nothing is written: check a name before a run with
 * dif_check_output_format. Every format carries the record (read back by
 * dif_read_parameters) and AUTOMATIC1111's "parameters" text (prompt — with
 * the context's LoRAs as A1111's <lora:NAME:WEIGHT> tags after it, NAME the
 * file's name without ".safetensors" —, negative prompt, steps, sampler, CFG
 * scale, seed, size, model hash, model), which A1111's PNG Info, ComfyUI and
 * image sites show:
 *   PNG   text chunks "dif:parameters" and "parameters";
 *   JPEG  COM segments starting "dif:parameters\0" (the record, over as many
 *         segments as it needs) and EXIF UserComment (the A1111 text, cut
 *         to 32700 UTF-16 units, the most one EXIF segment holds);
 *   WebP  an XMP chunk (<dif:parameters>) and EXIF UserComment.
 * The UserComment is "UNICODE\0" + UTF-16 big-endian, as A1111 writes it.
 * A1111's "Model hash" is the start of the SHA-256 of one checkpoint file,
 * which a diffusers folder does not have: libdif writes the first 10 hex
 * digits of the xxh3-64 of the UNet's weights (as dif_context_model_file
 * and `dif info` list them) and "Model: <folder name>". A record also
 * says which image of its batch the file is ("index", when "batch" > 1).
 * Written atomically by the rules of dif_check_output_path. */
DIF_API dif_status dif_sample_save(const dif_sample *sample, int32_t index, const char *path);
/* DIF_OK when the path's extension names a format libdif writes (.png,
 * .jpg, .jpeg, .webp, case-insensitive), else DIF_ERR_UNSUPPORTED naming
 * the path (DIF_ERR_INVALID_ARGUMENT for NULL or ""); message in
 * dif_last_error(). Thread-safe. */
DIF_API dif_status dif_check_output_format(const char *path);
/* Whether libdif will write a file at path (dif_sample_save_png,
 * dif_write_png), checked now without writing anything, so that a program
 * can refuse a bad output name before a long run. The rules every write
 * follows:
 *   - path must be absent or a regular file. A symbolic link is refused:
 *     libdif neither writes through a link nor replaces it (give the path of
 *     the file itself). Directories, FIFOs, character and block devices and
 *     sockets are refused; nothing is ever written to them.
 *   - An existing file must have a write permission bit, and the process
 *     must be allowed to write it (effective ids). A file without any write
 *     bit (e.g. mode 0444) is refused even for root.
 *   - Its folder must exist and allow creating files: the image is written
 *     to a temporary file ".dif-XXXXXX.tmp" there and renamed over path, so
 *     a reader never sees half a file. The temporary name has a fixed
 *     length, so any name the file system allows works.
 *   - A replaced file keeps its permission bits (as root also its owner and
 *     group); a new file gets mode 0666 minus the umask.
 * A write checks again right before the rename. Errors: DIF_ERR_IO (the
 * message names the path and the reason), DIF_ERR_INVALID_ARGUMENT (NULL or
 * empty path); message in dif_last_error(). Thread-safe. */
DIF_API dif_status dif_check_output_path(const char *path);
/* The parameters of the last run as a JSON object (prompt parts with their
 * weights and, for images, sizes; negative text; every setting; the seed;
 * the model's fingerprint). An image given as a file is named by its base
 * name and the xxh3-64 of the file's bytes ("image", "xxh3"; 16 lowercase
 * hex digits), one given as pixels by "pixels". Owned by the sample, valid
 * until the next run or free; "" before the first run; never NULL. */
DIF_API const char *dif_sample_parameters(const dif_sample *sample);
/* The last error on this sample, or ""; never NULL. */
DIF_API const char *dif_sample_last_error(const dif_sample *sample);

/* Reproducing an image from its record (dif_sample_parameters, stored by
 * dif_sample_save_png):
 *   dif_read_parameters(path, buf, &size) copies the record ("dif:parameters"
 *     JSON, NUL-terminated) of a PNG, JPEG or WebP file (by its content; see
 *     dif_sample_save for where each keeps it) into buf; buf NULL queries
 *     the size. Errors: DIF_ERR_IO, DIF_ERR_BAD_IMAGE, DIF_ERR_LIMIT,
 *     DIF_ERR_INVALID_ARGUMENT (no record, buffer too small); message in
 *     dif_last_error(). dif_read_png_parameters is the same function under
 *     its first name (it reads every format too).
 *   dif_context_check_record(ctx, json) says whether the record was made
 *     with the loaded model: DIF_OK when every weight file the record names
 *     ("model.files") has its xxh3-64 among the context's weight files (a
 *     record without "model" cannot tell and is accepted); else
 *     DIF_ERR_INVALID_ARGUMENT naming both models. The same pixels come
 *     only from the same model: call it before applying a record, unless
 *     the user asked for another model on purpose. Message in
 *     dif_last_error(). Thread-safe on a loaded context.
 *   dif_context_apply_record(ctx, json), before loading, sets the context's
 *     precision to the record's ("precision": "exact" or "fast"; a record
 *     without it was made before libdif had a fast path, so exact):
 *     DIF_ERR_BUSY once loaded, DIF_ERR_UNSUPPORTED where fast cannot run.
 *     Message in dif_context_last_error(ctx). The same pixels need the same
 *     precision (as the same model and thread count).
 *   dif_context_apply_record_in(ctx, json, record_dir) does the same and
 *     adds the record's LoRAs ("loras": [{"file", "xxh3", "weight"}], in
 *     order, replacing any added before): each file relative to record_dir
 *     (no absolute path, no ".."), its xxh3-64 checked (a mismatch is
 *     DIF_ERR_INVALID_ARGUMENT naming both); on failure the context has no
 *     LoRAs. dif_context_apply_record(ctx, json) is it with record_dir NULL
 *     (a record with LoRAs is then refused: their files need its folder). A
 *     saved picture's record names each LoRA file relative to the picture's
 *     folder when it lies there or below, else by its base name. Its
 *     textual-inversion embeddings ("embeddings": [{"file", "xxh3",
 *     "token"}]) are added the same way (dif_context_add_embedding with the
 *     recorded token), replacing any added before.
 *   dif_prompt_from_record(json, record_dir, &prompt) rebuilds the prompt;
 *     record_dir is the folder the record was found in (the PNG's folder;
 *     NULL or "" for none). Image files are read again from there (see below); parts given as
 *     pixels cannot be restored (DIF_ERR_UNSUPPORTED). Errors in
 *     dif_last_error(); *prompt is NULL on failure.
 *   dif_sample_apply_record(sample, json, record_dir) applies every setting
 *     of the record through the setters above (so each value is
 *     range-checked like any input), the init image read as the prompt's
 *     images are. Errors in dif_sample_last_error(sample). A record of an
 *     edit restores it too: its mask (a file, read and checked as the init
 *     image is, or a rectangle) or its tool, on the picture's size.
 *   dif_prompt_from_parameters(json, &prompt) and
 *     dif_sample_apply_parameters(sample, json) are the same with no
 *     folder: a record that names an image file is then refused
 *     (DIF_ERR_INVALID_ARGUMENT); records of text prompts work.
 * Then dif_sample_run gives the same pixels on the same model and thread
 * count. A record of one image of a batch ("index": i of "batch": n, as
 * dif_sample_save writes it) makes the run draw the whole batch — the
 * generator's draws for image i depend on the images before it, as in
 * diffusers — and keep image i only: dif_sample_image_count is then 1, the
 * image has image i's pixels, and the run costs what the batch did. A later
 * dif_sample_set_batch keeps every image again. Thread-safe as the
 * functions they call.
 *
 * A record is untrusted input (a PNG may come from anywhere) and is checked
 * as a whole before any of it is used; every rule below is
 * DIF_ERR_INVALID_ARGUMENT with a message naming the key ("prompt[1].weight")
 * and what it accepts:
 *   - valid JSON, one object, no key twice at any level;
 *   - only the keys the writer writes: prompt (1..DIF_MAX_PROMPT_PARTS parts,
 *     each {"text", "weight"} or {"image", "xxh3", "width", "height",
 *     "weight"}), negative, width and height (together), steps, guidance,
 *     scheduler, seed, seed_u64, batch, index (0..batch-1), noise_level, prior_steps,
 *     prior_guidance, prior_scheduler, blend ("sum" or "slerp"), init_image
 *     ({"image", "xxh3", "strength"}), mask ({"image", "xxh3"} or {"rect":
 *     [x, y, width, height]}, and "crop_padding" when cropped), edit ({"op": "zoom_out",
 * "make_square" or "pan", "factor", "direction", "amount", the picture's "width" and "height"}),
 * model ({"dir", "files": [{"file", "xxh3"}]}), precision ("exact" or "fast"), libdif; an unknown
 * key is refused, not ignored;
 *   - exact JSON types: counts, sizes and seeds are JSON integers (25.0 is
 *     refused) within the setting's range (no 64-bit value is cut to 32
 *     bits); scales, strengths and weights are numbers within float range;
 *     names are strings; seed_u64 is the decimal digits of a 64-bit value
 *     and agrees with seed when both are given;
 *   - an image file is named by a path relative to record_dir, without ".."
 *     components (an absolute path is refused), and by the xxh3-64 of its
 *     bytes, which is checked before the file is decoded: a file that does
 *     not match is DIF_ERR_BAD_IMAGE naming the part and the path; width and
 *     height, when given, must match the decoded image.
 * Messages quote the record's keys and paths (non-printable bytes escaped),
 * never the bytes of a file. A record that breaks one of these rules
 * changes nothing; a setter that refuses a value stops
 * dif_sample_apply_record at that key, with the keys before it applied. */
DIF_API dif_status dif_read_parameters(const char *path, char *buf, size_t *size);
DIF_API dif_status dif_read_png_parameters(const char *path, char *buf, size_t *size);
DIF_API dif_status dif_context_check_record(const dif_context *ctx, const char *json);
DIF_API dif_status dif_context_apply_record(dif_context *ctx, const char *json);
DIF_API dif_status dif_context_apply_record_in(dif_context *ctx, const char *json,
                                               const char *record_dir);
/* Writes RGB8 pixels (rows of `stride` bytes) as a PNG, atomically and by
 * the rules of dif_check_output_path, with an optional "dif:parameters" text
 * chunk (NULL for none) — for images a program composes itself, e.g. a grid
 * of a batch. The parameters are stored as given: dif_sample_parameters
 * names image files by their base names, which a reader then looks for
 * beside this PNG. Errors:
 * DIF_ERR_INVALID_ARGUMENT, DIF_ERR_LIMIT, DIF_ERR_IO; dif_last_error(). */
DIF_API dif_status dif_write_png(const char *path, const uint8_t *rgb, int32_t width,
                                 int32_t height, int32_t stride, const char *parameters);
/* dif_write_png in the format the path's extension names (as
 * dif_sample_save: .png, .jpg/.jpeg, .webp; anything else is
 * DIF_ERR_UNSUPPORTED and nothing is written), with the record and its
 * AUTOMATIC1111 text stored as dif_sample_save stores them. dif_write_png
 * also adds the A1111 text of parameters. */
DIF_API dif_status dif_write_image(const char *path, const uint8_t *rgb, int32_t width,
                                   int32_t height, int32_t stride, const char *parameters);
DIF_API dif_status dif_prompt_from_record(const char *json, const char *record_dir,
                                          dif_prompt **out);
DIF_API dif_status dif_sample_apply_record(dif_sample *sample, const char *json,
                                           const char *record_dir);
DIF_API dif_status dif_prompt_from_parameters(const char *json, dif_prompt **out);
DIF_API dif_status dif_sample_apply_parameters(dif_sample *sample, const char *json);

#ifdef __cplusplus
}
#endif
#endif /* DIF_H */
