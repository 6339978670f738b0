/* generate.c — `dif generate`: options and Midjourney syntax → a prompt and
 * a sample; runs it on a thread so Ctrl-C can cancel, draws a progress bar
 * on a terminal, writes PNGs (and a grid for a batch). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mj_prompt.h"

/* SIGINT and SIGTERM, from the start of the run to the end of saving, only
 * set this flag (the signal's number): a run is cancelled within a step, and
 * saving stops after the file being written, because each file is written
 * whole to a temporary file and renamed by one library call that no handler
 * interrupts, so no temporary file is ever left behind. The command then
 * exits with 128 + the signal. Before the run (loading, reading images) the
 * signals keep their default action: nothing has been written yet. */
static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { interrupted = sig; }

static void catch_signals(void) {
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

static void on_log(dif_log_level level, const char *msg, void *user) {
  (void)user;
  static const char *const names[] = {"error", "warn", "info", "debug"};
  fprintf(stderr, "[libdif %s] %s\n", names[level], msg);
}

dif_context *cli_open(const char *model, const char *prior, int threads, int verbose) {
  /* The dif command owns its process and has started no thread yet: it opts
   * in to the fastest BLAS kernels and gives OpenBLAS the --threads count. */
  if (dif_blas_setup(threads) != DIF_OK && verbose)
    fprintf(stderr, "[dif warn] %s\n", dif_last_error());
  dif_context *ctx = NULL;
  if (dif_context_new(&ctx) != DIF_OK) {
    fprintf(stderr, "dif: %s\n", dif_last_error());
    return NULL;
  }
  if ((threads && dif_context_set_threads(ctx, threads) != DIF_OK) ||
      (verbose && dif_context_set_log(ctx, on_log, DIF_LOG_INFO, NULL) != DIF_OK) ||
      (prior && dif_context_set_prior(ctx, prior) != DIF_OK) ||
      dif_context_load(ctx, model) != DIF_OK) {
    fprintf(stderr, "dif: %s\n", dif_context_last_error(ctx));
    dif_context_free(ctx);
    return NULL;
  }
  return ctx;
}

static void help(void) {
  printf(
      "dif generate PROMPT [options]\n"
      "  PROMPT        text; Midjourney syntax works: 'a::2 b::-0.5 --ar 16:9 --no blur --iw 1.5\n"
      "                --seed 7', leading image paths are image prompts\n"
      "  -m DIR        model folder (default: the default model)\n"
      "  --prior DIR   a separate diffusion prior folder (Stable unCLIP text-to-image)\n"
      "  --image PATH[::W]  an image prompt with weight W (repeatable)\n"
      "  --no TEXT     negative prompt\n"
      "  --ar W:H | -W N -H N   aspect ratio or size (multiples of 8)\n"
      "  --seed N      seed (default: random, printed)\n"
      "  --steps N  --guidance X  --prior-steps N  --prior-guidance X\n"
      "  --sampler NAME   ddim, ddpm, pndm, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, lms, unipc\n"
      "  --noise-level N  unCLIP variation strength 0..999 (0 = close to the references)\n"
      "  --init PATH --strength X   img2img from an image\n"
      "  --batch N     images per run (a batch of 4 also writes a 2x2 grid)\n"
      "  --blend sum|slerp   how prompt parts combine\n"
      "  --threads N   -q (no progress)   -v (log)\n"
      "  -o OUT        OUT.png, OUT.jpg (quality 95) or OUT.webp (lossless)\n"
      "  --from IMAGE  reproduce an image from the record stored in it\n");
}

typedef struct opts {
  const char *model, *prior, *out, *negative, *sampler, *init, *blend, *from;
  char prompt[8192];
  const char *images[MJ_MAX_PARTS];
  int n_images;
  const char *files[MJ_MAX_PARTS]; /* arguments that name existing files: image parts */
  int n_files;
  int width, height, ar_w, ar_h, steps, prior_steps, batch, noise_level, threads;
  float guidance, prior_guidance, strength;
  int has_seed, quiet, verbose;
  unsigned long long seed;
} opts;

static int need(int i, int argc, const char *flag) {
  if (i + 1 >= argc) {
    fprintf(stderr, "dif generate: %s needs a value\n", flag);
    return 0;
  }
  return 1;
}

/* An argument that names something other than a folder (a file, a FIFO, a
 * dangling link) is an image prompt, whatever its name: libdif then reads
 * it or says what it is ("a GIF image, which libdif does not read"), and a
 * file name is never drawn as words. */
static int names_file(const char *a) {
  struct stat st;
  if (stat(a, &st) == 0) return !S_ISDIR(st.st_mode);
  return lstat(a, &st) == 0;
}

static int parse_args(int argc, char **argv, opts *o) {
  memset(o, 0, sizeof *o);
  o->guidance = o->prior_guidance = o->strength = NAN;
  o->steps = o->prior_steps = o->batch = o->noise_level = -1;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
#define VAL(flag) (need(i, argc, flag) ? argv[++i] : NULL)
    const char *v;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      help();
      exit(0);
    } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
      if (!(o->model = VAL(a))) return -1;
    } else if (!strcmp(a, "--prior")) {
      if (!(o->prior = VAL(a))) return -1;
    } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
      if (!(o->out = VAL(a))) return -1;
    } else if (!strcmp(a, "--no")) {
      if (!(o->negative = VAL(a))) return -1;
    } else if (!strcmp(a, "--sampler")) {
      if (!(o->sampler = VAL(a))) return -1;
    } else if (!strcmp(a, "--init")) {
      if (!(o->init = VAL(a))) return -1;
    } else if (!strcmp(a, "--blend")) {
      if (!(o->blend = VAL(a))) return -1;
    } else if (!strcmp(a, "--from")) {
      if (!(o->from = VAL(a))) return -1;
    } else if (!strcmp(a, "--image")) {
      if (!(v = VAL(a))) return -1;
      if (o->n_images == MJ_MAX_PARTS) {
        fprintf(stderr, "dif generate: too many --image\n");
        return -1;
      }
      o->images[o->n_images++] = v;
    } else if (!strcmp(a, "--ar")) {
      if (!(v = VAL(a)) || mj_parse_ratio(v, &o->ar_w, &o->ar_h)) {
        fprintf(stderr, "dif generate: --ar wants W:H, e.g. 16:9\n");
        return -1;
      }
    } else if (!strcmp(a, "-W") || !strcmp(a, "--width")) {
      if (!(v = VAL(a))) return -1;
      o->width = atoi(v);
    } else if (!strcmp(a, "-H") || !strcmp(a, "--height")) {
      if (!(v = VAL(a))) return -1;
      o->height = atoi(v);
    } else if (!strcmp(a, "--seed")) {
      if (!(v = VAL(a))) return -1;
      char *e;
      o->seed = strtoull(v, &e, 10);
      if (*e || !*v || v[0] == '-') {
        fprintf(stderr, "dif generate: --seed wants a number from 0 to 2^64-1\n");
        return -1;
      }
      o->has_seed = 1;
    } else if (!strcmp(a, "--steps")) {
      if (!(v = VAL(a))) return -1;
      o->steps = atoi(v);
    } else if (!strcmp(a, "--prior-steps")) {
      if (!(v = VAL(a))) return -1;
      o->prior_steps = atoi(v);
    } else if (!strcmp(a, "--batch")) {
      if (!(v = VAL(a))) return -1;
      o->batch = atoi(v);
    } else if (!strcmp(a, "--noise-level")) {
      if (!(v = VAL(a))) return -1;
      o->noise_level = atoi(v);
    } else if (!strcmp(a, "--threads")) {
      if (!(v = VAL(a))) return -1;
      o->threads = atoi(v);
    } else if (!strcmp(a, "--guidance")) {
      if (!(v = VAL(a))) return -1;
      o->guidance = strtof(v, NULL);
    } else if (!strcmp(a, "--prior-guidance")) {
      if (!(v = VAL(a))) return -1;
      o->prior_guidance = strtof(v, NULL);
    } else if (!strcmp(a, "--strength")) {
      if (!(v = VAL(a))) return -1;
      o->strength = strtof(v, NULL);
    } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
      o->quiet = 1;
    } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
      o->verbose = 1;
    } else if (a[0] == '-' && a[1] == '-' && o->prompt[0]) {
      /* Midjourney parameters typed after the prompt: keep them in it */
      size_t l = strlen(o->prompt);
      snprintf(o->prompt + l, sizeof o->prompt - l, " %s", a);
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "dif generate: unknown option %s (see dif generate --help)\n", a);
      return -1;
    } else if (names_file(a)) {
      if (o->n_files == MJ_MAX_PARTS) {
        fprintf(stderr, "dif generate: more than %d image files\n", MJ_MAX_PARTS);
        return -1;
      }
      o->files[o->n_files++] = a;
    } else {
      size_t l = strlen(o->prompt);
      snprintf(o->prompt + l, sizeof o->prompt - l, "%s%s", l ? " " : "", a);
    }
#undef VAL
  }
  return 0;
}

/* ---- progress and cancelling ---- */

static int progress(int32_t step, int32_t total, void *user) {
  int *quiet = user;
  if (*quiet || !isatty(2)) return 0;
  int width = 30, done = total ? (int)((int64_t)step * width / total) : 0;
  fprintf(stderr, "\r[%.*s%*s] %d/%d steps", done, "##############################", width - done,
          "", step, total);
  if (step == total) fputc('\n', stderr);
  return 0;
}

/* Runs on a thread; polls so that Ctrl-C can cancel within one step. */
static dif_status run(dif_sample *s) {
  catch_signals();
  dif_status st = dif_sample_start(s);
  while (st == DIF_OK && dif_sample_poll(s, NULL, NULL) == DIF_ERR_BUSY) {
    if (interrupted) dif_sample_cancel(s);
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
  }
  if (st == DIF_OK) st = dif_sample_wait(s);
  return st;
}

/* ---- output ---- */

/* out itself for one image; for a batch "<base>-<i>.<ext>" and
 * "<base>-grid.<ext>", in out's format. */
static void out_name(const char *out, int index, int count, const char *suffix, char *buf,
                     size_t n) {
  const char *dot = strrchr(out, '.');
  int base = dot && !strchr(dot, '/') ? (int)(dot - out) : (int)strlen(out);
  const char *ext = dot && !strchr(dot, '/') ? dot : ".png";
  if (count == 1 && !suffix)
    snprintf(buf, n, "%s", out);
  else if (suffix)
    snprintf(buf, n, "%.*s-%s%s", base, out, suffix, ext);
  else
    snprintf(buf, n, "%.*s-%d%s", base, out, index + 1, ext);
}

/* The number of images a record asks for (its "batch"), 1 if it says none
 * or names one image of its batch ("index"); the record was already
 * applied, so the value is valid. */
static int record_batch(const char *record) {
  if (record && strstr(record, "\"index\":")) return 1;
  const char *b = record ? strstr(record, "\"batch\":") : NULL;
  int n = b ? atoi(b + 8) : 1;
  return n >= 1 && n <= DIF_MAX_BATCH ? n : 1;
}

/* Every file the run will write (n images, and the grid of a batch) is
 * checked before generating, by libdif's own rules (dif_check_output_path):
 * a FIFO, device, directory, symbolic link, read-only file or a folder that
 * cannot be written is refused now, not after the whole run. */
static int check_outputs(const char *out, int n) {
  char path[4096];
  if (dif_check_output_format(out) != DIF_OK) { /* .png, .jpg, .jpeg, .webp */
    fprintf(stderr, "dif generate: -o %s\n", dif_last_error());
    return 2;
  }
  for (int i = 0; i <= n; i++) {
    if (i == n && n == 1) break;
    out_name(out, i, n, i == n ? "grid" : NULL, path, sizeof path);
    if (dif_check_output_path(path) != DIF_OK) {
      fprintf(stderr, "dif: %s\n", dif_last_error());
      return 1;
    }
  }
  return 0;
}

static int write_grid(dif_sample *s, const char *out) {
  int n = dif_sample_image_count(s), w = dif_sample_width(s), h = dif_sample_height(s);
  int cols = (int)ceil(sqrt(n)), rows = (n + cols - 1) / cols;
  size_t stride = (size_t)cols * (size_t)w * 3, one = dif_sample_image_bytes(s);
  uint8_t *grid = calloc((size_t)rows * (size_t)h, stride), *img = malloc(one);
  int ok = grid && img;
  for (int i = 0; ok && i < n; i++) {
    ok = dif_sample_copy_image(s, i, img, one) == DIF_OK;
    for (int y = 0; ok && y < h; y++)
      memcpy(grid + ((size_t)(i / cols) * h + y) * stride + (size_t)(i % cols) * w * 3,
             img + (size_t)y * w * 3, (size_t)w * 3);
  }
  char path[4096];
  out_name(out, 0, n, "grid", path, sizeof path);
  if (ok && dif_write_image(path, grid, cols * w, rows * h, (int32_t)stride,
                            dif_sample_parameters(s)) != DIF_OK) {
    fprintf(stderr, "dif: %s\n", dif_last_error());
    ok = 0;
  } else if (ok) {
    printf("%s\n", path);
  }
  free(grid);
  free(img);
  return ok ? 0 : 1;
}

/* ---- the command ---- */

#define TRY(call, handle_err)                                                                      \
  do {                                                                                             \
    if ((call) != DIF_OK) {                                                                        \
      fprintf(stderr, "dif: %s\n", handle_err);                                                    \
      goto done;                                                                                   \
    }                                                                                              \
  } while (0)

int cli_generate(int argc, char **argv) {
  opts o;
  if (parse_args(argc, argv, &o)) return 2;
  if (o.out && dif_check_output_format(o.out) != DIF_OK) {
    fprintf(stderr, "dif generate: -o %s\n", dif_last_error());
    return 2;
  }
  mj_prompt mj;
  char err[256];
  int rc = 1;
  char *record = NULL, record_dir[4096] = ".";
  dif_context *ctx = NULL;
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  if (mj_parse(o.prompt, &mj, err, sizeof err)) {
    fprintf(stderr, "dif generate: %s\n", err);
    return 2;
  }
  if (o.from) { /* the record stored in an image */
    size_t size = 0;
    if (dif_read_parameters(o.from, NULL, &size) != DIF_OK || !(record = malloc(size)) ||
        dif_read_parameters(o.from, record, &size) != DIF_OK) {
      fprintf(stderr, "dif: %s\n", dif_last_error());
      goto done;
    }
    /* the record names its image files relative to its own folder */
    const char *slash = strrchr(o.from, '/');
    if (slash)
      snprintf(record_dir, sizeof record_dir, "%.*s", slash == o.from ? 1 : (int)(slash - o.from),
               o.from);
  } else if (mj.n_parts == 0 && o.n_images == 0 && o.n_files == 0) {
    fprintf(stderr, "dif generate: nothing to draw: give a prompt, --image or --from\n");
    rc = 2;
    goto done;
  }
  const char *model = o.model ? o.model : dif_default_model_dir();
  if (!model) {
    fprintf(stderr, "dif generate: no -m MODEL_DIR and no default model installed\n");
    rc = 2;
    goto done;
  }
  if (!(ctx = cli_open(model, o.prior, o.threads, o.verbose))) goto done;
  /* the same pixels need the same model: a record of another one is
   * refused, unless -m asked for this model on purpose */
  if (record && dif_context_check_record(ctx, record) != DIF_OK) {
    if (!o.model) {
      fprintf(stderr, "dif: %s (give -m to draw it with another model anyway)\n", dif_last_error());
      goto done;
    }
    fprintf(stderr, "dif: warning: %s; drawing with -m %s as asked, the pixels will differ\n",
            dif_last_error(), o.model);
  }
  if (record) {
    TRY(dif_prompt_from_record(record, record_dir, &p), dif_last_error());
  } else {
    TRY(dif_prompt_new(&p), dif_last_error());
    for (int i = 0; i < o.n_files; i++) /* arguments that name files */
      TRY(dif_prompt_add_image_file(p, o.files[i], mj.has_iw ? mj.iw : 1.0f),
          dif_prompt_last_error(p));
    for (int i = 0; i < mj.n_parts; i++) {
      const mj_part *part = &mj.parts[i];
      if (part->image)
        TRY(dif_prompt_add_image_file(p, part->image, part->weight), dif_prompt_last_error(p));
      else
        TRY(dif_prompt_add_text(p, part->text, part->weight), dif_prompt_last_error(p));
    }
    for (int i = 0; i < o.n_images; i++) { /* --image PATH[::W] */
      char path[4096];
      snprintf(path, sizeof path, "%s", o.images[i]);
      float w = mj.has_iw ? mj.iw : 1.0f;
      char *sep = strstr(path, "::");
      if (sep) {
        *sep = '\0';
        w = strtof(sep + 2, NULL);
      }
      TRY(dif_prompt_add_image_file(p, path, w), dif_prompt_last_error(p));
    }
    const char *neg = o.negative ? o.negative : mj.negative;
    if (neg) TRY(dif_prompt_set_negative(p, neg), dif_prompt_last_error(p));
  }
  TRY(dif_sample_new(ctx, p, &s), dif_context_last_error(ctx));
  if (record) TRY(dif_sample_apply_record(s, record, record_dir), dif_sample_last_error(s));
  /* size: -W/-H, else an aspect ratio around the model's default size */
  int ar_w = o.ar_w ? o.ar_w : mj.ar_w, ar_h = o.ar_w ? o.ar_h : mj.ar_h;
  if (o.width || o.height) {
    TRY(dif_sample_set_size(s, o.width ? o.width : o.height, o.height ? o.height : o.width),
        dif_sample_last_error(s));
  } else if (ar_w) {
    int w, h;
    const char *info = dif_context_info(ctx), *d = strstr(info, "\"default_size\"");
    int side = 512;
    if (d && (d = strchr(d, '['))) side = atoi(d + 1);
    mj_size_for_ratio(side, ar_w, ar_h, &w, &h);
    TRY(dif_sample_set_size(s, w, h), dif_sample_last_error(s));
  }
  if (o.steps >= 0) TRY(dif_sample_set_steps(s, o.steps), dif_sample_last_error(s));
  if (o.prior_steps >= 0)
    TRY(dif_sample_set_prior_steps(s, o.prior_steps), dif_sample_last_error(s));
  if (!isnan(o.guidance)) TRY(dif_sample_set_guidance(s, o.guidance), dif_sample_last_error(s));
  if (!isnan(o.prior_guidance))
    TRY(dif_sample_set_prior_guidance(s, o.prior_guidance), dif_sample_last_error(s));
  if (o.sampler) TRY(dif_sample_set_scheduler(s, o.sampler), dif_sample_last_error(s));
  if (o.batch >= 0) TRY(dif_sample_set_batch(s, o.batch), dif_sample_last_error(s));
  if (o.noise_level >= 0)
    TRY(dif_sample_set_noise_level(s, o.noise_level), dif_sample_last_error(s));
  if (o.blend)
    TRY(dif_sample_set_blend(s, !strcmp(o.blend, "slerp") ? DIF_BLEND_SLERP
                                : !strcmp(o.blend, "sum") ? DIF_BLEND_SUM
                                                          : (dif_blend)-1),
        dif_sample_last_error(s));
  if (o.init)
    TRY(dif_sample_set_init_image_file(s, o.init, isnan(o.strength) ? 0.75f : o.strength),
        dif_sample_last_error(s));
  if (o.has_seed || mj.has_seed)
    TRY(dif_sample_set_seed(s, o.has_seed ? o.seed : mj.seed), dif_sample_last_error(s));
  else if (!record)
    TRY(dif_sample_set_random_seed(s), dif_sample_last_error(s));
  TRY(dif_sample_set_progress(s, progress, &o.quiet), dif_sample_last_error(s));
  char def[64];
  snprintf(def, sizeof def, "dif-%llu.png", (unsigned long long)dif_sample_seed(s));
  const char *out = o.out ? o.out : def;
  int bad_out = check_outputs(out, o.batch >= 1 ? o.batch : record_batch(record));
  if (bad_out) {
    rc = bad_out;
    goto done;
  }
  dif_status st = run(s);
  if (st == DIF_ERR_CANCELLED) {
    fprintf(stderr, "\ndif: cancelled (%s)\n", dif_sample_last_error(s));
    rc = 128 + (interrupted ? interrupted : SIGINT);
    goto done;
  }
  TRY(st, dif_sample_last_error(s));
  int n = dif_sample_image_count(s);
  for (int i = 0; i < n && !interrupted; i++) {
    char path[4096];
    out_name(out, i, n, NULL, path, sizeof path);
    TRY(dif_sample_save(s, i, path), dif_sample_last_error(s));
    printf("%s\n", path);
  }
  if (!o.quiet) fprintf(stderr, "seed %llu\n", (unsigned long long)dif_sample_seed(s));
  rc = n > 1 && !interrupted ? write_grid(s, out) : 0;
  if (interrupted) {
    fprintf(stderr, "dif: interrupted while saving; the files listed are complete\n");
    rc = 128 + interrupted;
  }
done:
  dif_sample_free(s);
  dif_prompt_free(p);
  dif_context_free(ctx);
  mj_free(&mj);
  free(record);
  return rc;
}
