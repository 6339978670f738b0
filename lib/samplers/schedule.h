/* schedule.h — noise-schedule tables and the numpy/torch numerics diffusers
 * builds them with.
 *
 * diffusers keeps betas, alphas and alphas_cumprod as float32 torch tensors
 * (linspace and cumprod with torch's CPU kernels), while timesteps and sigmas
 * are made with numpy in float64 (linspace, arange, interp, round) and then
 * cast. These helpers reproduce each of those operations with the same
 * dtype and the same order of rounding, which is what lets the schedulers
 * match diffusers to the last bit or so.
 */
#ifndef DIF__SAMPLERS_SCHEDULE_H
#define DIF__SAMPLERS_SCHEDULE_H

#include <stdint.h>

#include "core/error.h"
#include "samplers/sched_config.h"

/* torch.linspace(start, end, steps, dtype=float32) as PyTorch 1.13's
 * (AVX2-dispatched) CPU kernel: start and end rounded to float, a double
 * step, the first half counted up from start and the second half down from
 * end, in vectors of 8 (see schedule.c); each value rounded to float. */
void dif__torch_linspace_f32(double start, double end, int64_t steps, float *out);

/* The class's betas (T = num_train_timesteps), float32: linear,
 * scaled_linear (linspace of square roots, squared in float),
 * squaredcos_cap_v2 (betas_for_alpha_bar in float64, then rounded), sigmoid
 * (DDPM), or trained_betas; then rescale_zero_terminal_snr if asked. */
void dif__sched_betas(const dif__sched_config *c, float *betas);

/* alphas = 1 - betas; alphas_cumprod = torch.cumprod (accumulated in double,
 * each prefix rounded to float, as PyTorch's CPU cumprod does). */
void dif__sched_alphas(const float *betas, int64_t n, float *alphas, float *alphas_cumprod);

/* numpy.linspace(start, stop, num) in float64 (endpoint included). */
void dif__np_linspace(double start, double stop, int64_t num, double *out);
/* Length of numpy.arange(start, stop, step) for a float step, and its values
 * (start + i * (first step as numpy measures it)). */
int64_t dif__np_arange_len(double start, double stop, double step);
void dif__np_arange(double start, double step, int64_t n, double *out);
/* numpy.round / rint: half to even. */
double dif__np_round(double x);
/* numpy.interp(x, arange(n), fp) with float32 fp, computed in float64. */
double dif__np_interp(double x, const float *fp, int64_t n);

/* sigmas of the training schedule, ((1 - ac) / ac) ** 0.5 in float32. */
void dif__sched_train_sigmas(const float *alphas_cumprod, int64_t n, float *sigmas);

/* Karras et al. sigmas: (max^(1/7) + ramp * (min^(1/7) - max^(1/7)))^7 with
 * ramp = linspace(0, 1, n), float64. */
void dif__karras_sigmas(double sigma_min, double sigma_max, int64_t n, double *out);
/* diffusers' _sigma_to_t: the fractional training index of sigma, by linear
 * interpolation of log sigma in log_sigmas (float32, ascending), float64. */
double dif__sigma_to_t(double sigma, const float *log_sigmas, int64_t n);

#endif
