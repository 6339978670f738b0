/* edit.c — `dif vary`, `dif zoom`, `dif pan`, `dif upscale`: the editing
 * tools of libdif (dif.h: masks, zoom out, make square, pan, upscale) on one
 * picture. The model and
 * the prompt come from the options, else from the picture's libdif record,
 * else the default model and (on a Stable unCLIP model) the picture itself
 * as the prompt. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "numbers.h"

typedef enum { VARY, ZOOM, PAN, UPSCALE } tool;

typedef struct edit_opts {
  tool t;
  const char *cmd; /* "dif vary" */
  const char *image, *prompt, *mask, *model, *config, *prior, *out;
  float factor, amount, strength;
  int square, subtle, creative, direction, steps, quiet, verbose;
  int has_rect, rect[4]; /* --rect X,Y,W,H */
  int crop_padding;      /* --crop-padding N; -1: none */
  int has_seed;
  uint64_t seed;
} edit_opts;

static const char *const directions[] = {"left", "right", "up", "down"};

static void help(const edit_opts *o) {
  const char *m = dif_default_model_dir();
  if (o->t == VARY)
    printf("usage: dif vary IMAGE (--mask MASK.png | --rect X,Y,W,H) [PROMPT] [options]\n"
           "  Vary (Region): repaints the mask's white part of IMAGE (the mask is scaled\n"
           "  to the picture; grey >= 128 repaints) with PROMPT.\n"
           "  --mask FILE      the mask (PNG, JPEG or WebP; white = repaint)\n"
           "  --rect X,Y,W,H   or a rectangle of the picture, in pixels\n"
           "  --crop-padding N repaint only the region around the mask (grown by N\n"
           "                   pixels) at full size and paste it back: the rest keeps\n"
           "                   its exact pixels (diffusers' padding_mask_crop)\n"
           "  --subtle         keep the region's layout (strength %.1f; default strong, %.1f)\n",
           (double)DIF_VARY_SUBTLE, (double)DIF_VARY_STRONG);
  else if (o->t == ZOOM)
    printf("usage: dif zoom IMAGE (--factor F | --square) [PROMPT] [options]\n"
           "  Zoom Out: the picture shrinks by F into the centre of a canvas of its own\n"
           "  size and the border is painted. Make Square: a square canvas of about the\n"
           "  picture's pixel count, the picture scaled to fit, the rest painted.\n"
           "  --factor F       1 < F <= %d (1.5 and 2 are Midjourney's presets)\n"
           "  --square         make square instead\n",
           DIF_MAX_ZOOM_OUT);
  else if (o->t == UPSCALE)
    printf("usage: dif upscale IMAGE [--factor N] [--creative] [-m UPSCALER] [PROMPT] [options]\n"
           "  Upscale: IMAGE's model (from its record, else the default model) redraws the\n"
           "  picture resized by N (sides rounded to multiples of 8), as img2img at\n"
           "  strength %.2f (Subtle) or %.2f (--creative). With -m an x4 upscaler folder\n"
           "  (StableDiffusionUpscalePipeline): that pipeline, 4 x the picture, at noise\n"
           "  level 20 (Subtle) or 100 (--creative).\n"
           "  --factor N       1 < N <= %d (default 2; 4 with an x4 upscaler, which only\n"
           "                   makes 4)\n"
           "  --creative       redraw more detail (default: Subtle)\n",
           0.25, 0.5, DIF_MAX_UPSCALE);
  else
    printf("usage: dif pan IMAGE --direction left|right|up|down [--amount A] [PROMPT] [options]\n"
           "  Pan: the canvas grows on that side by A times the picture's width (left,\n"
           "  right) or height (up, down), rounded up to a multiple of 8, at most %d\n"
           "  pixels a side; the picture keeps its pixels, the new strip is painted.\n"
           "  --direction D    left, right, up or down\n"
           "  --amount A       0 < A <= 1 (default 0.5)\n",
           DIF_MAX_OUTPUT_SIDE);
  printf("  PROMPT           what to paint (default: the prompt of IMAGE's libdif record; for\n"
         "                   a picture without one, the picture itself on a Stable unCLIP model)\n"
         "  -m DIR           model folder (default: IMAGE's record's model, else %s)\n"
         "  --config DIR     with -m FILE.safetensors: the diffusers folder of its configs,\n"
         "                   or a preset (default: the one the file chooses; dif info FILE)\n"
         "  --prior DIR      a separate diffusion prior folder\n"
         "  -o FILE          output (.png, .jpg, .webp; default IMAGE-%s.png)\n"
         "  --strength S     0 < S <= 1: how much of the repainted part starts from noise\n"
         "  --steps N        denoising steps (default: the model's)\n"
         "  --seed N         seed (default: random)\n"
         "  -q, -v           quiet; verbose (libdif's log)\n"
         "  -h, --help       this help\n"
         "Exit status: 0 done, 1 failed (a file, the model, the run), 2 bad usage,\n"
         "130 interrupted.\n",
         m ? m : "none installed",
         o->t == VARY   ? "vary"
         : o->t == ZOOM ? "zoom"
         : o->t == PAN  ? "pan"
                        : "upscale");
}

static int bad(const edit_opts *o, const char *opt, const char *msg) {
  fprintf(stderr, "%s: %s: %s\n", o->cmd, opt, msg);
  return 2;
}

/* --rect X,Y,W,H: four integers, X and Y from 0, W and H from 1, each at
 * most DIF_MAX_OUTPUT_SIDE. 1, or -1 on a usage error. */
static int parse_rect(edit_opts *o, const char *v) {
  char buf[96], err[160];
  if (strlen(v) >= sizeof buf) {
    bad(o, "--rect", "expected X,Y,W,H");
    return -1;
  }
  snprintf(buf, sizeof buf, "%s", v);
  char *p = buf;
  for (int i = 0; i < 4; i++) {
    char *comma = strchr(p, ',');
    if ((i < 3) != (comma != NULL)) {
      bad(o, "--rect", "expected four numbers X,Y,W,H");
      return -1;
    }
    if (comma) *comma = '\0';
    long long n;
    if (num_int(p, i < 2 ? 0 : 1, DIF_MAX_OUTPUT_SIDE, &n, err, sizeof err)) {
      bad(o, "--rect", err);
      return -1;
    }
    o->rect[i] = (int)n;
    p = comma ? comma + 1 : p;
  }
  o->has_rect = 1;
  return 1;
}

/* One option with a value; 1 when argv[i] was it, -1 on a usage error. */
static int option(edit_opts *o, int argc, char **argv, int *i) {
  const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
  char err[160];
  static const char *const with_value[] = {"--mask",         "--rect",   "-m",          "--prior",
                                           "--config",       "-o",       "--strength",  "--steps",
                                           "--seed",         "--factor", "--direction", "--amount",
                                           "--crop-padding", NULL};
  int k = 0;
  while (with_value[k] && strcmp(a, with_value[k])) k++;
  if (!with_value[k]) return 0;
  if (!v) {
    bad(o, a, "needs a value");
    return -1;
  }
  (*i)++;
  long long n = 0;
  if (!strcmp(a, "--mask") && o->t == VARY)
    o->mask = v;
  else if (!strcmp(a, "--rect") && o->t == VARY)
    return parse_rect(o, v);
  else if (!strcmp(a, "--crop-padding") && o->t == VARY) {
    if (num_int(v, 0, DIF_MAX_OUTPUT_SIDE, &n, err, sizeof err)) {
      bad(o, a, err);
      return -1;
    }
    o->crop_padding = (int)n;
  } else if (!strcmp(a, "-m"))
    o->model = v;
  else if (!strcmp(a, "--prior"))
    o->prior = v;
  else if (!strcmp(a, "--config"))
    o->config = v;
  else if (!strcmp(a, "-o"))
    o->out = v;
  else if (!strcmp(a, "--strength")) {
    if (num_real(v, 0, 1, NUM_ABOVE_LO, &o->strength, err, sizeof err)) {
      bad(o, a, err);
      return -1;
    }
  } else if (!strcmp(a, "--steps")) {
    if (num_int(v, 1, DIF_MAX_STEPS, &n, err, sizeof err)) {
      bad(o, a, err);
      return -1;
    }
    o->steps = (int)n;
  } else if (!strcmp(a, "--seed")) {
    if (num_u64(v, &o->seed, err, sizeof err)) {
      bad(o, a, err);
      return -1;
    }
    o->has_seed = 1;
  } else if (!strcmp(a, "--factor") && o->t == ZOOM) {
    if (num_real(v, 1, DIF_MAX_ZOOM_OUT, NUM_ABOVE_LO, &o->factor, err, sizeof err)) {
      bad(o, a, err);
      return -1;
    }
  } else if (!strcmp(a, "--factor") && o->t == UPSCALE) {
    if (num_real(v, 1, DIF_MAX_UPSCALE, NUM_ABOVE_LO, &o->factor, err, sizeof err)) {
      bad(o, a, err);
      return -1;
    }
  } else if (!strcmp(a, "--amount") && o->t == PAN) {
    if (num_real(v, 0, 1, NUM_ABOVE_LO, &o->amount, err, sizeof err)) {
      bad(o, a, err);
      return -1;
    }
  } else if (!strcmp(a, "--direction") && o->t == PAN) {
    int d = 0;
    while (d < 4 && strcmp(v, directions[d])) d++;
    if (d == 4) {
      bad(o, a, "expected left, right, up or down");
      return -1;
    }
    o->direction = d;
  } else {
    bad(o, a, "is not an option of this command");
    return -1;
  }
  return 1;
}

static int parse(edit_opts *o, int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      help(o);
      return 1;
    }
    int r = option(o, argc, argv, &i);
    if (r < 0) return 2;
    if (r) continue;
    if (!strcmp(a, "--square") && o->t == ZOOM)
      o->square = 1;
    else if (!strcmp(a, "--subtle") && o->t == VARY)
      o->subtle = 1;
    else if (!strcmp(a, "--creative") && o->t == UPSCALE)
      o->creative = 1;
    else if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
      o->quiet = 1;
    else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
      o->verbose = 1;
    else if (a[0] == '-' && a[1])
      return bad(o, a, "unknown option (see --help)");
    else if (!o->image)
      o->image = a;
    else if (!o->prompt)
      o->prompt = a;
    else
      return bad(o, a, "one IMAGE and one PROMPT at most (quote the prompt)");
  }
  if (!o->image) return bad(o, "IMAGE", "missing (see --help)");
  if (o->t == VARY && !o->mask && !o->has_rect)
    return bad(o, "--mask", "missing: the region to repaint (or --rect X,Y,W,H)");
  if (o->mask && o->has_rect) return bad(o, "--rect", "give --mask or --rect, not both");
  if (o->t == ZOOM && !o->square && isnan(o->factor))
    return bad(o, "--factor", "missing: give --factor F (1 < F <= 4) or --square");
  if (o->t == ZOOM && o->square && !isnan(o->factor))
    return bad(o, "--square", "give --factor or --square, not both");
  if (o->t == UPSCALE && o->strength == o->strength)
    return bad(o, "--strength", "not an option of dif upscale (Subtle or --creative set it)");
  if (o->t == PAN && o->direction < 0)
    return bad(o, "--direction", "missing: left, right, up or down");
  return 0;
}

/* IMAGE's libdif record (malloc'd), or NULL when it has none. */
static char *read_record(const char *image) {
  size_t size = 0;
  if (dif_read_parameters(image, NULL, &size) != DIF_OK) return NULL;
  char *r = malloc(size);
  if (r && dif_read_parameters(image, r, &size) != DIF_OK) {
    free(r);
    r = NULL;
  }
  return r;
}

/* The record's "model": {"dir": "..."} as a path in buf (JSON escapes \" \\ \/
 * undone); 0 when the record names none or uses another escape. */
static int record_model_dir(const char *record, char *buf, size_t n) {
  const char *m = strstr(record, "\"model\":{\"dir\":\"");
  if (!m) return 0;
  size_t o = 0;
  for (const char *c = m + 16; *c && *c != '"'; c++) {
    if (*c == '\\') {
      c++;
      if (*c != '"' && *c != '\\' && *c != '/') return 0;
    }
    if (o + 1 >= n) return 0;
    buf[o++] = *c;
  }
  buf[o] = '\0';
  return o > 0;
}

/* The folder of path ("." for a bare name), for the record's relative files. */
static void folder_of(const char *path, char *buf, size_t n) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(buf, n, ".");
  else
    snprintf(buf, n, "%.*s", slash == path ? 1 : (int)(slash - path), path);
}

/* Whether ctx holds an x4 upscaler (StableDiffusionUpscalePipeline). */
static int is_x4(dif_context *ctx) {
  const char *info = dif_context_info(ctx); /* the class appears only as "pipeline" */
  return info && strstr(info, "\"StableDiffusionUpscalePipeline\"") != NULL;
}

/* The prompt: PROMPT, else the record's, else the picture itself (unCLIP;
 * upscale on another model: no prompt). */
static int make_prompt(const edit_opts *o, dif_context *ctx, const char *record, dif_prompt **p) {
  char dir[4096];
  if (!o->prompt && record) {
    folder_of(o->image, dir, sizeof dir);
    if (dif_prompt_from_record(record, dir, p) == DIF_OK) return 0;
    cli_say(o->cmd, "IMAGE's record", dif_last_error());
    return 1;
  }
  if (dif_prompt_new(p) != DIF_OK) {
    cli_say(o->cmd, NULL, dif_last_error());
    return 1;
  }
  if (o->prompt && dif_prompt_add_text(*p, o->prompt, 1.0f) != DIF_OK) {
    cli_say(o->cmd, "PROMPT", dif_prompt_last_error(*p));
    return 2;
  }
  if (!o->prompt && o->t == UPSCALE && (!dif_context_is_unclip(ctx) || is_x4(ctx))) {
    if (dif_prompt_add_text(*p, "", 1.0f) == DIF_OK) return 0; /* the picture alone guides */
    cli_say(o->cmd, "PROMPT", dif_prompt_last_error(*p));
    return 1;
  }
  if (!o->prompt && !dif_context_is_unclip(ctx)) {
    fprintf(stderr, "%s: PROMPT: missing: %s has no libdif record to take it from\n", o->cmd,
            o->image);
    return 2;
  }
  if (!o->prompt && dif_prompt_add_image_file(*p, o->image, 1.0f) != DIF_OK) {
    cli_say(o->cmd, "IMAGE", dif_prompt_last_error(*p));
    return 1;
  }
  return 0;
}

/* Upscale: the picture at its own size (an x4 upscaler needs it whole),
 * the factor (default 2; 4 on an x4 upscaler) and the mode. */
static dif_status set_upscale(const edit_opts *o, dif_context *ctx, dif_sample *s,
                              const char **what) {
  int x4 = is_x4(ctx);
  float factor = !isnan(o->factor) ? o->factor : x4 ? 4.0f : 2.0f;
  *what = "IMAGE";
  dif_status st = dif_sample_set_init_image_file(s, o->image, 1.0f);
  if (!st && o->steps > 0 && (st = dif_sample_set_steps(s, o->steps))) *what = "--steps";
  if (st) return st;
  *what = "--factor";
  return dif_sample_set_upscale(s, factor, o->creative ? DIF_UPSCALE_CREATIVE : DIF_UPSCALE_SUBTLE);
}

/* The edit on sample s as the options say. */
static dif_status set_edit(const edit_opts *o, dif_sample *s, const char **what) {
  float strength = !isnan(o->strength) ? o->strength
                   : o->subtle         ? DIF_VARY_SUBTLE
                                       : DIF_VARY_STRONG;
  dif_status st = dif_sample_set_init_image_file(s, o->image, strength);
  *what = "IMAGE";
  if (st) return st;
  if (o->steps > 0 && (st = dif_sample_set_steps(s, o->steps))) {
    *what = "--steps";
    return st;
  }
  *what = o->t == VARY   ? (o->has_rect ? "--rect" : "--mask")
          : o->t == ZOOM ? (o->square ? "--square" : "--factor")
                         : "--amount";
  if (o->t == VARY) {
    dif_status m = o->has_rect
                       ? dif_sample_set_mask_rect(s, o->rect[0], o->rect[1], o->rect[2], o->rect[3])
                       : dif_sample_set_mask_file(s, o->mask);
    if (m || o->crop_padding < 0) return m;
    *what = "--crop-padding";
    return dif_sample_set_mask_crop(s, o->crop_padding);
  }
  if (o->t == ZOOM)
    return o->square ? dif_sample_set_make_square(s) : dif_sample_set_zoom_out(s, o->factor);
  return dif_sample_set_pan(s, (dif_direction)o->direction, o->amount);
}

static int run_edit(edit_opts *o, const char *record, const char *model) {
  int rc = 1;
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  const char *what = NULL;
  dif_context *ctx = cli_open(model, o->config, o->prior, 0, -1, NULL, NULL, o->verbose, NULL);
  if (!ctx) return 1;
  if ((rc = make_prompt(o, ctx, record, &p))) goto done;
  rc = 1;
  if (dif_sample_new(ctx, p, &s) != DIF_OK) {
    cli_say(o->cmd, NULL, dif_context_last_error(ctx));
    goto done;
  }
  dif_status st = o->t == UPSCALE ? set_upscale(o, ctx, s, &what) : set_edit(o, s, &what);
  if (!st) st = o->has_seed ? dif_sample_set_seed(s, o->seed) : dif_sample_set_random_seed(s);
  cli_bar pb = {.quiet = o->quiet, .phase_first = -1};
  if (!st) st = dif_sample_set_progress(s, cli_progress, &pb);
  if (!st && dif_check_output_path(o->out) != DIF_OK) {
    cli_say(o->cmd, "-o", dif_last_error());
    goto done;
  }
  if (!st) {
    what = NULL;
    st = cli_run(s);
  }
  if (!st) st = dif_sample_save(s, 0, o->out);
  if (st == DIF_ERR_CANCELLED) {
    fprintf(stderr, "\ndif: cancelled (%s)\n", dif_sample_last_error(s));
    rc = 128 + (cli_interrupted() ? cli_interrupted() : 2);
    goto done;
  }
  if (st) {
    cli_say(o->cmd, what, dif_sample_last_error(s));
    rc = cli_exit_code(st);
    goto done;
  }
  printf("%s\n", o->out);
  if (!o->quiet) fprintf(stderr, "seed %llu\n", (unsigned long long)dif_sample_seed(s));
  rc = 0;
done:
  dif_sample_free(s);
  dif_prompt_free(p);
  dif_context_free(ctx);
  return rc;
}

static int edit_main(edit_opts *o, int argc, char **argv) {
  int r = parse(o, argc, argv);
  if (r) return r == 1 ? 0 : 2;
  cli_set_verbose(o->verbose);
  char def_out[4096], model_buf[4096];
  if (!o->out) { /* IMAGE-vary.png next to IMAGE */
    const char *dot = strrchr(o->image, '.');
    int base = dot && !strchr(dot, '/') ? (int)(dot - o->image) : (int)strlen(o->image);
    snprintf(def_out, sizeof def_out, "%.*s-%s.png", base, o->image, o->cmd + 4);
    o->out = def_out;
  }
  if (dif_check_output_format(o->out) != DIF_OK) {
    fprintf(stderr, "%s: -o %s\n", o->cmd, dif_last_error());
    return 2;
  }
  char *record = read_record(o->image);
  const char *model = o->model;
  struct stat st;
  if (!model && record && record_model_dir(record, model_buf, sizeof model_buf)) {
    if (stat(model_buf, &st) == 0 && S_ISDIR(st.st_mode))
      model = model_buf;
    else if (!o->quiet)
      fprintf(stderr, "%s: warning: %s's model %s is not there; using the default model\n", o->cmd,
              o->image, model_buf);
  }
  if (!model) model = dif_default_model_dir();
  if (!model) {
    fprintf(stderr, "%s: no -m MODEL_DIR, no model in IMAGE's record, no default model\n", o->cmd);
    free(record);
    return 2;
  }
  int rc = run_edit(o, record, model);
  free(record);
  return rc;
}

static edit_opts defaults(tool t, const char *cmd) {
  return (edit_opts){.t = t,
                     .cmd = cmd,
                     .factor = NAN,
                     .amount = 0.5f,
                     .strength = NAN,
                     .direction = -1,
                     .steps = -1,
                     .crop_padding = -1};
}

int cli_vary(int argc, char **argv) {
  edit_opts o = defaults(VARY, "dif vary");
  return edit_main(&o, argc, argv);
}

int cli_zoom(int argc, char **argv) {
  edit_opts o = defaults(ZOOM, "dif zoom");
  return edit_main(&o, argc, argv);
}

int cli_pan(int argc, char **argv) {
  edit_opts o = defaults(PAN, "dif pan");
  return edit_main(&o, argc, argv);
}

int cli_upscale(int argc, char **argv) {
  edit_opts o = defaults(UPSCALE, "dif upscale");
  return edit_main(&o, argc, argv);
}
