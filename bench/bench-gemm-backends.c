/* bench-gemm-backends.c — the GEMM backends (core/backend.h) on the UNet's
 * own product shapes: OpenBLAS sgemm, oneDNN float32, oneDNN bf16.
 *
 *   dif-bench-gemm-backends [--size 512|768] [--budget SECONDS]
 *
 * The shapes are those of sd21-unclip-small's UNet for one image at 512²
 * (latent 64², 4096 tokens at the first level) and 768² (96², 9216 tokens):
 * the transformer's linear layers (projections, GEGLU, feed-forward out;
 * [tokens, out, in]), the 3×3 convolutions as the im2col product
 * [pixels, cout, cin·9], and attention's Q·Kᵀ [T, T, 64] and P·V [T, 64, T]
 * (whole, as a bf16 attention kernel would see them; libdif's exact path
 * slices the queries). Linear shapes run through dif__packed_linear on a
 * weight packed once (packing timed separately and not in the rate);
 * attention through dif__backend_matmul (both operands are activations, so a
 * bf16 run includes reordering them to bf16). Each variant: one warm-up
 * call (it makes and caches oneDNN's primitive), then the best of calls
 * within the budget (at least 3). Threads: OpenBLAS and oneDNN's OpenMP
 * both use every online core (set OMP_NUM_THREADS and OPENBLAS_NUM_THREADS
 * together to change that).
 *
 * A benchmark, never a test: it takes about a minute and the numbers depend
 * on the machine's load (printed at the start and the end).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/backend.h"
#include "core/blas.h"
#include "core/threadpool.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void line_of(const char *path, const char *key, char *out, size_t n) {
  snprintf(out, n, "?");
  FILE *f = fopen(path, "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (key && strncmp(line, key, strlen(key)) != 0) continue;
    char *c = key ? strchr(line, ':') : line;
    if (!c) continue;
    if (key) c += 1 + (c[1] == ' ');
    c[strcspn(c, "\n")] = '\0';
    const size_t len = strlen(c) < n - 1 ? strlen(c) : n - 1;
    memcpy(out, c, len);
    out[len] = '\0';
    break;
  }
  fclose(f);
}

static float *rand_floats(size_t n, unsigned seed) {
  float *p = malloc(n * sizeof *p);
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    p[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
  }
  return p;
}

typedef struct shape {
  const char *what;
  int64_t M, N, K;
  bool attention; /* matmul on two activations; else linear on a packed weight */
  bool trans_b;   /* Q·Kᵀ */
} shape;

/* sd21-unclip-small's UNet at a latent side of s (64 or 96), one image. */
static int shapes_for(int px, shape *out) {
  const int64_t t0 = (int64_t)(px / 8) * (px / 8), t1 = t0 / 4, t2 = t0 / 16;
  const shape s[] = {
      {"attn/proj 320", t0, 320, 320, false, false},
      {"GEGLU in 320", t0, 2560, 320, false, false},
      {"ff out 320", t0, 320, 1280, false, false},
      {"conv3x3 320", t0, 320, 2880, false, false},
      {"attn/proj 640", t1, 640, 640, false, false},
      {"GEGLU in 640", t1, 5120, 640, false, false},
      {"conv3x3 640", t1, 640, 5760, false, false},
      {"attn/proj 1280", t2, 1280, 1280, false, false},
      {"conv3x3 1280", t2, 1280, 11520, false, false},
      {"text k/v 1280", 77, 1280, 1024, false, false},
      {"attn Q·Kt", t0, t0, 64, true, true},
      {"attn P·V", t0, 64, t0, true, false},
  };
  memcpy(out, s, sizeof s);
  return (int)(sizeof s / sizeof s[0]);
}

typedef struct result {
  double sec;  /* best call */
  double pack; /* seconds to pack the weight (linear only) */
  bool ran;
} result;

static result time_one(const dif__backend *be, dif__dtype math, const shape *sh, double budget,
                       dif__arena *arena, dif__pool *pool) {
  result r = {0, 0, false};
  const int64_t M = sh->M, N = sh->N, K = sh->K;
  dif__error err = {0};
  /* The pool matters: oneDNN's products take their thread count from it
   * (core/backend_onednn.c), as they do in a context; without one they run
   * on one thread. */
  dif__kctx k = {pool, arena, NULL, NULL, 0, 0, false, 0, 0};
  float *x = rand_floats((size_t)(M * K), 1), *y = rand_floats((size_t)(M * N), 3);
  float *w = rand_floats((size_t)(N * K), 2);
  dif__packed *p = NULL;
  if (!sh->attention) {
    const double t0 = now();
    if (dif__backend_pack(be, NULL, math, DIF__DTYPE_F32, w, N, K, M, &p, &err)) goto out;
    r.pack = now() - t0;
  }
  double start = now(), best = 1e30;
  for (int calls = -1; calls < 3 || now() - start < budget; calls++) {
    const double t0 = now();
    dif_status st = sh->attention
                        ? dif__backend_matmul(be, &k, math, false, sh->trans_b, M, N, K, 1.0f, x, K,
                                              w, sh->trans_b ? K : N, 0.0f, y, N, &err)
                        : dif__packed_linear(&k, p, x, M, NULL, false, y, &err);
    if (st) goto out;
    const double dt = now() - t0;
    if (calls >= 0 && dt < best) best = dt; /* call -1 is the warm-up */
    if (calls > 200) break;
  }
  r.sec = best;
  r.ran = true;
out:
  if (!r.ran) printf("  %s %s %s: %s\n", be->name, dif__dtype_name(math), sh->what, err.msg);
  dif__packed_free(p);
  free(x), free(w), free(y);
  return r;
}

int main(int argc, char **argv) {
  int sizes[2] = {512, 768}, n_sizes = 2;
  double budget = 0.5;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--size") && i + 1 < argc) {
      sizes[0] = atoi(argv[++i]), n_sizes = 1;
    } else if (!strcmp(argv[i], "--budget") && i + 1 < argc) {
      budget = atof(argv[++i]);
    } else {
      fprintf(stderr, "usage: dif-bench-gemm-backends [--size 512|768] [--budget SECONDS]\n");
      return 2;
    }
  }
  char model[256], load[128], cpu[160];
  line_of("/proc/cpuinfo", "model name", model, sizeof model);
  line_of("/proc/loadavg", NULL, load, sizeof load);
  dif__cpu_describe(cpu, sizeof cpu);
  printf("dif-bench-gemm-backends | %s | %s | OpenBLAS %s, %d threads\n", model, cpu,
         dif__blas_corename(), dif__blas_threads());
  printf("load average at start: %s\n", load);

  typedef struct variant {
    const dif__backend *be;
    dif__dtype math;
  } variant;
  variant v[3];
  int nv = 0;
  v[nv++] = (variant){&dif__backend_openblas, DIF__DTYPE_F32};
  const dif__backend *on = dif__backend_find("onednn");
  if (on) {
    char why[256];
    printf("oneDNN ISA: %s\n", on->isa());
    v[nv++] = (variant){on, DIF__DTYPE_F32};
    if (on->supports(DIF__DTYPE_BF16, why, sizeof why))
      v[nv++] = (variant){on, DIF__DTYPE_BF16};
    else
      printf("onednn bf16: not run: %s\n", why);
  } else {
    printf("onednn: not built: %s\n", dif__backend_row_at(1)->missing);
  }

  dif__arena arena;
  dif__arena_init(&arena, 1 << 20);
  dif__pool *pool = NULL;
  dif__error perr = {0};
  if (dif__pool_new(dif__cpu_count(), &pool, &perr)) {
    fprintf(stderr, "dif-bench-gemm-backends: %s\n", perr.msg);
    return 1;
  }
  printf("libdif pool (oneDNN's threads): %d threads\n", dif__pool_threads(pool));
  for (int si = 0; si < n_sizes; si++) {
    shape sh[16];
    const int n = shapes_for(sizes[si], sh);
    printf("\n%d² (one image), GFLOP/s, best call; pack = ms to pack the weight once\n", sizes[si]);
    printf("| shape | M × N × K |");
    for (int i = 0; i < nv; i++) printf(" %s %s |", v[i].be->name, dif__dtype_name(v[i].math));
    printf(" onednn f32 / openblas | onednn bf16 / openblas | pack f32, bf16 (ms) |\n");
    printf("|---|---|");
    for (int i = 0; i < nv + 3; i++) printf("---:|");
    printf("\n");
    for (int s = 0; s < n; s++) {
      result r[3];
      for (int i = 0; i < nv; i++)
        r[i] = time_one(v[i].be, v[i].math, &sh[s], budget, &arena, pool);
      const double flop = 2.0 * (double)sh[s].M * (double)sh[s].N * (double)sh[s].K;
      printf("| %s | %lld × %lld × %lld |", sh[s].what, (long long)sh[s].M, (long long)sh[s].N,
             (long long)sh[s].K);
      for (int i = 0; i < nv; i++)
        if (r[i].ran)
          printf(" %.1f |", flop / r[i].sec * 1e-9);
        else
          printf(" — |");
      for (int i = 1; i < 3; i++)
        if (i < nv && r[i].ran && r[0].ran)
          printf(" %.2f |", r[0].sec / r[i].sec);
        else
          printf(" — |");
      if (sh[s].attention)
        printf(" (activations) |\n");
      else if (nv > 2)
        printf(" %.1f, %.1f |\n", r[1].pack * 1e3, r[2].pack * 1e3);
      else if (nv > 1)
        printf(" %.1f, — |\n", r[1].pack * 1e3);
      else
        printf(" — |\n");
      fflush(stdout);
    }
  }
  line_of("/proc/loadavg", NULL, load, sizeof load);
  printf("\nload average at end: %s\n", load);
  dif__pool_free(pool);
  dif__arena_free(&arena);
  return 0;
}
