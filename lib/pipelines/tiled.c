/* tiled.c — img2img tile by tile, blended (tiled.h). */
#include "pipelines/tiled.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Tile starts along a side of n pixels: 0, step, 2·step, ..., n − t. */
static int starts(int n, int t, int step, int *out, int max) {
  if (n <= t) {
    out[0] = 0;
    return 1;
  }
  int k = 0;
  for (int x = 0; k < max; x += step) {
    out[k++] = x + t >= n ? n - t : x;
    if (x + t >= n) break;
  }
  return k;
}

/* The weight of pixel i of a tile of length t at start s of a side of n,
 * with the overlap ramp on each side that has a neighbour. */
static float ramp(int i, int s, int t, int n, int overlap) {
  float w = 1.0f;
  if (s > 0 && i < overlap) w = (float)(i + 1) / (float)(overlap + 1);
  if (s + t < n && t - 1 - i < overlap) {
    float v = (float)(t - i) / (float)(overlap + 1);
    w = v < w ? v : w;
  }
  return w;
}

typedef struct tiling {
  const dif_request *r;
  int n_tiles, done, total; /* steps over every tile */
  int tile_steps;
} tiling;

static int on_tile_step(void *user, int step, int total) {
  tiling *t = user;
  t->tile_steps = total;
  if (!t->total) t->total = total * t->n_tiles; /* every tile runs the same steps */
  return t->r->on_step ? t->r->on_step(t->r->step_user, t->done + step, t->total) : 0;
}

/* Crop [x0, x0 + w) × [y0, y0 + h) of img into crop. */
static void crop_rgb(const dif_image *img, int x0, int y0, int w, int h, dif_image *crop) {
  for (int y = 0; y < h; y++)
    memcpy(crop->rgb + (size_t)y * w * 3, img->rgb + ((size_t)(y0 + y) * img->width + x0) * 3,
           (size_t)w * 3);
}

/* Adds tile res (its images at (x0, y0)) into acc and wsum. */
static void accumulate(const dif_result *res, int x0, int y0, int W, int H, int overlap, float *acc,
                       float *wsum) {
  int tw = res->width, th = res->height;
  for (int b = 0; b < res->count; b++)
    for (int y = 0; y < th; y++)
      for (int x = 0; x < tw; x++) {
        float w = ramp(x, x0, tw, W, overlap) * ramp(y, y0, th, H, overlap);
        size_t o = ((size_t)b * H * W + (size_t)(y0 + y) * W + x0 + x);
        const uint8_t *p = res->rgb + ((size_t)b * th * tw + (size_t)y * tw + x) * 3;
        for (int c = 0; c < 3; c++) acc[o * 3 + c] += w * p[c];
        if (b == 0) wsum[(size_t)(y0 + y) * W + x0 + x] += w;
      }
}

dif_status dif_generate_tiled(const dif_models *m, const dif_kctx *k, const dif_request *r,
                              int tile, int overlap, dif_result *out, dif_error *err) {
  memset(out, 0, sizeof *out);
  int W = r->width, H = r->height, B = r->batch;
  if (!r->init_image || r->mask || tile < 8 || tile % 8 || overlap < 0 || overlap % 8 ||
      overlap >= tile || r->init_image->width != W || r->init_image->height != H)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "tiled img2img: needs an init image of the output's size (%dx%d), no mask, "
                    "and a tile (%d) and overlap (%d) that are multiples of 8 with overlap < tile",
                    W, H, tile, overlap);
  enum { MAX_TILES = 1 + DIF_MAX_OUTPUT_SIDE / 8 };
  int xs[MAX_TILES], ys[MAX_TILES];
  int nx = starts(W, tile, tile - overlap, xs, MAX_TILES),
      ny = starts(H, tile, tile - overlap, ys, MAX_TILES);
  int tw = W < tile ? W : tile, th = H < tile ? H : tile;
  size_t n = (size_t)B * H * W;
  float *acc = calloc(n * 3, sizeof *acc), *wsum = calloc((size_t)H * W, sizeof *wsum);
  dif_image crop = {tw, th, malloc((size_t)tw * th * 3), 1};
  out->rgb = malloc(n * 3);
  if (!acc || !wsum || !crop.rgb || !out->rgb) {
    free(acc);
    free(wsum);
    free(crop.rgb);
    free(out->rgb);
    out->rgb = NULL;
    return dif_fail_oom(err, "tiled img2img buffers", n * 16);
  }
  tiling t = {.r = r, .n_tiles = nx * ny};
  dif_request sub = *r;
  sub.width = tw;
  sub.height = th;
  sub.init_image = &crop;
  sub.trace = NULL;
  sub.on_step = on_tile_step;
  sub.step_user = &t;
  dif_status s = DIF_OK;
  for (int j = 0; j < ny && !s; j++)
    for (int i = 0; i < nx && !s; i++) {
      dif_result res;
      crop_rgb(r->init_image, xs[i], ys[j], tw, th, &crop);
      sub.seed = r->seed + (uint64_t)(j * nx + i);
      s = dif_generate(m, k, &sub, &res, err);
      if (s) break;
      t.done += t.tile_steps;
      accumulate(&res, xs[i], ys[j], W, H, overlap, acc, wsum);
      dif_result_free(&res);
    }
  for (size_t p = 0; !s && p < n; p++)
    for (int c = 0; c < 3; c++)
      out->rgb[p * 3 + c] = (uint8_t)lrintf(acc[p * 3 + c] / wsum[p % ((size_t)H * W)]);
  free(acc);
  free(wsum);
  free(crop.rgb);
  if (s) {
    free(out->rgb);
    out->rgb = NULL;
    return s;
  }
  out->count = B;
  out->width = W;
  out->height = H;
  return DIF_OK;
}
