/* image.c — the format-independent part of image I/O: limits, allocation,
 * format sniffing, EXIF orientation transforms and atomic saving. */
#include "io/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "io/fileio.h"

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

dif_image_limits dif_image_limits_resolve(const dif_image_limits *limits) {
  dif_image_limits l = {0};
  if (limits) l = *limits;
  if (!l.max_width) l.max_width = DIF_IMAGE_DEFAULT_MAX_WIDTH;
  if (!l.max_height) l.max_height = DIF_IMAGE_DEFAULT_MAX_HEIGHT;
  if (!l.max_pixels) l.max_pixels = DIF_IMAGE_DEFAULT_MAX_PIXELS;
  if (!l.max_file_bytes) l.max_file_bytes = DIF_IMAGE_DEFAULT_MAX_FILE_BYTES;
  return l;
}

dif_status dif_image_check_size(uint64_t width, uint64_t height, const dif_image_limits *limits,
                                const char *what, dif_error *err) {
  if (width == 0 || height == 0)
    return dif_fail(err, DIF_ERR_BAD_IMAGE, "%s declares a zero %s (%llux%llu)", what,
                    width == 0 ? "width" : "height", (unsigned long long)width,
                    (unsigned long long)height);
  if (width > limits->max_width)
    return dif_fail(err, DIF_ERR_LIMIT, "%s width %llu is larger than the limit of %u", what,
                    (unsigned long long)width, (unsigned)limits->max_width);
  if (height > limits->max_height)
    return dif_fail(err, DIF_ERR_LIMIT, "%s height %llu is larger than the limit of %u", what,
                    (unsigned long long)height, (unsigned)limits->max_height);
  /* Both are at most 2^32 - 1 here, so the product cannot overflow. */
  if (width * height > limits->max_pixels)
    return dif_fail(err, DIF_ERR_LIMIT,
                    "%s size %llux%llu is %llu pixels, more than the limit of %llu", what,
                    (unsigned long long)width, (unsigned long long)height,
                    (unsigned long long)(width * height), (unsigned long long)limits->max_pixels);
  if (width > (uint64_t)INT32_MAX || height > (uint64_t)INT32_MAX ||
      width * height > (uint64_t)(SIZE_MAX / 3))
    return dif_fail(err, DIF_ERR_LIMIT, "%s size %llux%llu is too large for this machine", what,
                    (unsigned long long)width, (unsigned long long)height);
  return DIF_OK;
}

dif_status dif_image_alloc(dif_image *out, int width, int height, const dif_image_limits *limits,
                           dif_error *err) {
  if (!out) return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL image");
  memset(out, 0, sizeof *out);
  if (width <= 0 || height <= 0)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "cannot allocate a %dx%d image", width, height);
  dif_image_limits l = dif_image_limits_resolve(limits);
  dif_status st = dif_image_check_size((uint64_t)width, (uint64_t)height, &l, "image", err);
  if (st != DIF_OK) return st;
  size_t n = (size_t)width * (size_t)height * 3;
  out->rgb = malloc(n);
  if (!out->rgb) return dif_fail_oom(err, "RGB image", n);
  out->width = width;
  out->height = height;
  out->exif_orientation = 1;
  return DIF_OK;
}

void dif_image_free(dif_image *img) {
  if (!img) return;
  free(img->rgb);
  memset(img, 0, sizeof *img);
}

int dif_image_orientation_inverse(int o) { return o == 6 ? 8 : o == 8 ? 6 : o; }

dif_status dif_image_orient(dif_image *img, int orientation, dif_error *err) {
  if (!img || (!img->rgb && img->width && img->height))
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL image");
  if (orientation < 1 || orientation > 8)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "EXIF orientation %d is not in 1..8",
                    orientation);
  if (orientation == 1) return DIF_OK;
  const size_t w = (size_t)img->width, h = (size_t)img->height;
  const int swap = orientation >= 5;
  const size_t ow = swap ? h : w, oh = swap ? w : h;
  size_t n = w * h * 3;
  uint8_t *dst = malloc(n ? n : 1);
  if (!dst) return dif_fail_oom(err, "rotated image", n);
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

dif_status dif_image_decode_memory(const void *buf, size_t len, const dif_image_limits *limits,
                                   dif_image *out, dif_error *err) {
  if (!out) return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL output image");
  memset(out, 0, sizeof *out);
  if (!buf && len) return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL image data");
  const uint8_t *p = buf;
  dif_image_limits l = dif_image_limits_resolve(limits);
  if (len == 0) return dif_fail(err, DIF_ERR_BAD_IMAGE, "empty file (0 bytes), not an image");
  dif_status st;
  if (len >= sizeof png_signature && memcmp(p, png_signature, sizeof png_signature) == 0) {
    st = dif_png_decode(p, len, &l, out, err);
  } else if (len >= 2 && p[0] == 0xff && p[1] == 0xd8) {
    st = dif_jpeg_decode(p, len, &l, out, err);
  } else if (len < sizeof png_signature && memcmp(p, png_signature, len) == 0) {
    return dif_fail(err, DIF_ERR_BAD_IMAGE, "truncated PNG signature (%zu bytes)", len);
  } else {
    char hex[3 * 8 + 1] = "";
    for (size_t i = 0; i < len && i < 8; i++)
      snprintf(hex + (i ? 3 * i - 1 : 0), 4, "%s%02x", i ? " " : "", p[i]);
    return dif_fail(err, DIF_ERR_BAD_IMAGE, "not a PNG or JPEG file (starts with %s)", hex);
  }
  if (st != DIF_OK) {
    dif_image_free(out);
    return st;
  }
  int o = out->exif_orientation;
  if (o < 1 || o > 8) o = 1;
  out->exif_orientation = o;
  st = dif_image_orient(out, o, err);
  if (st != DIF_OK) dif_image_free(out);
  return st;
}

dif_status dif_image_load(const char *path, const dif_image_limits *limits, dif_image *out,
                          dif_error *err) {
  if (!out) return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL output image");
  memset(out, 0, sizeof *out);
  if (!path) return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL path");
  dif_image_limits l = dif_image_limits_resolve(limits);
  uint8_t *data = NULL;
  size_t len = 0;
  dif_status st = dif_file_read_all(path, l.max_file_bytes, &data, &len, err);
  if (st != DIF_OK) return st;
  st = dif_image_decode_memory(data, len, &l, out, err);
  free(data);
  if (st != DIF_OK) dif_error_prefix(err, "%s", path);
  return st;
}

dif_status dif_image_load_hashed(const char *path, const dif_image_limits *limits,
                                 const uint64_t *want_xxh3, uint64_t *xxh3, dif_image *out,
                                 dif_error *err) {
  if (!out) return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL output image");
  memset(out, 0, sizeof *out);
  if (!path) return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL path");
  dif_image_limits l = dif_image_limits_resolve(limits);
  uint8_t *data = NULL;
  size_t len = 0;
  dif_status st = dif_file_read_all(path, l.max_file_bytes, &data, &len, err);
  if (st != DIF_OK) return st;
  uint64_t h = XXH3_64bits(data, len);
  if (xxh3) *xxh3 = h;
  if (want_xxh3 && h != *want_xxh3) {
    free(data);
    return dif_fail(err, DIF_ERR_BAD_IMAGE,
                    "%s: the file's bytes do not have the xxh3-64 %016llx they were named with",
                    path, (unsigned long long)*want_xxh3);
  }
  st = dif_image_decode_memory(data, len, &l, out, err);
  free(data);
  if (st != DIF_OK) dif_error_prefix(err, "%s", path);
  return st;
}

dif_status dif_image_check_encodable(const dif_image *img, dif_error *err) {
  if (!img) return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL image");
  if (img->width <= 0 || img->height <= 0 || !img->rgb)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "cannot encode an empty %dx%d image", img->width,
                    img->height);
  return DIF_OK;
}

dif_status dif_image_save_png(const dif_image *img, const char *path, const dif_image_text *text,
                              size_t n_text, dif_error *err) {
  if (!path) return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL path");
  uint8_t *buf = NULL;
  size_t len = 0;
  dif_status st = dif_image_encode_png(img, text, n_text, &buf, &len, err);
  if (st != DIF_OK) {
    dif_error_prefix(err, "%s", path);
    return st;
  }
  st = dif_file_write_atomic(path, buf, len, err);
  free(buf);
  return st;
}

dif_status dif_image_save_jpeg(const dif_image *img, const char *path, int quality,
                               dif_error *err) {
  if (!path) return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL path");
  uint8_t *buf = NULL;
  size_t len = 0;
  dif_status st = dif_image_encode_jpeg(img, quality, &buf, &len, err);
  if (st != DIF_OK) {
    dif_error_prefix(err, "%s", path);
    return st;
  }
  st = dif_file_write_atomic(path, buf, len, err);
  free(buf);
  return st;
}
