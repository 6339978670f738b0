/* parameters.c — the generation record stored in PNGs ("dif:parameters"),
 * read back to reproduce an image: dif_read_png_parameters,
 * dif_prompt_from_parameters, dif_sample_apply_parameters. Applying goes
 * through the public setters, so a record is checked like any other input. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/context.h"
#include "api/prompt.h"
#include "api/sample.h"
#include "io/fileio.h"
#include "io/image.h"

DIF_API dif_status dif_read_png_parameters(const char *path, char *buf, size_t *size) {
  if (!path || !size)
    return dif_thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_read_png_parameters: %s is NULL",
                           path ? "size" : "path");
  char *text = NULL;
  dif_error err = {0};
  if (dif_png_read_text(path, "dif:parameters", &text, &err))
    return dif_thread_fail(err.status, "%s", err.msg);
  size_t need = strlen(text) + 1;
  dif_status s = DIF_OK;
  if (buf && *size < need)
    s = dif_thread_fail(DIF_ERR_INVALID_ARGUMENT,
                        "dif_read_png_parameters: the buffer holds %zu bytes, %zu needed", *size,
                        need);
  else if (buf)
    memcpy(buf, text, need);
  *size = need;
  free(text);
  if (!s) dif_thread_ok();
  return s;
}

static json_t *parse(const char *json, char *why, size_t n) {
  json_error_t je;
  json_t *o = json ? json_loads(json, 0, &je) : NULL;
  if (!json)
    snprintf(why, n, "json is NULL");
  else if (!o)
    snprintf(why, n, "not JSON: %s (line %d)", je.text, je.line);
  else if (!json_is_object(o))
    snprintf(why, n, "not a JSON object");
  if (o && !json_is_object(o)) {
    json_decref(o);
    o = NULL;
  }
  return o;
}

DIF_API dif_status dif_prompt_from_parameters(const char *json, dif_prompt **out) {
  if (!out)
    return dif_thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_prompt_from_parameters: out is NULL");
  *out = NULL;
  char why[256];
  json_t *o = parse(json, why, sizeof why);
  if (!o) return dif_thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_prompt_from_parameters: %s", why);
  json_t *parts = json_object_get(o, "prompt");
  dif_prompt *p = NULL;
  dif_status s = json_is_array(parts)
                     ? dif_prompt_new(&p)
                     : dif_thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_prompt_from_parameters: no "
                                                                 "\"prompt\" list");
  size_t i;
  json_t *part;
  json_array_foreach(parts, i, part) {
    if (s) break;
    json_t *text = json_object_get(part, "text"), *image = json_object_get(part, "image");
    float w = (float)json_number_value(json_object_get(part, "weight"));
    if (json_is_string(text)) {
      s = dif_prompt_add_text(p, json_string_value(text), w);
    } else if (json_is_string(image)) {
      if (strcmp(json_string_value(image), "pixels") == 0)
        s = dif_thread_fail(DIF_ERR_UNSUPPORTED,
                            "dif_prompt_from_parameters: image part %zu was given as pixels, "
                            "which the record cannot restore",
                            i);
      else
        s = dif_prompt_add_image_file(p, json_string_value(image), w);
    } else {
      s = dif_thread_fail(DIF_ERR_INVALID_ARGUMENT,
                          "dif_prompt_from_parameters: part %zu has neither text nor image", i);
    }
    if (s && p && *dif_prompt_last_error(p))
      dif_thread_fail(s, "dif_prompt_from_parameters: part %zu: %s", i, dif_prompt_last_error(p));
  }
  json_t *neg = json_object_get(o, "negative");
  if (!s && json_is_string(neg)) s = dif_prompt_set_negative(p, json_string_value(neg));
  json_decref(o);
  if (s) {
    dif_prompt_free(p);
    return s;
  }
  *out = p;
  dif_thread_ok();
  return DIF_OK;
}

static int has(json_t *o, const char *key) { return json_object_get(o, key) != NULL; }
static int32_t int_of(json_t *o, const char *key) {
  return (int32_t)json_integer_value(json_object_get(o, key));
}
static float num_of(json_t *o, const char *key) {
  return (float)json_number_value(json_object_get(o, key));
}

DIF_API dif_status dif_sample_apply_parameters(dif_sample *s, const char *json) {
  if (!s)
    return dif_thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_sample_apply_parameters: sample is NULL");
  char why[256];
  json_t *o = parse(json, why, sizeof why);
  if (!o)
    return dif_sample_fail(s, DIF_ERR_INVALID_ARGUMENT, "dif_sample_apply_parameters: %s", why);
  dif_status st = DIF_OK;
  if (!st && has(o, "width")) st = dif_sample_set_size(s, int_of(o, "width"), int_of(o, "height"));
  if (!st && has(o, "steps")) st = dif_sample_set_steps(s, int_of(o, "steps"));
  if (!st && has(o, "guidance")) st = dif_sample_set_guidance(s, num_of(o, "guidance"));
  if (!st && has(o, "prior_steps")) st = dif_sample_set_prior_steps(s, int_of(o, "prior_steps"));
  if (!st && has(o, "prior_guidance"))
    st = dif_sample_set_prior_guidance(s, num_of(o, "prior_guidance"));
  if (!st && has(o, "scheduler"))
    st = dif_sample_set_scheduler(s, json_string_value(json_object_get(o, "scheduler")));
  if (!st && has(o, "prior_scheduler"))
    st =
        dif_sample_set_prior_scheduler(s, json_string_value(json_object_get(o, "prior_scheduler")));
  if (!st && has(o, "batch")) st = dif_sample_set_batch(s, int_of(o, "batch"));
  if (!st && has(o, "noise_level")) st = dif_sample_set_noise_level(s, int_of(o, "noise_level"));
  const char *blend = json_string_value(json_object_get(o, "blend"));
  if (!st && blend)
    st = dif_sample_set_blend(s, strcmp(blend, "slerp") == 0 ? DIF_BLEND_SLERP : DIF_BLEND_SUM);
  if (!st) { /* the exact 64-bit seed is in seed_u64 (JSON numbers are signed) */
    const char *u = json_string_value(json_object_get(o, "seed_u64"));
    if (u)
      st = dif_sample_set_seed(s, strtoull(u, NULL, 10));
    else if (has(o, "seed"))
      st = dif_sample_set_seed(s, (uint64_t)json_integer_value(json_object_get(o, "seed")));
  }
  json_t *init = json_object_get(o, "init_image");
  if (!st && json_is_object(init)) {
    const char *path = json_string_value(json_object_get(init, "image"));
    if (!path || strcmp(path, "pixels") == 0)
      st = dif_sample_fail(s, DIF_ERR_UNSUPPORTED,
                           "dif_sample_apply_parameters: the init image was given as pixels");
    else
      st = dif_sample_set_init_image_file(s, path, num_of(init, "strength"));
  }
  json_decref(o);
  return st;
}

DIF_API dif_status dif_write_png(const char *path, const uint8_t *rgb, int32_t width,
                                 int32_t height, int32_t stride, const char *parameters) {
  if (!path) return dif_thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_write_png: path is NULL");
  dif_image img;
  dif_error err = {0};
  dif_status s = dif_image_from_rgb(rgb, width, height, stride, &img, &err);
  dif_image_text text = {"dif:parameters", parameters};
  if (!s) s = dif_image_save_png(&img, path, parameters ? &text : NULL, parameters ? 1 : 0, &err);
  dif_image_free(&img);
  if (s) return dif_thread_fail(s, "dif_write_png: %s", err.msg);
  dif_thread_ok();
  return DIF_OK;
}

DIF_API dif_status dif_check_output_path(const char *path) {
  dif_error err = {0};
  dif_status s = dif_file_check_output(path, &err);
  if (s) return dif_thread_fail(s, "dif_check_output_path: %s", err.msg);
  dif_thread_ok();
  return DIF_OK;
}
