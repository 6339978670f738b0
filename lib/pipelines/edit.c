/* edit.c — canvases and masks for the editing tools (edit.h). */
#include "pipelines/edit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/resample.h"

/* Where the picture goes: a cw × ch canvas, the picture scaled to iw × ih
 * at (x0, y0). */
typedef struct plan {
  int cw, ch, iw, ih, x0, y0;
} plan;

static int round8_up(double v) {
  int n = (int)ceil(v / 8.0 - 1e-9) * 8;
  return n < 8 ? 8 : n;
}

static dif_status plan_zoom(const dif_edit *e, int W, int H, plan *p, dif_error *err) {
  if (!(e->factor > 1.0f && e->factor <= 4.0f))
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "zoom out factor %g must be in (1, 4]",
                    (double)e->factor);
  int iw = (int)lround(W / (double)e->factor), ih = (int)lround(H / (double)e->factor);
  iw = iw < 1 ? 1 : iw;
  ih = ih < 1 ? 1 : ih;
  *p = (plan){W, H, iw, ih, (W - iw) / 2, (H - ih) / 2};
  return DIF_OK;
}

static dif_status plan_square(int W, int H, plan *p, dif_error *err) {
  if (W == H)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "make square: the picture is %dx%d, already square", W, H);
  int side = (int)floor(sqrt((double)W * H) / 8.0) * 8;
  double scale = side / (double)(W > H ? W : H);
  int iw = (int)lround(W * scale), ih = (int)lround(H * scale);
  iw = iw < 1 ? 1 : iw;
  ih = ih < 1 ? 1 : ih;
  *p = (plan){side, side, iw, ih, (side - iw) / 2, (side - ih) / 2};
  return DIF_OK;
}

static dif_status plan_pan(const dif_edit *e, int W, int H, plan *p, dif_error *err) {
  if (!(e->amount > 0.0f && e->amount <= 1.0f))
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "pan amount %g must be in (0, 1]",
                    (double)e->amount);
  bool horizontal = e->dir == DIF_EDIT_LEFT || e->dir == DIF_EDIT_RIGHT;
  int grow = round8_up((horizontal ? W : H) * (double)e->amount);
  *p = (plan){horizontal ? W + grow : W, horizontal ? H : H + grow, W, H, 0, 0};
  if (e->dir == DIF_EDIT_LEFT) p->x0 = grow;
  if (e->dir == DIF_EDIT_UP) p->y0 = grow;
  if (p->cw > DIF_MAX_OUTPUT_SIDE || p->ch > DIF_MAX_OUTPUT_SIDE)
    return dif_fail(err, DIF_ERR_LIMIT,
                    "pan: the canvas would be %dx%d, beyond DIF_MAX_OUTPUT_SIDE (%d) on a side",
                    p->cw, p->ch, DIF_MAX_OUTPUT_SIDE);
  return DIF_OK;
}

/* The mask at canvas pixel (x, y): 1 in new area; in the picture, a ramp
 * from 1 to 0 over `feather` pixels from each edge that meets new area. */
static float mask_at(const plan *p, int x, int y, int feather) {
  int rx = x - p->x0, ry = y - p->y0;
  if (rx < 0 || ry < 0 || rx >= p->iw || ry >= p->ih) return 1.0f;
  int d = feather;
  if (p->x0 > 0 && rx < d) d = rx;
  if (p->y0 > 0 && ry < d) d = ry;
  if (p->x0 + p->iw < p->cw && p->iw - 1 - rx < d) d = p->iw - 1 - rx;
  if (p->y0 + p->ih < p->ch && p->ih - 1 - ry < d) d = p->ih - 1 - ry;
  if (d >= feather) return 0.0f;
  return 1.0f - ((float)d + 0.5f) / (float)feather;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The canvas: the scaled picture, and around it its nearest edge pixels. */
static void paint(const plan *p, const dif_image *in, dif_image *canvas) {
  for (int y = 0; y < p->ch; y++)
    for (int x = 0; x < p->cw; x++) {
      int sx = clampi(x - p->x0, 0, p->iw - 1), sy = clampi(y - p->y0, 0, p->ih - 1);
      memcpy(canvas->rgb + ((size_t)y * p->cw + x) * 3, in->rgb + ((size_t)sy * p->iw + sx) * 3, 3);
    }
}

dif_status dif_edit_canvas(const dif_edit *e, const dif_image *pic, int feather, dif_image *canvas,
                           float **mask, dif_error *err) {
  memset(canvas, 0, sizeof *canvas);
  *mask = NULL;
  plan p = {0};
  dif_status s = e->op == DIF_EDIT_ZOOM_OUT ? plan_zoom(e, pic->width, pic->height, &p, err)
                 : e->op == DIF_EDIT_SQUARE ? plan_square(pic->width, pic->height, &p, err)
                 : e->op == DIF_EDIT_PAN
                     ? plan_pan(e, pic->width, pic->height, &p, err)
                     : dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "no edit to make a canvas for");
  if (s) return s;
  dif_image scaled = {0};
  const dif_image *in = pic;
  if (p.iw != pic->width || p.ih != pic->height) {
    if ((s = dif_image_resize(pic, p.iw, p.ih, DIF_RESAMPLE_LANCZOS, NULL, &scaled, err))) return s;
    in = &scaled;
  }
  size_t n = (size_t)p.cw * (size_t)p.ch;
  canvas->rgb = malloc(n * 3);
  *mask = malloc(n * sizeof **mask);
  if (!canvas->rgb || !*mask) {
    s = dif_fail_oom(err, "edit canvas", n * (3 + sizeof **mask));
    free(canvas->rgb);
    free(*mask);
    memset(canvas, 0, sizeof *canvas);
    *mask = NULL;
  } else {
    canvas->width = p.cw;
    canvas->height = p.ch;
    canvas->exif_orientation = 1;
    paint(&p, in, canvas);
    int f = feather < 1 ? 1 : feather;
    for (int y = 0; y < p.ch; y++)
      for (int x = 0; x < p.cw; x++) (*mask)[(size_t)y * p.cw + x] = mask_at(&p, x, y, f);
  }
  dif_image_free(&scaled);
  return s;
}

dif_status dif_mask_from_image(const dif_image *m, int width, int height, const char *what,
                               float **out, dif_error *err) {
  *out = NULL;
  dif_image scaled = {0};
  const dif_image *in = m;
  dif_status s = DIF_OK;
  if (m->width != width || m->height != height) {
    if ((s = dif_image_resize(m, width, height, DIF_RESAMPLE_LANCZOS, NULL, &scaled, err))) {
      dif_error_prefix(err, "%s", what);
      return s;
    }
    in = &scaled;
  }
  size_t n = (size_t)width * (size_t)height;
  float *v = malloc(n * sizeof *v);
  if (!v) s = dif_fail_oom(err, what, n * sizeof *v);
  for (size_t i = 0; v && i < n; i++) {
    const uint8_t *px = in->rgb + i * 3;
    uint32_t l =
        ((uint32_t)px[0] * 19595u + (uint32_t)px[1] * 38470u + (uint32_t)px[2] * 7471u + 0x8000u) >>
        16;
    v[i] = (float)l / 255.0f;
  }
  dif_image_free(&scaled);
  *out = v;
  return s;
}

dif_status dif_mask_from_rect(int x, int y, int w, int h, int width, int height, float **out,
                              dif_error *err) {
  *out = NULL;
  if (w < 1 || h < 1 || x < 0 || y < 0 || x > width - w || y > height - h)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "the mask rectangle %dx%d at (%d, %d) is not inside the %dx%d picture", w, h, x,
                    y, width, height);
  size_t n = (size_t)width * (size_t)height;
  float *v = calloc(n, sizeof *v);
  if (!v) return dif_fail_oom(err, "mask rectangle", n * sizeof *v);
  for (int r = y; r < y + h; r++)
    for (int c = x; c < x + w; c++) v[(size_t)r * width + c] = 1.0f;
  *out = v;
  return DIF_OK;
}
