/* test-tiled.c — img2img tile by tile (pipelines/tiled.h) on the tiny SD
 * model: an output within one tile is exactly the untiled run; a 64x64
 * output in 32-px tiles overlapping by 8 runs 9 tiles (progress counts
 * them all), changes the init image no more than the untiled run does (the
 * tiny model is random, so both change it a lot) and shows no seam at the
 * joins; bad tilings refused. */
#include "core/arena.h"
#include "core/threadpool.h"
#include "io/resample.h"
#include "pipelines/tiled.h"
#include "test.h"

static dif__models m;
static dif__pool *pool;
static dif__arena arena;
static dif__kctx k;
static dif__image init; /* 32x32 */

static int last_step, last_total, calls;
static int on_step(void *user, int step, int total) {
  (void)user;
  last_step = step;
  last_total = total;
  calls++;
  return 0;
}

static dif__request request(const dif__part *part, const dif__image *img) {
  return (dif__request){.parts = part,
                        .n_parts = 1,
                        .width = img->width,
                        .height = img->height,
                        .steps = 8,
                        .batch = 1,
                        .guidance = 7.5f,
                        .prior_steps = 1,
                        .scheduler = "ddim",
                        .seed = 3,
                        .init_image = img,
                        .strength = 0.25f,
                        .on_step = on_step};
}

TEST(one_tile_is_the_untiled_run) {
  dif__part part = {DIF__PART_TEXT, "a red cat", NULL, 1.0f};
  dif__request r = request(&part, &init);
  dif__result a = {0}, b = {0};
  dif__error err = {0};
  CHECK_MSG(dif__generate(&m, &k, &r, &a, &err) == DIF_OK, "%s", err.msg);
  CHECK_MSG(dif__generate_tiled(&m, &k, &r, 32, 8, &b, &err) == DIF_OK, "%s", err.msg);
  CHECK(a.rgb && b.rgb && b.width == 32 && b.height == 32 &&
        memcmp(a.rgb, b.rgb, 32 * 32 * 3) == 0);
  dif__result_free(&b);
  CHECK_MSG(dif__generate_tiled(&m, &k, &r, 64, 16, &b, &err) == DIF_OK, "%s", err.msg);
  CHECK(a.rgb && b.rgb && memcmp(a.rgb, b.rgb, 32 * 32 * 3) == 0);
  dif__result_free(&a);
  dif__result_free(&b);
}

TEST(nine_tiles_blend_without_seams) {
  dif__image big = {0};
  dif__error err = {0};
  CHECK(dif__image_resize(&init, 64, 64, DIF__RESAMPLE_BICUBIC, NULL, &big, &err) == DIF_OK);
  dif__part part = {DIF__PART_TEXT, "a red cat", NULL, 1.0f};
  dif__request r = request(&part, &big);
  dif__result res = {0};
  calls = 0;
  CHECK_MSG(dif__generate_tiled(&m, &k, &r, 32, 8, &res, &err) == DIF_OK, "%s", err.msg);
  CHECK_MSG(calls == 18 && last_step == 18 && last_total == 18,
            "progress: %d calls, last %d of %d (want 9 tiles x 2 steps)", calls, last_step,
            last_total);
  CHECK(res.width == 64 && res.height == 64 && res.count == 1);
  /* strength 0.25 keeps the picture: mean |diff| to the init image, and
   * no seam: the mean |step| between neighbouring columns at the tiles'
   * joins (x = 24, 32, 40, 56) is within 2x the mean elsewhere */
  double sum = 0, join = 0, other = 0;
  int n_join = 0, n_other = 0;
  for (int y = 0; res.rgb && y < 64; y++)
    for (int x = 0; x < 64; x++)
      for (int c = 0; c < 3; c++) {
        size_t o = ((size_t)y * 64 + x) * 3 + c;
        sum += abs((int)res.rgb[o] - big.rgb[o]);
        if (x == 0) continue;
        double d = abs((int)res.rgb[o] - res.rgb[o - 3]);
        bool at = x == 24 || x == 32 || x == 40 || x == 56;
        join += at ? d : 0;
        other += at ? 0 : d;
        n_join += at;
        n_other += !at;
      }
  double mean = sum / (64.0 * 64 * 3), mj = join / n_join, mo = other / n_other;
  printf("  9 tiles: mean |diff| to the init image %.2f; column steps at joins %.2f, "
         "elsewhere %.2f\n",
         mean, mj, mo);
  /* the untiled run of the same request changes the picture as much (the
   * tiny model is random: it repaints a lot even at 0.25) */
  dif__result whole = {0};
  CHECK_MSG(dif__generate(&m, &k, &r, &whole, &err) == DIF_OK, "%s", err.msg);
  double wsum = 0;
  for (size_t o = 0; whole.rgb && o < 64 * 64 * 3; o++) wsum += abs((int)whole.rgb[o] - big.rgb[o]);
  double wmean = wsum / (64.0 * 64 * 3);
  printf("  untiled: mean |diff| to the init image %.2f\n", wmean);
  CHECK_MSG(mean <= 1.25 * wmean, "tiled %.2f, untiled %.2f", mean, wmean);
  dif__result_free(&whole);
  CHECK_MSG(mj <= 2.0 * mo + 1.0, "joins %.2f vs %.2f", mj, mo);
  dif__result_free(&res);
  dif__image_free(&big);
}

TEST(bad_tilings) {
  dif__part part = {DIF__PART_TEXT, "a red cat", NULL, 1.0f};
  dif__request r = request(&part, &init);
  dif__result res = {0};
  dif__error err = {0};
  CHECK_STATUS(dif__generate_tiled(&m, &k, &r, 30, 8, &res, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "tile (30) and overlap (8)");
  CHECK_STATUS(dif__generate_tiled(&m, &k, &r, 32, 32, &res, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "overlap < tile");
  r.init_image = NULL;
  CHECK_STATUS(dif__generate_tiled(&m, &k, &r, 32, 8, &res, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "needs an init image of the output's size (32x32)");
  CHECK(res.rgb == NULL);
}

int main(void) {
  dif__error err = {0};
  if (dif__models_load(&m, dif__test_path("golden/models/tiny-sd"), NULL, NULL, NULL, &err) ||
      dif__image_load(dif__test_path("golden/cases/pipelines/input_32x32.png"), NULL, &init,
                      &err)) {
    CHECK_MSG(0, "%s", err.msg);
    return dif__test_finish();
  }
  CHECK(dif__pool_new(2, &pool, &err) == DIF_OK);
  dif__arena_init(&arena, 1u << 20);
  k = (dif__kctx){pool, &arena, NULL, NULL, 0, 0, false, 0, 0};
  RUN(one_tile_is_the_untiled_run);
  RUN(nine_tiles_blend_without_seams);
  RUN(bad_tilings);
  dif__arena_free(&arena);
  dif__pool_free(pool);
  dif__image_free(&init);
  dif__models_free(&m);
  return dif__test_finish();
}
