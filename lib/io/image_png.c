/* image_png.c — PNG decoding and encoding with libpng's classic API.
 *
 * The classic API rather than the simplified one, because the simplified
 * reader composites alpha onto a background and converts gamma, where
 * Pillow's convert("RGB") drops alpha and leaves the stored values alone.
 * libpng reports errors by longjmp; each setjmp is confined to the one
 * function that calls libpng, and everything changed between setjmp and a
 * longjmp lives in a heap-allocated png_ctx (C leaves changed locals
 * indeterminate after longjmp). Warnings are kept, never printed.
 */
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "io/fileio.h"
#include "io/image.h"

typedef struct png_ctx {
  /* reading: the encoded file */
  const uint8_t *data;
  size_t len, pos;
  /* writing: the growing output */
  uint8_t *out;
  size_t out_len, out_cap;
  /* what failed */
  dif_status status; /* the status a libpng error maps to */
  char msg[256];     /* libpng's error message */
  char warning[256]; /* libpng's last warning */
  /* owned buffers, freed after a longjmp */
  uint8_t *pixels;
  png_bytep *rows;
  png_textp texts;
} png_ctx;

static void on_error(png_structp png, png_const_charp msg) {
  png_ctx *c = png_get_error_ptr(png);
  snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "unknown libpng error");
  if (strstr(c->msg, "out of memory") || strstr(c->msg, "Out of memory") ||
      strstr(c->msg, "Insufficient memory"))
    c->status = DIF_ERR_OUT_OF_MEMORY;
  png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
  png_ctx *c = png_get_error_ptr(png);
  snprintf(c->warning, sizeof c->warning, "%s", msg ? msg : "");
}

static void read_fn(png_structp png, png_bytep dst, size_t n) {
  png_ctx *c = png_get_io_ptr(png);
  if (n > c->len - c->pos) {
    c->pos = c->len;
    png_error(png, "file is truncated (unexpected end of data)");
  }
  memcpy(dst, c->data + c->pos, n);
  c->pos += n;
}

static void write_fn(png_structp png, png_bytep src, size_t n) {
  png_ctx *c = png_get_io_ptr(png);
  if (n > c->out_cap - c->out_len) {
    size_t cap = c->out_cap ? c->out_cap : 65536;
    while (cap - c->out_len < n) {
      if (cap > SIZE_MAX / 2) {
        c->status = DIF_ERR_OUT_OF_MEMORY;
        png_error(png, "out of memory: encoded PNG too large");
      }
      cap *= 2;
    }
    uint8_t *nb = realloc(c->out, cap);
    if (!nb) {
      c->status = DIF_ERR_OUT_OF_MEMORY;
      png_error(png, "out of memory growing the encoded PNG");
    }
    c->out = nb;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, src, n);
  c->out_len += n;
}

static void flush_fn(png_structp png) { (void)png; }

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Ancillary chunks the decoder never uses: skipped (CRC still checked)
 * instead of parsed, which also keeps libpng from warning about them. tRNS is
 * among them because transparency is dropped like alpha. */
static const png_byte ignored_chunks[] = "bKGD\0cHRM\0gAMA\0hIST\0iCCP\0iTXt\0oFFs\0pCAL\0"
                                         "pHYs\0sBIT\0sCAL\0sPLT\0sRGB\0tEXt\0tIME\0tRNS\0zTXt";

/* The decoder proper; c lives on the heap so that what libpng and this
 * function change in it is well defined after a longjmp. */
static dif_status png_decode(png_ctx *c, const uint8_t *buf, size_t len,
                             const dif__image_limits *limits, dif__image *out, dif__error *err) {
  /* The first chunk of a valid PNG is IHDR at a fixed offset: check the
   * declared size before libpng even starts. */
  if (len >= 8 + 8 + 8 && memcmp(buf + 12, "IHDR", 4) == 0) {
    dif_status st = dif__image_check_size(be32(buf + 16), be32(buf + 20), limits, "PNG", err);
    if (st != DIF_OK) return st;
  }

  c->data = buf;
  c->len = len;
  c->status = DIF_ERR_BAD_IMAGE;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, on_error, on_warning);
  if (!png) return dif__fail_oom(err, "libpng reader", sizeof(png_struct *));
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    return dif__fail_oom(err, "libpng info", sizeof(png_info *));
  }
  if (setjmp(png_jmpbuf(png))) {
    free(c->pixels);
    free(c->rows);
    png_destroy_read_struct(&png, &info, NULL);
    if (c->status == DIF_ERR_OUT_OF_MEMORY)
      return dif__fail(err, c->status, "out of memory decoding PNG: %s", c->msg);
    if (c->status == DIF_ERR_BAD_IMAGE && c->warning[0] && strstr(c->msg, "IHDR"))
      return dif__fail(err, c->status, "corrupt PNG: %s (%s)", c->msg, c->warning);
    return dif__fail(err, c->status, "corrupt PNG: %s", c->msg);
  }

  png_set_read_fn(png, c, read_fn);
  /* Our own limits are checked below with a better message; libpng's
   * default of 1000000 would only preempt them. */
  png_set_user_limits(png, 0x7fffffffu, 0x7fffffffu);
  /* Pillow refuses a CRC error in any chunk; libpng by default only in
   * critical chunks. */
  png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_ERROR_QUIT);
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, ignored_chunks,
                              (int)(sizeof ignored_chunks / 5));
  png_read_info(png, info);

  png_uint_32 w = 0, h = 0;
  int depth = 0, color = 0, interlace = 0;
  png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, NULL, NULL);
  dif_status st = dif__image_check_size(w, h, limits, "PNG", err);
  if (st != DIF_OK) {
    png_destroy_read_struct(&png, &info, NULL);
    return st;
  }
  int orientation = 0;
#ifdef PNG_eXIf_SUPPORTED
  png_bytep exif = NULL;
  png_uint_32 exif_len = 0;
  if (png_get_eXIf_1(png, info, &exif_len, &exif) && exif)
    orientation = dif__exif_orientation(exif, exif_len);
#endif

  /* To RGB8 as Pillow's convert("RGB"): palette lookup, low-depth gray
   * scaled to 0..255, 16-bit scaled with rounding (v * 255 + 32895) >> 16 =
   * round(v / 257), alpha stripped, gray replicated. No gamma handling. */
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_scale_16(png);
  png_set_strip_alpha(png);
  if (!(color & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
  (void)png_set_interlace_handling(png);
  png_read_update_info(png, info);
  size_t rowbytes = png_get_rowbytes(png, info);
  if (rowbytes != (size_t)w * 3 || png_get_channels(png, info) != 3 ||
      png_get_bit_depth(png, info) != 8) {
    c->status = DIF_ERR_INTERNAL;
    snprintf(c->msg, sizeof c->msg,
             "libpng produced %zu bytes per row of %u pixels (color type %d, depth %d), "
             "not RGB8",
             rowbytes, (unsigned)w, color, depth);
    png_longjmp(png, 1);
  }

  size_t n = (size_t)w * h * 3;
  c->pixels = malloc(n);
  c->rows = malloc(sizeof(png_bytep) * h);
  if (!c->pixels || !c->rows) {
    free(c->pixels);
    free(c->rows);
    png_destroy_read_struct(&png, &info, NULL);
    return dif__fail_oom(err, "PNG pixels", n);
  }
  for (png_uint_32 y = 0; y < h; y++) c->rows[y] = c->pixels + (size_t)y * w * 3;
  png_read_image(png, c->rows);
  /* png_read_end is not called: chunks after the image data are not
   * needed, and a missing IEND should not lose a complete image. */
  free(c->rows);
  png_destroy_read_struct(&png, &info, NULL);
  out->width = (int)w;
  out->height = (int)h;
  out->rgb = c->pixels;
  out->exif_orientation = orientation ? orientation : 1;
  return DIF_OK;
}

dif_status dif__png_decode(const uint8_t *buf, size_t len, const dif__image_limits *limits,
                           dif__image *out, dif__error *err) {
  memset(out, 0, sizeof *out);
  png_ctx *c = calloc(1, sizeof *c);
  if (!c) return dif__fail_oom(err, "PNG decoder state", sizeof *c);
  dif_status st = png_decode(c, buf, len, limits, out, err);
  free(c);
  return st;
}

/* 1..79 printable ASCII, no leading, trailing or consecutive spaces (the
 * PNG rules for keywords, narrowed from Latin-1 to ASCII so keys are also
 * valid UTF-8). */
static int valid_key(const char *k) {
  size_t n = strlen(k);
  if (n < 1 || n > 79 || k[0] == ' ' || k[n - 1] == ' ') return 0;
  for (size_t i = 0; i < n; i++) {
    if (k[i] < 32 || k[i] > 126) return 0;
    if (k[i] == ' ' && k[i + 1] == ' ') return 0;
  }
  return 1;
}

static int is_ascii(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s >= 0x80) return 0;
  return 1;
}

/* Well-formed UTF-8: no overlongs, surrogates or code points past U+10FFFF. */
static int valid_utf8(const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  while (*s) {
    unsigned c = *s;
    int n;
    uint32_t cp, min;
    if (c < 0x80) {
      s++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    for (int i = 1; i <= n; i++) {
      if ((s[i] & 0xc0) != 0x80) return 0;
      cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    s += n + 1;
  }
  return 1;
}

/* The encoder proper; c on the heap as in png_decode. */
static dif_status png_encode(png_ctx *c, const dif__image *img, const dif__image_text *text,
                             size_t n_text, uint8_t **out_buf, size_t *out_len, dif__error *err) {
  c->status = DIF_ERR_INTERNAL;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, c, on_error, on_warning);
  if (!png) return dif__fail_oom(err, "libpng writer", sizeof(png_struct *));
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, NULL);
    return dif__fail_oom(err, "libpng info", sizeof(png_info *));
  }
  const size_t h = (size_t)img->height, rowbytes = (size_t)img->width * 3;
  c->rows = malloc(sizeof(png_bytep) * h);
  c->texts = n_text ? calloc(n_text, sizeof(png_text)) : NULL;
  if (!c->rows || (n_text && !c->texts)) {
    free(c->rows);
    free(c->texts);
    png_destroy_write_struct(&png, &info);
    return dif__fail_oom(err, "PNG rows", sizeof(png_bytep) * h);
  }
  if (setjmp(png_jmpbuf(png))) {
    free(c->out);
    free(c->rows);
    free(c->texts);
    png_destroy_write_struct(&png, &info);
    return dif__fail(err, c->status, "PNG encoder failed: %s", c->msg);
  }
  png_set_write_fn(png, c, write_fn, flush_fn);
  png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  for (size_t i = 0; i < n_text; i++) {
    png_text *t = &c->texts[i];
    /* libpng copies the strings; its structs are not const-correct. */
    t->key = (png_charp)text[i].key;
    t->text = (png_charp)text[i].value;
    if (is_ascii(text[i].value)) {
      t->compression = PNG_TEXT_COMPRESSION_NONE;
      t->text_length = strlen(text[i].value);
    } else {
      t->compression = PNG_ITXT_COMPRESSION_NONE;
      t->itxt_length = strlen(text[i].value);
      t->lang = (png_charp) "";
      t->lang_key = (png_charp) "";
    }
  }
  if (n_text) png_set_text(png, info, c->texts, (int)n_text);
  png_write_info(png, info);
  for (size_t y = 0; y < h; y++) c->rows[y] = img->rgb + y * rowbytes;
  png_write_image(png, c->rows);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  free(c->rows);
  free(c->texts);
  *out_buf = c->out;
  *out_len = c->out_len;
  return DIF_OK;
}

dif_status dif__image_encode_png(const dif__image *img, const dif__image_text *text, size_t n_text,
                                 uint8_t **out_buf, size_t *out_len, dif__error *err) {
  if (!out_buf || !out_len) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL output");
  *out_buf = NULL;
  *out_len = 0;
  dif_status st = dif__image_check_encodable(img, err);
  if (st != DIF_OK) return st;
  if (n_text && !text) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL text chunks");
  if (n_text > 1000000)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "%zu text chunks is too many", n_text);
  for (size_t i = 0; i < n_text; i++) {
    if (!text[i].key || !text[i].value)
      return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "text chunk %zu has a NULL key or value", i);
    if (!valid_key(text[i].key))
      return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                       "PNG text key \"%.100s\" is not 1-79 printable ASCII characters without "
                       "leading, trailing or double spaces",
                       text[i].key);
    if (!valid_utf8(text[i].value))
      return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "PNG text value of key \"%s\" is not UTF-8",
                       text[i].key);
  }

  png_ctx *c = calloc(1, sizeof *c);
  if (!c) return dif__fail_oom(err, "PNG encoder state", sizeof *c);
  st = png_encode(c, img, text, n_text, out_buf, out_len, err);
  free(c);
  return st;
}

/* ---- text chunks ---- */

/* Reads up to and including the header chunks, then looks the key up among
 * the tEXt/zTXt/iTXt chunks stored before the image data (where
 * dif__image_encode_png puts them). */
static dif_status png_text_in(png_ctx *c, const char *key, char **value, dif__error *err) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    png_destroy_read_struct(&png, &info, NULL);
    return dif__fail_oom(err, "PNG reader", sizeof(png_ctx));
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    return dif__fail(err, c->status ? c->status : DIF_ERR_BAD_IMAGE, "PNG: %s", c->msg);
  }
  png_set_read_fn(png, c, read_fn);
  /* Decompressed text is capped; a longer one is skipped with a warning,
   * named below. */
  png_set_chunk_malloc_max(png, DIF__PNG_TEXT_MAX_BYTES);
  png_read_info(png, info);
  png_textp texts = NULL;
  int n = png_get_text(png, info, &texts, NULL);
  dif_status s = c->warning[0]
                     ? dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                                 "PNG has no readable '%s' text chunk (%s)", key, c->warning)
                     : dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "PNG has no '%s' text chunk", key);
  for (int i = 0; i < n; i++) {
    if (strcmp(texts[i].key, key) != 0) continue;
    size_t len = texts[i].compression > 0 ? texts[i].itxt_length : texts[i].text_length;
    char *v = malloc(len + 1);
    if (!v) {
      s = dif__fail_oom(err, "PNG text", len + 1);
    } else {
      memcpy(v, texts[i].text, len);
      v[len] = '\0';
      *value = v;
      s = DIF_OK;
    }
    break;
  }
  png_destroy_read_struct(&png, &info, NULL);
  return s;
}

/* A chunk declares its length before its data, and libpng allocates that
 * length before reading (a too-large length is only a benign error): a
 * 200-byte file declaring a 2 GB tEXt chunk got 2 GB (found by fuzz-record).
 * So the chunks up to the image data are walked first: none may be longer
 * than what follows it in the file. */
static dif_status check_chunk_lengths(const uint8_t *d, size_t len, dif__error *err) {
  for (size_t pos = 8; pos + 8 <= len;) {
    uint32_t n = (uint32_t)d[pos] << 24 | (uint32_t)d[pos + 1] << 16 | (uint32_t)d[pos + 2] << 8 |
                 (uint32_t)d[pos + 3];
    size_t left = len - pos - 8; /* after the length and the type */
    if (left < 4 || n > left - 4)
      return dif__fail(err, DIF_ERR_BAD_IMAGE,
                       "corrupt PNG: the chunk at byte %zu declares %u bytes, %zu follow it", pos,
                       n, left < 4 ? 0 : left - 4);
    if (memcmp(d + pos + 4, "IDAT", 4) == 0) break;
    pos += 12 + (size_t)n;
  }
  return DIF_OK;
}

dif_status dif__png_text_memory(const uint8_t *data, size_t len, const char *key, char **value,
                                dif__error *err) {
  *value = NULL;
  if (len < 8 || png_sig_cmp(data, 0, 8))
    return dif__fail(err, DIF_ERR_BAD_IMAGE, "not a PNG file");
  dif_status s = check_chunk_lengths(data, len, err);
  if (s) return s;
  png_ctx *c = calloc(1, sizeof *c);
  if (!c) return dif__fail_oom(err, "PNG reader", sizeof *c);
  c->data = data;
  c->len = len;
  s = png_text_in(c, key, value, err);
  free(c);
  return s;
}

dif_status dif__png_read_text(const char *path, const char *key, char **value, dif__error *err) {
  *value = NULL;
  uint8_t *data = NULL;
  size_t len = 0;
  dif_status s = dif__file_read_all(path, 256u << 20, &data, &len, err);
  if (s) return s;
  s = dif__png_text_memory(data, len, key, value, err);
  if (s) dif__error_prefix(err, "%s", path);
  free(data);
  return s;
}
