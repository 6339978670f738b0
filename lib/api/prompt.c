/* prompt.c — dif_prompt: weighted text and image parts, a negative text. */
#include "api/prompt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/context.h"
#include "text/utf8.h"

static dif_status pfail(dif_prompt *p, dif_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static dif_status pfail(dif_prompt *p, dif_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->last_error, sizeof p->last_error, fmt, ap);
  va_end(ap);
  return st;
}

static dif_status pfail_err(dif_prompt *p, const dif__error *e) {
  snprintf(p->last_error, sizeof p->last_error, "%s", e->msg);
  return e->status;
}

DIF_API dif_status dif_prompt_new(dif_prompt **out) {
  if (!out) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_prompt_new: out is NULL");
  *out = calloc(1, sizeof **out);
  if (!*out)
    return dif__thread_fail(DIF_ERR_OUT_OF_MEMORY, "dif_prompt_new: out of memory (%zu bytes)",
                            sizeof **out);
  return DIF_OK;
}

static void free_part(dif__prompt_part *part) {
  free(part->text);
  free(part->source);
  dif__image_free(&part->image);
  memset(part, 0, sizeof *part);
}

DIF_API void dif_prompt_free(dif_prompt *p) {
  if (!p) return;
  for (int i = 0; i < p->n_parts; i++) free_part(&p->parts[i]);
  free(p->negative);
  free(p);
}

static dif_status check_part(dif_prompt *p, const char *fn, float weight) {
  if (p->n_parts >= DIF_MAX_PROMPT_PARTS)
    return pfail(p, DIF_ERR_LIMIT, "%s: a prompt has at most DIF_MAX_PROMPT_PARTS (%d) parts", fn,
                 DIF_MAX_PROMPT_PARTS);
  if (!isfinite(weight) || weight == 0.0f)
    return pfail(p, DIF_ERR_INVALID_ARGUMENT, "%s: weight %g must be finite and non-zero", fn,
                 (double)weight);
  return DIF_OK;
}

DIF_API dif_status dif_prompt_add_text(dif_prompt *p, const char *text, float weight) {
  if (!p) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_prompt_add_text: prompt is NULL");
  if (!text) return pfail(p, DIF_ERR_INVALID_ARGUMENT, "dif_prompt_add_text: text is NULL");
  dif_status s = check_part(p, "dif_prompt_add_text", weight);
  if (s) return s;
  size_t off;
  if (!dif__utf8_valid(text, strlen(text), &off, NULL))
    return pfail(p, DIF_ERR_INVALID_ARGUMENT,
                 "dif_prompt_add_text: text is not valid UTF-8 (byte offset %zu)", off);
  dif__prompt_part *part = &p->parts[p->n_parts];
  if (!(part->text = strdup(text)))
    return pfail(p, DIF_ERR_OUT_OF_MEMORY, "dif_prompt_add_text: out of memory");
  part->kind = DIF__PART_TEXT;
  part->weight = weight;
  p->n_parts++;
  p->last_error[0] = '\0';
  return DIF_OK;
}

static dif__image_limits limits(void) {
  dif__image_limits l = {DIF_MAX_IMAGE_SIDE, DIF_MAX_IMAGE_SIDE, DIF_MAX_IMAGE_PIXELS, 0};
  return l;
}

dif_status dif__prompt_add_decoded(dif_prompt *p, const char *fn, dif__image *img,
                                   const char *source, uint64_t xxh3, float weight) {
  dif_status s = check_part(p, fn, weight);
  if (s) {
    dif__image_free(img);
    return s;
  }
  dif__prompt_part *part = &p->parts[p->n_parts];
  char *abs = realpath(source, NULL); /* the record names it relative to where it is saved */
  part->source = abs ? abs : strdup(source);
  part->image = *img;
  memset(img, 0, sizeof *img);
  if (!part->source) {
    free_part(part);
    return pfail(p, DIF_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  }
  part->kind = DIF__PART_IMAGE;
  part->xxh3 = xxh3;
  part->weight = weight;
  p->n_parts++;
  p->last_error[0] = '\0';
  return DIF_OK;
}

DIF_API dif_status dif_prompt_add_image_file(dif_prompt *p, const char *path, float weight) {
  if (!p)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_prompt_add_image_file: prompt is NULL");
  if (!path) return pfail(p, DIF_ERR_INVALID_ARGUMENT, "dif_prompt_add_image_file: path is NULL");
  dif_status s = check_part(p, "dif_prompt_add_image_file", weight);
  if (s) return s;
  dif__image img;
  uint64_t xxh3;
  dif__error e = {0};
  dif__image_limits l = limits();
  if ((s = dif__image_load_hashed(path, &l, NULL, &xxh3, &img, &e))) return pfail_err(p, &e);
  return dif__prompt_add_decoded(p, "dif_prompt_add_image_file", &img, path, xxh3, weight);
}

dif_status dif__image_check_rgb(const uint8_t *rgb, int32_t width, int32_t height, int32_t stride,
                                dif__error *err) {
  if (!rgb) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "pixels are NULL");
  if (width < 1 || height < 1)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "image size %dx%d is empty (width and height must be positive)", width,
                     height);
  if (width > DIF_MAX_IMAGE_SIDE || height > DIF_MAX_IMAGE_SIDE ||
      (uint64_t)width * (uint64_t)height > DIF_MAX_IMAGE_PIXELS)
    return dif__fail(err, DIF_ERR_LIMIT,
                     "image size %dx%d exceeds the limits (DIF_MAX_IMAGE_SIDE %d, "
                     "DIF_MAX_IMAGE_PIXELS %u)",
                     width, height, DIF_MAX_IMAGE_SIDE, DIF_MAX_IMAGE_PIXELS);
  if (stride < 3 * width)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "stride %d is less than 3 x width (%d)", stride,
                     3 * width);
  return DIF_OK;
}

dif_status dif__image_from_rgb(const uint8_t *rgb, int32_t width, int32_t height, int32_t stride,
                               dif__image *out, dif__error *err) {
  memset(out, 0, sizeof *out);
  dif_status s = dif__image_check_rgb(rgb, width, height, stride, err);
  if (s) return s;
  s = dif__image_alloc(out, width, height, NULL, err);
  if (s) return s;
  for (int32_t y = 0; y < height; y++)
    memcpy(out->rgb + (size_t)y * (size_t)width * 3, rgb + (size_t)y * (size_t)stride,
           (size_t)width * 3);
  return DIF_OK;
}

DIF_API dif_status dif_prompt_add_image_rgb(dif_prompt *p, const uint8_t *rgb, int32_t width,
                                            int32_t height, int32_t stride, float weight) {
  if (!p)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_prompt_add_image_rgb: prompt is NULL");
  dif_status s = check_part(p, "dif_prompt_add_image_rgb", weight);
  if (s) return s;
  dif__prompt_part *part = &p->parts[p->n_parts];
  dif__error e = {0};
  if ((s = dif__image_from_rgb(rgb, width, height, stride, &part->image, &e))) {
    dif__error_prefix(&e, "dif_prompt_add_image_rgb");
    return pfail_err(p, &e);
  }
  if (!(part->source = strdup("pixels"))) {
    free_part(part);
    return pfail(p, DIF_ERR_OUT_OF_MEMORY, "dif_prompt_add_image_rgb: out of memory");
  }
  part->kind = DIF__PART_IMAGE;
  part->weight = weight;
  p->n_parts++;
  p->last_error[0] = '\0';
  return DIF_OK;
}

DIF_API dif_status dif_prompt_set_negative(dif_prompt *p, const char *text) {
  if (!p)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_prompt_set_negative: prompt is NULL");
  size_t off;
  if (text && !dif__utf8_valid(text, strlen(text), &off, NULL))
    return pfail(p, DIF_ERR_INVALID_ARGUMENT,
                 "dif_prompt_set_negative: text is not valid UTF-8 (byte offset %zu)", off);
  char *copy = NULL;
  if (text && *text && !(copy = strdup(text)))
    return pfail(p, DIF_ERR_OUT_OF_MEMORY, "dif_prompt_set_negative: out of memory");
  free(p->negative);
  p->negative = copy;
  p->last_error[0] = '\0';
  return DIF_OK;
}

DIF_API int32_t dif_prompt_part_count(const dif_prompt *p) { return p ? p->n_parts : 0; }

DIF_API const char *dif_prompt_last_error(const dif_prompt *p) {
  return p ? p->last_error : dif_last_error();
}

dif_status dif__prompt_copy(const dif_prompt *src, dif_prompt **out, dif__error *err) {
  dif_prompt *p = calloc(1, sizeof *p);
  if (!p) return dif__fail_oom(err, "prompt copy", sizeof *p);
  for (int i = 0; i < src->n_parts; i++) {
    const dif__prompt_part *a = &src->parts[i];
    dif__prompt_part *b = &p->parts[i];
    b->kind = a->kind;
    b->weight = a->weight;
    b->xxh3 = a->xxh3;
    int ok = (!a->text || (b->text = strdup(a->text))) &&
             (!a->source || (b->source = strdup(a->source)));
    if (ok && a->image.rgb) {
      ok = dif__image_alloc(&b->image, a->image.width, a->image.height, NULL, err) == DIF_OK;
      if (ok)
        memcpy(b->image.rgb, a->image.rgb, (size_t)a->image.width * (size_t)a->image.height * 3);
    }
    p->n_parts = i + 1;
    if (!ok) {
      dif_prompt_free(p);
      return dif__fail_oom(err, "prompt copy", 0);
    }
  }
  if (src->negative && !(p->negative = strdup(src->negative))) {
    dif_prompt_free(p);
    return dif__fail_oom(err, "prompt copy", 0);
  }
  *out = p;
  return DIF_OK;
}
