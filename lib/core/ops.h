/* ops.h — the kernels every model is built from.
 *
 * Layout conventions: images are NCHW float32, token sequences are
 * (tokens, channels) row-major; PyTorch Linear weights are [out, in] and
 * Conv2d weights [Cout, Cin, kh, kw], passed as a dif__weight in the dtype of
 * the model file (core/weight.h: F32 used in place; F16/BF16 widened into
 * arena scratch per product on the exact path, packed from their own dtype
 * on the fast path).
 * Every matrix product runs on the kernel context's precision: float32
 * through cblas_sgemm (the exact path), or bf16 with float32 accumulation
 * through a GEMM backend (the fast path, core/backend.h) — called from the
 * calling thread, never from a pool task; everything else runs on the
 * kernel context's thread pool, in float32 on both paths. Output buffers
 * never alias inputs unless a function says "may be in place".
 *
 * Each kernel is checked against a double-precision reference in
 * tests/unit/test-ops-*.c.
 */
#ifndef DIF__CORE_OPS_H
#define DIF__CORE_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "core/weight.h"

/* The fast path's state (core/backend.h): a bf16 backend and the packed
 * weights it has made, shared by every kctx of a context. */
typedef struct dif__fast dif__fast;
/* The exact path's Winograd state (core/backend.h): a backend with float32
 * Winograd convolutions and the transformed 3×3 weights it has made. */
typedef struct dif__wino dif__wino;

/* What a kernel may use besides its arguments: threads, scratch memory and
 * the precision of its products. pool may be NULL (serial); arena is
 * required by kernels that take err. fast NULL (what a {pool, arena}
 * initialiser leaves) is the exact path: float32 products through OpenBLAS,
 * bit for bit what the golden fixtures are checked with. Otherwise the
 * linear products (dif__linear*) use fast's packed bf16 weights and the
 * convolution's and attention's products run in bf16 on fast's backend.
 * wino, when set, runs dif__conv2d's 3×3, stride-1,
 * pad-1 convolutions by float32 Winograd on its backend (before fast's: a
 * fast context has it for the VAE where dif__wino_for_fast, core/backend.h)
 * (core/conv2d_wino.c): float32-class error, not sgemm's bits; only those
 * with cin·cout ≤ wino_max_cc when that is set (their transformed weights
 * are kept: 4× a float32 weight). The VAE's kernel context has it for every
 * 3×3 convolution; the denoising networks' (dif__generate) gets it only
 * when wino_nets_max_cc is set, and then for the convolutions with
 * cin·cout up to it: DIF__WINO_NETS_MAX_CC, the UNet's first two levels
 * (~1 GiB for SD's UNet), where most of its convolution time is; its
 * deeper levels' weights would cost GiBs more for little. NULL is im2col +
 * sgemm bit for bit (or fast's bf16 products). */
typedef struct dif__kctx {
  dif__pool *pool;
  dif__arena *arena;
  dif__fast *fast;
  dif__wino *wino;
  int64_t wino_max_cc;      /* wino serves convolutions with cin·cout ≤ this; 0: every one */
  int64_t wino_nets_max_cc; /* the denoising networks' wino_max_cc; 0: they get no wino */
  /* The VAE (encoder and decoder) and the UNet keep their activations channels-last
   * ([N, H, W, C]), their convolutions, GroupNorms and attention reading
   * and writing them so (dif__conv2d_params.channels_last): set where a
   * fast kctx's convolutions are all bf16 ones (no wino: a context's for
   * the VAE on AMX, dif__generate's for the networks in fast), whose
   * backend then reads and writes that layout without a layout change
   * around each convolution. Anywhere else it is correct but slower (every
   * convolution changes the layout there and back); the tests set it on
   * exact contexts too. */
  bool channels_last;
  /* the convolutions too small for wino's backend to pay
   * (dif__backend.conv3x3_f32_slow) stay on im2col + sgemm: exact
   * contexts; false: none (fast contexts, the tests) */
  bool wino_skip_small;
  /* fast: the channels-last 3×3, stride-1, pad-1 convolutions with
   * cin·cout up to this by bf16 Winograd F(2×2, 3×3) (core/conv2d_wino_bf16.c:
   * 16 bf16 products per 2×2 outputs against a direct convolution's 36,
   * about twice the direct one's rounding error); 0: none (exact, AMX).
   * Set by a fast context (the networks' and the VAE's: both channels-last
   * then) where its bf16 products are not on matrix tiles
   * (DIF__WINO_BF16_MAX_CC, api/load.c). */
  int64_t wino_bf16_max_cc;
} dif__kctx;

/* The denoising networks' limit: SD's UNet up to 1920 → 640 channels (its
 * levels of 320 and 640 channels, and the first convolution into 1280). */
#define DIF__WINO_NETS_MAX_CC ((int64_t)1920 * 640)
/* The limit for bf16 Winograd in fast (kctx.wino_bf16_max_cc): every 3×3
 * convolution of SD's UNet (its largest, 2560 → 1280 channels) and VAE. */
#define DIF__WINO_BF16_MAX_CC ((int64_t)2560 * 1280)
/* The VAE's limit in fast (core/backend.h, dif__wino_for_fast): SD's VAE up
 * to 512 → 256 channels, its levels of 128 and 256 channels (89 MiB of
 * transformed weights, 57 % of a decode's multiplies); its 512-channel
 * convolutions stay bf16: all of them by Winograd hold 0.74 GiB, which took
 * a whole 768² unCLIP generation in fast from F16 weights to 6.51 GiB peak
 * (5.83 without), past the 6.5 GiB it must fit (docs/performance.md). */
#define DIF__WINO_FAST_VAE_MAX_CC ((int64_t)512 * 256)

/* ---- matrix products (BLAS) ---- */

/* Row-major C[M,N] = alpha * op(A) op(B) + beta * C, op = transpose if t*. */
void dif__gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
               int64_t ldc);

/* PyTorch Linear: y[n, out] = x[n, in] · W[out, in]ᵀ + b[out]; b may be NULL.
 * W has out·in elements (not checked: these functions return no status).
 * Exact path: an F32 W is one cblas_sgemm call; an F16/BF16 W is widened
 * into k->arena scratch in bands of at most 16 MiB of its rows, one product
 * per band (one band for all but the largest weights), released before
 * returning; without an arena, or when it is out of memory, through a
 * 16 KiB stack buffer in tiles (slower, never a failure). Fast path: W's
 * packed bf16 form (dif__fast_weight), packed from its own dtype. The same
 * holds for the three variants below. */
void dif__linear(const dif__kctx *k, const float *x, int64_t n, int64_t in, dif__weight W,
                 const float *b, int64_t out, float *y);
/* The same added to y: y[n, out] += x · Wᵀ + b (a residual connection in the
 * GEMM's accumulation instead of a separate pass). */
void dif__linear_acc(const dif__kctx *k, const float *x, int64_t n, int64_t in, dif__weight W,
                     const float *b, int64_t out, float *y);

/* Linear on channels-first data (an NCHW image's [C, HW] plane read as
 * tokens without a transpose): y[n, out] = x[in, n]ᵀ · W[out, in]ᵀ + b. */
void dif__linear_cf_in(const dif__kctx *k, const float *x, int64_t n, int64_t in, dif__weight W,
                       const float *b, int64_t out, float *y);
/* Linear written channels-first: y[out, n] = W[out, in] · x[n, in]ᵀ + b, or
 * added to y when acc (a residual in the GEMM's accumulation). */
void dif__linear_cf_out(const dif__kctx *k, const float *x, int64_t n, int64_t in, dif__weight W,
                        const float *b, int64_t out, float *y, bool acc);

/* ---- convolution ---- */

/* What GroupNorm does to one channel of one image: y = ((x - hi) - lo)·a + c
 * (the mean split into two floats, see norm.c). */
typedef struct dif__norm_affine {
  float hi, lo, a, c;
} dif__norm_affine;

typedef struct dif__conv2d_params {
  int64_t cin, cout, kh, kw;
  int64_t stride;
  int64_t pad_top, pad_left, pad_bottom, pad_right; /* zero padding */
  bool accumulate; /* y += conv(x) + b: y already holds a residual (no extra pass) */
  /* Optional transform of the input, applied while it is read (no
   * transformed copy of the whole input is ever made; the zero padding
   * stays zero), in this order:
   *   in_h, in_w > 0: x is nearest-resized from H×W to in_h × in_w
   *     (PyTorch's rule, as dif__upsample_nearest) and that is the input;
   *   in_norm [N·cin]: each channel of image n through in_norm[n·cin + c]
   *     (dif__group_norm_params);
   *   in_silu: then SiLU. */
  int64_t in_h, in_w;
  const dif__norm_affine *in_norm;
  bool in_silu;
  /* x [N, H, W, cin] and y [N, OH, OW, cout] channels-last instead (the
   * transform above the same, per channel): fast's bf16 convolutions read
   * and write it as it is (tried first, before k->wino: a kctx that sets
   * channels_last has no wino in the library); elsewhere (exact, a weight
   * fast's backend refuses) the call changes x (and y, with accumulate) to
   * channels-first and back around the usual path, in k->arena scratch.
   * In place as below. */
  bool channels_last;
} dif__conv2d_params;

/* Output size of a convolution along one axis. */
int64_t dif__conv2d_out(int64_t in, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi);

/* y[N, cout, OH, OW] = conv(input, w[cout, cin, kh, kw]) + b[cout] (+= with
 * p->accumulate), input = x[N, cin, H, W] through p's optional transform;
 * b may be NULL. w must have cout·cin·kh·kw elements (DIF_ERR_INVALID_ARGUMENT
 * otherwise). Scratch (im2col, transformed input rows, and the float32 form
 * of an F16/BF16 w: whole, or in bands of output channels of at most 16 MiB)
 * comes from k->arena in bands of output rows and is released before
 * returning.
 * y must not overlap x, except that a 1×1, stride-1, unpadded convolution
 * with cout <= cin and no transform may run in place (y == x: y's channels
 * overwrite x's first ones; done in pixel bands through scratch). */
dif_status dif__conv2d(const dif__kctx *k, const dif__conv2d_params *p, const float *x, int64_t N,
                       int64_t H, int64_t W, dif__weight w, const float *b, float *y,
                       dif__error *err);

/* ---- normalisation ---- */

/* GroupNorm over x[N, C, HW] with `groups` groups; gamma/beta [C] may be NULL
 * (no affine). May be in place (y == x). */
void dif__group_norm(const dif__kctx *k, const float *x, int64_t N, int64_t C, int64_t HW,
                     int64_t groups, float eps, const float *gamma, const float *beta, float *y);

/* GroupNorm's per-(image, channel) affine for x[N, C, HW] into out[N·C]
 * (one read of x): what dif__conv2d_params.in_norm applies on the fly. */
void dif__group_norm_params(const dif__kctx *k, const float *x, int64_t N, int64_t C, int64_t HW,
                            int64_t groups, float eps, const float *gamma, const float *beta,
                            dif__norm_affine *out);

/* The same for channels-last x[N, HW, C] (dif__kctx.channels_last): the
 * statistics summed in double per channel over pixel chunks, then per
 * group (the channels-first one sums each group's span in one run: the two
 * agree to double rounding). Scratch from k->arena. */
dif_status dif__group_norm_params_cl(const dif__kctx *k, const float *x, int64_t N, int64_t C,
                                     int64_t HW, int64_t groups, float eps, const float *gamma,
                                     const float *beta, dif__norm_affine *out, dif__error *err);

/* y[n, i, c] = ((x - hi) - lo)·a + c with norm[n·C + c] for channels-last
 * x[N, HW, C] (GroupNorm's output from its params); y may be x. */
void dif__norm_apply_cl(const dif__kctx *k, const float *x, int64_t N, int64_t C, int64_t HW,
                        const dif__norm_affine *norm, float *y);

/* dif__group_norm followed by SiLU, in one pass over the output (as
 * diffusers' norm then nonlinearity, up to float rounding). */
void dif__group_norm_silu(const dif__kctx *k, const float *x, int64_t N, int64_t C, int64_t HW,
                          int64_t groups, float eps, const float *gamma, const float *beta,
                          float *y);

/* LayerNorm over the last dimension of x[rows, dim]; gamma/beta may be NULL.
 * May be in place. */
void dif__layer_norm(const dif__kctx *k, const float *x, int64_t rows, int64_t dim, float eps,
                     const float *gamma, const float *beta, float *y);

/* Numerically stable softmax of each row of x[rows, n], in place. Rows whose
 * entries are all -inf become all zero. */
void dif__softmax_rows(const dif__kctx *k, float *x, int64_t rows, int64_t n);

/* ---- activations (may be in place) ---- */

void dif__gelu(const dif__kctx *k, const float *x, int64_t n, float *y); /* x·Φ(x), erf form */
void dif__gelu_tanh(const dif__kctx *k, const float *x, int64_t n,
                    float *y); /* tanh approximation */
void dif__quick_gelu(const dif__kctx *k, const float *x, int64_t n, float *y); /* x·σ(1.702x) */
void dif__silu(const dif__kctx *k, const float *x, int64_t n, float *y);       /* x·σ(x) */

/* GEGLU as diffusers: x[rows, 2·d] = [a | g] → y[rows, d] = a · gelu(g).
 * Not in place: y must not overlap x (rows are written in parallel, and row r
 * of y lies over row r/2 of x). */
void dif__geglu(const dif__kctx *k, const float *x, int64_t rows, int64_t d, float *y);

/* ---- shape ops ---- */

/* Nearest-neighbour resize x[NC, H, W] → y[NC, OH, OW] with PyTorch's
 * 'nearest' rule (src = floor(dst · in / out)); OH = 2H, OW = 2W is the usual
 * 2× upsample, other sizes are what diffusers passes for odd latents. */
void dif__upsample_nearest(const dif__kctx *k, const float *x, int64_t NC, int64_t H, int64_t W,
                           int64_t OH, int64_t OW, float *y);

/* The same for channels-last maps: y[p, Ca+Cb] = cat(a[p, Ca], b[p, Cb]) for
 * each of the P = N·H·W pixels. */
void dif__concat_channels_cl(const dif__kctx *k, const float *a, int64_t Ca, const float *b,
                             int64_t Cb, int64_t P, float *y);

/* y[n, c, r] = x[n, r, c] for x[N, R, C]: channels-first ↔ channels-last
 * (R = C_channels, C = H·W, or the reverse). Not in place. */
void dif__transpose_batched(const dif__kctx *k, const float *x, int64_t N, int64_t R, int64_t C,
                            float *y);

/* y[n, c, i] = x[n, c, i] + b[c] for x[N, C, HW]; y may be x. */
void dif__add_channel_bias(const dif__kctx *k, const float *x, int64_t N, int64_t C, int64_t HW,
                           const float *b, float *y);

/* y = a + b (n elements); y may be a or b. */
void dif__add(const dif__kctx *k, const float *a, const float *b, int64_t n, float *y);

/* y[N, Ca+Cb, HW] = cat(a[N, Ca, HW], b[N, Cb, HW]) along channels. */
void dif__concat_channels(const float *a, int64_t Ca, const float *b, int64_t Cb, int64_t N,
                          int64_t HW, float *y);

/* ---- attention ---- */

typedef struct dif__attention_params {
  int64_t tq, tk;                 /* query and key/value token counts */
  int64_t heads, dim;             /* head count and per-head dimension */
  int64_t ld_q, ld_k, ld_v, ld_o; /* row strides (floats) of q, k, v, out; usually heads·dim */
  float scale;                    /* usually 1/sqrt(dim) */
  /* Optional additive mask [tq, tk] applied to every head (NULL: none);
   * mask_ld is its row stride, 0 to broadcast one row [tk] to all queries. */
  const float *mask;
  int64_t mask_ld;
  bool causal;     /* key j > query i is masked out (CLIP text, prior) */
  int64_t q_slice; /* queries per slice; 0 picks a size that bounds scratch */
  int64_t k_block; /* keys per block (blockwise, online softmax); 0: all keys
                    * in one block, the default (docs/performance.md: the
                    * blockwise scheme was not faster where measured) */
} dif__attention_params;

/* Scaled dot-product attention for one batch item:
 * out[i, h·dim + c] = Σ_j softmax_j(scale · q_h[i]·k_h[j] + mask[i,j]) v_h[j, c].
 * out may be q itself (ld_o == ld_q): query rows are consumed head by head
 * before that head's output columns of the same rows are written.
 * Queries are processed in slices so scratch is heads-independent: no tokens ×
 * tokens matrix for all heads is ever built. With one key block (k_block 0
 * or >= tk) a slice's scores are one q_slice × tk matrix (at most 16 MiB
 * when q_slice is 0); with k_block < tk, the keys are taken block by block
 * with an online softmax (flash-attention style: a running row maximum and
 * sum, the partial output rescaled when the maximum grows), so scratch is
 * q_slice × k_block + q_slice × dim floats (q_slice 0: 256 rows). */
dif_status dif__attention(const dif__kctx *k, const dif__attention_params *p, const float *q,
                          const float *kk, const float *v, float *out, dif__error *err);

/* ---- embeddings ---- */

/* diffusers get_timestep_embedding: half = dim/2,
 * f_i = exp(-ln(max_period) · i / (half - downscale_freq_shift)),
 * out[n, :] = scale·[sin(t f), cos(t f)] (or [cos, sin] if flip_sin_to_cos),
 * zero-padded when dim is odd; computed in float32 as PyTorch does. */
void dif__timestep_embedding(const float *t, int64_t n, int64_t dim, bool flip_sin_to_cos,
                             float downscale_freq_shift, float scale, float max_period, float *out);

#endif
