/* lora.c — reading and checking LoRA files (see lora.h); merging is in
 * lora_merge.c. */
#include "io/lora.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum part { PART_DOWN, PART_UP, PART_ALPHA } part;

/* A key split into its component, module and part. */
typedef struct parsed {
  dif_lora_component comp;
  char module[256];
  part what;
  bool kohya;
} parsed;

static bool starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static bool ends(const char *s, const char *suffix, size_t *stem) {
  size_t a = strlen(s), b = strlen(suffix);
  if (a <= b || strcmp(s + a - b, suffix) != 0) return false;
  *stem = a - b;
  return true;
}

static dif_status set_module(const char *path, const char *key, const char *m, size_t len,
                             parsed *p, dif_error *err) {
  if (len == 0 || len >= sizeof p->module)
    return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: LoRA key '%s' names no module (or one too long)",
                    path, key);
  memcpy(p->module, m, len);
  p->module[len] = 0;
  return DIF_OK;
}

/* lora_unet_<module>.<part> / lora_te_<module>.<part> */
static dif_status parse_kohya(const char *path, const char *key, parsed *p, dif_error *err) {
  static const struct {
    const char *prefix;
    dif_lora_component comp;
  } prefixes[] = {{"lora_unet_", DIF_LORA_UNET},
                  {"lora_te_", DIF_LORA_TEXT_ENCODER},
                  {"lora_te1_", DIF_LORA_TEXT_ENCODER}};
  static const struct {
    const char *suffix;
    part what;
  } parts[] = {
      {".lora_down.weight", PART_DOWN}, {".lora_up.weight", PART_UP}, {".alpha", PART_ALPHA}};
  if (starts(key, "lora_te2_"))
    return dif_fail(err, DIF_ERR_UNSUPPORTED,
                    "%s: LoRA key '%s' is for a second text encoder (SDXL); libdif loads "
                    "SD-1.x/2.x and unCLIP models, which have one",
                    path, key);
  if (strstr(key, "input_blocks") || strstr(key, "middle_block") || strstr(key, "output_blocks"))
    return dif_fail(err, DIF_ERR_UNSUPPORTED,
                    "%s: LoRA key '%s' uses the LDM layout's block names; libdif reads kohya "
                    "LoRAs with diffusers names (lora_unet_down_blocks_…)",
                    path, key);
  p->kohya = true;
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
    if (!starts(key, prefixes[i].prefix)) continue;
    const char *m = key + strlen(prefixes[i].prefix);
    p->comp = prefixes[i].comp;
    for (size_t j = 0; j < sizeof parts / sizeof *parts; j++) {
      size_t stem;
      if (!ends(m, parts[j].suffix, &stem) || memchr(m, '.', stem)) continue;
      p->what = parts[j].what;
      return set_module(path, key, m, stem, p, err);
    }
  }
  return dif_fail(err, DIF_ERR_UNSUPPORTED,
                  "%s: unknown LoRA key '%s' (a kohya file has lora_unet_*/lora_te_* keys "
                  "ending in .lora_down.weight, .lora_up.weight or .alpha)",
                  path, key);
}

/* diffusers' attention-processor names (before 2023; v0.26.3 still reads
 * them: loaders/unet.py convert_state_dict_legacy_attn_format and
 * DIFFUSERS_OLD_TO_DIFFUSERS): <attn>[.processor].to_q_lora.down.weight for
 * the UNet's <attn>.to_q (to_out_lora: to_out.0) and the text encoder's
 * <attn>.q_proj (to_out_lora: out_proj). m is the key after its prefix. */
static dif_status parse_legacy(const char *path, const char *key, const char *m, parsed *p,
                               dif_error *err) {
  static const char *const proj[][3] = {{"to_q_lora", "to_q", "q_proj"},
                                        {"to_k_lora", "to_k", "k_proj"},
                                        {"to_v_lora", "to_v", "v_proj"},
                                        {"to_out_lora", "to_out.0", "out_proj"}};
  size_t stem;
  if (ends(m, ".down.weight", &stem))
    p->what = PART_DOWN;
  else if (ends(m, ".up.weight", &stem))
    p->what = PART_UP;
  else
    return DIF_ERR_UNSUPPORTED;
  for (size_t i = 0; i < sizeof proj / sizeof *proj; i++) {
    size_t n = strlen(proj[i][0]), base;
    if (stem <= n || strncmp(m + stem - n, proj[i][0], n) != 0 || m[stem - n - 1] != '.') continue;
    base = stem - n - 1; /* m[0, base): the attention module, maybe ".processor" */
    if (base >= 10 && strncmp(m + base - 10, ".processor", 10) == 0) base -= 10;
    char module[300];
    int len = snprintf(module, sizeof module, "%.*s.%s", (int)base, m,
                       proj[i][p->comp == DIF_LORA_UNET ? 1 : 2]);
    return set_module(path, key, module, (size_t)len, p, err);
  }
  return DIF_ERR_UNSUPPORTED;
}

/* unet.<module>.lora.down.weight, text_encoder.<module>.lora_linear_layer.
 * up.weight, <component>.<module>.lora_A.weight, … */
static dif_status parse_diffusers(const char *path, const char *key, parsed *p, dif_error *err) {
  static const struct {
    const char *suffix;
    part what;
  } parts[] = {{".lora.down.weight", PART_DOWN},
               {".lora.up.weight", PART_UP},
               {".lora_linear_layer.down.weight", PART_DOWN},
               {".lora_linear_layer.up.weight", PART_UP},
               {".lora_A.weight", PART_DOWN},
               {".lora_B.weight", PART_UP}};
  const char *m = NULL;
  if (starts(key, "unet.")) {
    p->comp = DIF_LORA_UNET;
    m = key + 5;
  } else if (starts(key, "text_encoder.")) {
    p->comp = DIF_LORA_TEXT_ENCODER;
    m = key + 13;
  }
  p->kohya = false;
  for (size_t j = 0; m && j < sizeof parts / sizeof *parts; j++) {
    size_t stem;
    if (!ends(m, parts[j].suffix, &stem)) continue;
    p->what = parts[j].what;
    return set_module(path, key, m, stem, p, err);
  }
  if (m && parse_legacy(path, key, m, p, err) == DIF_OK) return DIF_OK;
  return dif_fail(err, DIF_ERR_UNSUPPORTED,
                  "%s: unknown LoRA key '%s' (libdif reads kohya lora_unet_/lora_te_ keys and "
                  "diffusers/PEFT unet./text_encoder. keys ending in .lora.down.weight, "
                  ".lora.up.weight, .lora_linear_layer.{down,up}.weight, .lora_A.weight or "
                  ".lora_B.weight)",
                  path, key);
}

static dif_lora_module *find_or_add(dif_lora *l, const parsed *p) {
  for (size_t i = 0; i < l->n; i++)
    if (l->mods[i].component == p->comp && strcmp(l->mods[i].name, p->module) == 0)
      return &l->mods[i];
  dif_lora_module *m = &l->mods[l->n++];
  memset(m, 0, sizeof *m);
  m->component = p->comp;
  m->kohya = p->kohya;
  memcpy(m->name, p->module, sizeof m->name);
  m->alpha = NAN; /* none yet */
  return m;
}

static dif_status check_finite(const dif_lora *l, const char *key, const dif_tensor *t,
                               dif_error *err) {
  int64_t bad = dif_first_nonfinite(t->data, dif_tensor_numel(t));
  if (bad >= 0)
    return dif_fail(err, DIF_ERR_NON_FINITE, "%s: LoRA tensor '%s' has a non-finite value at %lld",
                    l->path, key, (long long)bad);
  return DIF_OK;
}

/* Stores the tensor of key as part p->what of its module. */
static dif_status add_entry(dif_lora *l, const char *key, const parsed *p, dif_error *err) {
  dif_lora_module *m = find_or_add(l, p);
  dif_tensor t;
  dif_status s = dif_st_get_f32(l->st, key, &t, err);
  if (!s) s = check_finite(l, key, &t, err);
  if (s) return s;
  if (p->what == PART_ALPHA) {
    if (dif_tensor_numel(&t) != 1 || !(t.data[0] > 0))
      return dif_fail(err, DIF_ERR_BAD_MODEL,
                      "%s: LoRA alpha '%s' must be one positive number (%lld values, first %g)",
                      l->path, key, (long long)dif_tensor_numel(&t),
                      dif_tensor_numel(&t) ? (double)t.data[0] : 0.0);
    m->alpha = t.data[0];
  } else if (p->what == PART_DOWN) {
    m->down = t;
    m->down_key = key;
  } else {
    m->up = t;
    m->up_key = key;
  }
  return DIF_OK;
}

/* down [r, in] or [r, in, kh, kw]; up [out, r] or [out, r, 1, 1]. */
static dif_status check_module(const dif_lora *l, dif_lora_module *m, dif_error *err) {
  const char *any = m->down_key ? m->down_key : m->up_key;
  if (!m->down_key || !m->up_key)
    return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: LoRA tensor '%s' has no %s partner", l->path,
                    any ? any : m->name, m->down_key ? "up" : "down");
  const dif_tensor *d = &m->down, *u = &m->up;
  bool ok = (d->ndim == 2 || d->ndim == 4) && (u->ndim == 2 || u->ndim == 4) &&
            d->shape[0] == u->shape[1] && d->shape[0] >= 1 &&
            (u->ndim == 2 || (u->shape[2] == 1 && u->shape[3] == 1));
  if (!ok) {
    char a[96], b[96];
    return dif_fail(err, DIF_ERR_BAD_MODEL,
                    "%s: LoRA tensors '%s' %s and '%s' %s are not a down [rank, in(, kh, kw)] "
                    "and up [out, rank(, 1, 1)] pair",
                    l->path, m->down_key, dif_shape_str(d->shape, d->ndim, a, sizeof a), m->up_key,
                    dif_shape_str(u->shape, u->ndim, b, sizeof b));
  }
  m->rank = d->shape[0];
  if (isnan(m->alpha)) m->alpha = (float)m->rank;
  return DIF_OK;
}

static dif_status parse_all(dif_lora *l, dif_error *err) {
  size_t n = dif_st_count(l->st);
  if (n == 0) return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: a LoRA file with no tensors", l->path);
  bool kohya = starts(dif_st_entry_at(l->st, 0)->name, "lora_");
  l->format = kohya ? "kohya" : "diffusers";
  if (!(l->mods = calloc(n, sizeof *l->mods)))
    return dif_fail_oom(err, "LoRA modules", n * sizeof *l->mods);
  dif_status s = DIF_OK;
  for (size_t i = 0; i < n && !s; i++) {
    const char *key = dif_st_entry_at(l->st, i)->name;
    parsed p;
    if (kohya != starts(key, "lora_"))
      s = dif_fail(err, DIF_ERR_BAD_MODEL,
                   "%s: LoRA key '%s' mixes kohya (lora_…) and diffusers names in one file",
                   l->path, key);
    if (!s) s = kohya ? parse_kohya(l->path, key, &p, err) : parse_diffusers(l->path, key, &p, err);
    if (!s) s = add_entry(l, key, &p, err);
  }
  for (size_t i = 0; i < l->n && !s; i++) s = check_module(l, &l->mods[i], err);
  return s;
}

dif_status dif_lora_open_st(dif_safetensors *st, dif_lora **out, dif_error *err) {
  *out = NULL;
  dif_lora *l = calloc(1, sizeof *l);
  if (!l) {
    dif_st_close(st);
    return dif_fail_oom(err, "LoRA", sizeof *l);
  }
  l->st = st;
  const char *path = dif_st_path(st);
  dif_status s = (l->path = strdup(path)) ? DIF_OK : dif_fail_oom(err, "LoRA path", strlen(path));
  if (!s) s = parse_all(l, err);
  if (s) {
    dif_lora_close(l);
    return s;
  }
  *out = l;
  return DIF_OK;
}

dif_status dif_lora_open(const char *path, dif_lora **out, dif_error *err) {
  dif_safetensors *st = NULL;
  *out = NULL;
  dif_status s = dif_st_open(path, &st, err);
  return s ? s : dif_lora_open_st(st, out, err);
}

void dif_lora_close(dif_lora *l) {
  if (!l) return;
  dif_st_close(l->st);
  free(l->mods);
  free(l->path);
  free(l);
}

size_t dif_lora_count(const dif_lora *l, dif_lora_component c) {
  size_t n = 0;
  for (size_t i = 0; i < l->n; i++) n += l->mods[i].component == c;
  return n;
}
