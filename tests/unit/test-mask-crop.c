/* test-mask-crop.c — pipelines/mask_crop.c (padding_mask_crop) against
 * diffusers v0.26.3's VaeImageProcessor on PIL images:
 * tests/fixtures/resample/mask_crop_refs.safetensors, made by
 * tests/oracle/make_mask_crop_refs.py (sizes, paddings, masks and seeds in
 * its metadata): the crop region, the "fill" resize of the picture and of
 * the mask (fill bands on both axes), and apply_overlay with the crop box
 * (grey masks included). Every pixel must be equal. */
#include <jansson.h>
#include <stdbool.h>

#include "io/safetensors.h"
#include "pipelines/mask_crop.h"
#include "test.h"

static dif_safetensors *refs;

static const uint8_t *u8(const char *c, const char *part, int64_t want) {
  char name[96];
  snprintf(name, sizeof name, "%s.%s", c, part);
  const dif_st_entry *e = dif_st_find(refs, name);
  bool ok = e && e->dtype == DIF_ST_U8 && dif_st_numel(e) == want;
  CHECK_MSG(ok, "%s: missing or not %lld bytes", name, (long long)want);
  return ok ? dif_st_data(refs, e) : NULL;
}

/* Values that differ; the first three printed as (x, y, band). */
static int differ(const uint8_t *a, const uint8_t *b, size_t n, int w, int bands) {
  int d = 0;
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i] && d++ < 3)
      fprintf(stderr, "    (%d, %d, %d): %d, diffusers %d\n", (int)(i / (size_t)bands) % w,
              (int)(i / (size_t)bands) / w, (int)(i % (size_t)bands), a[i], b[i]);
  return d;
}

static void run_case(json_t *c) {
  const char *n = json_string_value(json_object_get(c, "name"));
  json_t *size = json_object_get(c, "size");
  int W = (int)json_integer_value(json_array_get(size, 0)),
      H = (int)json_integer_value(json_array_get(size, 1)),
      pad = (int)json_integer_value(json_object_get(c, "pad"));
  size_t px = (size_t)W * H;
  const uint8_t *pic = u8(n, "picture", (int64_t)px * 3),
                *gen = u8(n, "generated", (int64_t)px * 3), *mask = u8(n, "mask", (int64_t)px),
                *coords = u8(n, "coords", 4), *fill = u8(n, "image_fill", (int64_t)px * 3),
                *mfill = u8(n, "mask_fill", (int64_t)px), *over = u8(n, "overlay", (int64_t)px * 3);
  if (!pic || !gen || !mask || !coords || !fill || !mfill || !over) return;
  dif_image picture = {W, H, malloc(px * 3), 1};
  memcpy(picture.rgb, pic, px * 3);
  float *m = malloc(px * sizeof *m);
  for (size_t i = 0; i < px; i++) m[i] = (float)mask[i] / 255.0f;
  dif_mask_crop crop;
  dif_error err = {0};
  CHECK_STATUS(dif_mask_crop_prepare(&picture, m, pad, &crop, &err), DIF_OK, err.msg, "");
  if (!err.status) {
    CHECK_MSG(crop.box[0] == coords[0] && crop.box[1] == coords[1] && crop.box[2] == coords[2] &&
                  crop.box[3] == coords[3],
              "%s: box %d,%d,%d,%d, diffusers %d,%d,%d,%d", n, crop.box[0], crop.box[1],
              crop.box[2], crop.box[3], coords[0], coords[1], coords[2], coords[3]);
    int d = differ(crop.image.rgb, fill, px * 3, W, 3);
    CHECK_MSG(d == 0, "%s: %d values of the fill-resized picture differ", n, d);
    int dm = 0;
    for (size_t i = 0; i < px; i++) dm += crop.mask[i] != (float)mfill[i] / 255.0f;
    CHECK_MSG(dm == 0, "%s: %d values of the fill-resized mask differ", n, dm);
    uint8_t *out = malloc(px * 3);
    memcpy(out, gen, px * 3);
    CHECK_STATUS(dif_mask_crop_paste(&crop, &picture, out, &err), DIF_OK, err.msg, "");
    int dov = differ(out, over, px * 3, W, 3);
    CHECK_MSG(dov == 0, "%s: %d values of apply_overlay differ", n, dov);
    printf("  %s %dx%d pad %d: box %d,%d,%d,%d; values that differ: fill %d, mask %d, "
           "overlay %d\n",
           n, W, H, pad, crop.box[0], crop.box[1], crop.box[2], crop.box[3], d, dm, dov);
    free(out);
    dif_mask_crop_free(&crop);
  }
  free(m);
  dif_image_free(&picture);
}

TEST(crop_matches_diffusers) {
  json_error_t je;
  json_t *cases = json_loads(dif_st_metadata(refs, "cases"), 0, &je);
  CHECK(json_is_array(cases) && json_array_size(cases) == 8);
  size_t i;
  json_t *c;
  json_array_foreach(cases, i, c) run_case(c);
  json_decref(cases);
}

TEST(an_all_black_mask_is_refused) {
  uint8_t grey[16 * 8] = {0};
  int box[4];
  dif_error err = {0};
  CHECK_STATUS(dif_mask_crop_region(grey, 16, 8, 16, 8, 2, box, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "this 16x8 mask is all black");
  grey[8 * 16 - 1] = 1; /* any non-zero grey counts, as diffusers' mask == 0 test */
  CHECK_STATUS(dif_mask_crop_region(grey, 16, 8, 16, 8, 0, box, &err), DIF_OK, err.msg, "");
  CHECK(box[2] == 16 && box[3] == 8 && box[2] - box[0] == 2 * (box[3] - box[1]));
}

int main(void) {
  dif_error err = {0};
  if (dif_st_open(dif_test_path("fixtures/resample/mask_crop_refs.safetensors"), &refs, &err)) {
    fprintf(stderr, "cannot open the diffusers references: %s\n", err.msg);
    return 1;
  }
  RUN(crop_matches_diffusers);
  RUN(an_all_black_mask_is_refused);
  dif_st_close(refs);
  return dif_test_finish();
}
