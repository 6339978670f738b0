/* The safetensors reader (lib/io/safetensors.c): hostile files are refused
 * with a specific status and a message naming the problem, both from memory
 * (dif__st_open_memory) and from temporary files (dif__st_open); well-formed
 * files load, F16/BF16 convert exactly, and the real tiny model files of
 * tests/golden/models open with a stable xxh3 fingerprint.
 *
 * Files are built in memory by st_build(): the header is written with single
 * quotes for readability and they are turned into double quotes. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>
#include <xxhash.h>

#include "io/safetensors.h"
#include "test.h"

/* ---- building files ---- */

/* A safetensors file: 8-byte little-endian header size, the header (single
 * quotes become double quotes) followed by `spaces` spaces, then n data bytes.
 * The header size field is hsize if hsize != AUTO, else the real size. */
#define AUTO UINT64_MAX
static uint8_t *st_build_ex(uint64_t hsize, const char *header, size_t spaces, const void *data,
                            size_t n, size_t *size) {
  size_t h = strlen(header) + spaces;
  *size = 8 + h + n;
  uint8_t *buf = malloc(*size ? *size : 1);
  if (!buf) abort();
  uint64_t field = hsize == AUTO ? (uint64_t)h : hsize;
  for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(field >> (8 * i));
  for (size_t i = 0; header[i]; i++) buf[8 + i] = header[i] == '\'' ? '"' : (uint8_t)header[i];
  memset(buf + 8 + strlen(header), ' ', spaces);
  if (n) memcpy(buf + 8 + h, data, n);
  return buf;
}

static uint8_t *st_build(const char *header, const void *data, size_t n, size_t *size) {
  return st_build_ex(AUTO, header, 0, data, n, size);
}

/* Writes buf to a new file under /tmp; path receives its name. */
static void write_temp(const void *buf, size_t size, char *path, size_t cap) {
  snprintf(path, cap, "/tmp/dif-test-st-XXXXXX");
  int fd = mkstemp(path);
  if (fd < 0) {
    perror("mkstemp");
    abort();
  }
  const uint8_t *p = buf;
  while (size) {
    ssize_t w = write(fd, p, size);
    if (w <= 0) {
      perror("write");
      abort();
    }
    p += w;
    size -= (size_t)w;
  }
  close(fd);
}

static uint8_t *read_all(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) abort();
  fclose(f);
  *size = (size_t)n;
  return buf;
}

/* Opens buf from memory and from a temporary file; both must fail with want
 * and a message containing substr and naming the file. Frees buf. */
static void expect_bad_at(int line, uint8_t *buf, size_t size, dif_status want,
                          const char *substr) {
  dif__error err;
  dif__error_clear(&err);
  dif__safetensors *st = NULL;
  dif_status s = dif__st_open_memory(buf, size, "hostile.safetensors", &st, &err);
  if (s != want || !strstr(err.msg, substr) || !strstr(err.msg, "hostile.safetensors") || st) {
    fprintf(stderr, "%s:%d: memory: expected %s with \"%s\", got %s: \"%s\"\n", __FILE__, line,
            dif_status_string(want), substr, dif_status_string(s), err.msg);
    dif__test_checks_failed++;
  }
  dif__st_close(st);

  char path[64];
  write_temp(buf, size, path, sizeof path);
  dif__error_clear(&err);
  st = NULL;
  s = dif__st_open(path, &st, &err);
  if (s != want || !strstr(err.msg, substr) || !strstr(err.msg, path) || st) {
    fprintf(stderr, "%s:%d: file: expected %s with \"%s\" and \"%s\", got %s: \"%s\"\n", __FILE__,
            line, dif_status_string(want), substr, path, dif_status_string(s), err.msg);
    dif__test_checks_failed++;
  }
  dif__st_close(st);
  unlink(path);
  free(buf);
}
#define EXPECT_BAD(buf, size, want, substr) expect_bad_at(__LINE__, buf, size, want, substr)

/* A header over 16 zero data bytes must be refused with substr. */
#define EXPECT_BAD_HEADER(header, n, substr)                                                       \
  do {                                                                                             \
    static const uint8_t zeros_[64];                                                               \
    size_t size_;                                                                                  \
    uint8_t *b_ = st_build(header, zeros_, n, &size_);                                             \
    EXPECT_BAD(b_, size_, DIF_ERR_BAD_MODEL, substr);                                              \
  } while (0)

/* Opens buf from memory (must succeed). */
static dif__safetensors *open_ok_at(int line, const uint8_t *buf, size_t size) {
  dif__error err;
  dif__error_clear(&err);
  dif__safetensors *st = NULL;
  dif_status s = dif__st_open_memory(buf, size, "good.safetensors", &st, &err);
  if (s != DIF_OK || !st) {
    fprintf(stderr, "%s:%d: expected the file to open, got %s: \"%s\"\n", __FILE__, line,
            dif_status_string(s), err.msg);
    dif__test_checks_failed++;
  }
  return st;
}
#define OPEN_OK(buf, size) open_ok_at(__LINE__, buf, size)

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

/* ---- hostile files ---- */

TEST(empty_file) {
  size_t size = 0;
  uint8_t *b = malloc(1);
  EXPECT_BAD(b, size, DIF_ERR_BAD_MODEL, "file is 0 bytes, too small for the 8-byte header size");
}

TEST(shorter_than_header_size) {
  uint8_t *b = malloc(5);
  memcpy(b, "\x02\0\0\0\0", 5);
  EXPECT_BAD(b, 5, DIF_ERR_BAD_MODEL, "file is 5 bytes, too small");
  b = malloc(7);
  memset(b, 0, 7);
  EXPECT_BAD(b, 7, DIF_ERR_BAD_MODEL, "file is 7 bytes, too small");
}

TEST(header_cut_by_end_of_file) {
  /* The size field is fine (58 bytes) but the file stops 20 bytes in. */
  const char *h = "{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}";
  size_t size;
  uint8_t *b = st_build(h, "\0\0\0\0", 4, &size);
  EXPECT_BAD(b, 8 + 20, DIF_ERR_BAD_MODEL,
             "header size 54 is larger than the file (20 bytes after the size)");
}

TEST(header_json_cut) {
  /* The size field matches, but the JSON text inside it is incomplete. */
  size_t size;
  uint8_t *b = st_build("{'a':{'dtype':'F32','shape':[1],'data_off", NULL, 0, &size);
  EXPECT_BAD(b, size, DIF_ERR_BAD_MODEL, "header is not valid JSON");
}

TEST(header_size_larger_than_file) {
  size_t size;
  uint8_t *b = st_build_ex(1000, "{}", 0, NULL, 0, &size);
  EXPECT_BAD(b, size, DIF_ERR_BAD_MODEL, "header size 1000 is larger than the file (2 bytes");
  b = st_build_ex(UINT64_MAX - 1, "{}", 0, NULL, 0, &size);
  EXPECT_BAD(b, size, DIF_ERR_BAD_MODEL, "exceeds the 100 MB limit");
}

TEST(header_size_over_100mb) {
  size_t size;
  uint8_t *b = st_build_ex(DIF__ST_MAX_HEADER + 1, "{}", 0, NULL, 0, &size);
  EXPECT_BAD(b, size, DIF_ERR_BAD_MODEL, "header size 100000001 exceeds the 100 MB limit");
}

TEST(header_not_json) {
  EXPECT_BAD_HEADER("{hello}", 0, "header is not valid JSON");
  EXPECT_BAD_HEADER("hello", 0, "header does not start with a JSON object '{'");
  EXPECT_BAD_HEADER("{}}", 0, "header is not valid JSON");
  EXPECT_BAD_HEADER("{} {}", 0, "header is not valid JSON");
  EXPECT_BAD_HEADER(" {}", 0, "does not start with a JSON object");
  EXPECT_BAD_HEADER("", 0, "does not start with a JSON object");
  /* A NUL byte inside the header. */
  size_t size;
  uint8_t *b = st_build("{'a':1}", NULL, 0, &size);
  b[10] = 0;
  EXPECT_BAD(b, size, DIF_ERR_BAD_MODEL, "header is not valid JSON");
}

TEST(header_json_not_an_object) {
  EXPECT_BAD_HEADER("[1, 2]", 0, "header does not start with a JSON object");
  EXPECT_BAD_HEADER("'abc'", 0, "header does not start with a JSON object");
  EXPECT_BAD_HEADER("42", 0, "header does not start with a JSON object");
}

TEST(unknown_dtype) {
  EXPECT_BAD_HEADER("{'w':{'dtype':'F128','shape':[1],'data_offsets':[0,16]}}", 16,
                    "tensor 'w': unknown dtype 'F128'");
  EXPECT_BAD_HEADER("{'w':{'dtype':'f32','shape':[1],'data_offsets':[0,4]}}", 4,
                    "tensor 'w': unknown dtype 'f32'");
  EXPECT_BAD_HEADER("{'w':{'dtype':4,'shape':[1],'data_offsets':[0,4]}}", 4,
                    "tensor 'w': missing or non-string 'dtype'");
  EXPECT_BAD_HEADER("{'w':{'shape':[1],'data_offsets':[0,4]}}", 4,
                    "tensor 'w': missing or non-string 'dtype'");
}

TEST(shape_does_not_match_byte_range) {
  EXPECT_BAD_HEADER("{'w':{'dtype':'F32','shape':[2,2],'data_offsets':[0,12]}}", 12,
                    "tensor 'w': shape x dtype size is 16 bytes but data_offsets span 12 bytes");
  EXPECT_BAD_HEADER("{'w':{'dtype':'F16','shape':[3],'data_offsets':[0,12]}}", 12,
                    "tensor 'w': shape x dtype size is 6 bytes but data_offsets span 12 bytes");
  /* A scalar (shape []) is one element. */
  EXPECT_BAD_HEADER("{'w':{'dtype':'F64','shape':[],'data_offsets':[0,4]}}", 4,
                    "shape x dtype size is 8 bytes but data_offsets span 4 bytes");
}

TEST(overlapping_ranges) {
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},"
                    "'b':{'dtype':'F32','shape':[2],'data_offsets':[4,12]}}",
                    12, "tensor 'b' overlaps 'a' (bytes 4..12)");
  /* The same range twice. */
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},"
                    "'b':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}",
                    8, "overlaps");
  /* An empty tensor inside another one. */
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},"
                    "'e':{'dtype':'F32','shape':[0],'data_offsets':[4,4]}}",
                    8, "tensor 'e' overlaps 'a'");
}

TEST(gap_between_ranges) {
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
                    "'b':{'dtype':'F32','shape':[1],'data_offsets':[8,12]}}",
                    12, "gap of 4 unused bytes before tensor 'b' at data offset 4");
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}", 8,
                    "gap of 4 unused bytes before tensor 'a' at data offset 0");
}

TEST(trailing_bytes) {
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 7,
                    "3 trailing bytes after the last tensor (data section is 7 bytes)");
  EXPECT_BAD_HEADER("{}", 1, "1 trailing bytes after the last tensor");
  EXPECT_BAD_HEADER("{'__metadata__':{'k':'v'}}", 5, "5 trailing bytes");
}

TEST(range_past_end_of_file) {
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[4],'data_offsets':[0,16]}}", 12,
                    "tensor 'a' ends at data offset 16, past the end of the file's 12 data bytes");
  EXPECT_BAD_HEADER("{'a':{'dtype':'U8','shape':[1],'data_offsets':[0,1]},"
                    "'b':{'dtype':'F64','shape':[1000000],'data_offsets':[1,8000001]}}",
                    1, "tensor 'b' ends at data offset 8000001, past the end");
  /* Offsets near the top of the 64-bit range must not wrap around. */
  EXPECT_BAD_HEADER("{'a':{'dtype':'U8','shape':[8],"
                    "'data_offsets':[9223372036854775799,9223372036854775807]}}",
                    8, "gap of 9223372036854775799 unused bytes");
}

TEST(dimensions_overflow_64_bits) {
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[4294967296,4294967296],'data_offsets':[0,0]}}", 0,
                    "tensor 'a': element count x dtype size overflows 64 bits");
  /* Fits in 64 bits as elements, overflows once multiplied by the dtype size. */
  EXPECT_BAD_HEADER("{'a':{'dtype':'F64','shape':[2305843009213693952],'data_offsets':[0,0]}}", 0,
                    "overflows 64 bits");
  EXPECT_BAD_HEADER("{'a':{'dtype':'U8','shape':[9223372036854775807,9223372036854775807,"
                    "9223372036854775807],'data_offsets':[0,0]}}",
                    0, "overflows 64 bits");
  /* The product wraps to a small number in unsigned arithmetic. */
  EXPECT_BAD_HEADER("{'a':{'dtype':'U8','shape':[4294967296,4294967296,4294967296,"
                    "4294967296],'data_offsets':[0,0]}}",
                    0, "overflows 64 bits");
  /* Beyond int64: the JSON parser refuses the number itself. */
  EXPECT_BAD_HEADER("{'a':{'dtype':'U8','shape':[18446744073709551616],'data_offsets':[0,0]}}", 0,
                    "not valid JSON");
}

TEST(partial_product_beyond_int64_with_zero_dimension) {
  /* 2^62 * 2 = 2^63 fits in uint64_t but not in int64_t; the final 0 would
   * make the element count 0, but dif__st_numel's signed product overflows on
   * the way (undefined behaviour, found by UBSan), so the file is refused. */
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[4611686018427387904,2,0],'data_offsets':[0,0]}}",
                    0, "tensor 'a': element count x dtype size overflows 64 bits");
  EXPECT_BAD_HEADER("{'a':{'dtype':'U8','shape':[3037000500,3037000500,0],'data_offsets':[0,0]}}",
                    0, "overflows 64 bits");
}

TEST(negative_dimension) {
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[2,-1],'data_offsets':[0,0]}}", 0,
                    "tensor 'a': dimension 1 is negative (-1)");
  /* Two negatives whose product is positive and matches the range. */
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[-1,-1],'data_offsets':[0,4]}}", 4,
                    "dimension 0 is negative");
}

TEST(non_integer_dimension) {
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[2.0],'data_offsets':[0,8]}}", 8,
                    "tensor 'a': dimension 0 is not an integer");
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[1,'2'],'data_offsets':[0,8]}}", 8,
                    "tensor 'a': dimension 1 is not an integer");
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[null],'data_offsets':[0,4]}}", 4,
                    "dimension 0 is not an integer");
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[[1]],'data_offsets':[0,4]}}", 4,
                    "dimension 0 is not an integer");
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':2,'data_offsets':[0,8]}}", 8,
                    "tensor 'a': missing or non-array 'shape'");
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','data_offsets':[0,8]}}", 8,
                    "tensor 'a': missing or non-array 'shape'");
}

TEST(too_many_dimensions) {
  static const uint8_t zeros[4];
  size_t size;
  uint8_t *b = st_build("{'a':{'dtype':'F32','shape':[1,1,1,1,1,1,1,1,1],'data_offsets':[0,4]}}",
                        zeros, 4, &size);
  EXPECT_BAD(b, size, DIF_ERR_UNSUPPORTED, "tensor 'a': 9 dimensions (at most 8)");
}

TEST(duplicate_tensor_names) {
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
                    "'a':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}",
                    8, "duplicate object key");
  EXPECT_BAD_HEADER("{'__metadata__':{},'__metadata__':{}}", 0, "duplicate object key");
}

TEST(metadata_value_not_a_string) {
  EXPECT_BAD_HEADER("{'__metadata__':{'format':'pt','step':3}}", 0,
                    "__metadata__ value of 'step' is not a string");
  EXPECT_BAD_HEADER("{'__metadata__':{'x':null}}", 0, "__metadata__ value of 'x' is not a string");
  EXPECT_BAD_HEADER("{'__metadata__':{'x':{'y':'z'}}}", 0, "value of 'x' is not a string");
}

TEST(metadata_not_an_object) {
  EXPECT_BAD_HEADER("{'__metadata__':'pt'}", 0, "__metadata__ is not a JSON object");
  EXPECT_BAD_HEADER("{'__metadata__':['format','pt']}", 0, "__metadata__ is not a JSON object");
  EXPECT_BAD_HEADER("{'__metadata__':null}", 0, "__metadata__ is not a JSON object");
}

TEST(entry_not_an_object) {
  EXPECT_BAD_HEADER("{'a':[1,2]}", 0, "tensor 'a': entry is not a JSON object");
  EXPECT_BAD_HEADER("{'a':'F32'}", 0, "tensor 'a': entry is not a JSON object");
}

TEST(missing_or_malformed_data_offsets) {
  const char *want = "tensor 'a': 'data_offsets' must be two integers [begin, end]";
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[1]}}", 4, want);
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0]}}", 4, want);
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4,8]}}", 4, want);
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4.0]}}", 4, want);
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[1],'data_offsets':'0,4'}}", 4, want);
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[1],'data_offsets':{'0':4}}}", 4, want);
}

TEST(data_offsets_end_before_begin) {
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[1],'data_offsets':[8,4]}}", 8,
                    "tensor 'a': invalid data_offsets [8, 4]");
  EXPECT_BAD_HEADER("{'a':{'dtype':'F32','shape':[1],'data_offsets':[-4,0]}}", 8,
                    "tensor 'a': invalid data_offsets [-4, 0]");
}

TEST(long_names_are_bounded_in_messages) {
  /* A 2000-character tensor name and dtype: the message is truncated, not
   * overflowed, and still says what is wrong. */
  char h[4200];
  char name[2001];
  memset(name, 'n', 2000);
  name[2000] = 0;
  snprintf(h, sizeof h, "{'%s':{'dtype':'%s','shape':[1],'data_offsets':[0,4]}}", name, name);
  size_t size;
  uint8_t *b = st_build(h, "abcd", 4, &size);
  dif__error err;
  dif__safetensors *st = NULL;
  CHECK_STATUS(dif__st_open_memory(b, size, "long.safetensors", &st, &err), DIF_ERR_BAD_MODEL,
               err.msg, "long.safetensors: tensor 'nnnn");
  CHECK(strlen(err.msg) < DIF__ERROR_MSG_MAX);
  free(b);
}

TEST(hostile_file_on_disk_is_not_a_regular_file) {
  dif__error err;
  dif__safetensors *st = (dif__safetensors *)&err;
  CHECK_STATUS(dif__st_open("/tmp", &st, &err), DIF_ERR_IO, err.msg,
               "/tmp is a directory, not a regular file");
  CHECK(st == NULL);
}

/* ---- files that load ---- */

TEST(minimal_files) {
  size_t size;
  uint8_t *b = st_build("{}", NULL, 0, &size);
  dif__safetensors *st = OPEN_OK(b, size);
  if (st) {
    CHECK(dif__st_count(st) == 0);
    CHECK(dif__st_entry_at(st, 0) == NULL);
    CHECK(dif__st_find(st, "a") == NULL);
    CHECK(dif__st_metadata(st, "format") == NULL);
    CHECK(dif__st_file_size(st) == size);
    CHECK(strcmp(dif__st_path(st), "good.safetensors") == 0);
    CHECK(dif__st_xxh3(st) == 0); /* not hashed from memory */
  }
  dif__st_close(st);
  free(b);
  /* Trailing spaces in the header are allowed by the specification. */
  b = st_build_ex(AUTO, "{'__metadata__':{'format':'pt'}}", 13, NULL, 0, &size);
  st = OPEN_OK(b, size);
  if (st) CHECK(strcmp(dif__st_metadata(st, "format"), "pt") == 0);
  dif__st_close(st);
  free(b);
  dif__st_close(NULL);
}

TEST(zero_element_tensors) {
  const float one = 1.0f;
  size_t size;
  uint8_t *b = st_build("{'e':{'dtype':'F32','shape':[0,3],'data_offsets':[0,0]},"
                        "'w':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
                        "'z':{'dtype':'F16','shape':[5,0],'data_offsets':[4,4]},"
                        "'huge':{'dtype':'F64','shape':[0,9223372036854775807],"
                        "'data_offsets':[4,4]}}",
                        &one, 4, &size);
  dif__safetensors *st = OPEN_OK(b, size);
  if (st) {
    CHECK(dif__st_count(st) == 4);
    dif__tensor t;
    dif__error err;
    CHECK_STATUS(dif__st_get_f32(st, "e", &t, &err), DIF_OK, err.msg, "");
    CHECK(t.ndim == 2 && t.shape[0] == 0 && t.shape[1] == 3 && t.data != NULL);
    CHECK_STATUS(dif__st_get_f32(st, "z", &t, &err), DIF_OK, err.msg, "");
    CHECK(t.ndim == 2 && t.shape[0] == 5 && t.shape[1] == 0 && t.data != NULL);
    CHECK_STATUS(dif__st_get_f32(st, "huge", &t, &err), DIF_ERR_UNSUPPORTED, err.msg, "dtype F64");
    CHECK(dif__st_numel(dif__st_find(st, "huge")) == 0);
    CHECK_STATUS(dif__st_get_f32(st, "w", &t, &err), DIF_OK, err.msg, "");
    CHECK(t.data[0] == 1.0f);
    double d = 42;
    dif__st_to_f64(st, dif__st_find(st, "e"), &d); /* writes nothing */
    CHECK(d == 42);
  }
  dif__st_close(st);
  free(b);
}

TEST(nan_and_inf_values_load) {
  const uint32_t bits[4] = {0x7fc00000u, 0xffc00001u, 0x7f800000u, 0xff800000u};
  size_t size;
  uint8_t *b =
      st_build("{'w':{'dtype':'F32','shape':[2,2],'data_offsets':[0,16]}}", bits, 16, &size);
  dif__safetensors *st = OPEN_OK(b, size);
  if (st) {
    dif__tensor t;
    dif__error err;
    CHECK_STATUS(dif__st_get_f32(st, "w", &t, &err), DIF_OK, err.msg, "");
    CHECK(isnan(t.data[0]) && isnan(t.data[1]));
    CHECK(f32_bits(t.data[1]) == 0xffc00001u); /* payload kept: F32 is used in place */
    CHECK(isinf(t.data[2]) && t.data[2] > 0);
    CHECK(isinf(t.data[3]) && t.data[3] < 0);
  }
  dif__st_close(st);
  free(b);
}

/* Checks a converted value against the expected one, bit for bit for
 * finite values (so -0 differs from +0), by class for NaN. */
static void check_value_at(int line, const char *what, unsigned in, float got, double want) {
  int ok = isnan(want) ? isnan(got) : (f32_bits(got) == f32_bits((float)want));
  if (!ok) {
    fprintf(stderr, "%s:%d: %s 0x%04x: got %a (0x%08x), want %a\n", __FILE__, line, what, in,
            (double)got, f32_bits(got), want);
    dif__test_checks_failed++;
  }
}

static const struct {
  uint16_t h;
  double f;
} f16_cases[] = {
    {0x0000, 0.0},        {0x8000, -0.0},       {0x3c00, 1.0},      {0xc000, -2.0},
    {0x3555, 0x1.554p-2}, {0x7bff, 65504.0},    {0xfbff, -65504.0}, {0x0400, 0x1p-14},
    {0x0001, 0x1p-24},    {0x8001, -0x1p-24},   {0x0002, 0x1p-23},  {0x0200, 0x1p-15},
    {0x03ff, 0x3ffp-24},  {0x83ff, -0x3ffp-24}, {0x7c00, INFINITY}, {0xfc00, -INFINITY},
    {0x7e00, NAN},        {0x7c01, NAN},        {0xfe00, NAN},      {0x5640, 100.0},
};

static const struct {
  uint16_t h;
  double f;
} bf16_cases[] = {
    {0x0000, 0.0},        {0x8000, -0.0},        {0x3f80, 1.0},      {0xc000, -2.0},
    {0x4049, 3.140625},   {0x0080, 0x1p-126},    {0x0001, 0x1p-133}, {0x807f, -0x7fp-133},
    {0x7f7f, 0x1.fep127}, {0xff7f, -0x1.fep127}, {0x7f80, INFINITY}, {0xff80, -INFINITY},
    {0x7fc0, NAN},        {0xffc1, NAN},         {0x7f81, NAN},      {0x42c8, 100.0},
};

TEST(f16_converts_to_f32) {
  enum { N = sizeof f16_cases / sizeof f16_cases[0] };
  uint8_t data[2 * N];
  for (int i = 0; i < N; i++) {
    data[2 * i] = (uint8_t)(f16_cases[i].h & 0xff);
    data[2 * i + 1] = (uint8_t)(f16_cases[i].h >> 8);
  }
  char h[128];
  snprintf(h, sizeof h, "{'w':{'dtype':'F16','shape':[%d],'data_offsets':[0,%d]}}", N, 2 * N);
  size_t size;
  uint8_t *b = st_build(h, data, sizeof data, &size);
  dif__safetensors *st = OPEN_OK(b, size);
  if (st) {
    dif__tensor t, t2;
    dif__error err;
    CHECK_STATUS(dif__st_get_f32(st, "w", &t, &err), DIF_OK, err.msg, "");
    CHECK(t.ndim == 1 && t.shape[0] == N);
    double d[N];
    dif__st_to_f64(st, dif__st_find(st, "w"), d);
    for (int i = 0; i < N; i++) {
      check_value_at(__LINE__, "F16", f16_cases[i].h, t.data[i], f16_cases[i].f);
      check_value_at(__LINE__, "F16 as f64", f16_cases[i].h, (float)d[i], f16_cases[i].f);
    }
    /* Converted once: the second fetch returns the same buffer. */
    CHECK_STATUS(dif__st_get_f32(st, "w", &t2, &err), DIF_OK, err.msg, "");
    CHECK(t2.data == t.data);
    CHECK((const void *)t.data != dif__st_data(st, dif__st_find(st, "w")));
  }
  dif__st_close(st);
  free(b);
}

TEST(bf16_converts_to_f32) {
  enum { N = sizeof bf16_cases / sizeof bf16_cases[0] };
  uint8_t data[2 * N + 1];
  data[0] = 7; /* a U8 first, so the BF16 data starts at an odd offset */
  for (int i = 0; i < N; i++) {
    data[1 + 2 * i] = (uint8_t)(bf16_cases[i].h & 0xff);
    data[2 + 2 * i] = (uint8_t)(bf16_cases[i].h >> 8);
  }
  char h[192];
  snprintf(h, sizeof h,
           "{'u':{'dtype':'U8','shape':[1],'data_offsets':[0,1]},"
           "'w':{'dtype':'BF16','shape':[%d,1],'data_offsets':[1,%d]}}",
           N, 2 * N + 1);
  size_t size;
  uint8_t *b = st_build(h, data, sizeof data, &size);
  dif__safetensors *st = OPEN_OK(b, size);
  if (st) {
    dif__tensor t;
    dif__error err;
    CHECK_STATUS(dif__st_get_f32(st, "w", &t, &err), DIF_OK, err.msg, "");
    CHECK(t.ndim == 2 && t.shape[0] == N && t.shape[1] == 1);
    double d[N];
    dif__st_to_f64(st, dif__st_find(st, "w"), d);
    for (int i = 0; i < N; i++) {
      check_value_at(__LINE__, "BF16", bf16_cases[i].h, t.data[i], bf16_cases[i].f);
      check_value_at(__LINE__, "BF16 as f64", bf16_cases[i].h, (float)d[i], bf16_cases[i].f);
    }
    CHECK_STATUS(dif__st_get_f32(st, "u", &t, &err), DIF_ERR_UNSUPPORTED, err.msg,
                 "tensor 'u' has dtype U8");
  }
  dif__st_close(st);
  free(b);
}

TEST(every_f16_value_matches_a_reference) {
  /* All 65536 halves against an independent ldexp-based decoding. */
  uint8_t *data = malloc(2 * 65536);
  for (unsigned i = 0; i < 65536; i++) {
    data[2 * i] = (uint8_t)(i & 0xff);
    data[2 * i + 1] = (uint8_t)(i >> 8);
  }
  size_t size;
  uint8_t *b = st_build("{'w':{'dtype':'F16','shape':[256,256],'data_offsets':[0,131072]}}", data,
                        2 * 65536, &size);
  dif__safetensors *st = OPEN_OK(b, size);
  int bad = 0;
  if (st) {
    dif__tensor t;
    dif__error err;
    CHECK_STATUS(dif__st_get_f32(st, "w", &t, &err), DIF_OK, err.msg, "");
    for (unsigned i = 0; i < 65536 && bad < 5; i++) {
      int e = (int)(i >> 10) & 0x1f, m = (int)(i & 0x3ff);
      double want = e == 0    ? ldexp(m, -24)
                    : e == 31 ? (m ? NAN : INFINITY)
                              : ldexp(1024 + m, e - 25);
      if (i & 0x8000) want = -want;
      float got = t.data[i];
      int ok = isnan(want) ? isnan(got) : f32_bits(got) == f32_bits((float)want);
      if (!ok) {
        bad++;
        check_value_at(__LINE__, "F16", i, got, want);
      }
    }
  }
  CHECK(bad == 0);
  dif__st_close(st);
  free(b);
  free(data);
}

TEST(unaligned_f32) {
  const float v[3] = {1.5f, -2.25f, 3e-39f /* subnormal */};
  uint8_t data[13];
  data[0] = 1;
  memcpy(data + 1, v, sizeof v);
  size_t size;
  uint8_t *b = st_build("{'b':{'dtype':'BOOL','shape':[1],'data_offsets':[0,1]},"
                        "'w':{'dtype':'F32','shape':[3],'data_offsets':[1,13]}}",
                        data, sizeof data, &size);
  dif__safetensors *st = OPEN_OK(b, size);
  if (st) {
    const void *raw = dif__st_data(st, dif__st_find(st, "w"));
    CHECK((uintptr_t)raw % 4 != 0);
    dif__tensor t;
    dif__error err;
    CHECK_STATUS(dif__st_get_f32(st, "w", &t, &err), DIF_OK, err.msg, "");
    CHECK((const void *)t.data != raw);
    CHECK((uintptr_t)t.data % 4 == 0);
    CHECK(memcmp(t.data, v, sizeof v) == 0);
    double d[3];
    dif__st_to_f64(st, dif__st_find(st, "w"), d);
    CHECK(d[0] == 1.5 && d[1] == -2.25 && d[2] == (double)3e-39f);
  }
  dif__st_close(st);
  free(b);
}

/* dif__st_get_weight: F16 and BF16 stay in place in their dtype (even at an
 * odd address), aligned F32 is in place, unaligned F32 is copied once;
 * bad dtypes, shapes, names and ranks are refused by name. */
TEST(weights_stay_in_the_file_dtype) {
  uint8_t data[30] = {0};
  const uint16_t a[6] = {0x3c00, 0xc000, 0x3555, 0x0001, 0x7bff, 0x8000}; /* F16 */
  const uint16_t bb[3] = {0x3f80, 0x4049, 0xc000};                        /* BF16 */
  const float c[2] = {1.5f, -2.25f};
  memcpy(data, a, sizeof a), memcpy(data + 12, bb, sizeof bb), memcpy(data + 18, c, sizeof c);
  const char *h = "{'a':{'dtype':'F16','shape':[2,3],'data_offsets':[0,12]},"
                  "'b':{'dtype':'BF16','shape':[3],'data_offsets':[12,18]},"
                  "'c':{'dtype':'F32','shape':[2],'data_offsets':[18,26]},"
                  "'i':{'dtype':'I32','shape':[1],'data_offsets':[26,30]},"
                  "'big':{'dtype':'F16','shape':[1,1,1,1,0],'data_offsets':[30,30]}}";
  size_t size; /* the data section at an odd offset: every tensor unaligned */
  uint8_t *buf = st_build_ex(AUTO, h, (strlen(h) % 2) ? 2 : 1, data, sizeof data, &size);
  dif__safetensors *st = OPEN_OK(buf, size);
  if (st) {
    dif__weight w;
    dif__error err;
    const int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s3[1] = {3}, s2[1] = {2};
    CHECK_STATUS(dif__st_get_weight(st, "a", 2, s23, &w, &err), DIF_OK, err.msg, "");
    CHECK(w.data == dif__st_data(st, dif__st_find(st, "a")) && (uintptr_t)w.data % 2 == 1);
    CHECK(w.dtype == DIF__DTYPE_F16 && w.numel == 6 && !w.mapped); /* memory, not a file */
    float f[6];
    dif__weight_tile_f32(NULL, w, 3, 0, 2, 0, 3, f);
    CHECK(f[0] == 1.0f && f[1] == -2.0f && f[3] == 0x1p-24f && f[4] == 65504.0f);
    dif__weight_tile_f32(NULL, w, 3, 1, 1, 1, 2, f); /* a tile: row 1, columns 1..2 */
    CHECK(f[0] == 65504.0f && f[1] == 0.0f && signbit(f[1]));
    CHECK_STATUS(dif__st_get_weight(st, "b", 1, s3, &w, &err), DIF_OK, err.msg, "");
    CHECK(w.dtype == DIF__DTYPE_BF16 && w.numel == 3);
    CHECK(w.data == dif__st_data(st, dif__st_find(st, "b")));
    dif__weight_tile_f32(NULL, w, 3, 0, 1, 0, 3, f);
    CHECK(f[0] == 1.0f && f[1] == 3.140625f && f[2] == -2.0f);
    CHECK_STATUS(dif__st_get_weight(st, "c", 1, s2, &w, &err), DIF_OK, err.msg, "");
    CHECK(w.dtype == DIF__DTYPE_F32 && w.data != dif__st_data(st, dif__st_find(st, "c")));
    CHECK((uintptr_t)w.data % 4 == 0 && memcmp(w.data, c, sizeof c) == 0);
    CHECK_STATUS(dif__st_get_weight(st, "a", 0, NULL, &w, &err), DIF_OK, err.msg, "");
    CHECK_STATUS(dif__st_get_weight(st, "a", 2, s32, &w, &err), DIF_ERR_BAD_MODEL, err.msg,
                 "tensor 'a' has shape [2, 3], expected [3, 2]");
    CHECK_STATUS(dif__st_get_weight(st, "i", 0, NULL, &w, &err), DIF_ERR_UNSUPPORTED, err.msg,
                 "tensor 'i' has dtype I32; weights must be F32, F16 or BF16");
    CHECK_STATUS(dif__st_get_weight(st, "nope", 0, NULL, &w, &err), DIF_ERR_BAD_MODEL, err.msg,
                 "missing tensor 'nope'");
    CHECK_STATUS(dif__st_get_weight(st, "big", 0, NULL, &w, &err), DIF_ERR_UNSUPPORTED, err.msg,
                 "tensor 'big' has 5 dimensions (at most 4)");
  }
  dif__st_close(st);
  /* From a file, the weight points into the mapping and says so. */
  char path[64];
  write_temp(buf, size, path, sizeof path);
  dif__error err;
  CHECK_STATUS(dif__st_open(path, &st, &err), DIF_OK, err.msg, "");
  if (st) {
    dif__weight w;
    CHECK_STATUS(dif__st_get_weight(st, "a", 0, NULL, &w, &err), DIF_OK, err.msg, "");
    CHECK(w.mapped && w.dtype == DIF__DTYPE_F16 &&
          w.data == dif__st_data(st, dif__st_find(st, "a")));
  }
  dif__st_close(st);
  unlink(path);
  free(buf);
}

TEST(aligned_f32_is_zero_copy) {
  const float v[2] = {0.5f, -0.0f};
  size_t size;
  /* 8 + 60 bytes of header: the data section starts 4-byte aligned. */
  const char *h = "{'w':{'dtype':'F32','shape':[1,2],'data_offsets':[0,8]}}";
  uint8_t *b = st_build_ex(AUTO, h, 60 - strlen(h), v, sizeof v, &size);
  dif__safetensors *st = OPEN_OK(b, size);
  if (st) {
    dif__tensor t;
    dif__error err;
    CHECK_STATUS(dif__st_get_f32(st, "w", &t, &err), DIF_OK, err.msg, "");
    CHECK((const void *)t.data == b + 68);
    CHECK(t.data[0] == 0.5f && signbit(t.data[1]));
  }
  dif__st_close(st);
  free(b);
}

/* dif__st_drop_pages: the mapping's pages go, the values stay readable
 * (they come back from the file); a set read from memory has none. */
TEST(dropped_pages_read_again) {
  enum { N = 3 * 4096 };
  float *v = malloc(N * sizeof *v);
  for (int i = 0; i < N; i++) v[i] = (float)i * 0.25f;
  char h[128];
  snprintf(h, sizeof h, "{'w':{'dtype':'F32','shape':[%d],'data_offsets':[0,%zu]}}", N,
           N * sizeof *v);
  size_t size;
  uint8_t *b = st_build_ex(AUTO, h, 120 - strlen(h), v, N * sizeof *v, &size);
  char path[64];
  write_temp(b, size, path, sizeof path);
  dif__safetensors *st = NULL, *mem = NULL;
  dif__error err;
  CHECK_STATUS(dif__st_open(path, &st, &err), DIF_OK, err.msg, "");
  CHECK_STATUS(dif__st_open_memory(b, size, "mem", &mem, &err), DIF_OK, err.msg, "");
  if (st && mem) {
    dif__tensor t;
    CHECK_STATUS(dif__st_get_f32(st, "w", &t, &err), DIF_OK, err.msg, "");
    CHECK(t.data && t.data[N - 1] == (float)(N - 1) * 0.25f); /* faulted in */
    CHECK(dif__st_drop_pages(st) >= 8192); /* at least the two pages wholly inside w */
    CHECK(t.data && memcmp(t.data, v, N * sizeof *v) == 0);
    CHECK(dif__st_drop_pages(mem) == 0);
    CHECK(dif__st_drop_pages(NULL) == 0);
  }
  dif__st_close(st);
  dif__st_close(mem);
  unlink(path);
  free(b);
  free(v);
}

TEST(integer_tensor_refused_as_float) {
  const int64_t ids[3] = {49406, -1, INT64_C(1) << 53};
  size_t size;
  uint8_t *b =
      st_build("{'ids':{'dtype':'I64','shape':[3],'data_offsets':[0,24]}}", ids, sizeof ids, &size);
  dif__safetensors *st = OPEN_OK(b, size);
  if (st) {
    dif__tensor t;
    dif__error err;
    CHECK_STATUS(dif__st_get_f32(st, "ids", &t, &err), DIF_ERR_UNSUPPORTED, err.msg,
                 "good.safetensors: tensor 'ids' has dtype I64; weights must be F32, F16 or BF16");
    const int64_t shape[1] = {3};
    CHECK_STATUS(dif__st_get_f32_shape(st, "ids", 1, shape, &t, &err), DIF_ERR_UNSUPPORTED, err.msg,
                 "dtype I64");
    /* ... but fixtures read it as doubles. */
    double d[3];
    dif__st_to_f64(st, dif__st_find(st, "ids"), d);
    CHECK(d[0] == 49406 && d[1] == -1 && d[2] == 9007199254740992.0);
  }
  dif__st_close(st);
  free(b);
}

TEST(every_dtype_to_f64) {
  /* One value of each dtype, laid out back to back (unaligned on purpose). */
  uint8_t data[64];
  size_t off = 0;
  char h[1024];
  int hl = snprintf(h, sizeof h, "{");
#define PUT(NAME, T, VAL)                                                                          \
  do {                                                                                             \
    T v_ = (VAL);                                                                                  \
    memcpy(data + off, &v_, sizeof v_);                                                            \
    hl += snprintf(h + hl, sizeof h - (size_t)hl,                                                  \
                   "%s'%s':{'dtype':'%s','shape':[],'data_offsets':[%zu,%zu]}", off ? "," : "",    \
                   NAME, NAME, off, off + sizeof v_);                                              \
    off += sizeof v_;                                                                              \
  } while (0)
  PUT("BOOL", uint8_t, 1);
  PUT("U8", uint8_t, 200);
  PUT("I8", int8_t, -100);
  PUT("I16", int16_t, -30000);
  PUT("U16", uint16_t, 60000);
  PUT("F16", uint16_t, 0xc500);  /* -5 */
  PUT("BF16", uint16_t, 0xc0a0); /* -5 */
  PUT("I32", int32_t, -2000000000);
  PUT("U32", uint32_t, 4000000000u);
  PUT("F32", float, 0.25f);
  PUT("F64", double, -1e300);
  PUT("I64", int64_t, -INT64_C(5000000000));
  PUT("U64", uint64_t, UINT64_C(10000000000));
#undef PUT
  snprintf(h + hl, sizeof h - (size_t)hl, "}");
  size_t size;
  uint8_t *b = st_build(h, data, off, &size);
  dif__safetensors *st = OPEN_OK(b, size);
  if (st) {
    static const struct {
      const char *name;
      double want;
    } want[] = {{"BOOL", 1},          {"U8", 200},   {"I8", -100},    {"I16", -30000},
                {"U16", 60000},       {"F16", -5},   {"BF16", -5},    {"I32", -2000000000},
                {"U32", 4000000000.}, {"F32", 0.25}, {"F64", -1e300}, {"I64", -5000000000.},
                {"U64", 1e10}};
    CHECK(dif__st_count(st) == sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
      const dif__st_entry *e = dif__st_find(st, want[i].name);
      CHECK(e != NULL);
      if (!e) continue;
      CHECK(strcmp(dif__st_dtype_name(e->dtype), want[i].name) == 0);
      CHECK(e->ndim == 0 && dif__st_numel(e) == 1);
      CHECK(e->end - e->begin == dif__st_dtype_size(e->dtype));
      double d = 0;
      dif__st_to_f64(st, e, &d);
      CHECK_MSG(d == want[i].want, "%s: %g != %g", want[i].name, d, want[i].want);
    }
  }
  dif__st_close(st);
  free(b);
}

TEST(dtype_table) {
  CHECK(strcmp(dif__st_dtype_name(DIF__ST_F8_E4M3), "F8_E4M3") == 0);
  CHECK(dif__st_dtype_size(DIF__ST_F8_E5M2) == 1);
  CHECK(dif__st_dtype_size(DIF__ST_I64) == 8);
  CHECK(strcmp(dif__st_dtype_name(DIF__ST_DTYPE_COUNT), "?") == 0);
  CHECK(dif__st_dtype_size(DIF__ST_DTYPE_COUNT) == 0);
  CHECK(strcmp(dif__st_dtype_name((dif__st_dtype)-1), "?") == 0);
}

TEST(fp8_loads_but_is_not_a_float_weight) {
  const uint8_t data[2] = {0x38, 0x3c};
  size_t size;
  uint8_t *b = st_build("{'a':{'dtype':'F8_E4M3','shape':[1],'data_offsets':[0,1]},"
                        "'b':{'dtype':'F8_E5M2','shape':[1],'data_offsets':[1,2]}}",
                        data, 2, &size);
  dif__safetensors *st = OPEN_OK(b, size);
  if (st) {
    dif__tensor t;
    dif__error err;
    CHECK_STATUS(dif__st_get_f32(st, "a", &t, &err), DIF_ERR_UNSUPPORTED, err.msg, "dtype F8_E4M3");
    CHECK_STATUS(dif__st_get_f32(st, "b", &t, &err), DIF_ERR_UNSUPPORTED, err.msg, "dtype F8_E5M2");
  }
  dif__st_close(st);
  free(b);
}

TEST(shape_mismatch_names_both_shapes) {
  float v[6] = {0};
  size_t size;
  uint8_t *b =
      st_build("{'w':{'dtype':'F32','shape':[2,3],'data_offsets':[0,24]}}", v, sizeof v, &size);
  dif__safetensors *st = OPEN_OK(b, size);
  if (st) {
    dif__tensor t;
    dif__error err;
    const int64_t want[3] = {3, 2, 1};
    CHECK_STATUS(dif__st_get_f32_shape(st, "w", 2, want, &t, &err), DIF_ERR_BAD_MODEL, err.msg,
                 "good.safetensors: tensor 'w' has shape [2, 3], expected [3, 2]");
    CHECK_STATUS(dif__st_get_f32_shape(st, "w", 3, want, &t, &err), DIF_ERR_BAD_MODEL, err.msg,
                 "has shape [2, 3], expected [3, 2, 1]");
    const int64_t good[2] = {2, 3};
    CHECK_STATUS(dif__st_get_f32_shape(st, "w", 2, good, &t, &err), DIF_OK, err.msg, "");
    CHECK(t.ndim == 2 && t.shape[0] == 2 && t.shape[1] == 3);
    CHECK_STATUS(dif__st_get_f32_shape(st, "nope", 2, good, &t, &err), DIF_ERR_BAD_MODEL, err.msg,
                 "missing tensor 'nope'");
  }
  dif__st_close(st);
  free(b);
}

TEST(missing_tensor_is_named) {
  float v = 1;
  size_t size;
  uint8_t *b =
      st_build("{'a.weight':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", &v, 4, &size);
  dif__safetensors *st = OPEN_OK(b, size);
  if (st) {
    dif__tensor t;
    dif__error err;
    CHECK_STATUS(dif__st_get_f32(st, "a.bias", &t, &err), DIF_ERR_BAD_MODEL, err.msg,
                 "good.safetensors: missing tensor 'a.bias'");
    CHECK_STATUS(dif__st_get_f32(st, "", &t, &err), DIF_ERR_BAD_MODEL, err.msg,
                 "missing tensor ''");
    CHECK_STATUS(dif__st_get_f32(st, "a.weight", &t, &err), DIF_OK, err.msg, "");
  }
  dif__st_close(st);
  free(b);
}

TEST(more_than_four_dimensions_refused_as_float) {
  float v = 1;
  size_t size;
  uint8_t *b =
      st_build("{'w':{'dtype':'F32','shape':[1,1,1,1,1],'data_offsets':[0,4]}}", &v, 4, &size);
  dif__safetensors *st = OPEN_OK(b, size);
  if (st) {
    dif__tensor t;
    dif__error err;
    CHECK_STATUS(dif__st_get_f32(st, "w", &t, &err), DIF_ERR_UNSUPPORTED, err.msg,
                 "tensor 'w' has 5 dimensions (at most 4)");
    double d;
    dif__st_to_f64(st, dif__st_find(st, "w"), &d);
    CHECK(d == 1);
  }
  dif__st_close(st);
  free(b);
}

TEST(entries_sorted_by_offset_and_found_by_name) {
  const uint8_t data[6] = {1, 2, 3, 4, 5, 6};
  size_t size;
  uint8_t *b = st_build("{'zeta':{'dtype':'U8','shape':[1],'data_offsets':[0,1]},"
                        "'alpha':{'dtype':'U8','shape':[3],'data_offsets':[3,6]},"
                        "'mid':{'dtype':'I16','shape':[1],'data_offsets':[1,3]},"
                        "'__metadata__':{'format':'pt','note':''}}",
                        data, 6, &size);
  dif__safetensors *st = OPEN_OK(b, size);
  if (st) {
    CHECK(dif__st_count(st) == 3);
    CHECK(strcmp(dif__st_entry_at(st, 0)->name, "zeta") == 0);
    CHECK(strcmp(dif__st_entry_at(st, 1)->name, "mid") == 0);
    CHECK(strcmp(dif__st_entry_at(st, 2)->name, "alpha") == 0);
    CHECK(dif__st_find(st, "alpha") == dif__st_entry_at(st, 2));
    CHECK(dif__st_find(st, "mid") == dif__st_entry_at(st, 1));
    CHECK(dif__st_find(st, "zeta") == dif__st_entry_at(st, 0));
    CHECK(dif__st_find(st, "__metadata__") == NULL);
    CHECK(dif__st_find(st, "alph") == NULL);
    CHECK(*(const uint8_t *)dif__st_data(st, dif__st_find(st, "alpha")) == 4);
    CHECK(strcmp(dif__st_metadata(st, "format"), "pt") == 0);
    CHECK(strcmp(dif__st_metadata(st, "note"), "") == 0);
    CHECK(dif__st_metadata(st, "missing") == NULL);
  }
  dif__st_close(st);
  free(b);
}

TEST(nonexistent_file_is_io_error_with_path) {
  dif__error err;
  dif__safetensors *st = (dif__safetensors *)&err;
  const char *path = "/tmp/dif-test-no-such-dir/missing.safetensors";
  CHECK_STATUS(dif__st_open(path, &st, &err), DIF_ERR_IO, err.msg,
               "/tmp/dif-test-no-such-dir/missing.safetensors: cannot open");
  CHECK(st == NULL);
}

TEST(xxh3_of_the_file) {
  const float v[4] = {1, 2, 3, 4};
  size_t size;
  uint8_t *b = st_build("{'w':{'dtype':'F32','shape':[4],'data_offsets':[0,16]},"
                        "'__metadata__':{'format':'pt'}}",
                        v, sizeof v, &size);
  char path[64];
  write_temp(b, size, path, sizeof path);
  dif__error err;
  dif__safetensors *a = NULL, *c = NULL;
  CHECK_STATUS(dif__st_open(path, &a, &err), DIF_OK, err.msg, "");
  CHECK_STATUS(dif__st_open(path, &c, &err), DIF_OK, err.msg, "");
  if (a && c) {
    CHECK(dif__st_xxh3(a) == XXH3_64bits(b, size));
    CHECK(dif__st_xxh3(a) == dif__st_xxh3(c));
    CHECK(dif__st_file_size(a) == size);
    CHECK(strcmp(dif__st_path(a), path) == 0);
    dif__tensor t;
    CHECK_STATUS(dif__st_get_f32(a, "w", &t, &err), DIF_OK, err.msg, "");
    CHECK(t.data[3] == 4);
  }
  dif__st_close(a);
  dif__st_close(c);
  unlink(path);
  /* One changed byte of data changes the fingerprint. */
  b[size - 1] ^= 1;
  write_temp(b, size, path, sizeof path);
  CHECK_STATUS(dif__st_open(path, &a, &err), DIF_OK, err.msg, "");
  if (a) {
    CHECK(dif__st_xxh3(a) == XXH3_64bits(b, size));
    b[size - 1] ^= 1;
    CHECK(dif__st_xxh3(a) != XXH3_64bits(b, size));
  }
  dif__st_close(a);
  unlink(path);
  free(b);
}

/* ---- the real tiny models ---- */

static int n_real_files;

static int open_real(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  size_t len = strlen(path);
  if (type != FTW_F || len < 12 || strcmp(path + len - 12, ".safetensors") != 0) return 0;
  n_real_files++;
  dif__error err;
  dif__safetensors *st = NULL;
  CHECK_STATUS(dif__st_open(path, &st, &err), DIF_OK, err.msg, "");
  if (!st) return 0;
  size_t size;
  uint8_t *bytes = read_all(path, &size);
  CHECK(bytes != NULL);
  CHECK(dif__st_file_size(st) == size);
  CHECK_MSG(dif__st_xxh3(st) == XXH3_64bits(bytes, size), "%s", path);
  CHECK(dif__st_count(st) > 0);
  CHECK(strcmp(dif__st_metadata(st, "format"), "pt") == 0);
  dif__safetensors *mem = NULL;
  CHECK_STATUS(dif__st_open_memory(bytes, size, path, &mem, &err), DIF_OK, err.msg, "");
  if (mem) CHECK(dif__st_count(mem) == dif__st_count(st));
  for (size_t i = 0; i < dif__st_count(st); i++) {
    const dif__st_entry *e = dif__st_entry_at(st, i);
    CHECK(dif__st_find(st, e->name) == e);
    dif__tensor t;
    CHECK_STATUS(dif__st_get_f32(st, e->name, &t, &err), DIF_OK, err.msg, "");
    int64_t n = dif__st_numel(e);
    int finite = 1;
    for (int64_t k = 0; k < n; k++) finite &= isfinite(t.data[k]) != 0;
    CHECK_MSG(finite, "%s: tensor %s has non-finite values", path, e->name);
    if (mem) {
      const dif__st_entry *m = dif__st_entry_at(mem, i);
      CHECK(strcmp(m->name, e->name) == 0 && m->begin == e->begin && m->end == e->end);
      CHECK(memcmp(dif__st_data(mem, m), dif__st_data(st, e), (size_t)(e->end - e->begin)) == 0);
    }
  }
  dif__st_close(mem);
  dif__st_close(st);
  free(bytes);
  return 0;
}

TEST(real_tiny_model_files) {
  n_real_files = 0;
  CHECK(nftw(dif__test_path("golden/models"), open_real, 16, FTW_PHYS) == 0);
  CHECK_MSG(n_real_files >= 13, "found %d files", n_real_files);
}

TEST(real_image_normalizer_weights) {
  dif__error err;
  dif__safetensors *st = NULL;
  const char *path = dif__test_path(
      "golden/models/tiny-unclip/image_normalizer/diffusion_pytorch_model.safetensors");
  CHECK_STATUS(dif__st_open(path, &st, &err), DIF_OK, err.msg, "");
  if (!st) return;
  const int64_t shape[2] = {1, 32};
  dif__tensor mean, std;
  CHECK_STATUS(dif__st_get_f32_shape(st, "mean", 2, shape, &mean, &err), DIF_OK, err.msg, "");
  CHECK_STATUS(dif__st_get_f32_shape(st, "std", 2, shape, &std, &err), DIF_OK, err.msg, "");
  int positive = 1;
  for (int i = 0; i < 32; i++) positive &= std.data[i] > 0;
  CHECK(positive);
  /* Truncating the real file anywhere is refused, never a crash. */
  size_t size;
  uint8_t *bytes = read_all(path, &size);
  for (size_t cut = 0; cut < size; cut++) {
    dif__safetensors *bad = NULL;
    dif_status s = dif__st_open_memory(bytes, cut, "cut.safetensors", &bad, &err);
    CHECK_MSG(s == DIF_ERR_BAD_MODEL && bad == NULL, "cut at %zu: %s", cut, err.msg);
    dif__st_close(bad);
  }
  free(bytes);
  dif__st_close(st);
}

int main(void) {
  RUN(empty_file);
  RUN(shorter_than_header_size);
  RUN(header_cut_by_end_of_file);
  RUN(header_json_cut);
  RUN(header_size_larger_than_file);
  RUN(header_size_over_100mb);
  RUN(header_not_json);
  RUN(header_json_not_an_object);
  RUN(unknown_dtype);
  RUN(shape_does_not_match_byte_range);
  RUN(overlapping_ranges);
  RUN(gap_between_ranges);
  RUN(trailing_bytes);
  RUN(range_past_end_of_file);
  RUN(dimensions_overflow_64_bits);
  RUN(partial_product_beyond_int64_with_zero_dimension);
  RUN(negative_dimension);
  RUN(non_integer_dimension);
  RUN(too_many_dimensions);
  RUN(duplicate_tensor_names);
  RUN(metadata_value_not_a_string);
  RUN(metadata_not_an_object);
  RUN(entry_not_an_object);
  RUN(missing_or_malformed_data_offsets);
  RUN(data_offsets_end_before_begin);
  RUN(long_names_are_bounded_in_messages);
  RUN(hostile_file_on_disk_is_not_a_regular_file);
  RUN(minimal_files);
  RUN(zero_element_tensors);
  RUN(nan_and_inf_values_load);
  RUN(f16_converts_to_f32);
  RUN(bf16_converts_to_f32);
  RUN(every_f16_value_matches_a_reference);
  RUN(unaligned_f32);
  RUN(aligned_f32_is_zero_copy);
  RUN(dropped_pages_read_again);
  RUN(weights_stay_in_the_file_dtype);
  RUN(integer_tensor_refused_as_float);
  RUN(every_dtype_to_f64);
  RUN(dtype_table);
  RUN(fp8_loads_but_is_not_a_float_weight);
  RUN(shape_mismatch_names_both_shapes);
  RUN(missing_tensor_is_named);
  RUN(more_than_four_dimensions_refused_as_float);
  RUN(entries_sorted_by_offset_and_found_by_name);
  RUN(nonexistent_file_is_io_error_with_path);
  RUN(xxh3_of_the_file);
  RUN(real_tiny_model_files);
  RUN(real_image_normalizer_weights);
  return dif__test_finish();
}
