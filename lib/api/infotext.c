/* infotext.c — the record as AUTOMATIC1111's "parameters" text, which
 * A1111's PNG Info, ComfyUI, and image sites show:
 *
 *   a red cat, (oil painting:1.5)
 *   Negative prompt: blurry
 *   Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 1, Size: 512x512,
 *   Model hash: 0123456789, Model: sd21-unclip-small, Version: libdif 0.1.0
 *
 * (the last line is one line). Text parts with weight 1 are written as they
 * are, others as A1111's "(text:weight)"; "(", ")", "[", "]" and "\" in a
 * text are escaped with "\" so that A1111 reads them literally. Image parts
 * have no A1111 form and are left out (the record keeps them). The sampler
 * is A1111's name for the scheduler (PNDM is A1111's "PLMS"). A1111's
 * "Model hash" is the first 10 hex digits of the SHA-256 of a single
 * checkpoint file; a diffusers folder has no such file, so libdif writes the
 * first 10 hex digits of the xxh3-64 of the UNet's weights (what `dif info`
 * lists), and "Model" is the model folder's name. img2img adds "Denoising
 * strength". The LoRAs follow the prompt's text as A1111's extra-network
 * tags, ", <lora:NAME:WEIGHT>" (NAME the file's name without folder and
 * ".safetensors", as A1111's Lora folder and the dif command's --lora-dir
 * read it; a name a tag cannot hold — with ':', '<', '>', ',' or a line
 * break — is left out: the record keeps it). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/record.h"

typedef struct buf {
  char *p;
  size_t n, cap;
  int oom;
} buf;

static void put(buf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->cap - b->n <= n) {
    size_t cap = (b->cap + n) * 2 + 64;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}
static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

/* text with A1111's emphasis characters escaped */
static void put_text(buf *b, const char *s) {
  for (; *s; s++) {
    if (strchr("()[]\\", *s)) put(b, "\\", 1);
    put(b, s, 1);
  }
}

/* A1111 quotes a value that holds a comma, colon or quote (as JSON). */
static void put_value(buf *b, const char *s) {
  if (!strpbrk(s, ",:\"\n")) {
    puts_(b, s);
    return;
  }
  json_t *js = json_string(s);
  char *q = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
  puts_(b, q ? q : "\"\"");
  free(q);
  json_decref(js);
}

static const char *a1111_sampler(const char *s) {
  static const char *const map[][3] = {
      {"ddim", "DDIMScheduler", "DDIM"},
      {"ddpm", "DDPMScheduler", "DDPM"},
      {"pndm", "PNDMScheduler", "PLMS"},
      {"euler", "EulerDiscreteScheduler", "Euler"},
      {"euler_a", "EulerAncestralDiscreteScheduler", "Euler a"},
      {"dpmpp_2m", "DPMSolverMultistepScheduler", "DPM++ 2M"},
      {"dpmpp_2m_karras", "", "DPM++ 2M Karras"},
      {"lms", "LMSDiscreteScheduler", "LMS"},
      {"unipc", "UniPCMultistepScheduler", "UniPC"},
      {"lcm", "LCMScheduler", "LCM"},
      {"unclip", "UnCLIPScheduler", "UnCLIP"},
  };
  for (size_t i = 0; i < sizeof map / sizeof *map; i++)
    if (!strcmp(s, map[i][0]) || !strcmp(s, map[i][1])) return map[i][2];
  return s;
}

/* The first lines: the text parts (A1111's weights) and the LoRAs' tags, the
 * negative prompt. */
static void put_prompt(buf *b, json_t *o) {
  char num[64];
  size_t i, n_text = 0;
  json_t *part;
  json_array_foreach(json_object_get(o, "prompt"), i, part) {
    const char *text = json_string_value(json_object_get(part, "text"));
    if (!text) continue;
    double w = json_number_value(json_object_get(part, "weight"));
    if (n_text++) puts_(b, ", ");
    if ((float)w == 1.0f) {
      put_text(b, text);
    } else {
      puts_(b, "(");
      put_text(b, text);
      snprintf(num, sizeof num, ":%g)", (double)(float)w);
      puts_(b, num);
    }
  }
  json_array_foreach(json_object_get(o, "loras"), i, part) {
    const char *file = json_string_value(json_object_get(part, "file"));
    if (!file) continue;
    const char *name = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    size_t len = strlen(name);
    if (len > 12 && !strcmp(name + len - 12, ".safetensors")) len -= 12;
    if (!len || strcspn(name, ":<>,\n\r") < len) continue;
    if (n_text++) puts_(b, ", ");
    puts_(b, "<lora:");
    put(b, name, len);
    snprintf(num, sizeof num, ":%g>",
             (double)(float)json_number_value(json_object_get(part, "weight")));
    puts_(b, num);
  }
  const char *neg = json_string_value(json_object_get(o, "negative"));
  if (neg && *neg) {
    puts_(b, "\nNegative prompt: ");
    put_text(b, neg);
  }
  puts_(b, "\n");
}

/* "Name: " after the separator the previous field left. */
static void field(buf *b, const char **sep, const char *name) {
  puts_(b, *sep);
  puts_(b, name);
  puts_(b, ": ");
  *sep = ", ";
}

/* Model hash (the UNet's weights' xxh3, else the first file's) and Model
 * (the folder's name). */
static void put_model(buf *b, const char **sep, json_t *model) {
  size_t i;
  json_t *file;
  const char *hash = NULL;
  json_array_foreach(json_object_get(model, "files"), i, file) {
    const char *path = json_string_value(json_object_get(file, "file"));
    const char *x = json_string_value(json_object_get(file, "xxh3"));
    if (x && (!hash || (path && !strncmp(path, "unet/", 5)))) hash = x;
    if (x && path && !strncmp(path, "unet/", 5)) break;
  }
  if (hash && strlen(hash) >= 10) {
    field(b, sep, "Model hash");
    put(b, hash, 10);
  }
  const char *dir = json_string_value(json_object_get(model, "dir"));
  if (dir) {
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)len, dir);
    const char *slash = strrchr(name, '/');
    field(b, sep, "Model");
    put_value(b, slash && slash[1] ? slash + 1 : name);
  }
}

char *dif__record_infotext(const char *record) {
  json_t *o = record ? json_loads(record, 0, NULL) : NULL;
  if (!json_is_object(o)) {
    json_decref(o);
    return NULL;
  }
  buf b = {0};
  puts_(&b, "");
  put_prompt(&b, o);
  const char *sep = "";
  char num[64];
  json_t *v;
  if ((v = json_object_get(o, "steps"))) {
    field(&b, &sep, "Steps");
    snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
    puts_(&b, num);
  }
  const char *sched = json_string_value(json_object_get(o, "scheduler"));
  if (sched) {
    field(&b, &sep, "Sampler");
    put_value(&b, a1111_sampler(sched));
  }
  if ((v = json_object_get(o, "guidance"))) {
    field(&b, &sep, "CFG scale");
    snprintf(num, sizeof num, "%g", (double)(float)json_number_value(v));
    puts_(&b, num);
  }
  const char *seed = json_string_value(json_object_get(o, "seed_u64"));
  if (seed) {
    field(&b, &sep, "Seed");
    puts_(&b, seed);
  }
  json_t *w = json_object_get(o, "width"), *h = json_object_get(o, "height");
  if (w && h) {
    field(&b, &sep, "Size");
    snprintf(num, sizeof num, "%lldx%lld", (long long)json_integer_value(w),
             (long long)json_integer_value(h));
    puts_(&b, num);
  }
  put_model(&b, &sep, json_object_get(o, "model"));
  json_t *init = json_object_get(o, "init_image");
  if (init && (v = json_object_get(init, "strength"))) {
    field(&b, &sep, "Denoising strength");
    snprintf(num, sizeof num, "%g", (double)(float)json_number_value(v));
    puts_(&b, num);
  }
  const char *version = json_string_value(json_object_get(o, "libdif"));
  if (version) {
    field(&b, &sep, "Version");
    puts_(&b, "libdif ");
    puts_(&b, version);
  }
  json_decref(o);
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  return b.p;
}
