/* latents.c — latents in and out: the initial noise, an image through the
 * VAE encoder (img2img, inpainting), noising to the strength's first
 * timestep, and decoding to RGB8 as diffusers' postprocess does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/gen.h"

dif_status gen_latents_noise(gen *g, float *noise_out) {
  int64_t B = g->r->batch, n = B * g->m->vae.latent_ch * g->h * g->w;
  dif_status s = gen_draw(g, g->lat, B, n / B);
  if (!s && noise_out) memcpy(noise_out, g->lat, (size_t)n * sizeof *noise_out);
  float sigma = dif__scheduler_init_noise_sigma(g->sch);
  for (int64_t i = 0; !s && i < n; i++) g->lat[i] *= sigma;
  if (!s)
    s = gen_check_finite(
        g, g->lat, n,
        "the initial latents are non-finite (the %s scheduler's init_noise_sigma is %g)",
        dif__scheduler_class_name(g->sch), (double)sigma);
  return s;
}

dif_status gen_check_init_size(gen *g, const dif__image *img) {
  if (img->height != g->r->height || img->width != g->r->width)
    return dif__fail(g->err, DIF_ERR_INVALID_ARGUMENT,
                     "the init image is %dx%d but the sample is %dx%d", img->width, img->height,
                     g->r->width, g->r->height);
  return DIF_OK;
}

void gen_image_to_x(const dif__image *img, float *x) {
  int64_t HW = (int64_t)img->height * img->width;
  /* VaeImageProcessor: u8 / 255 (float32), then 2x - 1, channel first */
  for (int64_t c = 0; c < 3; c++)
    for (int64_t i = 0; i < HW; i++)
      x[c * HW + i] = 2.0f * ((float)img->rgb[i * 3 + c] / 255.0f) - 1.0f;
}

dif_status gen_encode_x(gen *g, const float *x, const char *what, const char *trace, float *out) {
  const dif__models *m = g->m;
  int64_t f = dif__vae_scale(&m->vae), h = g->h, w = g->w, n = m->vae.latent_ch * h * w;
  float *std = gen_floats(g, n, "latent std"), *noise = gen_floats(g, n, "posterior noise");
  dif_status s = (!std || !noise) ? DIF_ERR_OUT_OF_MEMORY : DIF_OK;
  if (!s) {
    gen_trace(g, x, 3 * h * f * w * f, "%s.in", trace);
    s = dif__vae_encode(&m->vae, g->vae_k, x, 1, h * f, w * f, out, std, NULL, NULL, g->err);
  }
  if (!s)
    s = gen_check_finite(g, out, n, "the VAE encoder (vae) produced non-finite latents for %s",
                         what);
  if (!s)
    s = gen_check_finite(g, std, n,
                         "the VAE encoder (vae) produced a non-finite log-variance for %s", what);
  if (!s) {
    for (int64_t i = 0; i < n; i++) std[i] = expf(0.5f * std[i]); /* std */
    gen_trace(g, out, n, "%s.latent_mean", trace);
    gen_trace(g, std, n, "%s.latent_std", trace);
    s = gen_draw(g, noise, 1, n); /* latent_dist.sample(generator) */
  }
  for (int64_t i = 0; !s && i < n; i++)
    out[i] = m->vae.scaling_factor * (out[i] + std[i] * noise[i]);
  free(std);
  free(noise);
  return s;
}

dif_status gen_add_noise(gen *g, const float *original, const float *noise, double t, int64_t n,
                         float *out) {
  dif_status s = dif__scheduler_add_noise(g->sch, original, noise, t, n, out, g->err);
  float tf = (float)t;
  gen_trace(g, &tf, 1, "add_noise.call%d.timestep", g->add_noise_calls);
  if (!s) gen_trace(g, out, n, "add_noise.call%d.out", g->add_noise_calls);
  g->add_noise_calls++;
  return s;
}

dif_status gen_latents_image(gen *g, const float *image_latents, float *noise_out) {
  int64_t B = g->r->batch, n = g->m->vae.latent_ch * g->h * g->w;
  float *noise = noise_out ? noise_out : gen_floats(g, B * n, "noise");
  if (!noise) return DIF_ERR_OUT_OF_MEMORY;
  for (int64_t b = 0; b < B; b++) memcpy(g->lat + b * n, image_latents, (size_t)n * sizeof *g->lat);
  double t = dif__scheduler_timestep(g->sch, g->first);
  dif_status s = gen_draw(g, noise, B, n);
  if (!s) s = gen_add_noise(g, g->lat, noise, t, B * n, g->lat);
  if (!s)
    s = gen_check_finite(g, g->lat, B * n,
                         "the init image's noised latents are non-finite (timestep %g)", t);
  if (noise != noise_out) free(noise);
  return s;
}

dif_status gen_decode(gen *g, dif__result *res) {
  float *lat = g->lat;
  int64_t h = g->h, w = g->w;
  const dif__models *m = g->m;
  int64_t B = g->r->batch, L = m->vae.latent_ch, f = dif__vae_scale(&m->vae), H = h * f, W = w * f;
  float *img = gen_floats(g, B * 3 * H * W, "decoded image");
  float *hwc = gen_floats(g, B * H * W * 3, "output images");
  res->rgb = gen_alloc(g, B * H * W * 3, 1, "output pixels");
  dif_status s = (!img || !hwc || !res->rgb) ? DIF_ERR_OUT_OF_MEMORY : DIF_OK;
  if (!s) {
    for (int64_t i = 0; i < B * L * h * w; i++) lat[i] = lat[i] / m->vae.scaling_factor;
    gen_trace(g, lat, B * L * h * w, "vae.decode.in");
    s = gen_cancelled(g);
  }
  if (!s) dif__models_drop_networks(m); /* their pages, resident since the run began */
  if (!s && g->decode_tile > 0 && (H > g->decode_tile || W > g->decode_tile))
    s = dif__vae_decode_tiled(&m->vae, g->vae_k, lat, B, h, w, g->decode_tile, img, g->err);
  else if (!s)
    s = dif__vae_decode(&m->vae, g->vae_k, lat, B, h, w, img, NULL, NULL, g->err);
  if (!s)
    s = gen_check_finite(g, img, B * 3 * H * W, "the VAE decoder (vae) produced non-finite pixels");
  if (!s) {
    gen_trace(g, img, B * 3 * H * W, "vae.decode.out");
    for (int64_t b = 0; b < B; b++)
      for (int64_t c = 0; c < 3; c++)
        for (int64_t i = 0; i < H * W; i++) {
          float v = img[(b * 3 + c) * H * W + i] / 2.0f + 0.5f;
          v = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f; /* NaN, never expected here, gives 0 */
          hwc[(b * H * W + i) * 3 + c] = v;
          res->rgb[(b * H * W + i) * 3 + c] = (uint8_t)nearbyintf(v * 255.0f); /* half to even */
        }
    gen_trace(g, hwc, B * H * W * 3, "out.images");
    res->count = (int)B;
    res->width = (int)W;
    res->height = (int)H;
  }
  free(img);
  free(hwc);
  if (s) {
    free(res->rgb);
    res->rgb = NULL;
  }
  return s;
}
