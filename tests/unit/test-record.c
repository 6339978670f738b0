/* The generation record ("dif:parameters") read back as untrusted input:
 * duplicate keys, wrong types, 64-bit values, unknown keys and bad seeds are
 * refused with the key named; image files only relative to the record's
 * folder and only when their bytes match the stored xxh3, with no byte of
 * another file in any message; and records written by dif_sample_save_png
 * name their images relative to the PNG and reproduce the same pixels. */
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#define UNCLIP "golden/models/tiny-unclip"
#define SD "golden/models/tiny-sd"
#define IMAGE "golden/cases/pipelines/input_32x32.png"

static char dir[] = "/tmp/dif-record-XXXXXX";

static dif_context *load(const char *model) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(dif_context_set_threads(ctx, 2) == DIF_OK);
  dif_status s = dif_context_load(ctx, dif_test_path(model));
  CHECK_MSG(s == DIF_OK, "%s", dif_context_last_error(ctx));
  return ctx;
}

static dif_sample *text_sample(dif_context *ctx) {
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK(dif_prompt_add_text(p, "a cat", 1.0f) == DIF_OK);
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  dif_prompt_free(p);
  return s;
}

static void write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (!f) return;
  CHECK(fwrite(data, 1, len, f) == len);
  fclose(f);
}

static void copy_file(const char *from, const char *to) {
  FILE *f = fopen(from, "rb");
  CHECK(f != NULL);
  if (!f) return;
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  write_file(to, buf, n);
}

static const char *in_dir(const char *name) {
  static char path[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
  return path[k];
}

/* dif_prompt_from_parameters refuses json; the message has `want`. */
static void prompt_refused(const char *json, dif_status st, const char *want) {
  dif_prompt *p = NULL;
  CHECK_STATUS(dif_prompt_from_parameters(json, &p), st, dif_last_error(), want);
  CHECK(p == NULL);
  dif_prompt_free(p);
}

/* dif_sample_apply_parameters refuses json; the message has `want`. */
static void apply_refused(dif_context *ctx, const char *json, const char *want) {
  dif_sample *s = text_sample(ctx);
  CHECK_STATUS(dif_sample_apply_parameters(s, json), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), want);
  dif_sample_free(s);
}

#define PROMPT "\"prompt\":[{\"text\":\"a cat\",\"weight\":1.0}]"

TEST(text_records_still_work) {
  dif_prompt *p = NULL;
  CHECK_MSG(dif_prompt_from_parameters("{" PROMPT ",\"negative\":\"blurry\"}", &p) == DIF_OK, "%s",
            dif_last_error());
  CHECK(dif_prompt_part_count(p) == 1);
  dif_prompt_free(p);
  dif_context *ctx = load(SD);
  dif_sample *s = text_sample(ctx);
  dif_status st = dif_sample_apply_parameters(
      s, "{" PROMPT ",\"width\":16,\"height\":8,\"steps\":3,\"guidance\":7,\"seed\":-1,"
         "\"seed_u64\":\"18446744073709551615\",\"blend\":\"slerp\",\"batch\":2}");
  CHECK_MSG(st == DIF_OK, "%s", dif_sample_last_error(s));
  CHECK(dif_sample_seed(s) == UINT64_MAX);
  dif_sample_free(s);
  dif_context_free(ctx);
}

TEST(duplicate_keys_are_refused) {
  prompt_refused("{" PROMPT ",\"steps\":2,\"steps\":3}", DIF_ERR_INVALID_ARGUMENT,
                 "duplicate key \"steps\"");
  prompt_refused("{\"prompt\":[{\"text\":\"a\",\"text\":\"b\",\"weight\":1}]}",
                 DIF_ERR_INVALID_ARGUMENT, "duplicate key");
  dif_context *ctx = load(SD);
  apply_refused(ctx, "{" PROMPT ",\"guidance\":7,\"guidance\":1}", "duplicate key");
  dif_context_free(ctx);
}

TEST(types_and_ranges_are_exact) {
  dif_context *ctx = load(SD);
  apply_refused(ctx, "{" PROMPT ",\"guidance\":\"7\"}",
                "\"guidance\" must be a number, not a string");
  apply_refused(ctx, "{" PROMPT ",\"steps\":4294967297}", "\"steps\" must be an integer from 1 to");
  apply_refused(ctx, "{" PROMPT ",\"steps\":25.0}", "\"steps\" must be a JSON integer");
  apply_refused(ctx, "{" PROMPT ",\"steps\":\"25\"}", "\"steps\" must be a JSON integer");
  apply_refused(ctx, "{" PROMPT ",\"width\":4294967360,\"height\":64}", "\"width\"");
  apply_refused(ctx, "{" PROMPT ",\"width\":64}", "\"height\"");
  apply_refused(ctx, "{" PROMPT ",\"batch\":-4294967295}", "\"batch\"");
  apply_refused(ctx, "{" PROMPT ",\"guidance\":1e300}", "\"guidance\" must be a number within");
  apply_refused(ctx, "{" PROMPT ",\"scheduler\":7}", "\"scheduler\" must be a string");
  apply_refused(ctx, "{" PROMPT ",\"blend\":\"mix\"}", "\"blend\"");
  apply_refused(ctx, "{" PROMPT ",\"seed_u64\":\"18446744073709551616\"}", "\"seed_u64\"");
  apply_refused(ctx, "{" PROMPT ",\"seed_u64\":\"12x\"}", "\"seed_u64\"");
  apply_refused(ctx, "{" PROMPT ",\"seed\":1,\"seed_u64\":\"2\"}", "\"seed\" and \"seed_u64\"");
  apply_refused(ctx, "{" PROMPT ",\"stepz\":2}", "unknown key \"stepz\"");
  apply_refused(ctx, "{" PROMPT ",\"init_image\":{\"image\":\"a.png\",\"strength\":0.5}}",
                "\"init_image.xxh3\" is missing");
  apply_refused(ctx, "{" PROMPT ",\"model\":{\"files\":[{\"file\":1}]}}",
                "\"model.files[0].file\"");
  apply_refused(ctx, "[1]", "must be a JSON object, not an array");
  apply_refused(ctx, "{\"steps\":2}", "\"prompt\" is missing");
  /* a setter's range, with the key named */
  apply_refused(ctx, "{" PROMPT ",\"guidance\":-1}", "\"guidance\"");
  /* masks and edits (issue 16) */
  apply_refused(ctx, "{" PROMPT ",\"mask\":{\"rect\":[1,2,3]}}",
                "\"mask.rect\" must be 4 integers");
  apply_refused(ctx, "{" PROMPT ",\"mask\":{\"rect\":[1,2,3,-4]}}", "\"mask.rect\"");
  apply_refused(ctx, "{" PROMPT ",\"mask\":{}}", "either \"image\" or \"rect\"");
  apply_refused(ctx, "{" PROMPT ",\"mask\":{\"image\":\"m.png\"}}", "\"mask.xxh3\" is missing");
  apply_refused(ctx, "{" PROMPT ",\"mask\":{\"rect\":[0,0,8,8],\"blur\":1}}",
                "unknown key \"mask.blur\"");
  apply_refused(ctx, "{" PROMPT ",\"mask\":{\"rect\":[0,0,8,8],\"crop_padding\":-1}}",
                "\"mask.crop_padding\" must be an integer from 0 to 4096");
  apply_refused(ctx, "{" PROMPT ",\"mask\":{\"rect\":[0,0,8,8],\"crop_padding\":\"4\"}}",
                "\"mask.crop_padding\" must be a JSON integer");
  apply_refused(ctx, "{" PROMPT ",\"mask\":{\"rect\":[0,0,8,8],\"crop_padding\":4.5}}",
                "\"mask.crop_padding\"");
  apply_refused(ctx, "{" PROMPT ",\"edit\":{\"op\":\"zoom_in\",\"width\":64,\"height\":64}}",
                "\"edit.op\" must be");
  apply_refused(ctx, "{" PROMPT ",\"edit\":{\"op\":\"zoom_out\",\"width\":64,\"height\":64}}",
                "\"edit.factor\" is missing");
  apply_refused(ctx,
                "{" PROMPT ",\"edit\":{\"op\":\"pan\",\"direction\":\"in\",\"amount\":0.5,"
                "\"width\":64,\"height\":64}}",
                "\"edit.direction\" must be");
  apply_refused(ctx, "{" PROMPT ",\"edit\":{\"op\":\"make_square\",\"width\":64}}",
                "\"edit.height\" is missing");
  apply_refused(ctx,
                "{" PROMPT ",\"edit\":{\"op\":\"zoom_out\",\"factor\":7,\"width\":64,"
                "\"height\":64}}",
                "\"edit.factor\": dif_sample_set_zoom_out: factor 7 must be in (1, 4]");
  /* nothing is applied from a refused record */
  dif_sample *s = text_sample(ctx);
  CHECK(dif_sample_set_seed(s, 5) == DIF_OK);
  CHECK(dif_sample_apply_parameters(s, "{" PROMPT ",\"seed\":6,\"steps\":2.5}") != DIF_OK);
  CHECK(dif_sample_seed(s) == 5);
  dif_sample_free(s);
  dif_context_free(ctx);
  prompt_refused("{\"prompt\":[{\"text\":\"a\",\"weight\":\"1\"}]}", DIF_ERR_INVALID_ARGUMENT,
                 "\"prompt[0].weight\" must be a number");
  prompt_refused("{\"prompt\":[{\"text\":\"a\"}]}", DIF_ERR_INVALID_ARGUMENT,
                 "\"prompt[0].weight\" is missing");
  prompt_refused("{\"prompt\":[{\"text\":\"a\",\"weight\":1,\"extra\":\"\\u001b[2J\"}]}",
                 DIF_ERR_INVALID_ARGUMENT, "unknown key \"prompt[0].extra\"");
  prompt_refused("{\"prompt\":[{\"text\":\"a\",\"weight\":1,\"\\u001b[2J\":0}]}",
                 DIF_ERR_INVALID_ARGUMENT, "unknown key \"prompt[0].\\x1b[2J\"");
  prompt_refused("{\"prompt\":[]}", DIF_ERR_INVALID_ARGUMENT, "\"prompt\" must have 1 to");
  prompt_refused("{\"prompt\":[{\"weight\":1}]}", DIF_ERR_INVALID_ARGUMENT, "either");
  prompt_refused("{\"prompt\":[{\"text\":\"a\",\"weight\":1}]} x", DIF_ERR_INVALID_ARGUMENT,
                 "not valid JSON");
}

/* A file that must never be echoed, and records that point at it. */
static const char secret[] = "root:$6$SECRET-HASH:19000:0:99999:7:::\n";

static void check_not_echoed(const char *msg) {
  CHECK_MSG(!strstr(msg, "SECRET") && !strstr(msg, "root") && !strstr(msg, "72 6f") &&
                !strstr(msg, "726f"),
            "%s", msg);
}

TEST(image_paths_are_confined_and_verified) {
  write_file(in_dir("secret.png"), secret, sizeof secret - 1);
  char json[1024];
  dif_prompt *p = NULL;
  /* the absolute path, through the folder-less call as on main */
  snprintf(json, sizeof json,
           "{\"prompt\":[{\"image\":\"%s\",\"xxh3\":\"0123456789abcdef\",\"weight\":1}]}",
           in_dir("secret.png"));
  CHECK(dif_prompt_from_parameters(json, &p) != DIF_OK);
  check_not_echoed(dif_last_error());
  CHECK_STATUS(dif_prompt_from_record(json, dir, &p), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "absolute path");
  check_not_echoed(dif_last_error());
  /* "..", however spelled */
  const char *dotdot[] = {"../x/secret.png", "a/../../secret.png", "..", "./..//secret.png"};
  for (size_t i = 0; i < sizeof dotdot / sizeof *dotdot; i++) {
    snprintf(json, sizeof json,
             "{\"prompt\":[{\"image\":\"%s\",\"xxh3\":\"0123456789abcdef\",\"weight\":1}]}",
             dotdot[i]);
    CHECK_STATUS(dif_prompt_from_record(json, dir, &p), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
                 "\"..\"");
  }
  /* relative, inside the folder, but not the bytes the record names */
  const char *wrong = "{\"prompt\":[{\"image\":\"secret.png\",\"xxh3\":\"0123456789abcdef\","
                      "\"weight\":1}]}";
  CHECK_STATUS(dif_prompt_from_record(wrong, dir, &p), DIF_ERR_BAD_IMAGE, dif_last_error(),
               "prompt[0]");
  CHECK(strstr(dif_last_error(), "secret.png") != NULL);
  CHECK(strstr(dif_last_error(), "xxh3") != NULL);
  check_not_echoed(dif_last_error());
  /* no xxh3 at all, a malformed one, no folder */
  CHECK_STATUS(
      dif_prompt_from_record("{\"prompt\":[{\"image\":\"secret.png\",\"weight\":1}]}", dir, &p),
      DIF_ERR_INVALID_ARGUMENT, dif_last_error(), "\"prompt[0].xxh3\" is missing");
  CHECK_STATUS(
      dif_prompt_from_record(
          "{\"prompt\":[{\"image\":\"secret.png\",\"xxh3\":\"xyz\",\"weight\":1}]}", dir, &p),
      DIF_ERR_INVALID_ARGUMENT, dif_last_error(), "16 lowercase hex digits");
  CHECK_STATUS(dif_prompt_from_parameters(wrong, &p), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "record's folder");
  CHECK(p == NULL);
  /* the init image follows the same rules */
  dif_context *ctx = load(SD);
  dif_sample *s = text_sample(ctx);
  snprintf(json, sizeof json,
           "{" PROMPT ",\"init_image\":{\"image\":\"%s\",\"xxh3\":\"0123456789abcdef\","
           "\"strength\":0.5}}",
           in_dir("secret.png"));
  CHECK(dif_sample_apply_parameters(s, json) != DIF_OK);
  check_not_echoed(dif_sample_last_error(s));
  CHECK_STATUS(dif_sample_apply_record(s, json, dir), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "absolute path");
  CHECK_STATUS(dif_sample_apply_record(s,
                                       "{" PROMPT ",\"init_image\":{\"image\":\"secret.png\","
                                       "\"xxh3\":\"0123456789abcdef\",\"strength\":0.5}}",
                                       dir),
               DIF_ERR_BAD_IMAGE, dif_sample_last_error(s), "init_image");
  check_not_echoed(dif_sample_last_error(s));
  dif_sample_free(s);
  dif_context_free(ctx);
  remove(in_dir("secret.png"));
}

static size_t read_record(const char *png, char *buf, size_t n) {
  size_t size = n;
  dif_status st = dif_read_png_parameters(png, buf, &size);
  CHECK_MSG(st == DIF_OK, "%s", dif_last_error());
  return st == DIF_OK ? size : 0;
}

static uint8_t *pixels_of(dif_sample *s) {
  uint8_t *px = malloc(dif_sample_image_bytes(s));
  CHECK(dif_sample_copy_image(s, 0, px, dif_sample_image_bytes(s)) == DIF_OK);
  return px;
}

TEST(saved_records_name_images_relative_to_the_png) {
  CHECK(mkdir(in_dir("refs"), 0700) == 0 && mkdir(in_dir("sub"), 0700) == 0);
  copy_file(dif_test_path(IMAGE), in_dir("refs/in.png"));
  dif_context *ctx = load(UNCLIP);
  dif_prompt *p = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK(dif_prompt_add_image_file(p, in_dir("refs/in.png"), 1.0f) == DIF_OK);
  dif_sample *s = NULL;
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  dif_prompt_free(p);
  CHECK(dif_sample_set_size(s, 32, 32) == DIF_OK && dif_sample_set_steps(s, 2) == DIF_OK);
  CHECK(dif_sample_set_seed(s, 11) == DIF_OK);
  CHECK_MSG(dif_sample_run(s) == DIF_OK, "%s", dif_sample_last_error(s));
  /* in memory: the base name; next to the PNG: the path below its folder */
  CHECK_MSG(strstr(dif_sample_parameters(s), "\"image\":\"in.png\"") != NULL, "%s",
            dif_sample_parameters(s));
  CHECK(dif_sample_save_png(s, 0, in_dir("out.png")) == DIF_OK);
  CHECK(dif_sample_save_png(s, 0, in_dir("sub/out.png")) == DIF_OK);
  char rec[8192], rec_sub[8192];
  read_record(in_dir("out.png"), rec, sizeof rec);
  read_record(in_dir("sub/out.png"), rec_sub, sizeof rec_sub);
  CHECK_MSG(strstr(rec, "\"image\":\"refs/in.png\",") != NULL, "%s", rec);
  CHECK(strstr(rec, "\"xxh3\":\"") != NULL && !strstr(rec, dir));
  CHECK_MSG(strstr(rec_sub, "\"image\":\"in.png\",") != NULL, "%s", rec_sub);
  /* read back from the record's folder: the same pixels */
  p = NULL;
  CHECK_MSG(dif_prompt_from_record(rec, dir, &p) == DIF_OK, "%s", dif_last_error());
  dif_sample *again = NULL;
  CHECK(p && dif_sample_new(ctx, p, &again) == DIF_OK);
  dif_prompt_free(p);
  CHECK_MSG(dif_sample_apply_record(again, rec, dir) == DIF_OK, "%s", dif_sample_last_error(again));
  CHECK(dif_sample_run(again) == DIF_OK);
  uint8_t *a = pixels_of(s), *b = pixels_of(again);
  CHECK(memcmp(a, b, dif_sample_image_bytes(s)) == 0);
  free(a);
  free(b);
  dif_sample_free(again);
  /* sub/out.png's image is not beside it until copied there */
  CHECK_STATUS(dif_prompt_from_record(rec_sub, in_dir("sub"), &p), DIF_ERR_IO, dif_last_error(),
               "prompt[0]");
  copy_file(in_dir("refs/in.png"), in_dir("sub/in.png"));
  CHECK_MSG(dif_prompt_from_record(rec_sub, in_dir("sub"), &p) == DIF_OK, "%s", dif_last_error());
  dif_prompt_free(p);
  /* a changed file is refused before it is decoded */
  uint8_t junk[64] = {0x89, 'P', 'N', 'G'};
  write_file(in_dir("refs/in.png"), junk, sizeof junk);
  p = NULL;
  CHECK_STATUS(dif_prompt_from_record(rec, dir, &p), DIF_ERR_BAD_IMAGE, dif_last_error(),
               "refs/in.png");
  CHECK(strstr(dif_last_error(), "prompt[0]") != NULL && p == NULL);
  dif_sample_free(s);
  dif_context_free(ctx);
  remove(in_dir("refs/in.png"));
  remove(in_dir("sub/in.png"));
  remove(in_dir("out.png"));
  remove(in_dir("sub/out.png"));
  rmdir(in_dir("refs"));
  rmdir(in_dir("sub"));
}

TEST(saved_records_name_the_init_image) {
  copy_file(dif_test_path(IMAGE), in_dir("init.png"));
  dif_context *ctx = load(SD);
  dif_sample *s = text_sample(ctx);
  CHECK(dif_sample_set_init_image_file(s, in_dir("init.png"), 0.5f) == DIF_OK);
  CHECK(dif_sample_set_steps(s, 2) == DIF_OK);
  CHECK_MSG(dif_sample_run(s) == DIF_OK, "%s", dif_sample_last_error(s));
  CHECK(dif_sample_save_png(s, 0, in_dir("img2img.png")) == DIF_OK);
  char rec[8192];
  read_record(in_dir("img2img.png"), rec, sizeof rec);
  CHECK_MSG(strstr(rec, "\"init_image\":{\"image\":\"init.png\",") != NULL, "%s", rec);
  dif_sample *again = text_sample(ctx);
  CHECK_MSG(dif_sample_apply_record(again, rec, dir) == DIF_OK, "%s", dif_sample_last_error(again));
  CHECK(dif_sample_run(again) == DIF_OK);
  uint8_t *a = pixels_of(s), *b = pixels_of(again);
  CHECK(memcmp(a, b, dif_sample_image_bytes(s)) == 0);
  free(a);
  free(b);
  CHECK_STATUS(dif_sample_apply_parameters(again, rec), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(again), "init_image");
  write_file(in_dir("init.png"), secret, sizeof secret - 1);
  CHECK_STATUS(dif_sample_apply_record(again, rec, dir), DIF_ERR_BAD_IMAGE,
               dif_sample_last_error(again), "init.png");
  check_not_echoed(dif_sample_last_error(again));
  dif_sample_free(again);
  dif_sample_free(s);
  dif_context_free(ctx);
  remove(in_dir("init.png"));
  remove(in_dir("img2img.png"));
}

/* A PNG: signature, a 1x1 IHDR, then `chunk` (n bytes) as it is. */
static void write_png_with(const char *path, const uint8_t *chunk, size_t n) {
  static const uint8_t head[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0,    0,    0,
                                 13,   'I', 'H', 'D', 'R',  0,    0,    0,    1,    0,    0,
                                 0,    1,   8,   2,   0,    0,    0,    0x90, 0x77, 0x53, 0xde};
  uint8_t *buf = malloc(sizeof head + n);
  memcpy(buf, head, sizeof head);
  memcpy(buf + sizeof head, chunk, n);
  write_file(path, buf, sizeof head + n);
  free(buf);
}

TEST(record_chunks_are_bounded) {
  /* found by fuzz-record: a 200-byte PNG declaring a 2 GB tEXt chunk made
   * libpng allocate 2 GB before reading it */
  uint8_t chunk[64] = {0x7d, 0x00, 0x01, 0x42, 't', 'E', 'X', 't', 'd', 'i', 'f', ':'};
  write_png_with(in_dir("huge.png"), chunk, sizeof chunk);
  size_t size = 0;
  CHECK_STATUS(dif_read_png_parameters(in_dir("huge.png"), NULL, &size), DIF_ERR_BAD_IMAGE,
               dif_last_error(), "declares 2097152322 bytes");
  remove(in_dir("huge.png"));
}

TEST(misuse) {
  dif_prompt *p = (dif_prompt *)&p;
  CHECK_STATUS(dif_prompt_from_record("{}", dir, NULL), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "out is NULL");
  CHECK_STATUS(dif_prompt_from_parameters("{}", NULL), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "out is NULL");
  CHECK_STATUS(dif_prompt_from_record(NULL, dir, &p), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "json is NULL");
  CHECK(p == NULL);
  CHECK_STATUS(dif_prompt_from_record("", NULL, &p), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "not valid JSON");
  CHECK_STATUS(dif_sample_apply_record(NULL, "{}", dir), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "sample is NULL");
  CHECK_STATUS(dif_sample_apply_parameters(NULL, "{}"), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "sample is NULL");
  dif_context *ctx = load(SD);
  dif_sample *s = text_sample(ctx);
  CHECK_STATUS(dif_sample_apply_record(s, NULL, dir), DIF_ERR_INVALID_ARGUMENT,
               dif_sample_last_error(s), "json is NULL");
  /* an empty folder is no folder */
  CHECK_STATUS(dif_sample_apply_record(s,
                                       "{" PROMPT ",\"init_image\":{\"image\":\"a.png\","
                                       "\"xxh3\":\"0123456789abcdef\",\"strength\":0.5}}",
                                       ""),
               DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(s), "record's folder");
  dif_sample_free(s);
  dif_context_free(ctx);
}

int main(void) {
  if (!mkdtemp(dir)) return 1;
  RUN(text_records_still_work);
  RUN(duplicate_keys_are_refused);
  RUN(types_and_ranges_are_exact);
  RUN(image_paths_are_confined_and_verified);
  RUN(saved_records_name_images_relative_to_the_png);
  RUN(saved_records_name_the_init_image);
  RUN(record_chunks_are_bounded);
  RUN(misuse);
  rmdir(dir);
  return dif_test_finish();
}
