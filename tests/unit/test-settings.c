/* The sample settings table (lib/pipelines/settings.h), walked row by row:
 * every row is well formed (a range, unique record and dif_defaults.json
 * keys, each walk's order a permutation), the setters, the record schema
 * and dif_defaults.json enforce exactly the row's range, and each setting
 * round-trips: set on a sample -> its record -> dif_sample_apply_record on
 * another sample gives the same value and the same record, whose keys come
 * in the table's order. */
#include <jansson.h>
#include <limits.h>
#include <unistd.h>

#include "api/context.h"
#include "api/sample.h"
#include "pipelines/defaults.h"
#include "test.h"

#define MODEL "../models/dif-shapes-64" /* Stable unCLIP: every row is in its records */

static const dif__setting *row_at(int i) { return &dif__settings[i]; }

static int is_int_kind(dif__setting_kind k) {
  return k == DIF__SETTING_SIZE || k == DIF__SETTING_STEPS || k == DIF__SETTING_BATCH ||
         k == DIF__SETTING_INDEX || k == DIF__SETTING_NOISE_LEVEL;
}

/* Each walk's order: the rows that take part hold 0..n-1, once each. */
static void check_order(int applied) {
  int n = 0;
  for (int i = 0; i < dif__n_settings; i++)
    n += (applied ? row_at(i)->applied : row_at(i)->checked) >= 0;
  for (int k = 0; k < n; k++) {
    int found = 0;
    for (int i = 0; i < dif__n_settings; i++)
      found += (applied ? row_at(i)->applied : row_at(i)->checked) == k;
    CHECK_MSG(found == 1, "%s order %d is held by %d rows", applied ? "apply" : "defaults", k,
              found);
    CHECK(dif__setting_in_order(k, applied) != NULL);
  }
  CHECK(dif__setting_in_order(n, applied) == NULL);
}

TEST(rows_are_well_formed) {
  static const char *const fixed[] = {"prompt", "negative", "init_image", "mask",   "edit",
                                      "model",  "loras",    "precision",  "libdif", NULL};
  CHECK(dif__n_settings > 0);
  for (int i = 0; i < dif__n_settings; i++) {
    const dif__setting *r = row_at(i);
    const char *name = r->key ? r->key : r->defaults_key;
    CHECK_MSG(name != NULL, "row %d has neither a record nor a defaults key", i);
    if (!name) continue;
    const int64_t m = r->multiple > 1 ? r->multiple : 1;
    CHECK_MSG(r->multiple >= 0 && r->lo % m == 0, "%s: multiple", name);
    CHECK_MSG(r->hi < 0 ? r->kind == DIF__SETTING_NOISE_LEVEL : r->lo <= r->hi,
              "%s: range %lld..%lld", name, (long long)r->lo, (long long)r->hi);
    CHECK_MSG(r->hi < 0 || r->hi % m == 0, "%s: hi is not a multiple", name);
    if (is_int_kind(r->kind) || r->kind == DIF__SETTING_SEED) {
      CHECK_MSG(r->record_lo <= r->record_hi, "%s: the record's range", name);
      CHECK_MSG(r->kind == DIF__SETTING_SEED ||
                    (r->record_lo <= r->lo && (r->hi < 0 || r->hi <= r->record_hi)),
                "%s: the record refuses values the setter takes", name);
    }
    CHECK_MSG((r->key != NULL) == (r->written != DIF__WRITTEN_NEVER), "%s: written", name);
    CHECK_MSG(r->applied < 0 || r->key, "%s: applied without a record key", name);
    CHECK_MSG((r->checked >= 0) == (r->defaults_key != NULL), "%s: checked", name);
    CHECK_MSG(r->value + sizeof(int32_t) <= sizeof(dif__setting_values), "%s: value offset", name);
    CHECK_MSG(!r->defaults_key || r->defaults + sizeof(int32_t) <= sizeof(dif_defaults),
              "%s: defaults offset", name);
    CHECK_MSG(!r->key || r->setter || r->kind == DIF__SETTING_INDEX, "%s: no setter", name);
    for (int j = 0; r->key && fixed[j]; j++) CHECK_MSG(strcmp(r->key, fixed[j]), "%s: fixed", name);
    for (int j = 0; j < i; j++) {
      const dif__setting *o = row_at(j);
      CHECK_MSG(!r->key || !o->key || strcmp(r->key, o->key), "record key %s twice", r->key);
      CHECK_MSG(!r->defaults_key || !o->defaults_key || strcmp(r->defaults_key, o->defaults_key),
                "defaults key %s twice", r->defaults_key);
      CHECK_MSG(!r->key || !o->key || r->value != o->value ||
                    (r->kind == DIF__SETTING_SEED_U64 && o->kind == DIF__SETTING_SEED),
                "%s and %s share a value field", r->key, o->key);
      CHECK_MSG(!r->defaults_key || !o->defaults_key || r->kind == DIF__SETTING_COMMENT ||
                    o->kind == DIF__SETTING_COMMENT || r->defaults != o->defaults,
                "%s and %s share a dif_defaults field", r->defaults_key, o->defaults_key);
    }
    if (r->key) CHECK(dif__setting_find(r->key) == r);
  }
  CHECK(dif__setting_find("prompt") == NULL && dif__setting_find(NULL) == NULL);
  check_order(1);
  check_order(0);
}

static dif_context *load(void) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(dif_context_set_threads(ctx, 1) == DIF_OK);
  dif_status s = dif_context_load(ctx, dif__test_path(MODEL));
  CHECK_MSG(s == DIF_OK, "%s", dif_context_last_error(ctx));
  return ctx;
}

static dif_sample *new_sample(dif_context *ctx) {
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK(dif_prompt_add_text(p, "a cat", 1.0f) == DIF_OK);
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  dif_prompt_free(p);
  return s;
}

/* A value for row r other than the sample's default, set through its setter. */
static dif_status set_other(dif_sample *s, const dif__setting *r) {
  switch (r->kind) {
  case DIF__SETTING_SIZE: return dif_sample_set_size(s, 72, 40);
  case DIF__SETTING_STEPS: return dif__sample_set_int(s, r, 7);
  case DIF__SETTING_BATCH: return dif__sample_set_int(s, r, 3);
  case DIF__SETTING_NOISE_LEVEL: return dif__sample_set_int(s, r, 17);
  case DIF__SETTING_INDEX:
    CHECK(dif_sample_set_batch(s, 4) == DIF_OK);
    dif__sample_set_keep(s, 2);
    return DIF_OK;
  case DIF__SETTING_SCALE: return dif__sample_set_scale(s, r, 2.75f);
  case DIF__SETTING_SCHEDULER: return dif__sample_set_name(s, r, "lms");
  case DIF__SETTING_SEED:
  case DIF__SETTING_SEED_U64: return dif_sample_set_seed(s, 0xfedcba9876543210u);
  case DIF__SETTING_BLEND: return dif_sample_set_blend(s, DIF_BLEND_SLERP);
  case DIF__SETTING_COMMENT: break;
  }
  return DIF_ERR_INTERNAL;
}

/* The record of s's settings (with a prompt, so that it can be applied). */
static char *record_of(const dif_sample *s) {
  json_t *o = json_object();
  json_object_set_new(o, "prompt", json_pack("[{s:s, s:f}]", "text", "a cat", "weight", 1.0));
  const dif__setting_values *v = dif__sample_values(s);
  dif__sample_record_settings(s, o, v->width, v->height);
  char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  return text;
}

/* The record's keys after "prompt" are the table's, in its order. */
static void check_key_order(const char *record) {
  json_t *o = json_loads(record, 0, NULL);
  const char *key;
  json_t *v;
  int at = 0;
  json_object_foreach(o, key, v) {
    if (!strcmp(key, "prompt")) continue;
    while (at < dif__n_settings && (!row_at(at)->key || strcmp(row_at(at)->key, key))) at++;
    CHECK_MSG(at < dif__n_settings, "record key %s out of the table's order", key);
  }
  json_decref(o);
}

static int same_value(const dif__setting *r, const dif__setting_values *a,
                      const dif__setting_values *b) {
  const void *x = dif__setting_field((dif__setting_values *)a, r),
             *y = dif__setting_field((dif__setting_values *)b, r);
  switch (r->kind) {
  case DIF__SETTING_SCALE: return *(const float *)x == *(const float *)y;
  case DIF__SETTING_SCHEDULER: {
    const char *p = *(char *const *)x, *q = *(char *const *)y;
    return p == q || (p && q && !strcmp(p, q));
  }
  case DIF__SETTING_SEED:
  case DIF__SETTING_SEED_U64: return a->seed == b->seed;
  case DIF__SETTING_BLEND: return a->blend == b->blend;
  default: return *(const int32_t *)x == *(const int32_t *)y;
  }
}

TEST(each_row_round_trips_through_a_record) {
  dif_context *ctx = load();
  for (int i = 0; ctx && i < dif__n_settings; i++) {
    const dif__setting *r = row_at(i);
    if (!r->key) continue;
    dif_sample *a = new_sample(ctx), *b = new_sample(ctx);
    char *before = record_of(b);
    CHECK_MSG(set_other(a, r) == DIF_OK, "%s: %s", r->key, dif_sample_last_error(a));
    char *rec = record_of(a);
    CHECK_MSG(strcmp(rec, before) != 0, "%s: the record does not change", r->key);
    CHECK_MSG(strstr(rec, r->key) != NULL, "%s: not in the record %s", r->key, rec);
    check_key_order(rec);
    dif_status st = dif_sample_apply_record(b, rec, NULL);
    CHECK_MSG(st == DIF_OK, "%s: %s", r->key, dif_sample_last_error(b));
    CHECK_MSG(same_value(r, dif__sample_values(a), dif__sample_values(b)), "%s: value", r->key);
    char *again = record_of(b);
    CHECK_MSG(!strcmp(rec, again), "%s: %s\nagain: %s", r->key, rec, again);
    free(before);
    free(rec);
    free(again);
    dif_sample_free(a);
    dif_sample_free(b);
  }
  dif_context_free(ctx);
}

/* The setters take lo and hi and refuse one step beyond, naming themselves;
 * a record beyond the schema's integer range is refused naming the key. */
TEST(setters_and_records_enforce_the_rows_range) {
  dif_context *ctx = load();
  dif_sample *s = ctx ? new_sample(ctx) : NULL;
  int32_t max_noise = ctx ? dif__models_max_noise_level(&ctx->models) : 0;
  for (int i = 0; s && i < dif__n_settings; i++) {
    const dif__setting *r = row_at(i);
    int64_t hi = dif__setting_hi(r, max_noise), step = r->multiple > 1 ? r->multiple : 1;
    if (r->kind == DIF__SETTING_STEPS || r->kind == DIF__SETTING_BATCH ||
        r->kind == DIF__SETTING_NOISE_LEVEL) {
      CHECK_MSG(dif__sample_set_int(s, r, (int32_t)r->lo) == DIF_OK, "%s lo", r->key);
      CHECK_MSG(dif__sample_set_int(s, r, (int32_t)hi) == DIF_OK, "%s hi", r->key);
      CHECK_STATUS(dif__sample_set_int(s, r, (int32_t)(hi + step)), DIF_ERR_INVALID_ARGUMENT,
                   dif_sample_last_error(s), r->setter);
      CHECK_STATUS(dif__sample_set_int(s, r, (int32_t)(r->lo - step)), DIF_ERR_INVALID_ARGUMENT,
                   dif_sample_last_error(s), r->setter);
    } else if (r->kind == DIF__SETTING_SIZE) {
      CHECK(dif_sample_set_size(s, (int32_t)r->lo, (int32_t)hi) == DIF_OK);
      CHECK(dif_sample_set_size(s, (int32_t)(hi + step), 64) == DIF_ERR_INVALID_ARGUMENT);
      CHECK(dif_sample_set_size(s, (int32_t)(r->lo - step), 64) == DIF_ERR_INVALID_ARGUMENT);
      CHECK(dif_sample_set_size(s, (int32_t)(r->lo + 1), 64) == DIF_ERR_INVALID_ARGUMENT);
    } else if (r->kind == DIF__SETTING_SCALE) {
      CHECK(dif__sample_set_scale(s, r, (float)r->lo) == DIF_OK);
      CHECK(dif__sample_set_scale(s, r, (float)r->hi) == DIF_OK);
      CHECK_STATUS(dif__sample_set_scale(s, r, (float)r->hi + 0.5f), DIF_ERR_INVALID_ARGUMENT,
                   dif_sample_last_error(s), r->setter);
      CHECK_STATUS(dif__sample_set_scale(s, r, NAN), DIF_ERR_INVALID_ARGUMENT,
                   dif_sample_last_error(s), r->setter);
    }
    if (is_int_kind(r->kind) && r->record_hi < LLONG_MAX) {
      char rec[256], want_buf[128];
      const char *want = want_buf;
      snprintf(rec, sizeof rec, "{\"prompt\":[{\"text\":\"a\",\"weight\":1}],\"%s\":%lld}", r->key,
               (long long)r->record_hi + 1);
      snprintf(want_buf, sizeof want_buf, "record: \"%s\" must be an integer from %lld to %lld",
               r->key, (long long)r->record_lo, (long long)r->record_hi);
      CHECK_STATUS(dif_sample_apply_record(s, rec, NULL), DIF_ERR_INVALID_ARGUMENT,
                   dif_sample_last_error(s), want);
    }
  }
  dif_sample_free(s);
  dif_context_free(ctx);
}

static dif_status load_defaults(const char *text, dif_defaults *d, dif__error *err) {
  char dir[] = "/tmp/dif-test-settings-XXXXXX", path[128];
  CHECK(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/%s", dir, DIF__DEFAULTS_FILE);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) fputs(text, f), fclose(f);
  dif__defaults_init(d, 64, true);
  dif_status s = dif__defaults_load(d, dir, err);
  unlink(path);
  rmdir(dir);
  return s;
}

/* Each defaults key: read into its field at its hi (and on into a new
 * sample's values), refused one step above it naming the key. */
TEST(defaults_keys_follow_the_rows) {
  for (int i = 0; i < dif__n_settings; i++) {
    const dif__setting *r = row_at(i);
    if (!r->defaults_key || r->kind == DIF__SETTING_COMMENT) continue;
    char text[256];
    dif_defaults d;
    dif__error err = {0};
    int64_t hi = dif__setting_hi(r, 999);
    if (r->kind == DIF__SETTING_SCHEDULER) {
      snprintf(text, sizeof text, "{\"%s\": \"lms\"}", r->defaults_key);
      CHECK(load_defaults(text, &d, &err) == DIF_OK);
      CHECK(!strcmp((const char *)&d + r->defaults, "lms"));
      snprintf(text, sizeof text, "{\"%s\": \"no such\"}", r->defaults_key);
      CHECK_STATUS(load_defaults(text, &d, &err), DIF_ERR_BAD_MODEL, err.msg, r->defaults_key);
      continue;
    }
    snprintf(text, sizeof text, "{\"%s\": %lld}", r->defaults_key, (long long)hi);
    dif_status st = load_defaults(text, &d, &err);
    CHECK_MSG(st == DIF_OK, "%s: %s", r->defaults_key, err.msg);
    dif__setting_values v = {0}, v0 = {0};
    dif__defaults_start(&d, &v);
    CHECK(load_defaults("{}", &d, &err) == DIF_OK);
    dif__defaults_start(&d, &v0);
    if (r->kind == DIF__SETTING_SCALE)
      CHECK(*(float *)dif__setting_field(&v, r) == (float)hi);
    else
      CHECK(*(int32_t *)dif__setting_field(&v, r) == (int32_t)hi);
    for (int j = 0; j < dif__n_settings; j++) /* no other value moved */
      CHECK_MSG(j == i || !row_at(j)->key || same_value(row_at(j), &v, &v0), "%s moved %s",
                r->defaults_key, row_at(j)->key);
    snprintf(text, sizeof text, "{\"%s\": %lld}", r->defaults_key,
             (long long)hi + (r->multiple > 1 ? r->multiple : 1));
    CHECK_STATUS(load_defaults(text, &d, &err), DIF_ERR_BAD_MODEL, err.msg, r->defaults_key);
  }
}

int main(void) {
  RUN(rows_are_well_formed);
  RUN(each_row_round_trips_through_a_record);
  RUN(setters_and_records_enforce_the_rows_range);
  RUN(defaults_keys_follow_the_rows);
  return dif__test_finish();
}
