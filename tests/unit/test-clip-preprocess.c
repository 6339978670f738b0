/* CLIP image preprocessing (lib/io/resample.c, lib/models/clip_preprocess.c):
 * the Pillow resampler against a double-precision reference of Pillow's
 * algorithm on tiny synthetic images (1xN and Nx1 included), exactness
 * properties (copies, constants, windows), preprocessor_config.json
 * parsing and its errors (file and key named), output sizes, and the
 * rescale/normalize arithmetic. The bit-exact comparison with Pillow itself
 * is the golden kind clip_preprocess. */
#include "io/config.h"
#include "io/image.h"
#include "io/resample.h"
#include "models/clip_preprocess.h"
#include "test.h"

/* ---- a double-precision reference of Pillow's resampling ----
 * Written from the algorithm's definition, not from Pillow's code: every
 * input pixel j gets weight K((j + 0.5 - centre) / fs) with the textbook
 * kernel, weights are normalised in double, each pass rounds half up to
 * uint8 and clamps; a pass whose size does not change is skipped. */

static double ref_kernel(int f, double x) {
  double t = fabs(x);
  switch (f) {
  case DIF_RESAMPLE_BOX: return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
  case DIF_RESAMPLE_BILINEAR: return t < 1.0 ? 1.0 - t : 0.0;
  default: { /* Keys' cubic, a = -0.5 */
    const double a = -0.5;
    if (t < 1.0) return (a + 2) * t * t * t - (a + 3) * t * t + 1;
    if (t < 2.0) return a * t * t * t - 5 * a * t * t + 8 * a * t - 4 * a;
    return 0.0;
  }
  }
}

/* w[in]: the weights of output position i. */
static void ref_weights(int f, int in, int out, int i, double *w) {
  double scale = (double)in / out, fs = scale < 1.0 ? 1.0 : scale;
  double centre = (i + 0.5) * scale, sum = 0;
  for (int j = 0; j < in; j++) sum += w[j] = ref_kernel(f, (j + 0.5 - centre) / fs);
  if (sum != 0)
    for (int j = 0; j < in; j++) w[j] /= sum;
}

/* Rounds half up and clamps; *tie is set when v is so close to a rounding
 * boundary that 22-bit fixed-point weights may round it the other way: each
 * of the taps weights is off by at most 2^-23, times samples up to 255. */
static uint8_t ref_round(double v, int taps, int *tie) {
  double r = floor(v + 0.5), frac = v + 0.5 - r, eps = (taps + 1) * 255.0 / (1 << 22);
  if ((frac <= eps || frac >= 1 - eps) && v > -1 && v < 256) *tie = 1;
  return r < 0 ? 0 : r > 255 ? 255 : (uint8_t)r;
}

/* out: ow x oh x 3, from in: iw x ih x 3. tie[i] = 1 where a rounding in
 * out[i]'s computation (its own, or that of an intermediate sample it
 * reads) was a near-tie. */
static void ref_resize(int f, const uint8_t *in, int iw, int ih, int ow, int oh, uint8_t *out,
                       uint8_t *tie) {
  uint8_t *tmp = malloc((size_t)ow * ih * 3), *ttie = calloc((size_t)ow * ih * 3, 1);
  double *w = malloc(sizeof(double) * (size_t)(iw > ih ? iw : ih));
  if (ow == iw) {
    memcpy(tmp, in, (size_t)iw * ih * 3);
  } else {
    for (int x = 0; x < ow; x++) {
      ref_weights(f, iw, ow, x, w);
      for (int y = 0; y < ih; y++)
        for (int c = 0; c < 3; c++) {
          double s = 0;
          for (int j = 0; j < iw; j++) s += w[j] * in[((size_t)y * iw + j) * 3 + c];
          int t = 0;
          tmp[((size_t)y * ow + x) * 3 + c] = ref_round(s, iw, &t);
          ttie[((size_t)y * ow + x) * 3 + c] = (uint8_t)t;
        }
    }
  }
  if (oh == ih) {
    memcpy(out, tmp, (size_t)ow * oh * 3);
    memcpy(tie, ttie, (size_t)ow * oh * 3);
  } else {
    for (int y = 0; y < oh; y++) {
      ref_weights(f, ih, oh, y, w);
      for (int x = 0; x < ow; x++)
        for (int c = 0; c < 3; c++) {
          double s = 0;
          int t = 0;
          for (int j = 0; j < ih; j++) {
            size_t k = ((size_t)j * ow + x) * 3 + c;
            s += w[j] * tmp[k];
            if (w[j] != 0 && ttie[k]) t = 1;
          }
          out[((size_t)y * ow + x) * 3 + c] = ref_round(s, ih, &t);
          tie[((size_t)y * ow + x) * 3 + c] = (uint8_t)t;
        }
    }
  }
  free(w);
  free(tmp);
  free(ttie);
}

static dif_image noise_image(int w, int h, uint64_t seed) {
  dif_image img;
  dif_error err;
  if (dif_image_alloc(&img, w, h, NULL, &err)) return (dif_image){0};
  for (size_t i = 0; i < (size_t)w * h * 3; i++) img.rgb[i] = (uint8_t)(dif_test_rand_u64(&seed));
  return img;
}

static const int filters[] = {DIF_RESAMPLE_BOX, DIF_RESAMPLE_BILINEAR, DIF_RESAMPLE_BICUBIC};

/* Every combination of these input and output sides, 1 included. */
static const int sides[] = {1, 2, 3, 5, 8, 13, 16};
#define NSIDES (int)(sizeof sides / sizeof *sides)

TEST(resize_matches_double_reference) {
  dif_error err;
  for (int fi = 0; fi < 3; fi++) {
    size_t total = 0, ties = 0, off = 0;
    int worst = 0;
    for (int a = 0; a < NSIDES; a++)
      for (int b = 0; b < NSIDES; b++)
        for (int c = 0; c < NSIDES; c++)
          for (int d = 0; d < NSIDES; d++) {
            int iw = sides[a], ih = sides[b], ow = sides[c], oh = sides[d];
            dif_image in = noise_image(iw, ih, (uint64_t)(a * 1000 + b * 100 + c * 10 + d));
            dif_image out;
            dif_status s = dif_image_resize(&in, ow, oh, filters[fi], NULL, &out, &err);
            CHECK_STATUS(s, DIF_OK, err.msg, "");
            if (s == DIF_OK) {
              CHECK(out.width == ow && out.height == oh);
              size_t n = (size_t)ow * oh * 3;
              uint8_t *ref = malloc(n), *tie = malloc(n);
              ref_resize(filters[fi], in.rgb, iw, ih, ow, oh, ref, tie);
              for (size_t i = 0; i < n; i++) {
                int dd = abs((int)out.rgb[i] - (int)ref[i]);
                ties += tie[i];
                if (tie[i]) { /* either rounding is right; one level more if it came through
                                 a tied intermediate sample */
                  CHECK_MSG(dd <= 2, "%s %dx%d -> %dx%d [%zu]: %d vs %d (tie)",
                            dif_resample_name(filters[fi]), iw, ih, ow, oh, i, out.rgb[i], ref[i]);
                } else {
                  off += dd != 0;
                  if (dd > worst) worst = dd;
                }
              }
              total += n;
              free(ref);
              free(tie);
            }
            dif_image_free(&out);
            dif_image_free(&in);
          }
    printf("  %s: %zu samples, %zu near a rounding tie; %zu others differ (max %d)\n",
           dif_resample_name(filters[fi]), total, ties, off, worst);
    /* Away from ties, fixed point and double must round the same way. */
    CHECK_MSG(off == 0, "%s: %zu samples differ from the double reference, max %d",
              dif_resample_name(filters[fi]), off, worst);
  }
}

/* Pillow's exact results worked out by hand. */
TEST(resize_known_values) {
  dif_error err;
  /* BOX 4 -> 2 averages pairs, rounding half up: (1+2)/2 = 1.5 -> 2. */
  uint8_t px[12] = {1, 10, 0, 2, 11, 255, 200, 0, 7, 101, 0, 8};
  dif_image in = {4, 1, px, 1}, out;
  CHECK_STATUS(dif_image_resize(&in, 2, 1, DIF_RESAMPLE_BOX, NULL, &out, &err), DIF_OK, err.msg,
               "");
  if (out.rgb) {
    const uint8_t want[6] = {2, 11, 128, 151, 0, 8}; /* 127.5 -> 128, 150.5 -> 151, 7.5 -> 8 */
    CHECK(memcmp(out.rgb, want, 6) == 0);
  }
  dif_image_free(&out);
  /* 1 pixel to anything: every weight lands on it, so a constant. */
  uint8_t one[3] = {17, 0, 255};
  dif_image single = {1, 1, one, 1};
  for (int fi = 0; fi < 3; fi++) {
    CHECK_STATUS(dif_image_resize(&single, 3, 5, filters[fi], NULL, &out, &err), DIF_OK, err.msg,
                 "");
    for (int i = 0; out.rgb && i < 15; i++)
      CHECK(out.rgb[3 * i] == 17 && out.rgb[3 * i + 1] == 0 && out.rgb[3 * i + 2] == 255);
    CHECK(out.exif_orientation == 1);
    dif_image_free(&out);
  }
  /* BICUBIC 2 -> 1: centre 1.0, support 4, taps at +-0.25 scaled: both
   * weights equal, so the mean rounded half up: (0 + 255) / 2 -> 128. */
  uint8_t two[6] = {0, 0, 0, 255, 255, 255};
  dif_image pair = {2, 1, two, 1};
  CHECK_STATUS(dif_image_resize(&pair, 1, 1, DIF_RESAMPLE_BICUBIC, NULL, &out, &err), DIF_OK,
               err.msg, "");
  if (out.rgb) CHECK(out.rgb[0] == 128 && out.rgb[1] == 128 && out.rgb[2] == 128);
  dif_image_free(&out);
}

TEST(resize_same_size_is_a_copy_and_constants_stay) {
  dif_error err;
  for (int fi = 0; fi < 3; fi++) {
    dif_image in = noise_image(7, 5, 99), out;
    CHECK_STATUS(dif_image_resize(&in, 7, 5, filters[fi], NULL, &out, &err), DIF_OK, err.msg, "");
    CHECK(out.rgb && memcmp(out.rgb, in.rgb, 7 * 5 * 3) == 0);
    dif_image_free(&out);
    /* same width: only the vertical pass runs, each column independently */
    CHECK_STATUS(dif_image_resize(&in, 7, 2, filters[fi], NULL, &out, &err), DIF_OK, err.msg, "");
    uint8_t ref[7 * 2 * 3], tie[7 * 2 * 3];
    ref_resize(filters[fi], in.rgb, 7, 5, 7, 2, ref, tie);
    for (int i = 0; out.rgb && i < 7 * 2 * 3; i++) CHECK(abs(out.rgb[i] - ref[i]) <= tie[i]);
    dif_image_free(&out);
    dif_image_free(&in);
    /* Fixed-point weights of each position sum to 1 within a few units of
     * 2^-22, so a constant image stays exactly constant at every size. */
    for (int v = 0; v < 256; v += 51) {
      dif_image k;
      if (dif_image_alloc(&k, 11, 3, NULL, &err)) continue;
      memset(k.rgb, v, 11 * 3 * 3);
      for (int a = 0; a < NSIDES; a++)
        for (int b = 0; b < NSIDES; b++) {
          if (dif_image_resize(&k, sides[a], sides[b], filters[fi], NULL, &out, &err)) {
            CHECK_MSG(0, "%s", err.msg);
            continue;
          }
          int bad = 0;
          for (int i = 0; i < sides[a] * sides[b] * 3; i++) bad += out.rgb[i] != v;
          CHECK_MSG(bad == 0, "%s value %d 11x3 -> %dx%d", dif_resample_name(filters[fi]), v,
                    sides[a], sides[b]);
          dif_image_free(&out);
        }
      dif_image_free(&k);
    }
  }
}

/* Any window of the output equals that part of the full resize. */
TEST(resize_window_equals_full_resize) {
  dif_error err;
  uint64_t seed = 5;
  dif_image in = noise_image(37, 23, 7);
  const int sizes[][2] = {{37, 23}, {37, 9}, {12, 23}, {16, 16}, {80, 50}, {1, 40}, {45, 1}};
  for (int fi = 0; fi < 3; fi++)
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
      int ow = sizes[si][0], oh = sizes[si][1];
      dif_image full, win;
      if (dif_image_resize(&in, ow, oh, filters[fi], NULL, &full, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        continue;
      }
      for (int t = 0; t < 10; t++) {
        int w = 1 + (int)(dif_test_rand_u64(&seed) % (uint64_t)ow);
        int h = 1 + (int)(dif_test_rand_u64(&seed) % (uint64_t)oh);
        int x0 = (int)(dif_test_rand_u64(&seed) % (uint64_t)(ow - w + 1));
        int y0 = (int)(dif_test_rand_u64(&seed) % (uint64_t)(oh - h + 1));
        CHECK_STATUS(
            dif_image_resize_window(&in, ow, oh, x0, y0, w, h, filters[fi], NULL, &win, &err),
            DIF_OK, err.msg, "");
        int bad = 0;
        for (int y = 0; win.rgb && y < h; y++)
          bad += memcmp(win.rgb + (size_t)y * w * 3, full.rgb + ((size_t)(y0 + y) * ow + x0) * 3,
                        (size_t)w * 3) != 0;
        CHECK_MSG(bad == 0, "window %dx%d at %d,%d of %dx%d", w, h, x0, y0, ow, oh);
        dif_image_free(&win);
      }
      dif_image_free(&full);
    }
  dif_image_free(&in);
}

TEST(resize_errors) {
  dif_error err;
  dif_image in = noise_image(4, 4, 1), out;
  CHECK_STATUS(dif_image_resize(&in, 2, 2, DIF_RESAMPLE_NEAREST, NULL, &out, &err),
               DIF_ERR_UNSUPPORTED, err.msg, "NEAREST");
  CHECK(out.rgb == NULL);
  CHECK_STATUS(dif_image_resize(&in, 2, 2, DIF_RESAMPLE_HAMMING, NULL, &out, &err),
               DIF_ERR_UNSUPPORTED, err.msg, "HAMMING");
  CHECK_STATUS(dif_image_resize(&in, 2, 2, 17, NULL, &out, &err), DIF_ERR_UNSUPPORTED, err.msg,
               "17");
  CHECK_STATUS(dif_image_resize(&in, 0, 2, DIF_RESAMPLE_BICUBIC, NULL, &out, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "");
  CHECK_STATUS(
      dif_image_resize_window(&in, 4, 4, 3, 0, 2, 2, DIF_RESAMPLE_BICUBIC, NULL, &out, &err),
      DIF_ERR_INVALID_ARGUMENT, err.msg, "outside");
  dif_image_limits lim = {.max_pixels = 100};
  CHECK_STATUS(dif_image_resize(&in, 20, 20, DIF_RESAMPLE_BICUBIC, &lim, &out, &err), DIF_ERR_LIMIT,
               err.msg, "");
  dif_image empty = {0};
  CHECK_STATUS(dif_image_resize(&empty, 2, 2, DIF_RESAMPLE_BICUBIC, NULL, &out, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "");
  CHECK(dif_resample_supported(DIF_RESAMPLE_BICUBIC) && !dif_resample_supported(0));
  CHECK(dif_resample_name(6) == NULL && strcmp(dif_resample_name(3), "BICUBIC") == 0);
  dif_image_free(&in);
}

/* ---- preprocessor_config.json ---- */

static dif_status parse(const char *json, dif_clip_preprocess *p, dif_error *err) {
  dif_config *cfg = NULL;
  dif_status s = dif_config_parse(json, strlen(json), "fe/preprocessor_config.json", &cfg, err);
  if (s == DIF_OK) s = dif_clip_preprocess_from_config(cfg, p, err);
  dif_config_free(cfg);
  return s;
}

/* Field by field (the struct has padding). */
static int same_config(const dif_clip_preprocess *a, const dif_clip_preprocess *b) {
  int same = a->do_resize == b->do_resize && a->shortest_edge == b->shortest_edge &&
             a->resize_h == b->resize_h && a->resize_w == b->resize_w &&
             a->resample == b->resample && a->do_center_crop == b->do_center_crop &&
             a->crop_h == b->crop_h && a->crop_w == b->crop_w && a->do_rescale == b->do_rescale &&
             a->rescale_factor == b->rescale_factor && a->do_normalize == b->do_normalize &&
             a->do_convert_rgb == b->do_convert_rgb;
  for (int c = 0; c < 3; c++) same = same && a->mean[c] == b->mean[c] && a->std[c] == b->std[c];
  return same;
}

TEST(config_fixture_and_defaults) {
  dif_clip_preprocess p, d;
  dif_error err;
  dif_clip_preprocess_defaults(&d);
  CHECK_STATUS(dif_clip_preprocess_load(dif_test_path("golden/cases/clip_preprocess"), &p, &err),
               DIF_OK, err.msg, "");
  CHECK(same_config(&p, &d)); /* the fixture is CLIPImageProcessor() */
  CHECK(p.shortest_edge == 224 && p.crop_w == 224 && p.crop_h == 224 && p.resample == 3);
  CHECK(p.rescale_factor == 1.0 / 255.0);
  CHECK_STATUS(dif_clip_preprocess_load(dif_test_path("golden/models/clip-vision-tiny"), &p, &err),
               DIF_OK, err.msg, "");
  CHECK(p.shortest_edge == 32 && p.crop_w == 32 && p.crop_h == 32);
  /* {} is all defaults; null values too */
  CHECK_STATUS(parse("{}", &p, &err), DIF_OK, err.msg, "");
  CHECK(same_config(&p, &d));
  CHECK_STATUS(parse("{\"size\": null, \"crop_size\": null, \"resample\": null, \"image_mean\": "
                     "null, \"feature_extractor_type\": \"CLIPFeatureExtractor\", "
                     "\"image_processor_type\": \"CLIPImageProcessor\", \"processor_class\": "
                     "\"CLIPProcessor\", \"use_square_size\": false}",
                     &p, &err),
               DIF_OK, err.msg, "");
  CHECK(same_config(&p, &d));
  CHECK_STATUS(dif_clip_preprocess_load("/nonexistent-dir", &p, &err), DIF_ERR_IO, err.msg,
               "/nonexistent-dir/preprocessor_config.json");
}

TEST(config_legacy_and_other_forms) {
  dif_clip_preprocess p;
  dif_error err;
  /* transformers' get_size_dict: int size = shortest edge, int crop = square */
  CHECK_STATUS(parse("{\"size\": 256, \"crop_size\": 240}", &p, &err), DIF_OK, err.msg, "");
  CHECK(p.shortest_edge == 256 && p.resize_w == 0 && p.crop_h == 240 && p.crop_w == 240);
  CHECK_STATUS(
      parse("{\"size\": {\"height\": 30, \"width\": 40}, \"crop_size\": [20, 10]}", &p, &err),
      DIF_OK, err.msg, "");
  CHECK(p.shortest_edge == 0 && p.resize_h == 30 && p.resize_w == 40);
  CHECK(p.crop_h == 20 && p.crop_w == 10);
  CHECK_STATUS(parse("{\"image_mean\": 0.5, \"image_std\": [1, 2, 4], \"rescale_factor\": 1, "
                     "\"resample\": 2, \"do_convert_rgb\": false}",
                     &p, &err),
               DIF_OK, err.msg, "");
  CHECK(p.mean[0] == 0.5 && p.mean[2] == 0.5 && p.std[1] == 2 && p.rescale_factor == 1);
  CHECK(p.resample == DIF_RESAMPLE_BILINEAR && !p.do_convert_rgb);
  CHECK_STATUS(parse("{\"resample\": 4}", &p, &err), DIF_OK, err.msg, "");
}

TEST(config_errors_are_named) {
  dif_clip_preprocess p;
  dif_error err;
  static const struct {
    const char *json;
    dif_status want;
    const char *substr;
  } cases[] = {
      {"{\"do_pad\": true}", DIF_ERR_UNSUPPORTED, "fe/preprocessor_config.json: do_pad"},
      {"{\"resample\": 0}", DIF_ERR_UNSUPPORTED, "'resample' = 0 (NEAREST) is not supported"},
      {"{\"resample\": 5}", DIF_ERR_UNSUPPORTED, "HAMMING"},
      {"{\"resample\": 9}", DIF_ERR_BAD_MODEL, "'resample' = 9 is not a PIL resampling filter"},
      {"{\"resample\": \"bicubic\"}", DIF_ERR_BAD_MODEL, "'resample'"},
      {"{\"do_resize\": \"yes\"}", DIF_ERR_BAD_MODEL, "'do_resize'"},
      {"{\"size\": {\"shortest_edge\": 224, \"longest_edge\": 500}}", DIF_ERR_UNSUPPORTED,
       "'size' has 'longest_edge'"},
      {"{\"size\": {\"shortest_edge\": 224, \"height\": 5, \"width\": 5}}", DIF_ERR_UNSUPPORTED,
       "'size'"},
      {"{\"size\": {\"height\": 5}}", DIF_ERR_UNSUPPORTED, "'size'"},
      {"{\"size\": {}}", DIF_ERR_UNSUPPORTED, "'size'"},
      {"{\"size\": {\"shortest_edge\": 0}}", DIF_ERR_BAD_MODEL, "'size.shortest_edge' = 0"},
      {"{\"size\": -3}", DIF_ERR_BAD_MODEL, "'size' = -3"},
      {"{\"size\": 100000}", DIF_ERR_BAD_MODEL, "'size' = 100000 is outside"},
      {"{\"size\": 22.5}", DIF_ERR_BAD_MODEL, "'size'"},
      {"{\"size\": \"224\"}", DIF_ERR_BAD_MODEL, "'size'"},
      {"{\"size\": [1, 2, 3]}", DIF_ERR_BAD_MODEL, "'size'"},
      {"{\"crop_size\": {\"shortest_edge\": 224}}", DIF_ERR_UNSUPPORTED,
       "'crop_size' has 'shortest_edge'"},
      {"{\"crop_size\": {\"height\": 224, \"width\": 1.5}}", DIF_ERR_BAD_MODEL,
       "'crop_size.width'"},
      {"{\"crop_size\": [0, 4]}", DIF_ERR_BAD_MODEL, "'crop_size.0' = 0"},
      {"{\"image_std\": [0.2, 0, 0.3]}", DIF_ERR_BAD_MODEL, "'image_std'"},
      {"{\"image_std\": 1e-50}", DIF_ERR_BAD_MODEL, "'image_std'"},
      {"{\"image_mean\": [0.5, 0.5]}", DIF_ERR_BAD_MODEL, "'image_mean'"},
      {"{\"image_mean\": [0.5, \"a\", 0.5]}", DIF_ERR_BAD_MODEL, "'image_mean'"},
      {"{\"image_mean\": 1e300}", DIF_ERR_BAD_MODEL, "'image_mean'"},
      {"{\"rescale_factor\": \"1/255\"}", DIF_ERR_BAD_MODEL, "'rescale_factor'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    dif_status s = parse(cases[i].json, &p, &err);
    CHECK_STATUS(s, cases[i].want, err.msg, cases[i].substr);
    CHECK_MSG(strstr(err.msg, "fe/preprocessor_config.json") != NULL, "%s: %s", cases[i].json,
              err.msg);
  }
}

/* ---- the preprocessing steps ---- */

TEST(output_sizes) {
  dif_clip_preprocess p;
  dif_error err;
  dif_clip_preprocess_defaults(&p);
  p.do_center_crop = false;
  static const int cases[][4] = {
      {300, 200, 336, 224},  {200, 300, 224, 336},  {64, 96, 224, 336},
      {224, 224, 224, 224},  {225, 1000, 224, 995}, /* int(224 * 1000 / 225) = int(995.55...) */
      {1000, 225, 995, 224}, {1, 1, 224, 224},      {1, 7, 224, 1568},
      {7, 1, 1568, 224},     {257, 199, 289, 224}, /* int(224 * 257 / 199) = int(289.28...) */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int w = 0, h = 0;
    CHECK_STATUS(dif_clip_preprocess_output_size(&p, cases[i][0], cases[i][1], &w, &h, &err),
                 DIF_OK, err.msg, "");
    CHECK_MSG(w == cases[i][2] && h == cases[i][3], "%dx%d -> %dx%d", cases[i][0], cases[i][1], w,
              h);
  }
  p.do_center_crop = true;
  int w, h;
  CHECK_STATUS(dif_clip_preprocess_output_size(&p, 1, 7, &w, &h, &err), DIF_OK, err.msg, "");
  CHECK(w == 224 && h == 224);
  /* exact size */
  p.shortest_edge = 0;
  p.resize_w = 50;
  p.resize_h = 40;
  p.crop_w = p.crop_h = 40;
  CHECK_STATUS(dif_clip_preprocess_output_size(&p, 3, 900, &w, &h, &err), DIF_OK, err.msg, "");
  CHECK(w == 40 && h == 40);
  /* crop larger than the resized image: refused, sizes named */
  p.crop_w = 60;
  CHECK_STATUS(dif_clip_preprocess_output_size(&p, 3, 900, &w, &h, &err), DIF_ERR_UNSUPPORTED,
               err.msg, "center crop 60x40 is larger than the 50x40 image");
  dif_clip_preprocess_defaults(&p);
  p.do_resize = false;
  CHECK_STATUS(dif_clip_preprocess_output_size(&p, 300, 100, &w, &h, &err), DIF_ERR_UNSUPPORTED,
               err.msg, "224x224");
  CHECK_STATUS(dif_clip_preprocess_output_size(&p, 0, 100, &w, &h, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "");
  /* a resized side that does not fit an int */
  dif_clip_preprocess_defaults(&p);
  p.shortest_edge = DIF_CLIP_PREPROCESS_MAX_SIZE;
  CHECK_STATUS(dif_clip_preprocess_output_size(&p, 1, 1 << 30, &w, &h, &err), DIF_ERR_LIMIT,
               err.msg, "");
}

/* The crop is the centre window (top = (h - ch) // 2) of the full resize. */
TEST(resize_crop_is_centre_of_full_resize) {
  dif_clip_preprocess p;
  dif_error err;
  dif_clip_preprocess_defaults(&p);
  p.shortest_edge = 8;
  p.crop_w = 5;
  p.crop_h = 3;
  static const int sizes[][2] = {{1, 1}, {1, 9}, {9, 1}, {13, 7}, {7, 30}, {8, 8}, {4, 5}};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    dif_image in = noise_image(sizes[i][0], sizes[i][1], 40 + i), crop, full;
    int rw, rh;
    p.do_center_crop = false;
    CHECK_STATUS(dif_clip_preprocess_output_size(&p, in.width, in.height, &rw, &rh, &err), DIF_OK,
                 err.msg, "");
    p.do_center_crop = true;
    CHECK_STATUS(dif_clip_preprocess_resize_crop(&p, &in, NULL, &crop, &err), DIF_OK, err.msg, "");
    CHECK_STATUS(dif_image_resize(&in, rw, rh, DIF_RESAMPLE_BICUBIC, NULL, &full, &err), DIF_OK,
                 err.msg, "");
    int top = (rh - 3) / 2, left = (rw - 5) / 2, bad = 0;
    for (int y = 0; crop.rgb && full.rgb && y < 3; y++)
      bad += memcmp(crop.rgb + y * 5 * 3, full.rgb + ((size_t)(top + y) * rw + left) * 3, 15) != 0;
    CHECK_MSG(bad == 0 && crop.width == 5 && crop.height == 3, "%dx%d", in.width, in.height);
    dif_image_free(&crop);
    dif_image_free(&full);
    dif_image_free(&in);
  }
}

TEST(pixels_arithmetic) {
  dif_clip_preprocess p;
  dif_clip_preprocess_defaults(&p);
  uint8_t px[6] = {0, 128, 255, 1, 2, 3};
  dif_image img = {2, 1, px, 1};
  float out[6];
  dif_clip_preprocess_pixels(&p, &img, out);
  /* channel-first: out[c * 2 + x] */
  for (int c = 0; c < 3; c++)
    for (int x = 0; x < 2; x++) {
      float r = (float)((double)px[x * 3 + c] * (1.0 / 255.0));
      float want = (r - (float)p.mean[c]) / (float)p.std[c];
      CHECK(memcmp(&out[c * 2 + x], &want, sizeof want) == 0);
    }
  p.do_normalize = false;
  dif_clip_preprocess_pixels(&p, &img, out);
  CHECK(out[4] == 1.0f && out[0] == 0.0f && out[2] == (float)(128.0 * (1.0 / 255.0)));
  p.do_rescale = false;
  dif_clip_preprocess_pixels(&p, &img, out);
  CHECK(out[2] == 128.0f && out[3] == 2.0f && out[5] == 3.0f);
  p.do_normalize = true; /* normalize the raw 0..255 values, as numpy would */
  dif_clip_preprocess_pixels(&p, &img, out);
  CHECK(out[4] == (255.0f - (float)p.mean[2]) / (float)p.std[2]);
}

TEST(image_and_file_entry_points) {
  dif_clip_preprocess p;
  dif_error err;
  dif_clip_preprocess_defaults(&p);
  p.shortest_edge = p.crop_w = p.crop_h = 4;
  dif_image in = noise_image(9, 6, 3);
  float out[3 * 4 * 4 + 1];
  int w = 0, h = 0;
  CHECK_STATUS(dif_clip_preprocess_image(&p, &in, out, 3 * 4 * 4 - 1, &w, &h, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "47 floats, 48 needed (3x4x4)");
  out[48] = 12345.0f;
  CHECK_STATUS(dif_clip_preprocess_image(&p, &in, out, 3 * 4 * 4 + 1, &w, &h, &err), DIF_OK,
               err.msg, "");
  CHECK(w == 4 && h == 4 && out[48] == 12345.0f);
  dif_image empty = {0};
  CHECK_STATUS(dif_clip_preprocess_image(&p, &empty, out, 48, &w, &h, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "");
  CHECK_STATUS(dif_clip_preprocess_file(&p, "/nonexistent/x.png", NULL, out, 48, &w, &h, &err),
               DIF_ERR_IO, err.msg, "/nonexistent/x.png");
  /* the file entry point: EXIF orientation 6 applied, so 120 wide, 200 high */
  p.do_center_crop = false;
  float *big = malloc(sizeof(float) * 3 * 4 * 6);
  CHECK_STATUS(dif_clip_preprocess_file(
                   &p,
                   dif_test_path("golden/cases/clip_preprocess/images/exif_orient6_200x120.jpg"),
                   NULL, big, 3 * 4 * 6, &w, &h, &err),
               DIF_OK, err.msg, "");
  CHECK(w == 4 && h == 6); /* int(4 * 200 / 120) = 6 */
  free(big);
  dif_image_free(&in);
}

int main(void) {
  RUN(resize_matches_double_reference);
  RUN(resize_known_values);
  RUN(resize_same_size_is_a_copy_and_constants_stay);
  RUN(resize_window_equals_full_resize);
  RUN(resize_errors);
  RUN(config_fixture_and_defaults);
  RUN(config_legacy_and_other_forms);
  RUN(config_errors_are_named);
  RUN(output_sizes);
  RUN(resize_crop_is_centre_of_full_resize);
  RUN(pixels_arithmetic);
  RUN(image_and_file_entry_points);
  return dif_test_finish();
}
