/* The dif command's Midjourney-style prompt syntax (tools/dif/mj_prompt.c). */
#include <float.h>

#include "mj_prompt.h"
#include "numbers.h"
#include "test.h"

TEST(plain_text_is_one_part) {
  mj_prompt p;
  char err[128];
  CHECK(mj_parse("  a red circle on a blue background ", &p, err, sizeof err) == 0);
  CHECK(p.n_parts == 1 && !strcmp(p.parts[0].text, "a red circle on a blue background"));
  CHECK(p.parts[0].weight == 1.0f && !p.negative && !p.ar_w && !p.has_seed);
  mj_free(&p);
}

TEST(multi_prompt_weights) {
  mj_prompt p;
  char err[128];
  CHECK(mj_parse("hot dog::1.5 food::-0.5 animal", &p, err, sizeof err) == 0);
  CHECK(p.n_parts == 3);
  CHECK(!strcmp(p.parts[0].text, "hot dog") && p.parts[0].weight == 1.5f);
  CHECK(!strcmp(p.parts[1].text, "food") && p.parts[1].weight == -0.5f);
  CHECK(!strcmp(p.parts[2].text, "animal") && p.parts[2].weight == 1.0f);
  mj_free(&p);
  CHECK(mj_parse("space:: ship", &p, err, sizeof err) == 0); /* :: without a number */
  CHECK(p.n_parts == 2 && !strcmp(p.parts[1].text, "ship") && p.parts[0].weight == 1.0f);
  mj_free(&p);
}

TEST(parameters) {
  mj_prompt p;
  char err[128];
  CHECK(mj_parse("a cat --ar 16:9 --no blurry, low quality --seed 18446744073709551615", &p, err,
                 sizeof err) == 0);
  CHECK(p.n_parts == 1 && !strcmp(p.parts[0].text, "a cat"));
  CHECK(p.ar_w == 16 && p.ar_h == 9);
  CHECK(p.negative && !strcmp(p.negative, "blurry, low quality"));
  CHECK(p.has_seed && p.seed == 18446744073709551615ull);
  mj_free(&p);
}

TEST(image_prompts_and_iw) {
  mj_prompt p;
  char err[128];
  CHECK(mj_parse("ref1.png photos/ref2.JPG a castle::2 --iw 0.5", &p, err, sizeof err) == 0);
  CHECK(p.n_parts == 3);
  CHECK(!strcmp(p.parts[0].image, "ref1.png") && p.parts[0].weight == 0.5f);
  CHECK(!strcmp(p.parts[1].image, "photos/ref2.JPG") && p.parts[1].weight == 0.5f);
  CHECK(!strcmp(p.parts[2].text, "a castle") && p.parts[2].weight == 2.0f);
  mj_free(&p);
  CHECK(mj_parse("a.png b.png", &p, err, sizeof err) == 0); /* a blend: images only */
  CHECK(p.n_parts == 2 && p.parts[1].image && !p.parts[1].text);
  mj_free(&p);
}

TEST(errors) {
  mj_prompt p;
  char err[128];
  CHECK(mj_parse("a --chaos 50", &p, err, sizeof err) == -1 && strstr(err, "--chaos"));
  CHECK(mj_parse("a --ar 16x9", &p, err, sizeof err) == -1 && strstr(err, "--ar"));
  CHECK(mj_parse("a --seed -1", &p, err, sizeof err) == -1 && strstr(err, "--seed"));
  CHECK(mj_parse("a --iw 0", &p, err, sizeof err) == -1 && strstr(err, "--iw"));
  CHECK(mj_parse("a::inf b", &p, err, sizeof err) == -1 && strstr(err, "finite"));
}

/* Issue 14 item 2: numbers are parsed strictly, never clamped or cut short. */
TEST(strict_integers) {
  long long v = 0;
  char err[256];
  CHECK(num_int("25", 1, 1000, &v, err, sizeof err) == 0 && v == 25);
  CHECK(num_int("1000", 1, 1000, &v, err, sizeof err) == 0 && v == 1000);
  static const char *const bad[] = {"",
                                    " 5",
                                    "5 ",
                                    "10x",
                                    "1e3",
                                    "0x10",
                                    "-3",
                                    "0",
                                    "1001",
                                    "4294967297",
                                    "99999999999999999999",
                                    "2.0",
                                    "+",
                                    "--1"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    v = 77;
    CHECK(num_int(bad[i], 1, 1000, &v, err, sizeof err) == -1 && v == 77);
    CHECK(strstr(err, "expected an integer from 1 to 1000, got "));
  }
  CHECK(num_int("10x", 1, 1000, &v, err, sizeof err) == -1 &&
        !strcmp(err, "expected an integer from 1 to 1000, got '10x'"));
  CHECK(num_int("", 1, 1000, &v, err, sizeof err) == -1 && strstr(err, "got nothing"));
}

TEST(strict_seeds) {
  uint64_t v = 0;
  char err[256];
  CHECK(num_u64("18446744073709551615", &v, err, sizeof err) == 0 && v == UINT64_MAX);
  CHECK(num_u64("0", &v, err, sizeof err) == 0 && v == 0);
  CHECK(num_u64("18446744073709551616", &v, err, sizeof err) == -1 && v == 0);
  CHECK(strstr(err, "from 0 to 18446744073709551615"));
  CHECK(num_u64("-1", &v, err, sizeof err) == -1);
  CHECK(num_u64("+1", &v, err, sizeof err) == -1);
  CHECK(num_u64("1 ", &v, err, sizeof err) == -1);
}

TEST(strict_reals) {
  float f = 0;
  char err[256];
  CHECK(num_real("7.5", 0, 100, 0, &f, err, sizeof err) == 0 && f == 7.5f);
  CHECK(num_real("1e1", 0, 100, 0, &f, err, sizeof err) == 0 && f == 10.0f);
  CHECK(num_real(".5", 0, 1, NUM_ABOVE_LO, &f, err, sizeof err) == 0 && f == 0.5f);
  static const char *const bad[] = {"foo",   "7,5",   "",     " 7",  "7 ", "inf", "nan",
                                    "1e999", "0x1p3", "-0.5", "101", "1e", "."};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    f = 77;
    CHECK(num_real(bad[i], 0, 100, 0, &f, err, sizeof err) == -1 && f == 77);
    CHECK(strstr(err, "expected a number from 0 to 100, got "));
  }
  CHECK(num_real("0", 0, 1, NUM_ABOVE_LO, &f, err, sizeof err) == -1 &&
        strstr(err, "above 0 and at most 1"));
  CHECK(num_real("0", -FLT_MAX, FLT_MAX, NUM_NONZERO, &f, err, sizeof err) == -1 &&
        strstr(err, "non-zero"));
  CHECK(num_real("1e39", -FLT_MAX, FLT_MAX, NUM_NONZERO, &f, err, sizeof err) == -1);
}

TEST(quoting) {
  char q[200];
  num_quote("a\nb", q, sizeof q);
  CHECK(!strcmp(q, "'a\\x0ab'"));
  /* 39 ASCII bytes then "é": the cut never splits a UTF-8 character */
  num_quote("0123456789012345678901234567890123456789\xc3\xa9xyz", q, sizeof q);
  CHECK(!strcmp(q, "'0123456789012345678901234567890123456789...'"));
  num_quote("012345678901234567890123456789012345678\xc3\xa9xyz", q, sizeof q);
  CHECK(!strcmp(q, "'012345678901234567890123456789012345678...'"));
}

TEST(strict_prompt_parameters) {
  mj_prompt p;
  char err[256];
  CHECK(mj_parse("a cat --seed 18446744073709551616", &p, err, sizeof err) == -1);
  CHECK(strstr(err, "--seed: expected an integer from 0 to 18446744073709551615"));
  CHECK(mj_parse("a cat --iw 1.5x", &p, err, sizeof err) == -1 && strstr(err, "--iw: expected"));
  CHECK(mj_parse("a cat --ar 16:9x", &p, err, sizeof err) == -1 && strstr(err, "--ar: expected"));
  CHECK(mj_parse("a cat --ar 0:9", &p, err, sizeof err) == -1);
  CHECK(mj_parse("a cat --ar 4294967312:9", &p, err, sizeof err) == -1);
  CHECK(mj_parse("a::2x b", &p, err, sizeof err) == -1 && strstr(err, "got '2x'"));
  CHECK(mj_parse("a::0 b", &p, err, sizeof err) == -1 && strstr(err, "non-zero"));
  CHECK(mj_parse("a::1e39 b", &p, err, sizeof err) == -1);
  /* "--no" followed by another parameter has no value: an error, and never
   * the negative prompt "--ar 16:9" (which lost the aspect ratio) */
  CHECK(mj_parse("a cat --no --ar 16:9", &p, err, sizeof err) == -1);
  CHECK(strstr(err, "--no needs a value, got the parameter '--ar'"));
  CHECK(mj_parse("a cat --no", &p, err, sizeof err) == -1 && strstr(err, "--no needs a value"));
  CHECK(mj_parse("a cat --ar 16:9 --no blur", &p, err, sizeof err) == 0);
  CHECK(p.ar_w == 16 && p.ar_h == 9 && !strcmp(p.negative, "blur"));
  mj_free(&p);
  /* a long prompt keeps its parameters */
  size_t n = 20000;
  char *big = malloc(n + 32);
  CHECK(big != NULL);
  if (!big) return;
  memset(big, 'a', n);
  strcpy(big + n, " --seed 42");
  CHECK(mj_parse(big, &p, err, sizeof err) == 0 && p.has_seed && p.seed == 42);
  CHECK(p.n_parts == 1 && strlen(p.parts[0].text) == n);
  mj_free(&p);
  free(big);
}

TEST(size_for_ratio) {
  int w, h;
  mj_size_for_ratio(768, 16, 9, &w, &h);
  CHECK(w == 1024 && h == 576);
  mj_size_for_ratio(64, 1, 1, &w, &h);
  CHECK(w == 64 && h == 64);
  mj_size_for_ratio(512, 2, 3, &w, &h);
  CHECK(w % 8 == 0 && h % 8 == 0 && h > w);
}

int main(void) {
  RUN(plain_text_is_one_part);
  RUN(multi_prompt_weights);
  RUN(parameters);
  RUN(image_prompts_and_iw);
  RUN(errors);
  RUN(strict_integers);
  RUN(strict_seeds);
  RUN(strict_reals);
  RUN(quoting);
  RUN(strict_prompt_parameters);
  RUN(size_for_ratio);
  return dif__test_finish();
}
