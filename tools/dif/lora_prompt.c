/* lora_prompt.c — <lora:NAME:WEIGHT> tags (see lora_prompt.h). */
#include "lora_prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numbers.h"

/* The tag's inside "NAME[:W]" (len bytes) as a LoRA of dir. */
static int add_tag(const char *in, size_t len, const char *dir, cli_loras *out, char *err,
                   size_t n) {
  char tag[512], why[300];
  if (len >= sizeof tag) {
    snprintf(err, n, "<lora:...> longer than %zu bytes", sizeof tag - 1);
    return -1;
  }
  memcpy(tag, in, len);
  tag[len] = 0;
  float w = 1.0f;
  char *colon = strchr(tag, ':');
  if (colon) {
    *colon = 0;
    if (num_real(colon + 1, -10, 10, 0, &w, why, sizeof why)) {
      snprintf(err, n, "<lora:%s:...>: the weight %.300s", tag, why);
      return -1;
    }
  }
  if (!*tag || strchr(tag, '/') || !strcmp(tag, ".") || !strcmp(tag, "..")) {
    snprintf(err, n, "<lora:%s>: the name must be a file name in the --lora-dir folder", tag);
    return -1;
  }
  if (!dir) {
    snprintf(err, n, "<lora:%s> needs --lora-dir DIR, the folder of the LoRA files", tag);
    return -1;
  }
  if (out->n >= DIF_MAX_LORAS) {
    snprintf(err, n, "<lora:%s>: at most %d LoRAs", tag, DIF_MAX_LORAS);
    return -1;
  }
  size_t size = strlen(dir) + strlen(tag) + 14;
  char *path = malloc(size);
  if (!path) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  snprintf(path, size, "%s/%s.safetensors", dir, tag);
  out->file[out->n] = path;
  out->weight[out->n++] = w;
  return 0;
}

int lora_prompt_extract(char *prompt, const char *dir, cli_loras *out, char *err, size_t n) {
  char *p;
  while ((p = strstr(prompt, "<lora:")) != NULL) {
    char *end = strchr(p, '>');
    if (!end) {
      snprintf(err, n, "<lora: without its closing '>'");
      return -1;
    }
    if (add_tag(p + 6, (size_t)(end - p - 6), dir, out, err, n)) return -1;
    memmove(p, end + 1, strlen(end + 1) + 1);
  }
  return 0;
}
