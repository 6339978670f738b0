/* safetensors.h — a validating, memory-mapping safetensors reader.
 *
 * The file is mapped read-only and validated exactly as the safetensors
 * specification requires before any tensor is handed out:
 *   - an 8-byte little-endian header size N with 8 + N <= file size and
 *     N <= 100 MB;
 *   - the header is a JSON object (trailing spaces allowed) without duplicate
 *     keys; `__metadata__`, if present, maps strings to strings;
 *   - every other entry has a known dtype, a shape of non-negative integers
 *     and `data_offsets` [begin, end] with numel × dtype size == end - begin
 *     (all products overflow-checked);
 *   - sorted by offset, the ranges start at 0, touch without gap or overlap
 *     and end exactly at the end of the file.
 * Weights (dif__st_get_weight) are used in place in the file's dtype, F32,
 * F16 or BF16 (zero copy; core/weight.h says who converts them). A float32
 * tensor (dif__st_get_f32) is used in place when the file has it in F32;
 * an F16/BF16 one is converted to F32 once, on first access, and owned by
 * the file (the models ask for small vectors this way, models/weights.h).
 * Any other dtype is refused by name when a float tensor is asked for.
 *
 * The xxh3-64 of the whole file is computed while it is validated, so the
 * model identity costs no second read.
 *
 * Not thread-safe while tensors are being fetched (conversion caches);
 * loading is single-threaded, and afterwards pointers are read-only.
 */
#ifndef DIF__IO_SAFETENSORS_H
#define DIF__IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"
#include "core/weight.h"

#define DIF__ST_MAX_HEADER (100u * 1000u * 1000u) /* the specification's 100 MB */

typedef enum dif__st_dtype {
  DIF__ST_BOOL,
  DIF__ST_U8,
  DIF__ST_I8,
  DIF__ST_F8_E5M2,
  DIF__ST_F8_E4M3,
  DIF__ST_I16,
  DIF__ST_U16,
  DIF__ST_F16,
  DIF__ST_BF16,
  DIF__ST_I32,
  DIF__ST_U32,
  DIF__ST_F32,
  DIF__ST_F64,
  DIF__ST_I64,
  DIF__ST_U64,
  DIF__ST_DTYPE_COUNT
} dif__st_dtype;

typedef struct dif__st_entry {
  const char *name;
  dif__st_dtype dtype;
  int ndim;
  int64_t shape[8];    /* safetensors allows any rank; we keep up to 8 */
  uint64_t begin, end; /* byte range inside the data section */
} dif__st_entry;

typedef struct dif__safetensors dif__safetensors;

/* Maps and validates path. Failures: DIF_ERR_IO (cannot open/map), DIF_ERR_BAD_MODEL
 * (any violation above; the message names the file, the tensor and the rule). */
dif_status dif__st_open(const char *path, dif__safetensors **out, dif__error *err);
/* Same over a caller-owned buffer (which must outlive the handle); no hash
 * unless asked. Used by tests and fuzzers. */
dif_status dif__st_open_memory(const void *data, size_t size, const char *name,
                               dif__safetensors **out, dif__error *err);
void dif__st_close(dif__safetensors *st);
/* DIF_ERR_IO if the mapped file was changed in place (size or mtime) since
 * it was opened: reading its pages could then die with SIGBUS. A file
 * replaced by another at the same path (rename) is fine: the mapping keeps
 * the old one. */
dif_status dif__st_check_unchanged(const dif__safetensors *st, dif__error *err);

/* Drops the process's copy of st's file pages (madvise MADV_DONTNEED on its
 * read-only private mapping; a view: the pages wholly inside its own
 * tensors): memory a finished network no longer needs. They are read again
 * from the page cache (or the file) on the next access, so every pointer
 * into st stays valid. Nothing for a set read from memory
 * (dif__st_open_memory). Returns the bytes dropped; NULL gives 0. */
size_t dif__st_drop_pages(const dif__safetensors *st);
const char *dif__st_path(const dif__safetensors *st);
uint64_t dif__st_xxh3(const dif__safetensors *st); /* of the whole file */
uint64_t dif__st_file_size(const dif__safetensors *st);
size_t dif__st_count(const dif__safetensors *st);
const dif__st_entry *dif__st_entry_at(const dif__safetensors *st, size_t i); /* in offset order */
const dif__st_entry *dif__st_find(const dif__safetensors *st, const char *name);
/* Raw bytes of an entry (little-endian, possibly unaligned). */
const void *dif__st_data(const dif__safetensors *st, const dif__st_entry *e);
/* A `__metadata__` value or NULL. */
const char *dif__st_metadata(const dif__safetensors *st, const char *key);
const char *dif__st_dtype_name(dif__st_dtype d);
size_t dif__st_dtype_size(dif__st_dtype d);

/* Fetches a float tensor: F32 in place, F16/BF16 converted once. Fails with
 * DIF_ERR_BAD_MODEL naming the tensor if it is missing, DIF_ERR_UNSUPPORTED
 * naming the dtype if it is not a float type we load. */
dif_status dif__st_get_f32(dif__safetensors *st, const char *name, dif__tensor *out,
                           dif__error *err);
/* Same, and the shape must equal `shape` (ndim dims); the message shows both. */
dif_status dif__st_get_f32_shape(dif__safetensors *st, const char *name, int ndim,
                                 const int64_t *shape, dif__tensor *out, dif__error *err);
/* A view: a handle whose entries are renamed, reshaped or row-sliced byte
 * ranges of another handle's tensors (the base), over the base's mapping
 * (zero copy; F16/BF16 are converted per view, on first access). It keeps
 * the base mapped until both are closed; its xxh3, size and
 * dif__st_check_unchanged are the base file's, its path is `label`. Built by
 * io/checkpoint.c to present one part of a single-file checkpoint under
 * diffusers names. Each entry's range must lie inside its source entry and
 * have the source's dtype; names must be unique (DIF_ERR_BAD_MODEL). */
typedef struct dif__st_view_entry {
  char name[256];
  const dif__st_entry *src; /* an entry of base */
  uint64_t offset;          /* bytes from the start of src's data */
  int ndim;
  int64_t shape[8];
} dif__st_view_entry;
dif_status dif__st_open_view(dif__safetensors *base, const char *label, const dif__st_view_entry *v,
                             size_t n, dif__safetensors **out, dif__error *err);

/* Fetches a weight in the file's dtype (F32, F16 or BF16) without copying
 * it: data points into the mapping (mapped is set when the handle maps a
 * file, not for dif__st_open_memory), possibly at an odd address for 16-bit
 * dtypes; an F32 tensor at an offset that is not a multiple of 4 is copied
 * once, aligned, as dif__st_get_f32 does. ndim > 0: the shape must equal
 * `shape` (the message shows both); ndim 0: any shape. Errors as
 * dif__st_get_f32_shape. */
dif_status dif__st_get_weight(dif__safetensors *st, const char *name, int ndim,
                              const int64_t *shape, dif__weight *out, dif__error *err);
/* Replaces n weights of st by float32 arrays of the same element count,
 * which st then owns (LoRA merging, io/lora.h): from then on
 * dif__st_get_weight and dif__st_get_f32 hand out data[i] for names[i], with
 * the entry's shape, and dif__st_close frees it. The file's own tensors stay
 * mapped and untouched. All or nothing: on failure (a name missing or
 * replaced already, no memory) nothing is replaced and the arrays stay the
 * caller's. */
dif_status dif__st_replace_weights(dif__safetensors *st, const char *const *names,
                                   float *const *data, size_t n, dif__error *err);
/* Converts any numeric entry (ints, bools and floats) to doubles in out[numel]
 * (for fixtures: token ids are I64). */
void dif__st_to_f64(const dif__safetensors *st, const dif__st_entry *e, double *out);
int64_t dif__st_numel(const dif__st_entry *e);

#endif
