/* image.h — reading and writing PNG, JPEG and WebP files as 8-bit RGB images.
 *
 * Decoding follows Pillow's Image.open(f).convert("RGB") so that pixels match
 * the Python reference pipelines:
 *   - gray, gray+alpha, palette, RGB, RGBA PNGs and gray, RGB (YCbCr), CMYK
 *     and YCCK JPEGs all become RGB8;
 *   - alpha (and PNG tRNS transparency) is dropped, never composited;
 *   - PNG gamma, chromaticity and ICC chunks are ignored (no colour management);
 *   - CMYK JPEGs are read with Adobe (inverted) polarity and converted with
 *     Pillow's formula R = (255-K) - C*(255-K)/255, rounded;
 *   - JPEGs decode with libjpeg's defaults (islow IDCT, fancy upsampling).
 * Two deliberate differences from Pillow:
 *   - 16-bit PNG samples are scaled to 8 bits as round(v / 257). Pillow clips
 *     16-bit grayscale to 0..255 (almost everything turns white) and truncates
 *     16-bit colour samples to their high byte (v >> 8).
 *   - The EXIF orientation (the first JPEG APP1 "Exif" block, a PNG eXIf
 *     chunk before the image data) is applied, as diffusers' load_image does
 *     with ImageOps.exif_transpose; Pillow's Image.open alone (and so
 *     CLIPImageProcessor) leaves it alone. dif__image.exif_orientation says
 *     which one was applied, so a caller that wants the stored pixels can
 *     undo it (dif__image_orientation_inverse). Orientation found only in XMP
 *     or in a PNG eXIf after the image data is not looked at.
 *
 * Sizes are checked against dif__image_limits as soon as the header declares
 * them, before any pixel memory is allocated, so a small file declaring a
 * huge image (a decompression bomb) is refused cheaply.
 *
 * Writing is atomic: the encoded file goes to "<path>.tmp.XXXXXX" in the same
 * directory, is fsync'ed and renamed over path. On any failure the temporary
 * file is removed; path is either untouched or completely written.
 */
#ifndef DIF__IO_IMAGE_H
#define DIF__IO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* An 8-bit RGB image: rgb holds height rows of width*3 bytes (R, G, B),
 * top row first, no padding. */
typedef struct dif__image {
  int width;
  int height;
  uint8_t *rgb;
  /* The EXIF orientation (1..8) found in the file and already applied to rgb;
   * 1 when the file has none or an invalid one. */
  int exif_orientation;
} dif__image;

/* Defaults of dif__image_limits. */
#define DIF__IMAGE_DEFAULT_MAX_WIDTH 16384u
#define DIF__IMAGE_DEFAULT_MAX_HEIGHT 16384u
#define DIF__IMAGE_DEFAULT_MAX_PIXELS (64ull * 1024 * 1024) /* 64 Mpx, 192 MiB of RGB */
#define DIF__IMAGE_DEFAULT_MAX_FILE_BYTES (256ull * 1024 * 1024)
/* A progressive JPEG with more scans than this is refused (each scan costs a
 * pass over the whole image; real files have about 10). */
#define DIF__IMAGE_MAX_JPEG_SCANS 500

/* What a decoder accepts. Pass NULL for all defaults; a field that is 0 takes
 * its default. Exceeding one gives DIF_ERR_LIMIT. */
typedef struct dif__image_limits {
  uint32_t max_width;      /* declared width */
  uint32_t max_height;     /* declared height */
  uint64_t max_pixels;     /* declared width * height */
  uint64_t max_file_bytes; /* size of the file read by dif__image_load */
} dif__image_limits;

/* limits with every 0 field (or NULL) replaced by its default. */
dif__image_limits dif__image_limits_resolve(const dif__image_limits *limits);

/* Allocates an uninitialised width x height image after checking the size
 * against limits (NULL: defaults). On failure *out is zeroed. Errors:
 * DIF_ERR_INVALID_ARGUMENT (a size <= 0), DIF_ERR_LIMIT, DIF_ERR_OUT_OF_MEMORY. */
dif_status dif__image_alloc(dif__image *out, int width, int height, const dif__image_limits *limits,
                            dif__error *err);

/* Frees img->rgb and zeroes img. NULL or an already freed image is a no-op. */
void dif__image_free(dif__image *img);

/* Reads a PNG, JPEG or WebP file, chosen by its first bytes (not its
 * name), into *out (zeroed on failure; free with dif__image_free). Errors:
 *   DIF_ERR_IO          the file cannot be opened or read, or is a directory;
 *                       the message names the path
 *   DIF_ERR_BAD_IMAGE   not an image, truncated or corrupt (the message
 *                       starts with the path and says what is wrong)
 *   DIF_ERR_UNSUPPORTED an image of another format, named (BMP, GIF, TIFF,
 *                       HEIF, AVIF, ...), an animated WebP, or a well-formed
 *                       JPEG libjpeg cannot decode (12-bit, lossless, 2
 *                       components)
 *   DIF_ERR_LIMIT       declared size or file size beyond limits
 *   DIF_ERR_OUT_OF_MEMORY
 * limits may be NULL (defaults). Thread-safe. */
dif_status dif__image_load(const char *path, const dif__image_limits *limits, dif__image *out,
                           dif__error *err);

/* dif__image_load that also fingerprints the file: *xxh3 (may be NULL)
 * receives the xxh3-64 of the file's bytes. When want_xxh3 is non-NULL the
 * bytes must hash to *want_xxh3, checked before anything is decoded: a
 * mismatch is DIF_ERR_BAD_IMAGE naming the path and the expected value (not
 * the file's). The bytes are read once, so what is hashed is what is
 * decoded. Thread-safe. */
dif_status dif__image_load_hashed(const char *path, const dif__image_limits *limits,
                                  const uint64_t *want_xxh3, uint64_t *xxh3, dif__image *out,
                                  dif__error *err);

/* The same for an encoded file already in memory (len bytes at buf). */
dif_status dif__image_decode_memory(const void *buf, size_t len, const dif__image_limits *limits,
                                    dif__image *out, dif__error *err);

/* A PNG text chunk. key: 1 to 79 printable ASCII characters without leading,
 * trailing or double spaces. value: UTF-8, written as tEXt when it is plain
 * ASCII and as uncompressed iTXt otherwise (as Pillow's PngInfo.add_text). */
typedef struct dif__image_text {
  const char *key;
  const char *value;
} dif__image_text;

/* Encodes img as an 8-bit RGB PNG with the n_text text chunks (text may be
 * NULL when n_text is 0) into a malloc'ed buffer *out_buf of *out_len bytes,
 * which the caller frees. Errors: DIF_ERR_INVALID_ARGUMENT (bad image or
 * text key/value), DIF_ERR_OUT_OF_MEMORY, DIF_ERR_INTERNAL (libpng failed). */
dif_status dif__image_encode_png(const dif__image *img, const dif__image_text *text, size_t n_text,
                                 uint8_t **out_buf, size_t *out_len, dif__error *err);

/* Encodes img as a baseline 4:2:0 JPEG of the given quality (1..100). */
dif_status dif__image_encode_jpeg(const dif__image *img, int quality, uint8_t **out_buf,
                                  size_t *out_len, dif__error *err);

/* ---- formats by name, metadata, saving in any format (image_meta.c) ---- */

typedef enum dif__image_format {
  DIF__IMAGE_FORMAT_UNKNOWN = 0,
  DIF__IMAGE_FORMAT_PNG,
  DIF__IMAGE_FORMAT_JPEG,
  DIF__IMAGE_FORMAT_WEBP
} dif__image_format;

/* The format an output path asks for by its extension, case-insensitive:
 * .png, .jpg/.jpeg, .webp; anything else (no extension included) is
 * DIF__IMAGE_FORMAT_UNKNOWN. */
dif__image_format dif__image_format_for_path(const char *path);

/* What a file's first bytes say it is, for messages: NULL for PNG, JPEG
 * and WebP (decodable), else a sentence ("a GIF image, which libdif does not
 * read (PNG, JPEG and WebP only)", "not an image (a text file)", ...). When
 * known is non-NULL it is set to 1 for another image format, 0 otherwise. */
const char *dif__image_sniff(const uint8_t *p, size_t len, int *known);

/* What a generated picture carries: the record ("dif:parameters" JSON) and
 * the AUTOMATIC1111 "parameters" text; either may be NULL. Where each goes
 * in each format: image_meta.c. */
typedef struct dif__image_meta {
  const char *record;
  const char *infotext;
} dif__image_meta;

#define DIF__JPEG_SAVE_QUALITY 95

/* Encodes img in format (PNG; JPEG of quality DIF__JPEG_SAVE_QUALITY; WebP
 * lossless) with meta (may be NULL) and writes it atomically to path.
 * Errors as the encoders, plus DIF_ERR_IO naming the path and
 * DIF_ERR_UNSUPPORTED for DIF__IMAGE_FORMAT_UNKNOWN. */
dif_status dif__image_save(const dif__image *img, const char *path, dif__image_format format,
                           const dif__image_meta *meta, dif__error *err);

/* WebP, lossless, with meta (may be NULL) as EXIF and XMP chunks. */
dif_status dif__image_encode_webp(const dif__image *img, const dif__image_meta *meta,
                                  uint8_t **out_buf, size_t *out_len, dif__error *err);
/* JPEG with meta (may be NULL) as an APP1 Exif segment and COM segments. */
dif_status dif__image_encode_jpeg_meta(const dif__image *img, int quality,
                                       const dif__image_meta *meta, uint8_t **out_buf,
                                       size_t *out_len, dif__error *err);

typedef enum dif__image_meta_kind {
  DIF__META_RECORD,  /* "dif:parameters" */
  DIF__META_INFOTEXT /* A1111 "parameters" */
} dif__image_meta_kind;

/* The record or the A1111 text of a PNG, JPEG or WebP file (by its
 * content), malloc'd and NUL-terminated. DIF_ERR_INVALID_ARGUMENT when the
 * file has none; DIF_ERR_IO, DIF_ERR_BAD_IMAGE (not one of the three, or a
 * corrupt container), DIF_ERR_LIMIT (a record over DIF__PNG_TEXT_MAX_BYTES).
 * Messages start with the path. */
dif_status dif__image_read_meta(const char *path, dif__image_meta_kind kind, char **value,
                                dif__error *err);
/* The same for a file in memory (messages without a path). */
dif_status dif__image_meta_memory(const uint8_t *buf, size_t len, dif__image_meta_kind kind,
                                  char **value, dif__error *err);

/* The UserComment of a TIFF structure (optionally after "Exif\0\0"), UNICODE
 * (UTF-16 in the TIFF's byte order) or ASCII, as malloc'd UTF-8. */
dif_status dif__exif_user_comment(const uint8_t *tiff, size_t len, char **value, dif__error *err);

/* Encode and write atomically to path (see the top of this file). Errors as
 * the encoders, plus DIF_ERR_IO naming the path. */
/* The value of the text chunk `key` of a PNG file (chunks before the image
 * data), malloc'd and NUL-terminated. DIF_ERR_INVALID_ARGUMENT if there is
 * no such chunk; DIF_ERR_IO, DIF_ERR_BAD_IMAGE as for loading. A chunk (or a
 * compressed text) longer than DIF__PNG_TEXT_MAX_BYTES is skipped: the
 * message then says why (libpng's warning). */
#define DIF__PNG_TEXT_MAX_BYTES (8u << 20)
dif_status dif__png_read_text(const char *path, const char *key, char **value, dif__error *err);

dif_status dif__image_save_png(const dif__image *img, const char *path, const dif__image_text *text,
                               size_t n_text, dif__error *err);
dif_status dif__image_save_jpeg(const dif__image *img, const char *path, int quality,
                                dif__error *err);

/* Transforms img in place as Pillow's ImageOps.exif_transpose does for EXIF
 * orientation 1..8 (2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90
 * clockwise, 7 transverse, 8 rotate 90 counter-clockwise); 5..8 swap width
 * and height. Does not change img->exif_orientation. Errors:
 * DIF_ERR_INVALID_ARGUMENT (orientation outside 1..8), DIF_ERR_OUT_OF_MEMORY. */
dif_status dif__image_orient(dif__image *img, int orientation, dif__error *err);

/* The orientation that undoes orientation o (6 and 8 swap, the others undo
 * themselves). */
int dif__image_orientation_inverse(int o);

/* ---- internal to lib/io (the format modules) ---- */

/* Orientation tag 0x0112 of IFD0 of a TIFF structure (the payload of an EXIF
 * block after "Exif\0\0"), or 0 when absent, malformed or outside 1..8.
 * Bounds-checked; never reads outside tiff[0..len). */
int dif__exif_orientation(const uint8_t *tiff, size_t len);

/* The format decoders behind dif__image_decode_memory; limits resolved. They
 * set out->exif_orientation to what the file declares but do not apply it. */
dif_status dif__png_decode(const uint8_t *buf, size_t len, const dif__image_limits *limits,
                           dif__image *out, dif__error *err);
dif_status dif__jpeg_decode(const uint8_t *buf, size_t len, const dif__image_limits *limits,
                            dif__image *out, dif__error *err);
dif_status dif__webp_decode(const uint8_t *buf, size_t len, const dif__image_limits *limits,
                            dif__image *out, dif__error *err);

/* The payload of chunk fourcc ("EXIF", "XMP ") of a WebP file, borrowed
 * from buf; DIF_ERR_INVALID_ARGUMENT (no message) when there is none. */
dif_status dif__webp_meta(const uint8_t *buf, size_t len, const char *fourcc, const uint8_t **p,
                          size_t *n);

/* The text chunk `key` of a PNG in memory (dif__png_read_text's work). */
dif_status dif__png_text_memory(const uint8_t *buf, size_t len, const char *key, char **value,
                                dif__error *err);

/* A JPEG marker segment to write after the JFIF header. */
typedef struct dif__jpeg_segment {
  int marker; /* 0xe1 (APP1), 0xfe (COM), ... */
  const uint8_t *data;
  size_t len; /* at most 65533 */
} dif__jpeg_segment;
dif_status dif__image_encode_jpeg_segments(const dif__image *img, int quality,
                                           const dif__jpeg_segment *segs, size_t n_segs,
                                           uint8_t **out_buf, size_t *out_len, dif__error *err);

/* Builds the EXIF (UserComment = meta->infotext; after "Exif\0\0" for
 * JPEG) and, for WebP only, the XMP packet (meta->record) of meta; each
 * malloc'd or NULL when there is nothing to write. */
dif_status dif__image_meta_build(const dif__image_meta *meta, int jpeg, uint8_t **exif,
                                 size_t *exif_len, uint8_t **xmp, size_t *xmp_len, dif__error *err);

/* Checks a declared size against resolved limits; "what" names the format in
 * the message ("PNG", "JPEG"). DIF_ERR_BAD_IMAGE for 0, DIF_ERR_LIMIT beyond. */
dif_status dif__image_check_size(uint64_t width, uint64_t height, const dif__image_limits *limits,
                                 const char *what, dif__error *err);

/* DIF_OK when img can be encoded (non-empty, pixels present), else
 * DIF_ERR_INVALID_ARGUMENT. */
dif_status dif__image_check_encodable(const dif__image *img, dif__error *err);

#endif
