/* dif__vae_decode_tiled on the tiny VAE: the tile walk and blending against an
 * independent transcription of diffusers' tiled_decode (every tile kept, as
 * diffusers does), closeness to the untiled decode for an image of several
 * tiles, the one-tile case, and argument checks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/vae.h"
#include "ops_test_util.h"

static dif__vae vae;

/* diffusers' AutoencoderKL.tiled_decode, line by line, on dif__vae_decode. */
static void reference_tiled(kenv *e, const float *z, int64_t B, int64_t h, int64_t w, int64_t tile,
                            float *out) {
  const int64_t f = dif__vae_scale(&vae), L = vae.latent_ch, C = vae.out_ch;
  const int64_t TL = tile / f;
  const int64_t overlap = (int64_t)((double)TL * (1 - 0.25));
  const int64_t blend = (int64_t)((double)tile * 0.25), limit = tile - blend;
  int64_t ni = 0, nj = 0;
  for (int64_t i = 0; i < h; i += overlap) ni++;
  for (int64_t j = 0; j < w; j += overlap) nj++;
  float **px = calloc((size_t)(ni * nj), sizeof *px);
  int64_t *th = calloc((size_t)(ni * nj), sizeof *th), *tw = calloc((size_t)(ni * nj), sizeof *tw);
  dif__error err;
  dif__error_clear(&err);
  for (int64_t a = 0; a < ni; a++)
    for (int64_t b = 0; b < nj; b++) {
      int64_t i = a * overlap, j = b * overlap;
      int64_t hh = h - i < TL ? h - i : TL, ww = w - j < TL ? w - j : TL;
      float *lt = fbuf((size_t)(B * L * hh * ww));
      for (int64_t p = 0; p < B * L; p++)
        for (int64_t y = 0; y < hh; y++)
          for (int64_t x = 0; x < ww; x++)
            lt[(p * hh + y) * ww + x] = z[(p * h + i + y) * w + j + x];
      float *d = fbuf((size_t)(B * C * hh * f * ww * f));
      CHECK(dif__vae_decode(&vae, &e->k, lt, B, hh, ww, d, NULL, NULL, &err) == DIF_OK);
      px[a * nj + b] = d;
      th[a * nj + b] = hh * f;
      tw[a * nj + b] = ww * f;
      free(lt);
    }
  const int64_t H = h * f, W = w * f;
  for (int64_t a = 0; a < ni; a++)
    for (int64_t b = 0; b < nj; b++) {
      float *t = px[a * nj + b];
      int64_t TH = th[a * nj + b], TW = tw[a * nj + b];
      if (a > 0) { /* blend_v(rows[i - 1][j], tile) */
        float *u = px[(a - 1) * nj + b];
        int64_t UH = th[(a - 1) * nj + b];
        int64_t ext = blend < UH ? blend : UH;
        ext = ext < TH ? ext : TH;
        for (int64_t y = 0; y < ext; y++)
          for (int64_t p = 0; p < B * C; p++)
            for (int64_t x = 0; x < TW; x++) {
              float *dst = &t[(p * TH + y) * TW + x];
              *dst = u[(p * UH + UH - ext + y) * TW + x] * (float)(1 - (double)y / ext) +
                     *dst * (float)((double)y / ext);
            }
      }
      if (b > 0) { /* blend_h(row[j - 1], tile) */
        float *l = px[a * nj + b - 1];
        int64_t LW = tw[a * nj + b - 1];
        int64_t ext = blend < LW ? blend : LW;
        ext = ext < TW ? ext : TW;
        for (int64_t x = 0; x < ext; x++)
          for (int64_t p = 0; p < B * C; p++)
            for (int64_t y = 0; y < TH; y++) {
              float *dst = &t[(p * TH + y) * TW + x];
              *dst = l[(p * TH + y) * LW + LW - ext + x] * (float)(1 - (double)x / ext) +
                     *dst * (float)((double)x / ext);
            }
      }
      for (int64_t p = 0; p < B * C; p++) /* tile[:, :, :row_limit, :row_limit] */
        for (int64_t y = 0; y < (TH < limit ? TH : limit); y++)
          for (int64_t x = 0; x < (TW < limit ? TW : limit); x++)
            out[(p * H + a * limit + y) * W + b * limit + x] = t[(p * TH + y) * TW + x];
    }
  for (int64_t q = 0; q < ni * nj; q++) free(px[q]);
  free(px), free(th), free(tw);
}

/* nmse_max < 0: closeness to the whole decode not checked. */
static void check_tiled(int64_t B, int64_t h, int64_t w, int64_t tile, double nmse_max,
                        uint64_t seed) {
  const int64_t f = dif__vae_scale(&vae), n = B * vae.out_ch * h * f * w * f;
  float *z = frand((size_t)(B * vae.latent_ch * h * w), seed, -2, 2);
  float *got = fbuf((size_t)n), *want = fbuf((size_t)n), *whole = fbuf((size_t)n);
  for (int64_t i = 0; i < n; i++) got[i] = NAN; /* every pixel must be written */
  kenv e;
  kenv_init(&e, 3);
  dif__error err;
  dif__error_clear(&err);
  CHECK_MSG(dif__vae_decode_tiled(&vae, &e.k, z, B, h, w, tile, got, &err) == DIF_OK, "%s",
            err.msg);
  reference_tiled(&e, z, B, h, w, tile ? tile : vae.sample_size, want);
  CHECK_SAME(got, want, (size_t)n);
  CHECK(dif__vae_decode(&vae, &e.k, z, B, h, w, whole, NULL, NULL, &err) == DIF_OK);
  double num = 0, den = 0, mx = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)got[i] - whole[i];
    num += d * d;
    den += (double)whole[i] * whole[i];
    mx = fabs(d) > mx ? fabs(d) : mx;
  }
  /* Close, not equal: each tile has its own GroupNorm statistics and its
   * own mid-block attention, and sees zero padding at its borders. */
  fprintf(stderr, "  %lldx%lld latent, tile %lld: tiled vs whole nmse %.3g, max abs %.3g\n",
          (long long)h, (long long)w, (long long)tile, num / den, mx);
  if (nmse_max >= 0) CHECK_MSG(num <= nmse_max * den, "tiled vs whole: nmse %.3g", num / den);
  CHECK(e.arena.used_total == 0);
  kenv_free(&e);
  free(z), free(got), free(want), free(whole);
}

TEST(tiles_match_diffusers_walk) {
  /* The config's tile (32 px = 16 latent): 2×3 tiles. On this random tiny
   * VAE (whose mid-block attention and norms see a third of the image per
   * tile) the tiled image is within nmse 0.066 of the whole one. */
  check_tiled(1, 24, 40, 0, 0.1, 1);
  check_tiled(2, 21, 17, 16, -1, 2); /* small tiles, ragged edges, batch 2: the walk only */
}

TEST(one_tile_is_the_plain_decode) {
  const int64_t h = 16, w = 12, n = vae.out_ch * h * 2 * w * 2;
  float *z = frand((size_t)(vae.latent_ch * h * w), 3, -2, 2);
  float *a = fbuf((size_t)n), *b = fbuf((size_t)n);
  kenv e;
  kenv_init(&e, 3);
  dif__error err;
  dif__error_clear(&err);
  CHECK(dif__vae_decode_tiled(&vae, &e.k, z, 1, h, w, 32, a, &err) == DIF_OK);
  CHECK(dif__vae_decode(&vae, &e.k, z, 1, h, w, b, NULL, NULL, &err) == DIF_OK);
  CHECK_SAME(a, b, (size_t)n);
  CHECK_STATUS(dif__vae_decode_tiled(&vae, &e.k, z, 1, h, w, 12, a, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "multiple of 8");
  kenv_free(&e);
  free(z), free(a), free(b);
}

int main(void) {
  dif__error err;
  dif__error_clear(&err);
  if (dif__vae_load(dif__test_path("golden/models/tiny-sd/vae"), &vae, &err) != DIF_OK) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  CHECK(dif__vae_scale(&vae) == 2 && vae.sample_size == 32);
  RUN(tiles_match_diffusers_walk);
  RUN(one_tile_is_the_plain_decode);
  dif__vae_free(&vae);
  return dif__test_finish();
}
