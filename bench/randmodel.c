/* randmodel.c — random full-size component folders (see randmodel.h). */
#include "randmodel.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/dtype.h"
#include "io/config.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"
#include "models/prior.h"
#include "models/unet.h"
#include "models/vae.h"
#include "models/weights.h"

typedef struct rec_tensor {
  char *name;
  int ndim;
  int64_t shape[8];
} rec_tensor;

typedef struct schema {
  rec_tensor *t;
  size_t n, cap;
  int bias; /* answer of dif_wl_has: optional q/k/v biases exist */
  int failed;
} schema;

static int fail(char *msg, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, size, fmt, ap);
  va_end(ap);
  return -1;
}

static void rec_tensor_cb(void *user, const char *name, int ndim, const int64_t *shape) {
  schema *s = user;
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->t[i].name, name) == 0) return; /* asked twice: one tensor */
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 256;
    rec_tensor *t = realloc(s->t, cap * sizeof *t);
    if (!t) {
      s->failed = 1;
      return;
    }
    s->t = t;
    s->cap = cap;
  }
  rec_tensor *r = &s->t[s->n];
  r->name = strdup(name);
  if (!r->name || ndim < 1 || ndim > 8) {
    free(r->name);
    s->failed = 1;
    return;
  }
  r->ndim = ndim;
  memcpy(r->shape, shape, (size_t)ndim * sizeof *shape);
  s->n++;
}

static int rec_has_cb(void *user, const char *name) {
  (void)name;
  return ((schema *)user)->bias;
}

static void schema_free(schema *s) {
  for (size_t i = 0; i < s->n; i++) free(s->t[i].name);
  free(s->t);
}

static int copy_file(const char *from, const char *to, char *msg, size_t size) {
  FILE *in = fopen(from, "rb");
  if (!in) return fail(msg, size, "%s: %s", from, strerror(errno));
  FILE *out = fopen(to, "wb");
  if (!out) {
    fclose(in);
    return fail(msg, size, "%s: %s", to, strerror(errno));
  }
  char buf[65536];
  size_t n;
  int rc = 0;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0)
    if (fwrite(buf, 1, n, out) != n) rc = -1;
  if (ferror(in)) rc = -1;
  if (fclose(out)) rc = -1;
  fclose(in);
  return rc ? fail(msg, size, "cannot copy %s to %s", from, to) : 0;
}

static int write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

/* An empty safetensors file: header "{}" padded to 8 bytes. */
static int write_empty(const char *path, char *msg, size_t size) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return fail(msg, size, "%s: %s", path, strerror(errno));
  const unsigned char hdr[16] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
  int rc = write_all(fd, hdr, sizeof hdr);
  if (close(fd)) rc = -1;
  return rc ? fail(msg, size, "%s: write failed", path) : 0;
}

static int record(const char *dir, bench_kind kind, schema *s, char *msg, size_t size) {
  dif_wl_recorder r = {rec_tensor_cb, rec_has_cb, s};
  s->bias = kind != BENCH_UNET; /* diffusers' UNet attention has no q/k/v bias */
  dif_error err = {0};
  dif_status st = DIF_OK;
  dif_wl_set_recorder(&r);
  switch (kind) {
  case BENCH_UNET: {
    dif_unet m;
    if (!(st = dif_unet_load(dir, &m, &err))) dif_unet_free(&m);
    break;
  }
  case BENCH_VAE: {
    dif_vae m;
    if (!(st = dif_vae_load(dir, &m, &err))) dif_vae_free(&m);
    break;
  }
  case BENCH_CLIP_TEXT: {
    dif_clip_text m;
    if (!(st = dif_clip_text_load(dir, &m, &err))) dif_clip_text_free(&m);
    break;
  }
  case BENCH_CLIP_VISION: {
    dif_clip_vision m;
    if (!(st = dif_clip_vision_load(dir, &m, &err))) dif_clip_vision_free(&m);
    break;
  }
  case BENCH_PRIOR: {
    dif_prior m;
    if (!(st = dif_prior_load(dir, &m, &err))) dif_prior_free(&m);
    break;
  }
  case BENCH_NORMALIZER: { /* two plain tensors, read without the weights loader */
    char path[4200];
    dif_config *cfg = NULL;
    int64_t dim = 0;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!(st = dif_config_load(path, &cfg, &err)) &&
        !(st = dif_config_int(cfg, "embedding_dim", &dim, &err))) {
      const int64_t shape[2] = {1, dim};
      rec_tensor_cb(s, "mean", 2, shape);
      rec_tensor_cb(s, "std", 2, shape);
    }
    dif_config_free(cfg);
    break;
  }
  }
  dif_wl_set_recorder(NULL);
  if (st) return fail(msg, size, "recording the tensors of %s: %s", dir, err.msg);
  if (s->failed) return fail(msg, size, "recording the tensors of %s: out of memory", dir);
  return 0;
}

/* ---- values ---- */

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t hash_name(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* How one tensor is filled: constant c if bound is 0, else U(-bound, bound). */
static void init_rule(const rec_tensor *t, float *c, float *bound) {
  const char *n = t->name;
  int norm = strstr(n, "norm") || strstr(n, "layrnorm") || strstr(n, ".ln");
  *c = 0.0f;
  *bound = 0.0f;
  if (strcmp(n, "clip_std") == 0 || strcmp(n, "std") == 0) {
    *c = 1.0f;
  } else if (strcmp(n, "clip_mean") == 0) {
  } else if (t->ndim == 1 && norm) {
    *c = ends_with(n, ".weight") ? 1.0f : 0.0f;
  } else if (strstr(n, "embedding") && !strstr(n, "linear") && !strstr(n, "proj")) {
    *bound = 0.02f; /* token / position / class / prd embeddings */
  } else if (t->ndim == 1) {
    *bound = 0.02f; /* biases */
  } else {
    int64_t fan_in = 1;
    for (int i = 1; i < t->ndim; i++) fan_in *= t->shape[i];
    *bound = 1.0f / sqrtf((float)(fan_in > 0 ? fan_in : 1));
  }
}

static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if ((size_t)n < *cap - *len) {
      *len += (size_t)n;
      return 0;
    }
    size_t cap2 = 2 * *cap + (size_t)n;
    char *b = realloc(*buf, cap2);
    if (!b) return -1;
    *buf = b;
    *cap = cap2;
  }
}

/* The safetensors name of a weights dtype. */
static const char *st_dtype(dif_dtype dt) {
  return dt == DIF_DTYPE_F16 ? "F16" : dt == DIF_DTYPE_BF16 ? "BF16" : "F32";
}

/* buf[0..m) as dt into out (4 or 2 bytes each, little-endian host order). */
static void encode(dif_dtype dt, const float *buf, size_t m, void *out) {
  if (dt == DIF_DTYPE_F32) {
    memcpy(out, buf, m * sizeof *buf);
    return;
  }
  uint16_t *h = out;
  for (size_t j = 0; j < m; j++)
    h[j] = dt == DIF_DTYPE_F16 ? dif_f16_from_f32(buf[j]) : dif_bf16_from_f32(buf[j]);
}

static int write_weights(const char *path, const schema *s, uint64_t seed, dif_dtype dt,
                         uint64_t *bytes, char *msg, size_t size) {
  const size_t esz = dif_dtype_size(dt);
  size_t cap = 1 << 16, len = 0;
  char *h = malloc(cap);
  if (!h) return fail(msg, size, "out of memory");
  uint64_t off = 0;
  int rc = append(&h, &len, &cap, "{");
  for (size_t i = 0; i < s->n && !rc; i++) {
    const rec_tensor *t = &s->t[i];
    uint64_t n = 1;
    rc |= append(&h, &len, &cap, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "", t->name,
                 st_dtype(dt));
    for (int d = 0; d < t->ndim; d++) {
      n *= (uint64_t)t->shape[d];
      rc |= append(&h, &len, &cap, "%s%lld", d ? "," : "", (long long)t->shape[d]);
    }
    rc |= append(&h, &len, &cap, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + esz * n));
    off += esz * n;
  }
  rc |= append(&h, &len, &cap, "}");
  /* Pad with spaces so the data starts 64-byte aligned (8 + header). */
  while (!rc && (8 + len) % 64) rc |= append(&h, &len, &cap, " ");
  if (rc) {
    free(h);
    return fail(msg, size, "out of memory");
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    free(h);
    return fail(msg, size, "%s: %s", path, strerror(errno));
  }
  unsigned char le[8];
  for (int i = 0; i < 8; i++) le[i] = (unsigned char)((uint64_t)len >> (8 * i));
  rc = write_all(fd, le, 8) || write_all(fd, h, len);
  free(h);
  enum { CHUNK = 1 << 20 };
  float *buf = malloc(CHUNK * sizeof *buf);
  void *enc = malloc(CHUNK * esz);
  if (!buf || !enc) rc = -1;
  for (size_t i = 0; i < s->n && !rc; i++) {
    const rec_tensor *t = &s->t[i];
    uint64_t n = 1, state = seed ^ hash_name(t->name);
    for (int d = 0; d < t->ndim; d++) n *= (uint64_t)t->shape[d];
    float c, bound;
    init_rule(t, &c, &bound);
    while (n && !rc) {
      size_t m = n < CHUNK ? (size_t)n : CHUNK;
      if (bound == 0.0f) {
        for (size_t j = 0; j < m; j++) buf[j] = c;
      } else {
        const float scale = bound / 2147483648.0f;
        for (size_t j = 0; j + 1 < m; j += 2) {
          uint64_t r = splitmix(&state);
          buf[j] = (float)(int32_t)(uint32_t)r * scale;
          buf[j + 1] = (float)(int32_t)(uint32_t)(r >> 32) * scale;
        }
        if (m % 2) buf[m - 1] = (float)(int32_t)(uint32_t)splitmix(&state) * scale;
      }
      encode(dt, buf, m, enc);
      rc = write_all(fd, enc, m * esz);
      n -= m;
    }
  }
  free(buf);
  free(enc);
  if (close(fd)) rc = -1;
  if (rc) return fail(msg, size, "%s: write failed (disk full?)", path);
  *bytes = 8 + len + off;
  return 0;
}

int bench_make_component(const char *dir, const char *config_path, bench_kind kind, uint64_t seed,
                         dif_dtype dt, uint64_t *bytes, char *msg, size_t msg_size) {
  char cfg[4096], st[4096];
  if (mkdir(dir, 0755) && errno != EEXIST)
    return fail(msg, msg_size, "%s: %s", dir, strerror(errno));
  snprintf(cfg, sizeof cfg, "%s/config.json", dir);
  snprintf(st, sizeof st, "%s/model.safetensors", dir);
  if (copy_file(config_path, cfg, msg, msg_size) || write_empty(st, msg, msg_size)) return -1;
  schema s = {0};
  int rc = record(dir, kind, &s, msg, msg_size);
  if (!rc) rc = write_weights(st, &s, seed, dt, bytes, msg, msg_size);
  schema_free(&s);
  return rc;
}

/* ---- a whole Stable unCLIP folder ---- */

static const struct {
  const char *sub, *config; /* subfolder, config file stem in configs_dir */
  bench_kind kind;
} unclip_weights[] = {
    {"unet", "sd21-unclip-small.unet", BENCH_UNET},
    {"vae", "sd21-unclip-small.vae", BENCH_VAE},
    {"text_encoder", "sd21-unclip-small.text_encoder", BENCH_CLIP_TEXT},
    {"image_encoder", "sd21-unclip-small.image_encoder", BENCH_CLIP_VISION},
    {"image_normalizer", "sd21-unclip-small.image_normalizer", BENCH_NORMALIZER},
    {"prior", "karlo.prior", BENCH_PRIOR},
    {"prior_text_encoder", "clip-vit-large-patch14.text_encoder", BENCH_CLIP_TEXT},
};

static const struct {
  const char *sub, *config, *file;
} unclip_configs[] = {
    {"scheduler", "sd21-unclip-small.scheduler", "scheduler_config.json"},
    {"image_noising_scheduler", "sd21-unclip-small.image_noising_scheduler",
     "scheduler_config.json"},
    {"prior_scheduler", "karlo.prior_scheduler", "scheduler_config.json"},
    {"feature_extractor", "sd21-unclip-small.feature_extractor", "preprocessor_config.json"},
};

static const struct {
  const char *sub, *from;
} unclip_tokenizers[] = {{"tokenizer", "clip-bpe-sd2"}, {"prior_tokenizer", "clip-bpe"}};

static const char *const tokenizer_files[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                              "special_tokens_map.json"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The pipeline's model_index.json, as diffusers writes it for this model. */
static const char unclip_index[] =
    "{\n  \"_class_name\": \"StableUnCLIPPipeline\",\n  \"_diffusers_version\": \"0.26.3\",\n"
    "  \"feature_extractor\": [\"transformers\", \"CLIPImageProcessor\"],\n"
    "  \"image_encoder\": [\"transformers\", \"CLIPVisionModelWithProjection\"],\n"
    "  \"image_noising_scheduler\": [\"diffusers\", \"DDPMScheduler\"],\n"
    "  \"image_normalizer\": [\"stable_diffusion\", \"StableUnCLIPImageNormalizer\"],\n"
    "  \"prior\": [\"diffusers\", \"PriorTransformer\"],\n"
    "  \"prior_scheduler\": [\"diffusers\", \"DDPMScheduler\"],\n"
    "  \"prior_text_encoder\": [\"transformers\", \"CLIPTextModelWithProjection\"],\n"
    "  \"prior_tokenizer\": [\"transformers\", \"CLIPTokenizer\"],\n"
    "  \"scheduler\": [\"diffusers\", \"DDIMScheduler\"],\n"
    "  \"text_encoder\": [\"transformers\", \"CLIPTextModel\"],\n"
    "  \"tokenizer\": [\"transformers\", \"CLIPTokenizer\"],\n"
    "  \"unet\": [\"diffusers\", \"UNet2DConditionModel\"],\n"
    "  \"vae\": [\"diffusers\", \"AutoencoderKL\"]\n}\n";

static int make_subdir(const char *dir, const char *sub, char *out, size_t n, char *msg,
                       size_t size) {
  if ((size_t)snprintf(out, n, "%s/%s", dir, sub) >= n)
    return fail(msg, size, "%s/%s: path too long", dir, sub);
  if (mkdir(out, 0755) && errno != EEXIST) return fail(msg, size, "%s: %s", out, strerror(errno));
  return 0;
}

int bench_weights_dtype_is(const char *path, dif_dtype dt) {
  FILE *f = fopen(path, "rb");
  unsigned char le[8];
  if (!f || fread(le, 1, 8, f) != 8) {
    if (f) fclose(f);
    return 0;
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | le[i];
  char *h = n < (1u << 26) ? malloc(n + 1) : NULL;
  int ok = h && fread(h, 1, n, f) == n;
  fclose(f);
  if (ok) {
    h[n] = '\0';
    char want[32];
    snprintf(want, sizeof want, "\"dtype\":\"%s\"", st_dtype(dt));
    for (const char *p = strstr(h, "\"dtype\":"); p && ok; p = strstr(p + 1, "\"dtype\":"))
      ok = strncmp(p, want, strlen(want)) == 0;
  }
  free(h);
  return ok;
}

int bench_make_unclip(const char *dir, const char *configs_dir, const char *tokenizers_dir,
                      uint64_t seed, dif_dtype dt, FILE *log, uint64_t *bytes, char *msg,
                      size_t msg_size) {
  char sub[4096], from[4096], to[4200];
  *bytes = 0;
  if (mkdir(dir, 0755) && errno != EEXIST)
    return fail(msg, msg_size, "%s: %s", dir, strerror(errno));
  for (size_t i = 0; i < N_OF(unclip_weights); i++) {
    if (make_subdir(dir, unclip_weights[i].sub, sub, sizeof sub, msg, msg_size)) return -1;
    snprintf(to, sizeof to, "%s/model.safetensors", sub);
    struct stat sb;
    uint64_t b = 0;
    if (stat(to, &sb) == 0 && sb.st_size > 64) { /* made by an earlier run: reuse */
      if (!bench_weights_dtype_is(to, dt))
        return fail(msg, msg_size,
                    "%s exists with another dtype than %s: remove it or use another --dir", to,
                    st_dtype(dt));
      *bytes += (uint64_t)sb.st_size;
      continue;
    }
    snprintf(from, sizeof from, "%s/%s.json", configs_dir, unclip_weights[i].config);
    if (log) {
      fprintf(log, "-- writing random weights for %s (%s) ...", unclip_weights[i].sub,
              unclip_weights[i].config);
      fflush(log);
    }
    if (bench_make_component(sub, from, unclip_weights[i].kind, seed + i, dt, &b, msg, msg_size))
      return -1;
    if (log) fprintf(log, " %.2f GiB\n", (double)b / (1 << 30));
    *bytes += b;
  }
  for (size_t i = 0; i < N_OF(unclip_configs); i++) {
    if (make_subdir(dir, unclip_configs[i].sub, sub, sizeof sub, msg, msg_size)) return -1;
    snprintf(from, sizeof from, "%s/%s.json", configs_dir, unclip_configs[i].config);
    snprintf(to, sizeof to, "%s/%s", sub, unclip_configs[i].file);
    if (copy_file(from, to, msg, msg_size)) return -1;
  }
  for (size_t i = 0; i < N_OF(unclip_tokenizers); i++) {
    if (make_subdir(dir, unclip_tokenizers[i].sub, sub, sizeof sub, msg, msg_size)) return -1;
    for (size_t f = 0; f < N_OF(tokenizer_files); f++) {
      snprintf(from, sizeof from, "%s/%s/%s", tokenizers_dir, unclip_tokenizers[i].from,
               tokenizer_files[f]);
      snprintf(to, sizeof to, "%s/%s", sub, tokenizer_files[f]);
      if (copy_file(from, to, msg, msg_size)) return -1;
    }
  }
  snprintf(to, sizeof to, "%s/model_index.json", dir);
  FILE *f = fopen(to, "w");
  if (!f) return fail(msg, msg_size, "%s: %s", to, strerror(errno));
  int bad = fputs(unclip_index, f) < 0;
  if (fclose(f) || bad) return fail(msg, msg_size, "%s: write failed", to);
  return 0;
}

static void remove_in(const char *dir, const char *sub, const char *file) {
  char p[4400];
  snprintf(p, sizeof p, "%s/%s/%s", dir, sub, file);
  unlink(p);
}

static void remove_sub(const char *dir, const char *sub) {
  char p[4300];
  snprintf(p, sizeof p, "%s/%s", dir, sub);
  rmdir(p);
}

void bench_remove_unclip(const char *dir) {
  for (size_t i = 0; i < N_OF(unclip_weights); i++) {
    remove_in(dir, unclip_weights[i].sub, "model.safetensors");
    remove_in(dir, unclip_weights[i].sub, "config.json");
    remove_sub(dir, unclip_weights[i].sub);
  }
  for (size_t i = 0; i < N_OF(unclip_configs); i++) {
    remove_in(dir, unclip_configs[i].sub, unclip_configs[i].file);
    remove_sub(dir, unclip_configs[i].sub);
  }
  for (size_t i = 0; i < N_OF(unclip_tokenizers); i++) {
    for (size_t f = 0; f < N_OF(tokenizer_files); f++)
      remove_in(dir, unclip_tokenizers[i].sub, tokenizer_files[f]);
    remove_sub(dir, unclip_tokenizers[i].sub);
  }
  remove_in(dir, ".", "model_index.json");
  rmdir(dir);
}
