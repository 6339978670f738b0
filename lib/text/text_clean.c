/* text_clean.c — UTF-8 <-> code points, and the Python string operations
 * CLIPTokenizer applies after ftfy: whitespace_clean and str.lower(). */
#include "text/text_clean.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/ftfy.h"

/* ---------------------------------------------------------------------------
 * Code point buffers
 */
void dif_u32buf_free(dif_u32buf *b) {
  if (!b) return;
  free(b->v);
  b->v = NULL;
  b->n = b->cap = 0;
}

dif_status dif_u32buf_reserve(dif_u32buf *b, size_t extra, dif_error *err) {
  if (b->cap - b->n >= extra) return DIF_OK;
  size_t cap = b->cap ? b->cap : 16;
  while (cap - b->n < extra) {
    if (cap > SIZE_MAX / 2 / sizeof(uint32_t)) return dif_fail_oom(err, "text", SIZE_MAX);
    cap *= 2;
  }
  uint32_t *v = realloc(b->v, cap * sizeof *v);
  if (!v) return dif_fail_oom(err, "text", cap * sizeof *v);
  b->v = v;
  b->cap = cap;
  return DIF_OK;
}

dif_status dif_u32buf_append(dif_u32buf *b, const uint32_t *cp, size_t n, dif_error *err) {
  dif_status st = dif_u32buf_reserve(b, n, err);
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

static dif_status utf8_error(const unsigned char *s, size_t i, const char *why, dif_error *err) {
  return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                  "text is not valid UTF-8: %s at byte offset %zu (byte 0x%02X)", why, i, s[i]);
}

dif_status dif_utf8_validate(const char *text, size_t len, dif_error *err) {
  const unsigned char *s = (const unsigned char *)text;
  if (!s && len) return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "text is NULL");
  for (size_t i = 0; i < len;) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    const char *why = "";
    size_t k = utf8_next(s, len, i, &cp, &why);
    if (!k) return utf8_error(s, i, why, err);
    i += k;
  }
  return DIF_OK;
}

dif_status dif_utf8_decode(const char *text, size_t len, dif_u32buf *out, dif_error *err) {
  const unsigned char *s = (const unsigned char *)text;
  if (!s && len) return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "text is NULL");
  dif_status st = dif_u32buf_reserve(out, len, err);
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

size_t dif_utf8_encode_cp(uint32_t cp, char *buf) {
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

dif_status dif_utf8_encode(const uint32_t *cp, size_t n, char **out, size_t *out_len,
                           dif_error *err) {
  *out = NULL;
  if (out_len) *out_len = 0;
  if (n > (SIZE_MAX - 1) / 4) return dif_fail_oom(err, "UTF-8 text", SIZE_MAX);
  char *s = malloc(n * 4 + 1);
  if (!s) return dif_fail_oom(err, "UTF-8 text", n * 4 + 1);
  size_t len = 0;
  for (size_t i = 0; i < n; i++) len += dif_utf8_encode_cp(cp[i], s + len);
  s[len] = '\0';
  *out = s;
  if (out_len) *out_len = len;
  return DIF_OK;
}

/* ---------------------------------------------------------------------------
 * Whitespace
 */
int dif_text_is_space(uint32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
  if (c == 0x85) return 1;
  if (c > 0x10FFFF) return 0;
  switch (utf8proc_category((utf8proc_int32_t)c)) {
  case UTF8PROC_CATEGORY_ZS:
  case UTF8PROC_CATEGORY_ZL:
  case UTF8PROC_CATEGORY_ZP: return 1;
  default: return 0;
  }
}

int dif_text_py_isspace(uint32_t c) { return dif_text_is_space(c) || (c >= 0x1C && c <= 0x1F); }

void dif_text_whitespace_clean(dif_u32buf *b) {
  /* re.sub(r"\s+", " ", text) */
  size_t o = 0;
  for (size_t i = 0; i < b->n;) {
    if (dif_text_is_space(b->v[i])) {
      while (i < b->n && dif_text_is_space(b->v[i])) i++;
      b->v[o++] = ' ';
    } else {
      b->v[o++] = b->v[i++];
    }
  }
  /* .strip() */
  size_t lo = 0, hi = o;
  while (lo < hi && dif_text_py_isspace(b->v[lo])) lo++;
  while (hi > lo && dif_text_py_isspace(b->v[hi - 1])) hi--;
  if (lo) memmove(b->v, b->v + lo, (hi - lo) * sizeof *b->v);
  b->n = hi - lo;
}

/* ---------------------------------------------------------------------------
 * str.lower()
 */

/* Unicode Cased: Lu, Ll, Lt, Other_Lowercase, Other_Uppercase. The general
 * category plus "has a case mapping" covers all of them but these, which have
 * no mapping (checked against CPython 3.11 over all code points). */
static int is_cased(uint32_t c) {
  if (c == 0xAA || c == 0xBA || (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) ||
      (c >= 0x1F170 && c <= 0x1F189))
    return 1;
  if (c > 0x10FFFF) return 0;
  utf8proc_int32_t x = (utf8proc_int32_t)c;
  switch (utf8proc_category(x)) {
  case UTF8PROC_CATEGORY_LU:
  case UTF8PROC_CATEGORY_LL:
  case UTF8PROC_CATEGORY_LT: return 1;
  default: return utf8proc_tolower(x) != x || utf8proc_toupper(x) != x || utf8proc_totitle(x) != x;
  }
}

/* Unicode Case_Ignorable: Mn, Me, Cf, Lm, Sk and Word_Break MidLetter,
 * MidNumLet and Single_Quote (the code points listed). */
static int is_case_ignorable(uint32_t c) {
  switch (c) {
  case 0x27:
  case 0x2E:
  case 0x3A:
  case 0xB7:
  case 0x387:
  case 0x55F:
  case 0x5F4:
  case 0x2018:
  case 0x2019:
  case 0x2024:
  case 0x2027:
  case 0xFE13:
  case 0xFE52:
  case 0xFE55:
  case 0xFF07:
  case 0xFF0E:
  case 0xFF1A: return 1;
  default: break;
  }
  if (c > 0x10FFFF) return 0;
  switch (utf8proc_category((utf8proc_int32_t)c)) {
  case UTF8PROC_CATEGORY_MN:
  case UTF8PROC_CATEGORY_ME:
  case UTF8PROC_CATEGORY_CF:
  case UTF8PROC_CATEGORY_LM:
  case UTF8PROC_CATEGORY_SK: return 1;
  default: return 0;
  }
}

/* CPython's handle_capital_sigma: U+03A3 at t[i] lowers to final sigma when
 * \p{Cased}\p{Case_Ignorable}* precedes it and \p{Case_Ignorable}*\p{Cased}
 * does not follow. */
static int final_sigma(const uint32_t *t, size_t n, size_t i) {
  size_t j = i;
  while (j > 0 && is_case_ignorable(t[j - 1])) j--;
  if (j == 0 || !is_cased(t[j - 1])) return 0;
  j = i + 1;
  while (j < n && is_case_ignorable(t[j])) j++;
  return j == n || !is_cased(t[j]);
}

dif_status dif_text_lower_into(const uint32_t *in, size_t n, dif_u32buf *out, dif_error *err) {
  dif_status st = dif_u32buf_reserve(out, n, err);
  if (st) return st;
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    if (c < 0x80) {
      if (c >= 'A' && c <= 'Z') c += 32;
    } else if (c == 0x130) { /* the only unconditional multi-character lower-case mapping */
      if ((st = dif_u32buf_reserve(out, n - i + 1, err))) return st;
      out->v[out->n++] = 'i';
      c = 0x307;
    } else if (c == 0x3A3) {
      c = final_sigma(in, n, i) ? 0x3C2 : 0x3C3;
    } else if (c <= 0x10FFFF) {
      c = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
    }
    out->v[out->n++] = c;
  }
  return DIF_OK;
}

dif_status dif_text_lower(dif_u32buf *b, dif_error *err) {
  dif_u32buf out = {0};
  dif_status st = dif_text_lower_into(b->v, b->n, &out, err);
  if (st) {
    dif_u32buf_free(&out);
    return st;
  }
  dif_u32buf_free(b);
  *b = out;
  return DIF_OK;
}

/* ---------------------------------------------------------------------------
 * The whole cleaning
 */
dif_status dif_text_normalize(const char *text, size_t len, char **out, size_t *out_len,
                              dif_error *err) {
  dif_u32buf in = {0}, fixed = {0};
  *out = NULL;
  dif_status st = dif_utf8_decode(text, len, &in, err);
  if (!st) st = dif_ftfy_fix_text(in.v, in.n, &fixed, err);
  if (!st) {
    dif_text_whitespace_clean(&fixed);
    st = dif_text_lower(&fixed, err);
  }
  if (!st) st = dif_utf8_encode(fixed.v, fixed.n, out, out_len, err);
  dif_u32buf_free(&in);
  dif_u32buf_free(&fixed);
  return st;
}
