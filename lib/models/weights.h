/* weights.h — fetching a model's tensors by name with shape checks.
 *
 * A loader pulls dozens of tensors; instead of checking each call, it uses a
 * dif__wloader whose first failure sticks: later calls return NULL at once and
 * the loader checks wl.status once at the end. Every message names the file,
 * the tensor and, on a mismatch, both shapes.
 *
 * Two kinds of tensor, two getters:
 *   - the matrices the kernels multiply by — every Linear weight [out, in],
 *     every Conv2d weight [cout, cin, kh, kw], and CLIP's token embedding
 *     table (its rows are read one by one) — are dif__weights
 *     (dif__wl_weight, DIF__WT2 / DIF__WT4): left in the file's dtype, mapped,
 *     never copied; the kernels convert them (core/weight.h). They are
 *     almost all of a model's bytes.
 *   - everything else — biases, norm scales, position and class
 *     embeddings, a prior's clip_mean / clip_std — is read as plain float32
 *     (dif__wl_get, DIF__W1 / DIF__W2 / DIF__W4): in place from an F32 file;
 *     from an F16/BF16 file widened once at load and owned by the file
 *     handle (io/safetensors.h). These are small (under 1% of a model), and
 *     keeping them float32 leaves every element-wise kernel as it is.
 */
#ifndef DIF__MODELS_WEIGHTS_H
#define DIF__MODELS_WEIGHTS_H

#include <stdint.h>

#include "core/error.h"
#include "io/safetensors.h"

typedef struct dif__wloader {
  dif__safetensors *st;
  dif__error *err;
  dif_status status;
} dif__wloader;

/* Tensor named by the printf-style format, which must have exactly ndim
 * dimensions equal to shape (ndim 0 = any shape). NULL after a failure. */
const float *dif__wl_get(dif__wloader *wl, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Shorthands for 1-, 2- and 4-dimensional tensors. */
#define DIF__W1(wl, a, ...) dif__wl_get((wl), 1, (const int64_t[]){(a)}, __VA_ARGS__)
#define DIF__W2(wl, a, b, ...) dif__wl_get((wl), 2, (const int64_t[]){(a), (b)}, __VA_ARGS__)
#define DIF__W4(wl, a, b, c, d, ...)                                                               \
  dif__wl_get((wl), 4, (const int64_t[]){(a), (b), (c), (d)}, __VA_ARGS__)

/* A weight matrix in the file's dtype (see above), shape checked as
 * dif__wl_get; {NULL} after a failure. */
dif__weight dif__wl_weight(dif__wloader *wl, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define DIF__WT2(wl, a, b, ...) dif__wl_weight((wl), 2, (const int64_t[]){(a), (b)}, __VA_ARGS__)
#define DIF__WT4(wl, a, b, c, d, ...)                                                              \
  dif__wl_weight((wl), 4, (const int64_t[]){(a), (b), (c), (d)}, __VA_ARGS__)

/* True if the file has a tensor of that name (for optional biases). */
int dif__wl_has(const dif__wloader *wl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Schema recording, for the bench (which writes random full-size weights
 * from a config alone). While a recorder is installed, dif__wl_get does not
 * read the file: it reports every tensor a loader asks for, with its shape,
 * and returns a placeholder pointer (or a dif__weight of it) that must not
 * be read (loaders only store weight pointers); dif__wl_has answers through recorder->has. A
 * loader run this way against an empty weights file therefore lists the
 * tensors its model needs. Process-global; install it only around a load
 * with no other load running. NULL uninstalls. */
typedef struct dif__wl_recorder {
  void (*tensor)(void *user, const char *name, int ndim, const int64_t *shape);
  int (*has)(void *user, const char *name);
  void *user;
} dif__wl_recorder;
void dif__wl_set_recorder(const dif__wl_recorder *r);

#endif
