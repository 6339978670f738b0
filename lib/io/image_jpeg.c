/* image_jpeg.c — JPEG decoding and encoding with libjpeg(-turbo).
 *
 * Decoding matches Pillow's JPEG reader: libjpeg's defaults (islow IDCT,
 * fancy upsampling, block smoothing), gray/RGB output as libjpeg converts
 * it, and 4-component files (CMYK or YCCK) read as CMYK with Adobe's
 * inverted polarity, always (Pillow's rawmode "CMYK;I"), then Pillow's
 * cmyk2rgb. Like Pillow, corrupt entropy-coded data is decoded as well as
 * libjpeg can (libjpeg warns, we stay silent), but running out of data is
 * an error.
 *
 * libjpeg's error_exit is replaced by a longjmp confined to the function
 * that calls libjpeg, emit_message and output_message never print, and
 * everything changed between setjmp and a longjmp (libjpeg's own structs
 * included) lives in a heap-allocated jpeg_ctx.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "io/image.h"

typedef struct jpeg_ctx {
  struct jpeg_decompress_struct dinfo;
  struct jpeg_compress_struct cinfo;
  struct jpeg_error_mgr err;
  struct jpeg_source_mgr src;
  struct jpeg_progress_mgr progress;
  jmp_buf jb;
  char msg[JMSG_LENGTH_MAX];
  char warning[JMSG_LENGTH_MAX]; /* the first warning */
  int truncated;                 /* the data ended before the image did */
  int too_many_scans;            /* more than DIF__IMAGE_MAX_JPEG_SCANS */
  /* owned buffers, freed after a longjmp */
  uint8_t *pixels;
  uint8_t *row;
  unsigned char *out;
  unsigned long out_len;
} jpeg_ctx;

static void on_error_exit(j_common_ptr cinfo) {
  jpeg_ctx *c = cinfo->client_data;
  (*cinfo->err->format_message)(cinfo, c->msg);
  longjmp(c->jb, 1);
}

/* Warnings (level < 0) are counted and the first is kept for the message of
 * a later error; trace messages are dropped; nothing prints. */
static void on_emit_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;
  if (cinfo->err->num_warnings++ == 0) {
    jpeg_ctx *c = cinfo->client_data;
    (*cinfo->err->format_message)(cinfo, c->warning);
  }
}

static void on_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void on_progress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  j_decompress_ptr d = (j_decompress_ptr)cinfo;
  if (d->input_scan_number > DIF__IMAGE_MAX_JPEG_SCANS) {
    jpeg_ctx *c = cinfo->client_data;
    c->too_many_scans = 1;
    longjmp(c->jb, 1);
  }
}

/* The source: the whole file in memory. Asking for more is truncation. */
static void src_init(j_decompress_ptr cinfo) { (void)cinfo; }
static void src_term(j_decompress_ptr cinfo) { (void)cinfo; }

static boolean src_fill(j_decompress_ptr cinfo) {
  jpeg_ctx *c = cinfo->client_data;
  c->truncated = 1;
  ERREXIT(cinfo, JERR_INPUT_EOF);
  return FALSE;
}

static void src_skip(j_decompress_ptr cinfo, long n) {
  if (n <= 0) return;
  if ((unsigned long)n > cinfo->src->bytes_in_buffer) {
    cinfo->src->next_input_byte += cinfo->src->bytes_in_buffer;
    cinfo->src->bytes_in_buffer = 0;
    src_fill(cinfo);
    return;
  }
  cinfo->src->next_input_byte += n;
  cinfo->src->bytes_in_buffer -= (size_t)n;
}

static void init_error_mgr(jpeg_ctx *c) {
  jpeg_std_error(&c->err);
  c->err.error_exit = on_error_exit;
  c->err.emit_message = on_emit_message;
  c->err.output_message = on_output_message;
}

/* Pillow's MULDIV255: a * b / 255 rounded, for a, b in 0..255. */
static inline int muldiv255(int a, int b) {
  int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

static dif_status decode_failure(const jpeg_ctx *c, int msg_code, long warnings, unsigned w,
                                 unsigned h, dif__error *err) {
  if (c->too_many_scans)
    return dif__fail(err, DIF_ERR_LIMIT, "JPEG has more than %d progressive scans",
                     DIF__IMAGE_MAX_JPEG_SCANS);
  if (c->truncated && warnings)
    return dif__fail(err, DIF_ERR_BAD_IMAGE,
                     "JPEG file is truncated (premature end of data) after %ld warning%s about "
                     "corrupt data, the first: %s",
                     warnings, warnings == 1 ? "" : "s", c->warning);
  if (c->truncated)
    return dif__fail(err, DIF_ERR_BAD_IMAGE, "JPEG file is truncated (premature end of data)");
  switch (msg_code) {
  case JERR_EMPTY_IMAGE:
    return dif__fail(err, DIF_ERR_BAD_IMAGE, "JPEG declares a zero %s (%ux%u)",
                     w == 0 ? "width" : "height", w, h);
  case JERR_OUT_OF_MEMORY:
    return dif__fail(err, DIF_ERR_OUT_OF_MEMORY, "out of memory decoding JPEG: %s", c->msg);
  case JERR_IMAGE_TOO_BIG:
    return dif__fail(err, DIF_ERR_LIMIT, "JPEG too large for libjpeg: %s", c->msg);
  case JERR_BAD_PRECISION:
  case JERR_SOF_UNSUPPORTED:
  case JERR_NOT_COMPILED:
  case JERR_CONVERSION_NOTIMPL:
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "unsupported JPEG: %s", c->msg);
  default: return dif__fail(err, DIF_ERR_BAD_IMAGE, "corrupt JPEG: %s", c->msg);
  }
}

/* libjpeg reads buf[len] through c's source manager, reports progress
 * (the scan limit) and keeps the APP1 markers (Exif). */
static void attach_source(jpeg_ctx *c, const uint8_t *buf, size_t len) {
  struct jpeg_decompress_struct *const cinfo = &c->dinfo;
  c->src.next_input_byte = buf;
  c->src.bytes_in_buffer = len;
  c->src.init_source = src_init;
  c->src.fill_input_buffer = src_fill;
  c->src.skip_input_data = src_skip;
  c->src.resync_to_restart = jpeg_resync_to_restart;
  c->src.term_source = src_term;
  cinfo->src = &c->src;
  c->progress.progress_monitor = on_progress;
  cinfo->progress = &c->progress;
  jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xffff);
}

/* The orientation in the first APP1 Exif block, as Pillow reads it; 0 if none. */
static int exif_orientation(const struct jpeg_decompress_struct *cinfo) {
  for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next)
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0)
      return dif__exif_orientation(m->data + 6, m->data_length - 6);
  return 0;
}

/* One decoded row of w pixels with comps 1 (grey) or 4 (CMYK) components
 * → RGB8 in dst. */
static void row_to_rgb(const uint8_t *row, int comps, size_t w, uint8_t *dst) {
  if (comps == 1) {
    for (size_t x = 0; x < w; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
  } else if (comps == 4) {
    /* Pillow: "CMYK;I" inverts the stored values, then cmyk2rgb computes
     * R = (255-K) - C*(255-K)/255. With the inversion, 255-K is the stored
     * K and C is 255 minus the stored C. */
    for (size_t x = 0; x < w; x++) {
      const uint8_t *s = row + 4 * x;
      int nk = s[3];
      dst[3 * x + 0] = (uint8_t)(nk - muldiv255(255 - s[0], nk));
      dst[3 * x + 1] = (uint8_t)(nk - muldiv255(255 - s[1], nk));
      dst[3 * x + 2] = (uint8_t)(nk - muldiv255(255 - s[2], nk));
    }
  }
}

/* The decoder proper, on the heap-allocated c-> */
static dif_status jpeg_decode(jpeg_ctx *c, const uint8_t *buf, size_t len,
                              const dif__image_limits *limits, dif__image *out, dif__error *err) {
  struct jpeg_decompress_struct *const cinfo = &c->dinfo;
  cinfo->err = &c->err;
  init_error_mgr(c);
  cinfo->client_data = c;
  if (setjmp(c->jb)) {
    int code = c->err.msg_code;
    long warnings = c->err.num_warnings;
    unsigned w = cinfo->image_width, h = cinfo->image_height;
    jpeg_destroy_decompress(cinfo);
    free(c->pixels);
    free(c->row);
    return decode_failure(c, code, warnings, w, h, err);
  }
  jpeg_create_decompress(cinfo);
  cinfo->client_data = c; /* jpeg_create_decompress clears everything but err */
  attach_source(c, buf, len);
  (void)jpeg_read_header(cinfo, TRUE);

  dif_status st =
      dif__image_check_size(cinfo->image_width, cinfo->image_height, limits, "JPEG", err);
  if (st != DIF_OK) {
    jpeg_destroy_decompress(cinfo);
    return st;
  }
  const int comps = cinfo->num_components;
  switch (comps) {
  case 1: cinfo->out_color_space = JCS_GRAYSCALE; break;
  case 3: cinfo->out_color_space = JCS_RGB; break;
  case 4: cinfo->out_color_space = JCS_CMYK; break;
  default:
    jpeg_destroy_decompress(cinfo);
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "JPEG with %d components (only 1, 3 or 4)", comps);
  }
  int orientation = exif_orientation(cinfo);

  jpeg_start_decompress(cinfo);
  const size_t w = cinfo->output_width, h = cinfo->output_height;
  if (w != cinfo->image_width || h != cinfo->image_height || cinfo->output_components != comps) {
    jpeg_destroy_decompress(cinfo);
    return dif__fail(err, DIF_ERR_INTERNAL,
                     "libjpeg output %zux%zu x%d differs from header %ux%u x%d", w, h,
                     cinfo->output_components, (unsigned)cinfo->image_width,
                     (unsigned)cinfo->image_height, comps);
  }
  c->pixels = malloc(w * h * 3);
  c->row = malloc(w * 4);
  if (!c->pixels || !c->row) {
    jpeg_destroy_decompress(cinfo);
    free(c->pixels);
    free(c->row);
    return dif__fail_oom(err, "JPEG pixels", w * h * 3);
  }
  while (cinfo->output_scanline < h) {
    uint8_t *dst = c->pixels + (size_t)cinfo->output_scanline * w * 3;
    JSAMPROW r = comps == 3 ? dst : c->row;
    if (jpeg_read_scanlines(cinfo, &r, 1) != 1) {
      /* Only a suspending source returns 0 lines; ours never suspends. */
      snprintf(c->msg, sizeof c->msg, "libjpeg returned no scanline");
      longjmp(c->jb, 1);
    }
    row_to_rgb(c->row, comps, w, dst);
  }
  /* Not jpeg_finish_decompress: the image is complete, and requiring the
   * EOI marker would refuse files Pillow reads. */
  jpeg_destroy_decompress(cinfo);
  free(c->row);
  out->width = (int)w;
  out->height = (int)h;
  out->rgb = c->pixels;
  out->exif_orientation = orientation ? orientation : 1;
  return DIF_OK;
}

dif_status dif__jpeg_decode(const uint8_t *buf, size_t len, const dif__image_limits *limits,
                            dif__image *out, dif__error *err) {
  memset(out, 0, sizeof *out);
  jpeg_ctx *c = calloc(1, sizeof *c);
  if (!c) return dif__fail_oom(err, "JPEG decoder state", sizeof *c);
  dif_status st = jpeg_decode(c, buf, len, limits, out, err);
  free(c);
  return st;
}

/* The encoder proper, on the heap-allocated c. */
static dif_status jpeg_encode(jpeg_ctx *c, const dif__image *img, int quality,
                              const dif__jpeg_segment *segs, size_t n_segs, uint8_t **out_buf,
                              size_t *out_len, dif__error *err) {
  struct jpeg_compress_struct *const cinfo = &c->cinfo;
  cinfo->err = &c->err;
  init_error_mgr(c);
  cinfo->client_data = c;
  if (setjmp(c->jb)) {
    int code = c->err.msg_code;
    jpeg_destroy_compress(cinfo);
    free(c->out);
    return dif__fail(err, code == JERR_OUT_OF_MEMORY ? DIF_ERR_OUT_OF_MEMORY : DIF_ERR_INTERNAL,
                     "JPEG encoder failed: %s", c->msg);
  }
  jpeg_create_compress(cinfo);
  cinfo->client_data = c;
  jpeg_mem_dest(cinfo, &c->out, &c->out_len);
  cinfo->image_width = (JDIMENSION)img->width;
  cinfo->image_height = (JDIMENSION)img->height;
  cinfo->input_components = 3;
  cinfo->in_color_space = JCS_RGB;
  jpeg_set_defaults(cinfo);
  jpeg_set_quality(cinfo, quality, TRUE);
  jpeg_start_compress(cinfo, TRUE);
  for (size_t i = 0; i < n_segs; i++)
    jpeg_write_marker(cinfo, segs[i].marker, segs[i].data, (unsigned)segs[i].len);
  const size_t rowbytes = (size_t)img->width * 3;
  while (cinfo->next_scanline < cinfo->image_height) {
    /* libjpeg's API is not const-correct; it only reads the row. */
    JSAMPROW r = (JSAMPROW)(img->rgb + (size_t)cinfo->next_scanline * rowbytes);
    (void)jpeg_write_scanlines(cinfo, &r, 1);
  }
  jpeg_finish_compress(cinfo);
  jpeg_destroy_compress(cinfo);
  *out_buf = c->out;
  *out_len = c->out_len;
  return DIF_OK;
}

dif_status dif__image_encode_jpeg(const dif__image *img, int quality, uint8_t **out_buf,
                                  size_t *out_len, dif__error *err) {
  return dif__image_encode_jpeg_segments(img, quality, NULL, 0, out_buf, out_len, err);
}

dif_status dif__image_encode_jpeg_segments(const dif__image *img, int quality,
                                           const dif__jpeg_segment *segs, size_t n_segs,
                                           uint8_t **out_buf, size_t *out_len, dif__error *err) {
  if (!out_buf || !out_len) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL output");
  *out_buf = NULL;
  *out_len = 0;
  dif_status st = dif__image_check_encodable(img, err);
  if (st != DIF_OK) return st;
  if (quality < 1 || quality > 100)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "JPEG quality %d is not in 1..100", quality);
  if (img->width > JPEG_MAX_DIMENSION || img->height > JPEG_MAX_DIMENSION)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "a %dx%d image is too large for JPEG (at most %ld per side)", img->width,
                     img->height, (long)JPEG_MAX_DIMENSION);
  for (size_t i = 0; i < n_segs; i++)
    if (segs[i].len > 65533 || (segs[i].len && !segs[i].data))
      return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                       "JPEG segment %zu of %zu bytes (at most 65533)", i, segs[i].len);
  jpeg_ctx *c = calloc(1, sizeof *c);
  if (!c) return dif__fail_oom(err, "JPEG encoder state", sizeof *c);
  st = jpeg_encode(c, img, quality, segs, n_segs, out_buf, out_len, err);
  free(c);
  return st;
}
