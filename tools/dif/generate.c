/* generate.c — `dif generate`: options and Midjourney syntax → a prompt and
 * a sample; runs it on a thread so Ctrl-C can cancel, draws a progress bar
 * on a terminal, writes PNGs (and a grid for a batch). */
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "embedding_dir.h"
#include "lora_prompt.h"
#include "mj_prompt.h"
#include "numbers.h"

/* img2img strength when --strength is not given: diffusers'
 * StableDiffusionImg2ImgPipeline default, as in the Python binding. */
#define DEFAULT_STRENGTH 0.8f

static void say(const char *option, const char *msg);

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

/* The LoRAs asked for (--lora), one add each, the option named on failure;
 * then the embeddings (--embedding, --embedding-dir), over the record's. */
static int add_loras(dif_context *ctx, const cli_loras *loras) {
  for (int i = 0; loras && i < loras->n; i++) {
    if (dif_context_add_lora(ctx, loras->file[i], loras->weight[i]) != DIF_OK) {
      cli_say("dif generate", "--lora", dif_context_last_error(ctx));
      return -1;
    }
  }
  if (loras && loras->n_emb && dif_context_clear_embeddings(ctx) != DIF_OK) return -1;
  for (int i = 0; loras && i < loras->n_emb; i++) {
    if (dif_context_add_embedding(ctx, loras->emb_file[i], loras->emb_token[i]) != DIF_OK) {
      cli_say("dif generate", "--embedding", dif_context_last_error(ctx));
      return -1;
    }
  }
  return 0;
}

dif_context *cli_open(const char *model, const char *config, const char *prior, int threads,
                      int precision, const char *record, const char *record_dir, int verbose,
                      const cli_loras *loras) {
  /* The dif command owns its process and has started no thread yet: it opts
   * in to the fastest BLAS kernels and gives OpenBLAS the --threads count. */
  if (dif_blas_setup(threads) != DIF_OK && verbose)
    fprintf(stderr, "[dif warn] %s\n", dif_last_error());
  dif_context *ctx = NULL;
  if (dif_context_new(&ctx) != DIF_OK) {
    say(NULL, dif_last_error());
    return NULL;
  }
  /* the precision asked for, else the record's (the same pixels need it) */
  if ((threads && dif_context_set_threads(ctx, threads) != DIF_OK) ||
      (precision >= 0 && dif_context_set_precision(ctx, (dif_precision)precision) != DIF_OK) ||
      (record && dif_context_apply_record_in(ctx, record, record_dir) != DIF_OK) ||
      (precision >= 0 && record && dif_context_set_precision(ctx, (dif_precision)precision)) ||
      (verbose && dif_context_set_log(ctx, on_log, DIF_LOG_INFO, NULL) != DIF_OK) ||
      (prior && dif_context_set_prior(ctx, prior) != DIF_OK) ||
      (config && dif_context_set_config(ctx, config) != DIF_OK)) {
    say(NULL, dif_context_last_error(ctx));
    dif_context_free(ctx);
    return NULL;
  }
  if (loras && loras->n && dif_context_clear_loras(ctx) != DIF_OK) /* --lora over the record's */
    loras = NULL;
  if (add_loras(ctx, loras)) {
    dif_context_free(ctx);
    return NULL;
  }
  if (dif_context_load(ctx, model) != DIF_OK) {
    say(NULL, dif_context_last_error(ctx));
    dif_context_free(ctx);
    return NULL;
  }
  return ctx;
}

static void help(void) {
  printf(
      "usage: dif generate PROMPT [options]\n"
      "       dif generate --from IMAGE.png [options]\n"
      "\n"
      "  PROMPT        text; Midjourney syntax works: 'a::2 b::-0.5 --ar 16:9 --no blur --iw 1.5\n"
      "                --seed 7'; leading image paths (.png, .jpg) are image prompts\n"
      "  -m DIR        model folder (default: the default model, %s), or a single-file\n"
      "                checkpoint (.safetensors in the original SD layout)\n"
      "  --config DIR  for a single-file -m: the diffusers folder of the same model whose\n"
      "                configs, tokenizer and scheduler go with the file's weights, or a\n"
      "                preset: sd15, sd15-inpaint, sd21, sd21-base, sd2-inpaint, sd-turbo\n"
      "                (default: the one the file's tensors and name choose; dif info FILE)\n"
      "  --lora FILE[:W]  merge a LoRA (.safetensors, kohya/A1111 or diffusers/PEFT) into\n"
      "                the UNet and text encoder with weight W (default 1); repeatable,\n"
      "                up to %d\n"
      "  --lora-dir DIR  where <lora:NAME:W> in the prompt (A1111's syntax) finds\n"
      "                NAME.safetensors; the tag is taken out of the text\n"
      "  --embedding FILE[:TOKEN]  add a textual-inversion embedding (.safetensors,\n"
      "                diffusers or A1111 layout) with its token (default: the file's\n"
      "                tensor name, or for A1111's emb_params the file name); repeatable\n"
      "  --embedding-dir DIR  A1111's embeddings folder: DIR/NAME.safetensors is added\n"
      "                (token NAME) when NAME is a word of the prompt or --no text\n"
      "  --prior DIR   a separate diffusion prior folder, the one that contains prior/\n"
      "                (Stable unCLIP text-to-image; a model with its own prior/ needs none)\n"
      "  --image PATH[::W]  an image prompt with weight W (default 1, or --iw; repeatable)\n"
      "  --no TEXT     negative prompt (default: none)\n"
      "  --ar W:H      aspect ratio, W and H 1..100, around the model's default size\n"
      "  -W N  -H N    width and height, multiples of 8 from 8 to %d (default: the model's)\n"
      "  --seed N      seed, 0..18446744073709551615 (default: random, printed)\n"
      "  --steps N     decoder steps, 1..%d (default: the model's; 20 without dif_defaults.json)\n"
      "  --guidance X  guidance scale, 0..%d (default: the model's; 10 unCLIP, 7.5 SD)\n"
      "  --prior-steps N     prior steps, 1..%d (default: the model's; 25)\n"
      "  --prior-guidance X  prior guidance scale, 0..%d (default: the model's; 4)\n"
      "  --sampler NAME  the decoder's scheduler (default: the model's), one of\n"
      "                %s\n"
      "                or a diffusers class name (DDIMScheduler, ...)\n"
      "  --noise-level N  unCLIP variation strength, 0 to the model's maximum (999 for Stable\n"
      "                unCLIP); 0 (the default) keeps close to the references\n"
      "  --init PATH   img2img from an image\n"
      "  --strength X  img2img strength, above 0 and at most 1 (default %.2g, as diffusers)\n"
      "  --batch N     images per run, 1..%d (default 1; a batch also writes a grid)\n"
      "  --blend sum|slerp   how prompt parts combine (default sum)\n"
      "  --threads N   worker threads, 0..%d (default 0: one per core)\n"
      "  --precision exact|fast|auto  products in float32 (exact) or bf16 (fast: ~1.9x faster\n"
      "                on CPUs with AVX512-BF16 or AMX); auto, the default, is fast where the\n"
      "                CPU runs bf16 natively and the model is full-size (128 MiB of weights\n"
      "                or more); with --from: the record's precision\n"
      "  -o OUT        output: OUT.png, OUT.jpg (quality 95) or OUT.webp (lossless); default\n"
      "                dif-SEED.png; a batch writes OUT-1.png ... OUT-grid.png\n"
      "  --from IMAGE  reproduce an image from the record stored in it (PNG, JPEG, WebP)\n"
      "  -q            no progress bar      -v  log what libdif does, and its raw messages\n"
      "  -h, --help    this help\n"
      "\n"
      "dif info [MODEL_DIR] lists a model's defaults. Exit status: 0 done, 1 failed (a file,\n"
      "the model, the run), 2 bad usage (an option, a value, the prompt), 130 interrupted\n"
      "(Ctrl-C; 143 for SIGTERM).\n",
      dif_default_model_dir() ? dif_default_model_dir() : "none installed", DIF_MAX_LORAS,
      DIF_MAX_OUTPUT_SIDE, DIF_MAX_STEPS, DIF_MAX_GUIDANCE, DIF_MAX_STEPS, DIF_MAX_GUIDANCE,
      dif_scheduler_names(), (double)DEFAULT_STRENGTH, DIF_MAX_BATCH, DIF_MAX_THREADS);
}

typedef struct opts {
  const char *model, *config, *prior, *out, *negative, *sampler, *init, *from, *lora_dir;
  const char *embedding_dir;
  char *prompt; /* every word of the prompt, any length */
  size_t prompt_len, prompt_cap;
  const char *images[MJ_MAX_PARTS];
  float image_weights[MJ_MAX_PARTS];
  int image_has_weight[MJ_MAX_PARTS];
  int n_images;
  const char *files[MJ_MAX_PARTS]; /* arguments that name existing files: image parts */
  int n_files;
  int width, height, ar_w, ar_h, steps, prior_steps, batch, noise_level, threads, blend;
  int precision; /* -1: not given */
  float guidance, prior_guidance, strength;
  int has_seed, quiet, verbose;
  uint64_t seed;
  cli_loras loras;
} opts;

/* An argument that names something other than a folder (a file, a FIFO, a
 * dangling link) is an image prompt, whatever its name: libdif then reads
 * it or says what it is ("a GIF image, which libdif does not read"), and a
 * file name is never drawn as words. */
static int names_file(const char *a) {
  struct stat st;
  if (stat(a, &st) == 0) return !S_ISDIR(st.st_mode);
  return lstat(a, &st) == 0;
}

static int bad_value(const char *opt, const char *msg) {
  fprintf(stderr, "dif generate: %s: %s\n", opt, msg);
  return -1;
}

/* The value of the option argv[*i]: the next argument, which must not be an
 * option itself ("--no --steps 2" is a mistake, not the negative prompt
 * "--steps"; a value that starts with "--" can be written "./--x"). */
static const char *value(int *i, int argc, char **argv) {
  const char *opt = argv[*i];
  if (*i + 1 >= argc) {
    fprintf(stderr, "dif generate: %s needs a value\n", opt);
    return NULL;
  }
  const char *v = argv[*i + 1];
  if (v[0] == '-' && v[1] == '-') {
    char q[200];
    num_quote(v, q, sizeof q);
    fprintf(stderr, "dif generate: %s needs a value, got the option %s\n", opt, q);
    return NULL;
  }
  ++*i;
  return v;
}

/* --lora FILE[:W]: W after the last ':' when it reads as a number (a file
 * name may hold ':'), in [-10, 10]. */
static int lora_value(const char *v, cli_loras *l) {
  char msg[400];
  if (l->n >= DIF_MAX_LORAS) {
    snprintf(msg, sizeof msg, "at most %d LoRAs", DIF_MAX_LORAS);
    return bad_value("--lora", msg);
  }
  const char *colon = strrchr(v, ':');
  float w = 1.0f;
  if (colon && colon > v && colon[1]) {
    char probe[400];
    if (num_real(colon + 1, -10, 10, 0, &w, probe, sizeof probe) == 0) {
      char *file = strndup(v, (size_t)(colon - v));
      if (!file) return bad_value("--lora", "out of memory");
      l->file[l->n] = file;
      l->weight[l->n++] = w;
      return 0;
    }
    /* a number out of range is an error, not part of a file name */
    if (strspn(colon + 1, "+-.0123456789eE") == strlen(colon + 1)) {
      snprintf(msg, sizeof msg, "the weight after ':' %.*s", 300, probe);
      return bad_value("--lora", msg);
    }
  }
  if (!*v) return bad_value("--lora", "needs a file name");
  l->file[l->n] = strdup(v);
  if (!l->file[l->n]) return bad_value("--lora", "out of memory");
  l->weight[l->n++] = w;
  return 0;
}

static int int_value(const char *opt, const char *v, long long lo, long long hi, int *out) {
  char msg[400];
  long long x;
  if (!v) return -1;
  if (num_int(v, lo, hi, &x, msg, sizeof msg)) return bad_value(opt, msg);
  *out = (int)x;
  return 0;
}

static int real_value(const char *opt, const char *v, double lo, double hi, int flags, float *out) {
  char msg[400];
  if (!v) return -1;
  if (num_real(v, lo, hi, flags, out, msg, sizeof msg)) return bad_value(opt, msg);
  return 0;
}

/* -W/-H: a multiple of 8, 8..DIF_MAX_OUTPUT_SIDE */
static int side_value(const char *opt, const char *v, int *out) {
  char msg[400];
  long long x;
  if (!v) return -1;
  if (num_int(v, 8, DIF_MAX_OUTPUT_SIDE, &x, msg, sizeof msg) || x % 8) {
    char q[200];
    num_quote(v, q, sizeof q);
    snprintf(msg, sizeof msg, "expected a multiple of 8 from 8 to %d, got %s", DIF_MAX_OUTPUT_SIDE,
             q);
    return bad_value(opt, msg);
  }
  *out = (int)x;
  return 0;
}

static int add_word(opts *o, const char *w) {
  size_t l = strlen(w), need = o->prompt_len + l + 2;
  if (need > o->prompt_cap) {
    size_t cap = need * 2;
    char *p = realloc(o->prompt, cap);
    if (!p) {
      fprintf(stderr, "dif generate: out of memory\n");
      return -1;
    }
    o->prompt = p;
    o->prompt_cap = cap;
  }
  if (o->prompt_len) o->prompt[o->prompt_len++] = ' ';
  memcpy(o->prompt + o->prompt_len, w, l + 1);
  o->prompt_len += l;
  return 0;
}

static int parse_args(int argc, char **argv, opts *o) {
  memset(o, 0, sizeof *o);
  o->guidance = o->prior_guidance = o->strength = NAN;
  o->steps = o->prior_steps = o->batch = o->noise_level = o->blend = o->precision = -1;
  char msg[400];
  if (add_word(o, "")) return -1;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
#define VAL value(&i, argc, argv)
#define IS(x) (!strcmp(a, x))
    const char *v;
    if (IS("-h") || IS("--help")) {
      help();
      exit(0);
    } else if (IS("-m") || IS("--model")) {
      if (!(o->model = VAL)) return -1;
    } else if (IS("--prior")) {
      if (!(o->prior = VAL)) return -1;
    } else if (IS("--config")) {
      if (!(o->config = VAL)) return -1;
    } else if (IS("--lora-dir")) {
      if (!(o->lora_dir = VAL)) return -1;
    } else if (IS("--lora")) {
      if (!(v = VAL) || lora_value(v, &o->loras)) return -1;
    } else if (IS("--embedding-dir")) {
      if (!(o->embedding_dir = VAL)) return -1;
    } else if (IS("--embedding")) {
      if (!(v = VAL)) return -1;
      if (embedding_option(v, &o->loras, msg, sizeof msg)) return bad_value(a, msg);
    } else if (IS("-o") || IS("--output")) {
      if (!(o->out = VAL)) return -1;
    } else if (IS("--no")) {
      if (!(o->negative = VAL)) return -1;
    } else if (IS("--sampler")) {
      if (!(o->sampler = VAL)) return -1;
    } else if (IS("--init")) {
      if (!(o->init = VAL)) return -1;
    } else if (IS("--from")) {
      if (!(o->from = VAL)) return -1;
    } else if (IS("--blend")) {
      if (!(v = VAL)) return -1;
      if (strcmp(v, "sum") && strcmp(v, "slerp")) {
        char q[200];
        num_quote(v, q, sizeof q);
        snprintf(msg, sizeof msg, "expected sum or slerp, got %s", q);
        return bad_value(a, msg);
      }
      o->blend = !strcmp(v, "slerp") ? DIF_BLEND_SLERP : DIF_BLEND_SUM;
    } else if (IS("--image")) {
      if (!(v = VAL)) return -1;
      if (o->n_images == MJ_MAX_PARTS) {
        snprintf(msg, sizeof msg, "at most %d images", MJ_MAX_PARTS);
        return bad_value(a, msg);
      }
      const char *sep = strstr(v, "::");
      if (sep) {
        float w;
        if (num_real(sep + 2, -FLT_MAX, FLT_MAX, NUM_NONZERO, &w, msg, sizeof msg)) {
          char full[460];
          snprintf(full, sizeof full, "the weight after '::': %s", msg);
          return bad_value(a, full);
        }
        o->image_weights[o->n_images] = w;
        o->image_has_weight[o->n_images] = 1;
      }
      o->images[o->n_images++] = v;
    } else if (IS("--ar")) {
      if (!(v = VAL)) return -1;
      if (num_ratio(v, &o->ar_w, &o->ar_h, msg, sizeof msg)) return bad_value(a, msg);
    } else if (IS("-W") || IS("--width")) {
      if (side_value(a, VAL, &o->width)) return -1;
    } else if (IS("-H") || IS("--height")) {
      if (side_value(a, VAL, &o->height)) return -1;
    } else if (IS("--seed")) {
      if (!(v = VAL)) return -1;
      if (num_u64(v, &o->seed, msg, sizeof msg)) return bad_value(a, msg);
      o->has_seed = 1;
    } else if (IS("--steps")) {
      if (int_value(a, VAL, 1, DIF_MAX_STEPS, &o->steps)) return -1;
    } else if (IS("--prior-steps")) {
      if (int_value(a, VAL, 1, DIF_MAX_STEPS, &o->prior_steps)) return -1;
    } else if (IS("--batch")) {
      if (int_value(a, VAL, 1, DIF_MAX_BATCH, &o->batch)) return -1;
    } else if (IS("--noise-level")) { /* the model's maximum is checked once it is loaded */
      if (int_value(a, VAL, 0, INT32_MAX, &o->noise_level)) return -1;
    } else if (IS("--precision")) {
      if (!(v = VAL)) return -1;
      if (strcmp(v, "exact") && strcmp(v, "fast") && strcmp(v, "auto")) {
        char q[200];
        num_quote(v, q, sizeof q);
        snprintf(msg, sizeof msg, "expected exact, fast or auto, got %s", q);
        return bad_value(a, msg);
      }
      o->precision = !strcmp(v, "exact")  ? DIF_PRECISION_EXACT
                     : !strcmp(v, "fast") ? DIF_PRECISION_FAST
                                          : DIF_PRECISION_AUTO;
    } else if (IS("--threads")) {
      if (int_value(a, VAL, 0, DIF_MAX_THREADS, &o->threads)) return -1;
    } else if (IS("--guidance")) {
      if (real_value(a, VAL, 0, DIF_MAX_GUIDANCE, 0, &o->guidance)) return -1;
    } else if (IS("--prior-guidance")) {
      if (real_value(a, VAL, 0, DIF_MAX_GUIDANCE, 0, &o->prior_guidance)) return -1;
    } else if (IS("--strength")) {
      if (real_value(a, VAL, 0, 1, NUM_ABOVE_LO, &o->strength)) return -1;
    } else if (IS("-q") || IS("--quiet")) {
      o->quiet = 1;
    } else if (IS("-v") || IS("--verbose")) {
      o->verbose = 1;
    } else if (a[0] == '-' && a[1] == '-' && o->prompt_len) {
      /* Midjourney parameters typed after the prompt: keep them in it */
      if (add_word(o, a)) return -1;
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
      if (add_word(o, a)) return -1;
    }
#undef IS
#undef VAL
  }
  return 0;
}

/* ---- libdif's messages, in the user's words ---- */

/* A libdif message starts with the C function that failed
 * ("dif_sample_set_blend: unknown mode -1"): a user of the command typed no
 * function, so it is left out (and shown whole under -v). */
static const char *plain(const char *msg) {
  if (strncmp(msg, "dif_", 4)) return msg;
  const char *c = msg + 4;
  while ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_') c++;
  return c[0] == ':' && c[1] == ' ' ? c + 2 : msg;
}

/* C names inside a message, and what the command's user knows them as. */
static const char *const c_names[][2] = {
    {"dif_sample_set_size", "-W and -H"},
    {"DIF_MAX_OUTPUT_SIDE (", "the maximum ("},
    {"dif_sample_set_scheduler", "--sampler"},
    {"dif_sample_set_steps", "--steps"},
};

static int verbose_messages;

void cli_set_verbose(int verbose) { verbose_messages = verbose; }

static void say(const char *option, const char *msg) { cli_say("dif generate", option, msg); }

void cli_say(const char *command, const char *option, const char *msg) {
  char buf[2048];
  size_t o = 0;
  for (const char *c = plain(msg); *c && o + 1 < sizeof buf;) {
    size_t i, n = sizeof c_names / sizeof *c_names;
    for (i = 0; i < n; i++)
      if (!strncmp(c, c_names[i][0], strlen(c_names[i][0]))) break;
    if (i < n) {
      o += (size_t)snprintf(buf + o, sizeof buf - o, "%s", c_names[i][1]);
      c += strlen(c_names[i][0]);
    } else {
      buf[o++] = *c++;
    }
  }
  buf[o < sizeof buf ? o : sizeof buf - 1] = '\0';
  if (option)
    fprintf(stderr, "%s: %s: %s\n", command, option, buf);
  else
    fprintf(stderr, "dif: %s\n", buf);
  if (verbose_messages && strcmp(buf, msg)) fprintf(stderr, "[libdif error] %s\n", msg);
}

/* A value the user gave that libdif refused is a usage error (exit 2); a
 * file that cannot be read or a model that cannot run is a failure (1). */
int cli_exit_code(dif_status st) {
  return st == DIF_ERR_INVALID_ARGUMENT || st == DIF_ERR_LIMIT || st == DIF_ERR_UNSUPPORTED ? 2 : 1;
}

/* ---- progress and cancelling ---- */

/* The progress bar: the phase ("prior 3/25", "decoder 7/20": libdif counts
 * the prior's steps and the decoder's as one run) and the time left in the
 * phase, from the pace of its steps so far. */
typedef cli_bar bar;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int cli_progress(int32_t step, int32_t total, void *user) {
  bar *b = user;
  if (b->quiet || !isatty(2)) return 0;
  int in_prior = b->prior > 0 && b->prior < total && step <= b->prior;
  int first = in_prior || b->prior <= 0 || b->prior >= total ? 0 : b->prior;
  int n = in_prior ? b->prior : total - first, k = step - first;
  const char *phase = in_prior ? "prior" : b->prior > 0 && b->prior < total ? "decoder" : "step";
  if (first != b->phase_first || k == 1) { /* a new phase: its clock starts at its first step */
    b->phase_first = first;
    b->phase_t0 = now_s();
  }
  int width = 30, done = n ? (int)((int64_t)k * width / n) : 0;
  char eta[32] = "";
  if (k > 1 && k < n) {
    double left = (now_s() - b->phase_t0) / (k - 1) * (n - k);
    snprintf(eta, sizeof eta, ", %d:%02d left", (int)left / 60, (int)left % 60);
  }
  fprintf(stderr, "\r[%.*s%*s] %s %d/%d%-16s", done, "##############################", width - done,
          "", phase, k, n, eta);
  if (k == n) fputc('\n', stderr);
  return 0;
}

/* The JSON integer after "key": in a libdif JSON text (a record or
 * dif_context_info, both valid), or def. */
static int json_int(const char *json, const char *key, int def) {
  const char *k = json ? strstr(json, key) : NULL;
  if (!k || !(k = strchr(k + strlen(key), ':'))) return def;
  return atoi(k + 1);
}

/* How many of the run's steps are the prior's: each text part goes through
 * the prior on a Stable unCLIP model that has one. */
static int prior_steps_of_run(dif_context *ctx, const opts *o, const mj_prompt *mj,
                              const char *record) {
  if (!dif_context_is_unclip(ctx) || !dif_context_has_prior(ctx)) return 0;
  int texts = 0;
  if (record)
    for (const char *t = record; (t = strstr(t, "{\"text\":")); t++) texts++;
  else
    for (int i = 0; i < mj->n_parts; i++) texts += mj->parts[i].text != NULL;
  const char *info = dif_context_info(ctx), *d = strstr(info, "\"defaults\"");
  int steps = o->prior_steps > 0 ? o->prior_steps
              : record           ? json_int(record, "\"prior_steps\"", 0)
                                 : json_int(d, "\"prior_steps\"", 0);
  return texts * steps;
}

int cli_interrupted(void) { return interrupted; }

dif_status cli_run(dif_sample *s) {
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
  for (int i = 0; i <= n; i++) {
    if (i == n && n == 1) break;
    out_name(out, i, n, i == n ? "grid" : NULL, path, sizeof path);
    if (dif_check_output_path(path) != DIF_OK) {
      say(NULL, dif_last_error());
      return 1;
    }
  }
  if (dif_check_output_format(out) != DIF_OK) { /* .png, .jpg, .jpeg, .webp */
    fprintf(stderr, "dif generate: -o %s\n", dif_last_error());
    return 2;
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
    say(NULL, dif_last_error());
    ok = 0;
  } else if (ok) {
    printf("%s\n", path);
  }
  free(grid);
  free(img);
  return ok ? 0 : 1;
}

/* ---- the command ---- */

/* TRY: a failure of the run (exit 1); SET: libdif refused what the user
 * gave as OPTION (exit 2 for a value out of range, 1 for a file). */
#define TRY(call, handle_err)                                                                      \
  do {                                                                                             \
    dif_status st_ = (call);                                                                       \
    if (st_ != DIF_OK) {                                                                           \
      say(NULL, handle_err);                                                                       \
      rc = 1;                                                                                      \
      goto done;                                                                                   \
    }                                                                                              \
  } while (0)
#define SET(option, call, handle_err)                                                              \
  do {                                                                                             \
    dif_status st_ = (call);                                                                       \
    if (st_ != DIF_OK) {                                                                           \
      say(option, handle_err);                                                                     \
      rc = cli_exit_code(st_);                                                                     \
      goto done;                                                                                   \
    }                                                                                              \
  } while (0)

static void free_opts(opts *o) {
  free(o->prompt);
  for (int i = 0; i < o->loras.n; i++) free((void *)o->loras.file[i]);
  for (int i = 0; i < o->loras.n_emb; i++) {
    free(o->loras.emb_file[i]);
    free(o->loras.emb_token[i]);
  }
}

int cli_generate(int argc, char **argv) {
  opts o;
  mj_prompt mj = {0};
  char err[512];
  int rc = 1;
  char *record = NULL, record_dir[4096] = ".";
  dif_context *ctx = NULL;
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  if (parse_args(argc, argv, &o)) {
    free_opts(&o);
    return 2;
  }
  cli_set_verbose(o.verbose);
  struct stat out_st; /* a folder is refused by check_outputs, saying so */
  if (o.out && !(stat(o.out, &out_st) == 0 && S_ISDIR(out_st.st_mode)) &&
      dif_check_output_format(o.out) != DIF_OK) {
    fprintf(stderr, "dif generate: -o %s\n", dif_last_error());
    free_opts(&o);
    return 2;
  }
  if (lora_prompt_extract(o.prompt, o.lora_dir, &o.loras, err, sizeof err)) {
    fprintf(stderr, "dif generate: %s\n", err);
    free_opts(&o);
    return 2;
  }
  if (mj_parse(o.prompt, &mj, err, sizeof err)) {
    fprintf(stderr, "dif generate: %s\n", err);
    free_opts(&o);
    return 2;
  }
  const char *texts[] = {o.prompt, o.negative};
  if (o.embedding_dir && embedding_dir_scan(o.embedding_dir, texts, 2, &o.loras, err, sizeof err)) {
    fprintf(stderr, "dif generate: %s\n", err);
    free_opts(&o);
    return 2;
  }
  if (o.from) { /* the record stored in an image */
    size_t size = 0;
    if (dif_read_parameters(o.from, NULL, &size) != DIF_OK) {
      say(NULL, dif_last_error());
      goto done;
    }
    if (!(record = malloc(size))) {
      say(NULL, "out of memory");
      goto done;
    }
    if (dif_read_parameters(o.from, record, &size) != DIF_OK) {
      say(NULL, dif_last_error());
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
  if (!(ctx = cli_open(model, o.config, o.prior, o.threads, o.precision, record, record_dir,
                       o.verbose, &o.loras)))
    goto done;
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
        SET(NULL, dif_prompt_add_image_file(p, part->image, part->weight),
            dif_prompt_last_error(p));
      else
        SET(NULL, dif_prompt_add_text(p, part->text, part->weight), dif_prompt_last_error(p));
    }
    for (int i = 0; i < o.n_images; i++) { /* --image PATH[::W] */
      char path[4096];
      snprintf(path, sizeof path, "%s", o.images[i]);
      char *sep = strstr(path, "::");
      if (sep) *sep = '\0';
      float w = o.image_has_weight[i] ? o.image_weights[i] : mj.has_iw ? mj.iw : 1.0f;
      SET("--image", dif_prompt_add_image_file(p, path, w), dif_prompt_last_error(p));
    }
    const char *neg = o.negative ? o.negative : mj.negative;
    if (neg) SET("--no", dif_prompt_set_negative(p, neg), dif_prompt_last_error(p));
  }
  SET(NULL, dif_sample_new(ctx, p, &s), dif_context_last_error(ctx));
  if (record) TRY(dif_sample_apply_record(s, record, record_dir), dif_sample_last_error(s));
  /* size: -W/-H, else an aspect ratio around the model's default size */
  int ar_w = o.ar_w ? o.ar_w : mj.ar_w, ar_h = o.ar_w ? o.ar_h : mj.ar_h;
  if (o.width || o.height) {
    SET(o.width && o.height ? "-W/-H"
        : o.width           ? "-W"
                            : "-H",
        dif_sample_set_size(s, o.width ? o.width : o.height, o.height ? o.height : o.width),
        dif_sample_last_error(s));
  } else if (ar_w) {
    int w, h;
    const char *info = dif_context_info(ctx), *d = strstr(info, "\"default_size\"");
    int side = 512;
    if (d && (d = strchr(d, '['))) side = atoi(d + 1);
    mj_size_for_ratio(side, ar_w, ar_h, &w, &h);
    SET("--ar", dif_sample_set_size(s, w, h), dif_sample_last_error(s));
  }
  if (o.steps >= 0) SET("--steps", dif_sample_set_steps(s, o.steps), dif_sample_last_error(s));
  if (o.prior_steps >= 0)
    SET("--prior-steps", dif_sample_set_prior_steps(s, o.prior_steps), dif_sample_last_error(s));
  if (!isnan(o.guidance))
    SET("--guidance", dif_sample_set_guidance(s, o.guidance), dif_sample_last_error(s));
  if (!isnan(o.prior_guidance))
    SET("--prior-guidance", dif_sample_set_prior_guidance(s, o.prior_guidance),
        dif_sample_last_error(s));
  if (o.sampler) SET("--sampler", dif_sample_set_scheduler(s, o.sampler), dif_sample_last_error(s));
  if (o.batch >= 0) SET("--batch", dif_sample_set_batch(s, o.batch), dif_sample_last_error(s));
  if (o.noise_level >= 0)
    SET("--noise-level", dif_sample_set_noise_level(s, o.noise_level), dif_sample_last_error(s));
  if (o.blend >= 0)
    SET("--blend", dif_sample_set_blend(s, (dif_blend)o.blend), dif_sample_last_error(s));
  if (o.init)
    SET("--init",
        dif_sample_set_init_image_file(s, o.init,
                                       isnan(o.strength) ? DEFAULT_STRENGTH : o.strength),
        dif_sample_last_error(s));
  else if (!isnan(o.strength)) {
    fprintf(stderr, "dif generate: --strength needs --init (the image to start from)\n");
    rc = 2;
    goto done;
  }
  if (o.has_seed || mj.has_seed)
    SET("--seed", dif_sample_set_seed(s, o.has_seed ? o.seed : mj.seed), dif_sample_last_error(s));
  else if (!record)
    TRY(dif_sample_set_random_seed(s), dif_sample_last_error(s));
  bar pb = {.quiet = o.quiet, .prior = prior_steps_of_run(ctx, &o, &mj, record), .phase_first = -1};
  TRY(dif_sample_set_progress(s, cli_progress, &pb), dif_sample_last_error(s));
  char def[64];
  snprintf(def, sizeof def, "dif-%llu.png", (unsigned long long)dif_sample_seed(s));
  const char *out = o.out ? o.out : def;
  int bad_out = check_outputs(out, o.batch >= 1 ? o.batch : record_batch(record));
  if (bad_out) {
    rc = bad_out;
    goto done;
  }
  dif_status st = cli_run(s);
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
  free_opts(&o);
  return rc;
}
