/* tensor.h — the float32 tensor of libdif.
 *
 * Contiguous only, row-major, at most 4 dimensions (activations are NCHW or
 * (batch, tokens, channels)). A tensor never owns its data: weights point
 * into a memory-mapped file or a converted copy owned by the model, and
 * activations point into a scratch arena. Keeping strides out keeps every
 * kernel a plain loop over a dense buffer; views that would need strides
 * (per-head attention slices) are expressed with BLAS leading dimensions.
 */
#ifndef DIF__CORE_TENSOR_H
#define DIF__CORE_TENSOR_H

#include <stdint.h>

#define DIF__MAX_DIMS 4

typedef struct dif__tensor {
  float *data;
  int ndim;
  int64_t shape[DIF__MAX_DIMS];
} dif__tensor;

/* Product of the shape (1 for ndim 0). */
int64_t dif__tensor_numel(const dif__tensor *t);

/* Index of the first NaN or infinity in x[0..n), or -1 if every value is
 * finite. Reads the bits (exponent all ones), so it holds under any
 * floating-point flags, and scans in blocks a compiler vectorises: a pass
 * costs about as much as a memcpy of x. */
int64_t dif__first_nonfinite(const float *x, int64_t n);

/* Writes "[a, b, c]" into buf (for error messages). */
const char *dif__shape_str(const int64_t *shape, int ndim, char *buf, int size);

#endif
