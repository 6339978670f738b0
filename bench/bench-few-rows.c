/* bench-few-rows.c — linear products of a few rows by big weights (the
 * Karlo prior's cached steps, time embeddings) in every way the exact path
 * can run them: cblas_sgemm on a float32 weight; a 16-bit weight widened
 * band by band into float32 scratch and then cblas_sgemm (gemm.c's general
 * path); and core/gemm_few.h's kernel, which reads each weight element
 * once, on F32, F16 and BF16 weights.
 *
 *   dif-bench-few-rows [--layers N] [--rows 1,2,4,8,16,...] [--reps N]
 *
 * The weights are N of the prior's transformer layers (default 2: q, k, v,
 * out 2048 × 2048, feed-forward 8192 × 2048 and 2048 × 8192, 50 M
 * elements, 200 MB in float32 each), so every pass reads them from memory
 * as a prior step does. Reported: the best pass of --reps (default 3),
 * milliseconds, the weight bytes read per second (GB/s) and GFLOP/s.
 * Threads: every online core (libdif's pool; OpenBLAS the same).
 *
 * A benchmark, never a test: the numbers depend on the machine's load
 * (printed at the start and the end).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/backend.h"
#include "core/blas.h"
#include "core/dtype.h"
#include "core/gemm_few.h"
#include "core/ops.h"
#include "core/threadpool.h"
#include "core/weight.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "dif-bench-few-rows: out of memory (%zu bytes)\n", n);
    exit(1);
  }
  return p;
}

/* /proc/loadavg's line into buf ("?" where it cannot be read). */
static void load_average(char *buf, size_t size) {
  snprintf(buf, size, "?");
  FILE *f = fopen("/proc/loadavg", "r");
  if (!f) return;
  if (!fgets(buf, (int)size, f)) snprintf(buf, size, "?");
  buf[strcspn(buf, "\n")] = '\0';
  fclose(f);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float urand(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((double)(rng >> 11) / 9007199254740992.0 * 2 - 1);
}

typedef struct layer {
  int64_t out, in;
  float *f32;
  uint16_t *f16, *bf16;
  dif__packed *onednn; /* the float32 weight packed by oneDNN, or NULL */
} layer;

typedef enum way {
  SGEMM_F32,
  WIDEN_F16,
  ONEDNN_F32,
  FEW_F32,
  FEW_F16,
  FEW_BF16,
  LINEAR_F32,
  LINEAR_F16,
  WAYS
} way;
static const char *const way_names[WAYS] = {
    "sgemm f32", "widen f16 + sgemm", "onednn f32 packed", "few f32",
    "few f16",   "few bf16",          "dif__linear f32",   "dif__linear f16"};

/* gemm.c's general path for a 16-bit weight: bands of at most 4 M floats
 * widened into scratch, one cblas_sgemm per band. */
static void widen_then_sgemm(dif__pool *pool, float *scratch, const float *x, int64_t m,
                             dif__weight W, int64_t in, int64_t out, float *y) {
  int64_t band = ((int64_t)4 << 20) / in;
  if (band > out) band = out;
  for (int64_t r0 = 0; r0 < out; r0 += band) {
    const int64_t rows = out - r0 < band ? out - r0 : band;
    dif__weight_tile_f32(pool, W, in, r0, rows, 0, in, scratch);
    dif__gemm(false, true, m, rows, in, 1.0f, x, in, scratch, in, 0.0f, y + r0, out);
  }
}

static void run(way w, dif__kctx *k, float *scratch, const layer *L, int nl, const float *x,
                int64_t m, float *y) {
  for (int l = 0; l < nl; l++) {
    const layer *a = &L[l];
    const int64_t n = a->out * a->in;
    const dif__weight f32 = dif__weight_f32(a->f32, n);
    const dif__weight f16 = {a->f16, DIF__DTYPE_F16, n, false};
    const dif__weight bf16 = {a->bf16, DIF__DTYPE_BF16, n, false};
    switch (w) {
    case SGEMM_F32:
      dif__gemm(false, true, m, a->out, a->in, 1.0f, x, a->in, a->f32, a->in, 0.0f, y, a->out);
      break;
    case ONEDNN_F32: {
      dif__error err = {0};
      if (dif__packed_linear(k, a->onednn, x, m, NULL, false, y, &err)) {
        fprintf(stderr, "dif-bench-few-rows: onednn: %s\n", err.msg);
        exit(1);
      }
      break;
    }
    case LINEAR_F32: dif__linear(k, x, m, a->in, f32, NULL, a->out, y); break;
    case WIDEN_F16: widen_then_sgemm(k->pool, scratch, x, m, f16, a->in, a->out, y); break;
    case FEW_F32: dif__few_rows(k->pool, x, m, a->in, a->in, f32, a->out, 0, y, a->out, 1); break;
    case FEW_F16: dif__few_rows(k->pool, x, m, a->in, a->in, f16, a->out, 0, y, a->out, 1); break;
    case FEW_BF16: dif__few_rows(k->pool, x, m, a->in, a->in, bf16, a->out, 0, y, a->out, 1); break;
    default: dif__linear(k, x, m, a->in, f16, NULL, a->out, y); break;
    }
  }
}

int main(int argc, char **argv) {
  int n_layers = 2, reps = 3;
  int64_t rows[32] = {1, 2, 4, 8, 12, 16, 24, 32, 64};
  int n_rows = 9;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--layers") && i + 1 < argc) {
      n_layers = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
      reps = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--rows") && i + 1 < argc) {
      n_rows = 0;
      for (char *t = strtok(argv[++i], ","); t && n_rows < 32; t = strtok(NULL, ","))
        rows[n_rows++] = atoll(t);
    } else {
      fprintf(stderr, "usage: dif-bench-few-rows [--layers N] [--rows 1,2,4,...] [--reps N]\n");
      return 2;
    }
  }
  if (n_layers < 1 || n_layers > 20 || reps < 1 || n_rows < 1) {
    fprintf(stderr, "dif-bench-few-rows: --layers 1..20, --reps >= 1, rows >= 1\n");
    return 2;
  }
  for (int r = 0; r < n_rows; r++)
    if (rows[r] < 1 || rows[r] > 4096) {
      fprintf(stderr, "dif-bench-few-rows: rows 1..4096\n");
      return 2;
    }
  char cpu[160], load[128];
  dif__cpu_describe(cpu, sizeof cpu);
  load_average(load, sizeof load);
  printf("dif-bench-few-rows | %s | OpenBLAS %s, %d threads | few-row kernel: %s\n", cpu,
         dif__blas_corename(), dif__blas_threads(),
         dif__few_rows_runs() ? "AVX2 + FMA + F16C" : "does not run here");
  printf("load average at start: %s\n", load);

  /* the prior's layer: q, k, v, out, ff in, ff out */
  const int64_t shapes[6][2] = {{2048, 2048}, {2048, 2048}, {2048, 2048},
                                {2048, 2048}, {8192, 2048}, {2048, 8192}};
  const int nl = 6 * n_layers;
  layer *L = xmalloc((size_t)nl * sizeof *L);
  double elems = 0;
  for (int l = 0; l < nl; l++) {
    L[l].out = shapes[l % 6][0], L[l].in = shapes[l % 6][1];
    const size_t n = (size_t)(L[l].out * L[l].in);
    L[l].f32 = xmalloc(n * sizeof(float));
    L[l].f16 = xmalloc(n * sizeof(uint16_t));
    L[l].bf16 = xmalloc(n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) {
      const float v = urand() * 0.02f;
      L[l].f16[i] = dif__f16_from_f32(v);
      L[l].bf16[i] = dif__bf16_from_f32(v);
      L[l].f32[i] = v;
    }
    elems += (double)n;
  }
  const dif__backend *on = dif__backend_find("onednn");
  for (int l = 0; l < nl && on; l++) {
    dif__error perr = {0};
    if (dif__backend_pack(on, NULL, DIF__DTYPE_F32, DIF__DTYPE_F32, L[l].f32, L[l].out, L[l].in, 8,
                          &L[l].onednn, &perr)) {
      printf("onednn f32: not run: %s\n", perr.msg);
      for (int i = 0; i < l; i++) dif__packed_free(L[i].onednn), L[i].onednn = NULL;
      on = NULL;
    }
  }
  int64_t max_rows = 0;
  for (int r = 0; r < n_rows; r++) max_rows = rows[r] > max_rows ? rows[r] : max_rows;
  float *x = xmalloc((size_t)(max_rows * 8192) * sizeof *x);
  float *y = xmalloc((size_t)(max_rows * 8192) * sizeof *y);
  for (int64_t i = 0; i < max_rows * 8192; i++) x[i] = urand();
  float *scratch = xmalloc(((size_t)4 << 20) * sizeof *scratch);

  dif__pool *pool = NULL;
  dif__error err = {0};
  if (dif__pool_new(dif__cpu_count(), &pool, &err)) {
    fprintf(stderr, "dif-bench-few-rows: %s\n", err.msg);
    return 1;
  }
  dif__arena arena;
  dif__arena_init(&arena, 1 << 20);
  dif__kctx k = {pool, &arena, NULL, NULL, 0, 0, false, 0, 0};
  printf("%d layers of the Karlo prior (%.0f M weights: %.0f MB in float32, %.0f MB in 16 bits); "
         "%d threads; best of %d passes\n",
         n_layers, elems * 1e-6, elems * 4e-6, elems * 2e-6, dif__pool_threads(pool), reps);
  printf("| rows |");
  for (int w = 0; w < WAYS; w++) printf(" %s ms (GB/s) |", way_names[w]);
  printf("\n|---:|");
  for (int w = 0; w < WAYS; w++) printf("---:|");
  printf("\n");
  for (int r = 0; r < n_rows; r++) {
    const int64_t m = rows[r];
    printf("| %lld |", (long long)m);
    for (int w = 0; w < WAYS; w++) {
      if ((w >= FEW_F32 && w <= FEW_BF16 && (!dif__few_rows_runs() || m > DIF__FEW_ROWS_MAX)) ||
          (w == ONEDNN_F32 && !on)) {
        printf(" — |");
        continue;
      }
      double best = 1e30;
      for (int p = 0; p < reps; p++) {
        const double t0 = now();
        run((way)w, &k, scratch, L, nl, x, m, y);
        const double dt = now() - t0;
        best = dt < best ? dt : best;
      }
      const double bytes =
          elems * (w == SGEMM_F32 || w == FEW_F32 || w == ONEDNN_F32 || w == LINEAR_F32 ? 4 : 2);
      printf(" %.1f (%.1f) |", best * 1e3, bytes / best * 1e-9);
      fflush(stdout);
    }
    printf("\n");
  }
  load_average(load, sizeof load);
  printf("load average at end: %s\n", load);
  for (int l = 0; l < nl; l++)
    free(L[l].f32), free(L[l].f16), free(L[l].bf16), dif__packed_free(L[l].onednn);
  free(L), free(x), free(y), free(scratch);
  dif__arena_free(&arena);
  dif__pool_free(pool);
  return 0;
}
