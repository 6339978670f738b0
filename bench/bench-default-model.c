/* dif-bench-default-model — how long one whole generation with libdif's
 * default model takes: "a red circle on a blue background" with the model's
 * own settings (64×64, prior 25 steps + decoder 25 steps with classifier-free
 * guidance, VAE decode), through the public API, as `dif generate` runs it.
 *
 * One untimed warm-up run, then N timed runs (seeds 0..N-1); prints the
 * median, min and mean of the whole dif_sample_run, and the median split
 * into text encoders + prior, decoder (UNet) and VAE decode + output, from
 * the progress callback's step times. Also the load time.
 *
 * usage: dif-bench-default-model [-m MODEL_DIR] [-n RUNS (10)] [--threads N]
 *                                [--precision auto|exact|fast (auto)] */
#include <dif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RUNS 1000

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct steps {
  int prior_steps;
  double start, prior_done, decoder_done;
} steps;

static int on_step(int32_t step, int32_t total, void *user) {
  steps *s = user;
  if (step == s->prior_steps) s->prior_done = now();
  if (step == total) s->decoder_done = now();
  return 0;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void fail(const char *what, const char *msg) {
  fprintf(stderr, "dif-bench-default-model: %s: %s\n", what, msg);
  exit(1);
}

int main(int argc, char **argv) {
  const char *model = NULL;
  int runs = 10, threads = 0;
  dif_precision precision = DIF_PRECISION_AUTO;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-m") && i + 1 < argc)
      model = argv[++i];
    else if (!strcmp(argv[i], "-n") && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--precision") && i + 1 < argc) {
      const char *v = argv[++i];
      precision = !strcmp(v, "exact")  ? DIF_PRECISION_EXACT
                  : !strcmp(v, "fast") ? DIF_PRECISION_FAST
                  : !strcmp(v, "auto") ? DIF_PRECISION_AUTO
                                       : (dif_precision)-1;
      if (precision == (dif_precision)-1) fail("--precision", "expected auto, exact or fast");
    } else {
      fprintf(stderr, "usage: dif-bench-default-model [-m MODEL_DIR] [-n RUNS] [--threads N] "
                      "[--precision auto|exact|fast]\n");
      return 2;
    }
  }
  if (runs < 1 || runs > MAX_RUNS) fail("-n", "runs must be 1..1000");
  if (!model) model = dif_default_model_dir();
  if (!model) fail("model", "no -m MODEL_DIR and no default model found");
  dif_context *ctx = NULL;
  if (dif_context_new(&ctx)) fail("context", dif_last_error());
  if (threads && dif_context_set_threads(ctx, threads))
    fail("threads", dif_context_last_error(ctx));
  if (dif_context_set_precision(ctx, precision)) fail("precision", dif_context_last_error(ctx));
  double t0 = now();
  if (dif_context_load(ctx, model)) fail(model, dif_context_last_error(ctx));
  double load = now() - t0;
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  if (dif_prompt_new(&p) || dif_prompt_add_text(p, "a red circle on a blue background", 1.0f))
    fail("prompt", dif_last_error());
  if (dif_sample_new(ctx, p, &s)) fail("sample", dif_context_last_error(ctx));
  steps st = {0};
  dif_sample_set_progress(s, on_step, &st);
  static double total[MAX_RUNS], prior[MAX_RUNS], decoder[MAX_RUNS], vae[MAX_RUNS];
  char *params = NULL;
  for (int i = -1; i < runs; i++) { /* -1: the warm-up */
    dif_sample_set_seed(s, (uint64_t)(i < 0 ? 0 : i));
    /* the prior's steps come first in the progress count */
    st.prior_steps = 25;
    st.start = now();
    if (dif_sample_run(s)) fail("run", dif_sample_last_error(s));
    double end = now();
    if (i < 0) {
      params = strdup(dif_sample_parameters(s)); /* valid only until the next run */
      char *model_part = params ? strstr(params, ",\"model\":") : NULL;
      if (model_part) strcpy(model_part, "}"); /* the settings, without the file list */
      continue;
    }
    total[i] = end - st.start;
    prior[i] = st.prior_done - st.start;
    decoder[i] = st.decoder_done - st.prior_done;
    vae[i] = end - st.decoder_done;
  }
  double sum = 0, lo = total[0];
  for (int i = 0; i < runs; i++) sum += total[i], lo = total[i] < lo ? total[i] : lo;
  printf("libdif %s, default model %s, %d threads, precision %s, BLAS kernels %s\n",
         dif_version_string(), model, dif_context_threads(ctx),
         dif_precision_name(dif_context_precision(ctx)), dif_blas_core());
  printf("settings: %s\n", params ? params : "?");
  printf("load: %.3f s\n", load);
  printf("whole generation (%d runs): median %.3f s, min %.3f s, mean %.3f s\n", runs,
         median(total, runs), lo, sum / runs);
  printf("  text encoders + prior (25 steps): median %.3f s\n", median(prior, runs));
  printf("  decoder UNet (25 steps, CFG):     median %.3f s\n", median(decoder, runs));
  printf("  VAE decode + output:              median %.3f s\n", median(vae, runs));
  free(params);
  dif_sample_free(s);
  dif_prompt_free(p);
  dif_context_free(ctx);
  return 0;
}
