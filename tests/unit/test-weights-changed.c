/* A weights file changed on disk while a context has it mapped (issue 13,
 * item 10). libdif keeps weights mapped, not copied (dif.h, section 5): a
 * file truncated or rewritten in place is refused before the next run with
 * DIF_ERR_IO naming it — before the fix, the run read the vanished pages
 * and the process died with SIGBUS. A file replaced by rename is harmless
 * (the mapping keeps the old one) and runs go on. */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

static char dir[64];

/* A private copy of tiny-sd (the fixtures are never touched). */
static bool copy_model(void) {
  snprintf(dir, sizeof dir, "/tmp/dif-weights-XXXXXX");
  if (!mkdtemp(dir)) return false;
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "cp -R '%s/.' '%s/'", dif__test_path("golden/models/tiny-sd"), dir);
  return system(cmd) == 0;
}

static void remove_model(void) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
}

static dif_sample *loaded_sample(dif_context **ctx) {
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  CHECK(dif_context_new(ctx) == DIF_OK);
  dif_status st = dif_context_load(*ctx, dir);
  CHECK_MSG(st == DIF_OK, "%s", dif_context_last_error(*ctx));
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK(dif_prompt_add_text(p, "a red cat", 1.0f) == DIF_OK);
  CHECK(dif_sample_new(*ctx, p, &s) == DIF_OK);
  dif_prompt_free(p);
  if (s) {
    CHECK(dif_sample_set_size(s, 32, 32) == DIF_OK);
    CHECK(dif_sample_set_steps(s, 2) == DIF_OK);
  }
  return s;
}

/* Runs body on a sample of a fresh private copy of the model, then cleans up;
 * path is that copy's weights file of the named component. */
static void with_copy(const char *component,
                      void (*body)(dif_context *ctx, dif_sample *s, const char *path)) {
  if (!copy_model()) {
    CHECK(!"copying the model");
    return;
  }
  dif_context *ctx = NULL;
  dif_sample *s = loaded_sample(&ctx);
  char path[256];
  snprintf(path, sizeof path, "%s/%s/diffusion_pytorch_model.safetensors", dir, component);
  if (s) body(ctx, s, path);
  dif_sample_free(s);
  dif_context_free(ctx);
  remove_model();
}

static void truncate_unet(dif_context *ctx, dif_sample *s, const char *path) {
  CHECK(dif_sample_run(s) == DIF_OK);
  CHECK(truncate(path, 4096) == 0); /* the same file, most of its pages gone */
  dif_status st = dif_sample_run(s);
  CHECK_MSG(st == DIF_ERR_IO, "status %d: %s", (int)st, dif_sample_last_error(s));
  CHECK(strstr(dif_sample_last_error(s), "unet/diffusion_pytorch_model.safetensors"));
  CHECK(strstr(dif_sample_last_error(s), "changed on disk"));
  size_t n = 0;
  CHECK(dif_context_encode_text(ctx, "a cat", DIF_EMBED_TEXT_HIDDEN, NULL, &n) == DIF_OK);
  float *e = malloc(n * sizeof *e);
  CHECK(dif_context_encode_text(ctx, "a cat", DIF_EMBED_TEXT_HIDDEN, e, &n) == DIF_ERR_IO);
  free(e);
}

static void rewrite_vae(dif_context *ctx, dif_sample *s, const char *path) {
  (void)ctx;
  struct timespec times[2] = {{0, UTIME_OMIT}, {12345, 0}}; /* a write in place: new mtime */
  CHECK(utimensat(AT_FDCWD, path, times, 0) == 0);
  CHECK(dif_sample_run(s) == DIF_ERR_IO);
  CHECK(strstr(dif_sample_last_error(s), "vae/diffusion_pytorch_model.safetensors"));
}

static void rename_over_unet(dif_context *ctx, dif_sample *s, const char *path) {
  (void)ctx;
  char cmd[1100];
  snprintf(cmd, sizeof cmd, "cp '%s' '%s.new' && mv '%s.new' '%s'", path, path, path, path);
  CHECK(system(cmd) == 0);
  dif_status st = dif_sample_run(s);
  CHECK_MSG(st == DIF_OK, "%s", dif_sample_last_error(s));
}

TEST(truncated_in_place_is_refused_before_the_run) { with_copy("unet", truncate_unet); }
TEST(rewritten_in_place_is_refused) { with_copy("vae", rewrite_vae); }
TEST(replaced_by_rename_runs_on) { with_copy("unet", rename_over_unet); }

int main(void) {
  RUN(truncated_in_place_is_refused_before_the_run);
  RUN(rewritten_in_place_is_refused);
  RUN(replaced_by_rename_runs_on);
  return dif__test_finish();
}
