/* error.h — how every layer below the API reports failure.
 *
 * A function that can fail takes a dif__error* and returns a dif_status. On
 * failure it records the status and a message naming the problem with
 * dif__fail(); the API layer copies that message into the context or the
 * calling thread. Lower layers never know about contexts.
 */
#ifndef DIF__CORE_ERROR_H
#define DIF__CORE_ERROR_H

#include "dif.h"

#define DIF__ERROR_MSG_MAX 512

typedef struct dif__error {
  dif_status status;
  char msg[DIF__ERROR_MSG_MAX];
} dif__error;

/* Records status and a printf-style message in err (which may be NULL) and
 * returns status, so callers can write `return dif__fail(err, ...)`. */
dif_status dif__fail(dif__error *err, dif_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes err's message with "<context>: " (for example a file name). */
void dif__error_prefix(dif__error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resets err to DIF_OK and "". */
void dif__error_clear(dif__error *err);

/* A failed allocation of n bytes for what. */
#define dif__fail_oom(err, what, n)                                                                \
  dif__fail((err), DIF_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes for %s",             \
            (size_t)(n), (what))

#endif
