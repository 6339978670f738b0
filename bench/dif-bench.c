/* dif-bench — times libdif's networks at full size with random weights.
 *
 *   dif-bench [options] [case[:size] ...]        (dif-bench --help lists them)
 *
 * Each component's weights are generated from a real config (bench/configs)
 * into a temporary folder (randmodel.h), then each case runs in its own
 * child process, so its peak RSS (getrusage ru_maxrss, /proc VmHWM) is its
 * own: mapped weights + activations + libraries. Reported per case: wall
 * time per pass, GFLOP (every convolution and matrix product, counted by the
 * kernels: core/prof.h), GFLOP/s, the ratio to what cblas_sgemm achieves on
 * the same logical product shapes in the same run, time per op type and per
 * block, and memory.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>
#include <dif.h>

#include "core/arena.h"
#include "core/attn_fused.h"
#include "core/backend.h"
#include "core/blas.h"
#include "core/ops.h"
#include "core/prof.h"
#include "core/threadpool.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"
#include "models/prior.h"
#include "models/unet.h"
#include "models/vae.h"
#include "randmodel.h"

#ifndef DIF_BENCH_CONFIGS
#define DIF_BENCH_CONFIGS "bench/configs"
#endif
#ifndef DIF_BENCH_TOKENIZERS
#define DIF_BENCH_TOKENIZERS "tests/golden/tokenizers"
#endif

/* ---- options and cases ---- */

typedef struct options {
  int threads, reps;
  int warmup; /* --warmup N: untimed passes before the timed ones (vs-peer: 1, as the peer's) */
  uint64_t seed;
  const char *configs, *tokenizers, *dir;
  bool keep, blocks, ops, sgemm_ref, reps_set;
  bool no_wino;        /* --no-wino: no Winograd (exact: im2col + sgemm; fast: bf16 products) */
  bool fast_wino;      /* --fast-wino: fast's VAE by Winograd even where bf16 is on AMX tiles */
  long long wino_bf16; /* --wino-bf16-max-cc: the UNet's limit in fast; -1: a context's */
  bool channels_first; /* --channels-first: fast's UNet and VAE channels-first (as before) */
  const char *wino_backend; /* --wino-backend NAME: that backend's Winograd (NULL: a context's) */
  int tile;                 /* tiled VAE: tile size in pixels (0 = the config's sample_size) */
  dif_precision precision;  /* --precision: exact (the default here), fast or auto */
  dif__dtype wdtype;        /* --weights-dtype: the random weights' dtype (default F32) */
  int steps, prior_steps;   /* --steps, --prior-steps: the unclip case's (default 20, 25) */
  int images;               /* --images: the prior cases' images per prompt (default 1) */
} options;

typedef enum case_kind {
  CASE_UNET,
  CASE_VAE,
  CASE_VAE_TILED,
  CASE_VAE_ENCODE,
  CASE_CLIP_TEXT,
  CASE_CLIP_VISION,
  CASE_PRIOR,
  CASE_PRIOR_LOOP,
  CASE_UNCLIP,
  CASE_SGEMM,
  CASE_BLAS_CHECK,
} case_kind;

typedef struct case_def {
  const char *name;
  case_kind kind;
  const char *component; /* folder name under the run dir, also the config file stem */
  int size;              /* image pixels (UNet/VAE), 0 otherwise */
  int batch;
  const char *what;
} case_def;

static const case_def cases[] = {
    {"unet-unclip", CASE_UNET, "sd21-unclip-small.unet", 768, 2,
     "UNet sd21-unclip-small, one step with CFG"},
    {"unet-sd15", CASE_UNET, "sd15.unet", 512, 2, "UNet SD-1.5, one step with CFG"},
    {"vae", CASE_VAE, "sd21-unclip-small.vae", 768, 1, "VAE decode (sd21-unclip-small)"},
    {"vae-tiled", CASE_VAE_TILED, "sd21-unclip-small.vae", 768, 1,
     "tiled VAE decode (sd21-unclip-small)"},
    {"vae-encode", CASE_VAE_ENCODE, "sd21-unclip-small.vae", 768, 1,
     "VAE encode (sd21-unclip-small): img2img's and inpainting's"},
    {"clip-text", CASE_CLIP_TEXT, "sd21-unclip-small.text_encoder", 0, 2,
     "CLIP text encoder (OpenCLIP-H text, 23 layers), prompt + negative"},
    {"clip-text-l", CASE_CLIP_TEXT, "clip-vit-large-patch14.text_encoder", 0, 2,
     "CLIP ViT-L/14 text encoder (the prior's), prompt + negative"},
    {"clip-vision", CASE_CLIP_VISION, "sd21-unclip-small.image_encoder", 0, 1,
     "CLIP ViT-L/14 vision encoder, one 224x224 image"},
    {"prior", CASE_PRIOR, "karlo.prior", 0, 2, "Karlo prior, one whole step with CFG (81 tokens)"},
    {"prior-25", CASE_PRIOR_LOOP, "karlo.prior", 0, 2,
     "Karlo prior, 25 steps with CFG as the pipeline runs them: the text-token cache once, then "
     "25 steps of the last 4 tokens"},
    {"unclip", CASE_UNCLIP, "sd21-unclip-small", 768, 1,
     "whole Stable unCLIP text-to-image through the public API: text encoders, Karlo prior "
     "25 steps with CFG, decoder 20 steps with CFG, VAE decode (one pass unless --reps)"},
    {"sgemm", CASE_SGEMM, NULL, 0, 0, "cblas_sgemm reference shapes"},
    {"blas-check", CASE_BLAS_CHECK, NULL, 0, 0,
     "OpenBLAS kernel fix-up: force Prescott, check the switch back"},
};
#define N_CASES (sizeof cases / sizeof cases[0])

typedef struct job {
  const case_def *c;
  int size;
} job;

/* ---- small helpers ---- */

static double now(void) { return dif__prof_now(); }

/* CPU seconds of the whole process (all threads, user + system). */
static double cpu_now(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru)) return 0;
  return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
         (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "dif-bench: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) die("out of memory (%zu bytes)", n);
  return p;
}

static uint64_t rng_state = 1;
static float frand(void) { /* U(-1, 1) */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (float)((double)(z >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}
static float *rand_floats(int64_t n, float scale) {
  float *p = xmalloc((size_t)n * sizeof *p);
  for (int64_t i = 0; i < n; i++) p[i] = scale * frand();
  return p;
}

/* A "key: value" line of /proc/self/status, in kB (-1 if absent). */
static long proc_status_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  size_t n = strlen(key);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0 && line[n] == ':') {
      v = strtol(line + n + 1, NULL, 10);
      break;
    }
  fclose(f);
  return v;
}

static long maxrss_kb(void) {
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) ? -1 : ru.ru_maxrss;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0); false if not possible. */
static bool reset_hwm(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  bool ok = fputs("5", f) >= 0;
  return fclose(f) == 0 && ok;
}

static double gib(double kb) { return kb / (1024.0 * 1024.0); }

static void cpu_model(char *out, size_t n) {
  snprintf(out, n, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "model name", 10) == 0) {
      char *c = strchr(line, ':');
      if (c) {
        c += 1 + (c[1] == ' ');
        c[strcspn(c, "\n")] = '\0';
        snprintf(out, n, "%s", c);
      }
      break;
    }
  fclose(f);
}

static void loadavg(char *out, size_t n) {
  snprintf(out, n, "?");
  FILE *f = fopen("/proc/loadavg", "r");
  if (!f) return;
  if (fgets(out, (int)n, f)) out[strcspn(out, "\n")] = '\0';
  fclose(f);
}

/* ---- per-block timing through the models' hooks ---- */

#define MAX_BLOCKS 96
typedef struct blocks {
  double last;
  int n;
  char name[MAX_BLOCKS][64];
  double sec[MAX_BLOCKS];
} blocks;

/* Groups a hook name: "down_blocks.1.resnets.0" → "down_blocks.1.resnets",
 * "down_blocks.1.attentions.0.0" → "down_blocks.1.attentions", the
 * downsampler hook "down_blocks.1.1.2" → "down_blocks.1.downsample", the
 * level hook "up_blocks.2" (after its upsampler) → "up_blocks.2.upsample". */
static void block_group(const char *name, char *out, size_t n) {
  char kind[32];
  int a, b, c;
  if (sscanf(name, "%31[a-z_].%d.resnets.%d", kind, &a, &b) == 3) {
    snprintf(out, n, "%s.%d.resnets", kind, a);
  } else if (sscanf(name, "%31[a-z_].%d.attentions.%d", kind, &a, &b) == 3) {
    snprintf(out, n, "%s.%d.attentions", kind, a);
  } else if (sscanf(name, "down_blocks.%d.%d.%d", &a, &b, &c) == 3) {
    snprintf(out, n, "down_blocks.%d.downsample", a);
  } else if (sscanf(name, "up_blocks.%d", &a) == 1 && !strchr(name + 10, '.')) {
    snprintf(out, n, "up_blocks.%d.upsample", a);
  } else if (strncmp(name, "transformer_blocks.", 19) == 0) {
    snprintf(out, n, "transformer_blocks");
  } else if (strncmp(name, "time_", 5) == 0 || strncmp(name, "class_", 6) == 0 ||
             strcmp(name, "embedding_proj") == 0 || strcmp(name, "proj_in") == 0 ||
             strcmp(name, "encoder_hidden_states_proj") == 0) {
    snprintf(out, n, "embeddings");
  } else {
    snprintf(out, n, "%s", name);
  }
}

static void on_hook(void *user, const char *name, const float *data, int64_t n) {
  (void)data;
  (void)n;
  blocks *b = user;
  double t = now();
  char g[64];
  block_group(name, g, sizeof g);
  int i = 0;
  while (i < b->n && strcmp(b->name[i], g)) i++;
  if (i == b->n && b->n < MAX_BLOCKS) snprintf(b->name[b->n++], sizeof b->name[0], "%s", g);
  if (i < MAX_BLOCKS) b->sec[i] += t - b->last;
  b->last = now(); /* hook cost not counted */
}

/* ---- sgemm on given shapes ---- */

/* Seconds per call of cblas_sgemm on a shape (best of calls within ~budget
 * s); *cpu (may be NULL) gets the CPU seconds of that call. */
static double time_sgemm_cpu(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double budget,
                             double *cpu) {
  float *A = rand_floats(M * K, 1.0f), *B = rand_floats(K * N, 1.0f), *C = rand_floats(M * N, 1.f);
  int lda = (int)(ta ? M : K), ldb = (int)(tb ? K : N);
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M,
              (int)N, (int)K, 1.0f, A, lda, B, ldb, 0.0f, C, (int)N); /* warm-up */
  double best = 1e30, best_cpu = 0, start = now();
  int calls = 0;
  do {
    double t0 = now(), c0 = cpu_now();
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, 1.0f, A, lda, B, ldb, 0.0f, C, (int)N);
    double dt = now() - t0, dc = cpu_now() - c0;
    if (dt < best) best = dt, best_cpu = dc;
    calls++;
  } while (now() - start < budget && calls < 50);
  if (cpu) *cpu = best_cpu;
  free(A);
  free(B);
  free(C);
  return best;
}

static double time_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double budget) {
  return time_sgemm_cpu(ta, tb, M, N, K, budget, NULL);
}

typedef struct sgemm_ref {
  double gflops;     /* rate over the replayed shapes, time-weighted */
  double cpu_gflops; /* FLOPs per CPU second (all threads) over the same calls */
  double coverage;
  int shapes;
} sgemm_ref;

/* Replays the largest recorded shapes (by FLOPs) until 90 % of the FLOPs
 * are covered. Shapes whose operands exceed ~64 Mi floats are shrunk along
 * M or N (the rate per FLOP hardly changes at those sizes). */
static sgemm_ref replay_shapes(bool verbose) {
  sgemm_ref r = {0, 0, 0, 0};
  int n = dif__prof_shape_count();
  double total = 0;
  for (int i = 0; i < n; i++) {
    const dif__prof_shape *s = dif__prof_shape_at(i);
    total += 2.0 * (double)s->M * (double)s->N * (double)s->K * (double)s->count;
  }
  if (total <= 0) return r;
  bool *used = calloc((size_t)n, sizeof *used);
  double covered = 0, time = 0, cpu_time = 0;
  if (verbose) printf("  sgemm on the model's own product shapes (largest first):\n");
  while (covered < 0.9 * total && r.shapes < 16) {
    int best = -1;
    double bf = 0;
    for (int i = 0; i < n; i++) {
      const dif__prof_shape *s = dif__prof_shape_at(i);
      double f = 2.0 * (double)s->M * (double)s->N * (double)s->K * (double)s->count;
      if (!used[i] && f > bf) {
        bf = f;
        best = i;
      }
    }
    if (best < 0) break;
    used[best] = true;
    const dif__prof_shape *s = dif__prof_shape_at(best);
    int64_t M = s->M, N = s->N, K = s->K;
    const int64_t cap = (int64_t)1 << 26;
    while (M * N > cap || M * K > cap || K * N > cap) {
      if (M >= N && M > 64)
        M /= 2;
      else if (N > 64)
        N /= 2;
      else
        break;
    }
    double csec = 0, sec = time_sgemm_cpu(s->trans_a, s->trans_b, M, N, K, 1.0, &csec);
    double rate = 2.0 * (double)M * (double)N * (double)K / sec; /* FLOP/s */
    double crate = csec > 0 ? 2.0 * (double)M * (double)N * (double)K / csec : 0;
    if (verbose)
      printf("    %-10s %c%c M %6lld N %6lld K %6lld x%-4lld %5.1f%% of FLOPs  %6.1f GFLOP/s%s\n",
             dif__prof_op_name(s->op), s->trans_a ? 'T' : 'N', s->trans_b ? 'T' : 'N',
             (long long)s->M, (long long)s->N, (long long)s->K, (long long)s->count,
             100.0 * bf / total, rate * 1e-9, M != s->M || N != s->N ? " (timed shrunk)" : "");
    covered += bf;
    time += bf / rate;
    cpu_time += crate > 0 ? bf / crate : 0;
    r.shapes++;
  }
  free(used);
  r.coverage = covered / total;
  r.gflops = covered / time * 1e-9;
  r.cpu_gflops = cpu_time > 0 ? covered / cpu_time * 1e-9 : 0;
  return r;
}

/* ---- running one case (in a child process) ---- */

typedef struct run_ctx run_ctx;
static void conv_wino(run_ctx *r, const options *o, const char *net, int64_t max_cc);

struct run_ctx {
  const options *o;
  dif__kctx k;
  dif__arena arena;
  blocks blk;
  uint64_t weight_bytes;
  /* Whole-pipeline cases: the scratch the context kept after the last pass
   * (dif_context_release_scratch's count: one block of the largest run's
   * peak); the model cases' scratch is r->arena. And the weights' packed
   * forms it held (dif_context_release_packed's count: fast's bf16, the
   * Winograd transforms), and the RSS before and after both releases, and
   * its anonymous part after them (kB). */
  size_t ctx_scratch, ctx_packed;
  long rss_kept_kb, rss_released_kb, anon_released_kb;
};

/* In exact, net's 3x3 convolutions (those with cin·cout up to max_cc; 0:
 * all) by float32 Winograd where a backend has them, as a context's
 * (api/load.c, core/ops.h: the VAE's all, the UNet's up to
 * DIF__WINO_NETS_MAX_CC), unless --no-wino; in fast, where
 * dif__wino_for_fast, every one by bf16 Winograd (--wino-bf16-max-cc: up to
 * that; 0: none), else the VAE's (max_cc 0) up to DIF__WINO_FAST_VAE_MAX_CC
 * by float32 Winograd (--fast-wino: also on AMX), as a context's. */
static void conv_wino(run_ctx *r, const options *o, const char *net, int64_t max_cc) {
  char why[256] = "";
  const dif__backend *b = NULL;
  const bool fast = r->k.fast != NULL, vae = !max_cc;
  const dif__backend *fb = fast ? dif__fast_backend(r->k.fast) : NULL;
  const bool bf16w = fb && fb->linear_bf16 && !o->no_wino && o->wino_bf16 != 0 &&
                     (o->wino_bf16 > 0 || dif__wino_for_fast(fb));
  const bool wants =
      !o->no_wino && !bf16w && (!fast || (vae && (o->fast_wino || dif__wino_for_fast(fb))));
  if (fast) max_cc = DIF__WINO_FAST_VAE_MAX_CC;
  if (wants)
    b = o->wino_backend ? dif__backend_wino_named(o->wino_backend, why, sizeof why)
                        : dif__backend_wino(why, sizeof why);
  if (!b && o->wino_backend && wants) die("--wino-backend: %s", why);
  dif__error err;
  if (b && dif__wino_new(b, &r->k.wino, &err)) die("%s", err.msg);
  r->k.wino_max_cc = max_cc;
  r->k.wino_skip_small = !fast; /* as a context's (api/context.c) */
  r->k.wino_bf16_max_cc = !bf16w ? 0 : o->wino_bf16 > 0 ? o->wino_bf16 : DIF__WINO_BF16_MAX_CC;
  /* a context's choice (api/context.c): channels-last where fast's VAE
   * has no float32 Winograd */
  r->k.channels_last = fast && !r->k.wino && !o->channels_first;
  if (fast && !r->k.wino && vae)
    printf("%s decoder activations: %s\n", net,
           r->k.channels_last ? "channels-last" : "channels-first (--channels-first)");
  if (r->k.wino_bf16_max_cc)
    printf("%s 3x3 convolutions%s: bf16 Winograd F(2x2, 3x3) (fast)\n", net,
           o->wino_bf16 > 0 ? " up to --wino-bf16-max-cc" : "");
  else if (b)
    printf("%s 3x3 convolutions%s: float32 Winograd on %s\n", net,
           fast     ? " up to 512x256 channels (fast; bf16 beyond)"
           : max_cc ? " up to the networks' channel limit"
                    : "",
           b->name);
  else
    printf("%s 3x3 convolutions: %s (%s)\n", net, r->k.fast ? "bf16 products" : "im2col + sgemm",
           r->k.fast    ? "fast"
           : o->no_wino ? "--no-wino"
                        : why);
}

static void wino_stats(run_ctx *r) {
  if (!r->k.wino) return;
  dif__wino_stats ws;
  dif__wino_get_stats(r->k.wino, &ws);
  printf("  Winograd weights: %lld, %.1f MiB (%lld refused)\n", (long long)ws.weights,
         (double)ws.bytes / (1 << 20), (long long)ws.refused);
}

typedef dif_status (*pass_fn)(void *state, run_ctx *r, dif__error *err);

typedef struct pass_result {
  double best, best_cpu, sec[16];
  dif__prof_stat ops[DIF__PROF_OP_COUNT];
  blocks blk;
  double flops;
} pass_result;

static dif_status run_passes(run_ctx *r, pass_fn fn, void *state, pass_result *res,
                             long *steady_hwm_kb, dif__error *err) {
  memset(res, 0, sizeof *res);
  res->best = 1e30;
  *steady_hwm_kb = -1;
  /* the warm-up passes first (counted as i < 0): they pack the fast path's
   * weights, transform the Winograd ones and make oneDNN's primitives, as
   * the first step of a generation does; the peer times after one too */
  const int reps = r->o->reps, warmup = r->o->warmup;
  for (int w = 0; w < warmup; w++) {
    if (w > 0) dif__arena_reset(&r->arena);
    double t0 = now(), c0 = cpu_now();
    r->blk.last = t0;
    dif_status s = fn(state, r, err);
    if (s) return s;
    printf("  warm-up %d: %.3f s (CPU %.3f s; not timed)\n", w + 1, now() - t0, cpu_now() - c0);
    fflush(stdout);
  }
  for (int i = 0; i < reps; i++) {
    if (i > 0 || warmup > 0) { /* steady state: one arena block, the peak of pass 1 */
      dif__arena_reset(&r->arena);
      if (i == reps - 1 && !reset_hwm()) *steady_hwm_kb = -2;
    }
    dif__prof_reset();
    dif__prof_enable(true);
    memset(&r->blk, 0, sizeof r->blk);
    double t0 = now(), c0 = cpu_now();
    r->blk.last = t0;
    dif_status s = fn(state, r, err);
    double dt = now() - t0, dc = cpu_now() - c0;
    dif__prof_enable(false);
    if (s) return s;
    if (i < 16) res->sec[i] = dt;
    printf("  pass %d: %.3f s (CPU %.3f s)\n", i + 1, dt, dc);
    fflush(stdout);
    if (dt < res->best) {
      res->best = dt;
      res->best_cpu = dc;
      res->flops = 0;
      for (int op = 0; op < DIF__PROF_OP_COUNT; op++) {
        res->ops[op] = dif__prof_get((dif__prof_op)op);
        res->flops += res->ops[op].flops;
      }
      res->blk = r->blk;
    }
  }
  if (reps + warmup > 1 && *steady_hwm_kb != -2) *steady_hwm_kb = proc_status_kb("VmHWM");
  return DIF_OK;
}

static void print_ops(const pass_result *res) {
  printf("  per op type (best pass):\n");
  double sum = 0;
  for (int op = 0; op < DIF__PROF_OP_COUNT; op++) {
    const dif__prof_stat *s = &res->ops[op];
    if (!s->calls) continue;
    sum += s->seconds;
    printf("    %-13s %8.3f s %5.1f%%  %7lld calls", dif__prof_op_name((dif__prof_op)op),
           s->seconds, 100.0 * s->seconds / res->best, (long long)s->calls);
    if (s->flops > 0)
      printf("  %9.1f GFLOP  %6.1f GFLOP/s", s->flops * 1e-9, s->flops * 1e-9 / s->seconds);
    printf("\n");
  }
  printf("    %-13s %8.3f s %5.1f%%\n", "(not in ops)", res->best - sum,
         100.0 * (res->best - sum) / res->best);
}

static void print_blocks(const pass_result *res, bool channels_last) {
  if (!res->blk.n) return;
  printf("  per block (best pass; time between the model's hooks):\n");
  if (channels_last) /* vae.c, unet_blocks.c: hook_cl / hook_map */
    printf("    (channels-last maps: each hook gets a channels-first copy, counted in the block\n"
           "    before it and in the pass times above; --no-blocks times the passes alone)\n");
  for (int i = 0; i < res->blk.n; i++)
    if (res->blk.sec[i] >= 0.0005) /* level-end hooks with nothing between them */
      printf("    %-28s %8.3f s %5.1f%%\n", res->blk.name[i], res->blk.sec[i],
             100.0 * res->blk.sec[i] / res->best);
}

/* Prints the report of a finished case and writes its summary line to fd. */
static void report(run_ctx *r, const char *label, const pass_result *res, long steady_hwm_kb,
                   int summary_fd, double load_s) {
  long hwm = proc_status_kb("VmHWM"), maxrss = maxrss_kb();
  size_t arena_peak = dif__arena_peak(&r->arena);
  double gflop = res->flops * 1e-9, rate = gflop / res->best;
  /* every op that counts FLOPs: the products whatever runs them (sgemm,
   * Winograd, the few-row kernels, the fused attention, oneDNN) */
  double gemm_s = 0, gemm_f = 0;
  for (int op = 0; op < DIF__PROF_OP_COUNT; op++)
    if (res->ops[op].flops > 0) {
      gemm_s += res->ops[op].seconds;
      gemm_f += res->ops[op].flops;
    }
  printf("  best %.3f s", res->best);
  if (r->o->reps > 1) {
    double s[16];
    int n = r->o->reps < 16 ? r->o->reps : 16;
    memcpy(s, res->sec, sizeof s);
    for (int i = 0; i < n; i++) /* median */
      for (int j = i + 1; j < n; j++)
        if (s[j] < s[i]) {
          double t = s[i];
          s[i] = s[j];
          s[j] = t;
        }
    printf(", median %.3f s", n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]));
  }
  printf(" | %.1f GFLOP, %.1f GFLOP/s", gflop, rate);
  if (gemm_s > 0)
    printf(" | in the products %.1f%% of the time at %.1f GFLOP/s", 100.0 * gemm_s / res->best,
           gemm_f * 1e-9 / gemm_s);
  printf("\n");
  double ratio = 0;
  sgemm_ref ref = {0, 0, 0, 0};
  double cpu_rate = res->best_cpu > 0 ? gflop / res->best_cpu : 0, cpu_ratio = 0;
  double w_gib = (double)r->weight_bytes / (1024.0 * 1024.0 * 1024.0);
  /* Memory before the sgemm replay, which allocates its own operands. */
  printf("  memory: weights %.2f GiB | peak RSS %.2f GiB (ru_maxrss; VmHWM %.2f GiB) = weights + "
         "%.2f GiB",
         w_gib, gib((double)maxrss), gib((double)hwm), gib((double)maxrss) - w_gib);
  if (steady_hwm_kb > 0)
    printf(" | steady pass %.2f GiB = weights + %.2f GiB", gib((double)steady_hwm_kb),
           gib((double)steady_hwm_kb) - w_gib);
  if (r->rss_kept_kb) /* a whole-pipeline case: what its context kept */
    printf(" | scratch kept by the context %.2f GiB, packed weights %.2f GiB; RSS %.2f GiB, "
           "after releasing both %.2f GiB (anonymous %.2f GiB)\n",
           gib((double)r->ctx_scratch / 1024.0), gib((double)r->ctx_packed / 1024.0),
           gib((double)r->rss_kept_kb), gib((double)r->rss_released_kb),
           gib((double)r->anon_released_kb));
  else
    printf(" | arena peak %.2f GiB\n", (double)arena_peak / (1024.0 * 1024.0 * 1024.0));
  if (r->o->ops) print_ops(res);
  if (r->o->blocks) print_blocks(res, r->k.channels_last);
  if (r->o->sgemm_ref && gflop > 0) {
    ref = replay_shapes(true);
    if (ref.gflops > 0) {
      ratio = rate / ref.gflops;
      cpu_ratio = ref.cpu_gflops > 0 ? cpu_rate / ref.cpu_gflops : 0;
      printf("  sgemm on these shapes: %.1f GFLOP/s (%d shapes, %.0f%% of the FLOPs) -> ratio "
             "%.2f\n",
             ref.gflops, ref.shapes, 100.0 * ref.coverage, ratio);
      printf("  per CPU second (all threads; less sensitive to other load): model %.1f, sgemm "
             "%.1f GFLOP/CPU-s -> ratio %.2f\n",
             cpu_rate, ref.cpu_gflops, cpu_ratio);
    }
  }
  fflush(stdout);
  char line[512];
  (void)load_s;
  int n =
      snprintf(line, sizeof line, "%-26s %8.2f %8.1f %8.1f %7.1f %6.2f %6.2f %7.2f %7.2f %7.2f\n",
               label, res->best, gflop, rate, ref.gflops, ratio, cpu_ratio, w_gib,
               gib((double)maxrss), steady_hwm_kb > 0 ? gib((double)steady_hwm_kb) : 0.0);
  if (summary_fd >= 0 && n > 0) {
    ssize_t w = write(summary_fd, line, (size_t)n);
    (void)w;
  }
}

/* UNet */
typedef struct unet_state {
  dif__unet m;
  dif__unet_input in;
  float *out;
} unet_state;

static dif_status unet_pass(void *st, run_ctx *r, dif__error *err) {
  unet_state *u = st;
  u->in.hook = r->o->blocks ? on_hook : NULL;
  u->in.hook_user = &r->blk;
  return dif__unet_forward(&u->m, &r->k, &u->in, u->out, err);
}

/* VAE */
typedef struct vae_state {
  dif__vae m;
  const float *latent;
  int64_t h, w;
  float *image;
  bool tiled, encode;
  float *mean, *logvar; /* encode's outputs; image is its input */
} vae_state;

static dif_status vae_pass(void *st, run_ctx *r, dif__error *err) {
  vae_state *v = st;
  const int64_t f = dif__vae_scale(&v->m);
  if (v->encode)
    return dif__vae_encode(&v->m, &r->k, v->image, 1, v->h * f, v->w * f, v->mean, v->logvar,
                           r->o->blocks ? on_hook : NULL, &r->blk, err);
  if (v->tiled)
    return dif__vae_decode_tiled(&v->m, &r->k, v->latent, 1, v->h, v->w, r->o->tile, v->image, err);
  return dif__vae_decode(&v->m, &r->k, v->latent, 1, v->h, v->w, v->image,
                         r->o->blocks ? on_hook : NULL, &r->blk, err);
}

/* CLIP text */
typedef struct text_state {
  dif__clip_text m;
  int32_t *ids;
  int64_t B, T;
  dif__clip_text_out out;
} text_state;

static dif_status text_pass(void *st, run_ctx *r, dif__error *err) {
  text_state *t = st;
  return dif__clip_text_forward(&t->m, &r->k, t->ids, t->B, t->T, NULL, 0, &t->out, err);
}

/* CLIP vision */
typedef struct vision_state {
  dif__clip_vision m;
  float *pixels;
  dif__clip_vision_out out;
} vision_state;

static dif_status vision_pass(void *st, run_ctx *r, dif__error *err) {
  vision_state *v = st;
  return dif__clip_vision_forward(&v->m, &r->k, v->pixels, 1, &v->out, err);
}

/* Prior */
typedef struct prior_state {
  dif__prior m;
  dif__prior_input in;
  float *out;
  int steps;     /* 0: one whole forward; else a denoising loop on the text-token cache */
  int64_t texts; /* the loop's distinct texts (prompt and negative): the cache's B */
} prior_state;

static dif_status prior_pass(void *st, run_ctx *r, dif__error *err) {
  prior_state *p = st;
  p->in.hook = r->o->blocks ? on_hook : NULL;
  p->in.hook_user = &r->blk;
  if (!p->steps) return dif__prior_forward(&p->m, &r->k, &p->in, p->out, err);
  dif__prior_cache cache;
  dif_status s = dif__prior_cache_build(&p->m, &r->k, p->in.encoder_hidden, p->in.attention_mask,
                                        p->texts, &cache, err);
  dif__prior_input in = p->in;
  in.cache = &cache;
  for (int i = 0; i < p->steps && !s; i++) {
    float t = 999.0f - 40.0f * (float)i; /* the 25 leading DDPM timesteps */
    in.timesteps = &t;
    s = dif__prior_forward(&p->m, &r->k, &in, p->out, err);
  }
  dif__prior_cache_free(&cache);
  return s;
}

/* A whole generation through the public API (dif.h), as a user runs it. */
#define UNCLIP_STEPS 20       /* the default decoder steps (--steps) */
#define UNCLIP_PRIOR_STEPS 25 /* the default prior steps (--prior-steps) */
#define UNCLIP_MAX_STEPS 100  /* the most either option takes */
typedef struct unclip_state {
  dif_context *ctx;
  dif_prompt *prompt;
  dif_sample *sample;
  int steps, prior_steps;
  double t[2 * UNCLIP_MAX_STEPS + 1]; /* t[k]: when progress step k was reported */
  int total;
} unclip_state;

static int unclip_progress(int32_t step, int32_t total, void *user) {
  unclip_state *u = user;
  if (step >= 1 && step < (int32_t)(sizeof u->t / sizeof u->t[0])) u->t[step] = now();
  u->total = total;
  return 0;
}

static dif_status unclip_pass(void *st, run_ctx *r, dif__error *err) {
  (void)r;
  unclip_state *u = st;
  u->total = 0;
  double t0 = now();
  dif_status s = dif_sample_run(u->sample);
  double end = now();
  if (s) {
    snprintf(err->msg, sizeof err->msg, "%s", dif_sample_last_error(u->sample));
    return s;
  }
  if (u->total != u->steps + u->prior_steps) {
    snprintf(err->msg, sizeof err->msg, "progress counted %d steps, expected %d", u->total,
             u->steps + u->prior_steps);
    return DIF_ERR_INTERNAL;
  }
  /* Progress is reported after each step, prior steps first. */
  double prior_end = u->t[u->prior_steps], dec_end = u->t[u->total];
  double step_min = u->steps > 1 ? 1e30 : 0, step_max = 0;
  for (int k = u->prior_steps + 2; k <= u->total; k++) {
    double d = u->t[k] - u->t[k - 1];
    step_min = d < step_min ? d : step_min;
    step_max = d > step_max ? d : step_max;
  }
  printf("    text encoders + prior (%d steps): %.2f s | decoder (%d steps): %.2f s (first step "
         "%.2f s, then %.2f..%.2f s per step) | VAE decode + output: %.2f s\n",
         u->prior_steps, prior_end - t0, u->steps, dec_end - prior_end,
         u->t[u->prior_steps + 1] - prior_end, step_min, step_max, end - dec_end);
  return DIF_OK;
}

static void check_finite(const char *what, const float *x, int64_t n) {
  int64_t bad = 0;
  for (int64_t i = 0; i < n; i++) bad += !isfinite(x[i]);
  if (bad)
    printf("  WARNING: %lld of %lld %s values are not finite\n", (long long)bad, (long long)n,
           what);
}

static int run_model_case(const options *opts, const job *j, const char *comp_dir,
                          uint64_t weight_bytes, int summary_fd) {
  options one = *opts; /* a whole generation takes minutes: one pass unless --reps */
  if (j->c->kind == CASE_UNCLIP && !opts->reps_set) one.reps = 1;
  const options *o = &one;
  run_ctx r;
  memset(&r, 0, sizeof r);
  r.o = o;
  r.weight_bytes = weight_bytes;
  dif__error err = {0};
  if (dif__pool_new(o->threads, &r.k.pool, &err)) die("%s", err.msg);
  dif__blas_set_threads(o->threads);
  dif__arena_init(&r.arena, (size_t)1 << 20);
  r.k.arena = &r.arena;
  /* the precision: fast = a dif__fast on the bf16 backend, as a context has */
  const dif__backend *fb = NULL;
  if (o->precision == DIF_PRECISION_AUTO) fb = dif__backend_fast_native(NULL, 0);
  for (int i = 0; o->precision == DIF_PRECISION_FAST && !fb && i < dif__backend_count(); i++) {
    const dif__backend *b = dif__backend_row_at(i)->backend;
    char why[256];
    if (b && b->supports(DIF__DTYPE_BF16, why, sizeof why)) fb = b;
  }
  if (o->precision == DIF_PRECISION_FAST && !fb) die("--precision fast: no bf16 backend here");
  if (fb && dif__fast_new(fb, &r.k.fast, &err)) die("%s", err.msg);
  char cpu[160];
  dif__cpu_describe(cpu, sizeof cpu);
  const bool fused = fb && dif__attn_fused_native();
  printf("precision %s: %s, ISA %s; attention %s%s; CPU %s\n", fb ? "fast" : "exact",
         fb ? "bf16 products, float32 accumulation, onednn" : "float32 products, openblas",
         fb ? fb->isa() : dif__blas_corename(),
         !fb     ? "float32"
         : fused ? "fused bf16 on "
                 : "bf16, unfused",
         fused ? dif__attn_fused_isa_name(dif__attn_fused_best()) : "", cpu);
  rng_state = o->seed * 7919 + 17;
  const case_def *c = j->c;
  char label[128];
  pass_result res;
  long steady = -1;
  dif_status s = DIF_OK;
  double t0 = now(), load_s = 0;
  switch (c->kind) {
  case CASE_UNET: {
    unet_state *u = xmalloc(sizeof *u);
    if ((s = dif__unet_load(comp_dir, &u->m, &err))) die("%s", err.msg);
    load_s = now() - t0;
    int64_t B = c->batch, h = j->size / 8, S = 77;
    u->in = (dif__unet_input){.B = B, .H = h, .W = h, .n_timesteps = 1, .S = S};
    u->in.sample = rand_floats(B * u->m.in_ch * h * h, 1.0f);
    float *ts = xmalloc(sizeof *ts);
    ts[0] = 500.0f;
    u->in.timesteps = ts;
    u->in.context = rand_floats(B * S * u->m.ctx_dim, 1.0f);
    u->in.class_labels = u->m.class_in ? rand_floats(B * u->m.class_in, 1.0f) : NULL;
    u->out = xmalloc((size_t)(B * u->m.out_ch * h * h) * sizeof(float));
    conv_wino(&r, o, "UNet", DIF__WINO_NETS_MAX_CC);
    snprintf(label, sizeof label, "%s:%d (B%lld)", c->name, j->size, (long long)B);
    printf("== %s: %s, batch %lld, latent %lldx%lld (%dx%d image), threads %d\n", label, c->what,
           (long long)B, (long long)h, (long long)h, j->size, j->size, o->threads);
    printf("  load %.2f s\n", load_s);
    s = run_passes(&r, unet_pass, u, &res, &steady, &err);
    if (!s) check_finite("UNet output", u->out, B * u->m.out_ch * h * h);
    wino_stats(&r);
    break;
  }
  case CASE_VAE:
  case CASE_VAE_TILED:
  case CASE_VAE_ENCODE: {
    vae_state *v = xmalloc(sizeof *v);
    if ((s = dif__vae_load(comp_dir, &v->m, &err))) die("%s", err.msg);
    load_s = now() - t0;
    int64_t h = j->size / dif__vae_scale(&v->m);
    v->h = v->w = h;
    v->latent = rand_floats(v->m.latent_ch * h * h, 1.0f);
    v->image = xmalloc((size_t)(v->m.out_ch * j->size * j->size) * sizeof(float));
    v->tiled = c->kind == CASE_VAE_TILED;
    v->encode = c->kind == CASE_VAE_ENCODE;
    if (v->encode) { /* an image in [-1, 1] in, the latent's mean and log-variance out */
      free(v->image);
      v->image = rand_floats(v->m.in_ch * j->size * j->size, 1.0f);
      v->mean = xmalloc((size_t)(v->m.latent_ch * h * h) * sizeof(float));
      v->logvar = xmalloc((size_t)(v->m.latent_ch * h * h) * sizeof(float));
    }
    conv_wino(&r, o, "VAE", 0);
    snprintf(label, sizeof label, "%s:%d", c->name, j->size);
    if (v->encode)
      printf("== %s: %s, %dx%d image -> latent %lldx%lld, threads %d", label, c->what, j->size,
             j->size, (long long)h, (long long)h, o->threads);
    else
      printf("== %s: %s, latent %lldx%lld -> %dx%d image, threads %d", label, c->what, (long long)h,
             (long long)h, j->size, j->size, o->threads);
    if (v->tiled) printf(", tile %lld px", (long long)(o->tile ? o->tile : v->m.sample_size));
    printf("\n");
    printf("  load %.2f s\n", load_s);
    s = run_passes(&r, vae_pass, v, &res, &steady, &err);
    if (!s && v->encode) check_finite("latent mean", v->mean, v->m.latent_ch * h * h);
    if (!s && !v->encode) check_finite("image", v->image, v->m.out_ch * j->size * j->size);
    wino_stats(&r);
    break;
  }
  case CASE_CLIP_TEXT: {
    text_state *t = xmalloc(sizeof *t);
    if ((s = dif__clip_text_load(comp_dir, &t->m, &err))) die("%s", err.msg);
    load_s = now() - t0;
    t->B = c->batch;
    t->T = t->m.max_positions;
    t->ids = xmalloc((size_t)(t->B * t->T) * sizeof *t->ids);
    for (int64_t i = 0; i < t->B * t->T; i++)
      t->ids[i] = (int32_t)((frand() * 0.5f + 0.5f) * (float)(t->m.vocab - 1));
    int64_t C = t->m.enc.hidden;
    memset(&t->out, 0, sizeof t->out);
    t->out.last_hidden = xmalloc((size_t)(t->B * t->T * C) * sizeof(float));
    t->out.pooled = xmalloc((size_t)(t->B * C) * sizeof(float));
    if (t->m.projection_dim)
      t->out.text_embeds = xmalloc((size_t)(t->B * t->m.projection_dim) * sizeof(float));
    snprintf(label, sizeof label, "%s (B%lld)", c->name, (long long)t->B);
    printf("== %s: %s, %lld tokens, threads %d\n", label, c->what, (long long)t->T, o->threads);
    printf("  load %.2f s\n", load_s);
    s = run_passes(&r, text_pass, t, &res, &steady, &err);
    if (!s) check_finite("hidden state", t->out.last_hidden, t->B * t->T * C);
    break;
  }
  case CASE_CLIP_VISION: {
    vision_state *v = xmalloc(sizeof *v);
    if ((s = dif__clip_vision_load(comp_dir, &v->m, &err))) die("%s", err.msg);
    load_s = now() - t0;
    int64_t S = v->m.image_size, C = v->m.enc.hidden;
    v->pixels = rand_floats(v->m.channels * S * S, 1.0f);
    memset(&v->out, 0, sizeof v->out);
    v->out.last_hidden = xmalloc((size_t)(v->m.tokens * C) * sizeof(float));
    v->out.image_embeds = xmalloc((size_t)v->m.projection_dim * sizeof(float));
    snprintf(label, sizeof label, "%s (B1)", c->name);
    printf("== %s: %s, %lld tokens, threads %d\n", label, c->what, (long long)v->m.tokens,
           o->threads);
    printf("  load %.2f s\n", load_s);
    s = run_passes(&r, vision_pass, v, &res, &steady, &err);
    if (!s) check_finite("image embedding", v->out.image_embeds, v->m.projection_dim);
    break;
  }
  case CASE_PRIOR:
  case CASE_PRIOR_LOOP: {
    prior_state *p = xmalloc(sizeof *p);
    p->steps = c->kind == CASE_PRIOR_LOOP ? 25 : 0;
    if ((s = dif__prior_load(comp_dir, &p->m, &err))) die("%s", err.msg);
    load_s = now() - t0;
    /* --images n: B = 2n items, [negative × n, prompt × n], as the
     * pipeline runs them; the loop's cache holds the 2 texts, a whole
     * forward reads a text per item */
    int64_t B = c->batch * o->images, E = p->m.embed_dim, N = p->m.n_embeddings;
    p->texts = c->batch;
    const int64_t T = p->steps ? p->texts : B; /* rows of encoder_hidden and the mask */
    float *ts = xmalloc(sizeof *ts);
    ts[0] = 500.0f;
    int32_t *mask = xmalloc((size_t)(T * N) * sizeof *mask);
    for (int64_t i = 0; i < T * N; i++) mask[i] = (i % N) < 20;
    p->in = (dif__prior_input){.hidden_states = rand_floats(B * E, 1.0f),
                               .timesteps = ts,
                               .n_timesteps = 1,
                               .proj_embedding = rand_floats(B * E, 1.0f),
                               .encoder_hidden = rand_floats(T * N * E, 1.0f),
                               .attention_mask = mask,
                               .B = B};
    p->out = xmalloc((size_t)(B * E) * sizeof(float));
    snprintf(label, sizeof label, "%s (B%lld)", c->name, (long long)B);
    printf("== %s: %s, %lld tokens, threads %d\n", label, c->what, (long long)p->m.tokens,
           o->threads);
    printf("  load %.2f s\n", load_s);
    s = run_passes(&r, prior_pass, p, &res, &steady, &err);
    if (!s) check_finite("prior output", p->out, B * E);
    break;
  }
  case CASE_UNCLIP: {
    unclip_state *u = xmalloc(sizeof *u);
    memset(u, 0, sizeof *u);
    u->steps = o->steps;
    u->prior_steps = o->prior_steps;
    if (dif_context_new(&u->ctx) || dif_context_set_threads(u->ctx, o->threads) ||
        dif_context_set_precision(u->ctx, o->precision))
      die("context: %s", dif_last_error());
    if (dif_context_load(u->ctx, comp_dir)) die("%s", dif_context_last_error(u->ctx));
    load_s = now() - t0;
    const char *text = "a photograph of an astronaut riding a horse";
    if (dif_prompt_new(&u->prompt) || dif_prompt_add_text(u->prompt, text, 1.0f))
      die("prompt: %s", dif_last_error());
    if (dif_sample_new(u->ctx, u->prompt, &u->sample))
      die("sample: %s", dif_context_last_error(u->ctx));
    if (dif_sample_set_size(u->sample, j->size, j->size) ||
        dif_sample_set_steps(u->sample, u->steps) ||
        dif_sample_set_prior_steps(u->sample, u->prior_steps) ||
        dif_sample_set_progress(u->sample, unclip_progress, u))
      die("settings: %s", dif_sample_last_error(u->sample));
    snprintf(label, sizeof label, "%s:%d", c->name, j->size);
    printf("== %s: %s, %dx%d image, prompt \"%s\", threads %d\n", label, c->what, j->size, j->size,
           text, o->threads);
    printf("  load %.2f s (%d files; BLAS kernels %s)\n", load_s,
           dif_context_model_file_count(u->ctx), dif_blas_core());
    s = run_passes(&r, unclip_pass, u, &res, &steady, &err);
    if (!s) {
      size_t n = dif_sample_image_bytes(u->sample);
      uint8_t *rgb = xmalloc(n);
      if (dif_sample_copy_image(u->sample, 0, rgb, n)) die("%s", dif_sample_last_error(u->sample));
      double mean = 0;
      for (size_t i = 0; i < n; i++) mean += rgb[i];
      printf("  image %dx%d, mean pixel value %.1f (random weights: any picture)\n",
             dif_sample_width(u->sample), dif_sample_height(u->sample), mean / (double)n);
      free(rgb);
      printf("  settings: %s\n", dif_sample_parameters(u->sample));
      r.rss_kept_kb = proc_status_kb("VmRSS");
      if (dif_context_release_scratch(u->ctx, &r.ctx_scratch) ||
          dif_context_release_packed(u->ctx, &r.ctx_packed))
        die("%s", dif_context_last_error(u->ctx));
      r.rss_released_kb = proc_status_kb("VmRSS");
      r.anon_released_kb = proc_status_kb("RssAnon");
    }
    break;
  }
  default: die("not a model case");
  }
  if (s) die("%s: %s", label, err.msg);
  report(&r, label, &res, steady, summary_fd, load_s);
  return 0;
}

/* ---- sgemm and BLAS cases ---- */

static int run_sgemm_case(const options *o, int summary_fd) {
  dif__blas_set_threads(o->threads);
  printf("== sgemm: cblas_sgemm alone, threads %d, core %s\n", o->threads, dif__blas_corename());
  static const struct {
    const char *what;
    int64_t M, N, K;
  } shapes[] = {
      {"square 2048", 2048, 2048, 2048},
      {"square 4096", 4096, 4096, 4096},
      {"UNet conv 320ch @96x96 (K=9*320)", 320, 9216, 2880},
      {"UNet conv 640ch @48x48", 640, 2304, 5760},
      {"UNet conv 1280ch @24x24", 1280, 576, 11520},
      {"UNet conv 320ch @64x64", 320, 4096, 2880},
      {"VAE conv 128ch @768x768 band", 128, 65536, 1152},
      {"UNet linear 18432x320x320", 18432, 320, 320},
  };
  double best = 0;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    double sec = time_sgemm(false, false, shapes[i].M, shapes[i].N, shapes[i].K, 1.0);
    double g = 2.0 * (double)shapes[i].M * (double)shapes[i].N * (double)shapes[i].K / sec * 1e-9;
    if (g > best) best = g;
    printf("  %-36s M %6lld N %6lld K %6lld  %7.1f GFLOP/s\n", shapes[i].what,
           (long long)shapes[i].M, (long long)shapes[i].N, (long long)shapes[i].K, g);
  }
  char line[256];
  int n =
      snprintf(line, sizeof line, "%-26s %8s %8s %8.1f\n", "sgemm (best shape)", "-", "-", best);
  if (summary_fd >= 0 && n > 0) {
    ssize_t w = write(summary_fd, line, (size_t)n);
    (void)w;
  }
  return 0;
}

static double max_rel_err(const float *a, const float *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]) / (1e-3 + fabs((double)b[i]));
    if (d > m) m = d;
  }
  return m;
}

static int run_blas_check(const options *o) {
  dif__blas_set_threads(o->threads);
  const char *start = dif__blas_corename(), *note = dif__blas_note();
  printf("== blas-check: threads %d, CPU ISA level %d, OpenBLAS core at start: %s%s%s\n",
         o->threads, (int)dif__cpu_isa(), start, note ? " | note: " : "", note ? note : "");
  const int64_t M = 320, N = 9216, K = 2880;
  float *A = rand_floats(M * K, 1.0f), *B = rand_floats(K * N, 1.0f);
  float *C1 = xmalloc((size_t)(M * N) * sizeof *C1), *C2 = xmalloc((size_t)(M * N) * sizeof *C2);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)K, B,
              (int)N, 0.0f, C1, (int)N);
  double t_good = time_sgemm(false, false, M, N, K, 1.0);
  char good[32];
  snprintf(good, sizeof good, "%s", dif__blas_corename());
  if (!dif__blas_switch_core("Prescott")) {
    printf("  this BLAS cannot be switched (not a DYNAMIC_ARCH OpenBLAS?)\n");
    return 0;
  }
  printf("  forced: %s\n", openblas_get_corename());
  double t_bad = time_sgemm(false, false, M, N, K, 1.0);
  char msg[256];
  dif__blas_use_best_core(msg, sizeof msg);
  const char *fixed = dif__blas_corename();
  printf("  after dif_blas_setup's switch: %s (%s)\n", fixed, msg[0] ? msg : "nothing to do");
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)K, B,
              (int)N, 0.0f, C2, (int)N);
  double t_fixed = time_sgemm(false, false, M, N, K, 1.0);
  double f = 2.0 * (double)M * (double)N * (double)K * 1e-9;
  printf("  sgemm %lldx%lldx%lld: %s %.1f GFLOP/s, Prescott %.1f GFLOP/s, after fix-up (%s) %.1f "
         "GFLOP/s -> %.1fx\n",
         (long long)M, (long long)N, (long long)K, good, f / t_good, f / t_bad, fixed, f / t_fixed,
         t_bad / t_fixed);
  printf("  result after the switch vs before: max relative difference %.2e; %s\n",
         max_rel_err(C2, C1, M * N),
         strcmp(fixed, good) == 0 ? "same core as at start: OK" : "DIFFERENT core than at start");
  free(A);
  free(B);
  free(C1);
  free(C2);
  return strcmp(fixed, good) != 0;
}

/* ---- driver ---- */

static void usage(FILE *f) {
  fprintf(f, "usage: dif-bench [options] [case[:size] ...]\n"
             "cases (default: --quick):\n");
  for (size_t i = 0; i < N_CASES; i++) {
    fprintf(f, "  %-12s %s", cases[i].name, cases[i].what);
    if (cases[i].size) fprintf(f, " (default size %d)", cases[i].size);
    fprintf(f, "\n");
  }
  fprintf(f,
          "  sizes are image pixels: unet-unclip:512, vae:1024, ...\n"
          "presets:\n"
          "  --quick     unet-unclip:512 vae:512 clip-text clip-vision prior sgemm, 1 pass each\n"
          "  --issue     every measurement of issue 5 (unet-unclip:512 and :768, unet-sd15:512,\n"
          "              vae:512 and :768, vae-tiled:768 and :1024, clip-text, clip-text-l,\n"
          "              clip-vision, prior, prior-25, sgemm, blas-check)\n"
          "options:\n"
          "  --threads N   threads for our kernels and for BLAS (default: online cores)\n"
          "  --precision exact|fast|auto  the products' precision (default exact: float32,\n"
          "                OpenBLAS; fast: bf16 on oneDNN; auto: fast where bf16 is native)\n"
          "  --reps N      timed passes per case (default 2; the best and median are reported;\n"
          "                pass 2+ also gives the steady-state peak RSS)\n"
          "  --warmup N    untimed passes before the timed ones, 0..4 (default 0: pass 1 then\n"
          "                includes packing the fast path's weights, the Winograd transforms\n"
          "                and oneDNN's primitives, as a generation's first step does;\n"
          "                bench/vs-peer sets 1, as the PyTorch peer times after one)\n"
          "  --seed N      weight seed (default 1)\n"
          "  --weights-dtype f32|f16|bf16  the random weights' dtype (default f32; f16 and\n"
          "                bf16 are the same values rounded, as a model's fp16 variant ships)\n"
          "  --steps N  --prior-steps N  the unclip case's decoder and prior steps, 1..100\n"
          "                (default 20 and 25; peak memory does not depend on them)\n"
          "  --images N    prior and prior-25: images per prompt, 1..16 (default 1; the\n"
          "                prior's batch is 2N with guidance, its cached steps 8N rows)\n"
          "  --dir DIR     where the random weights go (default: a new folder in $TMPDIR,\n"
          "                deleted at exit); existing component folders in DIR are reused\n"
          "  --keep        keep the weights folder\n"
          "  --configs DIR the configs (default %s)\n"
          "  --tokenizers DIR  CLIP tokenizers clip-bpe and clip-bpe-sd2 for unclip\n"
          "                (default %s)\n"
          "  --tile N      tile size in pixels for vae-tiled (default 512; 0 = the config's\n"
          "                sample_size, 768 for unclip-small, which does not tile a 768² image)\n"
          "  --no-wino     exact: the VAE's and the UNet's 3x3 convolutions on im2col + sgemm,\n"
          "                not by float32 Winograd as a context does (the VAE's all, the UNet's\n"
          "                up to 1920 x 640 channels; oneDNN's on AVX-512, else openblas's);\n"
          "                fast: the UNet's and the VAE's bf16 direct, as on AMX (without AMX a\n"
          "                context runs them by bf16 Winograd)\n"
          "  --fast-wino   fast, with --wino-bf16-max-cc 0 or on AMX: the VAE's 3x3\n"
          "                convolutions up to 512 x 256 channels by float32 Winograd (as a\n"
          "                context with DIF_WINO_BF16=off without AMX; to measure it on AMX)\n"
          "  --wino-bf16-max-cc N  fast: the UNet's and the VAE's 3x3 convolutions with\n"
          "                cin x cout up to N by bf16 Winograd F(2x2, 3x3) (0: none: the UNet's\n"
          "                bf16 direct, the VAE's as --fast-wino says); default a context's:\n"
          "                every one where bf16 is not on AMX tiles, none on AMX (--no-wino:\n"
          "                none)\n"
          "  --channels-first  fast: the UNet's maps channels-first, and the VAE's\n"
          "                where it has no Winograd (--no-wino, or AMX), as before\n"
          "                channels-last (to measure it)\n"
          "  --wino-backend NAME  exact: that Winograd on backend NAME (openblas: ours, as an\n"
          "                AVX2 CPU runs it; onednn), as DIF_WINO_BACKEND=NAME does\n"
          "  --no-ops --no-blocks --no-sgemm-ref   leave out parts of the report\n",
          DIF_BENCH_CONFIGS, DIF_BENCH_TOKENIZERS);
}

static const case_def *find_case(const char *name) {
  for (size_t i = 0; i < N_CASES; i++)
    if (strcmp(cases[i].name, name) == 0) return &cases[i];
  return NULL;
}

static void add_job(job *jobs, int *n, const char *spec) {
  char name[64];
  snprintf(name, sizeof name, "%s", spec);
  char *colon = strchr(name, ':');
  int size = 0;
  if (colon) {
    *colon = '\0';
    size = atoi(colon + 1);
  }
  const case_def *c = find_case(name);
  if (!c) die("unknown case '%s' (dif-bench --help lists them)", name);
  if (*n >= 64) die("too many cases");
  if (!size) size = c->size;
  if (c->size && (size < 64 || size % 64))
    die("%s: size %d is not a positive multiple of 64", name, size);
  jobs[(*n)++] = (job){c, size};
}

static bench_kind kind_of(case_kind k) {
  switch (k) {
  case CASE_UNET: return BENCH_UNET;
  case CASE_VAE:
  case CASE_VAE_TILED:
  case CASE_VAE_ENCODE: return BENCH_VAE;
  case CASE_CLIP_TEXT: return BENCH_CLIP_TEXT;
  case CASE_CLIP_VISION: return BENCH_CLIP_VISION;
  default: return BENCH_PRIOR;
  }
}

static void remove_tree(const char *dir, const char *const *comps, int n) {
  char p[4200];
  for (int i = 0; i < n; i++) {
    snprintf(p, sizeof p, "%s/%s/model.safetensors", dir, comps[i]);
    unlink(p);
    snprintf(p, sizeof p, "%s/%s/config.json", dir, comps[i]);
    unlink(p);
    snprintf(p, sizeof p, "%s/%s", dir, comps[i]);
    rmdir(p);
  }
  rmdir(dir);
}

int main(int argc, char **argv) {
  options o = {.tile = 512,
               .threads = dif__cpu_count(),
               .reps = 2,
               .seed = 1,
               .configs = DIF_BENCH_CONFIGS,
               .tokenizers = DIF_BENCH_TOKENIZERS,
               .blocks = true,
               .ops = true,
               .sgemm_ref = true,
               .wino_bf16 = -1,
               .precision = DIF_PRECISION_EXACT,
               .wdtype = DIF__DTYPE_F32,
               .steps = UNCLIP_STEPS,
               .prior_steps = UNCLIP_PRIOR_STEPS,
               .images = 1};
  job jobs[64];
  int n_jobs = 0;
  static const char *const quick[] = {"unet-unclip:512", "vae:512", "clip-text",
                                      "clip-vision",     "prior",   "sgemm"};
  static const char *const issue[] = {
      "sgemm",       "blas-check",  "unet-unclip:512", "unet-unclip:768", "unet-sd15:512",
      "vae:512",     "vae:768",     "vae-tiled:768",   "vae-tiled:1024",  "clip-text",
      "clip-text-l", "clip-vision", "prior",           "prior-25"};
  bool quick_set = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--threads") && v) {
      o.threads = atoi(v), i++;
    } else if (!strcmp(a, "--warmup") && v) {
      o.warmup = atoi(v), i++;
    } else if (!strcmp(a, "--reps") && v) {
      o.reps = atoi(v), i++;
      o.reps_set = true;
    } else if (!strcmp(a, "--weights-dtype") && v) {
      if (!strcmp(v, "f32"))
        o.wdtype = DIF__DTYPE_F32;
      else if (!strcmp(v, "f16"))
        o.wdtype = DIF__DTYPE_F16;
      else if (!strcmp(v, "bf16"))
        o.wdtype = DIF__DTYPE_BF16;
      else {
        fprintf(stderr, "dif-bench: --weights-dtype: expected f32, f16 or bf16, got '%s'\n", v);
        return 2;
      }
      i++;
    } else if (!strcmp(a, "--steps") && v) {
      o.steps = atoi(v), i++;
    } else if (!strcmp(a, "--prior-steps") && v) {
      o.prior_steps = atoi(v), i++;
    } else if (!strcmp(a, "--images") && v) {
      o.images = atoi(v), i++;
    } else if (!strcmp(a, "--seed") && v) {
      o.seed = strtoull(v, NULL, 10), i++;
    } else if (!strcmp(a, "--dir") && v) {
      o.dir = v, i++;
    } else if (!strcmp(a, "--configs") && v) {
      o.configs = v, i++;
    } else if (!strcmp(a, "--tokenizers") && v) {
      o.tokenizers = v, i++;
    } else if (!strcmp(a, "--tile") && v) {
      o.tile = atoi(v), i++;
    } else if (!strcmp(a, "--keep")) {
      o.keep = true;
    } else if (!strcmp(a, "--no-ops")) {
      o.ops = false;
    } else if (!strcmp(a, "--no-blocks")) {
      o.blocks = false;
    } else if (!strcmp(a, "--no-wino")) {
      o.no_wino = true;
    } else if (!strcmp(a, "--wino-bf16-max-cc") && v) {
      o.wino_bf16 = atoll(v), i++;
    } else if (!strcmp(a, "--fast-wino")) {
      o.fast_wino = true;
    } else if (!strcmp(a, "--channels-first")) {
      o.channels_first = true;
    } else if (!strcmp(a, "--wino-backend") && v) {
      o.wino_backend = v, i++;
    } else if (!strcmp(a, "--precision") && v) {
      if (!strcmp(v, "exact"))
        o.precision = DIF_PRECISION_EXACT;
      else if (!strcmp(v, "fast"))
        o.precision = DIF_PRECISION_FAST;
      else if (!strcmp(v, "auto"))
        o.precision = DIF_PRECISION_AUTO;
      else {
        fprintf(stderr, "dif-bench: --precision: expected exact, fast or auto, got '%s'\n", v);
        return 2;
      }
      i++;
    } else if (!strcmp(a, "--no-sgemm-ref")) {
      o.sgemm_ref = false;
    } else if (!strcmp(a, "--quick")) {
      quick_set = true;
    } else if (!strcmp(a, "--issue")) {
      for (size_t q = 0; q < sizeof issue / sizeof issue[0]; q++) add_job(jobs, &n_jobs, issue[q]);
    } else if (a[0] == '-') {
      usage(stderr);
      return 2;
    } else {
      add_job(jobs, &n_jobs, a);
    }
  }
  if (quick_set || n_jobs == 0) {
    for (size_t q = 0; q < sizeof quick / sizeof quick[0]; q++) add_job(jobs, &n_jobs, quick[q]);
    if (quick_set || o.reps == 2) o.reps = 1;
  }
  if (o.threads < 1 || o.reps < 1 || o.reps > 16) die("--threads >= 1, --reps 1..16");
  if (o.warmup < 0 || o.warmup > 4) die("--warmup: 0..4");
  if (o.steps < 1 || o.steps > UNCLIP_MAX_STEPS || o.prior_steps < 1 ||
      o.prior_steps > UNCLIP_MAX_STEPS)
    die("--steps and --prior-steps: 1..%d", UNCLIP_MAX_STEPS);
  if (o.images < 1 || o.images > DIF_MAX_BATCH) die("--images: 1..%d", DIF_MAX_BATCH);

  char host[256], la[128];
  cpu_model(host, sizeof host);
  loadavg(la, sizeof la);
  time_t t = time(NULL);
  char date[64];
  strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
  /* A benchmark owns its process: the fastest kernels, o.threads BLAS threads. */
  if (dif_blas_setup(o.threads) != DIF_OK) printf("note: %s\n", dif_last_error());
  const char *note = dif__blas_note();
  printf("dif-bench %s | %s, %d online cores | threads %d | reps %d | warm-up %d | seed %llu | "
         "weights %s\n",
         date, host, dif__cpu_count(), o.threads, o.reps, o.warmup, (unsigned long long)o.seed,
         dif__dtype_name(o.wdtype));
  printf("BLAS: %s | core %s%s%s\n", openblas_get_config(), dif__blas_corename(), note ? " | " : "",
         note ? note : "");
  printf("load average at start: %s\n", la);
  fflush(stdout);

  /* The weights folder. */
  char dir[4096];
  bool made_dir = false;
  if (o.dir) {
    snprintf(dir, sizeof dir, "%s", o.dir);
    if (mkdir(dir, 0755) && errno != EEXIST) die("%s: %s", dir, strerror(errno));
  } else {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/dif-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) die("mkdtemp %s: %s", dir, strerror(errno));
    made_dir = true;
  }
  const char *made[16];
  int n_made = 0;
  bool made_unclip = false;

  int pipefd[2];
  if (pipe(pipefd)) die("pipe: %s", strerror(errno));
  int failures = 0;
  for (int i = 0; i < n_jobs; i++) {
    const job *j = &jobs[i];
    char comp[4200] = "";
    uint64_t bytes = 0;
    if (j->c->component) {
      snprintf(comp, sizeof comp, "%s/%s", dir, j->c->component);
      char st_path[4300], cfg[4200];
      snprintf(st_path, sizeof st_path, "%s/model.safetensors", comp);
      struct stat sb;
      if (j->c->kind == CASE_UNCLIP) {
        char msg[1024];
        double t0 = now();
        if (bench_make_unclip(comp, o.configs, o.tokenizers, o.seed, o.wdtype, stdout, &bytes, msg,
                              sizeof msg))
          die("%s", msg);
        printf("-- %s: %.2f GiB of weights, ready in %.1f s\n", comp, (double)bytes / (1 << 30),
               now() - t0);
        made_unclip = true;
      } else if (stat(st_path, &sb) == 0 && sb.st_size > 64) {
        if (!bench_weights_dtype_is(st_path, o.wdtype))
          die("%s exists with another dtype than %s: remove it or use another --dir", st_path,
              dif__dtype_name(o.wdtype));
        bytes = (uint64_t)sb.st_size; /* reuse */
      } else {
        snprintf(cfg, sizeof cfg, "%s/%s.json", o.configs, j->c->component);
        char msg[1024];
        double t0 = now();
        printf("-- writing random weights for %s ...", j->c->component);
        fflush(stdout);
        if (bench_make_component(comp, cfg, kind_of(j->c->kind), o.seed, o.wdtype, &bytes, msg,
                                 sizeof msg))
          die("%s", msg);
        printf(" %.2f GiB in %.1f s\n", (double)bytes / (1 << 30), now() - t0);
        if (n_made < 16) made[n_made++] = j->c->component;
      }
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
      close(pipefd[0]);
      int rc;
      if (j->c->kind == CASE_SGEMM)
        rc = run_sgemm_case(&o, pipefd[1]);
      else if (j->c->kind == CASE_BLAS_CHECK)
        rc = run_blas_check(&o);
      else
        rc = run_model_case(&o, j, comp, bytes, pipefd[1]);
      fflush(stdout);
      _exit(rc);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
      printf("!! %s failed (status 0x%x)\n", j->c->name, status);
      failures++;
    }
  }
  close(pipefd[1]);
  printf(
      "\n== summary (threads %d; best of %d%s after %d warm-up; sgemm = cblas_sgemm GFLOP/s on the "
      "same shapes; "
      "ratio = GFLOP/s / sgemm, cpu-r the same per CPU second; GiB; steady = peak RSS of the last "
      "pass after the first)\n",
      o.threads, o.reps, o.reps_set ? "" : ", unclip 1", o.warmup);
  printf("%-26s %8s %8s %8s %7s %6s %6s %7s %7s %7s\n", "case", "seconds", "GFLOP", "GFLOP/s",
         "sgemm", "ratio", "cpu-r", "weights", "peakRSS", "steady");
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, stdout);
  close(pipefd[0]);
  loadavg(la, sizeof la);
  printf("load average at end: %s\n", la);
  if (!o.keep && made_unclip) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, find_case("unclip")->component);
    bench_remove_unclip(p);
  }
  if (!o.keep && (made_dir || n_made)) {
    remove_tree(dir, made, n_made);
  } else if (o.keep) {
    printf("weights kept in %s\n", dir);
  }
  return failures ? 1 : 0;
}
