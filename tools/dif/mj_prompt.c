/* mj_prompt.c — Midjourney-style prompt syntax (see mj_prompt.h). */
#include "mj_prompt.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "numbers.h"

static char *dup_range(const char *a, const char *b) {
  while (a < b && isspace((unsigned char)*a)) a++;
  while (b > a && isspace((unsigned char)b[-1])) b--;
  char *s = malloc((size_t)(b - a) + 1);
  if (s) {
    memcpy(s, a, (size_t)(b - a));
    s[b - a] = '\0';
  }
  return s;
}

static int is_image_word(const char *w, size_t n) {
  static const char *const ext[] = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"};
  for (int i = 0; i < 6; i++) {
    size_t e = strlen(ext[i]);
    if (n > e && strncasecmp(w + n - e, ext[i], e) == 0) return 1;
  }
  return 0;
}

void mj_size_for_ratio(int side, int aw, int ah, int *w, int *h) {
  double r = sqrt((double)aw / ah);
  int W = (int)lround(side * r / 8.0) * 8, H = (int)lround(side / r / 8.0) * 8;
  *w = W < 8 ? 8 : W;
  *h = H < 8 ? 8 : H;
}

void mj_free(mj_prompt *p) {
  for (int i = 0; i < p->n_parts; i++) {
    free(p->parts[i].text);
    free(p->parts[i].image);
  }
  free(p->negative);
  memset(p, 0, sizeof *p);
}

static int fail(mj_prompt *p, char *err, size_t n, const char *msg, const char *arg) {
  snprintf(err, n, msg, arg);
  mj_free(p);
  return -1;
}

/* The value of a --parameter: up to the next " --" or the end; empty when
 * the next word is itself a --parameter ("--no --ar 16:9"). */
static const char *param_value(const char *s, const char **end) {
  while (isspace((unsigned char)*s)) s++;
  const char *e = strncmp(s, "--", 2) ? strstr(s, " --") : s;
  *end = e ? e : s + strlen(s);
  return s;
}

/* Whether a word after "::" is meant as a weight: it starts like a number
 * (inf and nan too, to be refused). */
static int starts_number(const char *s) {
  if (*s == '-' || *s == '+') s++;
  if (!strncasecmp(s, "inf", 3) || !strncasecmp(s, "nan", 3)) return 1;
  if (*s == '.') s++;
  return *s >= '0' && *s <= '9';
}

int mj_parse(const char *s, mj_prompt *p, char *err, size_t n) {
  memset(p, 0, sizeof *p);
  /* 1. leading image paths */
  const char *c = s;
  for (;;) {
    while (isspace((unsigned char)*c)) c++;
    const char *w = c;
    while (*c && !isspace((unsigned char)*c)) c++;
    if (c == w || !is_image_word(w, (size_t)(c - w))) {
      c = w;
      break;
    }
    if (p->n_parts == MJ_MAX_PARTS) return fail(p, err, n, "more than %s prompt parts", "16");
    p->parts[p->n_parts].image = dup_range(w, c);
    p->parts[p->n_parts++].weight = 1.0f;
  }
  /* 2. split off the --parameters */
  const char *params = strstr(c, "--");
  while (params && params != c && !isspace((unsigned char)params[-1]))
    params = strstr(params + 2, "--");
  const char *text_end = params ? params : c + strlen(c);
  /* 3. text parts separated by ::weight */
  const char *t = c;
  while (t < text_end) {
    const char *sep = strstr(t, "::");
    if (!sep || sep >= text_end) sep = text_end;
    char *text = dup_range(t, sep);
    float weight = 1.0f;
    const char *next = sep;
    if (sep < text_end && starts_number(sep + 2)) {
      /* the weight is the word right after "::", parsed strictly */
      const char *we = sep + 2;
      while (we < text_end && !isspace((unsigned char)*we) && strncmp(we, "::", 2)) we++;
      char *word = dup_range(sep + 2, we), msg[160];
      int bad = !word || num_real(word, -FLT_MAX, FLT_MAX, NUM_NONZERO, &weight, msg, sizeof msg);
      if (bad) {
        char q[200];
        num_quote(text ? text : "", q, sizeof q);
        snprintf(err, n, "the weight of %s after '::': %s", q, word ? msg : "out of memory");
        free(word);
        free(text);
        mj_free(p);
        return -1;
      }
      free(word);
      next = we;
    } else if (sep < text_end) {
      next = sep + 2;
    }
    if (text && *text) {
      if (p->n_parts == MJ_MAX_PARTS) {
        free(text);
        return fail(p, err, n, "more than %s prompt parts", "16");
      }
      p->parts[p->n_parts].text = text;
      p->parts[p->n_parts++].weight = weight;
    } else {
      free(text);
    }
    t = next;
  }
  /* 4. the parameters */
  for (const char *q = params; q && *q;) {
    if (strncmp(q, "--", 2) != 0) break;
    const char *name = q + 2, *ne = name;
    while (*ne && !isspace((unsigned char)*ne)) ne++;
    const char *ve, *v = param_value(ne, &ve);
    char *val = dup_range(v, ve);
    size_t nl = (size_t)(ne - name);
    char what[48], msg[200];
    snprintf(what, sizeof what, "--%.*s", (int)(nl < 40 ? nl : 40), name);
    int bad = 0;
    if (!val) return fail(p, err, n, "%s", "out of memory");
    if (!(nl == 2 && !strncmp(name, "ar", 2)) && !(nl == 6 && !strncmp(name, "aspect", 6)) &&
        !(nl == 2 && !strncmp(name, "no", 2)) && !(nl == 2 && !strncmp(name, "iw", 2)) &&
        !(nl == 4 && !strncmp(name, "seed", 4))) {
      free(val);
      return fail(p, err, n,
                  "unknown prompt parameter %s (supported: --ar W:H, --no TEXT, --iw N, "
                  "--seed N)",
                  what);
    }
    if (!*val) {
      int wl = 0; /* the parameter that came where the value belongs */
      while (ve[wl] && !isspace((unsigned char)ve[wl]) && wl < 40) wl++;
      snprintf(err, n, "%s needs a value%s%.*s%s", what, wl ? ", got the parameter '" : "", wl, ve,
               wl ? "'" : "");
      free(val);
      mj_free(p);
      return -1;
    } else if (name[0] == 'a') {
      bad = num_ratio(val, &p->ar_w, &p->ar_h, msg, sizeof msg);
    } else if (name[0] == 'n') {
      free(p->negative);
      p->negative = val;
      val = NULL;
    } else if (name[0] == 'i') {
      bad = num_real(val, -FLT_MAX, FLT_MAX, NUM_NONZERO, &p->iw, msg, sizeof msg);
      p->has_iw = true;
    } else {
      bad = num_u64(val, &p->seed, msg, sizeof msg);
      p->has_seed = true;
    }
    if (bad) {
      snprintf(err, n, "%s: %s", what, msg);
      free(val);
      mj_free(p);
      return -1;
    }
    free(val);
    q = ve;
    while (isspace((unsigned char)*q)) q++;
  }
  if (p->has_iw)
    for (int i = 0; i < p->n_parts; i++)
      if (p->parts[i].image) p->parts[i].weight = p->iw;
  return 0;
}
