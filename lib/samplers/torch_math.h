/* torch_math.h — float transcendental functions as torch applies them to
 * float32 tensors on the CPU (torch.log, torch.exp, torch.expm1 of the 0-d
 * coefficient tensors the schedulers compute). */
#ifndef DIF__SAMPLERS_TORCH_MATH_H
#define DIF__SAMPLERS_TORCH_MATH_H

float dif__torch_logf(float x);
float dif__torch_expf(float x);
float dif__torch_expm1f(float x);

#endif
