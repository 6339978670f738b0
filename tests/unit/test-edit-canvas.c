/* The editing tools' canvases and masks (lib/pipelines/edit.c): where the
 * picture goes for zoom out, make square and pan, the fill of the new area,
 * the mask (1 in new area, a ramp only along the picture's edges that meet
 * new area, 0 inside), the limits; and masks from images (PIL's "L"
 * conversion) and rectangles. */
#include "pipelines/edit.h"
#include "test.h"

static dif__image picture(int w, int h) {
  dif__image p = {w, h, malloc((size_t)w * h * 3), 1};
  for (int i = 0; i < w * h; i++) {
    p.rgb[i * 3] = (uint8_t)(i % w);
    p.rgb[i * 3 + 1] = (uint8_t)(i / w);
    p.rgb[i * 3 + 2] = 200;
  }
  return p;
}

static float at(const float *m, const dif__image *c, int x, int y) { return m[y * c->width + x]; }

TEST(zoom_out_centres_the_shrunk_picture) {
  dif__image pic = picture(64, 48), canvas;
  float *mask;
  dif__error err = {0};
  dif__edit e = {.op = DIF__EDIT_ZOOM_OUT, .factor = 2.0f};
  CHECK_MSG(dif__edit_canvas(&e, &pic, 8, &canvas, &mask, &err) == DIF_OK, "%s", err.msg);
  CHECK(canvas.width == 64 && canvas.height == 48);
  /* the picture 32x24 at (16, 12): new area 1, a ramp of 8 along all four edges, 0 inside */
  CHECK(at(mask, &canvas, 0, 0) == 1.0f && at(mask, &canvas, 15, 20) == 1.0f);
  CHECK(at(mask, &canvas, 16, 20) == 1.0f - 0.5f / 8 &&
        at(mask, &canvas, 23, 20) == 1.0f - 7.5f / 8);
  CHECK(at(mask, &canvas, 32, 24) == 0.0f);
  CHECK(at(mask, &canvas, 47, 24) == 1.0f - 0.5f / 8 && at(mask, &canvas, 48, 24) == 1.0f);
  CHECK(at(mask, &canvas, 32, 12) == 1.0f - 0.5f / 8 &&
        at(mask, &canvas, 32, 35) == 1.0f - 0.5f / 8);
  /* the new area repeats the picture's nearest edge pixel */
  CHECK(memcmp(canvas.rgb, canvas.rgb + ((size_t)12 * 64 + 16) * 3, 3) == 0);
  dif__image_free(&canvas);
  free(mask);
  e.factor = 1.0f;
  CHECK_STATUS(dif__edit_canvas(&e, &pic, 8, &canvas, &mask, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "(1, 4]");
  CHECK(canvas.rgb == NULL && mask == NULL);
  dif__image_free(&pic);
}

TEST(make_square_keeps_about_the_pixel_count) {
  dif__image pic = picture(96, 64), canvas;
  float *mask;
  dif__error err = {0};
  dif__edit e = {.op = DIF__EDIT_SQUARE};
  CHECK_MSG(dif__edit_canvas(&e, &pic, 8, &canvas, &mask, &err) == DIF_OK, "%s", err.msg);
  /* sqrt(96 * 64) = 78.4 -> 72; the picture scaled to 72x48 at (0, 12): only the top and
   * bottom edges meet new area */
  CHECK(canvas.width == 72 && canvas.height == 72);
  CHECK(at(mask, &canvas, 36, 11) == 1.0f && at(mask, &canvas, 36, 12) == 1.0f - 0.5f / 8);
  CHECK(at(mask, &canvas, 0, 36) == 0.0f && at(mask, &canvas, 71, 36) == 0.0f);
  CHECK(at(mask, &canvas, 36, 59) == 1.0f - 0.5f / 8 && at(mask, &canvas, 36, 60) == 1.0f);
  dif__image_free(&canvas);
  free(mask);
  dif__image sq = picture(64, 64);
  CHECK_STATUS(dif__edit_canvas(&e, &sq, 8, &canvas, &mask, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "already square");
  dif__image_free(&sq);
  dif__image_free(&pic);
}

TEST(pan_grows_the_canvas_on_one_side) {
  dif__image pic = picture(64, 48), canvas;
  float *mask;
  dif__error err = {0};
  static const struct {
    dif__edit_dir dir;
    float amount;
    int w, h, x0, y0;
  } cases[] = {{DIF__EDIT_LEFT, 0.5f, 96, 48, 32, 0},
               {DIF__EDIT_RIGHT, 0.1f, 72, 48, 0, 0}, /* 6.4 px -> 8 */
               {DIF__EDIT_UP, 1.0f, 64, 96, 0, 48},
               {DIF__EDIT_DOWN, 0.3f, 64, 64, 0, 0}}; /* 14.4 -> 16 */
  for (int i = 0; i < 4; i++) {
    dif__edit e = {.op = DIF__EDIT_PAN, .dir = cases[i].dir, .amount = cases[i].amount};
    CHECK_MSG(dif__edit_canvas(&e, &pic, 8, &canvas, &mask, &err) == DIF_OK, "%s", err.msg);
    CHECK_MSG(canvas.width == cases[i].w && canvas.height == cases[i].h, "case %d: %dx%d", i,
              canvas.width, canvas.height);
    /* the picture's own pixels, unscaled, where it sits */
    const uint8_t *px =
        canvas.rgb + ((size_t)(cases[i].y0 + 5) * canvas.width + cases[i].x0 + 7) * 3;
    CHECK(px[0] == 7 && px[1] == 5 && px[2] == 200);
    /* the far corner of the picture is 0: only the seam with the new strip ramps */
    int fx = cases[i].dir == DIF__EDIT_LEFT    ? canvas.width - 1
             : cases[i].dir == DIF__EDIT_RIGHT ? 0
                                               : 32;
    int fy = cases[i].dir == DIF__EDIT_UP     ? canvas.height - 1
             : cases[i].dir == DIF__EDIT_DOWN ? 0
                                              : 24;
    CHECK_MSG(at(mask, &canvas, fx, fy) == 0.0f, "case %d", i);
    dif__image_free(&canvas);
    free(mask);
  }
  dif__edit e = {.op = DIF__EDIT_PAN, .dir = DIF__EDIT_RIGHT, .amount = 1.0f};
  dif__image wide = picture(4000, 8);
  CHECK_STATUS(dif__edit_canvas(&e, &wide, 8, &canvas, &mask, &err), DIF_ERR_LIMIT, err.msg,
               "8000x8");
  e.amount = 0;
  CHECK_STATUS(dif__edit_canvas(&e, &pic, 8, &canvas, &mask, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "(0, 1]");
  dif__image_free(&wide);
  dif__image_free(&pic);
}

TEST(masks_from_images_and_rectangles) {
  /* PIL's convert("L"): (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, then / 255 */
  uint8_t px[4 * 3] = {255, 255, 255, 255, 0, 0, 0, 255, 0, 128, 128, 128};
  dif__image m = {4, 1, px, 1};
  float *v;
  dif__error err = {0};
  CHECK(dif__mask_from_image(&m, 4, 1, "the mask", &v, &err) == DIF_OK);
  CHECK(v[0] == 1.0f && v[1] == 76.0f / 255.0f && v[2] == 150.0f / 255.0f &&
        v[3] == 128.0f / 255.0f);
  free(v);
  CHECK(dif__mask_from_rect(2, 1, 3, 2, 8, 4, &v, &err) == DIF_OK);
  int ones = 0;
  for (int i = 0; i < 32; i++) ones += v[i] == 1.0f;
  CHECK(ones == 6 && v[1 * 8 + 2] == 1.0f && v[2 * 8 + 4] == 1.0f && v[3 * 8 + 4] == 0.0f);
  free(v);
  CHECK_STATUS(dif__mask_from_rect(6, 0, 3, 1, 8, 4, &v, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "not inside the 8x4 picture");
  CHECK(v == NULL);
}

int main(void) {
  RUN(zoom_out_centres_the_shrunk_picture);
  RUN(make_square_keeps_about_the_pixel_count);
  RUN(pan_grows_the_canvas_on_one_side);
  RUN(masks_from_images_and_rectangles);
  return dif__test_finish();
}
