/* Saving in every format and what a saved file says about itself (issue 14,
 * items 3, 4 and 8):
 *   - dif_sample_save chooses PNG, JPEG or WebP by the extension (any case)
 *     and refuses any other name without writing; every format carries the
 *     record, read back by dif_read_parameters, and --from-style
 *     reproduction gives the same pixels from each;
 *   - the AUTOMATIC1111 "parameters" text (PNG chunk, EXIF UserComment in
 *     JPEG and WebP) holds the prompt, negative prompt, steps, sampler, CFG
 *     scale, seed, size and model hash;
 *   - a file of a batch records which image it is, and its record
 *     reproduces that one image only, with the same pixels;
 *   - dif_context_check_record refuses a record of another model, naming
 *     both;
 *   - the LoRAs of a record are A1111's <lora:NAME:WEIGHT> tags after the
 *     prompt, a name no tag can hold left out. */
#include <sys/stat.h>
#include <unistd.h>

#include "api/record.h"
#include "io/image.h"
#include "test.h"

#define SD "golden/models/tiny-sd"
#define UNCLIP "golden/models/tiny-unclip"

static char dir[] = "/tmp/dif-save-XXXXXX";

static const char *in_dir(const char *name) {
  static char path[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
  return path[k];
}

static dif_context *load(const char *model) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(dif_context_set_threads(ctx, 2) == DIF_OK);
  dif_status s = dif_context_load(ctx, dif__test_path(model));
  CHECK_MSG(s == DIF_OK, "%s", dif_context_last_error(ctx));
  return ctx;
}

/* a cat, negative "blurry", 32x32, 2 steps, seed 7, euler_a, guidance 6.5 */
static dif_sample *run_sd(dif_context *ctx, int batch) {
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK(dif_prompt_add_text(p, "a cat (tabby)", 1.0f) == DIF_OK);
  CHECK(dif_prompt_add_text(p, "oil painting", 1.5f) == DIF_OK);
  CHECK(dif_prompt_set_negative(p, "blurry") == DIF_OK);
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  dif_prompt_free(p);
  CHECK(dif_sample_set_size(s, 32, 32) == DIF_OK);
  CHECK(dif_sample_set_steps(s, 2) == DIF_OK);
  CHECK(dif_sample_set_seed(s, 7) == DIF_OK);
  CHECK(dif_sample_set_scheduler(s, "euler_a") == DIF_OK);
  CHECK(dif_sample_set_guidance(s, 6.5f) == DIF_OK);
  CHECK(dif_sample_set_batch(s, batch) == DIF_OK);
  dif_status st = dif_sample_run(s);
  CHECK_MSG(st == DIF_OK, "%s", dif_sample_last_error(s));
  return s;
}

static char *read_record(const char *path) {
  size_t size = 0;
  dif_status st = dif_read_parameters(path, NULL, &size);
  CHECK_MSG(st == DIF_OK, "%s", dif_last_error());
  if (st) return NULL;
  char *buf = malloc(size);
  CHECK(dif_read_parameters(path, buf, &size) == DIF_OK);
  return buf;
}

static int file_starts(const char *path, const void *magic, size_t n) {
  unsigned char b[16] = {0};
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t got = fread(b, 1, sizeof b, f);
  fclose(f);
  return got >= n && memcmp(b, magic, n) == 0;
}

/* The pixels of image 0 of a run of the record at path. */
static uint8_t *reproduce(dif_context *ctx, const char *path, int *count) {
  char *rec = read_record(path);
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  uint8_t *rgb = NULL;
  if (rec && dif_prompt_from_record(rec, dir, &p) == DIF_OK &&
      dif_sample_new(ctx, p, &s) == DIF_OK && dif_sample_apply_record(s, rec, dir) == DIF_OK &&
      dif_sample_run(s) == DIF_OK) {
    *count = dif_sample_image_count(s);
    rgb = malloc(dif_sample_image_bytes(s));
    CHECK(dif_sample_copy_image(s, 0, rgb, dif_sample_image_bytes(s)) == DIF_OK);
  } else {
    CHECK_MSG(0, "reproducing %s: %s / %s", path, dif_last_error(),
              s ? dif_sample_last_error(s) : "");
  }
  dif_sample_free(s);
  dif_prompt_free(p);
  free(rec);
  return rgb;
}

TEST(save_chooses_the_format_by_extension) {
  dif_context *ctx = load(SD);
  dif_sample *s = run_sd(ctx, 1);
  size_t n = dif_sample_image_bytes(s);
  uint8_t *want = malloc(n);
  CHECK(dif_sample_copy_image(s, 0, want, n) == DIF_OK);
  static const struct {
    const char *name;
    const char *magic;
    size_t n;
    int lossless;
  } outs[] = {{"o.png", "\x89PNG", 4, 1},      {"o.PNG", "\x89PNG", 4, 1},
              {"o.jpg", "\xff\xd8\xff", 3, 0}, {"o.JPEG", "\xff\xd8\xff", 3, 0},
              {"o.webp", "RIFF", 4, 1},        {"o.WebP", "RIFF", 4, 1}};
  for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) {
    const char *path = in_dir(outs[i].name);
    dif_status st = dif_sample_save(s, 0, path);
    CHECK_MSG(st == DIF_OK, "%s: %s", outs[i].name, dif_sample_last_error(s));
    CHECK_MSG(file_starts(path, outs[i].magic, outs[i].n), "%s is not in its format", outs[i].name);
    /* the record comes back from every format and reproduces the pixels */
    char *rec = read_record(path);
    CHECK(rec && strstr(rec, "\"prompt\":[{\"text\":\"a cat (tabby)\""));
    free(rec);
    int count = 0;
    uint8_t *got = reproduce(ctx, path, &count);
    CHECK(got && count == 1 && memcmp(got, want, n) == 0);
    free(got);
    if (outs[i].lossless) { /* the file holds the exact pixels */
      dif__image img;
      dif__error e = {0};
      CHECK(dif__image_load(path, NULL, &img, &e) == DIF_OK);
      CHECK_MSG(img.rgb && memcmp(img.rgb, want, n) == 0, "%s pixels changed", outs[i].name);
      dif__image_free(&img);
    }
    unlink(path);
  }
  /* unknown or missing extensions: refused, nothing written */
  const char *bad[] = {"o.gif", "o.bmp", "o", "o.png.txt", "o.tiff"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    const char *path = in_dir(bad[i]);
    CHECK_STATUS(dif_sample_save(s, 0, path), DIF_ERR_UNSUPPORTED, dif_sample_last_error(s),
                 "unknown image format");
    CHECK_STATUS(dif_check_output_format(path), DIF_ERR_UNSUPPORTED, dif_last_error(), bad[i]);
    CHECK_MSG(access(path, F_OK) != 0, "%s was written", bad[i]);
  }
  CHECK(dif_check_output_format("x.Jpg") == DIF_OK &&
        dif_check_output_format("a/b.webp") == DIF_OK);
  CHECK(dif_check_output_format(NULL) == DIF_ERR_INVALID_ARGUMENT);
  /* dif_sample_save_png writes a PNG whatever the name */
  CHECK(dif_sample_save_png(s, 0, in_dir("png.jpg")) == DIF_OK);
  CHECK(file_starts(in_dir("png.jpg"), "\x89PNG", 4));
  unlink(in_dir("png.jpg"));
  /* dif_write_image: a grid in the format of its name, with the record */
  CHECK(dif_write_image(in_dir("grid.webp"), want, 32, 32, 96, dif_sample_parameters(s)) == DIF_OK);
  CHECK(file_starts(in_dir("grid.webp"), "RIFF", 4));
  char *rec = read_record(in_dir("grid.webp"));
  CHECK(rec != NULL);
  free(rec);
  unlink(in_dir("grid.webp"));
  CHECK_STATUS(dif_write_image(in_dir("grid.gif"), want, 32, 32, 96, NULL), DIF_ERR_UNSUPPORTED,
               dif_last_error(), "grid.gif");
  free(want);
  dif_sample_free(s);
  dif_context_free(ctx);
}

/* The value of "Field: value" in the last line of an A1111 text. */
static int field_is(const char *text, const char *field, const char *want) {
  const char *last = strrchr(text, '\n');
  last = last ? last + 1 : text;
  char key[64];
  snprintf(key, sizeof key, "%s: ", field);
  const char *f = strstr(last, key);
  if (!f) return 0;
  f += strlen(key);
  size_t n = strcspn(f, ",");
  return n == strlen(want) && strncmp(f, want, n) == 0;
}

TEST(a1111_parameters_in_every_format) {
  dif_context *ctx = load(SD);
  dif_sample *s = run_sd(ctx, 1);
  const char *unet = NULL;
  uint64_t unet_xxh3 = 0;
  for (int i = 0; i < dif_context_model_file_count(ctx); i++) {
    const char *path;
    uint64_t h;
    CHECK(dif_context_model_file(ctx, i, &path, NULL, &h) == DIF_OK);
    if (!strncmp(path, "unet/", 5)) unet = path, unet_xxh3 = h;
  }
  CHECK(unet != NULL);
  char hash[17];
  snprintf(hash, sizeof hash, "%016llx", (unsigned long long)unet_xxh3);
  hash[10] = '\0';
  const char *names[] = {"a.png", "a.jpg", "a.webp"};
  for (int i = 0; i < 3; i++) {
    const char *path = in_dir(names[i]);
    CHECK(dif_sample_save(s, 0, path) == DIF_OK);
    char *text = NULL;
    dif__error e = {0};
    dif_status st = dif__image_read_meta(path, DIF__META_INFOTEXT, &text, &e);
    CHECK_MSG(st == DIF_OK, "%s: %s", names[i], e.msg);
    if (!text) continue;
    /* line 1: the prompt in A1111's syntax, line 2: the negative prompt */
    CHECK_MSG(
        !strncmp(text, "a cat \\(tabby\\), (oil painting:1.5)\nNegative prompt: blurry\n", 59),
        "%s: %s", names[i], text);
    CHECK_MSG(field_is(text, "Steps", "2"), "%s: %s", names[i], text);
    CHECK_MSG(field_is(text, "Sampler", "Euler a"), "%s: %s", names[i], text);
    CHECK_MSG(field_is(text, "CFG scale", "6.5"), "%s: %s", names[i], text);
    CHECK_MSG(field_is(text, "Seed", "7"), "%s: %s", names[i], text);
    CHECK_MSG(field_is(text, "Size", "32x32"), "%s: %s", names[i], text);
    CHECK_MSG(field_is(text, "Model hash", hash), "%s: %s (want %s)", names[i], text, hash);
    CHECK_MSG(field_is(text, "Model", "tiny-sd"), "%s: %s", names[i], text);
    CHECK(strchr(text, '\n') != strrchr(text, '\n')); /* three lines */
    free(text);
    unlink(path);
  }
  /* a PNG written by dif_write_png carries it as well */
  size_t n = dif_sample_image_bytes(s);
  uint8_t *rgb = malloc(n);
  CHECK(dif_sample_copy_image(s, 0, rgb, n) == DIF_OK);
  CHECK(dif_write_png(in_dir("w.png"), rgb, 32, 32, 96, dif_sample_parameters(s)) == DIF_OK);
  char *text = NULL;
  dif__error e = {0};
  CHECK(dif__image_read_meta(in_dir("w.png"), DIF__META_INFOTEXT, &text, &e) == DIF_OK);
  CHECK(text && field_is(text, "Seed", "7"));
  free(text);
  unlink(in_dir("w.png"));
  free(rgb);
  dif_sample_free(s);
  dif_context_free(ctx);
}

TEST(a_file_of_a_batch_reproduces_that_image) {
  dif_context *ctx = load(SD);
  dif_sample *s = run_sd(ctx, 3);
  CHECK(dif_sample_image_count(s) == 3);
  size_t n = dif_sample_image_bytes(s);
  uint8_t *second = malloc(n);
  CHECK(dif_sample_copy_image(s, 1, second, n) == DIF_OK);
  CHECK(dif_sample_save(s, 1, in_dir("b-2.png")) == DIF_OK);
  CHECK(dif_sample_save(s, 2, in_dir("b-3.jpg")) == DIF_OK);
  char *rec = read_record(in_dir("b-2.png"));
  CHECK_MSG(rec && strstr(rec, "\"batch\":3,\"index\":1,"), "%s", rec ? rec : "");
  free(rec);
  rec = read_record(in_dir("b-3.jpg"));
  CHECK_MSG(rec && strstr(rec, "\"batch\":3,\"index\":2,"), "%s", rec ? rec : "");
  free(rec);
  int count = 0;
  uint8_t *got = reproduce(ctx, in_dir("b-2.png"), &count);
  CHECK_MSG(count == 1, "the record of image 2 of 3 made %d images", count);
  CHECK_MSG(got && memcmp(got, second, n) == 0, "not the pixels of image 2 of the batch");
  free(got);
  /* an index outside the batch is refused */
  dif_sample *t = NULL;
  dif_prompt *p = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK && dif_prompt_add_text(p, "x", 1) == DIF_OK);
  CHECK(dif_sample_new(ctx, p, &t) == DIF_OK);
  CHECK_STATUS(dif_sample_apply_record(t,
                                       "{\"prompt\":[{\"text\":\"x\",\"weight\":1}],"
                                       "\"batch\":2,\"index\":2}",
                                       NULL),
               DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(t), "\"index\" 2");
  CHECK_STATUS(
      dif_sample_apply_record(t, "{\"prompt\":[{\"text\":\"x\",\"weight\":1}],\"index\":1}", NULL),
      DIF_ERR_INVALID_ARGUMENT, dif_sample_last_error(t), "a batch of 1");
  dif_sample_free(t);
  dif_prompt_free(p);
  unlink(in_dir("b-2.png"));
  unlink(in_dir("b-3.jpg"));
  free(second);
  dif_sample_free(s);
  dif_context_free(ctx);
}

TEST(a_record_of_another_model_is_refused) {
  dif_context *sd = load(SD), *unclip = load(UNCLIP);
  dif_sample *s = run_sd(sd, 1);
  const char *rec = dif_sample_parameters(s);
  CHECK_MSG(dif_context_check_record(sd, rec) == DIF_OK, "%s", dif_last_error());
  dif_status st = dif_context_check_record(unclip, rec);
  CHECK_STATUS(st, DIF_ERR_INVALID_ARGUMENT, dif_last_error(), "another model");
  CHECK_MSG(strstr(dif_last_error(), "tiny-sd") && strstr(dif_last_error(), "tiny-unclip"),
            "both models named: %s", dif_last_error());
  /* a record without "model" cannot tell */
  CHECK(dif_context_check_record(unclip, "{\"prompt\":[{\"text\":\"x\",\"weight\":1}]}") == DIF_OK);
  CHECK_STATUS(dif_context_check_record(unclip, "{\"model\":{\"files\":[{\"file\":1}]}}"),
               DIF_ERR_INVALID_ARGUMENT, dif_last_error(), "model.files[0].file");
  CHECK(dif_context_check_record(NULL, rec) == DIF_ERR_INVALID_ARGUMENT);
  dif_sample_free(s);
  dif_context_free(sd);
  dif_context_free(unclip);
}

/* A1111 reads <lora:NAME:WEIGHT> in the prompt (its Lora folder's file NAME.safetensors). */
TEST(a1111_lora_tags) {
  char *t = dif__record_infotext(
      "{\"prompt\":[{\"text\":\"a cat\",\"weight\":1}],\"negative\":\"blurry\",\"steps\":2,"
      "\"loras\":[{\"file\":\"loras/detail.safetensors\",\"xxh3\":\"0123456789abcdef\","
      "\"weight\":0.8},{\"file\":\"odd:name.safetensors\",\"weight\":1},"
      "{\"file\":\"style.safetensors\",\"weight\":-0.5},{\"file\":\"plain\",\"weight\":1}]}");
  CHECK(t != NULL);
  if (t)
    CHECK_MSG(!strncmp(t,
                       "a cat, <lora:detail:0.8>, <lora:style:-0.5>, <lora:plain:1>\n"
                       "Negative prompt: blurry\nSteps: 2",
                       strlen("a cat, <lora:detail:0.8>, <lora:style:-0.5>, <lora:plain:1>\n"
                              "Negative prompt: blurry\nSteps: 2")),
              "%s", t);
  free(t);
  /* no text part: the tags alone */
  t = dif__record_infotext("{\"prompt\":[],\"loras\":[{\"file\":\"a.safetensors\",\"weight\":1}]}");
  CHECK(t != NULL);
  if (t) CHECK_MSG(!strncmp(t, "<lora:a:1>\n", 11), "%s", t);
  free(t);
}

int main(void) {
  CHECK(mkdtemp(dir) != NULL);
  RUN(save_chooses_the_format_by_extension);
  RUN(a1111_parameters_in_every_format);
  RUN(a_file_of_a_batch_reproduces_that_image);
  RUN(a_record_of_another_model_is_refused);
  RUN(a1111_lora_tags);
  rmdir(dir);
  return dif__test_finish();
}
