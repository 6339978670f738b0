/* image_webp.c — WebP decoding and encoding with libwebp.
 *
 * Decoding matches Pillow's Image.open(f).convert("RGB") for still WebP
 * files: lossy (VP8) and lossless (VP8L) images, with or without alpha,
 * decode with libwebp's defaults (fancy upsampling) and alpha is dropped,
 * never composited. The EXIF orientation of the file's EXIF chunk is
 * reported (and applied by dif__image_decode_memory). Animated WebP files
 * are refused (DIF_ERR_UNSUPPORTED): which frame would be meant is not
 * clear. The declared size is checked against the limits before any pixel
 * memory is allocated.
 *
 * Encoding is lossless (WebPEncodeLosslessRGB): a generated picture keeps
 * its exact pixels, as in a PNG, and is usually smaller. Metadata chunks
 * (EXIF, XMP) are added with libwebpmux; libwebpdemux reads them back.
 */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include "io/image.h"

static const char *vp8_status_name(VP8StatusCode c) {
  switch (c) {
  case VP8_STATUS_OK: return "ok";
  case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
  case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
  case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
  case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
  case VP8_STATUS_SUSPENDED: return "suspended";
  case VP8_STATUS_USER_ABORT: return "aborted";
  case VP8_STATUS_NOT_ENOUGH_DATA: return "truncated (not enough data)";
  }
  return "unknown error";
}

/* The payload of chunk `fourcc` of a WebP file (borrowed from buf), or
 * NULL when the file has none or libwebpdemux refuses the container. */
static const uint8_t *webp_chunk(const uint8_t *buf, size_t len, const char *fourcc, size_t *n) {
  WebPData data = {buf, len};
  WebPDemuxer *dmux = WebPDemux(&data);
  const uint8_t *p = NULL;
  *n = 0;
  if (!dmux) return NULL;
  WebPChunkIterator it;
  if (WebPDemuxGetChunk(dmux, fourcc, 1, &it)) {
    p = it.chunk.bytes;
    *n = it.chunk.size;
    WebPDemuxReleaseChunkIterator(&it);
  }
  WebPDemuxDelete(dmux);
  return p;
}

dif_status dif__webp_decode(const uint8_t *buf, size_t len, const dif__image_limits *limits,
                            dif__image *out, dif__error *err) {
  memset(out, 0, sizeof *out);
  WebPBitstreamFeatures f;
  VP8StatusCode vs = WebPGetFeatures(buf, len, &f);
  if (vs == VP8_STATUS_OUT_OF_MEMORY) return dif__fail_oom(err, "WebP header", len);
  if (vs != VP8_STATUS_OK)
    return dif__fail(err, DIF_ERR_BAD_IMAGE, "corrupt WebP: %s", vp8_status_name(vs));
  dif_status st =
      dif__image_check_size((uint64_t)(f.width > 0 ? f.width : 0),
                            (uint64_t)(f.height > 0 ? f.height : 0), limits, "WebP", err);
  if (st != DIF_OK) return st;
  if (f.has_animation)
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "animated WebP (%dx%d): libdif reads still images only", f.width, f.height);
  size_t w = (size_t)f.width, h = (size_t)f.height, n = w * h * 3;
  uint8_t *rgb = malloc(n);
  if (!rgb) return dif__fail_oom(err, "WebP pixels", n);
  if (!WebPDecodeRGBInto(buf, len, rgb, n, (int)(w * 3))) {
    free(rgb);
    /* libwebp says only "failed"; the features call names the reason when
     * the header is fine and the data is not */
    return dif__fail(err, DIF_ERR_BAD_IMAGE,
                     "corrupt WebP: the %zux%zu %s image data does not decode (truncated or "
                     "damaged)",
                     w, h,
                     f.format == 2   ? "lossless"
                     : f.format == 1 ? "lossy"
                                     : "");
  }
  int orientation = 0;
  size_t exif_len;
  const uint8_t *exif = webp_chunk(buf, len, "EXIF", &exif_len);
  if (exif && exif_len >= 6 && memcmp(exif, "Exif\0\0", 6) == 0) { /* some writers add it */
    exif += 6;
    exif_len -= 6;
  }
  if (exif) orientation = dif__exif_orientation(exif, exif_len);
  out->width = (int)w;
  out->height = (int)h;
  out->rgb = rgb;
  out->exif_orientation = orientation ? orientation : 1;
  return DIF_OK;
}

dif_status dif__webp_meta(const uint8_t *buf, size_t len, const char *fourcc, const uint8_t **p,
                          size_t *n) {
  *p = webp_chunk(buf, len, fourcc, n);
  return *p ? DIF_OK : DIF_ERR_INVALID_ARGUMENT;
}

dif_status dif__image_encode_webp(const dif__image *img, const dif__image_meta *meta,
                                  uint8_t **out_buf, size_t *out_len, dif__error *err) {
  if (!out_buf || !out_len) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL output");
  *out_buf = NULL;
  *out_len = 0;
  dif_status st = dif__image_check_encodable(img, err);
  if (st != DIF_OK) return st;
  if (img->width > WEBP_MAX_DIMENSION || img->height > WEBP_MAX_DIMENSION)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "a %dx%d image is too large for WebP (at most %d per side)", img->width,
                     img->height, WEBP_MAX_DIMENSION);
  uint8_t *bits = NULL;
  size_t n = WebPEncodeLosslessRGB(img->rgb, img->width, img->height, img->width * 3, &bits);
  if (!n) {
    WebPFree(bits);
    return dif__fail(err, DIF_ERR_OUT_OF_MEMORY, "WebP encoder failed on a %dx%d image (memory)",
                     img->width, img->height);
  }
  uint8_t *exif = NULL, *xmp = NULL;
  size_t exif_len = 0, xmp_len = 0;
  st = dif__image_meta_build(meta, 0, &exif, &exif_len, &xmp, &xmp_len, err);
  if (st != DIF_OK) {
    WebPFree(bits);
    return st;
  }
  if (!exif && !xmp) { /* nothing to add: libwebp's buffer is the file */
    *out_buf = malloc(n);
    if (*out_buf) memcpy(*out_buf, bits, n);
    WebPFree(bits);
    if (!*out_buf) return dif__fail_oom(err, "WebP file", n);
    *out_len = n;
    return DIF_OK;
  }
  WebPData image = {bits, n}, assembled = {NULL, 0};
  WebPMux *mux = WebPMuxCreate(&image, 0);
  WebPData ed = {exif, exif_len}, xd = {xmp, xmp_len};
  int ok = mux && (!exif || WebPMuxSetChunk(mux, "EXIF", &ed, 0) == WEBP_MUX_OK) &&
           (!xmp || WebPMuxSetChunk(mux, "XMP ", &xd, 0) == WEBP_MUX_OK) &&
           WebPMuxAssemble(mux, &assembled) == WEBP_MUX_OK;
  WebPMuxDelete(mux);
  WebPFree(bits);
  free(exif);
  free(xmp);
  if (!ok) {
    WebPDataClear(&assembled);
    return dif__fail(err, DIF_ERR_OUT_OF_MEMORY, "WebP metadata: libwebpmux failed (memory)");
  }
  *out_buf = malloc(assembled.size);
  if (*out_buf) memcpy(*out_buf, assembled.bytes, assembled.size);
  *out_len = *out_buf ? assembled.size : 0;
  WebPDataClear(&assembled);
  return *out_buf ? DIF_OK : dif__fail_oom(err, "WebP file", *out_len);
}
