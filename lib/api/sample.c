/* sample.c — dif_sample: settings, running (blocking or on a thread),
 * cancelling, results and the parameters record. */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "api/context.h"
#include "api/prompt.h"
#include "api/record.h"
#include "api/sample.h"
#include "core/blas.h"
#include "io/resample.h"
#include "pipelines/defaults.h"
#include "pipelines/generate.h"
#include "pipelines/settings.h"
#include "pipelines/tiled.h"
#include "samplers/sched_config.h"

struct dif_sample {
  dif_context *ctx;
  dif_prompt *prompt;    /* a copy */
  dif__setting_values v; /* the settings (pipelines/settings.h) */
  bool size_set;
  dif__image init;
  float strength;
  char *init_source;     /* absolute path or "pixels" */
  uint64_t init_xxh3;    /* of the init image file's bytes */
  dif__sample_edit edit; /* mask and edit (api/edit.c) */
  dif_progress_fn progress;
  void *progress_user;
  /* the run */
  pthread_mutex_t lock;
  pthread_t thread;
  bool thread_live;
  atomic_int running, cancel, step, total;
  dif_status status; /* of the last run, under lock */
  dif__result result;
  char *params;
  char last_error[DIF__ERROR_MSG_MAX];
};

#define sfail dif__sample_fail

dif_status dif__sample_fail(dif_sample *s, dif_status st, const char *fmt, ...) {
  va_list ap;
  pthread_mutex_lock(&s->lock);
  va_start(ap, fmt);
  vsnprintf(s->last_error, sizeof s->last_error, fmt, ap);
  va_end(ap);
  pthread_mutex_unlock(&s->lock);
  return st;
}

dif__sample_edit *dif__sample_edit_of(dif_sample *s) { return s ? &s->edit : NULL; }

const dif__setting_values *dif__sample_values(const dif_sample *s) { return &s->v; }

bool dif__sample_running(const dif_sample *s) { return s && atomic_load(&s->running); }

void dif__sample_set_keep(dif_sample *s, int32_t index) {
  s->v.keep = index >= 0 && index < s->v.batch ? index : -1;
}

static dif_status ok(dif_sample *s) {
  pthread_mutex_lock(&s->lock);
  s->last_error[0] = '\0';
  pthread_mutex_unlock(&s->lock);
  return DIF_OK;
}

#define CHECK_SAMPLE(s, fn)                                                                        \
  do {                                                                                             \
    if (!(s)) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, fn ": sample is NULL");            \
    if (atomic_load(&(s)->running)) return sfail((s), DIF_ERR_BUSY, fn ": the sample is running"); \
  } while (0)

DIF_API dif_status dif_sample_new(dif_context *ctx, const dif_prompt *prompt, dif_sample **out) {
  if (!out) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_sample_new: out is NULL");
  *out = NULL;
  if (!ctx) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_sample_new: ctx is NULL");
  if (!prompt)
    return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT, "dif_sample_new: prompt is NULL");
  if (!ctx->loaded)
    return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT,
                          "dif_sample_new: the context has no model loaded (dif_context_load)");
  if (prompt->n_parts == 0)
    return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT,
                          "dif_sample_new: the prompt has no text or image parts");
  dif_sample *s = calloc(1, sizeof *s);
  dif__error err = {0};
  if (!s) return dif__ctx_failf(ctx, DIF_ERR_OUT_OF_MEMORY, "dif_sample_new: out of memory");
  if (dif__prompt_copy(prompt, &s->prompt, &err)) {
    free(s);
    return dif__ctx_fail(ctx, &err);
  }
  /* libdif's defaults, or the model's recommended ones (dif_defaults.json) */
  const dif_defaults *d = &ctx->models.defaults;
  dif__ctx_ref(ctx); /* the sample keeps its context alive (dif.h, section 5) */
  s->ctx = ctx;
  dif__defaults_start(d, &s->v);
  s->v.batch = 1;
  s->v.keep = -1;
  s->v.blend = DIF_BLEND_SUM;
  s->status = DIF_OK;
  pthread_mutex_init(&s->lock, NULL);
  atomic_init(&s->running, 0);
  atomic_init(&s->cancel, 0);
  atomic_init(&s->step, 0);
  atomic_init(&s->total, 0);
  *out = s;
  dif__ctx_ok(ctx);
  return DIF_OK;
}

static void join(dif_sample *s) {
  if (s->thread_live) {
    pthread_join(s->thread, NULL);
    s->thread_live = false;
  }
}

DIF_API void dif_sample_free(dif_sample *s) {
  if (!s) return;
  atomic_store(&s->cancel, 1);
  join(s);
  dif_prompt_free(s->prompt);
  free(s->v.scheduler);
  free(s->v.prior_scheduler);
  dif__image_free(&s->init);
  free(s->init_source);
  dif__sample_edit_free(&s->edit);
  dif__result_free(&s->result);
  free(s->params);
  pthread_mutex_destroy(&s->lock);
  dif_context *ctx = s->ctx;
  free(s);
  dif__ctx_unref(ctx);
}

/* The one check of an output size, wherever it comes from (the setter, a
 * record through it, the init image): multiples of 8 in
 * 8..DIF_MAX_OUTPUT_SIDE. A size above the cap fails with over_cap (the
 * setters' DIF_ERR_INVALID_ARGUMENT, or DIF_ERR_LIMIT for a size taken from
 * an image), anything else with DIF_ERR_INVALID_ARGUMENT. */
static dif_status check_output_size(dif_sample *s, const char *what, int32_t width, int32_t height,
                                    dif_status over_cap) {
  if (width > DIF_MAX_OUTPUT_SIDE || height > DIF_MAX_OUTPUT_SIDE)
    return sfail(s, over_cap,
                 "%s: %dx%d exceeds DIF_MAX_OUTPUT_SIDE (%d pixels per side) of a generated "
                 "image",
                 what, width, height, DIF_MAX_OUTPUT_SIDE);
  if (width < 8 || height < 8 || width % 8 || height % 8)
    return sfail(s, DIF_ERR_INVALID_ARGUMENT,
                 "%s: %dx%d: width and height must be multiples of 8 in 8..%d", what, width, height,
                 DIF_MAX_OUTPUT_SIDE);
  return DIF_OK;
}

DIF_API dif_status dif_sample_set_size(dif_sample *s, int32_t width, int32_t height) {
  CHECK_SAMPLE(s, "dif_sample_set_size");
  dif_status st =
      check_output_size(s, "dif_sample_set_size", width, height, DIF_ERR_INVALID_ARGUMENT);
  if (st) return st;
  s->v.width = width;
  s->v.height = height;
  s->size_set = true;
  return ok(s);
}

/* ---- the settings of the table (pipelines/settings.h) ---- */

static dif_status usable(dif_sample *s, const char *fn) {
  if (!s) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "%s: sample is NULL", fn);
  if (atomic_load(&s->running)) return sfail(s, DIF_ERR_BUSY, "%s: the sample is running", fn);
  return DIF_OK;
}

/* An integer out of row r's range: the message of its kind. */
static dif_status out_of_range(dif_sample *s, const dif__setting *r, int32_t v, int64_t hi) {
  switch (r->kind) {
  case DIF__SETTING_STEPS:
    return sfail(s, DIF_ERR_INVALID_ARGUMENT, "%s: %d steps (%lld..%lld)", r->setter, v,
                 (long long)r->lo, (long long)hi);
  case DIF__SETTING_BATCH:
    return sfail(s, DIF_ERR_INVALID_ARGUMENT, "%s: %d images (%lld..%lld)", r->setter, v,
                 (long long)r->lo, (long long)hi);
  case DIF__SETTING_NOISE_LEVEL:
    return sfail(s, DIF_ERR_INVALID_ARGUMENT,
                 "%s: %d is outside %lld..%lld (the model's image_noising_scheduler has %lld "
                 "steps)",
                 r->setter, v, (long long)r->lo, (long long)hi, (long long)hi + 1);
  default:
    return sfail(s, DIF_ERR_INVALID_ARGUMENT, "%s: %d is outside %lld..%lld", r->setter, v,
                 (long long)r->lo, (long long)hi);
  }
}

dif_status dif__sample_set_int(dif_sample *s, const dif__setting *r, int32_t v) {
  dif_status st = usable(s, r->setter);
  if (st) return st;
  int64_t hi = dif__setting_hi(r, r->hi < 0 ? dif__models_max_noise_level(&s->ctx->models) : 0);
  if (v < r->lo || v > hi || (r->multiple > 1 && v % r->multiple)) return out_of_range(s, r, v, hi);
  *(int32_t *)dif__setting_field(&s->v, r) = v;
  if (r->kind == DIF__SETTING_BATCH) s->v.keep = -1;
  return ok(s);
}

dif_status dif__sample_set_scale(dif_sample *s, const dif__setting *r, float v) {
  dif_status st = usable(s, r->setter);
  if (st) return st;
  if (!(v >= r->lo && v <= r->hi)) /* NaN fails too */
    return sfail(s, DIF_ERR_INVALID_ARGUMENT, "%s: guidance %g must be finite, >= %lld and <= %lld",
                 r->setter, (double)v, (long long)r->lo, (long long)r->hi);
  *(float *)dif__setting_field(&s->v, r) = v;
  return ok(s);
}

/* Replaces the name with a checked copy of a scheduler name (NULL clears it). */
dif_status dif__sample_set_name(dif_sample *s, const dif__setting *r, const char *name) {
  dif_status st = usable(s, r->setter);
  if (st) return st;
  char *copy = NULL, **slot = dif__setting_field(&s->v, r);
  if (name) {
    dif__error err = {0};
    if (dif__scheduler_check_name(name, &err))
      return sfail(s, err.status, "%s: %s", r->setter, err.msg);
    if (!(copy = strdup(name)))
      return sfail(s, DIF_ERR_OUT_OF_MEMORY, "%s: out of memory", r->setter);
  }
  free(*slot);
  *slot = copy;
  return ok(s);
}

static const dif__setting *row(const char *key) { return dif__setting_find(key); }

DIF_API dif_status dif_sample_set_steps(dif_sample *s, int32_t steps) {
  return dif__sample_set_int(s, row("steps"), steps);
}

DIF_API dif_status dif_sample_set_guidance(dif_sample *s, float scale) {
  return dif__sample_set_scale(s, row("guidance"), scale);
}

DIF_API dif_status dif_sample_set_prior_steps(dif_sample *s, int32_t steps) {
  return dif__sample_set_int(s, row("prior_steps"), steps);
}

DIF_API dif_status dif_sample_set_prior_guidance(dif_sample *s, float scale) {
  return dif__sample_set_scale(s, row("prior_guidance"), scale);
}

static char scheduler_names[256];
static void make_scheduler_names(void) {
  dif__sched_names(scheduler_names, sizeof scheduler_names, true);
}

DIF_API const char *dif_scheduler_names(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, make_scheduler_names);
  return scheduler_names;
}

DIF_API dif_status dif_sample_set_scheduler(dif_sample *s, const char *name) {
  return dif__sample_set_name(s, row("scheduler"), name);
}

DIF_API dif_status dif_sample_set_prior_scheduler(dif_sample *s, const char *name) {
  return dif__sample_set_name(s, row("prior_scheduler"), name);
}

DIF_API dif_status dif_sample_set_seed(dif_sample *s, uint64_t seed) {
  CHECK_SAMPLE(s, "dif_sample_set_seed");
  s->v.seed = seed;
  return ok(s);
}

DIF_API dif_status dif_sample_set_random_seed(dif_sample *s) {
  CHECK_SAMPLE(s, "dif_sample_set_random_seed");
  uint64_t seed;
  if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
    return sfail(s, DIF_ERR_IO, "dif_sample_set_random_seed: the system has no random bytes");
  s->v.seed = seed;
  return ok(s);
}

DIF_API uint64_t dif_sample_seed(const dif_sample *s) { return s ? s->v.seed : 0; }

DIF_API dif_status dif_sample_set_batch(dif_sample *s, int32_t count) {
  return dif__sample_set_int(s, row("batch"), count);
}

DIF_API dif_status dif_sample_set_noise_level(dif_sample *s, int32_t level) {
  return dif__sample_set_int(s, row("noise_level"), level);
}

DIF_API dif_status dif_sample_set_blend(dif_sample *s, dif_blend mode) {
  CHECK_SAMPLE(s, "dif_sample_set_blend");
  if (mode != DIF_BLEND_SUM && mode != DIF_BLEND_SLERP)
    return sfail(s, DIF_ERR_INVALID_ARGUMENT, "dif_sample_set_blend: unknown mode %d", (int)mode);
  s->v.blend = mode;
  return ok(s);
}

static dif_status set_init(dif_sample *s, const char *fn, dif__image *img, const char *source,
                           float strength) {
  if (!isfinite(strength) || !(strength > 0) || strength > 1) {
    dif__image_free(img);
    return sfail(s, DIF_ERR_INVALID_ARGUMENT, "%s: strength %g must be in (0, 1]", fn,
                 (double)strength);
  }
  char *src = strdup(source);
  if (!src) {
    dif__image_free(img);
    return sfail(s, DIF_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  }
  dif__image_free(&s->init);
  free(s->init_source);
  s->init = *img;
  s->init_source = src;
  s->strength = strength;
  return ok(s);
}

DIF_API dif_status dif_sample_set_init_image_file(dif_sample *s, const char *path, float strength) {
  CHECK_SAMPLE(s, "dif_sample_set_init_image_file");
  if (!path) {
    dif__image_free(&s->init);
    free(s->init_source);
    s->init_source = NULL;
    return ok(s);
  }
  dif__image img;
  uint64_t xxh3;
  dif__error err = {0};
  dif__image_limits l = {DIF_MAX_IMAGE_SIDE, DIF_MAX_IMAGE_SIDE, DIF_MAX_IMAGE_PIXELS, 0};
  if (dif__image_load_hashed(path, &l, NULL, &xxh3, &img, &err))
    return sfail(s, err.status, "dif_sample_set_init_image_file: %s", err.msg);
  return dif__sample_set_init_decoded(s, "dif_sample_set_init_image_file", &img, path, xxh3,
                                      strength);
}

dif_status dif__sample_set_init_decoded(dif_sample *s, const char *fn, dif__image *img,
                                        const char *source, uint64_t xxh3, float strength) {
  if (atomic_load(&s->running)) {
    dif__image_free(img);
    return sfail(s, DIF_ERR_BUSY, "%s: the sample is running", fn);
  }
  char *abs = realpath(source, NULL); /* the record names it relative to where it is saved */
  dif_status st = set_init(s, fn, img, abs ? abs : source, strength);
  free(abs);
  if (!st) s->init_xxh3 = xxh3;
  return st;
}

DIF_API dif_status dif_sample_set_init_image_rgb(dif_sample *s, const uint8_t *rgb, int32_t width,
                                                 int32_t height, int32_t stride, float strength) {
  CHECK_SAMPLE(s, "dif_sample_set_init_image_rgb");
  dif__image img;
  dif__error err = {0};
  if (dif__image_from_rgb(rgb, width, height, stride, &img, &err))
    return sfail(s, err.status, "dif_sample_set_init_image_rgb: %s", err.msg);
  return set_init(s, "dif_sample_set_init_image_rgb", &img, "pixels", strength);
}

DIF_API dif_status dif_sample_set_progress(dif_sample *s, dif_progress_fn fn, void *user) {
  CHECK_SAMPLE(s, "dif_sample_set_progress");
  s->progress = fn;
  s->progress_user = user;
  return ok(s);
}

/* ---- running ---- */

static int on_step(void *user, int step, int total) {
  dif_sample *s = user;
  atomic_store(&s->step, step);
  atomic_store(&s->total, total);
  return s->progress ? s->progress(step, total, s->progress_user) : 0;
}

/* The scheduler a run uses: the sample's, else the model's recommended one
 * (dif_defaults.json), else the model's scheduler/ class. */
static const char *scheduler_of(const dif_sample *s) {
  const dif__models *m = &s->ctx->models;
  if (s->v.scheduler) return s->v.scheduler;
  return m->defaults.scheduler[0] ? m->defaults.scheduler : m->scheduler_class;
}

/* The JSON record of what was run (stored in PNGs; `dif generate --from`). */
int32_t dif__sample_output_scale(const dif_sample *s) {
  const dif__models *m = &s->ctx->models;
  return dif__models_is_upscaler(m) ? (int32_t)dif__vae_scale(&m->vae) : 1;
}

/* Row r's value in v as the record stores it, under its key. */
static void record_setting(json_t *o, const dif__setting *r, dif__setting_values *v) {
  const void *f = dif__setting_field(v, r);
  json_t *j = NULL;
  switch (r->kind) {
  case DIF__SETTING_SIZE:
  case DIF__SETTING_STEPS:
  case DIF__SETTING_BATCH:
  case DIF__SETTING_INDEX:
  case DIF__SETTING_NOISE_LEVEL: j = json_integer(*(const int32_t *)f); break;
  case DIF__SETTING_SCALE: j = json_real(*(const float *)f); break;
  case DIF__SETTING_SCHEDULER: j = json_string(*(char *const *)f); break;
  case DIF__SETTING_SEED: j = json_integer((json_int_t)v->seed); break; /* as signed 64-bit */
  case DIF__SETTING_SEED_U64: j = json_sprintf("%llu", (unsigned long long)v->seed); break;
  case DIF__SETTING_BLEND: j = json_string(v->blend == DIF_BLEND_SLERP ? "slerp" : "sum"); break;
  case DIF__SETTING_COMMENT: return;
  }
  json_object_set_new(o, r->key, j);
}

/* The settings' keys of the record of a run of width x height, in table
 * order, each when the model has it. */
void dif__sample_record_settings(const dif_sample *s, json_t *o, int32_t width, int32_t height) {
  dif__setting_values v = s->v; /* what the run used */
  v.width = width;
  v.height = height;
  v.scheduler = (char *)scheduler_of(s);
  v.prior_scheduler = s->v.prior_scheduler ? s->v.prior_scheduler : "DDPMScheduler";
  const dif__models *m = &s->ctx->models;
  bool unclip = m->family == DIF__FAMILY_UNCLIP;
  const bool written[] = {[DIF__WRITTEN_ALWAYS] = true,
                          [DIF__WRITTEN_KEPT] = s->v.keep >= 0,
                          [DIF__WRITTEN_NOISED] = unclip || dif__models_is_upscaler(m),
                          [DIF__WRITTEN_UNCLIP] = unclip,
                          [DIF__WRITTEN_NEVER] = false};
  for (int i = 0; i < dif__n_settings; i++)
    if (written[dif__settings[i].written]) record_setting(o, &dif__settings[i], &v);
}

static char *parameters_json(const dif_sample *s, int32_t width, int32_t height,
                             const int32_t picture[2]) {
  json_t *o = json_object(), *parts = json_array(), *files = json_array();
  for (int i = 0; i < s->prompt->n_parts; i++) {
    const dif__prompt_part *p = &s->prompt->parts[i];
    json_t *j =
        p->kind == DIF__PART_TEXT
            ? json_pack("{s:s, s:f}", "text", p->text, "weight", (double)p->weight)
            : json_pack("{s:s, s:i, s:i, s:f}", "image", dif__record_base_name(p->source), "width",
                        p->image.width, "height", p->image.height, "weight", (double)p->weight);
    if (p->kind != DIF__PART_TEXT && strcmp(p->source, "pixels") != 0)
      json_object_set_new(j, "xxh3", json_sprintf("%016llx", (unsigned long long)p->xxh3));
    json_array_append_new(parts, j);
  }
  json_object_set_new(o, "prompt", parts);
  json_object_set_new(o, "negative", json_string(s->prompt->negative ? s->prompt->negative : ""));
  dif__sample_record_settings(s, o, width, height);
  if (s->init.rgb) {
    json_t *init = json_pack("{s:s, s:f}", "image", dif__record_base_name(s->init_source),
                             "strength", (double)s->strength);
    if (strcmp(s->init_source, "pixels") != 0)
      json_object_set_new(init, "xxh3", json_sprintf("%016llx", (unsigned long long)s->init_xxh3));
    json_object_set_new(o, "init_image", init);
  }
  dif__sample_edit_record(&s->edit, o, picture[0], picture[1]);
  for (int i = 0; i < dif_context_model_file_count(s->ctx); i++) {
    const char *path;
    uint64_t h;
    dif_context_model_file(s->ctx, i, &path, NULL, &h);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    json_array_append_new(files, json_pack("{s:s, s:s}", "file", path, "xxh3", hex));
  }
  dif__record_add_loras(s->ctx, o);
  dif__record_add_embeddings(s->ctx, o);
  json_object_set_new(
      o, "model",
      json_pack("{s:s, s:o}", "dir", dif__model_folder_dir(s->ctx->models.folder), "files", files));
  json_object_set_new(o, "precision",
                      json_string(dif_precision_name(dif_context_precision(s->ctx))));
  json_object_set_new(o, "libdif", json_string(dif_version_string()));
  char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
  json_decref(o);
  return text;
}

/* The picture a run starts from: the init image at the run's size (the
 * image's own, rounded down to multiples of 8, unless a size was set),
 * resized into *resized when needed; *init NULL without one. */
static dif_status picture(dif_sample *s, int32_t *w, int32_t *h, dif__image *resized,
                          const dif__image **init) {
  int32_t width = s->v.width, height = s->v.height;
  dif__error err = {0};
  *init = NULL;
  if (s->init.rgb) {
    if (!s->size_set) { /* the image's size, rounded down to multiples of 8 */
      width = s->init.width - s->init.width % 8;
      height = s->init.height - s->init.height % 8;
      /* name each limit the rounded size breaks (a 16384x1 image is too
       * wide AND too low: 1 rounds down to 0) */
      const int32_t side[2] = {width, height};
      char why[256] = "";
      size_t o = 0;
      for (int i = 0; i < 2 && o < sizeof why; i++) {
        const char *name = i ? "height" : "width";
        if (side[i] > DIF_MAX_OUTPUT_SIDE)
          o += (size_t)snprintf(why + o, sizeof why - o,
                                "%sthe %s exceeds DIF_MAX_OUTPUT_SIDE (%d pixels per side)",
                                o ? " and " : "", name, DIF_MAX_OUTPUT_SIDE);
        else if (side[i] < 8)
          o += (size_t)snprintf(why + o, sizeof why - o, "%sthe %s is below 8 pixels",
                                o ? " and " : "", name);
      }
      if (o)
        return sfail(s,
                     width > DIF_MAX_OUTPUT_SIDE || height > DIF_MAX_OUTPUT_SIDE
                         ? DIF_ERR_LIMIT
                         : DIF_ERR_INVALID_ARGUMENT,
                     "the init image is %dx%d; as the output size (rounded down to multiples of "
                     "8) that is %dx%d: %s; set a size with dif_sample_set_size",
                     s->init.width, s->init.height, width, height, why);
    }
    *init = &s->init;
    if (s->init.width != width || s->init.height != height) {
      /* diffusers' VaeImageProcessor resizes with PIL's Lanczos */
      if (dif__image_resize(&s->init, width, height, DIF__RESAMPLE_LANCZOS, NULL, resized, &err))
        return sfail(s, err.status, "init image: %s", err.msg);
      *init = resized;
    }
  }
  *w = width;
  *h = height;
  return DIF_OK;
}

/* Upscale (Subtle / Creative) on a model that is not an x4 upscaler runs
 * in tiles of the model's own size (its default picture's shorter side,
 * rounded down to a multiple of 8) overlapping by a quarter tile, when the
 * output is larger (pipelines/tiled.h); 0 otherwise. */
static int upscale_tile(const dif_sample *s) {
  const dif__models *m = &s->ctx->models;
  if (s->edit.op.op != DIF__EDIT_UPSCALE || dif__models_is_upscaler(m)) return 0;
  int side = m->defaults.width < m->defaults.height ? m->defaults.width : m->defaults.height;
  side = side / 8 * 8;
  return side >= 32 ? side : 32;
}

static dif_status run(dif_sample *s) {
  dif_context *ctx = s->ctx;
  dif__error err = {0};
  if (dif__blas_reserve(&err) || dif__models_check_files(&ctx->models, &err))
    return sfail(s, err.status, "%s", err.msg);
  int32_t width = 0, height = 0;
  dif__image resized = {0}, canvas = {0};
  const dif__image *init = NULL;
  float *mask = NULL;
  bool soft = false, x4 = dif__models_is_upscaler(&ctx->models);
  int vae_scale = (int)dif__vae_scale(&ctx->models.vae);
  dif__edit_overrides ov;
  dif_status st = picture(s, &width, &height, &resized, &init);
  if (st) return st;
  /* a mask, or an edit's canvas and mask */
  if (dif__sample_edit_prepare(&s->edit, init, vae_scale, x4, &canvas, &mask, &soft, &ov, &err)) {
    dif__image_free(&resized);
    return sfail(s, err.status, "%s", err.msg);
  }
  const int32_t picture[2] = {width, height}; /* before an edit's canvas */
  if (canvas.rgb) {
    init = &canvas;
    width = canvas.width;
    height = canvas.height;
  }
  if (x4) { /* the x4 upscaler: the picture is the low-res input */
    width *= vae_scale;
    height *= vae_scale;
  }
  dif__part parts[DIF_MAX_PROMPT_PARTS];
  for (int i = 0; i < s->prompt->n_parts; i++) {
    const dif__prompt_part *p = &s->prompt->parts[i];
    parts[i] = (dif__part){p->kind, p->text, &p->image, p->weight};
  }
  dif__request r = {.parts = parts,
                    .n_parts = s->prompt->n_parts,
                    .negative = s->prompt->negative,
                    .blend =
                        s->v.blend == DIF_BLEND_SLERP ? DIF__BLEND_RULE_SLERP : DIF__BLEND_RULE_SUM,
                    .width = width,
                    .height = height,
                    .steps = s->v.steps,
                    .batch = s->v.batch,
                    .guidance = s->v.guidance,
                    .prior_steps = s->v.prior_steps,
                    .prior_guidance = s->v.prior_guidance,
                    .prior_scheduler = s->v.prior_scheduler,
                    .noise_level = ov.noise_level >= 0 ? ov.noise_level : s->v.noise_level,
                    .scheduler = scheduler_of(s),
                    .seed = s->v.seed,
                    .init_image = init,
                    .strength = ov.strength >= 0.0f ? ov.strength : s->strength,
                    .mask = mask,
                    .soft_mask = soft,
                    .mask_crop = s->edit.crop,
                    .mask_crop_padding = s->edit.crop_padding,
                    .on_step = on_step,
                    .step_user = s,
                    .text_to_prior = true,
                    .cancel = &s->cancel};
  dif__arena *arena = dif__ctx_take_arena(ctx);
  if (!arena) {
    dif__image_free(&resized);
    dif__image_free(&canvas);
    free(mask);
    return sfail(s, DIF_ERR_OUT_OF_MEMORY, "out of memory for the sample's scratch arena");
  }
  dif__kctx k = dif__ctx_kernels(ctx, arena);
  dif__result res;
  int tile = upscale_tile(s);
  st = tile && (width > tile || height > tile)
           ? dif__generate_tiled(&ctx->models, &k, &r, tile, tile / 4 / 8 * 8, &res, &err)
           : dif__generate(&ctx->models, &k, &r, &res, &err);
  dif__ctx_report_fast(ctx);
  dif__ctx_give_arena(ctx, arena);
  dif__image_free(&resized);
  dif__image_free(&canvas);
  free(mask);
  if (st) return sfail(s, st, "%s", err.msg);
  if (s->v.keep >= 0 && s->v.keep < res.count) { /* one image of the batch: its record's "index" */
    size_t one = (size_t)res.width * (size_t)res.height * 3;
    memmove(res.rgb, res.rgb + (size_t)s->v.keep * one, one);
    res.count = 1;
  }
  char *params = parameters_json(s, width, height, picture);
  pthread_mutex_lock(&s->lock);
  dif__result_free(&s->result);
  s->result = res;
  free(s->params);
  s->params = params;
  s->last_error[0] = '\0';
  pthread_mutex_unlock(&s->lock);
  return DIF_OK;
}

static void finish(dif_sample *s, dif_status st) {
  pthread_mutex_lock(&s->lock);
  s->status = st;
  pthread_mutex_unlock(&s->lock);
  atomic_store(&s->running, 0);
}

DIF_API dif_status dif_sample_run(dif_sample *s) {
  CHECK_SAMPLE(s, "dif_sample_run");
  join(s);
  atomic_store(&s->cancel, 0);
  atomic_store(&s->step, 0);
  atomic_store(&s->total, 0);
  atomic_store(&s->running, 1);
  dif_status st = run(s);
  finish(s, st);
  return st;
}

static void *thread_main(void *arg) {
  dif_sample *s = arg;
  finish(s, run(s));
  return NULL;
}

DIF_API dif_status dif_sample_start(dif_sample *s) {
  CHECK_SAMPLE(s, "dif_sample_start");
  join(s);
  atomic_store(&s->cancel, 0);
  atomic_store(&s->step, 0);
  atomic_store(&s->total, 0);
  atomic_store(&s->running, 1);
  const int e = pthread_create(&s->thread, NULL, thread_main, s);
  if (e != 0) {
    atomic_store(&s->running, 0);
    return sfail(s, DIF_ERR_OUT_OF_MEMORY,
                 "out of memory: could not start the sample's thread (%s)", strerror(e));
  }
  s->thread_live = true;
  return DIF_OK;
}

DIF_API dif_status dif_sample_poll(dif_sample *s, int32_t *step, int32_t *total) {
  if (!s) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_sample_poll: sample is NULL");
  /* running first: once it reads 0, step and total hold their final values */
  int running = atomic_load(&s->running);
  if (step) *step = atomic_load(&s->step);
  if (total) *total = atomic_load(&s->total);
  if (running) return DIF_ERR_BUSY;
  pthread_mutex_lock(&s->lock);
  dif_status st = s->status;
  pthread_mutex_unlock(&s->lock);
  return st;
}

DIF_API dif_status dif_sample_wait(dif_sample *s) {
  if (!s) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_sample_wait: sample is NULL");
  join(s);
  pthread_mutex_lock(&s->lock);
  dif_status st = s->status;
  pthread_mutex_unlock(&s->lock);
  return st;
}

DIF_API dif_status dif_sample_cancel(dif_sample *s) {
  if (!s) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_sample_cancel: sample is NULL");
  if (atomic_load(&s->running)) atomic_store(&s->cancel, 1);
  return DIF_OK;
}

/* ---- results ---- */

DIF_API int32_t dif_sample_image_count(const dif_sample *s) { return s ? s->result.count : 0; }
DIF_API int32_t dif_sample_width(const dif_sample *s) { return s ? s->result.width : 0; }
DIF_API int32_t dif_sample_height(const dif_sample *s) { return s ? s->result.height : 0; }
DIF_API size_t dif_sample_image_bytes(const dif_sample *s) {
  return s ? (size_t)s->result.width * (size_t)s->result.height * 3 : 0;
}

static dif_status check_index(const dif_sample *s, const char *fn, int32_t index) {
  if (!s) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "%s: sample is NULL", fn);
  if (atomic_load(&s->running))
    return sfail((dif_sample *)s, DIF_ERR_BUSY, "%s: the sample is running", fn);
  if (index < 0 || index >= s->result.count)
    return sfail((dif_sample *)s, DIF_ERR_INVALID_ARGUMENT, "%s: image %d of %d", fn, index,
                 s->result.count);
  return DIF_OK;
}

DIF_API dif_status dif_sample_copy_image(const dif_sample *s, int32_t index, uint8_t *rgb,
                                         size_t size) {
  dif_status st = check_index(s, "dif_sample_copy_image", index);
  if (st) return st;
  size_t n = dif_sample_image_bytes(s);
  if (!rgb || size < n)
    return sfail((dif_sample *)s, DIF_ERR_INVALID_ARGUMENT,
                 "dif_sample_copy_image: the buffer holds %zu bytes, the image needs %zu",
                 rgb ? size : 0, n);
  memcpy(rgb, s->result.rgb + (size_t)index * n, n);
  return DIF_OK;
}

static dif_status save(const dif_sample *s, const char *fn, int32_t index, const char *path,
                       dif__image_format format) {
  dif_status st = check_index(s, fn, index);
  if (st) return st;
  if (!path) return sfail((dif_sample *)s, DIF_ERR_INVALID_ARGUMENT, "%s: path is NULL", fn);
  dif__image img = {s->result.width, s->result.height,
                    s->result.rgb + (size_t)index * dif_sample_image_bytes(s), 0};
  /* the record names image files relative to the file's folder, and which
   * image of its batch the file is */
  const char *sources[DIF_MAX_PROMPT_PARTS];
  for (int i = 0; i < s->prompt->n_parts; i++)
    sources[i] = s->prompt->parts[i].kind == DIF__PART_TEXT ? NULL : s->prompt->parts[i].source;
  char *placed =
      s->params ? dif__record_for_png(s->params, sources, s->prompt->n_parts, s->init_source,
                                      s->init_xxh3, s->edit.mask_source, s->edit.mask_xxh3, path)
                : NULL;
  char *with_loras = placed ? dif__record_place_loras(placed, s->ctx, path) : NULL;
  free(placed);
  placed = with_loras ? dif__record_place_embeddings(with_loras, s->ctx, path) : NULL;
  free(with_loras);
  with_loras = placed;
  char *record = with_loras ? dif__record_with_index(with_loras, index) : NULL;
  free(with_loras);
  if (s->params && !record)
    return sfail((dif_sample *)s, DIF_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  dif__error err = {0};
  st = dif__record_save(&img, path, format, record ? record : "{}", &err);
  free(record);
  if (st) return sfail((dif_sample *)s, st, "%s: %s", fn, err.msg);
  return DIF_OK;
}

DIF_API dif_status dif_sample_save_png(const dif_sample *s, int32_t index, const char *path) {
  return save(s, "dif_sample_save_png", index, path, DIF__IMAGE_FORMAT_PNG);
}

DIF_API dif_status dif_sample_save(const dif_sample *s, int32_t index, const char *path) {
  dif__image_format format = dif__image_format_for_path(path);
  if (s && path && format == DIF__IMAGE_FORMAT_UNKNOWN) {
    dif_check_output_format(path);
    return sfail((dif_sample *)s, DIF_ERR_UNSUPPORTED, "dif_sample_save: %s", dif_last_error());
  }
  return save(s, "dif_sample_save", index, path, format);
}

DIF_API const char *dif_sample_parameters(const dif_sample *s) {
  return s && s->params ? s->params : "";
}

DIF_API const char *dif_sample_last_error(const dif_sample *s) {
  return s ? s->last_error : dif_last_error();
}
