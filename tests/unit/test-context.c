/* Public API basics: versions, status names, context setters and errors. */
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
  for (int s = 0; s <= 10; s++) {
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

int main(void) {
  RUN(version_agrees);
  RUN(status_values_are_fixed);
  RUN(null_arguments);
  RUN(threads_setter);
  RUN(log_setter);
  RUN(blas_core_named);
  return dif_test_finish();
}
