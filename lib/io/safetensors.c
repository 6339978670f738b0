/* safetensors.c — mapping and validating safetensors files (see safetensors.h). */
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/dtype.h"
#include "io/fileio.h"

struct dif__safetensors {
  char *path;
  const uint8_t *map;  /* whole file */
  size_t map_size;     /* 0 when not mmapped (memory buffer) */
  const uint8_t *data; /* data section = map + 8 + N */
  uint64_t data_size;
  uint64_t xxh3;
  dif__st_entry *entries; /* sorted by begin */
  size_t count;
  size_t *by_name;   /* indices into entries, sorted by name */
  float **converted; /* per entry, F16/BF16 → F32 copies (lazy) */
  float **replaced;  /* per entry, owned merged weights (dif__st_replace_weights) or NULL */
  json_t *header;    /* keeps entry names alive */
  json_t *metadata;  /* borrowed from header */
  struct stat file;  /* the mapped file as opened (st_dev, st_ino, st_size, st_mtim) */
  /* views (dif__st_open_view): the base they share, and on a base the number
   * of open views, which keep it mapped */
  dif__safetensors *base;
  size_t views;
  int closed;
  char *names;                /* a view's entry names, one block */
  const dif__st_entry **srcs; /* a view's entries' sources in the base, for messages */
};

static const struct {
  const char *name;
  size_t size;
} dtypes[DIF__ST_DTYPE_COUNT] = {
    [DIF__ST_BOOL] = {"BOOL", 1},       [DIF__ST_U8] = {"U8", 1},
    [DIF__ST_I8] = {"I8", 1},           [DIF__ST_F8_E5M2] = {"F8_E5M2", 1},
    [DIF__ST_F8_E4M3] = {"F8_E4M3", 1}, [DIF__ST_I16] = {"I16", 2},
    [DIF__ST_U16] = {"U16", 2},         [DIF__ST_F16] = {"F16", 2},
    [DIF__ST_BF16] = {"BF16", 2},       [DIF__ST_I32] = {"I32", 4},
    [DIF__ST_U32] = {"U32", 4},         [DIF__ST_F32] = {"F32", 4},
    [DIF__ST_F64] = {"F64", 8},         [DIF__ST_I64] = {"I64", 8},
    [DIF__ST_U64] = {"U64", 8},
};

const char *dif__st_dtype_name(dif__st_dtype d) {
  return (unsigned)d < DIF__ST_DTYPE_COUNT ? dtypes[d].name : "?";
}
size_t dif__st_dtype_size(dif__st_dtype d) {
  return (unsigned)d < DIF__ST_DTYPE_COUNT ? dtypes[d].size : 0;
}

int64_t dif__st_numel(const dif__st_entry *e) {
  int64_t n = 1;
  for (int i = 0; i < e->ndim; i++) n *= e->shape[i];
  return n;
}

void dif__st_close(dif__safetensors *st) {
  if (!st) return;
  if (st->views) { /* views still use the mapping: the last one closes it */
    st->closed = 1;
    return;
  }
  if (st->base) {
    dif__safetensors *b = st->base;
    if (--b->views == 0 && b->closed) dif__st_close(b);
  }
  free(st->names);
  free(st->srcs);
  if (st->converted) {
    for (size_t i = 0; i < st->count; i++) free(st->converted[i]);
    free(st->converted);
  }
  if (st->replaced) {
    for (size_t i = 0; i < st->count; i++) free(st->replaced[i]);
    free(st->replaced);
  }
  if (st->map_size) munmap((void *)st->map, st->map_size);
  json_decref(st->header);
  free(st->entries);
  free(st->by_name);
  free(st->path);
  free(st);
}

static int cmp_begin(const void *a, const void *b) {
  const dif__st_entry *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_name_idx(const void *a, const void *b, void *entries) {
  const dif__st_entry *base = entries;
  return strcmp(base[*(const size_t *)a].name, base[*(const size_t *)b].name);
}

/* Parses one tensor entry of the header. */
static dif_status parse_entry(const char *file, const char *name, json_t *v, dif__st_entry *e,
                              dif__error *err) {
  if (!json_is_object(v))
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: tensor '%s': entry is not a JSON object", file,
                     name);
  json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
         *jo = json_object_get(v, "data_offsets");
  if (!json_is_string(jd))
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: tensor '%s': missing or non-string 'dtype'", file,
                     name);
  const char *ds = json_string_value(jd);
  int d = -1;
  for (int i = 0; i < DIF__ST_DTYPE_COUNT; i++)
    if (strcmp(ds, dtypes[i].name) == 0) d = i;
  if (d < 0)
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: tensor '%s': unknown dtype '%.32s'", file, name,
                     ds);
  e->dtype = (dif__st_dtype)d;
  if (!json_is_array(js))
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: tensor '%s': missing or non-array 'shape'", file,
                     name);
  size_t nd = json_array_size(js);
  if (nd > 8)
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: tensor '%s': %zu dimensions (at most 8)", file,
                     name, nd);
  e->ndim = (int)nd;
  uint64_t numel = 1;
  int overflow = 0;
  for (size_t i = 0; i < nd; i++) {
    json_t *x = json_array_get(js, i);
    if (!json_is_integer(x))
      return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: tensor '%s': dimension %zu is not an integer",
                       file, name, i);
    json_int_t dim = json_integer_value(x);
    if (dim < 0)
      return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: tensor '%s': dimension %zu is negative (%lld)",
                       file, name, i, (long long)dim);
    e->shape[i] = dim;
    /* Every partial product must fit in int64_t, not just uint64_t:
     * dif__st_numel multiplies the same dimensions in signed arithmetic, and
     * [2^62, 2, 0] would overflow there before the 0 is reached. */
    if (dim != 0 && numel > (uint64_t)INT64_MAX / (uint64_t)dim) overflow = 1;
    numel *= (uint64_t)dim;
  }
  size_t esz = dtypes[d].size;
  if (overflow || numel > INT64_MAX / esz)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: tensor '%s': element count x dtype size overflows 64 bits", file, name);
  if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
      !json_is_integer(json_array_get(jo, 1)))
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: tensor '%s': 'data_offsets' must be two integers [begin, end]", file,
                     name);
  json_int_t b = json_integer_value(json_array_get(jo, 0));
  json_int_t en = json_integer_value(json_array_get(jo, 1));
  if (b < 0 || en < b)
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: tensor '%s': invalid data_offsets [%lld, %lld]",
                     file, name, (long long)b, (long long)en);
  e->begin = (uint64_t)b;
  e->end = (uint64_t)en;
  if (e->end - e->begin != numel * esz)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: tensor '%s': shape x dtype size is %llu bytes but data_offsets span "
                     "%llu bytes",
                     file, name, (unsigned long long)(numel * esz),
                     (unsigned long long)(e->end - e->begin));
  return DIF_OK;
}

static dif_status parse(dif__safetensors *st, const uint8_t *buf, uint64_t size, dif__error *err) {
  const char *file = st->path;
  if (size < 8)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: file is %llu bytes, too small for the 8-byte header size", file,
                     (unsigned long long)size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | buf[i];
  if (n > DIF__ST_MAX_HEADER)
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: header size %llu exceeds the 100 MB limit", file,
                     (unsigned long long)n);
  if (n > size - 8)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: header size %llu is larger than the file (%llu bytes after the size)",
                     file, (unsigned long long)n, (unsigned long long)(size - 8));
  if (n < 2 || buf[8] != '{')
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: header does not start with a JSON object '{'",
                     file);
  json_error_t je;
  st->header = json_loadb((const char *)buf + 8, (size_t)n, JSON_REJECT_DUPLICATES, &je);
  if (!st->header)
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: header is not valid JSON: %s (at byte %d)", file,
                     je.text, je.position);
  if (!json_is_object(st->header))
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: header JSON is not an object", file);
  st->data = buf + 8 + n;
  st->data_size = size - 8 - n;

  size_t cap = json_object_size(st->header);
  st->entries = calloc(cap ? cap : 1, sizeof *st->entries);
  st->by_name = calloc(cap ? cap : 1, sizeof *st->by_name);
  if (!st->entries || !st->by_name) return dif__fail_oom(err, "safetensors index", cap);
  const char *key;
  json_t *v;
  json_object_foreach(st->header, key, v) {
    if (strcmp(key, "__metadata__") == 0) {
      if (!json_is_object(v))
        return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: __metadata__ is not a JSON object", file);
      const char *mk;
      json_t *mv;
      json_object_foreach(v, mk, mv) {
        if (!json_is_string(mv))
          return dif__fail(err, DIF_ERR_BAD_MODEL,
                           "%s: __metadata__ value of '%.64s' is not a string", file, mk);
      }
      st->metadata = v;
      continue;
    }
    dif__st_entry *e = &st->entries[st->count];
    e->name = key; /* owned by st->header */
    dif_status s = parse_entry(file, key, v, e, err);
    if (s) return s;
    st->count++;
  }
  qsort(st->entries, st->count, sizeof *st->entries, cmp_begin);
  uint64_t pos = 0;
  for (size_t i = 0; i < st->count; i++) {
    const dif__st_entry *e = &st->entries[i];
    if (e->begin < pos)
      return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: tensor '%s' overlaps '%s' (bytes %llu..%llu)",
                       file, e->name, st->entries[i - 1].name, (unsigned long long)e->begin,
                       (unsigned long long)e->end);
    if (e->begin > pos)
      return dif__fail(err, DIF_ERR_BAD_MODEL,
                       "%s: gap of %llu unused bytes before tensor '%s' at data offset %llu", file,
                       (unsigned long long)(e->begin - pos), e->name, (unsigned long long)pos);
    if (e->end > st->data_size)
      return dif__fail(err, DIF_ERR_BAD_MODEL,
                       "%s: tensor '%s' ends at data offset %llu, past the end of the file's "
                       "%llu data bytes",
                       file, e->name, (unsigned long long)e->end,
                       (unsigned long long)st->data_size);
    pos = e->end;
  }
  if (pos != st->data_size)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: %llu trailing bytes after the last tensor (data section is %llu bytes)",
                     file, (unsigned long long)(st->data_size - pos),
                     (unsigned long long)st->data_size);
  for (size_t i = 0; i < st->count; i++) st->by_name[i] = i;
  qsort_r(st->by_name, st->count, sizeof *st->by_name, cmp_name_idx, st->entries);
  st->converted = calloc(st->count ? st->count : 1, sizeof *st->converted);
  if (!st->converted) return dif__fail_oom(err, "safetensors conversion table", st->count);
  return DIF_OK;
}

static dif__safetensors *st_new(const char *name, dif__error *err) {
  dif__safetensors *st = calloc(1, sizeof *st);
  if (st) st->path = strdup(name ? name : "(memory)");
  if (!st || !st->path) {
    free(st);
    dif__fail_oom(err, "safetensors handle", sizeof *st);
    return NULL;
  }
  return st;
}

dif_status dif__st_open_memory(const void *data, size_t size, const char *name,
                               dif__safetensors **out, dif__error *err) {
  *out = NULL;
  dif__safetensors *st = st_new(name, err);
  if (!st) return err ? err->status : DIF_ERR_OUT_OF_MEMORY;
  st->map = data;
  dif_status s = parse(st, data, size, err);
  if (s) {
    dif__st_close(st);
    return s;
  }
  *out = st;
  return DIF_OK;
}

dif_status dif__st_open(const char *path, dif__safetensors **out, dif__error *err) {
  *out = NULL;
  int fd;
  struct stat sb;
  dif_status so = dif__file_open_read(path, &fd, &sb, err);
  if (so) return so;
  dif__safetensors *st = st_new(path, err);
  if (!st) {
    close(fd);
    return err ? err->status : DIF_ERR_OUT_OF_MEMORY;
  }
  st->file = sb;
  uint64_t size = (uint64_t)sb.st_size;
  if (size > 0) {
    void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      int e = errno;
      close(fd);
      dif__st_close(st);
      return dif__fail(err, e == ENOMEM ? DIF_ERR_OUT_OF_MEMORY : DIF_ERR_IO,
                       "%s: cannot map %llu bytes: %s", path, (unsigned long long)size,
                       strerror(e));
    }
    st->map = m;
    st->map_size = (size_t)size;
  }
  close(fd);
  dif_status s = parse(st, st->map, size, err);
  if (s) {
    dif__st_close(st);
    return s;
  }
  /* The identity hash is the one full pass over the file. It leaves the file
   * in the page cache; the process's own mapping of it is dropped again, so
   * the process holds only the pages its runs read (a component a run never
   * uses, such as the image encoder of a text-to-image run, costs no
   * memory), each faulted in from the page cache (no disk read) when first
   * used. A read-only private mapping that was never written reads the file
   * again after MADV_DONTNEED. */
  st->xxh3 = XXH3_64bits(st->map, st->map_size);
  madvise((void *)(uintptr_t)st->map, st->map_size, MADV_DONTNEED);
  *out = st;
  return DIF_OK;
}

/* madvise(MADV_DONTNEED) on the pages wholly inside [begin, end). */
static size_t drop_range(const uint8_t *begin, const uint8_t *end) {
  const long ps = sysconf(_SC_PAGESIZE);
  if (ps <= 0 || end <= begin) return 0;
  const uintptr_t page = (uintptr_t)ps;
  const uintptr_t lo = ((uintptr_t)begin + page - 1) / page * page,
                  hi = (uintptr_t)end / page * page;
  if (hi <= lo) return 0;
  return madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0 ? (size_t)(hi - lo) : 0;
}

size_t dif__st_drop_pages(const dif__safetensors *st) {
  if (!st) return 0;
  if (!st->base) return st->map_size ? drop_range(st->map, st->map + st->map_size) : 0;
  if (!st->base->map_size) return 0;
  size_t dropped = 0; /* a view: its own tensors' pages only */
  for (size_t i = 0; i < st->count; i++)
    dropped += drop_range(st->data + st->entries[i].begin, st->data + st->entries[i].end);
  return dropped;
}

const char *dif__st_path(const dif__safetensors *st) { return st->path; }
uint64_t dif__st_xxh3(const dif__safetensors *st) { return st->xxh3; }
uint64_t dif__st_file_size(const dif__safetensors *st) {
  return (uint64_t)(st->data - st->map) + st->data_size;
}
size_t dif__st_count(const dif__safetensors *st) { return st->count; }
const dif__st_entry *dif__st_entry_at(const dif__safetensors *st, size_t i) {
  return i < st->count ? &st->entries[i] : NULL;
}

const dif__st_entry *dif__st_find(const dif__safetensors *st, const char *name) {
  size_t lo = 0, hi = st->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const dif__st_entry *e = &st->entries[st->by_name[mid]];
    int c = strcmp(e->name, name);
    if (c == 0) return e;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

const void *dif__st_data(const dif__safetensors *st, const dif__st_entry *e) {
  return st->data + e->begin;
}

const char *dif__st_metadata(const dif__safetensors *st, const char *key) {
  return st->metadata ? json_string_value(json_object_get(st->metadata, key)) : NULL;
}

static int fill_tensor(const dif__st_entry *e, float *data, dif__tensor *out, const char *file,
                       dif__error *err) {
  if (e->ndim > DIF__MAX_DIMS)
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (at most %d)",
                     file, e->name, e->ndim, DIF__MAX_DIMS);
  out->data = data;
  out->ndim = e->ndim;
  for (int i = 0; i < e->ndim; i++) out->shape[i] = e->shape[i];
  return DIF_OK;
}

dif_status dif__st_get_f32(dif__safetensors *st, const char *name, dif__tensor *out,
                           dif__error *err) {
  const dif__st_entry *e = dif__st_find(st, name);
  if (!e) return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: missing tensor '%s'", st->path, name);
  size_t idx = (size_t)(e - st->entries);
  const uint8_t *src = st->data + e->begin;
  int64_t n = dif__st_numel(e);
  if (st->replaced && st->replaced[idx])
    return fill_tensor(e, st->replaced[idx], out, st->path, err);
  if (e->dtype == DIF__ST_F32 && ((uintptr_t)src % sizeof(float)) == 0)
    return fill_tensor(e, (float *)src, out, st->path, err);
  if (e->dtype != DIF__ST_F32 && e->dtype != DIF__ST_F16 && e->dtype != DIF__ST_BF16)
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "%s: tensor '%s' has dtype %s; weights must be F32, F16 or BF16", st->path,
                     name, dtypes[e->dtype].name);
  if (!st->converted[idx]) {
    float *f = malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!f) return dif__fail_oom(err, name, (size_t)n * sizeof(float));
    if (e->dtype == DIF__ST_F32)
      memcpy(f, src, (size_t)n * sizeof(float)); /* unaligned */
    else if (e->dtype == DIF__ST_F16)
      dif__dtype_to_f32(DIF__DTYPE_F16, src, (size_t)n, f);
    else
      dif__dtype_to_f32(DIF__DTYPE_BF16, src, (size_t)n, f);
    st->converted[idx] = f;
  }
  return fill_tensor(e, st->converted[idx], out, st->path, err);
}

/* The entry of a weight, checked: present, a float dtype, at most
 * DIF__MAX_DIMS dimensions, and the expected shape when ndim > 0. */
/* Tensor e has shape `have`, the loader expected `want`: the message names
 * the tensor (and, in a view, which tensor of the file it is) and both
 * shapes. */
static dif_status shape_mismatch(const dif__safetensors *st, const dif__st_entry *e,
                                 const int64_t *have, int have_nd, const int64_t *want, int want_nd,
                                 dif__error *err) {
  char a[96], b[96], from[300] = "";
  if (st->srcs) /* a view: say which tensor of the file it is */
    snprintf(from, sizeof from, " (the file's '%s')", st->srcs[e - st->entries]->name);
  return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: tensor '%s'%s has shape %s, expected %s", st->path,
                   e->name, from, dif__shape_str(have, have_nd, a, sizeof a),
                   dif__shape_str(want, want_nd, b, sizeof b));
}

static dif_status weight_entry(const dif__safetensors *st, const char *name, int ndim,
                               const int64_t *shape, const dif__st_entry **out, dif__error *err) {
  const dif__st_entry *e = dif__st_find(st, name);
  if (!e) return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: missing tensor '%s'", st->path, name);
  if (e->dtype != DIF__ST_F32 && e->dtype != DIF__ST_F16 && e->dtype != DIF__ST_BF16)
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "%s: tensor '%s' has dtype %s; weights must be F32, F16 or BF16", st->path,
                     name, dtypes[e->dtype].name);
  if (e->ndim > DIF__MAX_DIMS)
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (at most %d)",
                     st->path, name, e->ndim, DIF__MAX_DIMS);
  int same = ndim == 0 || e->ndim == ndim;
  for (int i = 0; same && i < ndim; i++) same = e->shape[i] == shape[i];
  if (!same) return shape_mismatch(st, e, e->shape, e->ndim, shape, ndim, err);
  *out = e;
  return DIF_OK;
}

dif_status dif__st_get_weight(dif__safetensors *st, const char *name, int ndim,
                              const int64_t *shape, dif__weight *out, dif__error *err) {
  const dif__st_entry *e = NULL;
  dif_status s = weight_entry(st, name, ndim, shape, &e, err);
  if (s) return s;
  const int64_t n = dif__st_numel(e);
  const uint8_t *src = st->data + e->begin;
  const float *merged = st->replaced ? st->replaced[e - st->entries] : NULL;
  if (merged) {
    *out = (dif__weight){merged, DIF__DTYPE_F32, n, false};
    return DIF_OK;
  }
  if (e->dtype == DIF__ST_F32 && ((uintptr_t)src % sizeof(float)) != 0) {
    /* an F32 tensor at an unaligned offset: its aligned copy, as
     * dif__st_get_f32 makes it (kernels read float32 weights as floats) */
    dif__tensor t;
    if ((s = dif__st_get_f32(st, name, &t, err))) return s;
    *out = (dif__weight){t.data, DIF__DTYPE_F32, n, false};
    return DIF_OK;
  }
  const dif__dtype d = e->dtype == DIF__ST_F32   ? DIF__DTYPE_F32
                       : e->dtype == DIF__ST_F16 ? DIF__DTYPE_F16
                                                 : DIF__DTYPE_BF16;
  const dif__safetensors *file = st->base ? st->base : st; /* a view's pages are its base's */
  *out = (dif__weight){src, d, n, file->map_size != 0};
  return DIF_OK;
}

dif_status dif__st_get_f32_shape(dif__safetensors *st, const char *name, int ndim,
                                 const int64_t *shape, dif__tensor *out, dif__error *err) {
  dif_status s = dif__st_get_f32(st, name, out, err);
  if (s) return s;
  int same = out->ndim == ndim;
  for (int i = 0; same && i < ndim; i++) same = out->shape[i] == shape[i];
  if (!same)
    return shape_mismatch(st, dif__st_find(st, name), out->shape, out->ndim, shape, ndim, err);
  return DIF_OK;
}

dif_status dif__st_replace_weights(dif__safetensors *st, const char *const *names,
                                   float *const *data, size_t n, dif__error *err) {
  for (size_t i = 0; i < n; i++) {
    const dif__st_entry *e = dif__st_find(st, names[i]);
    if (!e)
      return dif__fail(err, DIF_ERR_INTERNAL, "%s: no tensor '%s' to replace", st->path, names[i]);
    if (st->replaced && st->replaced[e - st->entries])
      return dif__fail(err, DIF_ERR_INTERNAL, "%s: tensor '%s' replaced twice", st->path, names[i]);
  }
  if (!st->replaced && !(st->replaced = calloc(st->count ? st->count : 1, sizeof *st->replaced)))
    return dif__fail_oom(err, "replaced weights", st->count * sizeof *st->replaced);
  for (size_t i = 0; i < n; i++) st->replaced[dif__st_find(st, names[i]) - st->entries] = data[i];
  return DIF_OK;
}

void dif__st_to_f64(const dif__safetensors *st, const dif__st_entry *e, double *out) {
  const uint8_t *p = st->data + e->begin;
  int64_t n = dif__st_numel(e);
  for (int64_t i = 0; i < n; i++) {
    const uint8_t *q = p + (size_t)i * dtypes[e->dtype].size;
    double v = 0;
    switch (e->dtype) {
#define LOAD(T)                                                                                    \
  {                                                                                                \
    T t;                                                                                           \
    memcpy(&t, q, sizeof t);                                                                       \
    v = (double)t;                                                                                 \
  }                                                                                                \
  break;
    case DIF__ST_BOOL: v = q[0] != 0; break;
    case DIF__ST_U8: v = q[0]; break;
    case DIF__ST_I8: v = (int8_t)q[0]; break;
    case DIF__ST_I16: LOAD(int16_t)
    case DIF__ST_U16: LOAD(uint16_t)
    case DIF__ST_I32: LOAD(int32_t)
    case DIF__ST_U32: LOAD(uint32_t)
    case DIF__ST_I64: LOAD(int64_t)
    case DIF__ST_U64: LOAD(uint64_t)
    case DIF__ST_F32: LOAD(float)
    case DIF__ST_F64: LOAD(double)
#undef LOAD
    case DIF__ST_F16: {
      float f;
      dif__dtype_to_f32(DIF__DTYPE_F16, q, 1, &f);
      v = f;
    } break;
    case DIF__ST_BF16: {
      float f;
      dif__dtype_to_f32(DIF__DTYPE_BF16, q, 1, &f);
      v = f;
    } break;
    default: v = 0; break; /* FP8: not used by any fixture */
    }
    out[i] = v;
  }
}

dif_status dif__st_check_unchanged(const dif__safetensors *st, dif__error *err) {
  if (st->base) return dif__st_check_unchanged(st->base, err);
  if (!st->map_size) return DIF_OK; /* a memory buffer, not a file */
  struct stat now;
  /* Another file at the path (replaced by rename, or deleted) leaves our
   * mapping of the old one intact; only the same file changed in place can
   * pull pages from under it. */
  if (stat(st->path, &now) != 0 || now.st_dev != st->file.st_dev || now.st_ino != st->file.st_ino)
    return DIF_OK;
  if (now.st_size != st->file.st_size || now.st_mtim.tv_sec != st->file.st_mtim.tv_sec ||
      now.st_mtim.tv_nsec != st->file.st_mtim.tv_nsec)
    return dif__fail(err, DIF_ERR_IO,
                     "%s was changed on disk since the model was loaded (%lld bytes then, %lld "
                     "now); load the model again",
                     st->path, (long long)st->file.st_size, (long long)now.st_size);
  return DIF_OK;
}

/* Views (dif__st_open_view): a handle built from entries of a handle this file
 * already validated, sharing its mapping. */
static dif_status check_entry(const dif__safetensors *base, const char *label,
                              const dif__st_view_entry *v, dif__error *err) {
  const dif__st_entry *src = v->src;
  uint64_t n = 1, size = dif__st_dtype_size(src->dtype);
  if (v->ndim < 0 || v->ndim > 8)
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: tensor '%s': %d dimensions", label, v->name,
                     v->ndim);
  for (int i = 0; i < v->ndim; i++) {
    if (v->shape[i] < 0 || (v->shape[i] && n > UINT64_MAX / 16 / (uint64_t)v->shape[i]))
      return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: tensor '%s': bad shape", label, v->name);
    n *= (uint64_t)v->shape[i];
  }
  uint64_t have = src->end - src->begin;
  if (v->offset > have || n * size > have - v->offset)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: tensor '%s' would read %llu bytes at offset %llu of '%s', which has %llu",
                     label, v->name, (unsigned long long)(n * size), (unsigned long long)v->offset,
                     src->name, (unsigned long long)have);
  (void)base;
  return DIF_OK;
}

dif_status dif__st_open_view(dif__safetensors *base, const char *label, const dif__st_view_entry *v,
                             size_t n, dif__safetensors **out, dif__error *err) {
  *out = NULL;
  dif__safetensors *st = calloc(1, sizeof *st);
  size_t names = 0;
  for (size_t i = 0; i < n; i++) names += strlen(v[i].name) + 1;
  if (st) {
    st->path = strdup(label);
    st->entries = calloc(n ? n : 1, sizeof *st->entries);
    st->by_name = calloc(n ? n : 1, sizeof *st->by_name);
    st->converted = calloc(n ? n : 1, sizeof *st->converted);
    st->names = malloc(names ? names : 1);
    st->srcs = calloc(n ? n : 1, sizeof *st->srcs);
  }
  if (!st || !st->path || !st->entries || !st->by_name || !st->converted || !st->names ||
      !st->srcs) {
    dif__st_close(st);
    return dif__fail_oom(err, "safetensors view", n * sizeof *st->entries + names);
  }
  st->base = base;
  base->views++;
  st->map = base->map;
  st->data = base->data;
  st->data_size = base->data_size;
  st->xxh3 = base->xxh3;
  st->file = base->file;
  st->count = n;
  char *p = st->names;
  dif_status s = DIF_OK;
  for (size_t i = 0; i < n && !s; i++) {
    if ((s = check_entry(base, label, &v[i], err))) break;
    dif__st_entry *e = &st->entries[i];
    size_t len = strlen(v[i].name) + 1;
    memcpy(p, v[i].name, len);
    e->name = p;
    p += len;
    e->dtype = v[i].src->dtype;
    st->srcs[i] = v[i].src;
    e->ndim = v[i].ndim;
    memcpy(e->shape, v[i].shape, sizeof e->shape);
    e->begin = v[i].src->begin + v[i].offset;
    e->end = e->begin + (uint64_t)dif__st_numel(e) * dif__st_dtype_size(e->dtype);
    st->by_name[i] = i;
  }
  if (!s) {
    qsort_r(st->by_name, n, sizeof *st->by_name, cmp_name_idx, st->entries);
    for (size_t i = 1; i < n && !s; i++)
      if (strcmp(st->entries[st->by_name[i]].name, st->entries[st->by_name[i - 1]].name) == 0)
        s = dif__fail(err, DIF_ERR_BAD_MODEL, "%s: two tensors would be named '%s'", label,
                      st->entries[st->by_name[i]].name);
  }
  if (s) {
    dif__st_close(st);
    return s;
  }
  *out = st;
  return DIF_OK;
}
