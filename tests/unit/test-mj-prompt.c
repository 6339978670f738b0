/* The dif command's Midjourney-style prompt syntax (tools/dif/mj_prompt.c). */
#include "mj_prompt.h"
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
  RUN(size_for_ratio);
  return dif_test_finish();
}
