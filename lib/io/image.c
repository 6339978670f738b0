/* image.c — the format-independent part of image I/O: limits, allocation,
 * format sniffing, EXIF orientation transforms and atomic saving. */
#include "io/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "io/fileio.h"

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

dif__image_limits dif__image_limits_resolve(const dif__image_limits *limits) {
  dif__image_limits l = {0};
  if (limits) l = *limits;
  if (!l.max_width) l.max_width = DIF__IMAGE_DEFAULT_MAX_WIDTH;
  if (!l.max_height) l.max_height = DIF__IMAGE_DEFAULT_MAX_HEIGHT;
  if (!l.max_pixels) l.max_pixels = DIF__IMAGE_DEFAULT_MAX_PIXELS;
  if (!l.max_file_bytes) l.max_file_bytes = DIF__IMAGE_DEFAULT_MAX_FILE_BYTES;
  return l;
}

dif_status dif__image_check_size(uint64_t width, uint64_t height, const dif__image_limits *limits,
                                 const char *what, dif__error *err) {
  if (width == 0 || height == 0)
    return dif__fail(err, DIF_ERR_BAD_IMAGE, "%s declares a zero %s (%llux%llu)", what,
                     width == 0 ? "width" : "height", (unsigned long long)width,
                     (unsigned long long)height);
  if (width > limits->max_width)
    return dif__fail(err, DIF_ERR_LIMIT, "%s width %llu is larger than the limit of %u", what,
                     (unsigned long long)width, (unsigned)limits->max_width);
  if (height > limits->max_height)
    return dif__fail(err, DIF_ERR_LIMIT, "%s height %llu is larger than the limit of %u", what,
                     (unsigned long long)height, (unsigned)limits->max_height);
  /* Both are at most 2^32 - 1 here, so the product cannot overflow. */
  if (width * height > limits->max_pixels)
    return dif__fail(err, DIF_ERR_LIMIT,
                     "%s size %llux%llu is %llu pixels, more than the limit of %llu", what,
                     (unsigned long long)width, (unsigned long long)height,
                     (unsigned long long)(width * height), (unsigned long long)limits->max_pixels);
  if (width > (uint64_t)INT32_MAX || height > (uint64_t)INT32_MAX ||
      width * height > (uint64_t)(SIZE_MAX / 3))
    return dif__fail(err, DIF_ERR_LIMIT, "%s size %llux%llu is too large for this machine", what,
                     (unsigned long long)width, (unsigned long long)height);
  return DIF_OK;
}

dif_status dif__image_alloc(dif__image *out, int width, int height, const dif__image_limits *limits,
                            dif__error *err) {
  if (!out) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL image");
  memset(out, 0, sizeof *out);
  if (width <= 0 || height <= 0)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "cannot allocate a %dx%d image", width, height);
  dif__image_limits l = dif__image_limits_resolve(limits);
  dif_status st = dif__image_check_size((uint64_t)width, (uint64_t)height, &l, "image", err);
  if (st != DIF_OK) return st;
  size_t n = (size_t)width * (size_t)height * 3;
  out->rgb = malloc(n);
  if (!out->rgb) return dif__fail_oom(err, "RGB image", n);
  out->width = width;
  out->height = height;
  out->exif_orientation = 1;
  return DIF_OK;
}

void dif__image_free(dif__image *img) {
  if (!img) return;
  free(img->rgb);
  memset(img, 0, sizeof *img);
}

int dif__image_orientation_inverse(int o) { return o == 6 ? 8 : o == 8 ? 6 : o; }

dif_status dif__image_orient(dif__image *img, int orientation, dif__error *err) {
  if (!img || (!img->rgb && img->width && img->height))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL image");
  if (orientation < 1 || orientation > 8)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "EXIF orientation %d is not in 1..8",
                     orientation);
  if (orientation == 1) return DIF_OK;
  const size_t w = (size_t)img->width, h = (size_t)img->height;
  const int swap = orientation >= 5;
  const size_t ow = swap ? h : w, oh = swap ? w : h;
  size_t n = w * h * 3;
  uint8_t *dst = malloc(n ? n : 1);
  if (!dst) return dif__fail_oom(err, "rotated image", n);
  const uint8_t *src = img->rgb;
  /* For each output pixel (x, y) the source pixel (sx, sy), as Pillow's
   * Image.transpose methods chosen by ImageOps.exif_transpose. */
  for (size_t y = 0; y < oh; y++) {
    for (size_t x = 0; x < ow; x++) {
      size_t sx, sy;
      switch (orientation) {
      case 2: sx = w - 1 - x, sy = y; break;         /* FLIP_LEFT_RIGHT */
      case 3: sx = w - 1 - x, sy = h - 1 - y; break; /* ROTATE_180 */
      case 4: sx = x, sy = h - 1 - y; break;         /* FLIP_TOP_BOTTOM */
      case 5: sx = y, sy = x; break;                 /* TRANSPOSE */
      case 6: sx = y, sy = h - 1 - x; break;         /* ROTATE_270 (90 clockwise) */
      case 7: sx = w - 1 - y, sy = h - 1 - x; break; /* TRANSVERSE */
      default: sx = w - 1 - y, sy = x; break;        /* 8: ROTATE_90 (counter-clockwise) */
      }
      const uint8_t *s = src + (sy * w + sx) * 3;
      uint8_t *d = dst + (y * ow + x) * 3;
      d[0] = s[0];
      d[1] = s[1];
      d[2] = s[2];
    }
  }
  free(img->rgb);
  img->rgb = dst;
  img->width = (int)ow;
  img->height = (int)oh;
  return DIF_OK;
}

/* Formats libdif does not decode, by their signatures, so that a message
 * can name what a file is. */
typedef struct signature {
  size_t at;
  const char *bytes;
  size_t n;
  const char *name;
} signature;
static const signature others[] = {
    {0, "GIF87a", 6, "GIF"},
    {0, "GIF89a", 6, "GIF"},
    {0, "BM", 2, "BMP"},
    {0, "II*\0", 4, "TIFF"},
    {0, "MM\0*", 4, "TIFF"},
    {4, "ftypavif", 8, "AVIF"},
    {4, "ftypavis", 8, "AVIF"},
    {4, "ftypheic", 8, "HEIF"},
    {4, "ftypheix", 8, "HEIF"},
    {4, "ftypmif1", 8, "HEIF"},
    {4, "ftypmsf1", 8, "HEIF"},
    {0, "\xff\x0a", 2, "JPEG XL"},
    {0, "\0\0\0\x0cJXL \r\n\x87\n", 12, "JPEG XL"},
    {0, "\0\0\0\x0cjP  \r\n\x87\n", 12, "JPEG 2000"},
    {0, "\xff\x4f\xff\x51", 4, "JPEG 2000"},
    {0, "\0\0\1\0", 4, "ICO"},
    {0, "8BPS", 4, "Photoshop (PSD)"},
    {0, "qoif", 4, "QOI"},
    {0, "%PDF", 4, "PDF"},
    {0, "P1", 2, "PBM"},
    {0, "P4", 2, "PBM"},
    {0, "P2", 2, "PGM"},
    {0, "P5", 2, "PGM"},
    {0, "P3", 2, "PPM"},
    {0, "P6", 2, "PPM"},
    {0, "<svg", 4, "SVG"},
    {0, "\x76\x2f\x31\x01", 4, "OpenEXR"},
};

static int is_webp(const uint8_t *p, size_t len) {
  return len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0;
}

const char *dif__image_sniff(const uint8_t *p, size_t len, int *known) {
  static _Thread_local char msg[160];
  if (known) *known = 0;
  if ((len >= sizeof png_signature && memcmp(p, png_signature, sizeof png_signature) == 0) ||
      (len >= 2 && p[0] == 0xff && p[1] == 0xd8) || is_webp(p, len))
    return NULL;
  if (len == 0) return "empty file (0 bytes), not an image";
  for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
    const signature *s = &others[i];
    if (len >= s->at + s->n && memcmp(p + s->at, s->bytes, s->n) == 0) {
      if (known) *known = 1;
      snprintf(msg, sizeof msg,
               "a%s %s image, which libdif does not read (PNG, JPEG and WebP only)",
               strchr("AEIOU", s->name[0]) ? "n" : "", s->name);
      return msg;
    }
  }
  if (len >= 12 && memcmp(p, "RIFF", 4) == 0) {
    snprintf(msg, sizeof msg,
             "a RIFF file of type \"%.4s\", not an image libdif reads (PNG, "
             "JPEG and WebP only)",
             (const char *)p + 8);
    for (char *c = msg; *c; c++)
      if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) *c = '?';
    return msg;
  }
  size_t text = 0, n = len < 512 ? len : 512;
  for (size_t i = 0; i < n; i++)
    text += (p[i] >= 0x20 && p[i] < 0x7f) || p[i] == '\n' || p[i] == '\r' || p[i] == '\t' ||
            (p[i] >= 0x80 && p[i] < 0xf5 && p[i] != 0xc0 && p[i] != 0xc1); /* may be UTF-8 */
  char hex[3 * 8 + 1] = "";
  for (size_t i = 0; i < len && i < 8; i++)
    snprintf(hex + (i ? 3 * i - 1 : 0), 4, "%s%02x", i ? " " : "", p[i]);
  snprintf(msg, sizeof msg, "not an image (%s starts with %s; libdif reads PNG, JPEG and WebP)",
           text == n ? "a text file that" : "the file", hex);
  return msg;
}

dif_status dif__image_decode_memory(const void *buf, size_t len, const dif__image_limits *limits,
                                    dif__image *out, dif__error *err) {
  if (!out) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL output image");
  memset(out, 0, sizeof *out);
  if (!buf && len) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL image data");
  const uint8_t *p = buf;
  dif__image_limits l = dif__image_limits_resolve(limits);
  if (len == 0) return dif__fail(err, DIF_ERR_BAD_IMAGE, "empty file (0 bytes), not an image");
  dif_status st;
  if (len >= sizeof png_signature && memcmp(p, png_signature, sizeof png_signature) == 0) {
    st = dif__png_decode(p, len, &l, out, err);
  } else if (len >= 2 && p[0] == 0xff && p[1] == 0xd8) {
    st = dif__jpeg_decode(p, len, &l, out, err);
  } else if (is_webp(p, len)) {
    st = dif__webp_decode(p, len, &l, out, err);
  } else if (len < sizeof png_signature && memcmp(p, png_signature, len) == 0) {
    return dif__fail(err, DIF_ERR_BAD_IMAGE, "truncated PNG signature (%zu bytes)", len);
  } else {
    int known;
    const char *what = dif__image_sniff(p, len, &known);
    return dif__fail(err, known ? DIF_ERR_UNSUPPORTED : DIF_ERR_BAD_IMAGE, "%s", what);
  }
  if (st != DIF_OK) {
    dif__image_free(out);
    return st;
  }
  int o = out->exif_orientation;
  if (o < 1 || o > 8) o = 1;
  out->exif_orientation = o;
  st = dif__image_orient(out, o, err);
  if (st != DIF_OK) dif__image_free(out);
  return st;
}

dif_status dif__image_load(const char *path, const dif__image_limits *limits, dif__image *out,
                           dif__error *err) {
  return dif__image_load_hashed(path, limits, NULL, NULL, out, err);
}

dif_status dif__image_load_hashed(const char *path, const dif__image_limits *limits,
                                  const uint64_t *want_xxh3, uint64_t *xxh3, dif__image *out,
                                  dif__error *err) {
  if (!out) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL output image");
  memset(out, 0, sizeof *out);
  if (!path) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL path");
  dif__image_limits l = dif__image_limits_resolve(limits);
  uint8_t *data = NULL;
  size_t len = 0;
  dif_status st = dif__file_read_all(path, l.max_file_bytes, &data, &len, err);
  if (st != DIF_OK) return st;
  const uint64_t h = xxh3 || want_xxh3 ? XXH3_64bits(data, len) : 0;
  if (xxh3) *xxh3 = h;
  if (want_xxh3 && h != *want_xxh3) {
    free(data);
    return dif__fail(err, DIF_ERR_BAD_IMAGE,
                     "%s: the file's bytes do not have the xxh3-64 %016llx they were named with",
                     path, (unsigned long long)*want_xxh3);
  }
  st = dif__image_decode_memory(data, len, &l, out, err);
  free(data);
  if (st != DIF_OK) dif__error_prefix(err, "%s", path);
  return st;
}

dif_status dif__image_check_encodable(const dif__image *img, dif__error *err) {
  if (!img) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL image");
  if (img->width <= 0 || img->height <= 0 || !img->rgb)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "cannot encode an empty %dx%d image",
                     img->width, img->height);
  return DIF_OK;
}

dif_status dif__image_save_png(const dif__image *img, const char *path, const dif__image_text *text,
                               size_t n_text, dif__error *err) {
  if (!path) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL path");
  uint8_t *buf = NULL;
  size_t len = 0;
  dif_status st = dif__image_encode_png(img, text, n_text, &buf, &len, err);
  if (st != DIF_OK) {
    dif__error_prefix(err, "%s", path);
    return st;
  }
  st = dif__file_write_atomic(path, buf, len, err);
  free(buf);
  return st;
}

dif_status dif__image_save_jpeg(const dif__image *img, const char *path, int quality,
                                dif__error *err) {
  if (!path) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL path");
  uint8_t *buf = NULL;
  size_t len = 0;
  dif_status st = dif__image_encode_jpeg(img, quality, &buf, &len, err);
  if (st != DIF_OK) {
    dif__error_prefix(err, "%s", path);
    return st;
  }
  st = dif__file_write_atomic(path, buf, len, err);
  free(buf);
  return st;
}

dif__image_format dif__image_format_for_path(const char *path) {
  const char *slash = path ? strrchr(path, '/') : NULL, *base = slash ? slash + 1 : path;
  const char *dot = base ? strrchr(base, '.') : NULL;
  if (!dot || dot == base) return DIF__IMAGE_FORMAT_UNKNOWN;
  if (!strcasecmp(dot, ".png")) return DIF__IMAGE_FORMAT_PNG;
  if (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")) return DIF__IMAGE_FORMAT_JPEG;
  if (!strcasecmp(dot, ".webp")) return DIF__IMAGE_FORMAT_WEBP;
  return DIF__IMAGE_FORMAT_UNKNOWN;
}

dif_status dif__image_save(const dif__image *img, const char *path, dif__image_format format,
                           const dif__image_meta *meta, dif__error *err) {
  if (!path) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL path");
  uint8_t *buf = NULL;
  size_t len = 0;
  dif_status st;
  switch (format) {
  case DIF__IMAGE_FORMAT_PNG: {
    dif__image_text text[2];
    size_t n = 0;
    if (meta && meta->infotext) text[n++] = (dif__image_text){"parameters", meta->infotext};
    if (meta && meta->record) text[n++] = (dif__image_text){"dif:parameters", meta->record};
    st = dif__image_encode_png(img, text, n, &buf, &len, err);
    break;
  }
  case DIF__IMAGE_FORMAT_JPEG:
    st = dif__image_encode_jpeg_meta(img, DIF__JPEG_SAVE_QUALITY, meta, &buf, &len, err);
    break;
  case DIF__IMAGE_FORMAT_WEBP: st = dif__image_encode_webp(img, meta, &buf, &len, err); break;
  default:
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "%s: unknown image format: name the file .png, .jpg, .jpeg or .webp", path);
  }
  if (st != DIF_OK) {
    dif__error_prefix(err, "%s", path);
    return st;
  }
  st = dif__file_write_atomic(path, buf, len, err);
  free(buf);
  return st;
}
