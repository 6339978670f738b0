/* embedding_dir.c — --embedding and --embedding-dir (embedding_dir.h). */
#include "embedding_dir.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int add(cli_loras *out, char *file, char *token, char *err, size_t n) {
  if (out->n_emb >= DIF_MAX_EMBEDDINGS) {
    snprintf(err, n, "at most %d embeddings", DIF_MAX_EMBEDDINGS);
    free(file);
    free(token);
    return -1;
  }
  out->emb_file[out->n_emb] = file;
  out->emb_token[out->n_emb++] = token;
  return 0;
}

int embedding_option(const char *v, cli_loras *out, char *err, size_t n) {
  const char *colon = strrchr(v, ':');
  if (!*v) {
    snprintf(err, n, "needs a file name");
    return -1;
  }
  char *file, *token = NULL;
  if (colon && colon > v && colon[1] && access(v, F_OK) != 0) { /* "a:b.safetensors" is a file */
    file = strndup(v, (size_t)(colon - v));
    token = strdup(colon + 1);
  } else {
    file = strdup(v);
  }
  if (!file || (strlen(file) < strlen(v) && !token)) {
    free(file);
    free(token);
    snprintf(err, n, "out of memory");
    return -1;
  }
  return add(out, file, token, err, n);
}

static int word_byte(unsigned char c) {
  return c >= 0x80 || c == '_' || (c >= '0' && c <= '9') ||
         ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* Whether name occurs in text as a word, case included (the token must be
 * written so to match). */
static int names_word(const char *text, const char *name) {
  size_t k = strlen(name);
  for (const char *p = text; *p; p++)
    if (strncmp(p, name, k) == 0 && (p == text || !word_byte((unsigned char)p[-1])) &&
        !word_byte((unsigned char)p[k]))
      return 1;
  return 0;
}

static int taken(const cli_loras *out, const char *name) {
  for (int i = 0; i < out->n_emb; i++)
    if (out->emb_token[i] && strcmp(out->emb_token[i], name) == 0) return 1;
  return 0;
}

int embedding_dir_scan(const char *dir, const char *const *texts, int n_texts, cli_loras *out,
                       char *err, size_t n) {
  struct dirent **list = NULL;
  int count = scandir(dir, &list, NULL, alphasort);
  if (count < 0) {
    snprintf(err, n, "--embedding-dir %s: cannot read the folder", dir);
    return -1;
  }
  int rc = 0;
  for (int i = 0; i < count; i++) {
    const char *f = list[i]->d_name;
    size_t len = strlen(f);
    if (!rc && len > 12 && strcmp(f + len - 12, ".safetensors") == 0) {
      char *name = strndup(f, len - 12);
      int hit = 0;
      for (int t = 0; name && t < n_texts && !hit; t++)
        hit = texts[t] && names_word(texts[t], name);
      if (name && hit && !taken(out, name)) {
        size_t size = strlen(dir) + len + 2;
        char *path = malloc(size);
        if (path) snprintf(path, size, "%s/%s", dir, f);
        rc = path ? add(out, path, name, err, n) : -1;
        name = NULL;
      }
      free(name);
    }
    free(list[i]);
  }
  free(list);
  return rc;
}
