/* JSON configs (lib/io/config.c): parsing, the typed getters and their
 * errors (the file and the key are always named), invalid JSON with its
 * line and column, non-object top levels, the size limit, and the real
 * config files of tests/golden/models. */
#include <fcntl.h>
#include <unistd.h>

#include "io/config.h"
#include "test.h"

#define CHECK_OK(expr, err) CHECK_STATUS((expr), DIF_OK, (err).msg, "")

static dif__config *parse_at(int line, const char *text) {
  dif__config *c = NULL;
  dif__error err;
  dif__error_clear(&err);
  dif_status s = dif__config_parse(text, strlen(text), "cfg.json", &c, &err);
  if (s != DIF_OK || !c) {
    fprintf(stderr, "%s:%d: cannot parse: %s\n", __FILE__, line, err.msg);
    dif__test_checks_failed++;
  }
  return c;
}
#define PARSE(text) parse_at(__LINE__, text)

static const char *sample = "{\n"
                            "  \"_class_name\": \"UNet2DConditionModel\",\n"
                            "  \"sample_size\": 32,\n"
                            "  \"beta_start\": 0.00085,\n"
                            "  \"scale\": 2,\n"
                            "  \"big\": 9223372036854775807,\n"
                            "  \"neg\": -12,\n"
                            "  \"center\": true,\n"
                            "  \"flip\": false,\n"
                            "  \"nothing\": null,\n"
                            "  \"channels\": [32, 64, 64],\n"
                            "  \"heads\": 8,\n"
                            "  \"mixed\": [1, 2.5, 3],\n"
                            "  \"strs\": [1, \"a\"],\n"
                            "  \"nested\": [[1], [2]],\n"
                            "  \"empty\": [],\n"
                            "  \"blocks\": [\"CrossAttnDownBlock2D\", \"DownBlock2D\"],\n"
                            "  \"betas\": [0.1, 2, -3e-5],\n"
                            "  \"obj\": {\"a\": 1},\n"
                            "  \"text\": \"linear\",\n"
                            "  \"ten\": [1,2,3,4,5,6,7,8,9,10]\n"
                            "}\n";

TEST(getters_read_values) {
  dif__config *c = PARSE(sample);
  if (!c) return;
  dif__error err;
  int64_t i;
  double d;
  bool b;
  const char *s;
  CHECK(strcmp(dif__config_path(c), "cfg.json") == 0);
  CHECK_OK(dif__config_int(c, "sample_size", &i, &err), err);
  CHECK(i == 32);
  CHECK_OK(dif__config_int(c, "big", &i, &err), err);
  CHECK(i == INT64_MAX);
  CHECK_OK(dif__config_int(c, "neg", &i, &err), err);
  CHECK(i == -12);
  CHECK_OK(dif__config_num(c, "beta_start", &d, &err), err);
  CHECK(d == 0.00085);
  CHECK_OK(dif__config_num(c, "scale", &d, &err), err); /* integers are numbers */
  CHECK(d == 2.0);
  CHECK_OK(dif__config_bool_opt(c, "center", false, &b, &err), err);
  CHECK(b == true);
  CHECK_OK(dif__config_bool_opt(c, "flip", true, &b, &err), err);
  CHECK(b == false);
  CHECK_OK(dif__config_str(c, "_class_name", &s, &err), err);
  CHECK(strcmp(s, "UNet2DConditionModel") == 0);
  CHECK(dif__config_has(c, "text"));
  CHECK(!dif__config_has(c, "nothing")); /* null counts as absent */
  CHECK(!dif__config_has(c, "absent"));
  CHECK(dif__config_json(c) != NULL);
  dif__config_free(c);
  dif__config_free(NULL);
}

TEST(optional_getters_use_defaults_for_absent_and_null) {
  dif__config *c = PARSE(sample);
  if (!c) return;
  dif__error err;
  int64_t i = 0;
  double d = 0;
  bool b = false;
  const char *s = NULL;
  CHECK_OK(dif__config_int_opt(c, "absent", 7, &i, &err), err);
  CHECK(i == 7);
  CHECK_OK(dif__config_int_opt(c, "nothing", 8, &i, &err), err);
  CHECK(i == 8);
  CHECK_OK(dif__config_int_opt(c, "sample_size", 8, &i, &err), err);
  CHECK(i == 32);
  CHECK_OK(dif__config_num_opt(c, "absent", 0.5, &d, &err), err);
  CHECK(d == 0.5);
  CHECK_OK(dif__config_num_opt(c, "nothing", 1.5, &d, &err), err);
  CHECK(d == 1.5);
  CHECK_OK(dif__config_bool_opt(c, "absent", true, &b, &err), err);
  CHECK(b == true);
  CHECK_OK(dif__config_bool_opt(c, "nothing", true, &b, &err), err);
  CHECK(b == true);
  CHECK_OK(dif__config_str_opt(c, "absent", "dflt", &s, &err), err);
  CHECK(s && strcmp(s, "dflt") == 0);
  CHECK_OK(dif__config_str_opt(c, "nothing", NULL, &s, &err), err);
  CHECK(s == NULL);
  CHECK_OK(dif__config_str_opt(c, "text", NULL, &s, &err), err);
  CHECK(s && strcmp(s, "linear") == 0);
  dif__config_free(c);
}

TEST(missing_key_is_named) {
  dif__config *c = PARSE(sample);
  if (!c) return;
  dif__error err;
  int64_t i, list[4];
  double d, dl[4];
  const char *s, *sl[4];
  int n;
  const char *want = "cfg.json: missing key 'absent'";
  CHECK_STATUS(dif__config_int(c, "absent", &i, &err), DIF_ERR_BAD_MODEL, err.msg, want);
  CHECK_STATUS(dif__config_num(c, "absent", &d, &err), DIF_ERR_BAD_MODEL, err.msg, want);
  CHECK_STATUS(dif__config_str(c, "absent", &s, &err), DIF_ERR_BAD_MODEL, err.msg, want);
  CHECK_STATUS(dif__config_int_list(c, "absent", list, 4, &n, false, 0, &err), DIF_ERR_BAD_MODEL,
               err.msg, want);
  CHECK_STATUS(dif__config_int_list(c, "absent", list, 4, &n, true, 2, &err), DIF_ERR_BAD_MODEL,
               err.msg, want);
  CHECK_STATUS(dif__config_str_list(c, "absent", sl, 4, &n, &err), DIF_ERR_BAD_MODEL, err.msg,
               want);
  CHECK_STATUS(dif__config_num_list(c, "absent", dl, 4, &n, &err), DIF_ERR_BAD_MODEL, err.msg,
               want);
  /* A null value is missing for the required getters. */
  CHECK_STATUS(dif__config_int(c, "nothing", &i, &err), DIF_ERR_BAD_MODEL, err.msg,
               "cfg.json: missing key 'nothing'");
  CHECK_STATUS(dif__config_str(c, "nothing", &s, &err), DIF_ERR_BAD_MODEL, err.msg,
               "missing key 'nothing'");
  dif__config_free(c);
}

TEST(wrong_type_is_named) {
  dif__config *c = PARSE(sample);
  if (!c) return;
  dif__error err;
  int64_t i;
  double d;
  bool b;
  const char *s;
  CHECK_STATUS(dif__config_int(c, "beta_start", &i, &err), DIF_ERR_BAD_MODEL, err.msg,
               "cfg.json: key 'beta_start' must be an integer");
  CHECK_STATUS(dif__config_int(c, "text", &i, &err), DIF_ERR_BAD_MODEL, err.msg,
               "cfg.json: key 'text' must be an integer");
  CHECK_STATUS(dif__config_int(c, "center", &i, &err), DIF_ERR_BAD_MODEL, err.msg,
               "key 'center' must be an integer");
  CHECK_STATUS(dif__config_int(c, "channels", &i, &err), DIF_ERR_BAD_MODEL, err.msg,
               "key 'channels' must be an integer");
  CHECK_STATUS(dif__config_num(c, "text", &d, &err), DIF_ERR_BAD_MODEL, err.msg,
               "cfg.json: key 'text' must be a number");
  CHECK_STATUS(dif__config_num(c, "center", &d, &err), DIF_ERR_BAD_MODEL, err.msg,
               "key 'center' must be a number");
  CHECK_STATUS(dif__config_str(c, "sample_size", &s, &err), DIF_ERR_BAD_MODEL, err.msg,
               "cfg.json: key 'sample_size' must be a string");
  CHECK_STATUS(dif__config_str(c, "blocks", &s, &err), DIF_ERR_BAD_MODEL, err.msg,
               "key 'blocks' must be a string");
  CHECK_STATUS(dif__config_bool_opt(c, "sample_size", false, &b, &err), DIF_ERR_BAD_MODEL, err.msg,
               "cfg.json: key 'sample_size' must be true or false");
  CHECK_STATUS(dif__config_bool_opt(c, "text", false, &b, &err), DIF_ERR_BAD_MODEL, err.msg,
               "key 'text' must be true or false");
  /* Optional getters: a present value of the wrong type is still an error. */
  CHECK_STATUS(dif__config_int_opt(c, "beta_start", 1, &i, &err), DIF_ERR_BAD_MODEL, err.msg,
               "key 'beta_start' must be an integer");
  CHECK_STATUS(dif__config_num_opt(c, "obj", 1, &d, &err), DIF_ERR_BAD_MODEL, err.msg,
               "key 'obj' must be a number");
  CHECK_STATUS(dif__config_str_opt(c, "flip", "x", &s, &err), DIF_ERR_BAD_MODEL, err.msg,
               "key 'flip' must be a string");
  dif__config_free(c);
}

TEST(lists) {
  dif__config *c = PARSE(sample);
  if (!c) return;
  dif__error err;
  int64_t il[10];
  double dl[10];
  const char *sl[10];
  int n = -1;
  CHECK_OK(dif__config_int_list(c, "channels", il, 4, &n, false, 0, &err), err);
  CHECK(n == 3 && il[0] == 32 && il[1] == 64 && il[2] == 64);
  CHECK_OK(dif__config_int_list(c, "channels", il, 3, &n, true, 4, &err), err);
  CHECK(n == 3);
  CHECK_OK(dif__config_int_list(c, "empty", il, 4, &n, false, 0, &err), err);
  CHECK(n == 0);
  CHECK_OK(dif__config_int_list(c, "ten", il, 10, &n, false, 0, &err), err);
  CHECK(n == 10 && il[9] == 10);
  CHECK_OK(dif__config_str_list(c, "blocks", sl, 2, &n, &err), err);
  CHECK(n == 2 && strcmp(sl[0], "CrossAttnDownBlock2D") == 0 && strcmp(sl[1], "DownBlock2D") == 0);
  CHECK_OK(dif__config_num_list(c, "betas", dl, 3, &n, &err), err);
  CHECK(n == 3 && dl[0] == 0.1 && dl[1] == 2 && dl[2] == -3e-5);
  CHECK_OK(dif__config_num_list(c, "channels", dl, 3, &n, &err), err); /* ints are numbers */
  CHECK(n == 3 && dl[2] == 64);
  dif__config_free(c);
}

TEST(int_list_versus_scalar) {
  dif__config *c = PARSE(sample);
  if (!c) return;
  dif__error err;
  int64_t il[8];
  int n = -1;
  /* diffusers' "int or per-block list" keys. */
  CHECK_OK(dif__config_int_list(c, "heads", il, 8, &n, true, 4, &err), err);
  CHECK(n == 4 && il[0] == 8 && il[3] == 8);
  CHECK_STATUS(dif__config_int_list(c, "heads", il, 8, &n, false, 4, &err), DIF_ERR_BAD_MODEL,
               err.msg, "cfg.json: key 'heads' must be a list");
  CHECK_STATUS(dif__config_int_list(c, "heads", il, 3, &n, true, 4, &err), DIF_ERR_UNSUPPORTED,
               err.msg, "cfg.json: key 'heads': 4 entries (at most 3)");
  /* A real is neither an integer list nor a scalar integer. */
  CHECK_STATUS(dif__config_int_list(c, "beta_start", il, 8, &n, true, 4, &err), DIF_ERR_BAD_MODEL,
               err.msg, "key 'beta_start' must be a list");
  CHECK_STATUS(dif__config_int_list(c, "mixed", il, 8, &n, false, 0, &err), DIF_ERR_BAD_MODEL,
               err.msg, "cfg.json: key 'mixed' must be a list of integers");
  CHECK_STATUS(dif__config_int_list(c, "nested", il, 8, &n, true, 2, &err), DIF_ERR_BAD_MODEL,
               err.msg, "key 'nested' must be a list of integers");
  CHECK_STATUS(dif__config_int_list(c, "text", il, 8, &n, true, 2, &err), DIF_ERR_BAD_MODEL,
               err.msg, "key 'text' must be a list");
  dif__config_free(c);
}

TEST(other_lists_reject_wrong_items) {
  dif__config *c = PARSE(sample);
  if (!c) return;
  dif__error err;
  double dl[8];
  const char *sl[8];
  int n;
  CHECK_STATUS(dif__config_str_list(c, "strs", sl, 8, &n, &err), DIF_ERR_BAD_MODEL, err.msg,
               "cfg.json: key 'strs' must be a list of strings");
  CHECK_STATUS(dif__config_str_list(c, "text", sl, 8, &n, &err), DIF_ERR_BAD_MODEL, err.msg,
               "key 'text' must be a list");
  CHECK_STATUS(dif__config_num_list(c, "strs", dl, 8, &n, &err), DIF_ERR_BAD_MODEL, err.msg,
               "cfg.json: key 'strs' must be a list of numbers");
  CHECK_STATUS(dif__config_num_list(c, "beta_start", dl, 8, &n, &err), DIF_ERR_BAD_MODEL, err.msg,
               "key 'beta_start' must be a list");
  dif__config_free(c);
}

TEST(too_long_list) {
  dif__config *c = PARSE(sample);
  if (!c) return;
  dif__error err;
  int64_t il[10];
  double dl[10];
  const char *sl[10];
  int n = -1;
  /* The output arrays are sized to the limit: nothing may be written past it. */
  CHECK_STATUS(dif__config_int_list(c, "ten", il, 9, &n, false, 0, &err), DIF_ERR_UNSUPPORTED,
               err.msg, "cfg.json: key 'ten' has 10 entries (at most 9)");
  CHECK_STATUS(dif__config_int_list(c, "channels", il, 2, &n, true, 2, &err), DIF_ERR_UNSUPPORTED,
               err.msg, "key 'channels' has 3 entries (at most 2)");
  CHECK_STATUS(dif__config_str_list(c, "blocks", sl, 1, &n, &err), DIF_ERR_UNSUPPORTED, err.msg,
               "cfg.json: key 'blocks' has 2 entries (at most 1)");
  CHECK_STATUS(dif__config_num_list(c, "betas", dl, 0, &n, &err), DIF_ERR_UNSUPPORTED, err.msg,
               "key 'betas' has 3 entries (at most 0)");
  CHECK(n == -1);
  dif__config_free(c);
}

TEST(invalid_json_names_line_and_column) {
  dif__config *c = (dif__config *)&c;
  dif__error err;
  const char *text = "{\n  \"a\": 1,\n  \"b\": [1, 2,\n}\n";
  CHECK_STATUS(dif__config_parse(text, strlen(text), "bad.json", &c, &err), DIF_ERR_BAD_MODEL,
               err.msg, "bad.json: invalid JSON: ");
  CHECK(strstr(err.msg, "(line 4, column 1)") != NULL);
  CHECK(c == NULL);
  text = "{\"a\": tru}";
  CHECK_STATUS(dif__config_parse(text, strlen(text), "bad.json", &c, &err), DIF_ERR_BAD_MODEL,
               err.msg, "(line 1, column");
  CHECK_STATUS(dif__config_parse("", 0, "empty.json", &c, &err), DIF_ERR_BAD_MODEL, err.msg,
               "empty.json: invalid JSON");
  text = "{\"a\": 1} trailing";
  CHECK_STATUS(dif__config_parse(text, strlen(text), "bad.json", &c, &err), DIF_ERR_BAD_MODEL,
               err.msg, "bad.json: invalid JSON");
  /* The length is respected: the text is not NUL-terminated there. */
  text = "{\"a\": 1}GARBAGE";
  CHECK_OK(dif__config_parse(text, 8, "ok.json", &c, &err), err);
  dif__config_free(c);
  text = "{\"a\": 1, \"a\": 2}";
  CHECK_STATUS(dif__config_parse(text, strlen(text), "dup.json", &c, &err), DIF_ERR_BAD_MODEL,
               err.msg, "dup.json: invalid JSON: duplicate object key");
  text = "{\"a\": \"\\u0000\"}";
  CHECK_STATUS(dif__config_parse(text, strlen(text), "nul.json", &c, &err), DIF_ERR_BAD_MODEL,
               err.msg, "nul.json: invalid JSON");
  text = "{\"n\": 123456789012345678901234567890}";
  CHECK_STATUS(dif__config_parse(text, strlen(text), "big.json", &c, &err), DIF_ERR_BAD_MODEL,
               err.msg, "big.json: invalid JSON");
}

/* Python's json writes infinities as bare Infinity / -Infinity; they read as
 * numbers (±inf), anywhere a number may be, but never inside strings; NaN and
 * look-alike words stay invalid. */
TEST(python_infinities) {
  const char *text = "{\"lo\": -Infinity, \"hi\":Infinity,\"l\": [1, -Infinity,Infinity], "
                     "\"s\": \"-Infinity Infinity \\\" Infinity\", \"Infinity\": 1}";
  dif__config *c = PARSE(text);
  dif__error err;
  dif__error_clear(&err);
  double lo = 0, hi = 0, l[3] = {0};
  int n = 0;
  int64_t i = 0;
  const char *str = NULL;
  CHECK_OK(dif__config_num(c, "lo", &lo, &err), err);
  CHECK_OK(dif__config_num_opt(c, "hi", 0, &hi, &err), err);
  CHECK(isinf(lo) && lo < 0 && isinf(hi) && hi > 0);
  CHECK_OK(dif__config_num_list(c, "l", l, 3, &n, &err), err);
  CHECK(n == 3 && l[0] == 1 && isinf(l[1]) && l[1] < 0 && isinf(l[2]) && l[2] > 0);
  CHECK_OK(dif__config_str(c, "s", &str, &err), err);
  CHECK(str && strcmp(str, "-Infinity Infinity \" Infinity") == 0);
  CHECK_OK(dif__config_int(c, "Infinity", &i, &err), err);
  CHECK(i == 1);
  CHECK_STATUS(dif__config_int(c, "lo", &i, &err), DIF_ERR_BAD_MODEL, err.msg,
               "key 'lo' must be an integer");
  CHECK_STATUS(dif__config_str(c, "hi", &str, &err), DIF_ERR_BAD_MODEL, err.msg, "a string");
  dif__config_free(c);
  static const char *const bad[] = {"{\"a\": NaN}", "{\"a\": Infinityx}", "{\"a\": xInfinity}",
                                    "{\"a\": --Infinity}", "{\"a\": Infinit}"};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    c = (dif__config *)&c;
    CHECK_STATUS(dif__config_parse(bad[k], strlen(bad[k]), "inf.json", &c, &err), DIF_ERR_BAD_MODEL,
                 err.msg, "inf.json: invalid JSON");
    CHECK(c == NULL);
  }
}

TEST(top_level_not_an_object) {
  static const char *const texts[] = {"[1, 2]", "\"s\"", "3", "null", "true"};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    dif__config *c = (dif__config *)&c;
    dif__error err;
    CHECK_STATUS(dif__config_parse(texts[i], strlen(texts[i]), "top.json", &c, &err),
                 DIF_ERR_BAD_MODEL, err.msg, "top.json: top level is not a JSON object");
    CHECK(c == NULL);
  }
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  fputs(text, f);
  fclose(f);
}

TEST(load_from_files) {
  char dir[] = "/tmp/dif-test-config-XXXXXX";
  if (!mkdtemp(dir)) abort();
  char buf[128];
  const char *path = buf;
  dif__config *c = (dif__config *)&c;
  dif__error err;

  snprintf(buf, sizeof buf, "%s/config.json", dir);
  write_file(path, "{\"x\": 3}");
  CHECK_OK(dif__config_load(path, &c, &err), err);
  if (c) {
    CHECK(strcmp(dif__config_path(c), path) == 0);
    int64_t i;
    CHECK_OK(dif__config_int(c, "x", &i, &err), err);
    CHECK(i == 3);
    CHECK_STATUS(dif__config_str(c, "x", &(const char *){0}, &err), DIF_ERR_BAD_MODEL, err.msg,
                 path);
    CHECK(strstr(err.msg, "key 'x' must be a string") != NULL);
    dif__config_free(c);
  }

  write_file(path, "{\n\"x\": 3,\n\"y\": }");
  CHECK_STATUS(dif__config_load(path, &c, &err), DIF_ERR_BAD_MODEL, err.msg, path);
  CHECK(strstr(err.msg, "invalid JSON") && strstr(err.msg, "(line 3, column"));
  CHECK(c == NULL);

  write_file(path, "[]");
  CHECK_STATUS(dif__config_load(path, &c, &err), DIF_ERR_BAD_MODEL, err.msg,
               "top level is not a JSON object");

  write_file(path, "");
  CHECK_STATUS(dif__config_load(path, &c, &err), DIF_ERR_BAD_MODEL, err.msg, "invalid JSON");
  unlink(path);

  CHECK_STATUS(dif__config_load(path, &c, &err), DIF_ERR_IO, err.msg, path);
  CHECK(strstr(err.msg, "cannot open") != NULL);
  CHECK_STATUS(dif__config_load(dir, &c, &err), DIF_ERR_IO, err.msg, "not a regular file");
  CHECK(c == NULL);
  rmdir(dir);
}

TEST(oversized_config_is_a_limit) {
  /* A sparse file one byte over the limit: refused before it is read. */
  char buf[] = "/tmp/dif-test-config-big-XXXXXX";
  const char *path = buf;
  int fd = mkstemp(buf);
  if (fd < 0) abort();
  CHECK(write(fd, "{", 1) == 1);
  CHECK(ftruncate(fd, (off_t)DIF__CONFIG_MAX_BYTES + 1) == 0);
  close(fd);
  dif__config *c = (dif__config *)&c;
  dif__error err;
  CHECK_STATUS(dif__config_load(path, &c, &err), DIF_ERR_LIMIT, err.msg, path);
  CHECK(strstr(err.msg, "67108865 bytes is larger than the 67108864-byte config limit"));
  CHECK(c == NULL);
  /* Exactly at the limit it is read (and is invalid JSON: a '{' then NULs). */
  fd = open(path, O_WRONLY);
  CHECK(fd >= 0 && ftruncate(fd, (off_t)DIF__CONFIG_MAX_BYTES) == 0);
  close(fd);
  CHECK_STATUS(dif__config_load(path, &c, &err), DIF_ERR_BAD_MODEL, err.msg, "invalid JSON");
  unlink(path);
}

TEST(real_configs) {
  dif__config *c = NULL;
  dif__error err;
  CHECK_OK(dif__config_load(dif__test_path("golden/models/tiny-sd/unet/config.json"), &c, &err),
           err);
  if (c) {
    int64_t ch[8], lpb[8];
    int n = 0, m = 0;
    const char *cls, *blocks[8];
    CHECK_OK(dif__config_str(c, "_class_name", &cls, &err), err);
    CHECK(strcmp(cls, "UNet2DConditionModel") == 0);
    CHECK_OK(dif__config_int_list(c, "block_out_channels", ch, 8, &n, false, 0, &err), err);
    CHECK(n >= 2 && ch[0] > 0);
    CHECK_OK(dif__config_str_list(c, "down_block_types", blocks, 8, &m, &err), err);
    CHECK(m == n);
    CHECK_OK(dif__config_int_list(c, "layers_per_block", lpb, 8, &m, true, n, &err), err);
    CHECK(m == n && lpb[0] > 0);
    dif__config_free(c);
  }
  CHECK_OK(dif__config_load(
               dif__test_path("golden/models/tiny-unclip/image_normalizer/config.json"), &c, &err),
           err);
  if (c) {
    int64_t dim;
    CHECK_OK(dif__config_int(c, "embedding_dim", &dim, &err), err);
    CHECK(dim == 32);
    dif__config_free(c);
  }
  CHECK_OK(dif__config_load(dif__test_path("golden/models/tiny-sd/scheduler/scheduler_config.json"),
                            &c, &err),
           err);
  if (c) {
    double beta;
    int64_t steps;
    CHECK_OK(dif__config_num(c, "beta_start", &beta, &err), err);
    CHECK(beta > 0 && beta < 1);
    CHECK_OK(dif__config_int(c, "num_train_timesteps", &steps, &err), err);
    CHECK(steps > 0);
    dif__config_free(c);
  }
}

int main(void) {
  RUN(getters_read_values);
  RUN(optional_getters_use_defaults_for_absent_and_null);
  RUN(missing_key_is_named);
  RUN(wrong_type_is_named);
  RUN(lists);
  RUN(int_list_versus_scalar);
  RUN(other_lists_reject_wrong_items);
  RUN(too_long_list);
  RUN(invalid_json_names_line_and_column);
  RUN(python_infinities);
  RUN(top_level_not_an_object);
  RUN(load_from_files);
  RUN(oversized_config_is_a_limit);
  RUN(real_configs);
  return dif__test_finish();
}
