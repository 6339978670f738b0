/* backend.h — GEMM backends: what runs a matrix product, and in which
 * precision.
 *
 * A backend is one table (dif__backend, below) in a file of its own:
 *
 *   openblas  backend_openblas.c  float32 only; today's exact path (core/gemm.c's
 *                                 cblas_sgemm calls, unchanged numerics);
 *                                 its Winograd convolutions in
 *                                 backend_openblas_wino.c
 *   onednn    backend_onednn.c    oneDNN's matmul and convolution: float32,
 *                                 and bf16 inputs with float32 accumulation
 *                                 and output where the CPU has AVX-512
 *                                 (AVX512-BF16 / AMX natively, emulated on
 *                                 plain AVX-512); weights pre-packed in
 *                                 oneDNN's blocked layouts
 *
 * The registry (backend.c) lists every backend libdif knows, built or not,
 * so a program can say "onednn: not built (...)" instead of nothing.
 *
 * Two kinds of product:
 *   - linear: y[m, n] = x[m, k] · W[n, k]ᵀ + b[n] (PyTorch Linear), W a
 *     weight packed once (dif__backend_pack) from F32, F16 or BF16 data in
 *     the layout the backend wants; the packed weight is then used for every
 *     product, from any thread.
 *   - matmul: C = alpha·op(A)·op(B) + beta·C on two activations (attention's
 *     Q·Kᵀ and P·V), with transposes and leading dimensions as dif__gemm.
 * Activations are float32 in and out whatever the precision: with
 * DIF__DTYPE_BF16 the backend rounds its inputs to bf16 (dtype.h) and
 * accumulates in float32, as PyTorch's bf16 CPU path does.
 * And, optional, two kinds of convolution (dif__conv): float32 3×3
 * Winograd for the exact path's VAE, and bf16 direct convolutions on
 * channels-last bf16 input for the fast path.
 *
 * Threads: every function here may be called from several threads at once
 * (a backend keeps its own caches thread-safe). Products run on the
 * backend's own threads (OpenBLAS's pthreads, oneDNN's OpenMP team) and must
 * be called from the calling thread, never from a dif__pool task, as dif__gemm.
 *
 * Adding a backend (cuBLAS, Apple Accelerate, a quantized one):
 *   1. lib/core/backend_<name>.c defining `const dif__backend
 *      dif__backend_<name>` — each function's contract is written below; the
 *      wrappers (dif__backend_pack, dif__packed_linear, dif__backend_matmul)
 *      have already checked the arguments, so a backend only computes.
 *      Its packed type begins with a dif__packed header.
 *   2. one row in the registry table in backend.c (and its `extern` below),
 *      under the macro its build sets (DIF__HAVE_<NAME>).
 *   3. CMakeLists.txt: find the library, add it to DIF_DEPS, define
 *      DIF__HAVE_<NAME>, and drop the file from DIF_SOURCES when it is absent
 *      (as for oneDNN); the static-link files (pkgconfig/dif.pc.in,
 *      cmake/difConfig.cmake.in) learn the library too.
 *   4. tests/unit/test-backend.c tests every row and every precision a
 *      backend claims with no change; bench `gemm-backends` times it.
 */
#ifndef DIF__CORE_BACKEND_H
#define DIF__CORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/weight.h"

typedef struct dif__backend dif__backend;
/* A 3×3 weight in bf16 Winograd form (core/conv2d_wino_bf16.c). */
typedef struct dif__wino_bf16 dif__wino_bf16;

/* A weight matrix W[n, k] packed by a backend. Every backend's packed type
 * begins with this header. Immutable once packed (a backend's caches inside
 * are its own, locked), so one packed weight may serve several threads. */
typedef struct dif__packed {
  const dif__backend *backend;
  dif__dtype math; /* how its products are computed: DIF__DTYPE_F32 or DIF__DTYPE_BF16 */
  dif__dtype src;  /* the dtype it was packed from */
  int64_t n, k;    /* W[n, k]: n outputs, k inputs */
  size_t bytes;    /* memory the backend holds for it; 0 if it uses the source in place */
} dif__packed;

/* A convolution's geometry: weight [cout, cin, kh, kw], stride, and the
 * zero columns left and right of every input row (rows above and below are
 * the caller's: see conv_bf16_run). */
typedef struct dif__conv_geom {
  int64_t cout, cin, kh, kw, stride, pad_left, pad_right;
} dif__conv_geom;

/* A convolution weight prepared by a backend for its convolutions:
 * float32 3×3 Winograd (conv3x3_f32_*: math F32, kh = kw = 3, stride 1,
 * pads 1) or bf16 direct (conv_bf16_*: math BF16, any geometry). Every
 * backend's type begins with this header. Immutable but for the backend's
 * own locked caches, so one may serve several threads. */
typedef struct dif__conv {
  const dif__backend *backend;
  dif__dtype math;
  dif__conv_geom g;
  size_t bytes; /* memory the backend holds for its prepared weights */
} dif__conv;

struct dif__backend {
  const char *name; /* "openblas", "onednn": how settings and logs name it */
  const char *what; /* one line for a log or `dif info` */

  /* True if products in precision `math` run here (this build, this CPU):
   * DIF__DTYPE_F32 is float32 throughout, DIF__DTYPE_BF16 bf16 inputs with
   * float32 accumulation and output. Otherwise false and a sentence saying
   * why (naming what the CPU lacks) in why. Thread-safe; cheap after the
   * first call. */
  bool (*supports)(dif__dtype math, char *why, size_t size);
  /* The instruction set its kernels use on this CPU ("avx512_core_bf16",
   * "Zen", ...): a static string for the log. */
  const char *(*isa)(void);
  /* True if products in precision `math` run on instructions made for it
   * here (bf16: AVX512-BF16 dot products or AMX tiles), false if they are
   * unsupported or emulated (bf16 on plain AVX-512). The precision `auto`
   * chooses bf16 only where this says true. Thread-safe. */
  bool (*native)(dif__dtype math);
  /* True if bf16 products run on matrix tiles here (AMX), whose bf16
   * throughput is many times float32's; false (or NULL) where they run on
   * dot-product instructions (AVX512-BF16: twice float32's) or are
   * emulated. Decides who runs fast's VAE convolutions (dif__wino_for_fast).
   * Thread-safe. */
  bool (*bf16_tiles)(void);

  /* Packs W[n, k] (row-major, element type src) for products in precision
   * math (supported). m_hint is the row count m the linear products will
   * usually have (0 = unknown); a backend may pick its layout for it. The
   * source must stay valid and unchanged while the packed weight lives: a
   * backend may use it in place (openblas does for F32). kx, which may be
   * NULL, lends the caller's threads (kx->pool, for a conversion before the
   * backend's own packing: dif__weight_bf16) and scratch (kx->arena,
   * released before returning); called from the calling thread, as a
   * product. */
  dif_status (*pack)(const dif__kctx *kx, dif__dtype math, dif__dtype src, const void *w, int64_t n,
                     int64_t k, int64_t m_hint, dif__packed **out, dif__error *err);
  /* y[m, n] = x[m, k] · Wᵀ + b[n] (b may be NULL), or y += that when acc;
   * x and y contiguous, not overlapping; m >= 1. Each lies either
   * row-major (tokens first: x[m, k], y[m, n]) or channels-first (an NCHW
   * plane: x_cf reads x as [k, m], y_cf writes y as [n, m]; what
   * dif__linear_cf_in / dif__linear_cf_out do). k->arena may be used for
   * scratch (released before returning). */
  dif_status (*linear)(const dif__kctx *k, const dif__packed *w, const float *x, bool x_cf,
                       int64_t m, const float *b, bool acc, float *y, bool y_cf, dif__error *err);
  /* C[M, N] = alpha · op(A) · op(B) + beta · C (row-major, leading
   * dimensions as dif__gemm; beta = 0 ignores C's contents), in precision
   * math (supported); M, N, K >= 1. */
  dif_status (*matmul)(const dif__kctx *k, dif__dtype math, bool trans_a, bool trans_b, int64_t M,
                       int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                       const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                       dif__error *err);
  /* y[m, n] = x[m, k] · Wᵀ for x already in bf16 (row-major, the bits of
   * dif__bf16_rne) and W packed in precision BF16: linear's product
   * without its rounding of x, y row-major float32, overwritten
   * (core/conv2d_wino_bf16.c's transformed tiles, rounded as they are
   * made). NULL where a backend has none. */
  dif_status (*linear_bf16)(const dif__kctx *k, const dif__packed *w, const uint16_t *x, int64_t m,
                            float *y, dif__error *err);
  /* Frees what pack made (w is never NULL here). */
  void (*packed_free)(dif__packed *w);

  /* Float32 3×3 convolutions, stride 1, zero padding 1 all round, without
   * bias, by Winograd's algorithm (onednn: oneDNN's convolution_winograd,
   * AVX-512 only; openblas: our F(4,3) transforms around cblas_sgemm,
   * core/backend_openblas_wino.c). Used by the exact path's VAE
   * (core/conv2d_wino.c): its error against a double reference is that of
   * a float32 direct convolution (docs/performance.md), not bit for bit
   * sgemm's.
   * conv3x3_f32_pack transforms w [cout, cin, 3, 3] (F32, F16 or BF16,
   * widened exactly) into the backend's layout for runs of H × W, once;
   * DIF_ERR_UNSUPPORTED when the backend has no such convolution for that
   * shape on this CPU. w must stay valid while the result lives (another
   * image size may need another layout, transformed from it then). kx
   * (may be NULL: serial, heap) is the caller's kernel context, as pack's:
   * its pool for a backend whose transform is its own (openblas: split over
   * input channels, the same values whatever the threads) and for widening
   * a 16-bit weight (onednn, whose transform then runs on oneDNN's
   * threads), its arena for scratch. */
  dif_status (*conv3x3_f32_pack)(const dif__kctx *kx, dif__weight w, int64_t cout, int64_t cin,
                                 int64_t H, int64_t W, dif__conv **out, dif__error *err);
  /* dst = conv(src), H × W outputs per image (N images): src
   * [N, ⌈cin/16⌉, H + 2, W, 16] (channels-blocked by 16, "nChw16c"; the
   * channels past cin zero) holds the input rows from one above the first
   * output row to one below the last — the caller's zero rows at an
   * image's top and bottom edge, so a band of an image's rows runs alone
   * —; zero padding of 1 left and right is the backend's. dst
   * [N, ⌈cout/16⌉, H, W, 16] (its channels past cout are to be ignored).
   * DIF_ERR_UNSUPPORTED where refused for this shape. k->arena may be used
   * for scratch. From the calling thread (the backend's own threads). */
  dif_status (*conv3x3_f32_run)(const dif__kctx *k, const dif__conv *w, int64_t N, int64_t H,
                                int64_t W, const float *src, float *dst, dif__error *err);
  /* True where this backend's Winograd measured slower than im2col + sgemm
   * for cin → cout channels and an OH × OW output per image (the smallest
   * convolutions: a few tiles per image); an exact context
   * (kctx.wino_skip_small) runs those on im2col + sgemm. Each backend's
   * rule is its own, measured (docs/performance.md). NULL: never slower. */
  bool (*conv3x3_f32_slow)(int64_t cin, int64_t cout, int64_t OH, int64_t OW);

  /* bf16 convolutions with float32 accumulation, the fast path's
   * (core/conv2d_fast.c): every multiply done (direct, not Winograd), the
   * roundings of every fast product — inputs and weights to bf16 (round to
   * nearest even), float32 sums. NULL where a backend has none (openblas).
   * conv_bf16_pack rounds w [cout, cin, kh, kw] (F32, F16 or BF16) into the
   * backend's layout once; DIF_ERR_UNSUPPORTED when it has no such
   * convolution for that geometry on this CPU (nothing but reference code
   * counts as none). kx (may be NULL) as pack's. */
  dif_status (*conv_bf16_pack)(const dif__kctx *kx, dif__weight w, const dif__conv_geom *g,
                               dif__conv **out, dif__error *err);
  /* dst = conv(src) for N images: src [N, Hin, Win, cin] in bf16
   * (channels-last; the bits of dif__bf16_from_f32), its rows those the
   * outputs read, zero rows included — no padding above or below is the
   * backend's —, pad_left / pad_right zero columns the backend's; dst
   * [N, OH, OW, cout] float32 channels-last, OH = (Hin − kh) / stride + 1,
   * OW = (Win + pad_left + pad_right − kw) / stride + 1: overwritten, or
   * with acc added to (dst += conv(src) + bias); bias [cout] float32, NULL
   * for none (both inside the product's output pass: the channels-last
   * layers of core/conv2d_fast.c write their output through them).
   * DIF_ERR_UNSUPPORTED where refused for this size. k->arena may be used
   * for scratch. From the calling thread (the backend's own threads). */
  dif_status (*conv_bf16_run)(const dif__kctx *k, const dif__conv *w, int64_t N, int64_t Hin,
                              int64_t Win, const uint16_t *src, const float *bias, bool acc,
                              float *dst, dif__error *err);
  void (*conv_free)(dif__conv *w); /* either kind; w never NULL */
};

/* ---- the registry ---- */

/* One row per backend libdif knows; backend is NULL when this build does not
 * have it, and missing then says why (a static sentence). */
typedef struct dif__backend_row {
  const char *name;
  const dif__backend *backend;
  const char *missing;
} dif__backend_row;

/* The rows, in order of preference for exact work (openblas first). */
int dif__backend_count(void);
const dif__backend_row *dif__backend_row_at(int i); /* NULL outside [0, count) */
/* The built backend of that name, else NULL. */
const dif__backend *dif__backend_find(const char *name);

/* The tables (defined in backend_<name>.c). */
extern const dif__backend dif__backend_openblas;
#ifdef DIF_HAVE_ONEDNN
extern const dif__backend dif__backend_onednn;
#endif

/* ---- calls: argument checks, then the backend ----
 *
 * Each checks what it is given (NULL pointers, sizes below 1 or above
 * DIF__GEMM_DIM_MAX, leading dimensions, an unsupported precision) and
 * returns DIF_ERR_INVALID_ARGUMENT / DIF_ERR_LIMIT / DIF_ERR_UNSUPPORTED
 * with a message, before the backend runs. */

dif_status dif__backend_pack(const dif__backend *b, const dif__kctx *kx, dif__dtype math,
                             dif__dtype src, const void *w, int64_t n, int64_t k, int64_t m_hint,
                             dif__packed **out, dif__error *err);
/* The table's conv_bf16_run, its sizes checked first (src rows at least
 * kh, the output at least one pixel); N = 0 does nothing. */
dif_status dif__conv_bf16_run(const dif__kctx *k, const dif__conv *w, int64_t N, int64_t Hin,
                              int64_t Win, const uint16_t *src, const float *bias, bool acc,
                              float *dst, dif__error *err);
/* m = 0 does nothing. x and y row-major. */
dif_status dif__packed_linear(const dif__kctx *k, const dif__packed *w, const float *x, int64_t m,
                              const float *b, bool acc, float *y, dif__error *err);
/* The same with x and/or y channels-first (x_cf: x is [k, m]; y_cf: y is
 * [n, m]), as the table's linear. */
dif_status dif__packed_linear_cf(const dif__kctx *k, const dif__packed *w, const float *x,
                                 bool x_cf, int64_t m, const float *b, bool acc, float *y,
                                 bool y_cf, dif__error *err);
/* M = 0 or N = 0 does nothing; K = 0 sets C = beta·C. */
dif_status dif__backend_matmul(const dif__backend *b, const dif__kctx *k, dif__dtype math,
                               bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                               float alpha, const float *A, int64_t lda, const float *B,
                               int64_t ldb, float beta, float *C, int64_t ldc, dif__error *err);
/* NULL is a no-op. */
void dif__packed_free(dif__packed *w);

/* ---- the fast path (dif__kctx.fast) ----
 *
 * A context in the precision `fast` owns one dif__fast: a backend whose bf16
 * products it uses, and the bf16 form of every weight matrix a linear
 * product has used, packed on first use and kept until dif__fast_release
 * or dif__fast_free.
 * Weights are found by their address (and dtype and shape): a model's weights stay
 * where they were loaded, unchanged, while its context lives, so the address
 * names the tensor. Lazily rather than at load: the models need no change
 * (dif__linear* look the weight up), a part that never runs (a prior that a
 * sample does not use) costs nothing, and the first forward pass packs what
 * it uses. Cost: the packed bf16 copy, 2 bytes per weight element used by a
 * linear product; the source weight's pages, when it lies in a file
 * mapping, are dropped once it is packed (read again from the file only if
 * an exact fallback needs them), so memory holds one form of it. A
 * convolution's weight is packed the same way, by the backend's
 * conv_bf16_pack (core/conv2d_fast.c); attention's products go through
 * core/attn_fused.h or dif__backend_matmul (operands rounded per call,
 * nothing cached). All calls are thread-safe:
 * concurrent samples of a context share its dif__fast (one lock around the
 * table; packing happens under it, so two threads never pack one weight
 * twice). */

/* The backend `auto` picks: the first built row whose bf16 products run
 * natively on this CPU (backend->native), or NULL if none does; *why then
 * says why (the CPU and what it lacks). */
const dif__backend *dif__backend_fast_native(char *why, size_t size);

dif_status dif__fast_new(const dif__backend *b, dif__fast **out, dif__error *err);
void dif__fast_free(dif__fast *f); /* NULL is a no-op */
/* Frees every packed weight (linear and convolution) and returns the bytes
 * they held (0 for NULL; layouts added since packing included); f stays usable, and the next use of
 * a weight packs it again. Only while no product uses f: the caller's rule (a context releases
 * between runs, dif_context_release_packed). */
size_t dif__fast_release(dif__fast *f);
const dif__backend *dif__fast_backend(const dif__fast *f);
/* The packed bf16 form of the weight w[n, k] (F32, F16 or BF16: packed from
 * its own dtype), packed on first use (kx and m_hint as dif__backend_pack:
 * the caller's kernel context, which may be NULL); a mapped w
 * (core/weight.h) has its pages dropped once packed. */
dif_status dif__fast_weight(dif__fast *f, const dif__kctx *kx, dif__weight w, int64_t n, int64_t k,
                            int64_t m_hint, const dif__packed **out, dif__error *err);
/* The same for a convolution's weight w[cout, cin, kh, kw]: packed by the
 * backend's conv_bf16_pack for geometry g (core/conv2d_fast.c), on first
 * use; kept apart from a linear packing of the same data. A weight the
 * backend refuses is remembered: DIF_ERR_UNSUPPORTED then, at once, on
 * every later call (the caller runs it its own way: core/conv2d_fast.c). */
dif_status dif__fast_conv_weight(dif__fast *f, const dif__kctx *kx, dif__weight w,
                                 const dif__conv_geom *g, const dif__conv **out, dif__error *err);
/* The same for a 3×3 convolution's weight w[cout, cin, 3, 3] by bf16
 * Winograd F(2×2, 3×3) (core/conv2d_wino_bf16.c, dif__wino_bf16_make): its
 * 16 transformed matrices packed as linear weights, made on first use; a
 * weight the backend refuses (no linear_bf16) is remembered, as above. */
dif_status dif__fast_wino_bf16_weight(dif__fast *f, const dif__kctx *kx, dif__weight w,
                                      int64_t cout, int64_t cin, const dif__wino_bf16 **out,
                                      dif__error *err);
/* A fast product that failed (out of memory for a packed weight, oneDNN
 * refusing a shape) and that the caller then ran on the exact path: counted,
 * and the first message kept, for the log. */
void dif__fast_note_fallback(dif__fast *f, const dif__error *err);
typedef struct dif__fast_stats {
  int64_t weights;   /* packed weights held (linear and convolution) */
  int64_t refused;   /* convolution weights the backend refused (conv2d.c's im2col runs them) */
  size_t bytes;      /* their memory as packed (layouts a convolution adds later not counted) */
  size_t dropped;    /* mapped source pages dropped after packing (bytes; every packing counted,
                      * also again after dif__fast_release) */
  int64_t fallbacks; /* products run exactly instead (dif__fast_note_fallback) */
  char first_fallback[256];
} dif__fast_stats;
void dif__fast_get_stats(dif__fast *f, dif__fast_stats *out);

/* ---- the exact path's Winograd convolutions (dif__kctx.wino) ----
 *
 * A context in the precision exact (or fast, where dif__wino_for_fast says
 * so), where a backend has float32 Winograd
 * convolutions (conv3x3_f32_*; oneDNN on AVX-512, else openblas), owns one
 * dif__wino: that backend and the transformed form of every 3×3 weight the
 * VAE's convolutions have used, made on first use and kept until
 * dif__wino_release or dif__wino_free (found by the weight's address, dtype and shape, as
 * dif__fast's: a context's weights never move). Cost: an F(4,3) layout
 * holds 36 values per 9 weights, 4× the float32 weight (~740 MiB for SD's
 * VAE; openblas's pads channels to multiples of 16, which SD's are but
 * for the 4 latent ones); the source weight stays where it is. A weight the backend
 * refuses is remembered as refused (then conv2d.c's im2col + sgemm runs it,
 * every time, without asking again). Thread-safe: one lock around the
 * table, transforms made under it. */

/* The backend whose float32 Winograd convolutions run here, or NULL (and
 * why): onednn where the CPU has AVX-512 (oneDNN 2.6 has Winograd only
 * there; checked first, with cpuid: an AVX2 process never loads oneDNN for
 * this) and its library loads, else openblas (core/backend_openblas_wino.c:
 * our F(4,3) transforms around cblas_sgemm; AVX2 CPUs such as Zen 3). The
 * environment variable DIF_WINO_BACKEND, set to a backend's name, picks
 * that one instead (NULL where it has none or cannot run here): tests and
 * the bench use it, e.g. DIF_WINO_BACKEND=openblas on an AVX-512 CPU. */
const dif__backend *dif__backend_wino(char *why, size_t size);
/* The backend of that name if its float32 Winograd convolutions run here,
 * else NULL and why (dif__backend_wino's checks, for that one backend). */
const dif__backend *dif__backend_wino_named(const char *name, char *why, size_t size);
/* True if the precision fast, on the fast backend b, runs 3×3 convolutions
 * by Winograd rather than by b's bf16 direct convolutions: every one of the
 * UNet's and the VAE's by bf16 Winograd F(2×2, 3×3) where b has linear_bf16
 * (kctx.wino_bf16_max_cc, core/conv2d_wino_bf16.c; api/load.c), else the
 * VAE's up to DIF__WINO_FAST_VAE_MAX_CC (core/ops.h) by float32 Winograd, as
 * exact does. Where b's bf16 products are not on matrix tiles (b->bf16_tiles),
 * Winograd's F(4,3) needs a quarter of the multiplies and bf16 dot products
 * give at most twice float32's. Measured on Zen 4 (AVX512-BF16): a 512²
 * decode 6.97 → 5.97 s, 768² 16.48 → 14.17 s, for 89 MiB of transformed
 * weights (every 3×3 convolution: 5.3 and 12.9 s for 0.74 GiB), and 2.5×
 * closer to the float32 reference (test-fast-fidelity). On AMX bf16 direct
 * stays (tiles run bf16 at many times float32's rate). bf16 Winograd
 * measured faster still (Zen 4: a UNet step at 512² 4.07 → 3.4–3.6 s, a VAE
 * decode 5.9 → 5.1 s, 768² 14.1 → 12.4 s; float32 Winograd in the UNet
 * measured only 7 % for 1.1 GiB: docs/performance.md). */
bool dif__wino_for_fast(const dif__backend *b);
dif_status dif__wino_new(const dif__backend *b, dif__wino **out, dif__error *err);
const dif__backend *dif__wino_backend(const dif__wino *c); /* the backend given to dif__wino_new */
void dif__wino_free(dif__wino *c);                         /* NULL is a no-op */
/* Frees every transformed weight and returns their bytes (0 for NULL), as
 * dif__fast_release: c stays usable, only while no convolution uses it. */
size_t dif__wino_release(dif__wino *c);
/* The transformed form of the convolution weight w [cout, cin, 3, 3] for
 * images of H × W, made on first use; DIF_ERR_UNSUPPORTED (also on every
 * later call) when the backend refused it, DIF_ERR_OUT_OF_MEMORY. */
dif_status dif__wino_weight(dif__wino *c, const dif__kctx *kx, dif__weight w, int64_t cout,
                            int64_t cin, int64_t H, int64_t W, const dif__conv **out,
                            dif__error *err);
typedef struct dif__wino_stats {
  int64_t weights; /* transformed weights held */
  int64_t refused; /* weights the backend refused (they run on im2col + sgemm) */
  size_t bytes;    /* memory of the transformed weights (their first layout) */
} dif__wino_stats;
void dif__wino_get_stats(dif__wino *c, dif__wino_stats *out);

/* This CPU in a few words for messages: its brand string and the features
 * the backends care about, e.g. "AMD EPYC: AVX-512, AVX512_BF16, no AMX". */
void dif__cpu_describe(char *buf, size_t size);

#endif
