/* clip_preprocess.c — CLIPImageProcessor: config reading, resize + crop,
 * rescale + normalize (see clip_preprocess.h). */
#include "models/clip_preprocess.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "io/resample.h"
#include "models/config_check.h"

/* transformers.image_utils.OPENAI_CLIP_MEAN / OPENAI_CLIP_STD */
static const double clip_mean[3] = {0.48145466, 0.4578275, 0.40821073};
static const double clip_std[3] = {0.26862954, 0.26130258, 0.27577711};

void dif_clip_preprocess_defaults(dif_clip_preprocess *p) {
  *p = (dif_clip_preprocess){
      .do_resize = true,
      .shortest_edge = 224,
      .resample = DIF_RESAMPLE_BICUBIC,
      .do_center_crop = true,
      .crop_h = 224,
      .crop_w = 224,
      .do_rescale = true,
      .rescale_factor = 1.0 / 255.0,
      .do_normalize = true,
      .do_convert_rgb = true,
  };
  memcpy(p->mean, clip_mean, sizeof clip_mean);
  memcpy(p->std, clip_std, sizeof clip_std);
}

static dif_status bad(const dif_config *cfg, dif_status st, const char *key, const char *what,
                      dif_error *err) {
  return dif_fail(err, st, "%s: key '%s' %s", dif_config_path(cfg), key, what);
}

static dif_status size_value(const dif_config *cfg, const char *key, const char *sub, json_t *v,
                             int *out, dif_error *err) {
  char where[64];
  snprintf(where, sizeof where, "%s%s%s", key, sub ? "." : "", sub ? sub : "");
  if (!json_is_integer(v))
    return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: key '%s' must be an integer", dif_config_path(cfg),
                    where);
  json_int_t n = json_integer_value(v);
  if (n < 1 || n > DIF_CLIP_PREPROCESS_MAX_SIZE)
    return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: key '%s' = %lld is outside 1..%d",
                    dif_config_path(cfg), where, (long long)n, DIF_CLIP_PREPROCESS_MAX_SIZE);
  *out = (int)n;
  return DIF_OK;
}

/* transformers' get_size_dict: an integer is {"shortest_edge": n} for size
 * (default_to_square false) and {"height": n, "width": n} for crop_size; a
 * two-item list is (height, width); a dict must hold shortest_edge (size
 * only) or height and width, nothing else. *edge = 0 for height/width. */
static dif_status size_key(const dif_config *cfg, const char *key, bool square, int *edge, int *h,
                           int *w, dif_error *err) {
  json_t *v = json_object_get(dif_config_json(cfg), key);
  if (!v || json_is_null(v)) return DIF_OK; /* keep the default */
  dif_status s;
  *edge = *h = *w = 0;
  if (json_is_integer(v)) {
    if (square) {
      if ((s = size_value(cfg, key, NULL, v, h, err))) return s;
      *w = *h;
      return DIF_OK;
    }
    return size_value(cfg, key, NULL, v, edge, err);
  }
  if (json_is_array(v) && json_array_size(v) == 2) {
    if ((s = size_value(cfg, key, "0", json_array_get(v, 0), h, err))) return s;
    return size_value(cfg, key, "1", json_array_get(v, 1), w, err);
  }
  if (!json_is_object(v))
    return bad(cfg, DIF_ERR_BAD_MODEL, key, "must be an integer, [height, width] or an object",
               err);
  const char *k;
  json_t *x;
  json_object_foreach(v, k, x) {
    if (!square && strcmp(k, "shortest_edge") == 0) {
      if ((s = size_value(cfg, key, k, x, edge, err))) return s;
    } else if (strcmp(k, "height") == 0) {
      if ((s = size_value(cfg, key, k, x, h, err))) return s;
    } else if (strcmp(k, "width") == 0) {
      if ((s = size_value(cfg, key, k, x, w, err))) return s;
    } else {
      return dif_fail(err, DIF_ERR_UNSUPPORTED, "%s: key '%s' has '%s' (libdif implements %s)",
                      dif_config_path(cfg), key, k,
                      square ? "height and width" : "shortest_edge, or height and width");
    }
  }
  bool hw = *h && *w;
  if ((*edge && (*h || *w)) || (!*edge && !hw))
    return bad(cfg, DIF_ERR_UNSUPPORTED, key,
               square ? "must give both height and width"
                      : "must give shortest_edge alone, or height and width",
               err);
  return DIF_OK;
}

/* image_mean / image_std: a number (every channel) or a list of 3. */
static dif_status channel_values(const dif_config *cfg, const char *key, double out[3],
                                 bool nonzero, dif_error *err) {
  json_t *v = json_object_get(dif_config_json(cfg), key);
  if (!v || json_is_null(v)) return DIF_OK;
  double x[3];
  if (json_is_number(v)) {
    x[0] = x[1] = x[2] = json_number_value(v);
  } else if (json_is_array(v) && json_array_size(v) == 3) {
    for (size_t i = 0; i < 3; i++) {
      json_t *e = json_array_get(v, i);
      if (!json_is_number(e)) return bad(cfg, DIF_ERR_BAD_MODEL, key, "must hold numbers", err);
      x[i] = json_number_value(e);
    }
  } else {
    return bad(cfg, DIF_ERR_BAD_MODEL, key, "must be a number or a list of 3 numbers (RGB)", err);
  }
  for (int i = 0; i < 3; i++) {
    /* transformers computes in float32: the value must be a finite float32 */
    float f = (float)x[i];
    if (!isfinite(x[i]) || !isfinite(f) || (nonzero && f == 0.0f))
      return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: key '%s' has %g%s", dif_config_path(cfg), key,
                      x[i], nonzero ? " (must be a non-zero float32)" : " (must be a float32)");
    out[i] = x[i];
  }
  return DIF_OK;
}

dif_status dif_clip_preprocess_from_config(const dif_config *cfg, dif_clip_preprocess *p,
                                           dif_error *err) {
  static const char *const handled[] = {
      "do_resize", "size", "resample", "do_center_crop", "crop_size", "do_rescale",
      "rescale_factor", "do_normalize", "image_mean", "image_std", "do_convert_rgb",
      /* which Python class reads the file: diffusers takes it from
       * model_index.json, so these have no effect */
      "feature_extractor_type", "image_processor_type", "processor_class", NULL};
  static const dif_fixed_key fixed[] = {{NULL, NULL}};
  dif_clip_preprocess_defaults(p);
  dif_status s = dif_config_check_keys(cfg, fixed, handled, err);
  if (s) return s;
  if ((s = dif_config_bool_opt(cfg, "do_resize", true, &p->do_resize, err)) ||
      (s = dif_config_bool_opt(cfg, "do_center_crop", true, &p->do_center_crop, err)) ||
      (s = dif_config_bool_opt(cfg, "do_rescale", true, &p->do_rescale, err)) ||
      (s = dif_config_bool_opt(cfg, "do_normalize", true, &p->do_normalize, err)) ||
      (s = dif_config_bool_opt(cfg, "do_convert_rgb", true, &p->do_convert_rgb, err)))
    return s;
  int unused = 0;
  if ((s = size_key(cfg, "size", false, &p->shortest_edge, &p->resize_h, &p->resize_w, err)) ||
      (s = size_key(cfg, "crop_size", true, &unused, &p->crop_h, &p->crop_w, err)))
    return s;
  int64_t r;
  if ((s = dif_config_int_opt(cfg, "resample", DIF_RESAMPLE_BICUBIC, &r, err))) return s;
  const char *name = r >= INT_MIN && r <= INT_MAX ? dif_resample_name((int)r) : NULL;
  if (!name)
    return dif_fail(err, DIF_ERR_BAD_MODEL,
                    "%s: key 'resample' = %lld is not a PIL resampling filter (0..5)",
                    dif_config_path(cfg), (long long)r);
  if (!dif_resample_supported((int)r))
    return dif_fail(err, DIF_ERR_UNSUPPORTED,
                    "%s: key 'resample' = %lld (%s) is not supported (libdif implements 1 "
                    "LANCZOS, 2 BILINEAR, 3 BICUBIC, 4 BOX)",
                    dif_config_path(cfg), (long long)r, name);
  p->resample = (int)r;
  if ((s = dif_config_num_opt(cfg, "rescale_factor", 1.0 / 255.0, &p->rescale_factor, err)))
    return s;
  if (!isfinite(p->rescale_factor))
    return bad(cfg, DIF_ERR_BAD_MODEL, "rescale_factor", "must be finite", err);
  if ((s = channel_values(cfg, "image_mean", p->mean, false, err)) ||
      (s = channel_values(cfg, "image_std", p->std, true, err)))
    return s;
  return DIF_OK;
}

dif_status dif_clip_preprocess_load(const char *dir, dif_clip_preprocess *p, dif_error *err) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/preprocessor_config.json", dir) >= (int)sizeof path)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "path too long: %s", dir);
  dif_config *cfg;
  dif_status s = dif_config_load(path, &cfg, err);
  if (s) return s;
  s = dif_clip_preprocess_from_config(cfg, p, err);
  dif_config_free(cfg);
  return s;
}

/* The size after step 1. */
static dif_status resized_size(const dif_clip_preprocess *p, int width, int height, int *rw,
                               int *rh, dif_error *err) {
  if (width <= 0 || height <= 0)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "CLIP preprocess: image size %dx%d", width,
                    height);
  if (!p->do_resize) {
    *rw = width;
    *rh = height;
  } else if (p->shortest_edge > 0) {
    /* transformers get_resize_output_image_size(default_to_square=False):
     * int(size * long / short), a correctly rounded double truncated. */
    int shrt = width <= height ? width : height, lng = width <= height ? height : width;
    double nl = (double)((int64_t)p->shortest_edge * lng) / shrt;
    if (nl > (double)INT_MAX / 4)
      return dif_fail(err, DIF_ERR_LIMIT,
                      "CLIP preprocess: a %dx%d image resized to a shortest edge of %d is too long",
                      width, height, p->shortest_edge);
    int new_long = (int)nl;
    *rw = width <= height ? p->shortest_edge : new_long;
    *rh = width <= height ? new_long : p->shortest_edge;
  } else {
    *rw = p->resize_w;
    *rh = p->resize_h;
  }
  return DIF_OK;
}

/* The resized size and the crop window inside it. */
static dif_status plan(const dif_clip_preprocess *p, int width, int height, int *rw, int *rh,
                       int *x0, int *y0, int *cw, int *ch, dif_error *err) {
  dif_status s = resized_size(p, width, height, rw, rh, err);
  if (s) return s;
  if (!p->do_center_crop) {
    *x0 = *y0 = 0;
    *cw = *rw;
    *ch = *rh;
    return DIF_OK;
  }
  if (p->crop_w > *rw || p->crop_h > *rh)
    return dif_fail(err, DIF_ERR_UNSUPPORTED,
                    "CLIP preprocess: center crop %dx%d is larger than the %dx%d image after "
                    "resizing (transformers would pad with zeros; libdif does not)",
                    p->crop_w, p->crop_h, *rw, *rh);
  *cw = p->crop_w;
  *ch = p->crop_h;
  *x0 = (*rw - *cw) / 2; /* both >= 0: Python's // */
  *y0 = (*rh - *ch) / 2;
  return DIF_OK;
}

dif_status dif_clip_preprocess_output_size(const dif_clip_preprocess *p, int width, int height,
                                           int *out_w, int *out_h, dif_error *err) {
  int rw = 0, rh = 0, x0 = 0, y0 = 0;
  return plan(p, width, height, &rw, &rh, &x0, &y0, out_w, out_h, err);
}

dif_status dif_clip_preprocess_resize_crop(const dif_clip_preprocess *p, const dif_image *img,
                                           const dif_image_limits *limits, dif_image *out,
                                           dif_error *err) {
  *out = (dif_image){0};
  if (!img || !img->rgb)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "CLIP preprocess: no image");
  int rw = 0, rh = 0, x0 = 0, y0 = 0, cw = 0, ch = 0;
  dif_status s = plan(p, img->width, img->height, &rw, &rh, &x0, &y0, &cw, &ch, err);
  if (s) return s;
  /* Without do_resize, rw x rh is the input size: both passes are skipped
   * and this is a plain crop. */
  return dif_image_resize_window(img, rw, rh, x0, y0, cw, ch, p->resample, limits, out, err);
}

void dif_clip_preprocess_pixels(const dif_clip_preprocess *p, const dif_image *img, float *out) {
  size_t n = (size_t)img->width * (size_t)img->height;
  for (int c = 0; c < 3; c++) {
    /* Every uint8 value's result, computed as numpy does it. */
    float lut[256];
    const float mean = (float)p->mean[c], std = (float)p->std[c];
    for (int v = 0; v < 256; v++) {
      /* rescale: image.astype(float64) * scale, then .astype(float32) */
      float x = p->do_rescale ? (float)((double)v * p->rescale_factor) : (float)v;
      /* normalize: float32 image, float32 mean and std */
      lut[v] = p->do_normalize ? (x - mean) / std : x;
    }
    float *o = out + (size_t)c * n;
    for (size_t i = 0; i < n; i++) o[i] = lut[img->rgb[3 * i + (size_t)c]];
  }
}

dif_status dif_clip_preprocess_image(const dif_clip_preprocess *p, const dif_image *img, float *out,
                                     size_t cap, int *out_w, int *out_h, dif_error *err) {
  int w = 0, h = 0;
  dif_status s = img && img->rgb
                     ? dif_clip_preprocess_output_size(p, img->width, img->height, &w, &h, err)
                     : dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "CLIP preprocess: no image");
  if (s) return s;
  size_t need = (size_t)3 * (size_t)w * (size_t)h;
  if (!out || cap < need)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "CLIP preprocess: output holds %zu floats, %zu needed (3x%dx%d)", cap, need, h,
                    w);
  dif_image crop;
  if ((s = dif_clip_preprocess_resize_crop(p, img, NULL, &crop, err))) return s;
  dif_clip_preprocess_pixels(p, &crop, out);
  dif_image_free(&crop);
  if (out_w) *out_w = w;
  if (out_h) *out_h = h;
  return DIF_OK;
}

dif_status dif_clip_preprocess_file(const dif_clip_preprocess *p, const char *path,
                                    const dif_image_limits *limits, float *out, size_t cap,
                                    int *out_w, int *out_h, dif_error *err) {
  dif_image img;
  dif_status s = dif_image_load(path, limits, &img, err);
  if (s) return s;
  s = dif_clip_preprocess_image(p, &img, out, cap, out_w, out_h, err);
  if (s) dif_error_prefix(err, "%s", path);
  dif_image_free(&img);
  return s;
}
