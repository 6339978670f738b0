/* A model folder's recommended settings (dif_defaults.json): read over
 * libdif's defaults, every key checked (unknown keys, wrong types, values out
 * of the setters' ranges, duplicates are refused naming the file and the
 * key), applied to new samples and reported by dif_context_info; the default
 * model's file holds the settings its README measured as best. */
#include <dirent.h>
#include <unistd.h>

#include "pipelines/defaults.h"
#include "test.h"

#define UNCLIP "golden/models/tiny-unclip"
#define PRIOR "golden/models/tiny-karlo-prior"

static char tmpdir[64];

static void write_file(const char *dir, const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

/* A folder with the tiny unCLIP model's parts (symlinked) and `defaults` as
 * its dif_defaults.json (NULL: none). */
static const char *model_with(const char *defaults) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/dif-test-defaults-XXXXXX");
  CHECK(mkdtemp(tmpdir) != NULL);
  const char *src = dif__test_path(UNCLIP);
  char from[1024], to[1024];
  DIR *d = opendir(src);
  CHECK(d != NULL);
  for (struct dirent *e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    snprintf(from, sizeof from, "%s/%s", src, e->d_name);
    snprintf(to, sizeof to, "%s/%s", tmpdir, e->d_name);
    CHECK(symlink(from, to) == 0);
  }
  if (d) closedir(d);
  if (defaults) write_file(tmpdir, DIF__DEFAULTS_FILE, defaults);
  return tmpdir;
}

static void remove_model(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  CHECK(system(cmd) == 0);
}

static dif_status load_defaults(const char *text, dif_defaults *d, dif__error *err) {
  char dir[] = "/tmp/dif-test-defaults-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  if (text) write_file(dir, DIF__DEFAULTS_FILE, text);
  dif__defaults_init(d, 768, true);
  dif_status s = dif__defaults_load(d, dir, err);
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, DIF__DEFAULTS_FILE);
  unlink(path);
  rmdir(dir);
  return s;
}

TEST(library_defaults_without_a_file) {
  dif_defaults d;
  dif__error err = {0};
  CHECK(load_defaults(NULL, &d, &err) == DIF_OK);
  CHECK(!d.from_file && d.width == 768 && d.height == 768 && d.steps == 20);
  CHECK(d.guidance == 10.0f && d.prior_steps == 25 && d.prior_guidance == 4.0f);
  CHECK(d.noise_level == 0 && d.scheduler[0] == '\0');
  dif__defaults_init(&d, 64, false);
  CHECK(d.width == 64 && d.guidance == 7.5f);
  dif__defaults_init(&d, 0, false); /* unknown size */
  CHECK(d.width == 512 && d.height == 512);
}

TEST(every_key_is_read) {
  dif_defaults d;
  dif__error err = {0};
  dif_status s = load_defaults("{\"comment\": \"x\", \"width\": 64, \"height\": 32, \"steps\": 25, "
                               "\"guidance\": 3, \"prior_steps\": 7, \"prior_guidance\": 2.5, "
                               "\"noise_level\": 100, \"scheduler\": \"euler_a\"}",
                               &d, &err);
  CHECK_MSG(s == DIF_OK, "%s", err.msg);
  CHECK(d.from_file && strstr(d.path, DIF__DEFAULTS_FILE));
  CHECK(d.width == 64 && d.height == 32 && d.steps == 25 && d.guidance == 3.0f);
  CHECK(d.prior_steps == 7 && d.prior_guidance == 2.5f && d.noise_level == 100);
  CHECK(!strcmp(d.scheduler, "euler_a"));
  /* keys left out keep libdif's defaults; null counts as left out */
  CHECK(load_defaults("{\"steps\": 30, \"guidance\": null}", &d, &err) == DIF_OK);
  CHECK(d.steps == 30 && d.guidance == 10.0f && d.width == 768);
  CHECK(load_defaults("{}", &d, &err) == DIF_OK && d.from_file && d.steps == 20);
}

TEST(bad_files_are_refused_naming_file_and_key) {
  static const struct {
    const char *text, *substr;
  } cases[] = {
      {"{\"stepz\": 25}", "unknown key 'stepz'"},
      {"{\"stepz\": 25}", "(known: width, height, steps, guidance, prior_steps, prior_guidance, "
                          "noise_level, scheduler, comment)"},
      {"{\"height\": 12}", "'height' is 12; it must be a multiple of 8 in 8..4096"},
      {"{\"noise_level\": -1}", "'noise_level' is -1; it must be 0..999"},
      {"{\"steps\": 2.5}", "'steps' must be an integer"},
      {"{\"steps\": 0}", "'steps' is 0"},
      {"{\"steps\": 1001}", "'steps' is 1001"},
      {"{\"width\": 60}", "'width' is 60; it must be a multiple of 8"},
      {"{\"height\": 8192}", "'height' is 8192"},
      {"{\"guidance\": -1}", "'guidance' is -1"},
      {"{\"guidance\": \"3\"}", "'guidance' must be a number"},
      {"{\"prior_guidance\": true}", "'prior_guidance' must be a number"},
      {"{\"prior_steps\": -3}", "'prior_steps' is -3"},
      {"{\"noise_level\": 1000}", "'noise_level' is 1000"},
      {"{\"scheduler\": \"warp\"}", "key 'scheduler'"},
      {"{\"scheduler\": 3}", "'scheduler' must be a string"},
      {"{\"comment\": 3}", "'comment' must be a string"},
      {"{\"steps\": 25, \"steps\": 30}", "steps"},
      {"[25]", DIF__DEFAULTS_FILE},
      {"{\"steps\": ", DIF__DEFAULTS_FILE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    dif_defaults d;
    dif__error err = {0};
    dif_status s = load_defaults(cases[i].text, &d, &err);
    CHECK_MSG(s == DIF_ERR_BAD_MODEL && strstr(err.msg, cases[i].substr) &&
                  strstr(err.msg, DIF__DEFAULTS_FILE),
              "%s: %s: \"%s\"", cases[i].text, dif_status_string(s), err.msg);
    CHECK(!d.from_file && d.steps == 20); /* all or nothing */
  }
}

TEST(samples_start_from_the_models_defaults) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(dif_context_set_prior(ctx, dif__test_path(PRIOR)) == DIF_OK);
  const char *dir = model_with("{\"width\": 24, \"height\": 16, \"steps\": 3, \"guidance\": 1.5, "
                               "\"prior_steps\": 2, \"prior_guidance\": 3, \"noise_level\": 7, "
                               "\"scheduler\": \"euler\"}");
  dif_status st = dif_context_load(ctx, dir);
  CHECK_MSG(st == DIF_OK, "%s", dif_context_last_error(ctx));
  const char *info = dif_context_info(ctx);
  CHECK(strstr(info, "\"defaults_file\": \"/tmp/dif-test-defaults-") != NULL);
  CHECK(strstr(info, "\"steps\": 3,") != NULL && strstr(info, "\"scheduler\": \"euler\"") != NULL);
  CHECK(strstr(info, "\"default_size\": [\n    24,\n    16\n  ]") != NULL);
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK && dif_prompt_add_text(p, "a red cat", 1) == DIF_OK);
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  st = dif_sample_run(s);
  CHECK_MSG(st == DIF_OK, "%s", dif_sample_last_error(s));
  const char *rec = dif_sample_parameters(s);
  CHECK(dif_sample_width(s) == 24 && dif_sample_height(s) == 16);
  CHECK_MSG(strstr(rec, "\"steps\":3,") && strstr(rec, "\"guidance\":1.5") &&
                strstr(rec, "\"scheduler\":\"euler\"") && strstr(rec, "\"noise_level\":7") &&
                strstr(rec, "\"prior_steps\":2") && strstr(rec, "\"prior_guidance\":3"),
            "%s", rec);
  /* explicit settings win; NULL scheduler goes back to the model's default */
  CHECK(dif_sample_set_steps(s, 2) == DIF_OK && dif_sample_set_scheduler(s, "ddim") == DIF_OK);
  CHECK(dif_sample_set_scheduler(s, NULL) == DIF_OK && dif_sample_run(s) == DIF_OK);
  rec = dif_sample_parameters(s);
  CHECK_MSG(strstr(rec, "\"steps\":2,") && strstr(rec, "\"scheduler\":\"euler\""), "%s", rec);
  dif_sample_free(s);
  dif_prompt_free(p);
  dif_context_free(ctx);
  remove_model();
}

TEST(a_bad_defaults_file_fails_the_load) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  const char *dir = model_with("{\"guidance\": 3, \"sampler\": \"ddim\"}");
  CHECK_STATUS(dif_context_load(ctx, dir), DIF_ERR_BAD_MODEL, dif_context_last_error(ctx),
               "dif_defaults.json: unknown key 'sampler'");
  CHECK(!dif_context_is_unclip(ctx) && !strcmp(dif_context_info(ctx), "{}"));
  dif_context_free(ctx);
  remove_model();
}

TEST(without_a_file_info_says_so) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(dif_context_load(ctx, dif__test_path(UNCLIP)) == DIF_OK);
  const char *info = dif_context_info(ctx);
  CHECK(strstr(info, "\"defaults_file\": null") != NULL);
  CHECK(strstr(info, "\"steps\": 20,") != NULL && strstr(info, "\"guidance\": 10.0,") != NULL);
  dif_context_free(ctx);
}

TEST(the_default_models_file) {
  /* the settings models/dif-shapes-64/README.md measured as best */
  dif_defaults d;
  dif__error err = {0};
  dif__defaults_init(&d, 64, true);
  dif_status s = dif__defaults_load(&d, dif__test_path("../models/dif-shapes-64"), &err);
  CHECK_MSG(s == DIF_OK, "%s", err.msg);
  CHECK(d.from_file && d.width == 64 && d.height == 64 && d.steps == 25 && d.guidance == 3.0f);
  CHECK(d.prior_steps == 25 && d.prior_guidance == 2.0f && d.noise_level == 0);
  CHECK(d.scheduler[0] == '\0'); /* its own DDIMScheduler */
}

int main(void) {
  RUN(library_defaults_without_a_file);
  RUN(every_key_is_read);
  RUN(bad_files_are_refused_naming_file_and_key);
  RUN(samples_start_from_the_models_defaults);
  RUN(a_bad_defaults_file_fails_the_load);
  RUN(without_a_file_info_says_so);
  RUN(the_default_models_file);
  return dif__test_finish();
}
