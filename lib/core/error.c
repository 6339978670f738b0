#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

dif_status dif__fail(dif__error *err, dif_status status, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->status = status;
  }
  return status;
}

void dif__error_prefix(dif__error *err, const char *fmt, ...) {
  if (!err) return;
  char prefix[DIF__ERROR_MSG_MAX], old[DIF__ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  /* Truncation is fine: messages are for humans and bounded on purpose. */
  size_t n = strnlen(prefix, sizeof prefix - 3);
  memcpy(err->msg, prefix, n);
  memcpy(err->msg + n, ": ", 2);
  size_t rest = sizeof err->msg - n - 3;
  size_t m = strnlen(old, rest);
  memcpy(err->msg + n + 2, old, m);
  err->msg[n + 2 + m] = '\0';
}

void dif__error_clear(dif__error *err) {
  if (!err) return;
  err->status = DIF_OK;
  err->msg[0] = '\0';
}
