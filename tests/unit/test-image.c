/* Image file I/O (lib/io/image*.c): decoding the golden CLIP preprocessing
 * images exactly as Pillow does, every PNG mode, EXIF orientation, PNG/JPEG
 * writing with text chunks, atomic writes, and a set of hostile files that
 * must fail with a specific status and a message naming the problem. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h> /* before jpeglib.h, which needs FILE */

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <jpeglib.h>
#include <png.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <webp/decode.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include "core/error.h"
#include "io/fileio.h"
#include "io/image.h"
#include "test.h"

/* ---- helpers: status checks, buffers, files, a scratch directory ---- */

/* CHECK_STATUS as a function, so substr may be NULL or an array. */
static void expect_status(dif_status st, dif_status want, const char *msg, const char *substr,
                          int line) {
  if (st != want || (substr && !strstr(msg, substr))) {
    fprintf(stderr, "%s:%d: expected %s%s%s, got %s: \"%s\"\n", __FILE__, line,
            dif_status_string(want), substr ? " with message containing " : "",
            substr ? substr : "", dif_status_string(st), msg);
    dif__test_checks_failed++;
  }
}
#define EXPECT(st, want, msg, substr) expect_status((st), (want), (msg), (substr), __LINE__)

typedef struct bytes {
  uint8_t *p;
  size_t n;
} bytes;

static bytes bytes_copy(const void *p, size_t n) {
  bytes b = {malloc(n ? n : 1), n};
  if (n) memcpy(b.p, p, n);
  return b;
}

static void bytes_insert(bytes *b, size_t at, const void *p, size_t n) {
  b->p = realloc(b->p, b->n + n);
  memmove(b->p + at + n, b->p + at, b->n - at);
  memcpy(b->p + at, p, n);
  b->n += n;
}

static void bytes_free(bytes *b) {
  free(b->p);
  b->p = NULL;
  b->n = 0;
}

static char scratch[256];

static const char *scratch_path(const char *name) {
  static char buf[512];
  snprintf(buf, sizeof buf, "%s/%s", scratch, name);
  return buf;
}

static void write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (!f) return;
  CHECK(fwrite(p, 1, n, f) == n);
  fclose(f);
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Number of entries of dir whose name contains sub. */
static int count_entries(const char *dir, const char *sub) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strstr(e->d_name, sub)) n++;
  closedir(d);
  return n;
}

static void remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (d) {
      struct dirent *e;
      while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        remove_tree(sub);
      }
      closedir(d);
    }
    rmdir(path);
  } else {
    unlink(path);
  }
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
  }
  return c ^ 0xffffffffu;
}

/* ---- a test-only safetensors reader ---- */

typedef struct st_file {
  bytes data;
  json_t *header;
  size_t start;
} st_file;

static int st_open(const char *path, st_file *f) {
  memset(f, 0, sizeof *f);
  dif__error e = {DIF_OK, ""};
  if (dif__file_read_all(path, 1u << 30, &f->data.p, &f->data.n, &e) != DIF_OK) {
    fprintf(stderr, "%s\n", e.msg);
    return 0;
  }
  if (f->data.n < 8) return 0;
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = hl << 8 | f->data.p[i];
  if (hl > f->data.n - 8) return 0;
  json_error_t je;
  f->header = json_loadb((const char *)f->data.p + 8, (size_t)hl, 0, &je);
  f->start = 8 + (size_t)hl;
  return f->header != NULL;
}

/* The tensor's bytes, or NULL; shape into shape[0..*ndim). */
static const uint8_t *st_tensor(st_file *f, const char *name, const char *dtype, int64_t *shape,
                                int *ndim, size_t *nbytes) {
  json_t *t = json_object_get(f->header, name);
  if (!t || strcmp(json_string_value(json_object_get(t, "dtype")), dtype) != 0) return NULL;
  json_t *sh = json_object_get(t, "shape"), *off = json_object_get(t, "data_offsets");
  *ndim = (int)json_array_size(sh);
  for (int i = 0; i < *ndim && i < 4; i++) shape[i] = json_integer_value(json_array_get(sh, i));
  size_t b = (size_t)json_integer_value(json_array_get(off, 0));
  size_t e = (size_t)json_integer_value(json_array_get(off, 1));
  if (e < b || e > f->data.n - f->start) return NULL;
  *nbytes = e - b;
  return f->data.p + f->start + b;
}

static void st_close(st_file *f) {
  json_decref(f->header);
  bytes_free(&f->data);
}

/* ---- a test-only PNG writer for modes the library never writes ---- */

typedef struct png_spec {
  int width, height, color, depth, interlace;
  const uint8_t *pixels; /* rows of raw samples, big-endian for 16-bit */
  const png_color *palette;
  int n_palette;
  const uint8_t *trns;
  int n_trns;
  const uint8_t *exif;
  int n_exif;
} png_spec;

static void mem_write(png_structp png, png_bytep p, size_t n) {
  bytes *b = png_get_io_ptr(png);
  b->p = realloc(b->p, b->n + n);
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

static void mem_flush(png_structp png) { (void)png; }

static bytes make_png(const png_spec *s) {
  bytes out = {NULL, 0};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  int channels = s->color == PNG_COLOR_TYPE_RGB          ? 3
                 : s->color == PNG_COLOR_TYPE_RGB_ALPHA  ? 4
                 : s->color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                                                         : 1;
  size_t rowbytes = ((size_t)s->width * channels * s->depth + 7) / 8;
  png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)s->height);
  for (int y = 0; y < s->height; y++) rows[y] = (png_bytep)s->pixels + (size_t)y * rowbytes;
  if (setjmp(png_jmpbuf(png))) {
    CHECK(!"libpng failed writing a test PNG");
    png_destroy_write_struct(&png, &info);
    free(rows);
    return out;
  }
  png_set_write_fn(png, &out, mem_write, mem_flush);
  png_set_IHDR(png, info, (png_uint_32)s->width, (png_uint_32)s->height, s->depth, s->color,
               s->interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (s->palette) png_set_PLTE(png, info, s->palette, s->n_palette);
  if (s->trns) {
    png_color_16 tc = {0, 0, 0, 0, 0};
    png_set_tRNS(png, info, s->trns, s->n_trns, &tc);
  }
  if (s->exif) png_set_eXIf_1(png, info, (png_uint_32)s->n_exif, (png_bytep)s->exif);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  free(rows);
  return out;
}

/* The text chunks of a PNG, read back with libpng; returns the count and
 * copies up to max of them. */
typedef struct text_read {
  char key[80];
  char value[512];
  int compression;
} text_read;

static void mem_read(png_structp png, png_bytep p, size_t n) {
  bytes *b = png_get_io_ptr(png);
  if (n > b->n) png_error(png, "short");
  memcpy(p, b->p, n);
  b->p += n;
  b->n -= n;
}

static int read_png_texts(const bytes *file, text_read *out, int max) {
  bytes cursor = *file;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  png_infop end = png_create_info_struct(png);
  int n = -1;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, &end);
    return -1;
  }
  png_set_read_fn(png, &cursor, mem_read);
  png_read_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
  png_textp t = NULL;
  n = png_get_text(png, info, &t, NULL);
  for (int i = 0; i < n && i < max; i++) {
    snprintf(out[i].key, sizeof out[i].key, "%s", t[i].key);
    snprintf(out[i].value, sizeof out[i].value, "%s", t[i].text);
    out[i].compression = t[i].compression;
  }
  png_destroy_read_struct(&png, &info, &end);
  return n;
}

/* ---- golden images ---- */

#define GOLDEN "golden/cases/clip_preprocess/"

static const struct {
  const char *file;
  int w, h; /* after EXIF orientation */
  int orientation;
} golden_images[] = {
    {"cmyk_160x120.jpg", 160, 120, 1},      {"exif_orient6_200x120.jpg", 120, 200, 6},
    {"gray16_90x70.png", 90, 70, 1},        {"gray_100x150.png", 100, 150, 1},
    {"palette_128x80.png", 128, 80, 1},     {"progressive_200x150.jpg", 200, 150, 1},
    {"rgb_224x224.png", 224, 224, 1},       {"rgb_225x1000_tall.png", 225, 1000, 1},
    {"rgb_257x199_noise.png", 257, 199, 1}, {"rgb_300x200.png", 300, 200, 1},
    {"rgb_64x96_upscale.png", 64, 96, 1},   {"rgba_120x90_transparent.png", 120, 90, 1},
};

TEST(golden_images_decode) {
  for (size_t i = 0; i < sizeof golden_images / sizeof *golden_images; i++) {
    char rel[256];
    snprintf(rel, sizeof rel, GOLDEN "images/%s", golden_images[i].file);
    dif__image img;
    dif__error e = {DIF_OK, ""};
    dif_status st = dif__image_load(dif__test_path(rel), NULL, &img, &e);
    CHECK_MSG(st == DIF_OK, "%s: %s", golden_images[i].file, e.msg);
    if (st != DIF_OK) continue;
    CHECK_MSG(img.width == golden_images[i].w && img.height == golden_images[i].h, "%s: %dx%d",
              golden_images[i].file, img.width, img.height);
    CHECK(img.exif_orientation == golden_images[i].orientation);
    dif__image_free(&img);
    CHECK(img.rgb == NULL && img.width == 0);
  }
}

/* Compares img with decoded_rgb (Pillow's np.array(Image.open(f).convert("RGB")))
 * after undoing our EXIF orientation; prints the largest difference. */
static void check_decoded_rgb(const char *name) {
  char rel[256];
  snprintf(rel, sizeof rel, GOLDEN "%s.safetensors", name);
  st_file f;
  CHECK(st_open(dif__test_path(rel), &f));
  int64_t shape[4];
  int ndim = 0;
  size_t nbytes = 0;
  const uint8_t *ref = st_tensor(&f, "decoded_rgb", "U8", shape, &ndim, &nbytes);
  CHECK(ref && ndim == 3 && shape[2] == 3);
  snprintf(rel, sizeof rel, GOLDEN "images/%s.jpg", name);
  dif__image img;
  dif__error e = {DIF_OK, ""};
  EXPECT(dif__image_load(dif__test_path(rel), NULL, &img, &e), DIF_OK, e.msg, NULL);
  if (ref && img.rgb) {
    CHECK(dif__image_orient(&img, dif__image_orientation_inverse(img.exif_orientation), &e) ==
          DIF_OK);
    CHECK(img.height == shape[0] && img.width == shape[1] &&
          nbytes == (size_t)img.width * img.height * 3);
    size_t differ = 0;
    int maxd = 0;
    for (size_t i = 0; i < nbytes && i < (size_t)img.width * img.height * 3; i++) {
      int d = abs((int)img.rgb[i] - (int)ref[i]);
      if (d) differ++;
      if (d > maxd) maxd = d;
    }
    CHECK_MSG(differ == 0, "%s: %zu of %zu samples differ from Pillow, max %d", name, differ,
              nbytes, maxd);
  }
  dif__image_free(&img);
  st_close(&f);
}

TEST(golden_jpeg_matches_pillow_exactly) {
  check_decoded_rgb("cmyk_160x120");
  check_decoded_rgb("progressive_200x150");
  check_decoded_rgb("exif_orient6_200x120");
}

TEST(golden_exif_orientation_6_rotates_clockwise) {
  st_file f;
  CHECK(st_open(dif__test_path(GOLDEN "exif_orient6_200x120.safetensors"), &f));
  int64_t shape[4];
  int ndim;
  size_t nbytes;
  const uint8_t *ref = st_tensor(&f, "decoded_rgb", "U8", shape, &ndim, &nbytes);
  dif__image img;
  dif__error e = {DIF_OK, ""};
  EXPECT(dif__image_load(dif__test_path(GOLDEN "images/exif_orient6_200x120.jpg"), NULL, &img, &e),
         DIF_OK, e.msg, NULL);
  if (ref && img.rgb) {
    const int sw = (int)shape[1], sh = (int)shape[0]; /* stored 200x120 */
    CHECK(img.width == sh && img.height == sw);
    int bad = 0;
    /* Upright pixel (x, y) is stored pixel (y, sh - 1 - x): Pillow's ROTATE_270. */
    for (int y = 0; y < img.height; y++)
      for (int x = 0; x < img.width; x++)
        for (int k = 0; k < 3; k++)
          bad += img.rgb[((size_t)y * img.width + x) * 3 + k] !=
                 ref[((size_t)(sh - 1 - x) * sw + y) * 3 + k];
    CHECK(bad == 0);
  }
  dif__image_free(&img);
  st_close(&f);
}

/* rgb_224x224 is not resized by the CLIP processor, so its pixel_values are
 * the decoded pixels, normalised: undo that and compare exactly. */
TEST(golden_png_matches_pixel_values) {
  st_file f;
  CHECK(st_open(dif__test_path(GOLDEN "rgb_224x224.safetensors"), &f));
  int64_t shape[4];
  int ndim;
  size_t nbytes;
  const uint8_t *pv = st_tensor(&f, "pixel_values", "F32", shape, &ndim, &nbytes);
  dif__image img;
  dif__error e = {DIF_OK, ""};
  EXPECT(dif__image_load(dif__test_path(GOLDEN "images/rgb_224x224.png"), NULL, &img, &e), DIF_OK,
         e.msg, NULL);
  static const double mean[3] = {0.48145466, 0.4578275, 0.40821073};
  static const double std[3] = {0.26862954, 0.26130258, 0.27577711};
  if (pv && img.rgb && nbytes == 224 * 224 * 3 * 4) {
    int bad = 0;
    for (int c = 0; c < 3; c++) {
      for (int i = 0; i < 224 * 224; i++) {
        float v;
        memcpy(&v, pv + ((size_t)c * 224 * 224 + i) * 4, 4);
        long u = lround(((double)v * std[c] + mean[c]) * 255.0);
        bad += u != img.rgb[(size_t)i * 3 + c];
      }
    }
    CHECK_MSG(bad == 0, "%d samples differ", bad);
  }
  dif__image_free(&img);
  st_close(&f);
}

/* libpng's simplified reader as an independent reference for 8-bit files
 * without gamma chunks: RGBA for the RGBA file (no compositing when the
 * output keeps alpha), RGB for the others. */
TEST(golden_png_match_libpng_reference) {
  static const char *names[] = {"gray_100x150.png",      "palette_128x80.png",
                                "rgb_224x224.png",       "rgb_225x1000_tall.png",
                                "rgb_257x199_noise.png", "rgb_300x200.png",
                                "rgb_64x96_upscale.png", "rgba_120x90_transparent.png"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    char rel[256];
    snprintf(rel, sizeof rel, GOLDEN "images/%s", names[i]);
    const char *path = dif__test_path(rel);
    png_image ref;
    memset(&ref, 0, sizeof ref);
    ref.version = PNG_IMAGE_VERSION;
    CHECK(png_image_begin_read_from_file(&ref, path));
    int rgba = strstr(names[i], "rgba") != NULL;
    ref.format = rgba ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
    size_t n = PNG_IMAGE_SIZE(ref);
    uint8_t *refpix = malloc(n);
    CHECK(png_image_finish_read(&ref, NULL, refpix, 0, NULL));
    dif__image img;
    dif__error e = {DIF_OK, ""};
    EXPECT(dif__image_load(path, NULL, &img, &e), DIF_OK, e.msg, NULL);
    if (img.rgb) {
      CHECK(img.width == (int)ref.width && img.height == (int)ref.height);
      size_t px = (size_t)img.width * img.height, bad = 0;
      int ch = rgba ? 4 : 3;
      for (size_t p = 0; p < px; p++)
        for (int k = 0; k < 3; k++) bad += img.rgb[p * 3 + k] != refpix[p * ch + k];
      CHECK_MSG(bad == 0, "%s: %zu samples differ", names[i], bad);
      if (strstr(names[i], "gray"))
        for (size_t p = 0; p < px; p++)
          bad += img.rgb[p * 3] != img.rgb[p * 3 + 1] || img.rgb[p * 3] != img.rgb[p * 3 + 2];
      CHECK(bad == 0);
    }
    dif__image_free(&img);
    free(refpix);
  }
}

/* The 16-bit gray fixture: every sample is round(v / 257) of the stored
 * 16-bit value (Pillow would clip to 255 instead). */
TEST(golden_gray16_scaled_not_clipped) {
  bytes file;
  dif__error e = {DIF_OK, ""};
  CHECK(dif__file_read_all(dif__test_path(GOLDEN "images/gray16_90x70.png"), 1 << 20, &file.p,
                           &file.n, &e) == DIF_OK);
  bytes cursor = file;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    CHECK(!"libpng failed");
    png_destroy_read_struct(&png, &info, NULL);
    bytes_free(&file);
    return;
  }
  png_set_read_fn(png, &cursor, mem_read);
  png_read_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
  CHECK(png_get_bit_depth(png, info) == 16 && png_get_color_type(png, info) == PNG_COLOR_TYPE_GRAY);
  png_bytepp rows = png_get_rows(png, info);
  dif__image img;
  EXPECT(dif__image_decode_memory(file.p, file.n, NULL, &img, &e), DIF_OK, e.msg, NULL);
  int bad = 0, above255 = 0;
  for (int y = 0; y < img.height; y++) {
    for (int x = 0; x < img.width; x++) {
      unsigned v = (unsigned)rows[y][2 * x] << 8 | rows[y][2 * x + 1];
      above255 += v > 255;
      unsigned want = (2 * v + 257) / 514;
      const uint8_t *p = img.rgb + ((size_t)y * img.width + x) * 3;
      bad += p[0] != want || p[1] != want || p[2] != want;
    }
  }
  CHECK(bad == 0);
  CHECK(above255 > 0); /* the file really exercises the Pillow difference */
  dif__image_free(&img);
  png_destroy_read_struct(&png, &info, NULL);
  bytes_free(&file);
}

/* ---- every PNG mode, generated ---- */

static dif__image decode_ok(const bytes *b) {
  dif__image img;
  dif__error e = {DIF_OK, ""};
  dif_status st = dif__image_decode_memory(b->p, b->n, NULL, &img, &e);
  CHECK_MSG(st == DIF_OK, "%s", e.msg);
  return img;
}

TEST(png_every_16bit_value_rounds) {
  uint8_t *px = malloc(256 * 256 * 2);
  for (unsigned v = 0; v < 65536; v++) px[2 * v] = (uint8_t)(v >> 8), px[2 * v + 1] = (uint8_t)v;
  png_spec s = {
      .width = 256, .height = 256, .color = PNG_COLOR_TYPE_GRAY, .depth = 16, .pixels = px};
  bytes b = make_png(&s);
  dif__image img = decode_ok(&b);
  int bad = 0;
  for (unsigned v = 0; v < 65536 && img.rgb; v++) {
    unsigned want = (unsigned)floor(v / 257.0 + 0.5);
    bad += img.rgb[3 * v] != want || img.rgb[3 * v + 1] != want || img.rgb[3 * v + 2] != want;
  }
  CHECK(img.rgb && bad == 0);
  dif__image_free(&img);
  bytes_free(&b);
  free(px);
}

TEST(png_rgba16_drops_alpha_and_rounds) {
  /* 3x1 RGBA16: alpha 0, 0x8000, 0xffff; colour values around the .5 steps */
  static const uint16_t v[12] = {0x7fff, 0x8080, 0x0080, 0,      0xffff, 0x0101,
                                 0x1234, 0x8000, 0x0081, 0xfeff, 0x00ff, 0xffff};
  uint8_t px[24];
  for (int i = 0; i < 12; i++) px[2 * i] = (uint8_t)(v[i] >> 8), px[2 * i + 1] = (uint8_t)v[i];
  png_spec s = {
      .width = 3, .height = 1, .color = PNG_COLOR_TYPE_RGB_ALPHA, .depth = 16, .pixels = px};
  bytes b = make_png(&s);
  dif__image img = decode_ok(&b);
  static const int rgb_idx[9] = {0, 1, 2, 4, 5, 6, 8, 9, 10};
  for (int i = 0; i < 9 && img.rgb; i++)
    CHECK_MSG(img.rgb[i] == (unsigned)floor(v[rgb_idx[i]] / 257.0 + 0.5), "sample %d: %d", i,
              img.rgb[i]);
  dif__image_free(&img);
  bytes_free(&b);
}

TEST(png_low_bit_gray_scales_to_full_range) {
  for (int depth = 1; depth <= 8; depth *= 2) {
    int maxv = (1 << depth) - 1;
    int w = 1 << depth; /* every value once */
    uint8_t row[256] = {0};
    for (int x = 0; x < w; x++)
      row[(x * depth) / 8] |= (uint8_t)(x << (8 - depth - (x * depth) % 8));
    png_spec s = {
        .width = w, .height = 1, .color = PNG_COLOR_TYPE_GRAY, .depth = depth, .pixels = row};
    bytes b = make_png(&s);
    dif__image img = decode_ok(&b);
    for (int x = 0; x < w && img.rgb; x++) {
      int want = x * 255 / maxv;
      CHECK_MSG(img.rgb[3 * x] == want && img.rgb[3 * x + 1] == want && img.rgb[3 * x + 2] == want,
                "depth %d value %d: %d", depth, x, img.rgb[3 * x]);
    }
    dif__image_free(&img);
    bytes_free(&b);
  }
}

TEST(png_gray_alpha_palette_trns_interlace) {
  /* gray + alpha: alpha dropped */
  uint8_t ga[8] = {10, 0, 200, 255, 77, 128, 255, 1};
  png_spec s = {
      .width = 4, .height = 1, .color = PNG_COLOR_TYPE_GRAY_ALPHA, .depth = 8, .pixels = ga};
  bytes b = make_png(&s);
  dif__image img = decode_ok(&b);
  for (int x = 0; x < 4 && img.rgb; x++)
    CHECK(img.rgb[3 * x] == ga[2 * x] && img.rgb[3 * x + 2] == ga[2 * x]);
  dif__image_free(&img);
  bytes_free(&b);

  /* palette with tRNS: colours looked up, transparency ignored */
  png_color pal[3] = {{255, 0, 0}, {0, 255, 0}, {1, 2, 3}};
  uint8_t trns[3] = {0, 128, 255};
  uint8_t idx[3] = {2, 0, 1};
  png_spec p = {.width = 3,
                .height = 1,
                .color = PNG_COLOR_TYPE_PALETTE,
                .depth = 8,
                .pixels = idx,
                .palette = pal,
                .n_palette = 3,
                .trns = trns,
                .n_trns = 3};
  b = make_png(&p);
  img = decode_ok(&b);
  static const uint8_t want[9] = {1, 2, 3, 255, 0, 0, 0, 255, 0};
  CHECK(img.rgb && memcmp(img.rgb, want, 9) == 0);
  dif__image_free(&img);
  bytes_free(&b);

  /* gray with tRNS: still opaque gray */
  uint8_t g[2] = {0, 99};
  uint8_t gt[2] = {0, 0};
  png_spec gs = {.width = 2,
                 .height = 1,
                 .color = PNG_COLOR_TYPE_GRAY,
                 .depth = 8,
                 .pixels = g,
                 .trns = gt,
                 .n_trns = 1};
  b = make_png(&gs);
  img = decode_ok(&b);
  CHECK(img.rgb && img.rgb[0] == 0 && img.rgb[3] == 99 && img.rgb[5] == 99);
  dif__image_free(&img);
  bytes_free(&b);

  /* Adam7 interlaced RGB decodes to the same pixels as progressive order */
  enum { W = 13, H = 11 };
  uint8_t rgb[W * H * 3];
  uint64_t seed = 7;
  for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)dif__test_rand_u64(&seed);
  png_spec is = {.width = W,
                 .height = H,
                 .color = PNG_COLOR_TYPE_RGB,
                 .depth = 8,
                 .pixels = rgb,
                 .interlace = PNG_INTERLACE_ADAM7};
  b = make_png(&is);
  img = decode_ok(&b);
  CHECK(img.rgb && img.width == W && img.height == H && memcmp(img.rgb, rgb, sizeof rgb) == 0);
  dif__image_free(&img);
  bytes_free(&b);
}

/* A flat 16x8 four-component JPEG at quality 100 (flat blocks survive the
 * DCT exactly), stored as CMYK or converted to YCCK by libjpeg. */
static bytes make_cmyk_jpeg(const uint8_t stored[4], int ycck) {
  bytes out = {NULL, 0};
  unsigned char *buf = NULL;
  unsigned long len = 0;
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr jerr;
  c.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&c);
  jpeg_mem_dest(&c, &buf, &len);
  c.image_width = 16, c.image_height = 8, c.input_components = 4, c.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 100, TRUE);
  if (ycck) jpeg_set_colorspace(&c, JCS_YCCK);
  jpeg_start_compress(&c, TRUE);
  uint8_t row[16 * 4];
  for (int x = 0; x < 16; x++) memcpy(row + 4 * x, stored, 4);
  while (c.next_scanline < 8) {
    JSAMPROW r = row;
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  out = bytes_copy(buf, len);
  free(buf);
  return out;
}

/* The README's check of Pillow's CMYK conversion: Pillow CMYK (100,50,20,30)
 * gives RGB (137,181,207); in an Adobe JPEG those are stored inverted. */
TEST(jpeg_cmyk_and_ycck_like_pillow) {
  static const uint8_t stored[4] = {255 - 100, 255 - 50, 255 - 20, 255 - 30};
  static const uint8_t want[3] = {137, 181, 207};
  for (int ycck = 0; ycck <= 1; ycck++) {
    bytes b = make_cmyk_jpeg(stored, ycck);
    dif__image img = decode_ok(&b);
    int maxd = 0;
    for (int i = 0; img.rgb && i < 16 * 8 * 3; i++) {
      int d = abs((int)img.rgb[i] - want[i % 3]);
      if (d > maxd) maxd = d;
    }
    /* CMYK is exact; YCCK passes through libjpeg's YCC<->RGB rounding */
    CHECK_MSG(img.rgb && maxd <= (ycck ? 2 : 0), "%s: max difference %d", ycck ? "YCCK" : "CMYK",
              maxd);
    dif__image_free(&img);
    bytes_free(&b);
  }
}

/* ---- EXIF orientation ---- */

TEST(orient_all_eight_like_pillow) {
  /* a b c / d e f, one byte per sample: R = letter, G = B = 0 */
  static const char *want[9] = {NULL,     "abcdef", "cbafed", "fedcba", "defabc",
                                "adbecf", "daebfc", "fcebda", "cfbead"};
  static const int ww[9] = {0, 3, 3, 3, 3, 2, 2, 2, 2};
  for (int o = 1; o <= 8; o++) {
    dif__image img;
    dif__error e = {DIF_OK, ""};
    CHECK(dif__image_alloc(&img, 3, 2, NULL, &e) == DIF_OK);
    memset(img.rgb, 0, 18);
    for (int i = 0; i < 6; i++) img.rgb[3 * i] = (uint8_t)("abcdef"[i]);
    CHECK(dif__image_orient(&img, o, &e) == DIF_OK);
    CHECK(img.width == ww[o] && img.height == 6 / ww[o]);
    char got[7] = {0};
    for (int i = 0; i < 6; i++) got[i] = (char)img.rgb[3 * i];
    CHECK_MSG(strcmp(got, want[o]) == 0, "orientation %d: %s", o, got);
    /* the inverse restores the stored image */
    CHECK(dif__image_orient(&img, dif__image_orientation_inverse(o), &e) == DIF_OK);
    for (int i = 0; i < 6; i++) got[i] = (char)img.rgb[3 * i];
    CHECK(strcmp(got, "abcdef") == 0 && img.width == 3);
    dif__image_free(&img);
  }
  dif__image img;
  dif__error e = {DIF_OK, ""};
  CHECK(dif__image_alloc(&img, 1, 1, NULL, &e) == DIF_OK);
  EXPECT(dif__image_orient(&img, 9, &e), DIF_ERR_INVALID_ARGUMENT, e.msg, "orientation 9");
  EXPECT(dif__image_orient(&img, 0, &e), DIF_ERR_INVALID_ARGUMENT, e.msg, "orientation 0");
  dif__image_free(&img);
}

/* A TIFF block with one IFD0 entry: tag, type, count, value (left-justified). */
static size_t make_tiff(uint8_t *t, int big, uint16_t tag, uint16_t type, uint32_t count,
                        uint32_t value, uint32_t ifd_offset, uint16_t n_entries) {
  memset(t, 0, 26);
#define W16(p, v)                                                                                  \
  (big ? ((p)[0] = (uint8_t)((v) >> 8), (p)[1] = (uint8_t)(v))                                     \
       : ((p)[1] = (uint8_t)((v) >> 8), (p)[0] = (uint8_t)(v)))
#define W32(p, v)                                                                                  \
  (big ? (W16(p, (v) >> 16), W16((p) + 2, (v)&0xffff))                                             \
       : (W16((p) + 2, (v) >> 16), W16(p, (v)&0xffff)))
  t[0] = t[1] = big ? 'M' : 'I';
  W16(t + 2, 42);
  W32(t + 4, ifd_offset);
  W16(t + 8, n_entries);
  W16(t + 10, tag);
  W16(t + 12, type);
  W32(t + 14, count);
  if (type == 3)
    W16(t + 18, value);
  else
    W32(t + 18, value);
#undef W16
#undef W32
  return 26; /* header 8 + count 2 + one entry 12 + next-IFD 4 */
}

TEST(exif_parser_bounds) {
  uint8_t t[64];
  for (int big = 0; big <= 1; big++) {
    for (uint32_t o = 0; o <= 9; o++) {
      size_t n = make_tiff(t, big, 0x0112, 3, 1, o, 8, 1);
      CHECK(dif__exif_orientation(t, n) == (o >= 1 && o <= 8 ? (int)o : 0));
    }
    size_t n = make_tiff(t, big, 0x0112, 4, 1, 6, 8, 1); /* LONG */
    CHECK(dif__exif_orientation(t, n) == 6);
    n = make_tiff(t, big, 0x0112, 3, 2, 6, 8, 1); /* count 2: not an orientation */
    CHECK(dif__exif_orientation(t, n) == 0);
    n = make_tiff(t, big, 0x0110, 3, 1, 6, 8, 1); /* another tag */
    CHECK(dif__exif_orientation(t, n) == 0);
    n = make_tiff(t, big, 0x0112, 3, 1, 6, 0xfffffff0u, 1); /* IFD past the end */
    CHECK(dif__exif_orientation(t, n) == 0);
    n = make_tiff(t, big, 0x0112, 3, 1, 6, (uint32_t)n - 1, 1); /* count needs 2 bytes, 1 left */
    CHECK(dif__exif_orientation(t, n) == 0);
    n = make_tiff(t, big, 0x0112, 3, 1, 6, 8, 65535); /* entries beyond the end ignored */
    CHECK(dif__exif_orientation(t, n) == 6);
    for (size_t cut = 0; cut < 22; cut++) /* any truncation: no crash, no orientation */
      CHECK(dif__exif_orientation(t, cut) == 0);
  }
  CHECK(dif__exif_orientation(NULL, 100) == 0);
  CHECK(dif__exif_orientation((const uint8_t *)"XX*\0\0\0\0\10", 8) == 0);
}

/* Inserts an APP1 Exif segment (payload tiff) right after SOI. */
static void jpeg_add_exif(bytes *jpg, const uint8_t *tiff, size_t n) {
  uint8_t seg[4 + 6 + 64];
  size_t len = 2 + 6 + n;
  seg[0] = 0xff, seg[1] = 0xe1, seg[2] = (uint8_t)(len >> 8), seg[3] = (uint8_t)len;
  memcpy(seg + 4, "Exif\0\0", 6);
  memcpy(seg + 10, tiff, n);
  bytes_insert(jpg, 2, seg, 4 + 6 + n);
}

static dif__image test_pattern(int w, int h, uint64_t seed) {
  dif__image img;
  dif__error e = {DIF_OK, ""};
  CHECK(dif__image_alloc(&img, w, h, NULL, &e) == DIF_OK);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint8_t *p = img.rgb + ((size_t)y * w + x) * 3;
      p[0] = (uint8_t)(x * 255 / (w - 1));
      p[1] = (uint8_t)(y * 255 / (h - 1));
      p[2] = (uint8_t)(64 + seed * 8);
    }
  return img;
}

TEST(jpeg_exif_orientations_applied) {
  dif__image src = test_pattern(24, 16, 1);
  bytes plain;
  dif__error e = {DIF_OK, ""};
  CHECK(dif__image_encode_jpeg(&src, 90, &plain.p, &plain.n, &e) == DIF_OK);
  dif__image stored = decode_ok(&plain);
  CHECK(stored.exif_orientation == 1);
  for (int big = 0; big <= 1; big++) {
    for (int o = 1; o <= 8; o++) {
      bytes j = bytes_copy(plain.p, plain.n);
      uint8_t t[32];
      size_t n = make_tiff(t, big, 0x0112, 3, 1, (uint32_t)o, 8, 1);
      jpeg_add_exif(&j, t, n);
      dif__image got = decode_ok(&j);
      dif__image want;
      CHECK(dif__image_alloc(&want, stored.width, stored.height, NULL, &e) == DIF_OK);
      memcpy(want.rgb, stored.rgb, (size_t)stored.width * stored.height * 3);
      CHECK(dif__image_orient(&want, o, &e) == DIF_OK);
      CHECK(got.exif_orientation == o);
      CHECK_MSG(got.rgb && got.width == want.width && got.height == want.height &&
                    memcmp(got.rgb, want.rgb, (size_t)want.width * want.height * 3) == 0,
                "orientation %d", o);
      dif__image_free(&got);
      dif__image_free(&want);
      bytes_free(&j);
    }
  }
  dif__image_free(&stored);
  dif__image_free(&src);
  bytes_free(&plain);
}

TEST(png_exif_chunk_applied) {
  uint8_t rgb[2 * 1 * 3] = {1, 2, 3, 4, 5, 6};
  uint8_t t[32];
  size_t n = make_tiff(t, 1, 0x0112, 3, 1, 3, 8, 1); /* rotate 180 */
  png_spec s = {.width = 2,
                .height = 1,
                .color = PNG_COLOR_TYPE_RGB,
                .depth = 8,
                .pixels = rgb,
                .exif = t,
                .n_exif = (int)n};
  bytes b = make_png(&s);
  dif__image img = decode_ok(&b);
  static const uint8_t want[6] = {4, 5, 6, 1, 2, 3};
  CHECK(img.rgb && img.exif_orientation == 3 && memcmp(img.rgb, want, 6) == 0);
  dif__image_free(&img);
  bytes_free(&b);
}

/* ---- writing ---- */

TEST(png_roundtrip_with_text) {
  dif__image img;
  dif__error e = {DIF_OK, ""};
  CHECK(dif__image_alloc(&img, 37, 23, NULL, &e) == DIF_OK);
  uint64_t seed = 42;
  for (size_t i = 0; i < 37 * 23 * 3; i++) img.rgb[i] = (uint8_t)dif__test_rand_u64(&seed);
  const dif__image_text text[] = {
      {"parameters", "a photo of a cat\nSteps: 20, Sampler: DDIM, CFG scale: 7.5, Seed: 1"},
      {"Comment", "h\xc3\xa9llo \xe2\x9c\x93 unicode"},
      {"Software", "libdif"},
      {"empty", ""},
  };
  const char *path = scratch_path("roundtrip.png");
  EXPECT(dif__image_save_png(&img, path, text, 4, &e), DIF_OK, e.msg, NULL);
  dif__image back;
  EXPECT(dif__image_load(path, NULL, &back, &e), DIF_OK, e.msg, NULL);
  CHECK(back.rgb && back.width == 37 && back.height == 23 &&
        memcmp(back.rgb, img.rgb, 37 * 23 * 3) == 0);
  dif__image_free(&back);

  bytes file;
  CHECK(dif__file_read_all(path, 1 << 20, &file.p, &file.n, &e) == DIF_OK);
  text_read got[8];
  CHECK(read_png_texts(&file, got, 8) == 4);
  for (int i = 0; i < 4; i++) {
    CHECK_MSG(strcmp(got[i].key, text[i].key) == 0, "key %d: %s", i, got[i].key);
    CHECK_MSG(strcmp(got[i].value, text[i].value) == 0, "value %d: %s", i, got[i].value);
  }
  CHECK(got[0].compression == PNG_TEXT_COMPRESSION_NONE); /* tEXt */
  CHECK(got[1].compression == PNG_ITXT_COMPRESSION_NONE); /* iTXt: not ASCII */
  CHECK(got[2].compression == PNG_TEXT_COMPRESSION_NONE);
  bytes_free(&file);

  /* no text at all; overwriting an existing file */
  img.rgb[0] ^= 0xff;
  EXPECT(dif__image_save_png(&img, path, NULL, 0, &e), DIF_OK, e.msg, NULL);
  EXPECT(dif__image_load(path, NULL, &back, &e), DIF_OK, e.msg, NULL);
  CHECK(back.rgb && back.rgb[0] == img.rgb[0]);
  dif__image_free(&back);
  CHECK(count_entries(scratch, ".dif-") == 0);
  struct stat st;
  mode_t mask = umask(0);
  umask(mask);
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == (0666 & ~mask));
  dif__image_free(&img);
}

TEST(png_bad_text_refused_without_file) {
  dif__image img = test_pattern(4, 4, 0);
  dif__error e = {DIF_OK, ""};
  const char *path = scratch_path("badtext.png");
  static const char key80[] = "0123456789012345678901234567890123456789"
                              "0123456789012345678901234567890123456789";
  const dif__image_text bad_keys[] = {
      {"", "v"},         {key80, "v"},         {" lead", "v"},
      {"trail ", "v"},   {"two  spaces", "v"}, {"caf\xc3\xa9", "v"},
      {"tab\tkey", "v"},
  };
  for (size_t i = 0; i < sizeof bad_keys / sizeof *bad_keys; i++) {
    EXPECT(dif__image_save_png(&img, path, &bad_keys[i], 1, &e), DIF_ERR_INVALID_ARGUMENT, e.msg,
           "text key");
    CHECK(!file_exists(path));
  }
  const dif__image_text bad_value = {"k", "bad \xff utf-8"};
  EXPECT(dif__image_save_png(&img, path, &bad_value, 1, &e), DIF_ERR_INVALID_ARGUMENT, e.msg,
         "not UTF-8");
  const dif__image_text null_value = {"k", NULL};
  EXPECT(dif__image_save_png(&img, path, &null_value, 1, &e), DIF_ERR_INVALID_ARGUMENT, e.msg,
         "NULL");
  CHECK(!file_exists(path));
  dif__image empty = {0, 0, NULL, 1};
  EXPECT(dif__image_save_png(&empty, path, NULL, 0, &e), DIF_ERR_INVALID_ARGUMENT, e.msg, "empty");
  EXPECT(dif__image_save_jpeg(&img, path, 0, &e), DIF_ERR_INVALID_ARGUMENT, e.msg, "quality 0");
  EXPECT(dif__image_save_jpeg(&img, path, 101, &e), DIF_ERR_INVALID_ARGUMENT, e.msg, "quality 101");
  CHECK(!file_exists(path));
  CHECK(count_entries(scratch, ".dif-") == 0);
  dif__image_free(&img);
}

TEST(jpeg_roundtrip) {
  dif__image img = test_pattern(64, 48, 3);
  dif__error e = {DIF_OK, ""};
  const char *path = scratch_path("roundtrip.jpg");
  EXPECT(dif__image_save_jpeg(&img, path, 95, &e), DIF_OK, e.msg, NULL);
  dif__image back;
  EXPECT(dif__image_load(path, NULL, &back, &e), DIF_OK, e.msg, NULL);
  CHECK(back.rgb && back.width == 64 && back.height == 48);
  double sum = 0;
  for (size_t i = 0; back.rgb && i < 64 * 48 * 3; i++)
    sum += fabs((double)back.rgb[i] - img.rgb[i]);
  CHECK_MSG(sum / (64 * 48 * 3) < 3.0, "mean abs error %.2f", sum / (64 * 48 * 3));
  dif__image_free(&back);
  dif__image_free(&img);
}

TEST(atomic_write_failures_leave_nothing) {
  dif__image img = test_pattern(100, 100, 9);
  uint64_t seed = 5;
  for (size_t i = 0; i < 100 * 100 * 3; i++) img.rgb[i] = (uint8_t)dif__test_rand_u64(&seed);
  dif__error e = {DIF_OK, ""};

  /* a directory that does not exist */
  char path[700];
  snprintf(path, sizeof path, "%s/no/such/dir/out.png", scratch);
  EXPECT(dif__image_save_png(&img, path, NULL, 0, &e), DIF_ERR_IO, e.msg, path);
  CHECK(!file_exists(path));

  /* the target is a directory: refused before anything is written */
  snprintf(path, sizeof path, "%s/isdir.png", scratch);
  CHECK(mkdir(path, 0755) == 0);
  EXPECT(dif__image_save_png(&img, path, NULL, 0, &e), DIF_ERR_IO, e.msg,
         "is a directory, not a regular file");
  CHECK(count_entries(scratch, ".dif-") == 0);
  rmdir(path);

  /* the disk fills up half way (RLIMIT_FSIZE, which also holds for root):
   * the temporary file was created and partly written, then removed */
  snprintf(path, sizeof path, "%s/full.png", scratch);
  struct rlimit old, small = {1000, 0};
  CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
  small.rlim_max = old.rlim_max;
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
  dif_status st = dif__image_save_png(&img, path, NULL, 0, &e);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  EXPECT(st, DIF_ERR_IO, e.msg, "cannot write");
  CHECK(!file_exists(path));
  CHECK(count_entries(scratch, "full.png") == 0);
  CHECK(count_entries(scratch, ".dif-") == 0);

  /* an existing file is left untouched by a failed write */
  write_file(path, "old", 3);
  CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
  signal(SIGXFSZ, SIG_IGN);
  st = dif__image_save_jpeg(&img, path, 100, &e);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  EXPECT(st, DIF_ERR_IO, e.msg, "cannot write");
  bytes b;
  CHECK(dif__file_read_all(path, 100, &b.p, &b.n, &e) == DIF_OK);
  CHECK(b.n == 3 && memcmp(b.p, "old", 3) == 0);
  bytes_free(&b);
  CHECK(count_entries(scratch, "full.png") == 1);
  CHECK(count_entries(scratch, ".dif-") == 0);

  /* a read-only directory (not enforced for root) */
  if (geteuid() != 0) {
    char ro[300];
    snprintf(ro, sizeof ro, "%s/ro", scratch);
    CHECK(mkdir(ro, 0500) == 0);
    snprintf(path, sizeof path, "%s/out.png", ro);
    EXPECT(dif__image_save_png(&img, path, NULL, 0, &e), DIF_ERR_IO, e.msg, ro);
    CHECK(count_entries(ro, "") == 0);
    chmod(ro, 0700);
  }
  dif__image_free(&img);
}

/* ---- hostile files ---- */

/* Offset of the first chunk of PNG b named type, or 0. */
static size_t png_chunk(const bytes *b, const char *type) {
  for (size_t pos = 8; pos + 12 <= b->n;) {
    uint32_t len = be32(b->p + pos);
    if (memcmp(b->p + pos + 4, type, 4) == 0) return pos;
    pos += 12 + (size_t)len;
  }
  return 0;
}

static void png_fix_crc(bytes *b, size_t chunk) {
  uint32_t len = be32(b->p + chunk);
  put_be32(b->p + chunk + 8 + len, crc32_of(b->p + chunk + 4, 4 + (size_t)len));
}

/* Offset of the first JPEG marker code (the byte after 0xff) equal to m. */
static size_t jpeg_marker(const bytes *b, uint8_t m) {
  for (size_t pos = 2; pos + 4 <= b->n;) {
    if (b->p[pos] != 0xff) return 0;
    if (b->p[pos + 1] == m) return pos + 1;
    if (b->p[pos + 1] == 0xda) return 0;
    pos += 2 + ((size_t)b->p[pos + 2] << 8 | b->p[pos + 3]);
  }
  return 0;
}

typedef struct hostile {
  const char *name;
  bytes data;
  dif__image_limits limits;
  dif_status want;
  const char *substr;
  int orientation; /* when want is DIF_OK */
} hostile;

static void check_hostile(hostile *h) {
  dif__error e = {DIF_OK, ""};
  dif__image img;
  memset(&img, 0xab, sizeof img);
  dif_status st = dif__image_decode_memory(h->data.p, h->data.n, &h->limits, &img, &e);
  if (st != h->want || (h->substr && !strstr(e.msg, h->substr)))
    fprintf(stderr, "hostile %s:\n", h->name);
  else if (getenv("DIF_TEST_VERBOSE"))
    printf("     %-32s %s: %s\n", h->name, dif_status_string(st), st ? e.msg : "");
  EXPECT(st, h->want, e.msg, h->substr);
  if (st == DIF_OK) {
    CHECK(img.rgb != NULL && img.width > 0);
    CHECK(img.exif_orientation == h->orientation);
  } else {
    CHECK(img.rgb == NULL && img.width == 0 && img.height == 0);
  }
  dif__image_free(&img);
  /* The same through a file: the message starts with the path. */
  char name[128];
  snprintf(name, sizeof name, "hostile-%s.%s", h->name,
           strncmp(h->name, "jpeg", 4) ? "png" : "jpg");
  const char *path = scratch_path(name);
  write_file(path, h->data.p, h->data.n);
  char pathcopy[600];
  snprintf(pathcopy, sizeof pathcopy, "%s", path);
  st = dif__image_load(pathcopy, &h->limits, &img, &e);
  EXPECT(st, h->want, e.msg, h->substr);
  if (st != DIF_OK) CHECK_MSG(strncmp(e.msg, pathcopy, strlen(pathcopy)) == 0, "%s", e.msg);
  dif__image_free(&img);
  unlink(pathcopy);
  bytes_free(&h->data);
}

TEST(hostile_files) {
  dif__error e = {DIF_OK, ""};
  dif__image small = test_pattern(16, 16, 2);
  bytes png, jpg, big_jpg;
  CHECK(dif__image_encode_png(&small, NULL, 0, &png.p, &png.n, &e) == DIF_OK);
  CHECK(dif__image_encode_jpeg(&small, 90, &jpg.p, &jpg.n, &e) == DIF_OK);
  dif__image big = test_pattern(256, 256, 4);
  CHECK(dif__image_encode_jpeg(&big, 90, &big_jpg.p, &big_jpg.n, &e) == DIF_OK);
  const dif__image_limits none = {0, 0, 0, 0};
  int n = 0;
  hostile h;
#define CASE(nm, d, lim, st, sub, orient)                                                          \
  do {                                                                                             \
    h = (hostile){nm, d, lim, st, sub, orient};                                                    \
    check_hostile(&h);                                                                             \
    n++;                                                                                           \
  } while (0)

  CASE("empty", bytes_copy("", 0), none, DIF_ERR_BAD_IMAGE, "empty file", 0);
  CASE("gif", bytes_copy("GIF89a\1\0\1\0\0\0\0", 13), none, DIF_ERR_UNSUPPORTED,
       "a GIF image, which libdif does not read (PNG, JPEG and WebP only)", 0);
  CASE("bmp", bytes_copy("BM\x3a\0\0\0\0\0\0\0\x36\0\0\0", 14), none, DIF_ERR_UNSUPPORTED,
       "a BMP image", 0);
  CASE("tiff", bytes_copy("II*\0\x08\0\0\0", 8), none, DIF_ERR_UNSUPPORTED, "a TIFF image", 0);
  CASE("heic",
       bytes_copy("\0\0\0\x18"
                  "ftypheic\0\0\0\0",
                  16),
       none, DIF_ERR_UNSUPPORTED, "a HEIF image", 0);
  CASE("avif",
       bytes_copy("\0\0\0\x1c"
                  "ftypavif\0\0\0\0",
                  16),
       none, DIF_ERR_UNSUPPORTED, "an AVIF image", 0);
  CASE("riff-wave", bytes_copy("RIFF\x24\0\0\0WAVEfmt ", 16), none, DIF_ERR_BAD_IMAGE,
       "a RIFF file of type \"WAVE\"", 0);
  CASE("text-renamed-png", bytes_copy("hello, I am not a picture\n", 26), none, DIF_ERR_BAD_IMAGE,
       "not an image (a text file that starts with 68 65 6c 6c", 0);
  CASE("one-byte", bytes_copy("\xff", 1), none, DIF_ERR_BAD_IMAGE,
       "not an image (the file starts with ff", 0);
  CASE("png-half-signature", bytes_copy(png.p, 4), none, DIF_ERR_BAD_IMAGE,
       "truncated PNG signature", 0);
  CASE("png-signature-only", bytes_copy(png.p, 8), none, DIF_ERR_BAD_IMAGE, "truncated", 0);
  CASE("png-truncated-in-ihdr", bytes_copy(png.p, 20), none, DIF_ERR_BAD_IMAGE, "truncated", 0);
  CASE("png-truncated-in-idat", bytes_copy(png.p, png.n / 2), none, DIF_ERR_BAD_IMAGE, "truncated",
       0);
  CASE("png-no-iend", bytes_copy(png.p, png.n - 12), none, DIF_OK, NULL, 1);

  bytes b = bytes_copy(png.p, png.n);
  b.p[png_chunk(&b, "IHDR") + 8 + 13] ^= 1;
  CASE("png-bad-ihdr-crc", b, none, DIF_ERR_BAD_IMAGE, "IHDR: CRC error", 0);
  b = bytes_copy(png.p, png.n);
  {
    size_t c = png_chunk(&b, "IDAT");
    b.p[c + 8 + be32(b.p + c)] ^= 0x55; /* the CRC field itself */
    CASE("png-bad-idat-crc", b, none, DIF_ERR_BAD_IMAGE, "IDAT: CRC error", 0);
    /* data corrupted, CRC not fixed: zlib notices before the CRC is read */
    b = bytes_copy(png.p, png.n);
    b.p[c + 10] ^= 0x55;
    CASE("png-idat-data-flipped", b, none, DIF_ERR_BAD_IMAGE, "corrupt PNG: IDAT", 0);
  }
  {
    /* an ancillary tEXt chunk with a wrong CRC: Pillow refuses it too */
    dif__image_text t = {"k", "v"};
    CHECK(dif__image_encode_png(&small, &t, 1, &b.p, &b.n, &e) == DIF_OK);
    size_t c = png_chunk(&b, "tEXt");
    CHECK(c != 0);
    b.p[c + 8] ^= 1;
    CASE("png-bad-text-crc", b, none, DIF_ERR_BAD_IMAGE, "tEXt: CRC error", 0);
  }
  b = bytes_copy(png.p, png.n);
  put_be32(b.p + 16, 0);
  png_fix_crc(&b, 8);
  CASE("png-zero-width", b, none, DIF_ERR_BAD_IMAGE, "PNG declares a zero width", 0);
  b = bytes_copy(png.p, png.n);
  put_be32(b.p + 20, 0);
  png_fix_crc(&b, 8);
  CASE("png-zero-height", b, none, DIF_ERR_BAD_IMAGE, "PNG declares a zero height", 0);
  b = bytes_copy(png.p, png.n);
  put_be32(b.p + 16, 100000), put_be32(b.p + 20, 100000);
  png_fix_crc(&b, 8);
  CASE("png-bomb-100000x100000", b, none, DIF_ERR_LIMIT, "PNG width 100000 is larger than", 0);
  b = bytes_copy(png.p, png.n);
  put_be32(b.p + 16, 16000), put_be32(b.p + 20, 16000);
  png_fix_crc(&b, 8);
  CASE("png-bomb-256Mpx", b, none, DIF_ERR_LIMIT, "256000000 pixels, more than the limit", 0);
  b = bytes_copy(png.p, png.n);
  put_be32(b.p + 16, 0xffffffffu);
  png_fix_crc(&b, 8);
  CASE("png-width-2^32-1", b, none, DIF_ERR_LIMIT, "PNG width 4294967295", 0);
  CASE("png-max-pixels", bytes_copy(png.p, png.n), ((dif__image_limits){0, 0, 255, 0}),
       DIF_ERR_LIMIT, "256 pixels, more than the limit of 255", 0);
  CASE("png-max-width", bytes_copy(png.p, png.n), ((dif__image_limits){15, 0, 0, 0}), DIF_ERR_LIMIT,
       "width 16 is larger than the limit of 15", 0);
  CASE("png-max-height", bytes_copy(png.p, png.n), ((dif__image_limits){0, 8, 0, 0}), DIF_ERR_LIMIT,
       "height 16 is larger than the limit of 8", 0);
  b = bytes_copy(png.p, png.n);
  b.p[24] = 3; /* bit depth 3 */
  png_fix_crc(&b, 8);
  CASE("png-bit-depth-3", b, none, DIF_ERR_BAD_IMAGE, "IHDR", 0);
  b = bytes_copy(png.p, png.n);
  b.p[25] = 7; /* colour type 7 */
  png_fix_crc(&b, 8);
  CASE("png-color-type-7", b, none, DIF_ERR_BAD_IMAGE, "IHDR", 0);
  {
    /* zlib data corrupted, CRC recomputed: zlib itself must notice */
    b = bytes_copy(png.p, png.n);
    size_t c = png_chunk(&b, "IDAT");
    b.p[c + 8] = 0x00; /* zlib header: CMF 0x00 is not deflate */
    png_fix_crc(&b, c);
    CASE("png-idat-bad-zlib-header", b, none, DIF_ERR_BAD_IMAGE, "IDAT", 0);
    b = bytes_copy(png.p, png.n);
    uint32_t len = be32(b.p + c + 0);
    for (uint32_t i = 2; i < len; i++) b.p[c + 8 + i] = (uint8_t)(0xa5 ^ i * 31);
    png_fix_crc(&b, c);
    CASE("png-idat-garbage-deflate", b, none, DIF_ERR_BAD_IMAGE, "IDAT", 0);
    /* the compressed stream stops early: shorten IDAT, keep IEND */
    b = bytes_copy(png.p, c + 8 + 20);
    put_be32(b.p + c, 20);
    b.p = realloc(b.p, b.n + 4 + 12);
    b.n += 4;
    png_fix_crc(&b, c);
    memcpy(b.p + b.n, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    b.n += 12;
    CASE("png-idat-short-stream", b, none, DIF_ERR_BAD_IMAGE, "Not enough image data", 0);
  }
  {
    /* IDAT before IHDR: drop the IHDR chunk */
    b = bytes_copy(png.p, 8);
    bytes_insert(&b, 8, png.p + 33, png.n - 33);
    CASE("png-missing-ihdr", b, none, DIF_ERR_BAD_IMAGE, "IHDR", 0);
    /* an unknown critical chunk must stop the decoder */
    b = bytes_copy(png.p, png.n);
    static const uint8_t crit[12] = {0, 0, 0, 0, 'A', 'B', 'C', 'D', 0, 0, 0, 0};
    bytes_insert(&b, 33, crit, 12);
    png_fix_crc(&b, 33);
    CASE("png-unknown-critical-chunk", b, none, DIF_ERR_BAD_IMAGE, "ABCD", 0);
    /* a chunk length past the end of the file */
    b = bytes_copy(png.p, png.n);
    put_be32(b.p + png_chunk(&b, "IDAT"), 0x7ffffff0u);
    CASE("png-huge-chunk-length", b, none, DIF_ERR_BAD_IMAGE, NULL, 0);
  }

  CASE("jpeg-soi-only", bytes_copy("\xff\xd8", 2), none, DIF_ERR_BAD_IMAGE,
       "JPEG file is truncated", 0);
  CASE("jpeg-truncated-header", bytes_copy(jpg.p, 100), none, DIF_ERR_BAD_IMAGE,
       "JPEG file is truncated", 0);
  CASE("jpeg-truncated-scan", bytes_copy(big_jpg.p, big_jpg.n * 2 / 3), none, DIF_ERR_BAD_IMAGE,
       "JPEG file is truncated", 0);
  CASE("jpeg-garbage-after-soi", bytes_copy("\xff\xd8\x12\x34 this is no jpeg", 21), none,
       DIF_ERR_BAD_IMAGE, "JPEG file is truncated", 0);
  CASE("jpeg-garbage-then-eoi", bytes_copy("\xff\xd8\x12\x34 this is no jpeg\xff\xd9", 23), none,
       DIF_ERR_BAD_IMAGE, "corrupt JPEG", 0);
  {
    size_t sof = jpeg_marker(&jpg, 0xc0);
    CHECK(sof != 0);
    b = bytes_copy(jpg.p, jpg.n);
    b.p[sof + 4] = 0, b.p[sof + 5] = 0; /* height */
    CASE("jpeg-zero-height", b, none, DIF_ERR_BAD_IMAGE, "JPEG declares a zero height (16x0)", 0);
    b = bytes_copy(jpg.p, jpg.n);
    b.p[sof + 6] = 0, b.p[sof + 7] = 0; /* width */
    CASE("jpeg-zero-width", b, none, DIF_ERR_BAD_IMAGE, "JPEG declares a zero width (0x16)", 0);
    b = bytes_copy(jpg.p, jpg.n);
    b.p[sof + 4] = 0xfd, b.p[sof + 5] = 0xe8, b.p[sof + 6] = 0xfd, b.p[sof + 7] = 0xe8;
    CASE("jpeg-bomb-65000x65000", b, none, DIF_ERR_LIMIT, "JPEG width 65000 is larger than", 0);
    CASE("jpeg-max-pixels", bytes_copy(jpg.p, jpg.n), ((dif__image_limits){0, 0, 100, 0}),
         DIF_ERR_LIMIT, "JPEG size 16x16 is 256 pixels", 0);
    b = bytes_copy(jpg.p, jpg.n);
    b.p[sof + 3] = 12; /* 12-bit precision */
    CASE("jpeg-12-bit", b, none, DIF_ERR_UNSUPPORTED, "precision 12", 0);
    b = bytes_copy(jpg.p, jpg.n);
    b.p[sof + 8] = 2; /* 2 components, length no longer fits */
    CASE("jpeg-bad-sof-length", b, none, DIF_ERR_BAD_IMAGE, "corrupt JPEG", 0);
    b = bytes_copy(jpg.p, jpg.n);
    size_t dqt = jpeg_marker(&b, 0xdb);
    b.p[dqt + 3] = 0x0f; /* quantisation table 15 */
    CASE("jpeg-bad-dqt-index", b, none, DIF_ERR_BAD_IMAGE, "Bogus DQT index 15", 0);
  }
  {
    /* EXIF that must be ignored, never followed out of bounds */
    uint8_t t[32];
    b = bytes_copy(jpg.p, jpg.n);
    size_t tn = make_tiff(t, 0, 0x0112, 3, 1, 6, 0xfffffff0u, 1);
    jpeg_add_exif(&b, t, tn);
    CASE("jpeg-exif-ifd-offset-past-end", b, none, DIF_OK, NULL, 1);
    b = bytes_copy(jpg.p, jpg.n);
    tn = make_tiff(t, 1, 0x0112, 3, 1, 6, 8, 65535);
    jpeg_add_exif(&b, t, 10); /* 65535 entries announced, none present */
    CASE("jpeg-exif-entries-past-end", b, none, DIF_OK, NULL, 1);
    b = bytes_copy(jpg.p, jpg.n);
    tn = make_tiff(t, 1, 0x0112, 3, 1, 9, 8, 1);
    jpeg_add_exif(&b, t, tn);
    CASE("jpeg-exif-orientation-9", b, none, DIF_OK, NULL, 1);
    b = bytes_copy(jpg.p, jpg.n);
    jpeg_add_exif(&b, (const uint8_t *)"", 0); /* "Exif\0\0" and nothing */
    CASE("jpeg-exif-empty", b, none, DIF_OK, NULL, 1);
    b = bytes_copy(jpg.p, jpg.n);
    tn = make_tiff(t, 1, 0x0112, 3, 1, 8, 8, 1);
    jpeg_add_exif(&b, t, tn);
    CASE("jpeg-exif-orientation-8", b, none, DIF_OK, NULL, 8);
  }
  {
    /* corrupt entropy-coded data decodes (libjpeg warns), as in Pillow */
    b = bytes_copy(big_jpg.p, big_jpg.n);
    for (size_t i = b.n / 2; i < b.n / 2 + 64; i++)
      if (b.p[i] != 0xff && b.p[i - 1] != 0xff) b.p[i] = (uint8_t)(b.p[i] * 37 + 11) & 0x7f;
    CASE("jpeg-corrupt-entropy-data", b, none, DIF_OK, NULL, 1);
  }
  {
    /* a progressive JPEG whose first scan is repeated 600 times */
    bytes prog;
    CHECK(dif__file_read_all(dif__test_path(GOLDEN "images/progressive_200x150.jpg"), 1 << 20,
                             &prog.p, &prog.n, &e) == DIF_OK);
    size_t sos = 0;
    for (size_t i = 2; i + 1 < prog.n; i++)
      if (prog.p[i] == 0xff && prog.p[i + 1] == 0xda) {
        sos = i;
        break;
      }
    size_t end = sos + 2;
    while (end + 1 < prog.n &&
           !(prog.p[end] == 0xff && prog.p[end + 1] != 0 && (prog.p[end + 1] & 0xf8) != 0xd0))
      end++;
    CHECK(sos && end < prog.n);
    b = bytes_copy(prog.p, end);
    for (int i = 0; i < 600; i++) bytes_insert(&b, b.n, prog.p + sos, end - sos);
    bytes_insert(&b, b.n, prog.p + end, prog.n - end);
    CASE("jpeg-600-scans", b, none, DIF_ERR_LIMIT, "more than 500 progressive scans", 0);
    bytes_free(&prog);
  }
#undef CASE
  printf("     %d hostile files\n", n);
  CHECK(n >= 20);
  bytes_free(&png);
  bytes_free(&jpg);
  bytes_free(&big_jpg);
  dif__image_free(&small);
  dif__image_free(&big);
}

TEST(load_errors_name_the_path) {
  dif__image img;
  dif__error e = {DIF_OK, ""};
  char path[600];
  snprintf(path, sizeof path, "%s/does-not-exist.png", scratch);
  EXPECT(dif__image_load(path, NULL, &img, &e), DIF_ERR_IO, e.msg, path);
  CHECK(strstr(e.msg, "No such file") != NULL);
  EXPECT(dif__image_load(scratch, NULL, &img, &e), DIF_ERR_IO, e.msg, "is a directory");
  CHECK(strstr(e.msg, scratch) != NULL);
  /* the file size limit, before reading */
  dif__image_limits tiny = {0, 0, 0, 100};
  EXPECT(dif__image_load(dif__test_path(GOLDEN "images/rgb_224x224.png"), &tiny, &img, &e),
         DIF_ERR_LIMIT, e.msg, "more than the limit of 100");
  EXPECT(dif__image_load(NULL, NULL, &img, &e), DIF_ERR_INVALID_ARGUMENT, e.msg, "NULL");
  EXPECT(dif__image_load(path, NULL, NULL, &e), DIF_ERR_INVALID_ARGUMENT, e.msg, "NULL");
  EXPECT(dif__image_decode_memory(NULL, 5, NULL, &img, &e), DIF_ERR_INVALID_ARGUMENT, e.msg,
         "NULL");
  dif__image_free(NULL);
}

TEST(limits_defaults) {
  dif__image_limits l = dif__image_limits_resolve(NULL);
  CHECK(l.max_width == 16384 && l.max_height == 16384 && l.max_pixels == 64ull << 20);
  CHECK(l.max_file_bytes == 256ull << 20);
  dif__image_limits part = {100, 0, 0, 0};
  l = dif__image_limits_resolve(&part);
  CHECK(l.max_width == 100 && l.max_height == 16384);
  dif__image img;
  dif__error e = {DIF_OK, ""};
  EXPECT(dif__image_alloc(&img, 0, 5, NULL, &e), DIF_ERR_INVALID_ARGUMENT, e.msg, "0x5");
  EXPECT(dif__image_alloc(&img, 16385, 1, NULL, &e), DIF_ERR_LIMIT, e.msg, "16385");
  EXPECT(dif__image_alloc(&img, -1, 1, NULL, &e), DIF_ERR_INVALID_ARGUMENT, e.msg, "-1x1");
}

/* ---- WebP (issue 14 item 3) ---- */

/* A WebP of img: lossless (exact) or lossy at quality q, RGB or with an
 * alpha channel of 1..255 (libwebp keeps the colour of visible pixels). */
static bytes webp_of(const dif__image *img, int lossy, int alpha) {
  bytes b = {NULL, 0};
  uint8_t *out = NULL;
  size_t n;
  if (!alpha) {
    n = lossy ? WebPEncodeRGB(img->rgb, img->width, img->height, img->width * 3, 80, &out)
              : WebPEncodeLosslessRGB(img->rgb, img->width, img->height, img->width * 3, &out);
  } else {
    size_t px = (size_t)img->width * img->height;
    uint8_t *rgba = malloc(px * 4);
    for (size_t i = 0; i < px; i++) {
      memcpy(rgba + 4 * i, img->rgb + 3 * i, 3);
      rgba[4 * i + 3] = (uint8_t)(1 + i % 255);
    }
    n = lossy ? WebPEncodeRGBA(rgba, img->width, img->height, img->width * 4, 80, &out)
              : WebPEncodeLosslessRGBA(rgba, img->width, img->height, img->width * 4, &out);
    free(rgba);
  }
  CHECK(n > 0);
  b = bytes_copy(out, n);
  WebPFree(out);
  return b;
}

/* file with an EXIF chunk holding orientation o (big-endian TIFF) */
static bytes webp_with_exif(bytes file, int o) {
  uint8_t tiff[26] = {'M', 'M', 0, 42, 0, 0, 0,          8, 0, 1, 0x01, 0x12, 0,
                      3,   0,   0, 0,  1, 0, (uint8_t)o, 0, 0, 0, 0,    0,    0};
  WebPData in = {file.p, file.n}, ex = {tiff, sizeof tiff}, out = {NULL, 0};
  WebPMux *mux = WebPMuxCreate(&in, 0);
  CHECK(mux && WebPMuxSetChunk(mux, "EXIF", &ex, 1) == WEBP_MUX_OK);
  CHECK(WebPMuxAssemble(mux, &out) == WEBP_MUX_OK);
  WebPMuxDelete(mux);
  bytes b = bytes_copy(out.bytes, out.size);
  WebPDataClear(&out);
  return b;
}

TEST(webp_decodes_like_libwebp) {
  dif__image src = test_pattern(24, 16, 5);
  dif__error e = {DIF_OK, ""};
  for (int lossy = 0; lossy < 2; lossy++) {
    for (int alpha = 0; alpha < 2; alpha++) {
      bytes b = webp_of(&src, lossy, alpha);
      dif__image img;
      EXPECT(dif__image_decode_memory(b.p, b.n, NULL, &img, &e), DIF_OK, e.msg, NULL);
      CHECK(img.width == 24 && img.height == 16 && img.exif_orientation == 1);
      int w, h;
      uint8_t *ref = WebPDecodeRGB(b.p, b.n, &w, &h); /* libwebp's own RGB: alpha dropped */
      CHECK(ref && w == 24 && h == 16);
      CHECK_MSG(img.rgb && ref && memcmp(img.rgb, ref, 24 * 16 * 3) == 0,
                "lossy %d alpha %d differs from WebPDecodeRGB", lossy, alpha);
      if (!lossy) CHECK(img.rgb && memcmp(img.rgb, src.rgb, 24 * 16 * 3) == 0); /* exact */
      WebPFree(ref);
      dif__image_free(&img);
      bytes_free(&b);
    }
  }
  /* the EXIF orientation of its EXIF chunk is applied, as for JPEG */
  bytes plain = webp_of(&src, 0, 0), rotated = webp_with_exif(plain, 6);
  dif__image img, want;
  EXPECT(dif__image_decode_memory(rotated.p, rotated.n, NULL, &img, &e), DIF_OK, e.msg, NULL);
  CHECK(img.width == 16 && img.height == 24 && img.exif_orientation == 6);
  CHECK(dif__image_alloc(&want, 24, 16, NULL, &e) == DIF_OK);
  memcpy(want.rgb, src.rgb, 24 * 16 * 3);
  CHECK(dif__image_orient(&want, 6, &e) == DIF_OK);
  CHECK(img.rgb && memcmp(img.rgb, want.rgb, 24 * 16 * 3) == 0);
  dif__image_free(&img);
  dif__image_free(&want);
  /* our encoder: lossless, and detected by content, not by name */
  uint8_t *enc = NULL;
  size_t n = 0;
  EXPECT(dif__image_encode_webp(&src, NULL, &enc, &n, &e), DIF_OK, e.msg, NULL);
  const char *path = scratch_path("webp-named.png");
  write_file(path, enc, n);
  EXPECT(dif__image_load(path, NULL, &img, &e), DIF_OK, e.msg, NULL);
  CHECK(img.rgb && memcmp(img.rgb, src.rgb, 24 * 16 * 3) == 0);
  dif__image_free(&img);
  unlink(path);
  free(enc);
  bytes_free(&plain);
  bytes_free(&rotated);
  dif__image_free(&src);
}

TEST(webp_hostile) {
  dif__image src = test_pattern(24, 16, 6);
  bytes ll = webp_of(&src, 0, 0), lossy = webp_of(&src, 1, 0);
  const dif__image_limits none = {0, 0, 0, 0}, narrow = {8, 0, 0, 0};
  hostile h;
  int n = 0;
#define CASE(nm, d, lim, st, sub, orient)                                                          \
  do {                                                                                             \
    h = (hostile){nm, d, lim, st, sub, orient};                                                    \
    check_hostile(&h);                                                                             \
    n++;                                                                                           \
  } while (0)
  CASE("webp-header-only", bytes_copy(ll.p, 12), none, DIF_ERR_BAD_IMAGE, "corrupt WebP", 0);
  CASE("webp-truncated-lossless", bytes_copy(ll.p, ll.n / 2), none, DIF_ERR_BAD_IMAGE,
       "corrupt WebP", 0);
  CASE("webp-truncated-lossy", bytes_copy(lossy.p, lossy.n - 8), none, DIF_ERR_BAD_IMAGE,
       "corrupt WebP", 0);
  bytes b = bytes_copy(ll.p, ll.n);
  put_be32(b.p + 4, 0xfffffff0u); /* RIFF size beyond the file */
  CASE("webp-riff-size-lies", b, none, DIF_ERR_BAD_IMAGE, "corrupt WebP", 0);
  b = bytes_copy(ll.p, ll.n);
  memcpy(b.p + 12, "VP8Q", 4);
  CASE("webp-unknown-chunk", b, none, DIF_ERR_BAD_IMAGE, "corrupt WebP", 0);
  CASE("webp-wider-than-limit", bytes_copy(ll.p, ll.n), narrow, DIF_ERR_LIMIT,
       "WebP width 24 is larger than the limit of 8", 0);
  /* a 200-byte file that declares 16383 x 16383 (268 Mpx): refused before
   * any pixel memory, by the pixel limit */
  b = bytes_copy(ll.p, ll.n);
  CHECK(memcmp(b.p + 12, "VP8L", 4) == 0 && b.p[20] == 0x2f);
  {
    uint32_t bits = (uint32_t)b.p[21] | (uint32_t)b.p[22] << 8 | (uint32_t)b.p[23] << 16 |
                    (uint32_t)b.p[24] << 24;
    bits = (bits & 0xf0000000u) | 16382u | 16382u << 14;
    for (int i = 0; i < 4; i++) b.p[21 + i] = (uint8_t)(bits >> 8 * i);
  }
  CASE("webp-16383-squared", b, none, DIF_ERR_LIMIT, "WebP size 16383x16383", 0);
  /* animated: two frames */
  {
    WebPMux *mux = WebPMuxNew();
    WebPMuxFrameInfo f = {0};
    f.bitstream.bytes = ll.p;
    f.bitstream.size = ll.n;
    f.id = WEBP_CHUNK_ANMF;
    f.duration = 100;
    f.dispose_method = WEBP_MUX_DISPOSE_NONE;
    f.blend_method = WEBP_MUX_NO_BLEND;
    WebPMuxAnimParams ap = {0, 0};
    CHECK(WebPMuxPushFrame(mux, &f, 1) == WEBP_MUX_OK &&
          WebPMuxPushFrame(mux, &f, 1) == WEBP_MUX_OK);
    CHECK(WebPMuxSetAnimationParams(mux, &ap) == WEBP_MUX_OK);
    WebPData out = {NULL, 0};
    CHECK(WebPMuxAssemble(mux, &out) == WEBP_MUX_OK);
    WebPMuxDelete(mux);
    CASE("webp-animated", bytes_copy(out.bytes, out.size), none, DIF_ERR_UNSUPPORTED,
         "animated WebP (24x16)", 0);
    WebPDataClear(&out);
  }
  /* an EXIF chunk with garbage: the image still decodes, orientation 1 */
  {
    uint8_t junk[40];
    memset(junk, 0xee, sizeof junk);
    WebPData in = {ll.p, ll.n}, ex = {junk, sizeof junk}, out = {NULL, 0};
    WebPMux *mux = WebPMuxCreate(&in, 0);
    CHECK(mux && WebPMuxSetChunk(mux, "EXIF", &ex, 1) == WEBP_MUX_OK);
    CHECK(WebPMuxAssemble(mux, &out) == WEBP_MUX_OK);
    WebPMuxDelete(mux);
    CASE("webp-junk-exif", bytes_copy(out.bytes, out.size), none, DIF_OK, NULL, 1);
    WebPDataClear(&out);
  }
#undef CASE
  printf("     %d hostile WebP files\n", n);
  bytes_free(&ll);
  bytes_free(&lossy);
  dif__image_free(&src);
}

/* ---- the record and the A1111 text in every format (items 3 and 8) ---- */

TEST(metadata_round_trips_in_every_format) {
  dif__image src = test_pattern(16, 8, 7);
  dif__error e = {DIF_OK, ""};
  /* a record of 150 kB (three JPEG COM segments) with XML's special
   * characters, and an A1111 text with non-ASCII and a character outside
   * the BMP (a UTF-16 surrogate pair) */
  size_t rn = 150000;
  char *record = malloc(rn + 1);
  for (size_t i = 0; i < rn; i++) record[i] = "{<&>\"x'}"[i % 8];
  record[rn] = '\0';
  const char *info = "une pomme, caf\xc3\xa9 \xf0\x9f\x8d\x8e\nNegative prompt: flou\nSteps: 2";
  dif__image_meta meta = {record, info};
  const char *names[] = {"m.png", "m.jpg", "m.webp"};
  for (int f = 0; f < 3; f++) {
    const char *path = scratch_path(names[f]);
    EXPECT(dif__image_save(&src, path, dif__image_format_for_path(path), &meta, &e), DIF_OK, e.msg,
           NULL);
    char *got = NULL;
    EXPECT(dif__image_read_meta(path, DIF__META_RECORD, &got, &e), DIF_OK, e.msg, NULL);
    CHECK_MSG(got && strcmp(got, record) == 0, "%s: record changed", names[f]);
    free(got);
    EXPECT(dif__image_read_meta(path, DIF__META_INFOTEXT, &got, &e), DIF_OK, e.msg, NULL);
    CHECK_MSG(got && strcmp(got, info) == 0, "%s: A1111 text \"%s\"", names[f], got ? got : "");
    free(got);
    dif__image img;
    EXPECT(dif__image_load(path, NULL, &img, &e), DIF_OK, e.msg, NULL);
    CHECK(img.width == 16 && img.height == 8);
    dif__image_free(&img);
    unlink(path);
  }
  /* JPEG: an A1111 text beyond one EXIF segment is cut at a character */
  size_t big = 40000;
  char *long_info = malloc(big * 2 + 1);
  for (size_t i = 0; i < big; i++) memcpy(long_info + 2 * i, "\xc3\xa9", 2);
  long_info[big * 2] = '\0';
  dif__image_meta m2 = {NULL, long_info};
  const char *path = scratch_path("long.jpg");
  EXPECT(dif__image_save(&src, path, DIF__IMAGE_FORMAT_JPEG, &m2, &e), DIF_OK, e.msg, NULL);
  char *got = NULL;
  EXPECT(dif__image_read_meta(path, DIF__META_INFOTEXT, &got, &e), DIF_OK, e.msg, NULL);
  CHECK(got && strlen(got) == 32700 * 2 && strncmp(got, long_info, 32700 * 2) == 0);
  free(got);
  EXPECT(dif__image_read_meta(path, DIF__META_RECORD, &got, &e), DIF_ERR_INVALID_ARGUMENT, e.msg,
         "has no 'dif:parameters' COM segment");
  unlink(path);
  EXPECT(dif__image_save(&src, path, DIF__IMAGE_FORMAT_UNKNOWN, &m2, &e), DIF_ERR_UNSUPPORTED,
         e.msg, "unknown image format");
  CHECK(!file_exists(path));
  free(long_info);
  free(record);
  dif__image_free(&src);
  /* names */
  CHECK(dif__image_format_for_path("a.PNG") == DIF__IMAGE_FORMAT_PNG);
  CHECK(dif__image_format_for_path("d.jpg/a") == DIF__IMAGE_FORMAT_UNKNOWN);
  CHECK(dif__image_format_for_path(".webp") == DIF__IMAGE_FORMAT_UNKNOWN);
  CHECK(dif__image_format_for_path("x.JPEG") == DIF__IMAGE_FORMAT_JPEG);
  CHECK(dif__image_format_for_path("x.webp") == DIF__IMAGE_FORMAT_WEBP);
}

TEST(metadata_hostile) {
  dif__error e = {DIF_OK, ""};
  char *v = NULL;
  /* JPEG: a segment longer than the file, a COM with a NUL in the record */
  static const uint8_t long_seg[] = {0xff, 0xd8, 0xff, 0xfe, 0xff, 0xff, 'd', 'i', 'f'};
  EXPECT(dif__image_meta_memory(long_seg, sizeof long_seg, DIF__META_RECORD, &v, &e),
         DIF_ERR_BAD_IMAGE, e.msg, "corrupt JPEG: a segment at byte 2 declares 65535 bytes");
  CHECK(v == NULL);
  uint8_t nul[40] = {0xff, 0xd8, 0xff, 0xfe, 0, 2 + 15 + 3};
  memcpy(nul + 6, "dif:parameters\0{\0}", 18);
  EXPECT(dif__image_meta_memory(nul, 6 + 18, DIF__META_RECORD, &v, &e), DIF_ERR_BAD_IMAGE, e.msg,
         "NUL");
  /* EXIF UserComment pointing outside its block, or not there */
  uint8_t tiff[64] = {'M',  'M',  0, 42, 0,    0,    0,    8,    0, 1, 0x87, 0x69, 0, 4,
                      0,    0,    0, 1,  0,    0,    0,    26,   0, 0, 0,    0,    0, 1,
                      0x92, 0x86, 0, 7,  0x7f, 0xff, 0xff, 0xff, 0, 0, 0,    44};
  EXPECT(dif__exif_user_comment(tiff, 44, &v, &e), DIF_ERR_BAD_IMAGE, e.msg, "outside the block");
  tiff[21] = 200; /* the Exif IFD pointer past the end */
  EXPECT(dif__exif_user_comment(tiff, 44, &v, &e), DIF_ERR_INVALID_ARGUMENT, e.msg, "UserComment");
  EXPECT(dif__exif_user_comment(tiff, 3, &v, &e), DIF_ERR_BAD_IMAGE, e.msg, "not a TIFF");
  /* an odd-length UNICODE comment and a lone surrogate decode to U+FFFD */
  static const uint8_t odd[] = {
      'M', 'M', 0,  42, 0, 0, 0,   8,   0,   1,    0x87, 0x69, 0,   4, 0,    0,    0,  1,   0,
      0,   0,   26, 0,  0, 0, 0,   0,   1,   0x92, 0x86, 0,    7,   0, 0,    0,    13, 0,   0,
      0,   44,  0,  0,  0, 0, 'U', 'N', 'I', 'C',  'O',  'D',  'E', 0, 0xd8, 0x00, 0,  'a', 0x41};
  EXPECT(dif__exif_user_comment(odd, sizeof odd, &v, &e), DIF_OK, e.msg, NULL);
  CHECK(v && strcmp(v, "\xef\xbf\xbd"
                       "a") == 0);
  free(v);
  v = NULL;
  /* not an image, an image without a record */
  EXPECT(dif__image_meta_memory((const uint8_t *)"GIF89a..", 8, DIF__META_RECORD, &v, &e),
         DIF_ERR_BAD_IMAGE, e.msg, "a GIF image");
  dif__image img = test_pattern(4, 4, 1);
  uint8_t *buf;
  size_t n;
  CHECK(dif__image_encode_webp(&img, NULL, &buf, &n, &e) == DIF_OK);
  EXPECT(dif__image_meta_memory(buf, n, DIF__META_RECORD, &v, &e), DIF_ERR_INVALID_ARGUMENT, e.msg,
         "WebP has no XMP chunk");
  free(buf);
  /* XMP: an entity libdif does not write, markup inside the element */
  const char *xmps[] = {"<dif:parameters>a&nbsp;b</dif:parameters>",
                        "<dif:parameters>a<b/></dif:parameters>", "<dif:parameters>{"};
  const char *why[] = {"unknown entity", "markup", "not closed"};
  for (int i = 0; i < 3; i++) {
    uint8_t *f = NULL;
    size_t fn = 0;
    CHECK(dif__image_encode_webp(&img, NULL, &f, &fn, &e) == DIF_OK);
    WebPData in = {f, fn}, x = {(const uint8_t *)xmps[i], strlen(xmps[i])}, out = {NULL, 0};
    WebPMux *mux = WebPMuxCreate(&in, 0);
    CHECK(mux && WebPMuxSetChunk(mux, "XMP ", &x, 1) == WEBP_MUX_OK);
    CHECK(WebPMuxAssemble(mux, &out) == WEBP_MUX_OK);
    WebPMuxDelete(mux);
    EXPECT(dif__image_meta_memory(out.bytes, out.size, DIF__META_RECORD, &v, &e), DIF_ERR_BAD_IMAGE,
           e.msg, why[i]);
    CHECK(v == NULL);
    WebPDataClear(&out);
    free(f);
  }
  dif__image_free(&img);
}

int main(void) {
  snprintf(scratch, sizeof scratch, "/tmp/dif-test-image-XXXXXX");
  if (!mkdtemp(scratch)) {
    perror("mkdtemp");
    return 1;
  }
  RUN(golden_images_decode);
  RUN(golden_jpeg_matches_pillow_exactly);
  RUN(golden_exif_orientation_6_rotates_clockwise);
  RUN(golden_png_matches_pixel_values);
  RUN(golden_png_match_libpng_reference);
  RUN(golden_gray16_scaled_not_clipped);
  RUN(png_every_16bit_value_rounds);
  RUN(png_rgba16_drops_alpha_and_rounds);
  RUN(png_low_bit_gray_scales_to_full_range);
  RUN(png_gray_alpha_palette_trns_interlace);
  RUN(jpeg_cmyk_and_ycck_like_pillow);
  RUN(orient_all_eight_like_pillow);
  RUN(exif_parser_bounds);
  RUN(jpeg_exif_orientations_applied);
  RUN(png_exif_chunk_applied);
  RUN(png_roundtrip_with_text);
  RUN(png_bad_text_refused_without_file);
  RUN(jpeg_roundtrip);
  RUN(atomic_write_failures_leave_nothing);
  RUN(hostile_files);
  RUN(load_errors_name_the_path);
  RUN(limits_defaults);
  RUN(webp_decodes_like_libwebp);
  RUN(webp_hostile);
  RUN(metadata_round_trips_in_every_format);
  RUN(metadata_hostile);
  remove_tree(scratch);
  return dif__test_finish();
}
