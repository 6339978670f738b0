/* error.h — how every layer below the API reports failure.
 *
 * A function that can fail takes a dif_error* and returns a dif_status. On
 * failure it records the status and a message naming the problem with
 * dif_fail(); the API layer copies that message into the context or the
 * calling thread. Lower layers never know about contexts.
 */
#ifndef DIF_CORE_ERROR_H
#define DIF_CORE_ERROR_H

#include "dif.h"

#define DIF_ERROR_MSG_MAX 512

typedef struct dif_error {
  dif_status status;
  char msg[DIF_ERROR_MSG_MAX];
} dif_error;

/* Records status and a printf-style message in err (which may be NULL) and
 * returns status, so callers can write `return dif_fail(err, ...)`. */
dif_status dif_fail(dif_error *err, dif_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes err's message with "<context>: " (for example a file name). */
void dif_error_prefix(dif_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resets err to DIF_OK and "". */
void dif_error_clear(dif_error *err);

/* A failed allocation of n bytes for what. */
#define dif_fail_oom(err, what, n)                                                                 \
  dif_fail((err), DIF_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes for %s", (size_t)(n), \
           (what))

#endif
