/* ftfy.c — ftfy.fix_text (python-ftfy 6.3.1) in C: the fixers, the mojibake
 * heuristic and the "sloppy" / "utf-8-variants" codecs it relies on.
 *
 * Each function names the Python function it mirrors (ftfy/__init__.py,
 * fixes.py, badness.py, chardata.py, bad_codecs/utf8_variants.py). Regular
 * expressions are written out as hand-made matchers; the comment above each
 * quotes the pattern it implements. Data tables are in ftfy_data.c.
 */
#include "text/ftfy.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/ftfy_data.h"
#include "text/text_clean.h"

#define NO_CHAR 0xFFFFFFFFu
/* fix_and_explain and fix_encoding loop until the text stops changing; ftfy
 * has no bound, we stop after this many rounds (never reached in practice). */
#define MAX_ROUNDS 64
/* decode_inconsistent_utf8 -> fix_encoding recursion bound (depth 2 in practice). */
#define MAX_DEPTH 8

/* ---------------------------------------------------------------------------
 * Buffers
 */
typedef struct bytebuf {
  uint8_t *v;
  size_t n, cap;
} bytebuf;

static dif_status bb_reserve(bytebuf *b, size_t extra, dif__error *err) {
  if (b->cap - b->n >= extra) return DIF_OK;
  size_t cap = b->cap ? b->cap : 64;
  while (cap - b->n < extra) {
    if (cap > SIZE_MAX / 2) return dif__fail_oom(err, "ftfy bytes", b->n + extra);
    cap *= 2;
  }
  uint8_t *v = realloc(b->v, cap);
  if (!v) return dif__fail_oom(err, "ftfy bytes", cap);
  b->v = v;
  b->cap = cap;
  return DIF_OK;
}

static dif_status bb_push(bytebuf *b, const uint8_t *p, size_t n, dif__error *err) {
  dif_status st = bb_reserve(b, n, err);
  if (st) return st;
  memcpy(b->v + b->n, p, n);
  b->n += n;
  return DIF_OK;
}

static void bb_free(bytebuf *b) {
  free(b->v);
  b->v = NULL;
  b->n = b->cap = 0;
}

static dif_status push1(dif__u32buf *b, uint32_t c, dif__error *err) {
  return dif__u32buf_append(b, &c, 1, err);
}

static int same_text(const uint32_t *a, size_t na, const uint32_t *b, size_t nb) {
  return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void u32_swap(dif__u32buf *a, dif__u32buf *b) {
  dif__u32buf t = *a;
  *a = *b;
  *b = t;
}

static int is_ascii_alpha(uint32_t c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_ascii_lower(uint32_t c) { return c >= 'a' && c <= 'z'; }
static int is_ascii_alnum(uint32_t c) { return is_ascii_alpha(c) || (c >= '0' && c <= '9'); }

/* Python re's \w on str: letters, numbers (any N category) and '_'. */
static int is_py_word(uint32_t c) {
  if (c == '_') return 1;
  if (c > 0x10FFFF) return 0;
  switch (utf8proc_category((utf8proc_int32_t)c)) {
  case UTF8PROC_CATEGORY_LU:
  case UTF8PROC_CATEGORY_LL:
  case UTF8PROC_CATEGORY_LT:
  case UTF8PROC_CATEGORY_LM:
  case UTF8PROC_CATEGORY_LO:
  case UTF8PROC_CATEGORY_ND:
  case UTF8PROC_CATEGORY_NL:
  case UTF8PROC_CATEGORY_NO: return 1;
  default: return 0;
  }
}

/* ---------------------------------------------------------------------------
 * Character classes (badness.MOJIBAKE_CATEGORIES, chardata.UTF8_CLUES)
 */
static uint64_t char_class(uint32_t c) {
  size_t lo = 0, hi = dif__ftfy_n_classes;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const dif__ftfy_class_range *r = &dif__ftfy_classes[mid];
    if (c < r->lo)
      hi = mid;
    else if (c > r->hi)
      lo = mid + 1;
    else
      return r->mask;
  }
  return 0;
}

typedef struct view {
  const uint32_t *t;
  const uint64_t *m; /* char_class of each character */
  size_t n;
} view;

static uint32_t CH(const view *v, size_t i) { return i < v->n ? v->t[i] : NO_CHAR; }
static int HAS(const view *v, size_t i, uint64_t bits) { return i < v->n && (v->m[i] & bits); }

/* Masks of the combined classes used by BADNESS_RE. */
#define LA DIF__FTFY_LOWER_ACC
#define UA DIF__FTFY_UPPER_ACC
#define BOX DIF__FTFY_BOX
#define STA DIF__FTFY_START
#define END DIF__FTFY_END
#define CUR DIF__FTFY_CURRENCY
#define NUM DIF__FTFY_NUMERIC
#define LAW DIF__FTFY_LAW
#define BAD DIF__FTFY_BAD
#define C1 DIF__FTFY_C1

/* Does one of the alternatives of badness.BADNESS_RE match at position p? */
static int bad_at(const view *v, size_t p) {
  /* [{c1}] */
  if (HAS(v, p, C1)) return 1;
  /* [{bad}{lower_accented}{upper_accented}{box}{start_punctuation}{end_punctuation}{currency}
   *  {numeric}{law}] [{bad}] */
  if (HAS(v, p, BAD | LA | UA | BOX | STA | END | CUR | NUM | LAW) && HAS(v, p + 1, BAD)) return 1;
  /* [a-zA-Z] [{lower_common}{upper_common}] [{bad}] */
  if (is_ascii_alpha(CH(v, p)) && HAS(v, p + 1, DIF__FTFY_LOWER_COMMON | DIF__FTFY_UPPER_COMMON) &&
      HAS(v, p + 2, BAD))
    return 1;
  /* [{bad}] [{lower_accented}{upper_accented}{box}{start_punctuation}{end_punctuation}
   *  {currency}{numeric}{law}] */
  if (HAS(v, p, BAD) && HAS(v, p + 1, LA | UA | BOX | STA | END | CUR | NUM | LAW)) return 1;
  /* [{lower_accented}{lower_common}{box}{end_punctuation}{currency}{numeric}] [{upper_accented}] */
  if (HAS(v, p, LA | DIF__FTFY_LOWER_COMMON | BOX | END | CUR | NUM) && HAS(v, p + 1, UA)) return 1;
  /* [{box}{end_punctuation}{currency}{numeric}] [{lower_accented}] */
  if (HAS(v, p, BOX | END | CUR | NUM) && HAS(v, p + 1, LA)) return 1;
  /* [{lower_accented}{box}{end_punctuation}] [{currency}] */
  if (HAS(v, p, LA | BOX | END) && HAS(v, p + 1, CUR)) return 1;
  /* \s [{upper_accented}] [{currency}] */
  if (p < v->n && dif__text_py_isspace(v->t[p]) && HAS(v, p + 1, UA) && HAS(v, p + 2, CUR))
    return 1;
  /* [{upper_accented}{box}] [{numeric}{law}] */
  if (HAS(v, p, UA | BOX) && HAS(v, p + 1, NUM | LAW)) return 1;
  /* [{lower_accented}{upper_accented}{box}{currency}{end_punctuation}] [{start_punctuation}]
   *  [{numeric}] */
  if (HAS(v, p, LA | UA | BOX | CUR | END) && HAS(v, p + 1, STA) && HAS(v, p + 2, NUM)) return 1;
  /* [{lower_accented}{upper_accented}{currency}{numeric}{box}{law}] [{end_punctuation}]
   *  [{start_punctuation}] */
  if (HAS(v, p, LA | UA | CUR | NUM | BOX | LAW) && HAS(v, p + 1, END) && HAS(v, p + 2, STA))
    return 1;
  /* [{currency}{numeric}{box}] [{start_punctuation}] */
  if (HAS(v, p, CUR | NUM | BOX) && HAS(v, p + 1, STA)) return 1;
  /* [a-z] [{upper_accented}] [{start_punctuation}{currency}] */
  if (is_ascii_lower(CH(v, p)) && HAS(v, p + 1, UA) && HAS(v, p + 2, STA | CUR)) return 1;
  /* [{box}] [{kaomoji}] */
  if (HAS(v, p, BOX) && HAS(v, p + 1, DIF__FTFY_KAOMOJI)) return 1;
  /* [{lower_accented}{upper_accented}{currency}{numeric}{start_punctuation}{end_punctuation}
   *  {law}] [{box}] */
  if (HAS(v, p, LA | UA | CUR | NUM | STA | END | LAW) && HAS(v, p + 1, BOX)) return 1;
  /* [{box}] [{end_punctuation}] */
  if (HAS(v, p, BOX) && HAS(v, p + 1, END)) return 1;
  /* [{lower_accented}{upper_accented}] [{start_punctuation}{end_punctuation}] \w */
  if (HAS(v, p, LA | UA) && HAS(v, p + 1, STA | END) && p + 2 < v->n && is_py_word(v->t[p + 2]))
    return 1;
  /* [Œœ][^A-Za-z] */
  if (HAS(v, p, DIF__FTFY_OE) && p + 1 < v->n && !is_ascii_alpha(v->t[p + 1])) return 1;
  /* [{upper_accented}]° */
  if (HAS(v, p, UA) && HAS(v, p + 1, DIF__FTFY_DEGREE)) return 1;
  /* [ÂÃÎÐ][€œŠš¢£Ÿž\xa0\xad®©°·»{start_punctuation}{end_punctuation}–—´] */
  if (HAS(v, p, DIF__FTFY_W1252_LEAD) && HAS(v, p + 1, DIF__FTFY_W1252_TAIL | STA | END)) return 1;
  /* × [²³] */
  if (CH(v, p) == 0xD7 && HAS(v, p + 1, DIF__FTFY_SUP23)) return 1;
  /* [ØÙ] [{common}{currency}{bad}{numeric}{start_punctuation}ŸŠ®°µ»] (twice) */
  {
    const uint64_t tail = DIF__FTFY_COMMON | CUR | BAD | NUM | STA | DIF__FTFY_ARABIC_TAIL;
    if (HAS(v, p, DIF__FTFY_ARABIC_LEAD) && HAS(v, p + 1, tail) &&
        HAS(v, p + 2, DIF__FTFY_ARABIC_LEAD) && HAS(v, p + 3, tail))
      return 1;
  }
  /* à[²µ¹¼½¾] */
  if (CH(v, p) == 0xE0 && HAS(v, p + 1, DIF__FTFY_INDIC_TAIL)) return 1;
  /* √[±∂†≠®™´≤≥¥µø] */
  if (CH(v, p) == 0x221A && HAS(v, p + 1, DIF__FTFY_MAC_SQRT_TAIL)) return 1;
  /* ≈[°¢] */
  if (CH(v, p) == 0x2248 && HAS(v, p + 1, DIF__FTFY_MAC_APPROX_TAIL)) return 1;
  /* ‚Ä[ìîïòôúùû†°¢π] */
  if (CH(v, p) == 0x201A && CH(v, p + 1) == 0xC4 && HAS(v, p + 2, DIF__FTFY_MAC_A_TAIL)) return 1;
  /* ‚[âó][àä°ê] */
  if (CH(v, p) == 0x201A && HAS(v, p + 1, DIF__FTFY_MAC_Q_MID) &&
      HAS(v, p + 2, DIF__FTFY_MAC_Q_TAIL))
    return 1;
  /* вЂ */
  if (CH(v, p) == 0x0432 && CH(v, p + 1) == 0x0402) return 1;
  /* [ВГРС][{c1}{bad}{start_punctuation}{end_punctuation}{currency}°µ][ВГРС] */
  if (HAS(v, p, DIF__FTFY_CYR_EDGE) &&
      HAS(v, p + 1, C1 | BAD | STA | END | CUR | DIF__FTFY_CYR_MID) &&
      HAS(v, p + 2, DIF__FTFY_CYR_EDGE))
    return 1;
  /* ГўВЂВ.[A-Za-z ] */
  if (CH(v, p) == 0x0413 && CH(v, p + 1) == 0x045E && CH(v, p + 2) == 0x0412 &&
      CH(v, p + 3) == 0x0402 && CH(v, p + 4) == 0x0412 && p + 5 < v->n && v->t[p + 5] != '\n' &&
      (is_ascii_alpha(CH(v, p + 6)) || CH(v, p + 6) == ' '))
    return 1;
  /* Ã[\xa0¡] */
  if (CH(v, p) == 0xC3 && HAS(v, p + 1, DIF__FTFY_A_GRAVE_TAIL)) return 1;
  /* [a-z]\s?[ÃÂ][ ] */
  if (is_ascii_lower(CH(v, p))) {
    if (HAS(v, p + 1, DIF__FTFY_A_HAT_TILDE) && CH(v, p + 2) == ' ') return 1;
    if (p + 1 < v->n && dif__text_py_isspace(v->t[p + 1]) && HAS(v, p + 2, DIF__FTFY_A_HAT_TILDE) &&
        CH(v, p + 3) == ' ')
      return 1;
  }
  /* ^[ÃÂ][ ] */
  if (p == 0 && HAS(v, 0, DIF__FTFY_A_HAT_TILDE) && CH(v, 1) == ' ') return 1;
  /* [a-z.,?!{end_punctuation}] Â [ {start_punctuation}{end_punctuation}] */
  {
    uint32_t c = CH(v, p);
    if ((is_ascii_lower(c) || c == '.' || c == ',' || c == '?' || c == '!' || HAS(v, p, END)) &&
        CH(v, p + 1) == 0xC2 && (CH(v, p + 2) == ' ' || HAS(v, p + 2, STA | END)))
      return 1;
  }
  /* β€[™\xa0Ά\xad®°] */
  if (CH(v, p) == 0x03B2 && CH(v, p + 1) == 0x20AC && HAS(v, p + 2, DIF__FTFY_GREEK_TAIL)) return 1;
  /* [ΒΓΞΟ][{c1}{bad}{start_punctuation}{end_punctuation}{currency}°][ΒΓΞΟ] */
  if (HAS(v, p, DIF__FTFY_GREEK_EDGE) &&
      HAS(v, p + 1, C1 | BAD | STA | END | CUR | DIF__FTFY_DEGREE) &&
      HAS(v, p + 2, DIF__FTFY_GREEK_EDGE))
    return 1;
  /* ā€ */
  if (CH(v, p) == 0x0101 && CH(v, p + 1) == 0x20AC) return 1;
  return 0;
}

int dif__ftfy_is_bad(const uint32_t *text, size_t n) {
  if (n == 0) return 0;
  uint64_t *m = malloc(n * sizeof *m);
  if (!m) return -1;
  for (size_t i = 0; i < n; i++) m[i] = char_class(text[i]);
  view v = {text, m, n};
  int bad = 0;
  for (size_t p = 0; p < n && !bad; p++) bad = bad_at(&v, p);
  free(m);
  return bad;
}

/* ---------------------------------------------------------------------------
 * Single-byte encodings (chardata.possible_encoding, str.encode)
 */
/* The byte c encodes to in encoding enc, or -1. ASCII other than 0x1A encodes
 * to itself in all ten encodings; 0x1A is U+001A or (sloppy codecs) U+FFFD. */
static int charmap_encode(int enc, uint32_t c) {
  if (c < 0x80 && c != 0x1A) return (int)c;
  const dif__ftfy_rev_entry *rev = dif__ftfy_charmap_rev[enc];
  size_t lo = 0, hi = 129;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (c < rev[mid].cp)
      hi = mid;
    else if (c > rev[mid].cp)
      lo = mid + 1;
    else
      return rev[mid].byte;
  }
  return -1;
}

static int possible_encoding(int enc, const uint32_t *t, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (charmap_encode(enc, t[i]) < 0) return 0;
  return 1;
}

static int is_sloppy(int enc) {
  return enc >= DIF__FTFY_SLOPPY_1252 && enc <= DIF__FTFY_SLOPPY_1257;
}

/* ---------------------------------------------------------------------------
 * Byte-level repairs (fixes.restore_byte_a0, fixes.replace_lossy_sequences)
 */
static int in(uint8_t b, uint8_t lo, uint8_t hi) { return b >= lo && b <= hi; }
/* [\x80-\x84\x86-\x9f\xa1-\xbf] */
static int cont_not_85_a0(uint8_t b) { return in(b, 0x80, 0xBF) && b != 0x85 && b != 0xA0; }

/* Length of an ALTERED_UTF8_RE match at s[i], or 0:
 *   [\xc2\xc3\xc5\xce\xd0\xd9][ ]
 * | [\xe2\xe3][ ][\x80-\x84\x86-\x9f\xa1-\xbf]
 * | [\xe0-\xe3][\x80-\x84\x86-\x9f\xa1-\xbf][ ]
 * | [\xf0][ ][\x80-\xbf][\x80-\xbf]
 * | [\xf0][\x80-\xbf][ ][\x80-\xbf]
 * | [\xf0][\x80-\xbf][\x80-\xbf][ ] */
static size_t altered_utf8_at(const uint8_t *s, size_t n, size_t i) {
  uint8_t b = s[i];
  size_t r = n - i;
  if ((b == 0xC2 || b == 0xC3 || b == 0xC5 || b == 0xCE || b == 0xD0 || b == 0xD9) && r >= 2 &&
      s[i + 1] == ' ')
    return 2;
  if ((b == 0xE2 || b == 0xE3) && r >= 3 && s[i + 1] == ' ' && cont_not_85_a0(s[i + 2])) return 3;
  if (in(b, 0xE0, 0xE3) && r >= 3 && cont_not_85_a0(s[i + 1]) && s[i + 2] == ' ') return 3;
  if (b == 0xF0 && r >= 4) {
    const uint8_t *t = s + i + 1;
    if (t[0] == ' ' && in(t[1], 0x80, 0xBF) && in(t[2], 0x80, 0xBF)) return 4;
    if (in(t[0], 0x80, 0xBF) && t[1] == ' ' && in(t[2], 0x80, 0xBF)) return 4;
    if (in(t[0], 0x80, 0xBF) && in(t[1], 0x80, 0xBF) && t[2] == ' ') return 4;
  }
  return 0;
}

static int altered_utf8_search(const bytebuf *b) {
  for (size_t i = 0; i < b->n; i++)
    if (altered_utf8_at(b->v, b->n, i)) return 1;
  return 0;
}

static int starts_with(const uint8_t *s, size_t n, const char *lit) {
  size_t k = strlen(lit);
  return n >= k && memcmp(s, lit, k) == 0;
}

/* fixes.restore_byte_a0: first A_GRAVE_WORD_RE = b"\xc3 (?! |quele|quela|quilo|s )" becomes
 * b"\xc3\xa0 ", then every space inside an ALTERED_UTF8_RE match becomes 0xA0. */
static dif_status restore_byte_a0(bytebuf *b, bytebuf *tmp, dif__error *err) {
  dif_status st;
  tmp->n = 0;
  for (size_t i = 0; i < b->n;) {
    if (b->v[i] == 0xC3 && i + 1 < b->n && b->v[i + 1] == ' ') {
      const uint8_t *a = b->v + i + 2;
      size_t r = b->n - i - 2;
      if (!(starts_with(a, r, " ") || starts_with(a, r, "quele") || starts_with(a, r, "quela") ||
            starts_with(a, r, "quilo") || starts_with(a, r, "s "))) {
        if ((st = bb_push(tmp, (const uint8_t *)"\xc3\xa0 ", 3, err))) return st;
        i += 2;
        continue;
      }
    }
    if ((st = bb_push(tmp, b->v + i, 1, err))) return st;
    i++;
  }
  bytebuf t = *b;
  *b = *tmp;
  *tmp = t;
  for (size_t i = 0; i < b->n;) {
    size_t k = altered_utf8_at(b->v, b->n, i);
    if (!k) {
      i++;
      continue;
    }
    for (size_t j = i; j < i + k; j++)
      if (b->v[j] == ' ') b->v[j] = 0xA0;
    i += k;
  }
  return DIF_OK;
}

/* Length of a LOSSY_UTF8_RE match at s[i], or 0:
 *   [\xc2-\xdf][\x1a]
 * | [\xc2-\xc3][?]
 * | \xed[\xa0-\xaf][\x1a?]\xed[\xb0-\xbf][\x1a?\x80-\xbf]
 * | \xed[\xa0-\xaf][\x1a?\x80-\xbf]\xed[\xb0-\xbf][\x1a?]
 * | [\xe0-\xef][\x1a?][\x1a\x80-\xbf]
 * | [\xe0-\xef][\x1a\x80-\xbf][\x1a?]
 * | [\xf0-\xf4][\x1a?][\x1a\x80-\xbf][\x1a\x80-\xbf]
 * | [\xf0-\xf4][\x1a\x80-\xbf][\x1a?][\x1a\x80-\xbf]
 * | [\xf0-\xf4][\x1a\x80-\xbf][\x1a\x80-\xbf][\x1a?]
 * | \x1a */
static int sq(uint8_t b) { return b == 0x1A || b == '?'; }          /* [\x1a?] */
static int sc(uint8_t b) { return b == 0x1A || in(b, 0x80, 0xBF); } /* [\x1a\x80-\xbf] */
static int sqc(uint8_t b) { return sq(b) || in(b, 0x80, 0xBF); }    /* [\x1a?\x80-\xbf] */
static size_t lossy_at(const uint8_t *s, size_t n, size_t i) {
  uint8_t b = s[i];
  size_t r = n - i;
  const uint8_t *t = s + i + 1;
  if (in(b, 0xC2, 0xDF) && r >= 2 && t[0] == 0x1A) return 2;
  if (in(b, 0xC2, 0xC3) && r >= 2 && t[0] == '?') return 2;
  if (b == 0xED && r >= 6 && in(t[0], 0xA0, 0xAF) && t[2] == 0xED && in(t[3], 0xB0, 0xBF)) {
    if (sq(t[1]) && sqc(t[4])) return 6;
    if (sqc(t[1]) && sq(t[4])) return 6;
  }
  if (in(b, 0xE0, 0xEF) && r >= 3) {
    if (sq(t[0]) && sc(t[1])) return 3;
    if (sc(t[0]) && sq(t[1])) return 3;
  }
  if (in(b, 0xF0, 0xF4) && r >= 4) {
    if (sq(t[0]) && sc(t[1]) && sc(t[2])) return 4;
    if (sc(t[0]) && sq(t[1]) && sc(t[2])) return 4;
    if (sc(t[0]) && sc(t[1]) && sq(t[2])) return 4;
  }
  if (b == 0x1A) return 1;
  return 0;
}

/* fixes.replace_lossy_sequences: each LOSSY_UTF8_RE match becomes the UTF-8 of U+FFFD. */
static dif_status replace_lossy_sequences(bytebuf *b, bytebuf *tmp, dif__error *err) {
  dif_status st;
  tmp->n = 0;
  for (size_t i = 0; i < b->n;) {
    size_t k = lossy_at(b->v, b->n, i);
    if (k) {
      if ((st = bb_push(tmp, (const uint8_t *)"\xef\xbf\xbd", 3, err))) return st;
      i += k;
    } else {
      if ((st = bb_push(tmp, b->v + i, 1, err))) return st;
      i++;
    }
  }
  bytebuf t = *b;
  *b = *tmp;
  *tmp = t;
  return DIF_OK;
}

/* ---------------------------------------------------------------------------
 * The "utf-8-variants" codec (bad_codecs/utf8_variants.py): strict UTF-8, plus
 * CESU-8 surrogate pairs and Java's 0xC0 0x80 for U+0000. Its regexes use `$`,
 * which Python also matches just before a final '\n'; that lets "\xc0\n" and a
 * CESU-8 pair whose last byte is a final '\n' decode (eating the newline). We
 * reproduce that.
 */

/* Length of the strict UTF-8 sequence at s[i] and its code point, or 0. */
static size_t utf8_seq(const uint8_t *s, size_t n, size_t i, uint32_t *cp) {
  uint8_t b = s[i];
  size_t r = n - i;
  if (b < 0x80) {
    *cp = b;
    return 1;
  }
  if (in(b, 0xC2, 0xDF)) {
    if (r < 2 || !in(s[i + 1], 0x80, 0xBF)) return 0;
    *cp = ((uint32_t)(b & 0x1F) << 6) | (s[i + 1] & 0x3F);
    return 2;
  }
  if (in(b, 0xE0, 0xEF)) {
    uint8_t lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
    if (r < 3 || !in(s[i + 1], lo, hi) || !in(s[i + 2], 0x80, 0xBF)) return 0;
    *cp = ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
    return 3;
  }
  if (in(b, 0xF0, 0xF4)) {
    uint8_t lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
    if (r < 4 || !in(s[i + 1], lo, hi) || !in(s[i + 2], 0x80, 0xBF) || !in(s[i + 3], 0x80, 0xBF))
      return 0;
    *cp = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[i + 1] & 0x3F) << 12) |
          ((uint32_t)(s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
    return 4;
  }
  return 0;
}

/* Decodes b with utf-8-variants into out (cleared first). Returns 1 on
 * success, 0 where Python raises UnicodeDecodeError; *st is set on OOM. */
static int decode_utf8_variants(const bytebuf *b, dif__u32buf *out, dif_status *st,
                                dif__error *err) {
  const uint8_t *s = b->v;
  size_t n = b->n;
  out->n = 0;
  if ((*st = dif__u32buf_reserve(out, n, err))) return 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t k;
    if (s[i] == 0xC0) {
      /* NULL_EXPR = \xc0(\x80|$) */
      if (i + 1 < n && (s[i + 1] == 0x80 || (i + 2 == n && s[i + 1] == '\n'))) {
        cp = 0;
        k = 2;
      } else {
        return 0;
      }
    } else if (s[i] == 0xED && i + 1 < n && in(s[i + 1], 0xA0, 0xBF)) {
      /* CESU8_EXPR = \xed([\xa0-\xaf]|$)([\x80-\xbf]|$)(\xed|$)([\xb0-\xbf]|$)([\x80-\xbf]|$),
       * tried only on at least 6 remaining bytes; a lone surrogate is an error. */
      if (n - i < 6) return 0;
      const uint8_t *t = s + i;
      if (!(in(t[1], 0xA0, 0xAF) && in(t[2], 0x80, 0xBF) && t[3] == 0xED && in(t[4], 0xB0, 0xBF) &&
            (in(t[5], 0x80, 0xBF) || (n - i == 6 && t[5] == '\n'))))
        return 0;
      cp = ((uint32_t)(t[1] & 0x0F) << 16) + ((uint32_t)(t[2] & 0x3F) << 10) +
           ((uint32_t)(t[4] & 0x0F) << 6) + (t[5] & 0x3F) + 0x10000;
      k = 6;
    } else {
      k = utf8_seq(s, n, i, &cp);
      if (!k) return 0;
    }
    out->v[out->n++] = cp;
    i += k;
  }
  return 1;
}

/* ---------------------------------------------------------------------------
 * fix_encoding (ftfy/__init__.py) and decode_inconsistent_utf8 (fixes.py)
 */
static dif_status fix_encoding(const uint32_t *t, size_t n, dif__u32buf *out, int depth,
                               dif__error *err);

/* Length of a UTF8_DETECTOR_RE match at text[p] (lookbehind already checked):
 *   ( [{utf8_first_of_2}] [{utf8_continuation}]
 *   | [{utf8_first_of_3}] [{utf8_continuation}]{2}
 *   | [{utf8_first_of_4}] [{utf8_continuation}]{3} )+ */
static size_t utf8_detector_at(const view *v, size_t p) {
  const uint64_t C = DIF__FTFY_U8_CONT;
  size_t q = p;
  for (;;) {
    if (HAS(v, q, DIF__FTFY_U8_FIRST2) && HAS(v, q + 1, C))
      q += 2;
    else if (HAS(v, q, DIF__FTFY_U8_FIRST3) && HAS(v, q + 1, C) && HAS(v, q + 2, C))
      q += 3;
    else if (HAS(v, q, DIF__FTFY_U8_FIRST4) && HAS(v, q + 1, C) && HAS(v, q + 2, C) &&
             HAS(v, q + 3, C))
      q += 4;
    else
      break;
  }
  return q - p;
}

/* (?<! [{utf8_continuation_strict}]) */
static int detector_lookbehind_ok(const view *v, size_t p) {
  return p == 0 || !(v->m[p - 1] & DIF__FTFY_U8_CONT_STRICT);
}

/* fixes.decode_inconsistent_utf8: fix_encoding on each UTF8_DETECTOR_RE match
 * that is shorter than the text and is_bad. Sets *found when the regex matched
 * anywhere (the caller's UTF8_DETECTOR_RE.search). */
static dif_status decode_inconsistent_utf8(const view *v, dif__u32buf *out, int *found, int depth,
                                           dif__error *err) {
  dif_status st = DIF_OK;
  *found = 0;
  out->n = 0;
  dif__u32buf sub = {0};
  for (size_t p = 0; !st && p < v->n;) {
    size_t k = detector_lookbehind_ok(v, p) ? utf8_detector_at(v, p) : 0;
    if (!k) {
      st = push1(out, v->t[p], err);
      p++;
      continue;
    }
    *found = 1;
    int bad = 0;
    if (k < v->n) {
      view sv = {v->t + p, v->m + p, k};
      for (size_t i = 0; i < k && !bad; i++) bad = bad_at(&sv, i);
    }
    if (bad && depth < MAX_DEPTH) {
      sub.n = 0;
      st = fix_encoding(v->t + p, k, &sub, depth + 1, err);
      if (!st) st = dif__u32buf_append(out, sub.v, sub.n, err);
    } else {
      st = dif__u32buf_append(out, v->t + p, k, err);
    }
    p += k;
  }
  dif__u32buf_free(&sub);
  return st;
}

/* fixes.fix_c1_controls: U+0080..U+009F read as sloppy windows-1252. */
static dif_status fix_c1_controls(const uint32_t *t, size_t n, dif__u32buf *out, dif__error *err) {
  out->n = 0;
  dif_status st = dif__u32buf_reserve(out, n, err);
  if (st) return st;
  for (size_t i = 0; i < n; i++) {
    uint32_t c = t[i];
    out->v[out->n++] = c >= 0x80 && c <= 0x9F ? dif__ftfy_charmap[DIF__FTFY_SLOPPY_1252][c] : c;
  }
  return DIF_OK;
}

/* The rest of a step once the text is known to be bad: each possible
 * encoding, then inconsistent UTF-8, then Latin-1 / C1 as windows-1252 —
 * the first that applies gives out, as the Python returns. bytes and tmp
 * are the caller's scratch. */
static dif_status fix_bad_text(const view *v, dif__u32buf *out, int depth, bytebuf *bytes,
                               bytebuf *tmp, dif__error *err) {
  const uint32_t *t = v->t;
  const size_t n = v->n;
  dif_status st = DIF_OK;
  int possible[DIF__FTFY_N_ENCODINGS] = {0};
  for (int enc = 0; enc < DIF__FTFY_N_ENCODINGS; enc++) {
    if (!possible_encoding(enc, t, n)) continue;
    possible[enc] = 1;
    bytes->n = 0;
    if ((st = bb_reserve(bytes, n, err))) return st;
    for (size_t i = 0; i < n; i++) bytes->v[bytes->n++] = (uint8_t)charmap_encode(enc, t[i]);
    if (enc != DIF__FTFY_MACROMAN && altered_utf8_search(bytes) &&
        (st = restore_byte_a0(bytes, tmp, err)))
      return st;
    if (is_sloppy(enc) && (st = replace_lossy_sequences(bytes, tmp, err))) return st;
    if (decode_utf8_variants(bytes, out, &st, err) || st) return st;
  }

  /* Look for a-hat-euro sequences that remain, and fix them in isolation. */
  int found;
  if ((st = decode_inconsistent_utf8(v, out, &found, depth, err))) return st;
  if (found && !same_text(out->v, out->n, t, n)) return DIF_OK;

  /* Latin-1 that was meant to be windows-1252. */
  if (possible[DIF__FTFY_LATIN1]) {
    out->n = 0;
    if (possible[DIF__FTFY_SLOPPY_1252]) return dif__u32buf_append(out, t, n, err);
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++)
      if (t[i] >= 0x80 && t[i] <= 0x9F && (dif__ftfy_cp1252_undefined >> (t[i] - 0x80) & 1)) ok = 0;
    if (ok) {
      if ((st = fix_c1_controls(t, n, out, err))) return st;
      if (!same_text(out->v, out->n, t, n)) return DIF_OK;
    }
  }

  /* Fix individual C1 characters as windows-1252. */
  for (size_t i = 0; i < n; i++)
    if (t[i] >= 0x80 && t[i] <= 0x9F) return fix_c1_controls(t, n, out, err);
  out->n = 0;
  return dif__u32buf_append(out, t, n, err);
}

/* One step of _fix_encoding_one_step_and_explain: out receives the new text. */
static dif_status fix_encoding_step(const uint32_t *t, size_t n, dif__u32buf *out, int depth,
                                    dif__error *err) {
  out->n = 0;
  int ascii = 1;
  for (size_t i = 0; i < n && ascii; i++) ascii = t[i] < 0x80;
  if (n == 0 || ascii) return dif__u32buf_append(out, t, n, err);
  uint64_t *masks = malloc(n * sizeof *masks);
  if (!masks) return dif__fail_oom(err, "ftfy classes", n * sizeof *masks);
  for (size_t i = 0; i < n; i++) masks[i] = char_class(t[i]);
  view v = {t, masks, n};
  int bad = 0;
  for (size_t p = 0; p < n && !bad; p++) bad = bad_at(&v, p);
  bytebuf bytes = {0}, tmp = {0};
  dif_status st =
      bad ? fix_bad_text(&v, out, depth, &bytes, &tmp, err) : dif__u32buf_append(out, t, n, err);
  free(masks);
  bb_free(&bytes);
  bb_free(&tmp);
  return st;
}

/* ftfy.fix_encoding: steps until the text stops changing. */
static dif_status fix_encoding(const uint32_t *t, size_t n, dif__u32buf *out, int depth,
                               dif__error *err) {
  dif__u32buf cur = {0}, next = {0};
  dif_status st = dif__u32buf_append(&cur, t, n, err);
  for (int round = 0; !st && round < MAX_ROUNDS; round++) {
    if ((st = fix_encoding_step(cur.v, cur.n, &next, depth, err))) break;
    int same = same_text(cur.v, cur.n, next.v, next.n);
    u32_swap(&cur, &next);
    if (same) break;
  }
  if (!st) {
    out->n = 0;
    st = dif__u32buf_append(out, cur.v, cur.n, err);
  }
  dif__u32buf_free(&cur);
  dif__u32buf_free(&next);
  return st;
}

/* ---------------------------------------------------------------------------
 * The character-level fixers (fixes.py)
 */

/* _unescape_fixup for a numeric reference "&#<body>;" (body = 1..24 ASCII
 * alphanumerics): html.unescape(text), or the text itself when that leaves a
 * ';' behind. Appends the replacement; returns 0 if the text stays. */
static int numeric_charref(const uint32_t *body, size_t len, dif__u32buf *out, dif_status *st,
                           dif__error *err) {
  uint32_t num = 0; /* saturates above 0x10FFFF */
  size_t i = 0;
  int hex = body[0] == 'x' || body[0] == 'X';
  if (hex) {
    i = 1;
    if (len < 2) return 0;
  }
  for (; i < len; i++) {
    uint32_t c = body[i], d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
      d = (c | 0x20) - 'a' + 10;
    else
      return 0; /* html.unescape stops early and leaves the ';' */
    num = num > 0x110000 ? 0x110001 : num * (hex ? 16 : 10) + d;
  }
  uint32_t c;
  if (num == 0)
    c = 0xFFFD; /* html._invalid_charrefs */
  else if (num == 0x0D)
    c = '\r';
  else if (num >= 0x80 && num <= 0x9F)
    c = dif__ftfy_charmap[DIF__FTFY_SLOPPY_1252][num]; /* = html's table */
  else if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF)
    c = 0xFFFD;
  else if ((num >= 0x1 && num <= 0x8) || num == 0xB || (num >= 0xE && num <= 0x1F) || num == 0x7F ||
           (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
    return 1; /* html._invalid_codepoints: replaced by nothing */
  else
    c = num;
  if (c == ';') return 0;
  *st = push1(out, c, err);
  return 1;
}

static int entity_cmp(const uint32_t *name, size_t len, const char *key) {
  for (size_t i = 0; i < len; i++) {
    unsigned char k = (unsigned char)key[i];
    if (k == 0 || name[i] > k) return 1;
    if (name[i] < k) return -1;
  }
  return key[len] ? -1 : 0;
}

static const dif__ftfy_entity *find_entity(const uint32_t *name, size_t len) {
  size_t lo = 0, hi = dif__ftfy_n_entities;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = entity_cmp(name, len, dif__ftfy_entities[mid].name);
    if (c < 0)
      hi = mid;
    else if (c > 0)
      lo = mid + 1;
    else
      return &dif__ftfy_entities[mid];
  }
  return NULL;
}

/* fixes.unescape_html: HTML_ENTITY_RE = &#?[0-9A-Za-z]{1,24}; replaced by
 * _unescape_fixup. */
static dif_status unescape_html(const uint32_t *t, size_t n, dif__u32buf *out, dif__error *err) {
  dif_status st = DIF_OK;
  out->n = 0;
  for (size_t i = 0; i < n && !st;) {
    if (t[i] == '&') {
      size_t j = i + 1, k;
      int numeric = j < n && t[j] == '#';
      if (numeric) j++;
      for (k = j; k < n && k - j <= 24 && is_ascii_alnum(t[k]); k++) {
      }
      size_t len = k - j;
      if (len >= 1 && len <= 24 && k < n && t[k] == ';') {
        int replaced = 0;
        if (numeric) {
          replaced = numeric_charref(t + j, len, out, &st, err);
        } else {
          const dif__ftfy_entity *e = find_entity(t + j, len);
          if (e) {
            size_t m = 0;
            while (m < 3 && e->cp[m]) m++;
            st = dif__u32buf_append(out, e->cp, m, err);
            replaced = 1;
          }
        }
        if (!replaced) st = dif__u32buf_append(out, t + i, k + 1 - i, err);
        i = k + 1;
        continue;
      }
    }
    st = push1(out, t[i], err);
    i++;
  }
  return st;
}

/* fixes.fix_latin_ligatures (chardata.LIGATURES). */
static dif_status fix_latin_ligatures(const uint32_t *t, size_t n, dif__u32buf *out,
                                      dif__error *err) {
  dif_status st = DIF_OK;
  out->n = 0;
  for (size_t i = 0; i < n && !st; i++) {
    const dif__ftfy_ligature *lig = NULL;
    if (t[i] >= dif__ftfy_ligatures[0].cp &&
        t[i] <= dif__ftfy_ligatures[dif__ftfy_n_ligatures - 1].cp)
      for (size_t k = 0; k < dif__ftfy_n_ligatures; k++)
        if (dif__ftfy_ligatures[k].cp == t[i]) lig = &dif__ftfy_ligatures[k];
    if (lig)
      st = dif__utf8_decode(lig->text, strlen(lig->text), out, err);
    else
      st = push1(out, t[i], err);
  }
  return st;
}

/* fixes.fix_character_width: U+3000 becomes a space, U+FF01..U+FFEF their NFKC form. */
static dif_status fix_character_width(const uint32_t *t, size_t n, dif__u32buf *out,
                                      dif__error *err) {
  dif_status st = DIF_OK;
  out->n = 0;
  for (size_t i = 0; i < n && !st; i++) {
    uint32_t c = t[i];
    if (c == 0x3000) {
      st = push1(out, ' ', err);
    } else if (c >= 0xFF01 && c < 0xFFF0) {
      utf8proc_int32_t d[16];
      int boundclass = UTF8PROC_BOUNDCLASS_START;
      utf8proc_ssize_t k = utf8proc_decompose_char(
          (utf8proc_int32_t)c, d, 16, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &boundclass);
      if (k > 0 && k <= 16) k = utf8proc_normalize_utf32(d, k, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
      if (k <= 0 || k > 16) {
        st = push1(out, c, err); /* unassigned: NFKC leaves it */
      } else {
        for (utf8proc_ssize_t m = 0; m < k && !st; m++) st = push1(out, (uint32_t)d[m], err);
      }
    } else {
      st = push1(out, c, err);
    }
  }
  return st;
}

/* fixes.uncurl_quotes: [\u02bc\u2018-\u201b] -> ', [\u201c-\u201f] -> ". In place. */
static void uncurl_quotes(dif__u32buf *b) {
  for (size_t i = 0; i < b->n; i++) {
    uint32_t c = b->v[i];
    if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B))
      b->v[i] = '\'';
    else if (c >= 0x201C && c <= 0x201F)
      b->v[i] = '"';
  }
}

/* fixes.fix_line_breaks: \r\n, \r, U+2028, U+2029, U+0085 -> \n. In place. */
static void fix_line_breaks(dif__u32buf *b) {
  size_t o = 0;
  for (size_t i = 0; i < b->n; i++) {
    uint32_t c = b->v[i];
    if (c == '\r' && i + 1 < b->n && b->v[i + 1] == '\n') continue;
    if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85) c = '\n';
    b->v[o++] = c;
  }
  b->n = o;
}

static int is_decimal_digit(uint32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return c <= 0x10FFFF && utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_ND;
}

/* fixes.remove_terminal_escapes: ANSI_RE = \033\[((?:\d|;)*)([a-zA-Z]) removed. In place. */
static void remove_terminal_escapes(dif__u32buf *b) {
  size_t o = 0;
  for (size_t i = 0; i < b->n;) {
    if (b->v[i] == 0x1B && i + 1 < b->n && b->v[i + 1] == '[') {
      size_t k = i + 2;
      while (k < b->n && (b->v[k] == ';' || is_decimal_digit(b->v[k]))) k++;
      if (k < b->n && is_ascii_alpha(b->v[k])) {
        i = k + 1;
        continue;
      }
    }
    b->v[o++] = b->v[i++];
  }
  b->n = o;
}

/* fixes.remove_control_chars (chardata.CONTROL_CHARS). In place. */
static void remove_control_chars(dif__u32buf *b) {
  size_t o = 0;
  for (size_t i = 0; i < b->n; i++) {
    uint32_t c = b->v[i];
    if (c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
        (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC))
      continue;
    b->v[o++] = c;
  }
  b->n = o;
}

/* unicodedata.normalize("NFC", text), in place (tmp is scratch). */
static dif_status nfc(dif__u32buf *b, dif__u32buf *tmp, dif__error *err) {
  int simple = 1; /* below U+0300 nothing decomposes or combines */
  for (size_t i = 0; i < b->n && simple; i++) simple = b->v[i] < 0x300;
  if (simple) return DIF_OK;
  char *utf8 = NULL;
  size_t len;
  dif_status st = dif__utf8_encode(b->v, b->n, &utf8, &len, err);
  if (st) return st;
  const utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
  utf8proc_ssize_t need =
      utf8proc_decompose((const utf8proc_uint8_t *)utf8, (utf8proc_ssize_t)len, NULL, 0, opt);
  if (need < 0) {
    free(utf8);
    return dif__fail(err, DIF_ERR_INTERNAL, "NFC: %s", utf8proc_errmsg(need));
  }
  tmp->n = 0;
  if ((st = dif__u32buf_reserve(tmp, (size_t)need + 1, err))) {
    free(utf8);
    return st;
  }
  utf8proc_ssize_t k = utf8proc_decompose((const utf8proc_uint8_t *)utf8, (utf8proc_ssize_t)len,
                                          (utf8proc_int32_t *)tmp->v, need, opt);
  free(utf8);
  if (k >= 0) k = utf8proc_normalize_utf32((utf8proc_int32_t *)tmp->v, k, opt);
  if (k < 0) return dif__fail(err, DIF_ERR_INTERNAL, "NFC: %s", utf8proc_errmsg(k));
  tmp->n = (size_t)k;
  u32_swap(b, tmp);
  return DIF_OK;
}

/* ---------------------------------------------------------------------------
 * fix_text and fix_and_explain (ftfy/__init__.py)
 */
void dif__ftfy_init(dif__ftfy_state *st) { st->unescape_html = 1; }

size_t dif__ftfy_segment_length(const uint32_t *text, size_t n) {
  size_t limit = n < DIF__FTFY_MAX_SEGMENT ? n : DIF__FTFY_MAX_SEGMENT;
  for (size_t i = 0; i < limit; i++)
    if (text[i] == '\n') return i + 1;
  return limit;
}

/* Is this ASCII text that no fixer changes? Then fix_and_explain returns it
 * as it is: only '&' (entities), '\r' (line breaks), ESC (terminal escapes)
 * and the removed control characters matter below U+0080. */
static int ascii_unchanged(const uint32_t *t, size_t n, int unescape_html) {
  for (size_t i = 0; i < n; i++) {
    uint32_t c = t[i];
    if (c >= 0x80 || c == 0x7F || (c == '&' && unescape_html)) return 0;
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\f') return 0;
  }
  return 1;
}

dif_status dif__ftfy_fix_segment(dif__ftfy_state *state, const uint32_t *seg, size_t n,
                                 dif__u32buf *out, dif__error *err) {
  for (size_t i = 0; i < n && state->unescape_html; i++)
    if (seg[i] == '<') state->unescape_html = 0;
  if (ascii_unchanged(seg, n, state->unescape_html)) return dif__u32buf_append(out, seg, n, err);
  dif__u32buf cur = {0}, next = {0}, orig = {0};
  dif_status st = dif__u32buf_append(&cur, seg, n, err);
  for (int round = 0; !st && round < MAX_ROUNDS; round++) {
    orig.n = 0;
    if ((st = dif__u32buf_append(&orig, cur.v, cur.n, err))) break;
    if (state->unescape_html) {
      if ((st = unescape_html(cur.v, cur.n, &next, err))) break;
      u32_swap(&cur, &next);
    }
    if ((st = fix_encoding(cur.v, cur.n, &next, 0, err))) break;
    u32_swap(&cur, &next);
    if ((st = fix_c1_controls(cur.v, cur.n, &next, err))) break;
    u32_swap(&cur, &next);
    if ((st = fix_latin_ligatures(cur.v, cur.n, &next, err))) break;
    u32_swap(&cur, &next);
    if ((st = fix_character_width(cur.v, cur.n, &next, err))) break;
    u32_swap(&cur, &next);
    uncurl_quotes(&cur);
    fix_line_breaks(&cur);
    remove_terminal_escapes(&cur);
    remove_control_chars(&cur);
    if ((st = nfc(&cur, &next, err))) break;
    if (same_text(cur.v, cur.n, orig.v, orig.n)) break;
  }
  if (!st) st = dif__u32buf_append(out, cur.v, cur.n, err);
  dif__u32buf_free(&cur);
  dif__u32buf_free(&next);
  dif__u32buf_free(&orig);
  return st;
}

dif_status dif__ftfy_fix_text(const uint32_t *text, size_t n, dif__u32buf *out, dif__error *err) {
  dif__ftfy_state state;
  dif__ftfy_init(&state);
  for (size_t pos = 0; pos < n;) {
    size_t len = dif__ftfy_segment_length(text + pos, n - pos);
    dif_status st = dif__ftfy_fix_segment(&state, text + pos, len, out, err);
    if (st) return st;
    pos += len;
  }
  return DIF_OK;
}

dif_status dif__ftfy_fix_text_utf8(const char *text, size_t len, char **out, size_t *out_len,
                                   dif__error *err) {
  dif__u32buf in = {0}, fixed = {0};
  dif_status st = dif__utf8_decode(text, len, &in, err);
  if (!st) st = dif__ftfy_fix_text(in.v, in.n, &fixed, err);
  if (!st) st = dif__utf8_encode(fixed.v, fixed.n, out, out_len, err);
  dif__u32buf_free(&in);
  dif__u32buf_free(&fixed);
  return st;
}
