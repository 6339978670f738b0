/* utf8.c — UTF-8 <-> code points, and the code point buffers they fill
 * (utf8.h). */
#include "text/utf8.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * Code point buffers
 */
void dif__u32buf_free(dif__u32buf *b) {
  if (!b) return;
  free(b->v);
  b->v = NULL;
  b->n = b->cap = 0;
}

dif_status dif__u32buf_reserve(dif__u32buf *b, size_t extra, dif__error *err) {
  if (b->cap - b->n >= extra) return DIF_OK;
  size_t cap = b->cap ? b->cap : 16;
  while (cap - b->n < extra) {
    if (cap > SIZE_MAX / 2 / sizeof(uint32_t)) return dif__fail_oom(err, "text", SIZE_MAX);
    cap *= 2;
  }
  uint32_t *v = realloc(b->v, cap * sizeof *v);
  if (!v) return dif__fail_oom(err, "text", cap * sizeof *v);
  b->v = v;
  b->cap = cap;
  return DIF_OK;
}

dif_status dif__u32buf_append(dif__u32buf *b, const uint32_t *cp, size_t n, dif__error *err) {
  dif_status st = dif__u32buf_reserve(b, n, err);
  if (st) return st;
  if (n) memcpy(b->v + b->n, cp, n * sizeof *cp);
  b->n += n;
  return DIF_OK;
}

/* ---------------------------------------------------------------------------
 * UTF-8
 */

/* Length of the well-formed sequence at s[i] and its code point; 0 if invalid. */
static size_t utf8_next(const unsigned char *s, size_t n, size_t i, uint32_t *cp,
                        const char **why) {
  unsigned char b = s[i];
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b < 0x80) {
    *cp = b;
    return 1;
  }
  if (b >= 0xC2 && b <= 0xDF) {
    need = 2;
    *cp = b & 0x1F;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 3;
    *cp = b & 0x0F;
    if (b == 0xE0) lo = 0xA0; /* overlong */
    if (b == 0xED) hi = 0x9F; /* surrogates */
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 4;
    *cp = b & 0x07;
    if (b == 0xF0) lo = 0x90; /* overlong */
    if (b == 0xF4) hi = 0x8F; /* above U+10FFFF */
  } else {
    *why = b < 0xC0 ? "unexpected continuation byte" : "invalid lead byte";
    return 0;
  }
  for (size_t k = 1; k < need; k++) {
    if (i + k >= n) {
      *why = "truncated sequence";
      return 0;
    }
    unsigned char c = s[i + k];
    if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) {
      *why = k == 1 && c >= 0x80 && c <= 0xBF ? "overlong, surrogate or out-of-range sequence"
                                              : "missing continuation byte";
      return 0;
    }
    *cp = (*cp << 6) | (c & 0x3F);
  }
  return need;
}

static dif_status utf8_error(const unsigned char *s, size_t i, const char *why, dif__error *err) {
  return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                   "text is not valid UTF-8: %s at byte offset %zu (byte 0x%02X)", why, i, s[i]);
}

int dif__utf8_valid(const char *text, size_t len, size_t *offset, const char **why) {
  const unsigned char *s = (const unsigned char *)text;
  for (size_t i = 0; i < len;) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    const char *w = "";
    size_t k = utf8_next(s, len, i, &cp, &w);
    if (!k) {
      if (offset) *offset = i;
      if (why) *why = w;
      return 0;
    }
    i += k;
  }
  return 1;
}

dif_status dif__utf8_validate(const char *text, size_t len, dif__error *err) {
  if (!text && len) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "text is NULL");
  size_t off;
  const char *why;
  if (!dif__utf8_valid(text, len, &off, &why))
    return utf8_error((const unsigned char *)text, off, why, err);
  return DIF_OK;
}

dif_status dif__utf8_decode(const char *text, size_t len, dif__u32buf *out, dif__error *err) {
  const unsigned char *s = (const unsigned char *)text;
  if (!s && len) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "text is NULL");
  dif_status st = dif__u32buf_reserve(out, len, err);
  if (st) return st;
  size_t start = out->n;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    const char *why = "";
    size_t k = utf8_next(s, len, i, &cp, &why);
    if (!k) {
      out->n = start;
      return utf8_error(s, i, why, err);
    }
    out->v[out->n++] = cp;
    i += k;
  }
  return DIF_OK;
}

uint32_t dif__utf8_decode_cp(const char *s, size_t *len) {
  const unsigned char *u = (const unsigned char *)s;
  if (u[0] < 0x80) {
    *len = 1;
    return u[0];
  }
  size_t k = u[0] >= 0xF0 ? 4 : u[0] >= 0xE0 ? 3 : 2;
  uint32_t c = u[0] & (0x7F >> k);
  for (size_t j = 1; j < k; j++) c = c << 6 | (u[j] & 0x3F);
  *len = k;
  return c;
}

size_t dif__utf8_encode_cp(uint32_t cp, char *buf) {
  unsigned char *b = (unsigned char *)buf;
  if (cp < 0x80) {
    b[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    b[0] = (unsigned char)(0xC0 | cp >> 6);
    b[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    b[0] = (unsigned char)(0xE0 | cp >> 12);
    b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    b[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  b[0] = (unsigned char)(0xF0 | cp >> 18);
  b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
  b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
  b[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

dif_status dif__utf8_encode(const uint32_t *cp, size_t n, char **out, size_t *out_len,
                            dif__error *err) {
  *out = NULL;
  if (out_len) *out_len = 0;
  if (n > (SIZE_MAX - 1) / 4) return dif__fail_oom(err, "UTF-8 text", SIZE_MAX);
  char *s = malloc(n * 4 + 1);
  if (!s) return dif__fail_oom(err, "UTF-8 text", n * 4 + 1);
  size_t len = 0;
  for (size_t i = 0; i < n; i++) len += dif__utf8_encode_cp(cp[i], s + len);
  s[len] = '\0';
  *out = s;
  if (out_len) *out_len = len;
  return DIF_OK;
}
