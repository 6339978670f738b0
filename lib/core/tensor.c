#include "core/tensor.h"

#include <stdio.h>
#include <string.h>

int64_t dif__tensor_numel(const dif__tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}

const char *dif__shape_str(const int64_t *shape, int ndim, char *buf, int size) {
  int off = snprintf(buf, (size_t)size, "[");
  for (int i = 0; i < ndim && off < size; i++)
    off += snprintf(buf + off, (size_t)(size - off), "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (off < size) snprintf(buf + off, (size_t)(size - off), "]");
  return buf;
}

int64_t dif__first_nonfinite(const float *x, int64_t n) {
  enum { BLOCK = 1024 };
  const uint32_t exp_mask = 0x7f800000u;
  for (int64_t start = 0; start < n; start += BLOCK) {
    int64_t len = n - start < BLOCK ? n - start : BLOCK;
    uint32_t bad = 0;
    for (int64_t i = 0; i < len; i++) {
      uint32_t bits;
      memcpy(&bits, x + start + i, sizeof bits);
      bad |= (bits & exp_mask) == exp_mask;
    }
    if (!bad) continue;
    for (int64_t i = 0; i < len; i++) {
      uint32_t bits;
      memcpy(&bits, x + start + i, sizeof bits);
      if ((bits & exp_mask) == exp_mask) return start + i;
    }
  }
  return -1;
}
