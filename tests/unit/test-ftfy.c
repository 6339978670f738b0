/* text/ftfy, text/text_clean and text/utf8 on the paths the golden tokenizer cases do
 * not reach: ftfy's codec quirks, HTML entity rules, each fixer, Python's
 * lower-casing. Expected strings were produced with python-ftfy 6.3.1 on
 * CPython 3.11 (fixed = ftfy.fix_text(text), normalized =
 * re.sub(r"\s+", " ", fixed).strip().lower(), with the `regex` module). */
#include "test.h"
#include "text/clip_tokenizer.h"
#include "text/ftfy.h"
#include "text/ftfy_data.h"
#include "text/utf8.h"

static const struct {
  const char *name, *text;
  size_t len;
  const char *fixed, *normalized;
} cases[] = {
    {"mojibake whose final newline utf-8-variants swallows",
     "\xc3\x83\xc2\xa9\xc3\x80\x0a"
     "abc",
     10,
     "\xc3\xa9"
     "abc",
     "\xc3\xa9"
     "abc"},
    {"CESU-8 pair ending in the final newline", "\xc3\xad\xc2\xa0\xc2\x80\xc3\xad\xc2\xb0\x0a", 11,
     "\xf0\x90\x80\x8a", "\xf0\x90\x80\x8a"},
    {"CESU-8 surrogate pair", "\xc3\x83\xc2\xa9\xc3\xad\xc2\xa0\xc2\x80\xc3\xad\xc2\xb0\xc2\x80",
     16, "\xc3\xa9\xf0\x90\x80\x80", "\xc3\xa9\xf0\x90\x80\x80"},
    {"double mojibake", "\xc3\x83\xc6\x92\xc3\x82\xc2\xa9", 8, "\xc3\xa9", "\xc3\xa9"},
    {"restore_byte_a0", "voil\xc3\x83 le travail", 17, "voil\xc3\xa0 le travail",
     "voil\xc3\xa0 le travail"},
    {"A_GRAVE_WORD_RE", "\xc3\x83 la mode", 10, "\xc3\xa0 la mode", "\xc3\xa0 la mode"},
    {"A_GRAVE_WORD_RE exception", "\xc3\x83 quele", 8, "\xc3\xa0quele", "\xc3\xa0quele"},
    {"lossy sequence", "\xc3\xa2\xe2\x82\xac\xc5\x93 like this \xc3\xa2\xe2\x82\xac\xef\xbf\xbd",
     26, "\x22 like this \xef\xbf\xbd", "\x22 like this \xef\xbf\xbd"},
    {"inconsistent mojibake in a line",
     "\xc3\x83\xc2\xa9t\xc3\x83\xc2\xa9 est chaud, \xe6\x97\xa5\xe6\x9c\xac "
     "\xc3\xa6\xe2\x80\x94\xc2\xa5\xc3\xa6\xc5\x93\xc2\xac",
     41, "\xc3\xa9t\xc3\xa9 est chaud, \xe6\x97\xa5\xe6\x9c\xac \xe6\x97\xa5\xe6\x9c\xac",
     "\xc3\xa9t\xc3\xa9 est chaud, \xe6\x97\xa5\xe6\x9c\xac \xe6\x97\xa5\xe6\x9c\xac"},
    {"windows-1251 mojibake",
     "\xd0\xa0\xd2\x91\xd0\xa0\xd1\x95\xd0\xa0\xc2\xb1\xd0\xa1\xd0\x82\xd0\xa0\xd1\x95\xd0\xa0\xc2"
     "\xb5 \xd0\xa1\xd1\x93\xd0\xa1\xe2\x80\x9a\xd0\xa1\xd0\x82\xd0\xa0\xd1\x95",
     42, "\xd0\xb4\xd0\xbe\xd0\xb1\xd1\x80\xd0\xbe\xd0\xb5 \xd1\x83\xd1\x82\xd1\x80\xd0\xbe",
     "\xd0\xb4\xd0\xbe\xd0\xb1\xd1\x80\xd0\xbe\xd0\xb5 \xd1\x83\xd1\x82\xd1\x80\xd0\xbe"},
    {"C1 controls", "c1 \xc2\x80 \xc2\x85 \xc2\x9d", 11, "c1 \xe2\x82\xac \xe2\x80\xa6 \xc2\x9d",
     "c1 \xe2\x82\xac \xe2\x80\xa6 \xc2\x9d"},
    {"repeated unescaping", "&amp;amp;amp;", 13, "&", "&"},
    {"numeric references",
     "&#59; &#0; &#128; a&#1;b &#x1F431; &#xD800; &#99999999999999999999999; &#x; &#12a;", 82,
     "&#59; \xef\xbf\xbd \xe2\x82\xac ab \xf0\x9f\x90\xb1 \xef\xbf\xbd \xef\xbf\xbd &#x; &#12a;",
     "&#59; \xef\xbf\xbd \xe2\x82\xac ab \xf0\x9f\x90\xb1 \xef\xbf\xbd \xef\xbf\xbd &#x; &#12a;"},
    {"upper-case entities",
     "&NTILDE; &nTILDE; BUNDESSTRA&SZLIG;E &Eacute; &eacute; &checkmark; &Jscr;", 73,
     "\xc3\x91 &nTILDE; BUNDESSTRASSE \xc3\x89 \xc3\xa9 \xe2\x9c\x93 \xf0\x9d\x92\xa5",
     "\xc3\xb1 &ntilde; bundesstrasse \xc3\xa9 \xc3\xa9 \xe2\x9c\x93 \xf0\x9d\x92\xa5"},
    {"entity without semicolon, too long", "&amp &aaaaaaaaaaaaaaaaaaaaaaaaaaaa; &notanentity;", 49,
     "&amp &aaaaaaaaaaaaaaaaaaaaaaaaaaaa; &notanentity;",
     "&amp &aaaaaaaaaaaaaaaaaaaaaaaaaaaa; &notanentity;"},
    {"< stops unescaping for this and later lines", "&amp;\x0a<b>&amp;</b>\x0a&amp;", 24,
     "&\x0a<b>&amp;</b>\x0a&amp;", "& <b>&amp;</b> &amp;"},
    {"terminal escapes", "\x1b[31;1mred\x1b[0m \x1b[\xd9\xa3m \x1b[12", 25, "red  [12", "red [12"},
    {"ligatures and quotes",
     "\xef\xac\x82u\xef\xac\x83"
     "e\xef\xac\x86 \xc5\x89 \xe2\x80\x9c"
     "a\xe2\x80\x9d \xe2\x80\x98"
     "b\xe2\x80\x99 \xe2\x80\x9b"
     "c\xe2\x80\x9f",
     38,
     "fluffiest 'n \x22"
     "a\x22 'b' 'c\x22",
     "fluffiest 'n \x22"
     "a\x22 'b' 'c\x22"},
    {"full and half width",
     "\xef\xbc\xac\xef\xbc\xaf\xef\xbc\xb5\xef\xbc\xa4\xe3\x80\x80\xef\xbc\xae\xef\xbc\xaf\xef\xbc"
     "\xa9\xef\xbc\xb3\xef\xbc\xa5\xef\xbc\xb3 \xef\xbd\xb6\xef\xbe\x9e\xef\xbd\xb7\xef\xbe\x9e "
     "\xef\xbf\xa3 \xef\xbf\xa6",
     54, "LOUD NOISES \xe3\x82\xac\xe3\x82\xae  \xcc\x84 \xe2\x82\xa9",
     "loud noises \xe3\x82\xac\xe3\x82\xae \xcc\x84 \xe2\x82\xa9"},
    {"line breaks",
     "a\x0d\x0a"
     "b\x0d"
     "c\xe2\x80\xa8"
     "d\xe2\x80\xa9"
     "e\xc2\x85"
     "f",
     17,
     "a\x0a"
     "b\x0a"
     "c\x0a"
     "d\x0a"
     "e\xe2\x80\xa6"
     "f",
     "a b c d e\xe2\x80\xa6"
     "f"},
    {"controls",
     "a\x00"
     "b\x0b"
     "c\x0c"
     "d\x1f"
     "e\x7f"
     "f\xe2\x81\xaag\xef\xbb\xbfh\xef\xbf\xbci\xe2\x80\x8bj",
     27,
     "abc\x0c"
     "defghi\xe2\x80\x8bj",
     "abc defghi\xe2\x80\x8bj"},
    {"NFC", "e\xcc\x81 A\xcc\x8a \xe1\x84\x80\xe1\x85\xa1 \xe0\xa5\x98", 18,
     "\xc3\xa9 \xc3\x85 \xea\xb0\x80 \xe0\xa4\x95\xe0\xa4\xbc",
     "\xc3\xa9 \xc3\xa5 \xea\xb0\x80 \xe0\xa4\x95\xe0\xa4\xbc"},
    {"lower-casing",
     "\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\x91\xce\xa3. \xce\xa3 \xce\x91\xce\xa3\xce\x91 "
     "\xce\x91\xcc\x81\xce\xa3\xcc\x81 \xc4\xb0STANBUL \xe1\xba\x9e K \xc7\x85 "
     "\xe2\x85\xab\xe2\x92\xb6 \xf0\x9f\x84\xb0\xce\xa3",
     66,
     "\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\x91\xce\xa3. \xce\xa3 \xce\x91\xce\xa3\xce\x91 "
     "\xce\x86\xce\xa3\xcc\x81 \xc4\xb0STANBUL \xe1\xba\x9e K D\xc5\xbe \xe2\x85\xab\xe2\x92\xb6 "
     "\xf0\x9f\x84\xb0\xce\xa3",
     "\xce\xbf\xce\xb4\xce\xbf\xcf\x82 \xce\xb1\xcf\x82. \xcf\x83 \xce\xb1\xcf\x83\xce\xb1 "
     "\xce\xac\xcf\x82\xcc\x81 i\xcc\x87stanbul \xc3\x9f k d\xc5\xbe \xe2\x85\xbb\xe2\x93\x90 "
     "\xf0\x9f\x84\xb0\xcf\x82"},
    {"whitespace", " \x09 a \xc2\xa0\xe3\x80\x80 b\xe2\x80\x83\x1c c \x0a", 20,
     " \x09 a \xc2\xa0  b\xe2\x80\x83 c \x0a", "a b c"},
};

TEST(ftfy_reference) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    dif__error err = {0};
    char *out = NULL;
    size_t len = 0;
    CHECK(dif__ftfy_fix_text_utf8(cases[i].text, cases[i].len, &out, &len, &err) == DIF_OK);
    CHECK_MSG(out && len == strlen(cases[i].fixed) && memcmp(out, cases[i].fixed, len) == 0,
              "%s: fixed = \"%s\"", cases[i].name, out ? out : "(error)");
    free(out);
    out = NULL;
    CHECK(dif__text_normalize(cases[i].text, cases[i].len, &out, &len, &err) == DIF_OK);
    CHECK_MSG(out && strcmp(out, cases[i].normalized) == 0, "%s: normalized = \"%s\"",
              cases[i].name, out ? out : "(error)");
    free(out);
  }
}

static int bad(const char *s) {
  dif__u32buf b = {0};
  dif__error err = {0};
  CHECK(dif__utf8_decode(s, strlen(s), &b, &err) == DIF_OK);
  int r = dif__ftfy_is_bad(b.v, b.n);
  dif__u32buf_free(&b);
  return r;
}

TEST(badness) {
  CHECK(bad("caf\xc3\x83\xc2\xa9") == 1);          /* CafÃ© */
  CHECK(bad("\xc3\xa2\xe2\x82\xac\xc5\x93") == 1); /* â€œ */
  CHECK(bad("caf\xc3\xa9 na\xc3\xafve") == 0);
  CHECK(bad("\xe6\x97\xa5\xe6\x9c\xac") == 0);
  CHECK(bad("") == 0);
}

TEST(tables) {
  /* ASCII other than 0x1A decodes to itself in every charmap (ftfy.c relies on it). */
  for (int e = 0; e < DIF__FTFY_N_ENCODINGS; e++)
    for (int b = 0; b < 0x80; b++)
      if (b != 0x1A) CHECK(dif__ftfy_charmap[e][b] == b);
  for (size_t i = 1; i < dif__ftfy_n_classes; i++)
    CHECK(dif__ftfy_classes[i - 1].hi < dif__ftfy_classes[i].lo);
  for (size_t i = 1; i < dif__ftfy_n_entities; i++)
    CHECK(strcmp(dif__ftfy_entities[i - 1].name, dif__ftfy_entities[i].name) < 0);
}

TEST(utf8) {
  dif__error err = {0};
  CHECK(dif__utf8_validate("", 0, &err) == DIF_OK);
  CHECK(dif__utf8_validate(NULL, 0, &err) == DIF_OK);
  CHECK(dif__utf8_validate("\xf4\x8f\xbf\xbf \xed\x9f\xbf \xef\xbb\xbf", 12, &err) == DIF_OK);
  CHECK_STATUS(dif__utf8_validate("ok\xe0\x80\x80", 5, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "byte offset 2");
  CHECK_STATUS(dif__utf8_validate(NULL, 1, &err), DIF_ERR_INVALID_ARGUMENT, err.msg, "NULL");
  uint32_t cps[] = {0, 0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000, 0x10FFFF};
  char *s = NULL;
  size_t len = 0;
  CHECK(dif__utf8_encode(cps, 8, &s, &len, &err) == DIF_OK && len == 1 + 1 + 2 + 2 + 3 + 3 + 4 + 4);
  dif__u32buf back = {0};
  CHECK(dif__utf8_decode(s, len, &back, &err) == DIF_OK && back.n == 8 &&
        memcmp(back.v, cps, sizeof cps) == 0);
  dif__u32buf_free(&back);
  free(s);
}

int main(void) {
  RUN(ftfy_reference);
  RUN(badness);
  RUN(tables);
  RUN(utf8);
  return dif__test_finish();
}
