/* libFuzzer harness for the safetensors reader (lib/io/safetensors.c).
 *
 * Every input goes through dif__st_open_memory. A refused input must leave no
 * handle and a non-empty message naming the buffer. An accepted one is
 * touched everywhere: each entry is looked up by name, fetched as float
 * (dif__st_get_f32, then dif__st_get_f32_shape with its own shape), converted
 * with dif__st_to_f64 and summed, and metadata keys are looked up; the
 * invariants the reader promises (ranges inside the buffer, numel x dtype
 * size == byte range) are checked. Accepted inputs are then opened again
 * from an odd address, so F32 data also takes the unaligned-copy path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile double sink;

static void check(int ok) {
  if (!ok) abort();
}

static void touch_entry(dif__safetensors *st, const dif__st_entry *e, const uint8_t *buf,
                        size_t size) {
  check(dif__st_find(st, e->name) != NULL);
  check(e->begin <= e->end && e->ndim >= 0 && e->ndim <= 8);
  const uint8_t *p = dif__st_data(st, e);
  check(p >= buf && (uint64_t)(p - buf) <= size && e->end - e->begin <= size - (size_t)(p - buf));
  int64_t numel = dif__st_numel(e);
  check(numel >= 0 && (uint64_t)numel * dif__st_dtype_size(e->dtype) == e->end - e->begin);
  check(dif__st_dtype_name(e->dtype)[0] != '?');

  double acc = 0;
  dif__error err;
  dif__tensor t = {0};
  dif_status s = dif__st_get_f32(st, e->name, &t, &err);
  if (s == DIF_OK) {
    check(t.ndim == e->ndim && t.data != NULL);
    for (int64_t k = 0; k < numel; k++) acc += t.data[k];
    dif__tensor u;
    check(dif__st_get_f32_shape(st, e->name, t.ndim, t.shape, &u, &err) == DIF_OK);
    check(u.data == t.data);
    int64_t other[DIF__MAX_DIMS] = {0};
    memcpy(other, t.shape, sizeof other);
    other[0] = t.ndim && t.shape[0] == 0; /* differs from the real first dimension */
    check(dif__st_get_f32_shape(st, e->name, t.ndim ? t.ndim : 1, other, &u, &err) ==
          DIF_ERR_BAD_MODEL);
  } else {
    check(s == DIF_ERR_UNSUPPORTED && err.msg[0] != 0);
  }
  double *d = malloc((size_t)(numel ? numel : 1) * sizeof *d);
  if (!d) return;
  dif__st_to_f64(st, e, d);
  for (int64_t k = 0; k < numel; k++) acc += d[k];
  free(d);
  sink = acc;
}

static int run(const uint8_t *buf, size_t size) {
  dif__error err;
  dif__error_clear(&err);
  dif__safetensors *st = (dif__safetensors *)&err;
  dif_status s = dif__st_open_memory(buf, size, "fuzz.safetensors", &st, &err);
  if (s != DIF_OK) {
    check(st == NULL && s == err.status);
    check(strncmp(err.msg, "fuzz.safetensors: ", 18) == 0);
    check(memchr(err.msg, 0, sizeof err.msg) != NULL);
    return 0;
  }
  check(st != NULL && dif__st_file_size(st) == size);
  size_t n = dif__st_count(st);
  for (size_t i = 0; i < n; i++) {
    const dif__st_entry *e = dif__st_entry_at(st, i);
    check(e != NULL);
    if (i) check(e->begin >= dif__st_entry_at(st, i - 1)->end);
    touch_entry(st, e, buf, size);
  }
  check(dif__st_entry_at(st, n) == NULL);
  dif__tensor t;
  check(dif__st_get_f32(st, "\x01 not a tensor name", &t, &err) == DIF_ERR_BAD_MODEL);
  static const char *const keys[] = {"format", "model", "", "__metadata__", "dtype"};
  size_t len = 0;
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    const char *v = dif__st_metadata(st, keys[i]);
    if (v) len += strlen(v);
  }
  if (n) {
    const char *v = dif__st_metadata(st, dif__st_entry_at(st, 0)->name);
    if (v) len += strlen(v);
  }
  sink = (double)len;
  dif__st_close(st);
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!run(data, size)) return 0;
  /* Again from an odd address: data that was 4-byte aligned is not now. */
  uint8_t *copy = malloc(size + 1);
  if (!copy) return 0;
  memcpy(copy + 1, data, size);
  check(run(copy + 1, size) == 1);
  free(copy);
  return 0;
}
