/* fuzz-record.c — libFuzzer harness for generation records, the path of
 * `dif generate --from`: a PNG's "dif:parameters" text chunk → JSON →
 * dif_prompt_from_record + dif_sample_apply_record (lib/api/parameters.c).
 *
 * The input's first byte picks the way in:
 *   'R'  the rest is a PNG file, read with dif_read_png_parameters;
 *   'P'  the rest is the record's text, written into a PNG with dif_write_png
 *        and read back (it must come back byte for byte);
 *   else the whole input is the record's JSON.
 * The record's folder is a scratch folder holding in.png (a real image whose
 * xxh3 the seeds name, so records reach the decoder) and secret.png (a
 * random token made at start-up that must never appear in a message, as
 * text or as hex, unless the input itself holds it; it is searched for with
 * a plain loop, not strstr, which libFuzzer would feed into its dictionary). The sample belongs to
 * tiny-sd, loaded once; nothing is run. Beyond "no crash, no sanitizer report, no leak" it checks:
 *   - a failure has a message, and no message carries secret.png's bytes
 *     (as text or as hex);
 *   - a prompt that was built has 1..DIF_MAX_PROMPT_PARTS parts.
 *
 * Built by tests/fuzz/CMakeLists.txt (-DDIF_FUZZ=ON); the environment
 * variable DIF_FUZZ_GOLDEN overrides the folder that holds models/tiny-sd
 * and cases/pipelines/input_32x32.png (default: the source tree's
 * tests/golden). Seeds: tests/fuzz/corpus/record/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dif.h"

#ifndef DIF_FUZZ_GOLDEN
#define DIF_FUZZ_GOLDEN "tests/golden"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);                 \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static char secret[17], secret_hex[12]; /* the token, its first 4 bytes as "xx xx xx xx" */
static char dir[] = "/tmp/dif-fuzz-record-XXXXXX";
static char png_path[64], in_path[64], secret_path[64];
static dif_context *ctx;
static dif_sample *sample;

static void copy_file(const char *from, const char *to) {
  FILE *f = fopen(from, "rb"), *g = fopen(to, "wb");
  REQUIRE(f && g);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) REQUIRE(fwrite(buf, 1, n, g) == n);
  fclose(f);
  fclose(g);
}

static void write_file(const char *path, const void *bytes, size_t n) {
  FILE *f = fopen(path, "wb");
  REQUIRE(f && fwrite(bytes, 1, n, f) == n);
  fclose(f);
}

static void cleanup(void) {
  dif_sample_free(sample);
  dif_context_free(ctx);
  remove(png_path);
  remove(in_path);
  remove(secret_path);
  rmdir(dir);
}

static void setup(void) {
  const char *golden = getenv("DIF_FUZZ_GOLDEN");
  if (!golden) golden = DIF_FUZZ_GOLDEN;
  REQUIRE(mkdtemp(dir) != NULL);
  snprintf(png_path, sizeof png_path, "%s/record.png", dir);
  snprintf(in_path, sizeof in_path, "%s/in.png", dir);
  snprintf(secret_path, sizeof secret_path, "%s/secret.png", dir);
  char path[4096];
  snprintf(path, sizeof path, "%s/cases/pipelines/input_32x32.png", golden);
  copy_file(path, in_path);
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  FILE *r = fopen("/dev/urandom", "rb");
  REQUIRE(r);
  for (int i = 0; i < 16; i++) secret[i] = abc[(unsigned)fgetc(r) % (sizeof abc - 1)];
  fclose(r);
  snprintf(secret_hex, sizeof secret_hex, "%02x %02x %02x %02x", secret[0], secret[1], secret[2],
           secret[3]);
  write_file(secret_path, secret, 16);
  snprintf(path, sizeof path, "%s/models/tiny-sd", golden);
  dif_prompt *p = NULL;
  if (dif_context_new(&ctx) || dif_context_set_threads(ctx, 1) || dif_context_load(ctx, path) ||
      dif_prompt_new(&p) || dif_prompt_add_text(p, "a cat", 1.0f) ||
      dif_sample_new(ctx, p, &sample)) {
    fprintf(stderr, "fuzz-record: cannot set up tiny-sd at %s: %s\n", path,
            dif_context_last_error(ctx));
    abort();
  }
  dif_prompt_free(p);
  atexit(cleanup);
}

static const char *input; /* this run's record text, NUL-terminated */

static int contains(const char *hay, const char *needle) {
  for (; *hay; hay++) {
    size_t i = 0;
    while (needle[i] && hay[i] == needle[i]) i++;
    if (!needle[i]) return 1;
  }
  return 0;
}

/* A failure has a message; it holds secret.png's bytes only if the record does. */
static void check_message(const char *msg) {
  REQUIRE(msg && msg[0]);
  REQUIRE(!contains(msg, secret) || contains(input, secret));
  REQUIRE(!contains(msg, secret_hex) || contains(input, secret_hex));
}

static void use_record(const char *json) {
  input = json;
  dif_prompt *p = NULL;
  dif_status st = dif_prompt_from_record(json, dir, &p);
  if (st) {
    REQUIRE(p == NULL);
    check_message(dif_last_error());
  } else {
    REQUIRE(dif_prompt_part_count(p) >= 1 && dif_prompt_part_count(p) <= DIF_MAX_PROMPT_PARTS);
  }
  dif_prompt_free(p);
  if (dif_sample_apply_record(sample, json, dir)) check_message(dif_sample_last_error(sample));
  /* the folder-less forms accept no more than the ones with a folder */
  p = NULL;
  if (dif_prompt_from_parameters(json, &p) == DIF_OK)
    REQUIRE(st == DIF_OK);
  else
    check_message(dif_last_error());
  dif_prompt_free(p);
}

/* The record of the PNG at png_path, or NULL. */
static char *read_record(void) {
  size_t size = 0;
  if (dif_read_png_parameters(png_path, NULL, &size)) {
    REQUIRE(dif_last_error()[0] != '\0');
    return NULL;
  }
  char *json = malloc(size);
  REQUIRE(json && dif_read_png_parameters(png_path, json, &size) == DIF_OK);
  REQUIRE(strlen(json) + 1 == size);
  return json;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!ctx) setup();
  if (size > 1 << 16) return 0;
  if (size > 0 && data[0] == 'R') { /* a PNG file */
    write_file(png_path, data + 1, size - 1);
    char *json = read_record();
    if (json) use_record(json);
    free(json);
    return 0;
  }
  int wrap = size > 0 && data[0] == 'P';
  char *text = malloc(size + 1);
  REQUIRE(text);
  memcpy(text, data + wrap, size - (size_t)wrap);
  text[size - (size_t)wrap] = '\0';
  if (wrap) { /* through a PNG text chunk and back */
    static const uint8_t rgb[3] = {1, 2, 3};
    if (strlen(text) == size - 1 && dif_write_png(png_path, rgb, 1, 1, 3, text) == DIF_OK) {
      char *json = read_record();
      REQUIRE(json && strcmp(json, text) == 0);
      free(json);
    } else {
      free(text);
      return 0;
    }
  }
  use_record(text);
  free(text);
  return 0;
}
