/* vae_tiled.c — diffusers' AutoencoderKL.tiled_decode (see vae.h).
 *
 * diffusers (v0.26, autoencoder_kl.py):
 *   overlap_size = int(tile_latent_min_size · (1 - 0.25))
 *   blend_extent = int(tile_sample_min_size · 0.25)
 *   row_limit    = tile_sample_min_size - blend_extent
 *   tiles start every overlap_size latent pixels, each tile_latent_min_size
 *   (or up to the edge); decoded = decoder(post_quant_conv(tile));
 *   then row by row, tile by tile: blend_v(above, tile), blend_h(left, tile)
 *   — both modify `tile` in place, so a tile's neighbours below and to the
 *   right blend with its already blended values — and the output is the
 *   concatenation of tile[:, :, :row_limit, :row_limit].
 * blend_v(a, b, e): e = min(a.h, b.h, e); for y < e:
 *   b[y] = a[a.h - e + y]·(1 - y/e) + b[y]·(y/e); blend_h the same on columns.
 * The weights are Python floats (double) that PyTorch rounds to float32;
 * the products and the sum are float32, as here (no contraction: this file
 * is C11 without -ffp-contract).
 *
 * Only two rows of decoded tiles are kept (the row above and the current
 * one), and each finished row is cropped into the output right away. The
 * tiles decode in a private arena that is consolidated (dif__arena_reset)
 * after the first tile: the first decode grows it block by block, and
 * without the reset later tiles would keep those blocks' pages resident on
 * top of the one block a tile needs.
 */
#include <stdlib.h>
#include <string.h>

#include "models/vae.h"

typedef struct tile {
  float *px; /* [B, C, th, tw] */
  int64_t th, tw;
} tile;

/* b[:, :, y, :] for y < e from a's last e rows. */
static void blend_v(const tile *a, tile *b, int64_t BC, int64_t extent) {
  int64_t e = extent;
  if (a->th < e) e = a->th;
  if (b->th < e) e = b->th;
  for (int64_t y = 0; y < e; y++) {
    const float wb = (float)((double)y / (double)e), wa = (float)(1.0 - (double)y / (double)e);
    for (int64_t p = 0; p < BC; p++) {
      const float *ar = a->px + (p * a->th + a->th - e + y) * a->tw;
      float *br = b->px + (p * b->th + y) * b->tw;
      for (int64_t x = 0; x < b->tw; x++) br[x] = ar[x] * wa + br[x] * wb;
    }
  }
}

/* b[:, :, :, x] for x < e from a's last e columns. */
static void blend_h(const tile *a, tile *b, int64_t BC, int64_t extent) {
  int64_t e = extent;
  if (a->tw < e) e = a->tw;
  if (b->tw < e) e = b->tw;
  for (int64_t p = 0; p < BC; p++)
    for (int64_t y = 0; y < b->th; y++) {
      const float *ar = a->px + (p * a->th + y) * a->tw + a->tw - e;
      float *br = b->px + (p * b->th + y) * b->tw;
      for (int64_t x = 0; x < e; x++) {
        const float wb = (float)((double)x / (double)e), wa = (float)(1.0 - (double)x / (double)e);
        br[x] = ar[x] * wa + br[x] * wb;
      }
    }
}

dif_status dif__vae_decode_tiled(const dif__vae *v, const dif__kctx *k, const float *latent,
                                 int64_t B, int64_t h, int64_t w, int64_t tile_px, float *image,
                                 dif__error *err) {
  const int64_t f = dif__vae_scale(v), L = v->latent_ch, C = v->out_ch;
  if (tile_px == 0) tile_px = v->sample_size;
  if (B < 1 || h < 1 || w < 1)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "VAE tiled decode: empty latent");
  if (tile_px < 4 * f || tile_px % (4 * f) || tile_px > ((int64_t)1 << 20))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "VAE tiled decode: tile %lld is not a positive multiple of %lld (4 x the VAE "
                     "scale)",
                     (long long)tile_px, (long long)(4 * f));
  const int64_t TL = tile_px / f;
  if (h <= TL && w <= TL) return dif__vae_decode(v, k, latent, B, h, w, image, NULL, NULL, err);
  const int64_t overlap = TL * 3 / 4, blend = tile_px / 4, limit = tile_px - blend;
  const int64_t nj = (w + overlap - 1) / overlap, W = w * f, BC = B * C;
  const size_t tile_floats = (size_t)(BC * tile_px * tile_px);
  dif_status s = DIF_OK;
  tile *rows = calloc((size_t)(2 * nj), sizeof *rows);
  float *lt = malloc((size_t)(B * L * TL * TL) * sizeof *lt);
  if (!rows || !lt) s = dif__fail_oom(err, "VAE tiled decode", (size_t)(B * L * TL * TL) * 4);
  for (int64_t j = 0; j < 2 * nj && !s; j++) {
    rows[j].px = malloc(tile_floats * sizeof(float));
    if (!rows[j].px) s = dif__fail_oom(err, "VAE tiled decode", tile_floats * sizeof(float));
  }
  tile *above = rows, *cur = rows + nj;
  dif__arena arena;
  dif__arena_init(&arena, (size_t)1 << 20);
  dif__kctx kt = *k;
  kt.arena = &arena;
  for (int64_t i0 = 0, ri = 0; i0 < h && !s; i0 += overlap, ri++) {
    const int64_t th = h - i0 < TL ? h - i0 : TL;
    for (int64_t j0 = 0, j = 0; j0 < w && !s; j0 += overlap, j++) {
      const int64_t tw = w - j0 < TL ? w - j0 : TL;
      for (int64_t p = 0; p < B * L; p++) /* the latent tile, contiguous */
        for (int64_t y = 0; y < th; y++)
          memcpy(lt + (p * th + y) * tw, latent + (p * h + i0 + y) * w + j0,
                 (size_t)tw * sizeof *lt);
      tile *t = &cur[j];
      t->th = th * f;
      t->tw = tw * f;
      s = dif__vae_decode(v, &kt, lt, B, th, tw, t->px, NULL, NULL, err);
      if (s) break;
      dif__arena_reset(&arena); /* nothing lives in it between tiles */
      if (ri > 0) blend_v(&above[j], t, BC, blend);
      if (j > 0) blend_h(&cur[j - 1], t, BC, blend);
    }
    if (s) break;
    /* Crop the finished row into the image: rows [ri·limit, ...). */
    for (int64_t j = 0; j < nj; j++) {
      const tile *t = &cur[j];
      const int64_t ch = t->th < limit ? t->th : limit, cw = t->tw < limit ? t->tw : limit;
      const int64_t y0 = ri * limit, x0 = j * limit;
      for (int64_t p = 0; p < BC; p++)
        for (int64_t y = 0; y < ch; y++)
          memcpy(image + (p * h * f + y0 + y) * W + x0, t->px + (p * t->th + y) * t->tw,
                 (size_t)cw * sizeof *image);
    }
    tile *swap = above;
    above = cur;
    cur = swap;
  }
  dif__arena_free(&arena);
  for (int64_t j = 0; rows && j < 2 * nj; j++) free(rows[j].px);
  free(rows);
  free(lt);
  return s;
}
