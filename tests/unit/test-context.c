/* Public API basics: versions, status names, context setters and errors. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "test.h"

TEST(version_agrees) {
  char buf[32];
  snprintf(buf, sizeof buf, "%d.%d.%d", DIF_VERSION_MAJOR, DIF_VERSION_MINOR, DIF_VERSION_PATCH);
  CHECK(strcmp(dif_version_string(), buf) == 0);
  CHECK(dif_version() == DIF_VERSION_NUMBER);
  CHECK(dif_version() == DIF_VERSION_MAJOR * 10000 + DIF_VERSION_MINOR * 100 + DIF_VERSION_PATCH);
}

TEST(status_values_are_fixed) {
  /* These numbers are ABI: bindings hard-code them. */
  CHECK(DIF_OK == 0);
  CHECK(DIF_ERR_INVALID_ARGUMENT == 1);
  CHECK(DIF_ERR_IO == 2);
  CHECK(DIF_ERR_BAD_MODEL == 3);
  CHECK(DIF_ERR_BAD_IMAGE == 4);
  CHECK(DIF_ERR_UNSUPPORTED == 5);
  CHECK(DIF_ERR_OUT_OF_MEMORY == 6);
  CHECK(DIF_ERR_LIMIT == 7);
  CHECK(DIF_ERR_CANCELLED == 8);
  CHECK(DIF_ERR_BUSY == 9);
  CHECK(DIF_ERR_INTERNAL == 10);
  CHECK(DIF_ERR_NON_FINITE == 11);
  for (int s = 0; s <= 11; s++) {
    const char *name = dif_status_string((dif_status)s);
    CHECK(name && *name && strcmp(name, "unknown status") != 0);
  }
  CHECK(strcmp(dif_status_string((dif_status)999), "unknown status") == 0);
  CHECK(strcmp(dif_status_string((dif_status)-1), "unknown status") == 0);
}

TEST(null_arguments) {
  CHECK_STATUS(dif_context_new(NULL), DIF_ERR_INVALID_ARGUMENT, dif_last_error(), "NULL");
  CHECK_STATUS(dif_context_set_threads(NULL, 2), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "ctx is NULL");
  CHECK_STATUS(dif_context_set_log(NULL, NULL, DIF_LOG_INFO, NULL), DIF_ERR_INVALID_ARGUMENT,
               dif_last_error(), "ctx is NULL");
  CHECK(dif_context_threads(NULL) == 0);
  CHECK(dif_context_last_error(NULL) != NULL);
  dif_context_free(NULL); /* no-op */
}

TEST(threads_setter) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(ctx != NULL);
  CHECK(strcmp(dif_context_last_error(ctx), "") == 0);
  CHECK(dif_context_threads(ctx) >= 1);
  CHECK(dif_context_set_threads(ctx, 3) == DIF_OK);
  CHECK(dif_context_threads(ctx) == 3);
  CHECK_STATUS(dif_context_set_threads(ctx, -1), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx), "-1");
  CHECK_STATUS(dif_context_set_threads(ctx, DIF_MAX_THREADS + 1), DIF_ERR_LIMIT,
               dif_context_last_error(ctx), "DIF_MAX_THREADS");
  CHECK(dif_context_threads(ctx) == 3);
  CHECK(dif_context_set_threads(ctx, 0) == DIF_OK);
  CHECK(dif_context_threads(ctx) >= 1);
  CHECK(strcmp(dif_context_last_error(ctx), "") == 0);
  dif_context_free(ctx);
}

static int log_calls;
static void on_log(dif_log_level level, const char *msg, void *user) {
  (void)level;
  (void)msg;
  CHECK(user == &log_calls);
  log_calls++;
}

TEST(log_setter) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(dif_context_set_log(ctx, on_log, DIF_LOG_DEBUG, &log_calls) == DIF_OK);
  CHECK_STATUS(dif_context_set_log(ctx, on_log, (dif_log_level)42, &log_calls),
               DIF_ERR_INVALID_ARGUMENT, dif_context_last_error(ctx), "log level");
  CHECK(log_calls == 1); /* the failure above was logged as an error */
  dif_context_free(ctx);
}

TEST(blas_core_named) {
  const char *core = dif_blas_core();
  CHECK(core != NULL && *core != '\0');
  printf("     BLAS core: %s\n", core);
}

static uint64_t file_xxh3(const char *path, uint64_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *buf = malloc((size_t)n);
  uint64_t h = 0;
  if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) h = XXH3_64bits(buf, (size_t)n);
  free(buf);
  fclose(f);
  *size = (uint64_t)n;
  return h;
}

TEST(load_tiny_unclip_fingerprints) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(dif_context_model_file_count(ctx) == 0);
  dif_status s = dif_context_load(ctx, dif__test_path("golden/models/tiny-unclip"));
  CHECK_MSG(s == DIF_OK, "%s", dif_context_last_error(ctx));
  /* image_encoder, image_normalizer, text_encoder, unet, vae have weights */
  CHECK(dif_context_model_file_count(ctx) == 5);
  for (int i = 0; i < dif_context_model_file_count(ctx); i++) {
    const char *rel = NULL;
    uint64_t size = 0, h = 0, want_size = 0;
    CHECK(dif_context_model_file(ctx, i, &rel, &size, &h) == DIF_OK);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dif__test_path("golden/models/tiny-unclip"), rel);
    uint64_t want = file_xxh3(path, &want_size);
    CHECK_MSG(h == want && size == want_size, "%s: %016llx != %016llx", rel, (unsigned long long)h,
              (unsigned long long)want);
  }
  CHECK(strstr(dif_context_last_error(ctx), "") != NULL);
  CHECK_STATUS(dif_context_model_file(ctx, 5, NULL, NULL, NULL), DIF_ERR_INVALID_ARGUMENT,
               dif_last_error(), "out of range");
  CHECK_STATUS(dif_context_load(ctx, dif__test_path("golden/models/tiny-sd")), DIF_ERR_BUSY,
               dif_context_last_error(ctx), "already loaded");
  CHECK_STATUS(dif_context_set_threads(ctx, 1), DIF_ERR_BUSY, dif_context_last_error(ctx),
               "frozen");
  dif_context_free(ctx);
}

TEST(load_errors) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK_STATUS(dif_context_load(NULL, "x"), DIF_ERR_INVALID_ARGUMENT, dif_last_error(), "NULL");
  CHECK_STATUS(dif_context_load(ctx, NULL), DIF_ERR_INVALID_ARGUMENT, dif_context_last_error(ctx),
               "model_dir is NULL");
  CHECK_STATUS(dif_context_load(ctx, "/nonexistent/model"), DIF_ERR_IO, dif_context_last_error(ctx),
               "/nonexistent/model");
  /* An index naming a pipeline libdif does not know is refused by name. */
  char dir[] = "/tmp/dif-test-model-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[256];
  snprintf(path, sizeof path, "%s/model_index.json", dir);
  FILE *f = fopen(path, "w");
  fputs("{\"_class_name\": \"KandinskyV22Pipeline\", \"unet\": [\"diffusers\", "
        "\"UNet2DConditionModel\"]}",
        f);
  fclose(f);
  CHECK_STATUS(dif_context_load(ctx, dir), DIF_ERR_UNSUPPORTED, dif_context_last_error(ctx),
               "KandinskyV22Pipeline");
  /* An empty folder has nothing to load. */
  remove(path);
  CHECK_STATUS(dif_context_load(ctx, dir), DIF_ERR_BAD_MODEL, dif_context_last_error(ctx),
               "no unet/ component");
  rmdir(dir);
  /* The context stays usable after failures. */
  CHECK(dif_context_model_file_count(ctx) == 0);
  CHECK(dif_context_set_threads(ctx, 2) == DIF_OK);
  dif_context_free(ctx);
}

int main(void) {
  RUN(version_agrees);
  RUN(status_values_are_fixed);
  RUN(null_arguments);
  RUN(threads_setter);
  RUN(log_setter);
  RUN(blas_core_named);
  RUN(load_tiny_unclip_fingerprints);
  RUN(load_errors);
  return dif__test_finish();
}
