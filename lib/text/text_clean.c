/* text_clean.c — the Python string operations CLIPTokenizer applies after
 * ftfy: whitespace_clean and str.lower(). */
#include "text/text_clean.h"

#include <string.h>
#include <utf8proc.h>

/* ---------------------------------------------------------------------------
 * Whitespace
 */
int dif__text_is_space(uint32_t c) {
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

int dif__text_py_isspace(uint32_t c) { return dif__text_is_space(c) || (c >= 0x1C && c <= 0x1F); }

void dif__text_whitespace_clean(dif__u32buf *b) {
  /* re.sub(r"\s+", " ", text) */
  size_t o = 0;
  for (size_t i = 0; i < b->n;) {
    if (dif__text_is_space(b->v[i])) {
      while (i < b->n && dif__text_is_space(b->v[i])) i++;
      b->v[o++] = ' ';
    } else {
      b->v[o++] = b->v[i++];
    }
  }
  /* .strip() */
  size_t lo = 0, hi = o;
  while (lo < hi && dif__text_py_isspace(b->v[lo])) lo++;
  while (hi > lo && dif__text_py_isspace(b->v[hi - 1])) hi--;
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

dif_status dif__text_lower_into(const uint32_t *in, size_t n, dif__u32buf *out, dif__error *err) {
  dif_status st = dif__u32buf_reserve(out, n, err);
  if (st) return st;
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    if (c < 0x80) {
      if (c >= 'A' && c <= 'Z') c += 32;
    } else if (c == 0x130) { /* the only unconditional multi-character lower-case mapping */
      if ((st = dif__u32buf_reserve(out, n - i + 1, err))) return st;
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

dif_status dif__text_lower(dif__u32buf *b, dif__error *err) {
  dif__u32buf out = {0};
  dif_status st = dif__text_lower_into(b->v, b->n, &out, err);
  if (st) {
    dif__u32buf_free(&out);
    return st;
  }
  dif__u32buf_free(b);
  *b = out;
  return DIF_OK;
}
