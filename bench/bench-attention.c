/* bench-attention.c — dif__attention on the UNet's self-attention shapes:
 * all keys in one block (the sliced scheme: a [slice, tk] score matrix of up
 * to 16 MiB per slice) against the blockwise online softmax (one [rows,
 * block] block of scores at a time, default [256, 1024]), exact (float32,
 * OpenBLAS) and fast: the unfused bf16 path (two oneDNN products per head
 * and slice around a float32 softmax; forced here with an all-zero mask row,
 * which the fused kernel does not take) and the fused bf16 kernel
 * (core/attn_fused.h, what the models run where the CPU has AVX512-BF16),
 * in its AVX512-BF16 build and in its AMX build (the products in tiles,
 * what the models run where the CPU has AMX).
 *
 *   dif-bench-attention [--tokens N ...] [--keys N] [--heads N] [--dim N]
 *                       [--reps N] [--rows N] [--block N] [--exact-builds]
 *
 * --exact-builds: the precision exact's attention alone instead, its
 * columns what exact runs here (dif__attention), the unfused path (two
 * sgemm calls per head and slice around a softmax; forced with the
 * all-zero mask row) and each native build of the fused float32 kernel
 * (core/attn_f32.h: AVX2, AVX-512) — where exact takes the kernel, and
 * which build, is decided by these numbers per CPU.
 *
 * Shapes: by default sd21-unclip-small's finest level, heads 5 × dim 64, one
 * image: 4096 tokens at 512², 9216 at 768² (the default). --heads and --dim
 * give the other levels (10 × 64 at 1024 tokens, 20 × 64 at 256; SD-1.5's
 * 8 × 40, 8 × 80, 8 × 160), --keys a cross-attention's key count (77: the
 * text tokens; default: as many keys as queries). Best of --reps calls (3)
 * after one warm-up; GFLOP/s counts both products (4·Tq·Tk·heads·dim). A
 * benchmark, never a test: the numbers depend on the machine's load.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/attn_f32.h"
#include "core/attn_fused.h"
#include "core/backend.h"
#include "core/blas.h"
#include "core/ops.h"
#include "core/threadpool.h"
#include "dif.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *rand_floats(size_t n, unsigned seed) {
  float *p = malloc(n * sizeof *p);
  if (!p) return NULL;
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
  return p;
}

/* dif__attention (fused < 0), the fused bf16 kernel's build fused, or the
 * fused float32 kernel's build fused − FUSED_F32 (fused >= FUSED_F32). */
#define FUSED_F32 100
static double best_of(const dif__kctx *k, const dif__attention_params *p, const float *q,
                      const float *kv, float *out, int reps, int fused) {
  double best = 1e30;
  dif__error err = {0};
  const float *v = kv + p->heads * p->dim;
  for (int r = 0; r <= reps; r++) { /* r = 0: warm-up */
    const double t0 = now();
    if (fused < 0 ? dif__attention(k, p, q, kv, v, out, &err)
        : fused >= FUSED_F32
            ? dif__attn_f32(k, p, q, kv, v, out, (dif__attn_f32_build)(fused - FUSED_F32), &err)
            : dif__attn_fused(k, p, q, kv, v, out, (dif__attn_fused_isa)fused, &err)) {
      fprintf(stderr, "dif-bench-attention: %s\n", err.msg);
      return -1;
    }
    const double dt = now() - t0;
    if (r > 0 && dt < best) best = dt;
  }
  return best;
}

int main(int argc, char **argv) {
  int64_t tokens[8] = {9216};
  int n_tokens = 1, reps = 3;
  bool exact_builds = false;
  int64_t rows = 256, kb = 1024, keys = 0, heads = 5, dim = 64;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      reps = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc) {
      rows = atoll(argv[++i]);
    } else if (strcmp(argv[i], "--block") == 0 && i + 1 < argc) {
      kb = atoll(argv[++i]);
    } else if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc) {
      keys = atoll(argv[++i]);
    } else if (strcmp(argv[i], "--heads") == 0 && i + 1 < argc) {
      heads = atoll(argv[++i]);
    } else if (strcmp(argv[i], "--dim") == 0 && i + 1 < argc) {
      dim = atoll(argv[++i]);
    } else if (strcmp(argv[i], "--exact-builds") == 0) {
      exact_builds = true;
    } else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc) {
      n_tokens = 0;
      while (i + 1 < argc && argv[i + 1][0] != '-' && n_tokens < 8)
        tokens[n_tokens++] = atoll(argv[++i]);
    } else {
      fprintf(stderr, "usage: dif-bench-attention [--tokens N ...] [--keys N] [--heads N] [--dim "
                      "N] [--reps N] [--rows N] [--block N] [--exact-builds]\n");
      return 2;
    }
  }
  if (reps < 1 || n_tokens < 1 || rows < 1 || kb < 1 || keys < 0 || heads < 1 || heads > 64 ||
      dim < 1 || dim > 1024)
    return 2;
  dif_blas_setup(0);
  dif__error err = {0};
  dif__pool *pool = NULL;
  if (dif__pool_new(dif__cpu_count(), &pool, &err)) pool = NULL;
  dif__arena arena;
  dif__arena_init(&arena, 1 << 20);
  dif__fast *fast = NULL;
  const dif__backend *fb = dif__backend_find("onednn");
  if (!fb || !fb->supports(DIF__DTYPE_BF16, NULL, 0) || dif__fast_new(fb, &fast, &err)) fast = NULL;
  const dif__kctx exact = {pool, &arena, NULL, NULL, 0, 0, false, 0, 0},
                  fastk = {pool, &arena, fast, NULL, 0, 0, false, 0, 0};
  printf("dif__attention, heads %lld x dim %lld, %s keys, one image; %d threads; best of %d; "
         "seconds (GFLOP/s)\n",
         (long long)heads, (long long)dim, keys ? "fixed" : "as many", dif__cpu_count(), reps);
  if (exact_builds)
    printf("exact: what it runs here is %s\n"
           "| tokens | keys | exact, as it runs here | exact unfused (sgemm) | exact fused, AVX2 | "
           "exact fused, AVX-512 |\n|---:|---:|---:|---:|---:|---:|\n",
           dif__attn_f32_taken() ? dif__attn_f32_build_name(dif__attn_f32_native())
                                 : "the unfused path");
  else
    printf("| tokens | keys | exact, one block | exact, blockwise | fast unfused, one block | fast "
           "unfused, "
           "blockwise | fast fused, AVX512-BF16 | fast fused, AMX |\n"
           "|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int t = 0; t < n_tokens; t++) {
    const int64_t T = tokens[t], Tk = keys ? keys : T, w = heads * dim;
    float *q = rand_floats((size_t)(T * w), 1), *kv = rand_floats((size_t)(Tk * 2 * w), 2);
    float *out = malloc((size_t)(T * w) * sizeof *out), *zero = calloc((size_t)Tk, sizeof *zero);
    if (!q || !kv || !out || !zero) return 1;
    dif__attention_params p = {.tq = T,
                               .tk = Tk,
                               .heads = heads,
                               .dim = dim,
                               .ld_q = w,
                               .ld_k = 2 * w,
                               .ld_v = 2 * w,
                               .ld_o = w,
                               .scale = 1.0f / sqrtf((float)dim)};
    const double gflop = 4.0 * (double)T * (double)Tk * (double)w * 1e-9;
    printf("| %lld | %lld |", (long long)T, (long long)Tk);
    for (int col = 0; exact_builds && col < 4; col++) {
      const int fused = col == 2   ? FUSED_F32 + DIF__ATTN_F32_AVX2
                        : col == 3 ? FUSED_F32 + DIF__ATTN_F32_AVX512
                                   : -1;
      char why[160] = "";
      if (fused >= 0 &&
          !dif__attn_f32_runs((dif__attn_f32_build)(fused - FUSED_F32), why, sizeof why)) {
        printf(" (%s) |", why);
        continue;
      }
      p.k_block = p.q_slice = 0;
      p.mask = col == 1 ? zero : NULL;
      const double s = best_of(&exact, &p, q, kv, out, reps, fused);
      printf(" %.3f (%.0f) |", s, gflop / s);
      fflush(stdout);
    }
    for (int col = 0; !exact_builds && col < 6; col++) {
      const bool f = col >= 2, blockwise = col == 1 || col == 3;
      const int fused = col == 4 ? DIF__ATTN_FUSED_AVX512BF16 : col == 5 ? DIF__ATTN_FUSED_AMX : -1;
      char why[160] = "";
      if ((f && !fast) ||
          (fused >= 0 && !dif__attn_fused_runs((dif__attn_fused_isa)fused, why, sizeof why))) {
        printf(" (%s) |", f && !fast ? "no bf16 here" : why);
        continue;
      }
      p.k_block = blockwise ? kb : 0;
      p.q_slice = blockwise ? rows : 0;
      p.mask = col == 2 || col == 3 ? zero : NULL; /* mask_ld 0: one row for every query */
      const double s = best_of(f ? &fastk : &exact, &p, q, kv, out, reps, fused);
      printf(" %.3f (%.0f) |", s, gflop / s);
      fflush(stdout);
    }
    printf("\n");
    free(q), free(kv), free(out), free(zero);
  }
  dif__fast_free(fast);
  dif__arena_free(&arena);
  dif__pool_free(pool);
  return 0;
}
