/* weights.h — fetching a model's tensors by name with shape checks.
 *
 * A loader pulls dozens of tensors; instead of checking each call, it uses a
 * dif_wloader whose first failure sticks: later calls return NULL at once and
 * the loader checks wl.status once at the end. Every message names the file,
 * the tensor and, on a mismatch, both shapes.
 *
 * Two kinds of tensor, two getters:
 *   - the matrices the kernels multiply by — every Linear weight [out, in],
 *     every Conv2d weight [cout, cin, kh, kw], and CLIP's token embedding
 *     table (its rows are read one by one) — are dif_weights
 *     (dif_wl_weight, DIF_WT2 / DIF_WT4): left in the file's dtype, mapped,
 *     never copied; the kernels convert them (core/weight.h). They are
 *     almost all of a model's bytes.
 *   - everything else — biases, norm scales, position and class
 *     embeddings, a prior's clip_mean / clip_std — is read as plain float32
 *     (dif_wl_get, DIF_W1 / DIF_W2 / DIF_W4): in place from an F32 file;
 *     from an F16/BF16 file widened once at load and owned by the file
 *     handle (io/safetensors.h). These are small (under 1% of a model), and
 *     keeping them float32 leaves every element-wise kernel as it is.
 */
#ifndef DIF_MODELS_WEIGHTS_H
#define DIF_MODELS_WEIGHTS_H

#include <stdint.h>

#include "core/error.h"
#include "io/safetensors.h"

typedef struct dif_wloader {
  dif_safetensors *st;
  dif_error *err;
  dif_status status;
} dif_wloader;

/* Tensor named by the printf-style format, which must have exactly ndim
 * dimensions equal to shape (ndim 0 = any shape). NULL after a failure. */
const float *dif_wl_get(dif_wloader *wl, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Shorthands for 1-, 2- and 4-dimensional tensors. */
#define DIF_W1(wl, a, ...) dif_wl_get((wl), 1, (const int64_t[]){(a)}, __VA_ARGS__)
#define DIF_W2(wl, a, b, ...) dif_wl_get((wl), 2, (const int64_t[]){(a), (b)}, __VA_ARGS__)
#define DIF_W4(wl, a, b, c, d, ...)                                                                \
  dif_wl_get((wl), 4, (const int64_t[]){(a), (b), (c), (d)}, __VA_ARGS__)

/* A weight matrix in the file's dtype (see above), shape checked as
 * dif_wl_get; {NULL} after a failure. */
dif_weight dif_wl_weight(dif_wloader *wl, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define DIF_WT2(wl, a, b, ...) dif_wl_weight((wl), 2, (const int64_t[]){(a), (b)}, __VA_ARGS__)
#define DIF_WT4(wl, a, b, c, d, ...)                                                               \
  dif_wl_weight((wl), 4, (const int64_t[]){(a), (b), (c), (d)}, __VA_ARGS__)

/* True if the file has a tensor of that name (for optional biases). */
int dif_wl_has(const dif_wloader *wl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Schema recording, for the bench (which writes random full-size weights
 * from a config alone). While a recorder is installed, dif_wl_get does not
 * read the file: it reports every tensor a loader asks for, with its shape,
 * and returns a placeholder pointer (or a dif_weight of it) that must not
 * be read (loaders only store weight pointers); dif_wl_has answers through recorder->has. A
 * loader run this way against an empty weights file therefore lists the
 * tensors its model needs. Process-global; install it only around a load
 * with no other load running. NULL uninstalls. */
typedef struct dif_wl_recorder {
  void (*tensor)(void *user, const char *name, int ndim, const int64_t *shape);
  int (*has)(void *user, const char *name);
  void *user;
} dif_wl_recorder;
void dif_wl_set_recorder(const dif_wl_recorder *r);

#endif
