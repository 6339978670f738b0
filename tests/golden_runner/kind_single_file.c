/* kind_single_file.c — single-file checkpoints (tests/fixtures/cases/single_file,
 * made by tests/oracle/make_single_file.py).
 *
 * Each case names a checkpoint in the LDM / OpenCLIP layout, the diffusers
 * folder it was made from (its config) and a tests/golden pipeline case
 * whose settings it runs ("golden_case"), or its own ("run").
 * Checked:
 *   1. tensors: every part the file holds (unet, vae, text_encoder), as
 *      io/checkpoint.c converts it, has exactly the names diffusers v0.26.3's
 *      single-file conversion produced (metadata "converted"), and each tensor
 *      equals the folder's bit for bit (an F32 file), or the folder's rounded
 *      to F16 (settings.dtype "F16", the script's --half);
 *   2. image: the golden case's run with the single file + its config folder
 *      equals the case's out.images (diffusers' run of the converted parts)
 *      within the pipelines' 1e-3, and for an F32 file the same run with the
 *      folder bit for bit. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/component.h"
#include "kinds.h"
#include "pipelines/generate.h"

static const char *str(json_t *o, const char *key) {
  return json_string_value(json_object_get(o, key));
}
static double num(json_t *o, const char *key, double dflt) {
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : dflt;
}

/* f rounded to the nearest F16 value, ties to even (torch's .half()); the
 * weights are far inside F16's range. */
static float round_f16(float f) {
  if (f == 0 || !isfinite(f)) return f;
  int e;
  frexp(f, &e); /* |f| in [2^(e-1), 2^e) */
  double q = ldexp(1.0, (e - 1 < -14 ? -14 : e - 1) - 10);
  return (float)(nearbyint((double)f / q) * q);
}

/* One part: names as diffusers converted them, values as the folder's
 * (rounded to F16 for an F16 file). */
static void check_part(golden *g, const char *name, dif__checkpoint *c, const char config[4096],
                       const char *comp, json_t *want, bool f16) {
  char dir[4200], what[300];
  snprintf(dir, sizeof dir, "%s/%s", config, comp);
  dif__error err = {0};
  dif__safetensors *view = NULL, *folder = NULL;
  if (dif__checkpoint_part(c, comp, dir, &view, &err) ||
      dif__component_weights(dir, &folder, &err)) {
    golden_fail(g, name, "%s: %s", comp, err.msg);
  } else if (dif__st_count(view) != json_object_size(want)) {
    golden_fail(g, name, "%s: %zu tensors, diffusers converted %zu", comp, dif__st_count(view),
                json_object_size(want));
  } else {
    for (size_t i = 0; i < dif__st_count(view); i++) {
      const char *t = dif__st_entry_at(view, i)->name;
      dif__tensor a, b;
      snprintf(what, sizeof what, "%s.%s", comp, t);
      if (!json_object_get(want, t)) {
        golden_fail(g, name, "%s: not a name diffusers' conversion produced", what);
      } else if (dif__st_get_f32(view, t, &a, &err) || dif__st_get_f32(folder, t, &b, &err)) {
        golden_fail(g, name, "%s: %s", what, err.msg);
      } else if (a.ndim != b.ndim || memcmp(a.shape, b.shape, sizeof(int64_t) * (size_t)a.ndim)) {
        golden_fail(g, name, "%s: shape differs from the folder's", what);
      } else if (!f16) {
        golden_check_bits(g, name, what, a.data, b.data, dif__tensor_numel(&a));
      } else {
        int64_t n = dif__tensor_numel(&b);
        float *r = malloc((size_t)(n ? n : 1) * sizeof *r);
        for (int64_t j = 0; r && j < n; j++) r[j] = round_f16(b.data[j]);
        if (r) golden_check_bits(g, name, what, a.data, r, n);
        free(r);
      }
    }
  }
  dif__st_close(view);
  dif__st_close(folder);
}

typedef struct image_trap {
  float *data;
  int64_t n;
} image_trap;

static void on_trace(void *user, const char *name, const float *data, int64_t n) {
  image_trap *t = user;
  if (strcmp(name, "out.images") != 0 || t->data) return;
  if ((t->data = malloc((size_t)n * sizeof *t->data))) {
    memcpy(t->data, data, (size_t)n * sizeof *t->data);
    t->n = n;
  }
}

/* The golden pipeline case's run (SD txt2img or unCLIP image variation) on m. */
static dif_status draw(golden *g, dif__models *m, json_t *set, const char *case_dir,
                       image_trap *out, dif__error *err) {
  dif__part parts[2];
  int n_parts = 0;
  dif__image image = {0};
  const char *image_file = str(set, "image");
  dif_status s = DIF_OK;
  if (image_file) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", case_dir, image_file);
    if (!(s = dif__image_load(path, NULL, &image, err)))
      parts[n_parts++] = (dif__part){DIF__PART_IMAGE, NULL, &image, 1.0f};
  }
  if (str(set, "prompt"))
    parts[n_parts++] = (dif__part){DIF__PART_TEXT, str(set, "prompt"), NULL, 1};
  dif__arena arena;
  dif__arena_init(&arena, 1u << 20);
  /* exact: the fixtures' float32 path (the VAE's by Winograd with --wino) */
  dif__kctx k = golden_pipeline_kctx(g, &arena);
  dif__request r = {
      .parts = parts,
      .n_parts = n_parts,
      .negative = str(set, "negative_prompt"),
      .width = (int)num(set, "width", 0),
      .height = (int)num(set, "height", 0),
      .steps = (int)num(set, "num_inference_steps", 0),
      .batch = 1,
      .guidance = (float)num(set, "guidance_scale", 0),
      .prior_steps = 25, /* unused: no prior runs */
      .prior_guidance = 4.0f,
      .noise_level = (int)num(set, "noise_level", 0),
      .eta = (float)num(set, "eta", 0.0),
      .seed = (uint64_t)num(set, "seed", 0),
      .trace = on_trace,
      .trace_user = out,
  };
  dif__result res = {0};
  if (!s) s = dif__generate(m, &k, &r, &res, err);
  if (!s && !out->data) s = dif__fail(err, DIF_ERR_INTERNAL, "no out.images traced");
  dif__result_free(&res);
  golden_wino_end(g, k.wino);
  dif__arena_free(&arena);
  dif__image_free(&image);
  return s;
}

/* settings: the run's (sd txt2img or unCLIP variation); case_dir holds its image. */
static void check_image(golden *g, const char *name, const char *file, const char *config,
                        json_t *set, const char *case_dir, const dif__safetensors *st, bool f16) {
  image_trap a = {0}, b = {0};
  dif__models mf, mc;
  dif__error err = {0};
  if (dif__models_load(&mf, config, NULL, NULL, NULL, &err) == DIF_OK) {
    if (draw(g, &mf, set, case_dir, &a, &err)) golden_fail(g, name, "folder run: %s", err.msg);
    dif__models_free(&mf);
  } else {
    golden_fail(g, name, "folder: %s", err.msg);
  }
  if (dif__models_load_checkpoint(&mc, file, config, NULL, NULL, NULL, &err) == DIF_OK) {
    if (draw(g, &mc, set, case_dir, &b, &err)) golden_fail(g, name, "single-file run: %s", err.msg);
    dif__models_free(&mc);
  } else {
    golden_fail(g, name, "single file: %s", err.msg);
  }
  if (a.data && b.data && a.n == b.n) {
    if (!f16) golden_check_bits(g, name, "out.images (single file = folder)", b.data, a.data, b.n);
    golden_check(g, name, "out.images", b.data, b.n, st, 1e-3, 0);
  } else if (a.data && b.data) {
    golden_fail(g, name, "images of %lld and %lld values", (long long)a.n, (long long)b.n);
  }
  free(a.data);
  free(b.data);
}

/* The settings of the run: the golden pipeline case's, or the case's own. */
static json_t *run_settings(golden *g, const char *name, json_t *set, char *case_dir, size_t size) {
  json_t *run = json_object_get(set, "run");
  const char *gcase = str(set, "golden_case");
  case_dir[0] = 0;
  if (json_is_object(run)) return json_incref(run);
  if (!gcase) {
    golden_fail(g, name, "settings have neither golden_case nor run");
    return NULL;
  }
  snprintf(case_dir, size, "%s", golden_path(g, gcase));
  dif__safetensors *gc = NULL;
  dif__error err = {0};
  json_t *out = NULL;
  if (dif__st_open(case_dir, &gc, &err) == DIF_OK && dif__st_metadata(gc, "settings"))
    out = json_loads(dif__st_metadata(gc, "settings"), 0, NULL);
  if (!out) golden_fail(g, name, "%s: no settings (%s)", gcase, err.msg);
  dif__st_close(gc);
  char *slash = strrchr(case_dir, '/');
  if (slash) *slash = 0;
  return out;
}

static void run_case(golden *g, const char *name, const dif__safetensors *st) {
  const char *settings = dif__st_metadata(st, "settings"),
             *conv = dif__st_metadata(st, "converted");
  json_t *set = settings ? json_loads(settings, 0, NULL) : NULL;
  json_t *converted = conv ? json_loads(conv, 0, NULL) : NULL;
  const char *ckpt = set ? str(set, "checkpoint") : NULL, *cfg = set ? str(set, "config") : NULL;
  if (!ckpt || !cfg || !json_is_object(converted)) {
    golden_fail(g, name, "metadata lacks settings.checkpoint/config or converted");
  } else {
    char file[4096], config[4096];
    snprintf(file, sizeof file, "%s", golden_path(g, ckpt));
    snprintf(config, sizeof config, "%s", golden_path(g, cfg));
    dif__checkpoint *c = NULL;
    dif__error err = {0};
    if (dif__checkpoint_open(file, &c, &err)) {
      golden_fail(g, name, "%s", err.msg);
    } else {
      const char *comp;
      json_t *want;
      const char *dtype = str(set, "dtype");
      bool f16 = dtype && strcmp(dtype, "F16") == 0;
      json_object_foreach(converted, comp, want) check_part(g, name, c, config, comp, want, f16);
      dif__checkpoint_close(c);
      char case_dir[4096];
      json_t *run = run_settings(g, name, set, case_dir, sizeof case_dir);
      if (run) check_image(g, name, file, config, run, case_dir, st, f16);
      json_decref(run);
    }
  }
  json_decref(set);
  json_decref(converted);
}

int golden_kind_single_file(golden *g, const char *dir) {
  return golden_each_case(g, dir, run_case);
}
