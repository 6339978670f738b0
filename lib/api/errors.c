/* errors.c — status names and the per-thread message of dif_last_error. */
#include <stdarg.h>
#include <stdio.h>

#include "api/context.h"

static _Thread_local char thread_error[DIF__ERROR_MSG_MAX];

DIF_API const char *dif_status_string(dif_status status) {
  switch (status) {
  case DIF_OK: return "ok";
  case DIF_ERR_INVALID_ARGUMENT: return "invalid argument";
  case DIF_ERR_IO: return "i/o error";
  case DIF_ERR_BAD_MODEL: return "bad model file";
  case DIF_ERR_BAD_IMAGE: return "bad image file";
  case DIF_ERR_UNSUPPORTED: return "unsupported";
  case DIF_ERR_OUT_OF_MEMORY: return "out of memory";
  case DIF_ERR_LIMIT: return "limit exceeded";
  case DIF_ERR_CANCELLED: return "cancelled";
  case DIF_ERR_BUSY: return "busy";
  case DIF_ERR_INTERNAL: return "internal error";
  case DIF_ERR_NON_FINITE: return "non-finite values (NaN or infinity)";
  }
  return "unknown status";
}

DIF_API const char *dif_last_error(void) { return thread_error; }

dif_status dif__thread_fail(dif_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(thread_error, sizeof thread_error, fmt, ap);
  va_end(ap);
  return st;
}

void dif__thread_ok(void) { thread_error[0] = '\0'; }
