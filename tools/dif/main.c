/* main.c — the `dif` command: an example of libdif's public API.
 *
 *   dif generate "a red circle::2 a blue square --ar 16:9" [options] -o out.png
 *   dif generate --from out.png           reproduce an image from its record
 *   dif info [MODEL_DIR] [--prior DIR]    components, configs, fingerprints
 *   dif info FILE.safetensors [--config DIR]  a single-file checkpoint
 *   dif version
 *
 * Everything here uses include/dif.h only. */
#include <dif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f) {
  fprintf(f, "usage: dif generate PROMPT [options]   (dif generate --help for the options)\n"
             "       dif generate --from IMAGE.png [-o OUT.png]\n"
             "       dif vary IMAGE --mask MASK.png [PROMPT] [-o OUT]   (Vary Region)\n"
             "       dif zoom IMAGE (--factor F | --square) [PROMPT] [-o OUT]\n"
             "       dif pan IMAGE --direction left|right|up|down [--amount A] [PROMPT] [-o OUT]\n"
             "       dif upscale IMAGE [--factor N] [--creative] [-m UPSCALER] [-o OUT]\n"
             "       dif info [MODEL_DIR] [--prior PRIOR_DIR]\n"
             "       dif info CHECKPOINT.safetensors [--config DIR] [--prior PRIOR_DIR]\n"
             "       dif version\n"
             "Exit status: 0 done, 1 failed (a file, the model, the run), 2 bad usage,\n"
             "130 interrupted (Ctrl-C; 143 for SIGTERM).\n");
}

static void info_help(void) {
  const char *m = dif_default_model_dir();
  printf("usage: dif info [MODEL_DIR] [--prior PRIOR_DIR]\n"
         "       dif info CHECKPOINT.safetensors [--config DIR] [--prior PRIOR_DIR]\n"
         "  Prints the model's components, configs, weight files with their xxh3\n"
         "  fingerprints, and the sample defaults in effect, as JSON. For a single-file\n"
         "  checkpoint without --config: its family, dtype and parts, read from its tensors,\n"
         "  and the preset it loads with (\"preset\", chosen as \"load\" says).\n"
         "  MODEL_DIR     a diffusers model folder (default: the default model, %s)\n"
         "  --config DIR  the diffusers folder (or preset) whose configs go with a single-file\n"
         "                checkpoint: the loaded model is described\n"
         "  --prior DIR   a separate diffusion prior folder, the one that contains prior/\n"
         "  -h, --help    this help\n"
         "Exit status: 0 done, 1 the model cannot be loaded, 2 bad usage.\n",
         m ? m : "none installed");
}

/* A single file without its config folder: what its tensors say. */
static int checkpoint_info(const char *path) {
  size_t size = 0;
  char *buf = NULL;
  if (dif_checkpoint_info(path, NULL, &size) != DIF_OK || !(buf = malloc(size)) ||
      dif_checkpoint_info(path, buf, &size) != DIF_OK) {
    fprintf(stderr, "dif: %s\n", buf || size == 0 ? dif_last_error() : "out of memory");
    free(buf);
    return 1;
  }
  printf("%s\n", buf);
  free(buf);
  return 0;
}

static int info(int argc, char **argv) {
  const char *model = NULL, *prior = NULL, *config = NULL;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      info_help();
      return 0;
    }
    if (!strcmp(argv[i], "--prior") && i + 1 < argc)
      prior = argv[++i];
    else if (!strcmp(argv[i], "--config") && i + 1 < argc)
      config = argv[++i];
    else if (argv[i][0] != '-' && !model)
      model = argv[i];
    else {
      fprintf(stderr, "dif info: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (!model) model = dif_default_model_dir();
  if (!model) {
    fprintf(stderr, "dif info: no MODEL_DIR given and no default model installed\n");
    return 2;
  }
  struct stat sb;
  if (!config && stat(model, &sb) == 0 && !S_ISDIR(sb.st_mode)) return checkpoint_info(model);
  dif_context *ctx = cli_open(model, config, prior, 0, -1, NULL, NULL, 0, NULL);
  if (!ctx) return 1;
  printf("%s\n", dif_context_info(ctx));
  dif_context_free(ctx);
  return 0;
}

/* OpenBLAS's worker threads each take a 128 MiB working buffer when first
 * woken — by a product, or by the shutdown at exit — and retry forever when
 * that allocation fails. Under an address-space limit (ulimit -v) too small
 * for every thread's buffer, a program linked with OpenBLAS would spin at
 * exit even when libdif reports "out of memory" cleanly. So under such a
 * limit the command runs itself again with OPENBLAS_NUM_THREADS=1 (no
 * workers); libdif then reserves the one buffer it needs or says it cannot
 * (lib/core/blas.c). The margin covers the program itself before the model
 * loads. */
static void one_blas_thread_under_a_tight_limit(char **argv) {
  struct rlimit r;
  if (getenv("OPENBLAS_NUM_THREADS") || getrlimit(RLIMIT_AS, &r) != 0 ||
      r.rlim_cur == RLIM_INFINITY)
    return;
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  const unsigned long long need =
      (unsigned long long)(cores > 0 ? cores : 1) * (129ull << 20) + (256ull << 20);
  if ((unsigned long long)r.rlim_cur >= need) return;
  if (setenv("OPENBLAS_NUM_THREADS", "1", 1) == 0) execv("/proc/self/exe", argv);
  /* exec failed: go on as we are */
}

/* The fast precision's products run on oneDNN's OpenMP threads (libgomp),
 * which by default spin after each parallel region. Between the thousands
 * of small products of a step, those spinning threads take the cores from
 * libdif's own kernel threads, and on a shared machine from each other: a
 * 4-step default-model run measured 30 s instead of 3.5 s with
 * OMP_WAIT_POLICY=passive (load 8 on 2 cores). libgomp reads the policy
 * once, when it is loaded, so the command sets it and runs itself again —
 * unless the user chose a policy. */
static void passive_openmp_threads(char **argv) {
  if (getenv("OMP_WAIT_POLICY")) return;
  if (setenv("OMP_WAIT_POLICY", "passive", 1) == 0) execv("/proc/self/exe", argv);
  /* exec failed: go on as we are */
}

int main(int argc, char **argv) {
  passive_openmp_threads(argv);
  one_blas_thread_under_a_tight_limit(argv);
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "generate")) return cli_generate(argc - 2, argv + 2);
  if (!strcmp(argv[1], "info")) return info(argc - 2, argv + 2);
  if (!strcmp(argv[1], "vary")) return cli_vary(argc - 2, argv + 2);
  if (!strcmp(argv[1], "zoom")) return cli_zoom(argc - 2, argv + 2);
  if (!strcmp(argv[1], "pan")) return cli_pan(argc - 2, argv + 2);
  if (!strcmp(argv[1], "upscale")) return cli_upscale(argc - 2, argv + 2);
  if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
    const char *m = dif_default_model_dir();
    printf("dif %s (libdif %s), BLAS kernels %s, default model %s\n", DIF__CLI_VERSION,
           dif_version_string(), dif_blas_core(), m ? m : "(none)");
    return 0;
  }
  if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "dif: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
