/* edit.c — the mask and edit setters of dif_sample (dif.h: masked
 * generation and the editing tools), and what a run makes of them. */
#include "api/edit.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/context.h"
#include "api/prompt.h"
#include "api/record.h"
#include "api/sample.h"
#include "pipelines/upscale_edit.h"

void dif_sample_edit_free(dif_sample_edit *e) {
  dif_image_free(&e->mask);
  free(e->mask_source);
  memset(e, 0, sizeof *e);
}

/* The common start of every setter: NULL, running. */
static dif_status usable(dif_sample *s, const char *fn) {
  if (!s) return dif_thread_fail(DIF_ERR_INVALID_ARGUMENT, "%s: sample is NULL", fn);
  if (dif_sample_running(s))
    return dif_sample_fail(s, DIF_ERR_BUSY, "%s: the sample is running", fn);
  return DIF_OK;
}

static dif_status done(dif_sample *s) { return dif_sample_fail(s, DIF_OK, "%s", ""); }

dif_status dif_sample_set_mask_decoded(dif_sample *s, const char *fn, dif_image *img,
                                       const char *source, uint64_t xxh3) {
  if (dif_sample_running(s)) {
    dif_image_free(img);
    return dif_sample_fail(s, DIF_ERR_BUSY, "%s: the sample is running", fn);
  }
  char *src = strdup(source);
  if (!src) {
    dif_image_free(img);
    return dif_sample_fail(s, DIF_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  }
  dif_sample_edit *e = dif_sample_edit_of(s);
  dif_sample_edit_free(e);
  e->mask_kind = MASK_IMAGE;
  e->mask = *img;
  e->mask_source = src;
  e->mask_xxh3 = xxh3;
  return done(s);
}

DIF_API dif_status dif_sample_set_mask_file(dif_sample *s, const char *path) {
  dif_status st = usable(s, "dif_sample_set_mask_file");
  if (st) return st;
  if (!path) {
    dif_sample_edit *e = dif_sample_edit_of(s);
    if (e->mask_kind != MASK_NONE) {
      dif_sample_edit_free(e);
    }
    return done(s);
  }
  dif_image img;
  uint64_t xxh3;
  dif_error err = {0};
  dif_image_limits l = {DIF_MAX_IMAGE_SIDE, DIF_MAX_IMAGE_SIDE, DIF_MAX_IMAGE_PIXELS, 0};
  if (dif_image_load_hashed(path, &l, NULL, &xxh3, &img, &err))
    return dif_sample_fail(s, err.status, "dif_sample_set_mask_file: %s", err.msg);
  char *abs = realpath(path, NULL);
  st = dif_sample_set_mask_decoded(s, "dif_sample_set_mask_file", &img, abs ? abs : path, xxh3);
  free(abs);
  return st;
}

DIF_API dif_status dif_sample_set_mask_rgb(dif_sample *s, const uint8_t *rgb, int32_t width,
                                           int32_t height, int32_t stride) {
  dif_status st = usable(s, "dif_sample_set_mask_rgb");
  if (st) return st;
  dif_image img;
  dif_error err = {0};
  if (dif_image_from_rgb(rgb, width, height, stride, &img, &err))
    return dif_sample_fail(s, err.status, "dif_sample_set_mask_rgb: %s", err.msg);
  return dif_sample_set_mask_decoded(s, "dif_sample_set_mask_rgb", &img, "pixels", 0);
}

DIF_API dif_status dif_sample_set_mask_rect(dif_sample *s, int32_t x, int32_t y, int32_t width,
                                            int32_t height) {
  dif_status st = usable(s, "dif_sample_set_mask_rect");
  if (st) return st;
  if (x < 0 || y < 0 || width < 1 || height < 1 || x > DIF_MAX_OUTPUT_SIDE ||
      y > DIF_MAX_OUTPUT_SIDE || width > DIF_MAX_OUTPUT_SIDE || height > DIF_MAX_OUTPUT_SIDE)
    return dif_sample_fail(s, DIF_ERR_INVALID_ARGUMENT,
                           "dif_sample_set_mask_rect: the rectangle %dx%d at (%d, %d) must have "
                           "x, y >= 0 and width, height >= 1, each at most %d",
                           width, height, x, y, DIF_MAX_OUTPUT_SIDE);
  dif_sample_edit *e = dif_sample_edit_of(s);
  dif_sample_edit_free(e);
  e->mask_kind = MASK_RECT;
  e->rect[0] = x;
  e->rect[1] = y;
  e->rect[2] = width;
  e->rect[3] = height;
  return done(s);
}

static dif_status set_op(dif_sample *s, const dif_edit *op) {
  dif_sample_edit *e = dif_sample_edit_of(s);
  dif_sample_edit_free(e);
  e->op = *op;
  return done(s);
}

DIF_API dif_status dif_sample_set_zoom_out(dif_sample *s, float factor) {
  dif_status st = usable(s, "dif_sample_set_zoom_out");
  if (st) return st;
  if (!(factor > 1.0f && factor <= (float)DIF_MAX_ZOOM_OUT))
    return dif_sample_fail(s, DIF_ERR_INVALID_ARGUMENT,
                           "dif_sample_set_zoom_out: factor %g must be in (1, %d]", (double)factor,
                           DIF_MAX_ZOOM_OUT);
  return set_op(s, &(dif_edit){.op = DIF_EDIT_ZOOM_OUT, .factor = factor});
}

DIF_API dif_status dif_sample_set_make_square(dif_sample *s) {
  dif_status st = usable(s, "dif_sample_set_make_square");
  if (st) return st;
  return set_op(s, &(dif_edit){.op = DIF_EDIT_SQUARE});
}

DIF_API dif_status dif_sample_set_pan(dif_sample *s, dif_direction direction, float amount) {
  dif_status st = usable(s, "dif_sample_set_pan");
  if (st) return st;
  if (direction < DIF_DIRECTION_LEFT || direction > DIF_DIRECTION_DOWN)
    return dif_sample_fail(s, DIF_ERR_INVALID_ARGUMENT,
                           "dif_sample_set_pan: unknown direction %d (DIF_DIRECTION_LEFT, _RIGHT, "
                           "_UP or _DOWN)",
                           (int)direction);
  if (!(amount > 0.0f && amount <= 1.0f))
    return dif_sample_fail(s, DIF_ERR_INVALID_ARGUMENT,
                           "dif_sample_set_pan: amount %g must be in (0, 1] (a fraction of the "
                           "picture)",
                           (double)amount);
  return set_op(s,
                &(dif_edit){.op = DIF_EDIT_PAN, .dir = (dif_edit_dir)direction, .amount = amount});
}

DIF_API dif_status dif_sample_set_upscale(dif_sample *s, float factor, dif_upscale_mode mode) {
  dif_status st = usable(s, "dif_sample_set_upscale");
  if (st) return st;
  if (mode != DIF_UPSCALE_SUBTLE && mode != DIF_UPSCALE_CREATIVE)
    return dif_sample_fail(s, DIF_ERR_INVALID_ARGUMENT,
                           "dif_sample_set_upscale: unknown mode %d (DIF_UPSCALE_SUBTLE or "
                           "DIF_UPSCALE_CREATIVE)",
                           (int)mode);
  if (!(factor > 1.0f && factor <= (float)DIF_MAX_UPSCALE))
    return dif_sample_fail(s, DIF_ERR_INVALID_ARGUMENT,
                           "dif_sample_set_upscale: factor %g must be in (1, %d]", (double)factor,
                           DIF_MAX_UPSCALE);
  return set_op(s, &(dif_edit){.op = DIF_EDIT_UPSCALE,
                               .factor = factor,
                               .creative = mode == DIF_UPSCALE_CREATIVE});
}

DIF_API dif_status dif_sample_clear_edit(dif_sample *s) {
  dif_status st = usable(s, "dif_sample_clear_edit");
  if (st) return st;
  dif_sample_edit *e = dif_sample_edit_of(s);
  if (e->op.op != DIF_EDIT_NONE) dif_sample_edit_free(e);
  return done(s);
}

/* Upscale: on an x4 upscaler its own pipeline (the factor must be the
 * VAE's; Creative noises the low-res picture more), else the picture
 * resized and img2img at the mode's strength. */
static dif_status prepare_upscale(const dif_edit *op, const dif_image *pic, int vae_scale, bool x4,
                                  dif_image *canvas, dif_edit_overrides *ov, dif_error *err) {
  if (!x4) {
    ov->strength = dif_upscale_strength(op->creative);
    return dif_upscale_picture(pic, op->factor, canvas, err);
  }
  if (op->factor != (float)vae_scale)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "upscale factor %g: an x4 upscaler model upscales by %d only",
                    (double)op->factor, vae_scale);
  ov->noise_level = op->creative ? DIF_UPSCALE_X4_CREATIVE_NOISE : DIF_UPSCALE_X4_SUBTLE_NOISE;
  return DIF_OK;
}

dif_status dif_sample_edit_prepare(const dif_sample_edit *e, const dif_image *pic, int vae_scale,
                                   bool x4, dif_image *canvas, float **mask, bool *soft,
                                   dif_edit_overrides *ov, dif_error *err) {
  memset(canvas, 0, sizeof *canvas);
  *mask = NULL;
  *soft = false;
  *ov = (dif_edit_overrides){-1.0f, -1};
  if (e->mask_kind == MASK_NONE && e->op.op == DIF_EDIT_NONE) return DIF_OK;
  if (!pic)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "%s needs an init image (dif_sample_set_init_image_file or _rgb): the "
                    "picture to edit",
                    e->op.op != DIF_EDIT_NONE ? "an edit (zoom out, make square, pan, upscale)"
                                              : "a mask");
  if (e->op.op == DIF_EDIT_UPSCALE)
    return prepare_upscale(&e->op, pic, vae_scale, x4, canvas, ov, err);
  if (x4)
    return dif_fail(err, DIF_ERR_UNSUPPORTED,
                    "an x4 upscaler model only upscales: masks, zoom out, make square and pan "
                    "need another model");
  if (e->mask_kind == MASK_IMAGE)
    return dif_mask_from_image(&e->mask, pic->width, pic->height, "the mask", mask, err);
  if (e->mask_kind == MASK_RECT)
    return dif_mask_from_rect(e->rect[0], e->rect[1], e->rect[2], e->rect[3], pic->width,
                              pic->height, mask, err);
  int shorter = pic->width < pic->height ? pic->width : pic->height;
  int feather = shorter / 8 > 2 * vae_scale ? shorter / 8 : 2 * vae_scale;
  *soft = true;
  return dif_edit_canvas(&e->op, pic, feather, canvas, mask, err);
}

void dif_sample_edit_record(const dif_sample_edit *e, json_t *o, int32_t picture_width,
                            int32_t picture_height) {
  static const char *dirs[] = {"left", "right", "up", "down"};
  if (e->mask_kind == MASK_IMAGE) {
    json_t *m = json_pack("{s:s}", "image", dif_record_base_name(e->mask_source));
    if (strcmp(e->mask_source, "pixels") != 0)
      json_object_set_new(m, "xxh3", json_sprintf("%016llx", (unsigned long long)e->mask_xxh3));
    json_object_set_new(o, "mask", m);
  } else if (e->mask_kind == MASK_RECT) {
    json_object_set_new(
        o, "mask",
        json_pack("{s:[i,i,i,i]}", "rect", e->rect[0], e->rect[1], e->rect[2], e->rect[3]));
  }
  json_t *edit = NULL;
  if (e->op.op == DIF_EDIT_ZOOM_OUT)
    edit = json_pack("{s:s, s:f}", "op", "zoom_out", "factor", (double)e->op.factor);
  else if (e->op.op == DIF_EDIT_SQUARE)
    edit = json_pack("{s:s}", "op", "make_square");
  else if (e->op.op == DIF_EDIT_PAN)
    edit = json_pack("{s:s, s:s, s:f}", "op", "pan", "direction", dirs[e->op.dir], "amount",
                     (double)e->op.amount);
  else if (e->op.op == DIF_EDIT_UPSCALE)
    edit = json_pack("{s:s, s:f, s:s}", "op", "upscale", "factor", (double)e->op.factor, "mode",
                     e->op.creative ? "creative" : "subtle");
  if (!edit) return;
  json_object_set_new(edit, "width", json_integer(picture_width));
  json_object_set_new(edit, "height", json_integer(picture_height));
  json_object_set_new(o, "edit", edit);
}
