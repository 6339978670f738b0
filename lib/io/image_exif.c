/* image_exif.c — the EXIF orientation tag, read from a TIFF structure with a
 * small bounds-checked parser (only IFD0 is looked at). */
#include "io/image.h"

static uint32_t rd16(const uint8_t *p, int big_endian) {
  return big_endian ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0];
}

static uint32_t rd32(const uint8_t *p, int big_endian) {
  return big_endian ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                    : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int dif__exif_orientation(const uint8_t *tiff, size_t len) {
  if (!tiff || len < 8) return 0;
  int be;
  if (tiff[0] == 'I' && tiff[1] == 'I')
    be = 0;
  else if (tiff[0] == 'M' && tiff[1] == 'M')
    be = 1;
  else
    return 0;
  if (rd16(tiff + 2, be) != 42) return 0;
  uint32_t ifd = rd32(tiff + 4, be);
  if (ifd > len || len - ifd < 2) return 0;
  uint32_t count = rd16(tiff + ifd, be);
  size_t pos = (size_t)ifd + 2;
  int orientation = 0;
  /* Entries that lie past the end are ignored, as Pillow keeps the tags it
   * read before running out of data. The last 0x0112 wins (a dict in Pillow). */
  for (uint32_t i = 0; i < count && len - pos >= 12; i++, pos += 12) {
    const uint8_t *e = tiff + pos;
    if (rd16(e, be) != 0x0112) continue;
    uint32_t type = rd16(e + 2, be), n = rd32(e + 4, be), v;
    if (n != 1) {
      orientation = 0;
      continue;
    }
    switch (type) {
    case 1: v = e[8]; break;            /* BYTE */
    case 3: v = rd16(e + 8, be); break; /* SHORT, the type the standard uses */
    case 4: v = rd32(e + 8, be); break; /* LONG */
    default: v = 0; break;
    }
    orientation = v >= 1 && v <= 8 ? (int)v : 0;
  }
  return orientation;
}
