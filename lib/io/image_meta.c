/* image_meta.c — the generation record and the AUTOMATIC1111 "parameters"
 * text in PNG, JPEG and WebP files, written and read back.
 *
 * Where each goes (what other tools read):
 *   PNG   tEXt/iTXt "dif:parameters" (the record) and "parameters" (the
 *         A1111 text, what A1111's PNG Info, ComfyUI and image sites read).
 *   JPEG  the record in COM segments that start with "dif:parameters\0"
 *         (a record longer than one segment continues in the next ones);
 *         the A1111 text as EXIF UserComment (APP1), as A1111 writes it.
 *   WebP  the record in an XMP chunk (<dif:parameters>, XML-escaped); the
 *         A1111 text as EXIF UserComment in the EXIF chunk, as A1111 does.
 * The UserComment is "UNICODE\0" and UTF-16 big-endian in a big-endian
 * ("MM") TIFF structure, as piexif (A1111) writes and reads it. A JPEG
 * APP1 segment holds at most 65533 bytes, so there the A1111 text is cut
 * (at a character) to 32700 UTF-16 units; the record is never cut.
 *
 * Every reader is bounds-checked and treats the file as untrusted.
 */
#include <stdlib.h>
#include <string.h>

#include "io/fileio.h"
#include "io/image.h"

#define COM_TAG "dif:parameters"
#define COM_TAG_LEN 15 /* with its NUL */
#define JPEG_SEGMENT_MAX 65533u
#define JPEG_COMMENT_UNITS 32700u

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
static const char xmp_open[] = "<dif:parameters>", xmp_close[] = "</dif:parameters>";

/* ---- UTF-8 <-> UTF-16 ---- */

/* The next code point of valid-or-not UTF-8 at s (n bytes left); *used
 * bytes. Invalid sequences give U+FFFD for one byte. */
static uint32_t utf8_next(const uint8_t *s, size_t n, size_t *used) {
  uint32_t c = s[0];
  int k = c < 0x80             ? 0
          : (c & 0xe0) == 0xc0 ? 1
          : (c & 0xf0) == 0xe0 ? 2
          : (c & 0xf8) == 0xf0 ? 3
                               : -1;
  *used = 1;
  if (k == 0) return c;
  if (k < 0 || (size_t)k >= n) return 0xfffd;
  uint32_t cp = c & (0x3f >> k);
  for (int i = 1; i <= k; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0xfffd;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
  if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0xfffd;
  *used = (size_t)k + 1;
  return cp;
}

static size_t utf8_put(uint32_t cp, char *o) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12);
    o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | cp >> 18);
  o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
  o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* ---- EXIF with a UserComment ---- */

static void be16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* A TIFF structure (after "Exif\0\0" when prefix) whose Exif IFD holds the
 * UserComment text, at most max_units UTF-16 units (cut at a character). */
static dif_status exif_build(const char *text, int prefix, size_t max_units, uint8_t **out,
                             size_t *out_len, dif__error *err) {
  const uint8_t *s = (const uint8_t *)text;
  size_t n = strlen(text), units = 0;
  for (size_t i = 0, used; i < n; i += used) {
    uint32_t cp = utf8_next(s + i, n - i, &used);
    size_t u = cp >= 0x10000 ? 2 : 1;
    if (units + u > max_units) break;
    units += u;
  }
  const size_t head = prefix ? 6 : 0, comment = 8 + 2 * units;
  const size_t len = head + 44 + comment;
  uint8_t *b = calloc(1, len);
  if (!b) return dif__fail_oom(err, "EXIF block", len);
  uint8_t *t = b + head;
  if (prefix) memcpy(b, "Exif\0\0", 6);
  memcpy(t, "MM\0\x2a", 4);
  be32(t + 4, 8);
  be16(t + 8, 1); /* IFD0: one entry, the Exif IFD pointer */
  be16(t + 10, 0x8769);
  be16(t + 12, 4);
  be32(t + 14, 1);
  be32(t + 18, 26);
  be32(t + 22, 0);
  be16(t + 26, 1); /* the Exif IFD: UserComment */
  be16(t + 28, 0x9286);
  be16(t + 30, 7);
  be32(t + 32, (uint32_t)comment);
  be32(t + 36, 44);
  be32(t + 40, 0);
  memcpy(t + 44, "UNICODE\0", 8);
  uint8_t *o = t + 52;
  size_t done = 0;
  for (size_t i = 0, used; i < n && done < units; i += used) {
    uint32_t cp = utf8_next(s + i, n - i, &used);
    if (cp >= 0x10000) {
      if (done + 2 > units) break;
      cp -= 0x10000;
      be16(o, 0xd800 | cp >> 10);
      be16(o + 2, 0xdc00 | (cp & 0x3ff));
      o += 4;
      done += 2;
    } else {
      be16(o, cp);
      o += 2;
      done++;
    }
  }
  *out = b;
  *out_len = len;
  return DIF_OK;
}

static uint32_t rd16(const uint8_t *p, int big) {
  return big ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0];
}
static uint32_t rd32(const uint8_t *p, int big) {
  return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
             : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* The entry `tag` of the IFD at offset ifd of tiff[0..len): its type,
 * count and value/offset field; 0 when absent or out of bounds. */
static int ifd_find(const uint8_t *t, size_t len, int big, uint32_t ifd, uint32_t tag,
                    uint32_t *type, uint32_t *count, const uint8_t **field) {
  if (ifd > len || len - ifd < 2) return 0;
  uint32_t n = rd16(t + ifd, big);
  for (size_t i = 0, pos = (size_t)ifd + 2; i < n && len - pos >= 12; i++, pos += 12) {
    if (rd16(t + pos, big) != tag) continue;
    *type = rd16(t + pos + 2, big);
    *count = rd32(t + pos + 4, big);
    *field = t + pos + 8;
    return 1;
  }
  return 0;
}

dif_status dif__exif_user_comment(const uint8_t *tiff, size_t len, char **value, dif__error *err) {
  *value = NULL;
  if (tiff && len >= 6 && memcmp(tiff, "Exif\0\0", 6) == 0) tiff += 6, len -= 6;
  int big;
  if (!tiff || len < 8 ||
      !((tiff[0] == 'M' && tiff[1] == 'M') || (tiff[0] == 'I' && tiff[1] == 'I')))
    return dif__fail(err, DIF_ERR_BAD_IMAGE, "EXIF block is not a TIFF structure");
  big = tiff[0] == 'M';
  uint32_t type, count;
  const uint8_t *f;
  if (!ifd_find(tiff, len, big, rd32(tiff + 4, big), 0x8769, &type, &count, &f) || count != 1)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "EXIF has no Exif IFD (so no UserComment)");
  if (!ifd_find(tiff, len, big, rd32(f, big), 0x9286, &type, &count, &f) || type != 7)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "EXIF has no UserComment");
  uint32_t off = count > 4 ? rd32(f, big) : (uint32_t)(f - tiff);
  if (count < 8 || off > len || len - off < count)
    return dif__fail(err, DIF_ERR_BAD_IMAGE, "EXIF UserComment lies outside the block");
  const uint8_t *c = tiff + off + 8;
  size_t n = count - 8;
  int unicode = memcmp(tiff + off, "UNICODE\0", 8) == 0;
  if (!unicode && memcmp(tiff + off, "ASCII\0\0\0", 8) != 0)
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "EXIF UserComment in an encoding other than "
                     "UNICODE or ASCII");
  char *o = malloc(unicode ? n / 2 * 3 + 1 : n + 1);
  if (!o) return dif__fail_oom(err, "UserComment", n * 2 + 1);
  size_t k = 0;
  if (!unicode) {
    memcpy(o, c, n);
    k = n;
  } else {
    for (size_t i = 0; i + 1 < n; i += 2) {
      uint32_t u = rd16(c + i, big);
      if (u >= 0xd800 && u <= 0xdbff && i + 3 < n) {
        uint32_t lo = rd16(c + i + 2, big);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
          i += 2;
        }
      }
      if (u >= 0xd800 && u <= 0xdfff) u = 0xfffd;
      k += utf8_put(u, o + k);
    }
  }
  o[k] = '\0';
  *value = o;
  return DIF_OK;
}

/* ---- XMP with the record ---- */

static dif_status xmp_build(const char *record, uint8_t **out, size_t *out_len, dif__error *err) {
  static const char head[] =
      "<?xpacket begin=\"\xef\xbb\xbf\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>"
      "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF "
      "xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description "
      "rdf:about=\"\" xmlns:dif=\"urn:libdif:record:1/\">";
  static const char tail[] = "</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end=\"r\"?>";
  size_t n = strlen(record);
  size_t cap = sizeof head + sizeof xmp_open + 5 * n + sizeof xmp_close + sizeof tail;
  char *b = malloc(cap);
  if (!b) return dif__fail_oom(err, "XMP packet", cap);
  size_t k = 0;
  memcpy(b, head, sizeof head - 1), k += sizeof head - 1;
  memcpy(b + k, xmp_open, sizeof xmp_open - 1), k += sizeof xmp_open - 1;
  for (size_t i = 0; i < n; i++) {
    const char *e = record[i] == '&'   ? "&amp;"
                    : record[i] == '<' ? "&lt;"
                    : record[i] == '>' ? "&gt;"
                                       : NULL;
    if (e) {
      memcpy(b + k, e, strlen(e));
      k += strlen(e);
    } else {
      b[k++] = record[i];
    }
  }
  memcpy(b + k, xmp_close, sizeof xmp_close - 1), k += sizeof xmp_close - 1;
  memcpy(b + k, tail, sizeof tail - 1), k += sizeof tail - 1;
  *out = (uint8_t *)b;
  *out_len = k;
  return DIF_OK;
}

static const uint8_t *find(const uint8_t *p, size_t n, const char *needle) {
  size_t m = strlen(needle);
  for (size_t i = 0; n >= m && i <= n - m; i++)
    if (memcmp(p + i, needle, m) == 0) return p + i;
  return NULL;
}

/* The record of an XMP packet written by xmp_build. */
static dif_status xmp_record(const uint8_t *x, size_t n, char **value, dif__error *err) {
  const uint8_t *a = find(x, n, xmp_open);
  if (!a) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "XMP has no <dif:parameters> element");
  a += sizeof xmp_open - 1;
  const uint8_t *b = find(a, n - (size_t)(a - x), xmp_close);
  if (!b) return dif__fail(err, DIF_ERR_BAD_IMAGE, "XMP <dif:parameters> is not closed");
  size_t len = (size_t)(b - a);
  if (len > DIF__PNG_TEXT_MAX_BYTES)
    return dif__fail(err, DIF_ERR_LIMIT, "XMP <dif:parameters> holds %zu bytes, more than %u", len,
                     DIF__PNG_TEXT_MAX_BYTES);
  char *o = malloc(len + 1);
  if (!o) return dif__fail_oom(err, "record", len + 1);
  size_t k = 0;
  static const struct {
    const char *ent;
    char c;
  } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  for (size_t i = 0; i < len;) {
    if (a[i] == '<' || a[i] == '\0') {
      free(o);
      return dif__fail(err, DIF_ERR_BAD_IMAGE, "XMP <dif:parameters> holds markup or a NUL byte");
    }
    if (a[i] != '&') {
      o[k++] = (char)a[i++];
      continue;
    }
    size_t j = 0;
    while (j < 5 &&
           (len - i < strlen(ents[j].ent) || memcmp(a + i, ents[j].ent, strlen(ents[j].ent)) != 0))
      j++;
    if (j == 5) {
      free(o);
      return dif__fail(err, DIF_ERR_BAD_IMAGE, "XMP <dif:parameters> holds an unknown entity");
    }
    o[k++] = ents[j].c;
    i += strlen(ents[j].ent);
  }
  o[k] = '\0';
  *value = o;
  return DIF_OK;
}

dif_status dif__image_meta_build(const dif__image_meta *meta, int jpeg, uint8_t **exif,
                                 size_t *exif_len, uint8_t **xmp, size_t *xmp_len,
                                 dif__error *err) {
  *exif = *xmp = NULL;
  *exif_len = *xmp_len = 0;
  if (!meta) return DIF_OK;
  if (meta->infotext) {
    dif_status st = exif_build(meta->infotext, jpeg, jpeg ? JPEG_COMMENT_UNITS : SIZE_MAX / 4, exif,
                               exif_len, err);
    if (st) return st;
  }
  if (meta->record && !jpeg) {
    dif_status st = xmp_build(meta->record, xmp, xmp_len, err);
    if (st) {
      free(*exif);
      *exif = NULL;
      return st;
    }
  }
  return DIF_OK;
}

/* ---- JPEG segments ---- */

/* Walks the markers before the image data: the record from the COM
 * segments tagged "dif:parameters" (concatenated), or the first APP1 Exif
 * block's UserComment. */
static dif_status jpeg_meta(const uint8_t *d, size_t len, dif__image_meta_kind kind, char **value,
                            dif__error *err) {
  char *rec = NULL;
  size_t rec_len = 0;
  dif_status st = DIF_OK;
  size_t pos = 2;
  int found = 0;
  while (!st) {
    while (pos < len && d[pos] == 0xff && pos + 1 < len && d[pos + 1] == 0xff) pos++; /* fill */
    if (pos + 2 > len || d[pos] != 0xff) break;
    uint8_t m = d[pos + 1];
    pos += 2;
    if (m == 0xd8 || m == 0x01 || (m >= 0xd0 && m <= 0xd7)) continue; /* no length */
    if (m == 0xda || m == 0xd9) break;                                /* image data, end */
    if (len - pos < 2) break;
    size_t n = (size_t)d[pos] << 8 | d[pos + 1];
    if (n < 2 || n > len - pos) {
      st = dif__fail(err, DIF_ERR_BAD_IMAGE,
                     "corrupt JPEG: a segment at byte %zu declares %zu "
                     "bytes, %zu follow",
                     pos - 2, n, len - pos);
      break;
    }
    const uint8_t *p = d + pos + 2;
    n -= 2;
    pos += n + 2;
    if (kind == DIF__META_RECORD && m == 0xfe && n >= COM_TAG_LEN &&
        memcmp(p, COM_TAG, COM_TAG_LEN) == 0) {
      size_t add = n - COM_TAG_LEN;
      if (rec_len + add > DIF__PNG_TEXT_MAX_BYTES) {
        st = dif__fail(err, DIF_ERR_LIMIT, "JPEG record is longer than %u bytes",
                       DIF__PNG_TEXT_MAX_BYTES);
        break;
      }
      char *r = realloc(rec, rec_len + add + 1);
      if (!r) {
        st = dif__fail_oom(err, "record", rec_len + add + 1);
        break;
      }
      rec = r;
      memcpy(rec + rec_len, p + COM_TAG_LEN, add);
      rec_len += add;
      rec[rec_len] = '\0';
      found = 1;
    } else if (kind == DIF__META_INFOTEXT && m == 0xe1 && n >= 6 && memcmp(p, "Exif\0\0", 6) == 0) {
      return dif__exif_user_comment(p, n, value, err);
    }
  }
  if (st) {
    free(rec);
    return st;
  }
  if (!found)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "JPEG has no %s",
                     kind == DIF__META_RECORD ? "'dif:parameters' COM segment"
                                              : "EXIF UserComment");
  if (strlen(rec) != rec_len) {
    free(rec);
    return dif__fail(err, DIF_ERR_BAD_IMAGE, "JPEG 'dif:parameters' holds a NUL byte");
  }
  *value = rec;
  return DIF_OK;
}

dif_status dif__image_encode_jpeg_meta(const dif__image *img, int quality,
                                       const dif__image_meta *meta, uint8_t **out_buf,
                                       size_t *out_len, dif__error *err) {
  uint8_t *exif = NULL, *xmp = NULL;
  size_t exif_len = 0, xmp_len = 0;
  dif_status st = dif__image_meta_build(meta, 1, &exif, &exif_len, &xmp, &xmp_len, err);
  if (st) return st;
  /* the COM segments of the record, each with its tag */
  size_t rec_len = meta && meta->record ? strlen(meta->record) : 0;
  const size_t per = JPEG_SEGMENT_MAX - COM_TAG_LEN;
  size_t n_com = meta && meta->record ? (rec_len + per - 1) / per : 0;
  if (meta && meta->record && n_com == 0) n_com = 1;
  dif__jpeg_segment *segs = calloc(n_com + 1, sizeof *segs);
  uint8_t *com = n_com ? malloc(rec_len + n_com * COM_TAG_LEN) : NULL;
  if (!segs || (n_com && !com)) {
    free(exif), free(segs), free(com);
    return dif__fail_oom(err, "JPEG metadata", rec_len);
  }
  size_t n_segs = 0;
  if (exif) segs[n_segs++] = (dif__jpeg_segment){0xe1, exif, exif_len};
  for (size_t i = 0, off = 0; i < n_com; i++) {
    size_t take = rec_len - i * per < per ? rec_len - i * per : per;
    uint8_t *c = com + off;
    memcpy(c, COM_TAG, COM_TAG_LEN);
    memcpy(c + COM_TAG_LEN, meta->record + i * per, take);
    segs[n_segs++] = (dif__jpeg_segment){0xfe, c, COM_TAG_LEN + take};
    off += COM_TAG_LEN + take;
  }
  st = dif__image_encode_jpeg_segments(img, quality, segs, n_segs, out_buf, out_len, err);
  free(exif);
  free(segs);
  free(com);
  return st;
}

/* ---- reading, format-neutral ---- */

dif_status dif__image_meta_memory(const uint8_t *d, size_t len, dif__image_meta_kind kind,
                                  char **value, dif__error *err) {
  *value = NULL;
  if (len >= 8 && memcmp(d, png_signature, 8) == 0)
    return dif__png_text_memory(d, len, kind == DIF__META_RECORD ? "dif:parameters" : "parameters",
                                value, err);
  if (len >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff)
    return jpeg_meta(d, len, kind, value, err);
  if (len >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) {
    const uint8_t *p;
    size_t n;
    if (dif__webp_meta(d, len, kind == DIF__META_RECORD ? "XMP " : "EXIF", &p, &n))
      return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "WebP has no %s",
                       kind == DIF__META_RECORD ? "XMP chunk with a 'dif:parameters' record"
                                                : "EXIF chunk");
    return kind == DIF__META_RECORD ? xmp_record(p, n, value, err)
                                    : dif__exif_user_comment(p, n, value, err);
  }
  return dif__fail(err, DIF_ERR_BAD_IMAGE, "%s", dif__image_sniff(d, len, NULL));
}

dif_status dif__image_read_meta(const char *path, dif__image_meta_kind kind, char **value,
                                dif__error *err) {
  *value = NULL;
  uint8_t *data = NULL;
  size_t len = 0;
  dif_status st = dif__file_read_all(path, DIF__IMAGE_DEFAULT_MAX_FILE_BYTES, &data, &len, err);
  if (st) return st;
  st = dif__image_meta_memory(data, len, kind, value, err);
  free(data);
  if (st) dif__error_prefix(err, "%s", path);
  return st;
}
