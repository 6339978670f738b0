/* fuzz-image.c — libFuzzer harness for the image decoders (lib/io/image*.c).
 *
 * Feeds arbitrary bytes to dif__image_decode_memory with small limits and
 * checks the contract: success gives a consistent, fully readable image;
 * failure gives a message and a zeroed image. Small decoded images are also
 * re-encoded as PNG and decoded again, which must round-trip exactly. The
 * same bytes go to the metadata readers (the record and the A1111 text of
 * PNG, JPEG and WebP files: JPEG segments, EXIF, XMP).
 * Seeds: tests/fuzz/corpus/image/. Not wired into CMake; build by hand:
 *
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -Iinclude -Ilib $(pkg-config --cflags libpng) tests/fuzz/fuzz-image.c \
 *     lib/io/image.c lib/io/image_png.c lib/io/image_jpeg.c lib/io/image_exif.c \
 *     lib/io/image_webp.c lib/io/image_meta.c lib/io/fileio.c lib/core/error.c \
 *     $(pkg-config --libs libpng libjpeg libwebp libwebpdemux libwebpmux libxxhash) \
 *     -o fuzz-image
 *   ./fuzz-image -max_total_time=20 -rss_limit_mb=1024 tests/fuzz/corpus/image
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const dif__image_limits limits = {1024, 1024, 256 * 1024, 1 << 20};
  dif__image img;
  dif__error err;
  dif__error_clear(&err);
  for (int kind = DIF__META_RECORD; kind <= DIF__META_INFOTEXT; kind++) {
    char *value = NULL;
    dif_status ms = dif__image_meta_memory(data, size, (dif__image_meta_kind)kind, &value, &err);
    if (ms != DIF_OK && (value || err.msg[0] == '\0')) __builtin_trap();
    if (ms == DIF_OK && (!value || strlen(value) > (size_t)-1 / 2)) __builtin_trap();
    free(value);
  }
  dif_status st = dif__image_decode_memory(data, size, &limits, &img, &err);
  if (st != DIF_OK) {
    if (err.status != st || err.msg[0] == '\0') __builtin_trap();
    if (img.rgb || img.width || img.height) __builtin_trap();
    return 0;
  }
  if (img.width <= 0 || img.height <= 0 || !img.rgb) __builtin_trap();
  if ((uint64_t)img.width * (uint64_t)img.height > limits.max_pixels) __builtin_trap();
  if (img.exif_orientation < 1 || img.exif_orientation > 8) __builtin_trap();
  /* Read every byte, so ASan sees a short buffer and MSan-style bugs show. */
  size_t n = (size_t)img.width * (size_t)img.height * 3;
  unsigned sum = 0;
  for (size_t i = 0; i < n; i++) sum += img.rgb[i];
  if (n <= 64 * 64 * 3) {
    uint8_t *png = NULL;
    size_t len = 0;
    if (dif__image_encode_png(&img, NULL, 0, &png, &len, &err) != DIF_OK) __builtin_trap();
    dif__image back;
    if (dif__image_decode_memory(png, len, &limits, &back, &err) != DIF_OK) __builtin_trap();
    if (back.width != img.width || back.height != img.height || memcmp(back.rgb, img.rgb, n) != 0)
      __builtin_trap();
    dif__image_free(&back);
    free(png);
  }
  dif__image_free(&img);
  return (int)(sum & 0); /* libFuzzer wants 0 */
}
