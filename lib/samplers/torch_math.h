/* torch_math.h — float transcendental functions as torch applies them to
 * float32 tensors on the CPU (torch.log, torch.exp, torch.expm1 of the 0-d
 * coefficient tensors the schedulers compute). */
#ifndef DIF_SAMPLERS_TORCH_MATH_H
#define DIF_SAMPLERS_TORCH_MATH_H

float dif_torch_logf(float x);
float dif_torch_expf(float x);
float dif_torch_expm1f(float x);

#endif
