/* Generating through the public API on the tiny reference models: the
 * pipelines' golden images come out of dif_sample_run, progress, cancel,
 * the non-blocking calls, PNG parameters, and concurrent samples on one
 * context giving bit-identical results to running them one by one. */
#include <math.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/backend.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "test.h"

#define UNCLIP "golden/models/tiny-unclip"
#define SD "golden/models/tiny-sd"
#define PRIOR "golden/models/tiny-karlo-prior"
#define IMAGE "golden/cases/pipelines/input_32x32.png"

static dif_context *load(const char *model, const char *prior, int threads) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(dif_context_set_threads(ctx, threads) == DIF_OK);
  /* the fixtures are float32 references: exact, explicitly (auto is fast on
   * a CPU with AVX512-BF16 or AMX) */
  CHECK(dif_context_set_precision(ctx, DIF_PRECISION_EXACT) == DIF_OK);
  if (prior) CHECK(dif_context_set_prior(ctx, dif__test_path(prior)) == DIF_OK);
  dif_status s = dif_context_load(ctx, dif__test_path(model));
  CHECK_MSG(s == DIF_OK, "%s", dif_context_last_error(ctx));
  return ctx;
}

/* Our uint8 pixels against the fixture's out.images in [0, 1]: within the
 * pipelines' 1e-3 image tolerance plus half a uint8 step of rounding. */
static void check_images(dif_sample *s, const char *fixture) {
  dif__error err = {0};
  dif__safetensors *st = NULL;
  CHECK(dif__st_open(dif__test_path(fixture), &st, &err) == DIF_OK);
  if (!st) return;
  const dif__st_entry *e = dif__st_find(st, "out.images");
  CHECK(e != NULL);
  int64_t n = dif__st_numel(e);
  double *want = malloc((size_t)n * sizeof *want);
  dif__st_to_f64(st, e, want);
  size_t bytes = dif_sample_image_bytes(s);
  CHECK((int64_t)bytes * dif_sample_image_count(s) == n);
  uint8_t *px = malloc(bytes);
  double worst = 0;
  for (int i = 0; i < dif_sample_image_count(s); i++) {
    CHECK(dif_sample_copy_image(s, i, px, bytes) == DIF_OK);
    for (size_t j = 0; j < bytes; j++) {
      double d = fabs(px[j] / 255.0 - want[(size_t)i * bytes + j]);
      worst = d > worst ? d : worst;
    }
  }
  CHECK_MSG(worst <= 1e-3 + 0.5 / 255, "%s: max |pixel - reference| = %g", fixture, worst);
  free(px);
  free(want);
  dif__st_close(st);
}

TEST(unclip_text_to_image_matches_diffusers) {
  /* cases/pipelines/unclip_txt2img.nl0.32x32 through the API */
  dif_context *ctx = load(UNCLIP, PRIOR, 2);
  dif_prompt *p = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK(dif_prompt_add_text(p, "a photo of a red cat", 1.0f) == DIF_OK);
  CHECK(dif_prompt_set_negative(p, "blurry") == DIF_OK);
  dif_sample *s = NULL;
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  dif_prompt_free(p); /* the sample holds a copy */
  CHECK(dif_sample_set_size(s, 32, 32) == DIF_OK);
  CHECK(dif_sample_set_steps(s, 4) == DIF_OK);
  CHECK(dif_sample_set_guidance(s, 10) == DIF_OK);
  CHECK(dif_sample_set_prior_steps(s, 5) == DIF_OK);
  CHECK(dif_sample_set_prior_guidance(s, 4) == DIF_OK);
  CHECK(dif_sample_set_seed(s, 2024) == DIF_OK);
  dif_status st = dif_sample_run(s);
  CHECK_MSG(st == DIF_OK, "%s", dif_sample_last_error(s));
  CHECK(dif_sample_width(s) == 32 && dif_sample_height(s) == 32 && dif_sample_image_count(s) == 1);
  check_images(s, "golden/cases/pipelines/unclip_txt2img.nl0.32x32.safetensors");
  dif_sample_free(s);
  dif_context_free(ctx);
}

TEST(variation_and_sd_match_diffusers) {
  dif_context *ctx = load(UNCLIP, NULL, 1);
  dif_prompt *p = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK(dif_prompt_add_image_file(p, dif__test_path(IMAGE), 1.0f) == DIF_OK);
  dif_sample *s = NULL;
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  CHECK(dif_sample_set_size(s, 32, 48) == DIF_OK); /* H=32, W=48: width first */
  CHECK(dif_sample_set_size(s, 48, 32) == DIF_OK);
  CHECK(dif_sample_set_steps(s, 4) == DIF_OK);
  CHECK(dif_sample_set_seed(s, 1010) == DIF_OK);
  CHECK_MSG(dif_sample_run(s) == DIF_OK, "%s", dif_sample_last_error(s));
  check_images(s, "golden/cases/pipelines/unclip_img2img.nl0.gs10.32x48.safetensors");
  dif_sample_free(s);
  dif_prompt_free(p);
  dif_context_free(ctx);

  ctx = load(SD, NULL, 2);
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK(dif_prompt_add_text(p, "a watercolor painting of a lighthouse", 1.0f) == DIF_OK);
  CHECK(dif_prompt_set_negative(p, "ugly") == DIF_OK);
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  CHECK(dif_sample_set_steps(s, 5) == DIF_OK);
  CHECK(dif_sample_set_seed(s, 32) == DIF_OK);
  CHECK(dif_sample_set_init_image_file(s, dif__test_path(IMAGE), 0.6f) == DIF_OK);
  CHECK_MSG(dif_sample_run(s) == DIF_OK, "%s", dif_sample_last_error(s));
  CHECK(dif_sample_width(s) == 32); /* the init image's size */
  check_images(s, "golden/cases/pipelines/sd_img2img.strength0.6.safetensors");
  dif_sample_free(s);
  dif_prompt_free(p);
  dif_context_free(ctx);
}

static int steps_seen, cancel_at;
static int on_progress(int32_t step, int32_t total, void *user) {
  CHECK(user == &steps_seen);
  CHECK(step >= 1 && step <= total);
  steps_seen = step;
  return cancel_at && step >= cancel_at;
}

static dif_sample *small_sample(dif_context *ctx, uint64_t seed) {
  dif_prompt *p = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK(dif_prompt_add_text(p, "a red cat", 1.0f) == DIF_OK);
  dif_sample *s = NULL;
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  dif_prompt_free(p);
  CHECK(dif_sample_set_size(s, 32, 32) == DIF_OK);
  CHECK(dif_sample_set_steps(s, 6) == DIF_OK);
  CHECK(dif_sample_set_prior_steps(s, 3) == DIF_OK);
  CHECK(dif_sample_set_seed(s, seed) == DIF_OK);
  return s;
}

static long long wino_weights = -1;
static void on_debug_log(dif_log_level level, const char *msg, void *user) {
  (void)level, (void)user;
  long long n, refused;
  double mib;
  if (sscanf(msg, "%lld 3x3 weights by float32 Winograd, %lf MiB (%lld refused", &n, &mib,
             &refused) == 3)
    wino_weights = n + refused;
}

/* An exact context keeps the convolutions too small for its Winograd
 * backend to pay on im2col + sgemm (dif__backend.conv3x3_f32_slow), each
 * backend by its own rule: tiny-sd at 16 x 16 (latents 8 x 8) asks
 * Winograd for so many of its 34 3x3 weights (all 34 without the rules;
 * the golden runner's --wino tests run them all so). openblas: F(4,3) (cin
 * x cout >= 64 x 128) with one tile: its UNet's 128 -> 64 at the 2x2
 * deepest level; onednn: every output of at most 8x8 with OH x OW x cin x
 * cout under 2^20. Each backend that runs here (DIF_WINO_BACKEND). */
static long long wino_asked(const char *backend, int size) {
  const char *was = getenv("DIF_WINO_BACKEND"); /* restored below */
  char *saved = was ? strdup(was) : NULL;
  setenv("DIF_WINO_BACKEND", backend, 1);
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(dif_context_set_precision(ctx, DIF_PRECISION_EXACT) == DIF_OK);
  CHECK(dif_context_set_log(ctx, on_debug_log, DIF_LOG_DEBUG, NULL) == DIF_OK);
  CHECK_MSG(dif_context_load(ctx, dif__test_path(SD)) == DIF_OK, "%s", dif_context_last_error(ctx));
  dif_prompt *p = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK(dif_prompt_add_text(p, "a lighthouse", 1.0f) == DIF_OK);
  dif_sample *s = NULL;
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  CHECK(dif_sample_set_size(s, size, size) == DIF_OK);
  CHECK(dif_sample_set_steps(s, 2) == DIF_OK);
  wino_weights = -1;
  CHECK_MSG(dif_sample_run(s) == DIF_OK, "%s", dif_sample_last_error(s));
  dif_sample_free(s);
  dif_prompt_free(p);
  dif_context_free(ctx);
  if (saved)
    setenv("DIF_WINO_BACKEND", saved, 1);
  else
    unsetenv("DIF_WINO_BACKEND");
  free(saved);
  return wino_weights;
}

TEST(small_convolutions_skip_winograd) {
  struct rlimit lim;
  if (getrlimit(RLIMIT_AS, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    printf("     skipped: a context has no Winograd under an address-space limit\n");
    return;
  }
  static const struct {
    const char *backend;
    long long asked;
  } expect[] = {{"openblas", 33}, {"onednn", 6}};
  int ran = 0;
  for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
    char why[256] = "";
    if (!dif__backend_wino_named(expect[i].backend, why, sizeof why)) {
      printf("     %s: skipped (%s)\n", expect[i].backend, why);
      continue;
    }
    const long long n = wino_asked(expect[i].backend, 16);
    CHECK_MSG(n == expect[i].asked, "%s: %lld weights asked for by Winograd, expected %lld",
              expect[i].backend, n, expect[i].asked);
    ran++;
  }
  CHECK(ran >= 1); /* openblas's runs everywhere */
}

TEST(progress_and_cancel) {
  dif_context *ctx = load(UNCLIP, PRIOR, 2);
  dif_sample *s = small_sample(ctx, 7);
  CHECK(dif_sample_set_progress(s, on_progress, &steps_seen) == DIF_OK);
  steps_seen = 0;
  cancel_at = 0;
  CHECK(dif_sample_run(s) == DIF_OK);
  CHECK(steps_seen == 9); /* 3 prior + 6 decoder steps */
  cancel_at = 4;
  CHECK_STATUS(dif_sample_run(s), DIF_ERR_CANCELLED, dif_sample_last_error(s), "cancelled");
  CHECK(steps_seen == 4);
  CHECK(dif_sample_image_count(s) == 1); /* the previous result stays */
  /* the context and the sample stay usable */
  cancel_at = 0;
  CHECK(dif_sample_run(s) == DIF_OK);
  dif_sample_free(s);
  dif_context_free(ctx);
}

TEST(prior_with_the_unclip_scheduler) {
  /* Karlo's own UnCLIPScheduler works too (a different image than DDPM's) */
  dif_context *ctx = load(UNCLIP, PRIOR, 2);
  dif_sample *a = small_sample(ctx, 11), *b = small_sample(ctx, 11);
  CHECK(dif_sample_set_prior_scheduler(b, "unclip") == DIF_OK);
  CHECK_STATUS(dif_sample_set_prior_scheduler(b, "nope"), DIF_ERR_UNSUPPORTED,
               dif_sample_last_error(b), "unclip");
  CHECK(dif_sample_run(a) == DIF_OK);
  CHECK_MSG(dif_sample_run(b) == DIF_OK, "%s", dif_sample_last_error(b));
  size_t n = dif_sample_image_bytes(a);
  uint8_t *pa = malloc(n), *pb = malloc(n);
  dif_sample_copy_image(a, 0, pa, n);
  dif_sample_copy_image(b, 0, pb, n);
  CHECK(memcmp(pa, pb, n) != 0);
  CHECK(strstr(dif_sample_parameters(b), "\"prior_scheduler\":\"unclip\"") != NULL);
  free(pa);
  free(pb);
  dif_sample_free(a);
  dif_sample_free(b);
  dif_context_free(ctx);
}

TEST(start_poll_wait_cancel) {
  dif_context *ctx = load(UNCLIP, PRIOR, 2);
  dif_sample *s = small_sample(ctx, 8);
  CHECK(dif_sample_start(s) == DIF_OK);
  CHECK_STATUS(dif_sample_start(s), DIF_ERR_BUSY, dif_sample_last_error(s), "running");
  CHECK_STATUS(dif_sample_set_steps(s, 3), DIF_ERR_BUSY, dif_sample_last_error(s), "running");
  int32_t step = -1, total = -1;
  dif_status st;
  while ((st = dif_sample_poll(s, &step, &total)) == DIF_ERR_BUSY)
    CHECK(step <= total || total == 0);
  CHECK(st == DIF_OK);
  CHECK(dif_sample_wait(s) == DIF_OK);
  CHECK(step == total && total == 9);
  /* cancel from this thread while it runs */
  CHECK(dif_sample_set_steps(s, 200) == DIF_OK);
  CHECK(dif_sample_start(s) == DIF_OK);
  CHECK(dif_sample_cancel(s) == DIF_OK);
  CHECK_STATUS(dif_sample_wait(s), DIF_ERR_CANCELLED, dif_sample_last_error(s), "cancelled");
  CHECK(dif_sample_poll(s, NULL, NULL) == DIF_ERR_CANCELLED);
  /* freeing a running sample cancels and waits */
  CHECK(dif_sample_start(s) == DIF_OK);
  dif_sample_free(s);
  dif_context_free(ctx);
}

TEST(png_with_parameters_and_random_seed) {
  dif_context *ctx = load(UNCLIP, PRIOR, 2);
  dif_sample *s = small_sample(ctx, 0);
  CHECK(dif_sample_set_random_seed(s) == DIF_OK);
  uint64_t seed = dif_sample_seed(s);
  CHECK(dif_sample_run(s) == DIF_OK);
  char path[] = "/tmp/dif-test-XXXXXX";
  CHECK(mkdtemp(path) != NULL);
  char file[64];
  snprintf(file, sizeof file, "%s/out.png", path);
  CHECK(dif_sample_save_png(s, 0, file) == DIF_OK);
  dif__image img;
  dif__error err = {0};
  CHECK(dif__image_load(file, NULL, &img, &err) == DIF_OK);
  uint8_t *px = malloc(dif_sample_image_bytes(s));
  CHECK(dif_sample_copy_image(s, 0, px, dif_sample_image_bytes(s)) == DIF_OK);
  CHECK(memcmp(px, img.rgb, dif_sample_image_bytes(s)) == 0);
  dif__image_free(&img);
  free(px);
  char want[64];
  snprintf(want, sizeof want, "\"seed_u64\":\"%llu\"", (unsigned long long)seed);
  CHECK_MSG(strstr(dif_sample_parameters(s), want) != NULL, "%s", dif_sample_parameters(s));
  CHECK(strstr(dif_sample_parameters(s), "\"text\":\"a red cat\"") != NULL);
  CHECK(strstr(dif_sample_parameters(s), "xxh3") != NULL);
  /* a failing save leaves nothing behind */
  char bad[96];
  snprintf(bad, sizeof bad, "%s/missing-dir/out.png", path);
  CHECK_STATUS(dif_sample_save_png(s, 0, bad), DIF_ERR_IO, dif_sample_last_error(s), "missing-dir");
  remove(file);
  CHECK(rmdir(path) == 0); /* empty: no temporary file was left */
  dif_sample_free(s);
  dif_context_free(ctx);
}

/* N threads × samples on one context == the same samples one by one. */
typedef struct job {
  dif_context *ctx;
  uint64_t seed;
  uint8_t *pixels;
  size_t bytes;
  dif_status status;
} job;

static void *run_job(void *arg) {
  job *j = arg;
  dif_sample *s = small_sample(j->ctx, j->seed);
  CHECK(dif_sample_set_batch(s, 2) == DIF_OK);
  j->status = dif_sample_run(s);
  j->bytes = dif_sample_image_bytes(s) * 2;
  j->pixels = malloc(j->bytes);
  for (int i = 0; i < 2 && j->status == DIF_OK; i++)
    dif_sample_copy_image(s, i, j->pixels + i * (j->bytes / 2), j->bytes / 2);
  dif_sample_free(s);
  return NULL;
}

TEST(concurrent_samples_are_bit_identical) {
  enum { N = 3 };
  dif_context *ctx = load(UNCLIP, PRIOR, 2);
  job serial[N], parallel[N];
  pthread_t th[N];
  for (int i = 0; i < N; i++) {
    serial[i] = (job){ctx, 100 + (uint64_t)i, NULL, 0, DIF_OK};
    run_job(&serial[i]);
  }
  for (int i = 0; i < N; i++) {
    parallel[i] = (job){ctx, 100 + (uint64_t)i, NULL, 0, DIF_OK};
    pthread_create(&th[i], NULL, run_job, &parallel[i]);
  }
  for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < N; i++) {
    CHECK(serial[i].status == DIF_OK && parallel[i].status == DIF_OK);
    CHECK(serial[i].bytes == parallel[i].bytes);
    CHECK_MSG(memcmp(serial[i].pixels, parallel[i].pixels, serial[i].bytes) == 0,
              "sample %d differs when run concurrently", i);
    if (i) CHECK(memcmp(serial[i].pixels, serial[0].pixels, serial[i].bytes) != 0);
  }
  for (int i = 0; i < N; i++) {
    free(serial[i].pixels);
    free(parallel[i].pixels);
  }
  dif_context_free(ctx);
}

/* Same thread count: bit-identical. Another thread count: OpenBLAS sums
 * in another order, so allow a rounding step or two, not a different image. */
TEST(thread_count_changes_at_most_rounding) {
  uint8_t *a = NULL, *b = NULL;
  size_t n = 0;
  for (int t = 1; t <= 3; t += 2) {
    dif_context *ctx = load(UNCLIP, PRIOR, t);
    dif_sample *s = small_sample(ctx, 5);
    CHECK(dif_sample_run(s) == DIF_OK);
    n = dif_sample_image_bytes(s);
    uint8_t *px = malloc(n);
    dif_sample_copy_image(s, 0, px, n);
    if (t == 1)
      a = px;
    else
      b = px;
    dif_sample_free(s);
    dif_context_free(ctx);
  }
  int worst = 0;
  for (size_t i = 0; a && b && i < n; i++) {
    int d = abs((int)a[i] - (int)b[i]);
    worst = d > worst ? d : worst;
  }
  CHECK_MSG(a && b && worst <= 2, "1 vs 3 threads: max pixel difference %d", worst);
  free(a);
  free(b);
}

int main(void) {
  RUN(unclip_text_to_image_matches_diffusers);
  RUN(variation_and_sd_match_diffusers);
  RUN(small_convolutions_skip_winograd);
  RUN(progress_and_cancel);
  RUN(prior_with_the_unclip_scheduler);
  RUN(start_poll_wait_cancel);
  RUN(png_with_parameters_and_random_seed);
  RUN(concurrent_samples_are_bit_identical);
  RUN(thread_count_changes_at_most_rounding);
  return dif__test_finish();
}
