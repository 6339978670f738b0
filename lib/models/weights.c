/* weights.c — sticky-error tensor fetching (see weights.h). */
#include "models/weights.h"

#include <stdarg.h>
#include <stdio.h>

static const dif_wl_recorder *recorder;
static const float placeholder[16];

void dif_wl_set_recorder(const dif_wl_recorder *r) { recorder = r; }

const float *dif_wl_get(dif_wloader *wl, int ndim, const int64_t *shape, const char *fmt, ...) {
  if (wl->status) return NULL;
  char name[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  if (recorder) {
    recorder->tensor(recorder->user, name, ndim, shape);
    return placeholder;
  }
  dif_tensor t;
  wl->status = ndim ? dif_st_get_f32_shape(wl->st, name, ndim, shape, &t, wl->err)
                    : dif_st_get_f32(wl->st, name, &t, wl->err);
  return wl->status ? NULL : t.data;
}

dif_weight dif_wl_weight(dif_wloader *wl, int ndim, const int64_t *shape, const char *fmt, ...) {
  if (wl->status) return (dif_weight){0};
  char name[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  if (recorder) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    recorder->tensor(recorder->user, name, ndim, shape);
    return dif_weight_f32(placeholder, n);
  }
  dif_weight w;
  wl->status = dif_st_get_weight(wl->st, name, ndim, shape, &w, wl->err);
  return wl->status ? (dif_weight){0} : w;
}

int dif_wl_has(const dif_wloader *wl, const char *fmt, ...) {
  char name[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  if (recorder) return recorder->has(recorder->user, name);
  return dif_st_find(wl->st, name) != NULL;
}
