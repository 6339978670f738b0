/* test-resample.c — io/resample.c's LANCZOS (and BICUBIC, BILINEAR), with
 * and without a source box, and io/composite.c's apply_overlay, against
 * Pillow 9.4's own output: tests/fixtures/resample/pillow_refs.safetensors,
 * made by tests/oracle/make_resample_refs.py (the cases and their seeds
 * are in its metadata). Every pixel must be equal. */
#include <jansson.h>

#include "io/composite.h"
#include "io/resample.h"
#include "io/safetensors.h"
#include "test.h"

static dif_safetensors *refs;

static const uint8_t *u8(const char *name, int64_t want) {
  const dif_st_entry *e = dif_st_find(refs, name);
  CHECK_MSG(e && e->dtype == DIF_ST_U8 && dif_st_numel(e) == want, "%s: missing or %lld values",
            name, e ? (long long)dif_st_numel(e) : -1LL);
  return e && e->dtype == DIF_ST_U8 && dif_st_numel(e) == want ? dif_st_data(refs, e) : NULL;
}

/* An RGB image from rgb (3 bands) or a grey band replicated. */
static dif_image image_of(const uint8_t *px, int w, int h, int bands) {
  dif_image im = {w, h, malloc((size_t)w * h * 3), 1};
  for (size_t i = 0; i < (size_t)w * h; i++)
    for (int c = 0; c < 3; c++) im.rgb[3 * i + c] = px[bands == 3 ? 3 * i + c : i];
  return im;
}

static int filter_id(const char *name) {
  for (int f = 0; f < 6; f++)
    if (strcmp(dif_resample_name(f), name) == 0) return f;
  return -1;
}

/* One case: resize (with its box, if any) and compare every band. */
static int run_case(json_t *cs, size_t *pixels) {
  const char *name = json_string_value(json_object_get(cs, "name"));
  int bands = strcmp(json_string_value(json_object_get(cs, "mode")), "L") == 0 ? 1 : 3;
  json_t *in = json_object_get(cs, "in"), *out = json_object_get(cs, "out");
  json_t *box = json_object_get(cs, "box");
  int iw = (int)json_integer_value(json_array_get(in, 0)),
      ih = (int)json_integer_value(json_array_get(in, 1)),
      ow = (int)json_integer_value(json_array_get(out, 0)),
      oh = (int)json_integer_value(json_array_get(out, 1));
  int f = filter_id(json_string_value(json_object_get(cs, "filter")));
  char key[64];
  snprintf(key, sizeof key, "%s.in", name);
  const uint8_t *src = u8(key, (int64_t)iw * ih * bands);
  snprintf(key, sizeof key, "%s.out", name);
  const uint8_t *want = u8(key, (int64_t)ow * oh * bands);
  if (!src || !want) return 1;
  dif_image im = image_of(src, iw, ih, bands), res;
  dif_error err = {0};
  dif_status s;
  if (json_is_array(box)) {
    float b[4];
    for (int i = 0; i < 4; i++) b[i] = (float)json_number_value(json_array_get(box, (size_t)i));
    s = dif_image_resize_box(&im, ow, oh, b, f, NULL, &res, &err);
  } else {
    s = dif_image_resize(&im, ow, oh, f, NULL, &res, &err);
  }
  CHECK_STATUS(s, DIF_OK, err.msg, "");
  int bad = 0;
  for (size_t i = 0; !s && i < (size_t)ow * oh; i++)
    for (int c = 0; c < 3; c++) {
      int got = res.rgb[3 * i + c], ref = want[bands == 3 ? 3 * i + (size_t)c : i];
      if (got != ref && bad++ < 3)
        fprintf(stderr, "  %s %s %dx%d -> %dx%d pixel %zu band %d: %d, Pillow %d\n", name,
                dif_resample_name(f), iw, ih, ow, oh, i, c, got, ref);
    }
  *pixels += (size_t)ow * oh * 3;
  dif_image_free(&res);
  dif_image_free(&im);
  return bad;
}

TEST(resize_matches_pillow) {
  json_error_t je;
  json_t *cases = json_loads(dif_st_metadata(refs, "cases"), 0, &je);
  CHECK(json_is_array(cases) && json_array_size(cases) >= 60);
  size_t i, pixels = 0;
  int bad_cases = 0;
  json_t *c;
  json_array_foreach(cases, i, c) {
    int bad = run_case(c, &pixels);
    CHECK_MSG(bad == 0, "%s: %d values differ from Pillow",
              json_string_value(json_object_get(c, "name")), bad);
    bad_cases += bad != 0;
  }
  printf("  %zu cases, %zu values, %d cases differ\n", json_array_size(cases), pixels, bad_cases);
  json_decref(cases);
}

TEST(overlay_matches_pillow) {
  json_error_t je;
  json_t *list = json_loads(dif_st_metadata(refs, "overlays"), 0, &je);
  CHECK(json_is_array(list) && json_array_size(list) == 2);
  size_t i;
  json_t *o;
  json_array_foreach(list, i, o) {
    const char *name = json_string_value(json_object_get(o, "name"));
    json_t *size = json_object_get(o, "size");
    int w = (int)json_integer_value(json_array_get(size, 0)),
        h = (int)json_integer_value(json_array_get(size, 1));
    char k[4][64];
    const char *parts[4] = {"image", "init", "mask", "out"};
    const uint8_t *p[4];
    for (int j = 0; j < 4; j++) {
      snprintf(k[j], sizeof k[j], "%s.%s", name, parts[j]);
      p[j] = u8(k[j], (int64_t)w * h * (j == 2 ? 1 : 3));
    }
    if (!p[0] || !p[1] || !p[2] || !p[3]) continue;
    dif_image img = image_of(p[0], w, h, 3), init = image_of(p[1], w, h, 3);
    dif_error err = {0};
    CHECK_STATUS(dif_image_overlay(&img, &init, p[2], &err), DIF_OK, err.msg, "");
    int bad = 0;
    for (size_t j = 0; j < (size_t)w * h * 3; j++) bad += img.rgb[j] != p[3][j];
    CHECK_MSG(bad == 0, "%s: %d of %d values differ from Pillow", name, bad, w * h * 3);
    dif_image small = image_of(p[1], w - 1, h, 3);
    CHECK_STATUS(dif_image_overlay(&img, &small, p[2], &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
                 "differ in size");
    dif_image_free(&small);
    dif_image_free(&img);
    dif_image_free(&init);
  }
  json_decref(list);
}

TEST(bad_boxes_and_filters_are_refused) {
  uint8_t px[4 * 3 * 3] = {0};
  dif_image im = image_of(px, 4, 3, 3), out;
  dif_error err = {0};
  const float outside[4] = {0, 0, 5, 3}, negative[4] = {-1, 0, 4, 3}, reversed[4] = {3, 0, 1, 3},
              nan_box[4] = {0, 0, NAN, 3};
  CHECK_STATUS(dif_image_resize_box(&im, 2, 2, outside, DIF_RESAMPLE_LANCZOS, NULL, &out, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "is not inside the 4x3 image");
  CHECK(out.rgb == NULL);
  CHECK_STATUS(dif_image_resize_box(&im, 2, 2, negative, DIF_RESAMPLE_LANCZOS, NULL, &out, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "box (-1, 0, 4, 3)");
  CHECK_STATUS(dif_image_resize_box(&im, 2, 2, reversed, DIF_RESAMPLE_LANCZOS, NULL, &out, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "ends before it starts");
  CHECK_STATUS(dif_image_resize_box(&im, 2, 2, nan_box, DIF_RESAMPLE_LANCZOS, NULL, &out, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "not finite");
  CHECK_STATUS(dif_image_resize(&im, 2, 2, DIF_RESAMPLE_HAMMING, NULL, &out, &err),
               DIF_ERR_UNSUPPORTED, err.msg, "HAMMING is not supported");
  CHECK_STATUS(dif_image_resize(&im, 0, 2, DIF_RESAMPLE_LANCZOS, NULL, &out, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "output size 0x2");
  CHECK(dif_resample_supported(DIF_RESAMPLE_LANCZOS));
  dif_image_free(&im);
}

int main(void) {
  dif_error err = {0};
  if (dif_st_open(dif_test_path("fixtures/resample/pillow_refs.safetensors"), &refs, &err)) {
    fprintf(stderr, "cannot open the Pillow references: %s\n", err.msg);
    return 1;
  }
  RUN(resize_matches_pillow);
  RUN(overlay_matches_pillow);
  RUN(bad_boxes_and_filters_are_refused);
  dif_st_close(refs);
  return dif_test_finish();
}
