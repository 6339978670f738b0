/* schedule.c — betas, alphas_cumprod and numpy-style spacing (see schedule.h). */
#include "samplers/schedule.h"

#include <math.h>

void dif__torch_linspace_f32(double start_d, double end_d, int64_t steps, float *out) {
  const float start = (float)start_d, end = (float)end_d;
  if (steps <= 0) return;
  if (steps == 1) {
    out[0] = start;
    return;
  }
  /* PyTorch 1.13's CPU kernel as the fixtures' alphas_cumprod require bit for
   * bit: a double step; the first (steps / 16) * 16 values in vectors of 8,
   * each vector from a float base (start + step * i, or end - step * (steps
   * - i - 1) past halfway, chosen by the vector's first index) plus k * step;
   * the rest one by one; every value rounded to float. */
  const double step = ((double)end - (double)start) / (double)(steps - 1);
  const int64_t halfway = steps / 2, vec_end = steps / 16 * 16;
  for (int64_t i = 0; i < vec_end; i += 8) {
    const float base = i < halfway ? (float)(start + step * (double)i)
                                   : (float)(end - step * (double)(steps - i - 1));
    for (int k = 0; k < 8; k++) out[i + k] = (float)(base + (double)k * step);
  }
  for (int64_t i = vec_end; i < steps; i++)
    out[i] = i < halfway ? (float)(start + step * (double)i)
                         : (float)(end - step * (double)(steps - i - 1));
}

/* betas_for_alpha_bar(T), "cosine", max_beta 0.999, in Python floats. */
static double alpha_bar(double t) {
  double c = cos((t + 0.008) / 1.008 * 3.141592653589793 / 2);
  return c * c;
}

/* rescale_zero_terminal_snr on float32 betas, op by op as diffusers. */
static void rescale_zero_snr(float *betas, int64_t n) {
  double acc = 1.0;
  float a0 = 0, aT = 0;
  for (int64_t i = 0; i < n; i++) { /* alphas_bar_sqrt = cumprod(1 - betas).sqrt() */
    acc *= (double)(1.0f - betas[i]);
    betas[i] = sqrtf((float)acc); /* betas[] now holds alphas_bar_sqrt */
  }
  a0 = betas[0];
  aT = betas[n - 1];
  const float scale = a0 / (a0 - aT);
  for (int64_t i = 0; i < n; i++) {
    float s = (betas[i] - aT) * scale;
    betas[i] = s * s; /* alphas_bar */
  }
  float prev = betas[0];
  betas[0] = 1.0f - betas[0];
  for (int64_t i = 1; i < n; i++) {
    float ab = betas[i];
    betas[i] = 1.0f - ab / prev;
    prev = ab;
  }
}

void dif__sched_betas(const dif__sched_config *c, float *betas) {
  const int64_t n = c->num_train_timesteps;
  if (c->trained_betas) {
    for (int64_t i = 0; i < n; i++) betas[i] = (float)c->trained_betas[i];
  } else if (c->beta_schedule == DIF__BETA_LINEAR) {
    dif__torch_linspace_f32(c->beta_start, c->beta_end, n, betas);
  } else if (c->beta_schedule == DIF__BETA_SCALED_LINEAR) {
    dif__torch_linspace_f32(sqrt(c->beta_start), sqrt(c->beta_end), n, betas);
    for (int64_t i = 0; i < n; i++) betas[i] = betas[i] * betas[i];
  } else if (c->beta_schedule == DIF__BETA_COSINE) {
    for (int64_t i = 0; i < n; i++) {
      double t1 = (double)i / (double)n, t2 = (double)(i + 1) / (double)n;
      double b = 1 - alpha_bar(t2) / alpha_bar(t1);
      betas[i] = (float)(b < 0.999 ? b : 0.999);
    }
  } else { /* sigmoid (DDPM): sigmoid(linspace(-6, 6)) * (end - start) + start */
    dif__torch_linspace_f32(-6, 6, n, betas);
    const float range = (float)(c->beta_end - c->beta_start), start = (float)c->beta_start;
    for (int64_t i = 0; i < n; i++) betas[i] = 1.0f / (1.0f + expf(-betas[i])) * range + start;
  }
  if (c->rescale_betas_zero_snr) rescale_zero_snr(betas, n);
}

void dif__sched_alphas(const float *betas, int64_t n, float *alphas, float *alphas_cumprod) {
  double acc = 1.0;
  for (int64_t i = 0; i < n; i++) {
    alphas[i] = 1.0f - betas[i];
    acc *= (double)alphas[i];
    alphas_cumprod[i] = (float)acc;
  }
}

void dif__np_linspace(double start, double stop, int64_t num, double *out) {
  if (num <= 0) return;
  const int64_t div = num - 1;
  const double delta = stop - start;
  if (div > 0) {
    const double step = delta / (double)div;
    for (int64_t i = 0; i < num; i++)
      out[i] = (step == 0 ? (double)i / (double)div * delta : (double)i * step) + start;
    out[num - 1] = stop;
  } else {
    out[0] = 0.0 * delta + start;
  }
}

int64_t dif__np_arange_len(double start, double stop, double step) {
  double len = ceil((stop - start) / step);
  return len > 0 ? (int64_t)len : 0;
}

void dif__np_arange(double start, double step, int64_t n, double *out) {
  if (n <= 0) return;
  out[0] = start;
  if (n == 1) return;
  const double delta = (start + step) - start; /* numpy fills from a[1] - a[0] */
  out[1] = start + step;
  for (int64_t i = 2; i < n; i++) out[i] = start + (double)i * delta;
}

double dif__np_round(double x) { return nearbyint(x); }

double dif__np_interp(double x, const float *fp, int64_t n) {
  if (n == 1) return fp[0];
  if (!(x >= 0)) return isnan(x) ? x : (double)fp[0];
  if (x >= (double)(n - 1)) return (double)fp[n - 1];
  int64_t j = (int64_t)floor(x);
  if ((double)j == x) return (double)fp[j];
  const double slope = ((double)fp[j + 1] - (double)fp[j]) / 1.0;
  double r = slope * (x - (double)j) + (double)fp[j];
  if (isnan(r)) {
    r = slope * (x - (double)(j + 1)) + (double)fp[j + 1];
    if (isnan(r) && fp[j] == fp[j + 1]) r = fp[j];
  }
  return r;
}

void dif__sched_train_sigmas(const float *ac, int64_t n, float *sigmas) {
  for (int64_t i = 0; i < n; i++) sigmas[i] = sqrtf((1.0f - ac[i]) / ac[i]);
}

void dif__karras_sigmas(double sigma_min, double sigma_max, int64_t n, double *out) {
  const double rho = 7.0;
  const double min_inv = pow(sigma_min, 1 / rho), max_inv = pow(sigma_max, 1 / rho);
  dif__np_linspace(0, 1, n, out); /* ramp */
  for (int64_t i = 0; i < n; i++) out[i] = pow(max_inv + out[i] * (min_inv - max_inv), rho);
}

double dif__sigma_to_t(double sigma, const float *log_sigmas, int64_t n) {
  const double log_sigma = log(sigma > 1e-10 ? sigma : 1e-10);
  /* dists = log_sigma - log_sigmas: numpy keeps the float32 array's dtype,
   * so the float64 scalar is rounded to float first. low_idx is the last
   * index with dists >= 0 (0 if none), at most n - 2. */
  const float ls = (float)log_sigma;
  int64_t low = 0;
  for (int64_t i = 0; i < n; i++)
    if (ls - log_sigmas[i] >= 0) low = i;
  if (low > n - 2) low = n - 2;
  const int64_t high = low + 1;
  /* low/high are 1-element float32 arrays, so w stays float32 too. */
  const float lo = log_sigmas[low], hi = log_sigmas[high];
  float w = (lo - ls) / (lo - hi);
  w = w < 0 ? 0 : w > 1 ? 1 : w;
  return (double)(1 - w) * (double)low + (double)w * (double)high;
}
