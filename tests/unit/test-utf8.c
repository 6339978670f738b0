/* The UTF-8 validity check, as both its callers see it: dif__utf8_validate
 * (the tokenizer, ftfy) and the prompt API (dif_prompt_add_text,
 * dif_prompt_set_negative). Both must refuse the same byte strings —
 * overlong forms, surrogates, code points above U+10FFFF, stray and missing
 * continuation bytes, bytes that never occur in UTF-8 — and name the same
 * byte offset, that of the first byte of the first bad sequence (RFC 3629).
 * A definition-based decoder below is the reference. Since issue 18 both go
 * through text/utf8's dif__utf8_valid; this test was written first, against
 * the two checks of before (text_clean's and a utf8proc loop in
 * api/prompt.c), which both passed it. */
#include "test.h"

#include "text/utf8.h"

/* The reference: RFC 3629 read literally. The lead byte's high bits (the
 * table's mask and value) give the sequence length and the bits it carries;
 * the continuation bytes carry 6 bits each; a code point below the form's
 * minimum (overlong), a surrogate or one above U+10FFFF is refused.
 * Returns 1 if s[0..len) is valid, else 0 and the offset in *off. */
static const struct {
  unsigned char mask, value;
  size_t len;
  uint32_t min;
} forms[] = {
    {0x80, 0x00, 1, 0}, {0xE0, 0xC0, 2, 0x80}, {0xF0, 0xE0, 3, 0x800}, {0xF8, 0xF0, 4, 0x10000}};

static int ref_valid(const unsigned char *s, size_t len, size_t *off) {
  size_t i = 0;
  while (i < len) {
    size_t f = 0;
    while (f < 4 && (s[i] & forms[f].mask) != forms[f].value) f++;
    if (f == 4 || i + forms[f].len > len) break;
    uint32_t cp = s[i] & (uint32_t)~forms[f].mask & 0xFF;
    size_t k = 1;
    while (k < forms[f].len && (s[i + k] & 0xC0) == 0x80) cp = cp << 6 | (s[i + k++] & 0x3F);
    if (k < forms[f].len || cp < forms[f].min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      break;
    i += k;
  }
  *off = i;
  return i == len;
}

static int n_checked;

/* Checks one NUL-terminated string through every path against the reference. */
static void check_one(dif_prompt *p, const char *s) {
  size_t len = strlen(s), off = 0;
  int valid = ref_valid((const unsigned char *)s, len, &off);
  char where[48];
  snprintf(where, sizeof where, "byte offset %zu", off);
  dif__error err = {0};
  dif_status want = valid ? DIF_OK : DIF_ERR_INVALID_ARGUMENT;
  const char *sub = valid ? "" : where;
  CHECK_STATUS(dif__utf8_validate(s, len, &err), want, err.msg, sub);
  dif__u32buf cps = {0};
  CHECK_STATUS(dif__utf8_decode(s, len, &cps, &err), want, err.msg, sub);
  dif__u32buf_free(&cps);
  CHECK_STATUS(dif_prompt_set_negative(p, s), want, dif_prompt_last_error(p), sub);
  n_checked++;
}

/* Named cases, each also through dif_prompt_add_text. */
TEST(cases) {
  static const struct {
    const char *s;
    long off; /* -1: valid */
  } cases[] = {
      {"", -1},
      {"a red cat", -1},
      {"\x7f", -1},
      {"\xc2\x80", -1},                 /* U+0080, the smallest 2-byte form */
      {"\xdf\xbf", -1},                 /* U+07FF */
      {"\xe0\xa0\x80", -1},             /* U+0800, the smallest 3-byte form */
      {"\xed\x9f\xbf", -1},             /* U+D7FF, below the surrogates */
      {"\xee\x80\x80", -1},             /* U+E000, above them */
      {"\xef\xbf\xbf", -1},             /* U+FFFF (a noncharacter, but valid) */
      {"\xef\xbb\xbf", -1},             /* a BOM */
      {"\xf0\x90\x80\x80", -1},         /* U+10000, the smallest 4-byte form */
      {"\xf4\x8f\xbf\xbf", -1},         /* U+10FFFF, the largest */
      {"caf\xc3\xa9 \xe2\x82\xac", -1}, /* café € */
      {"\xc0\x80", 0},                  /* overlong NUL */
      {"x\xc0\xaf", 1},                 /* overlong '/' */
      {"ab\xc1\xbf", 2},                /* overlong U+007F */
      {"\xe0\x80\x80", 0},              /* overlong 3-byte */
      {"\xe0\x9f\xbf", 0},              /* overlong U+07FF */
      {"\xf0\x80\x80\x80", 0},          /* overlong 4-byte */
      {"\xf0\x8f\xbf\xbf", 0},          /* overlong U+FFFF */
      {"xy\xed\xa0\x80", 2},            /* U+D800, a high surrogate */
      {"\xed\xbf\xbf", 0},              /* U+DFFF, a low surrogate */
      {"\xed\xa0\xbd\xed\xb8\x80", 0},  /* a surrogate pair (CESU-8) */
      {"\xf4\x90\x80\x80", 0},          /* U+110000 */
      {"ok\xf7\xbf\xbf\xbf", 2},        /* U+1FFFFF */
      {"\xf5\x80\x80\x80", 0},          /* lead bytes F5..FF never occur */
      {"\xf8\x88\x80\x80\x80", 0},      /* old 5-byte form */
      {"\xfc\x84\x80\x80\x80\x80", 0},  /* old 6-byte form */
      {"\xfe", 0},
      {"ok \xff\xfe bad", 3},
      {"ab\x80", 2}, /* stray continuation byte */
      {"\xbf", 0},
      {"abc\xe2\x82", 3},  /* truncated at the end */
      {"\xe2\x82 x", 0},   /* continuation missing */
      {"\xf0\x9f\x98", 0}, /* truncated 4-byte */
      {"caf\xc3\xa9 \xc3(", 6},
      {"\xc3\xa9\xc3\xa9\xc3", 4},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *s = cases[i].s;
    size_t off = 0;
    int valid = ref_valid((const unsigned char *)s, strlen(s), &off);
    CHECK_MSG(valid == (cases[i].off < 0) && (valid || (long)off == cases[i].off),
              "case %zu: the reference disagrees with the table", i);
    dif_prompt *p = NULL;
    CHECK(dif_prompt_new(&p) == DIF_OK);
    if (!p) return;
    check_one(p, s);
    char where[48] = "";
    if (!valid) snprintf(where, sizeof where, "byte offset %ld", cases[i].off);
    const char *sub = where;
    CHECK_STATUS(dif_prompt_add_text(p, s, 1.0f), valid ? DIF_OK : DIF_ERR_INVALID_ARGUMENT,
                 dif_prompt_last_error(p), sub);
    CHECK(dif_prompt_part_count(p) == (valid ? 1 : 0));
    dif_prompt_free(p);
  }
}

/* Every two-byte start (after a prefix, so offsets are not all 0) followed by
 * each interesting tail: the constraints of UTF-8 all sit in the first two
 * bytes of a sequence, the rest only needs continuation bytes. */
TEST(exhaustive_two_bytes) {
  static const char *tails[] = {"",         "\x80",         "\xbf",         "\x80\x80",
                                "\xbf\xbf", "\x80\x80\x80", "\xbf\xbf\xbf", "Z",
                                "\x80Z",    "\xc0",         "\x80\xc0",     "\x80\x80\xff"};
  dif_prompt *p = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK);
  if (!p) return;
  for (int b0 = 1; b0 < 256; b0++)
    for (int b1 = 0; b1 < 256; b1++)
      for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
        char s[16];
        snprintf(s, sizeof s, "a%c%c%s", b0, b1, tails[t]);
        check_one(p, s);
      }
  dif_prompt_free(p);
  CHECK(n_checked > 255 * 255 * 12);
}

int main(void) {
  RUN(cases);
  RUN(exhaustive_two_bytes);
  return dif__test_finish();
}
