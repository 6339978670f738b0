#include "core/tensor.h"

#include <stdio.h>

int64_t dif_tensor_numel(const dif_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}

const char *dif_shape_str(const int64_t *shape, int ndim, char *buf, int size) {
  int off = snprintf(buf, (size_t)size, "[");
  for (int i = 0; i < ndim && off < size; i++)
    off += snprintf(buf + off, (size_t)(size - off), "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (off < size) snprintf(buf + off, (size_t)(size - off), "]");
  return buf;
}
