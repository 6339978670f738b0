/* shapes.c — measuring pictures of dif-shapes-64's world (see shapes.h). */
#include "shapes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const uint8_t shapes_palette[SHAPES_N_COLOURS][3] = {
    {220, 35, 30},   /* red */
    {25, 170, 50},   /* green */
    {25, 60, 220},   /* blue */
    {240, 220, 35},  /* yellow */
    {130, 50, 160},  /* purple */
    {240, 130, 20},  /* orange */
    {240, 240, 245}, /* white */
    {15, 15, 15},    /* black */
};

static const char *const colour_names[SHAPES_N_COLOURS] = {"red",    "green",  "blue",  "yellow",
                                                           "purple", "orange", "white", "black"};
static const char *const kind_names[3] = {"circle", "square", "triangle"};

/* models/dif-shapes-64/eval.json, in its order */
const char *const shapes_eval_prompts[SHAPES_N_EVAL] = {
    "a purple triangle at the top left on an orange background",
    "a small blue square on a black background",
    "a white circle and an orange square on a purple background",
    "a black square on a yellow background",
    "a small yellow circle at the bottom left on a red background",
    "a blue circle on the right on a black background",
    "a small yellow triangle and a big blue triangle on an orange background",
    "a blue triangle on a black background",
    "a small purple circle on a green background",
    "a small blue triangle at the top on a green background",
    "a small orange square and a big yellow circle on a black background",
    "a green square in the center on an orange background",
    "a big yellow square on a green background",
    "a small green circle at the bottom right on a yellow background",
    "a yellow square and a small blue circle on a red background",
    "an orange circle in the center on a green background",
    "an orange triangle on a blue background",
    "a white square on a yellow background",
    "a small orange triangle and a small white square on a purple background",
    "a small white circle on a red background",
};

const uint64_t shapes_eval_seeds[3] = {0, 1000, 2000};

const char *shapes_colour_name(int c) {
  return c >= 0 && c < SHAPES_N_COLOURS ? colour_names[c] : "-";
}
const char *shapes_kind_name(int k) { return k >= 0 && k < 3 ? kind_names[k] : "-"; }
int shapes_is_held_out(int i) { return i % 4 == 3; }

static int find(const char *const *names, int n, const char *word) {
  for (int i = 0; i < n; i++)
    if (!strcmp(names[i], word)) return i;
  return -1;
}

int shapes_parse(const char *caption, shapes_caption *out) {
  char words[64][16];
  int n = 0;
  memset(out, 0, sizeof *out);
  out->background = out->background2 = -1;
  for (const char *p = caption; *p && n < 64;) {
    while (*p == ' ' || *p == ',') p++;
    int len = 0;
    while (*p && *p != ' ' && *p != ',') {
      if (len < 15) words[n][len++] = *p;
      p++;
    }
    words[n][len] = '\0';
    if (len) n++;
  }
  for (int i = 0; i < n; i++) {
    int c = find(colour_names, SHAPES_N_COLOURS, words[i]);
    if (c < 0 || i + 1 >= n) continue;
    int k = find(kind_names, 3, words[i + 1]);
    if (k >= 0 && out->n_shapes < SHAPES_MAX) {
      out->colour[out->n_shapes] = c;
      out->kind[out->n_shapes++] = k;
    } else if (!strcmp(words[i + 1], "background")) {
      out->background = c;
    } else if (!strcmp(words[i + 1], "and") && i + 3 < n && !strcmp(words[i + 3], "background")) {
      out->background = c; /* two-tone: top and bottom halves */
      out->background2 = find(colour_names, SHAPES_N_COLOURS, words[i + 2]);
      i += 2;
    }
  }
  for (int i = 0; i < out->n_shapes; i++) {
    int seen = 0;
    for (int j = 0; j < i; j++) seen |= out->colour[j] == out->colour[i];
    out->n_colours += !seen;
  }
  return out->n_shapes || out->background >= 0 ? 0 : -1;
}

static int nearest(const uint8_t *px) {
  int best = 0, best_d = 1 << 30;
  for (int c = 0; c < SHAPES_N_COLOURS; c++) {
    int d = 0;
    for (int k = 0; k < 3; k++) {
      int e = (int)px[k] - shapes_palette[c][k];
      d += e * e;
    }
    if (d < best_d) best = c, best_d = d;
  }
  return best;
}

/* Fill ratio of the largest 4-connected component of `label` in its bbox. */
static int blob_kind(const uint8_t *labels, int w, int h, int label) {
  uint8_t *seen = calloc((size_t)w * h, 1);
  int *stack = malloc(sizeof(int) * (size_t)w * h);
  int best_area = 0;
  double best_fill = 0;
  for (int start = 0; seen && stack && start < w * h; start++) {
    if (labels[start] != label || seen[start]) continue;
    int top = 0, area = 0, x0 = w, y0 = h, x1 = -1, y1 = -1;
    stack[top++] = start;
    seen[start] = 1;
    while (top) {
      int i = stack[--top], x = i % w, y = i / w;
      area++;
      x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1, y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
      const int nb[4][2] = {{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}};
      for (int k = 0; k < 4; k++) {
        int nx = nb[k][0], ny = nb[k][1];
        if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
        int j = ny * w + nx;
        if (labels[j] == label && !seen[j]) seen[j] = 1, stack[top++] = j;
      }
    }
    if (area > best_area) {
      best_area = area;
      best_fill = (double)area / ((double)(x1 - x0 + 1) * (y1 - y0 + 1));
    }
  }
  free(seen);
  free(stack);
  if (!best_area) return SHAPES_NO_KIND;
  return best_fill > 0.88 ? SHAPES_SQUARE : best_fill > 0.64 ? SHAPES_CIRCLE : SHAPES_TRIANGLE;
}

void shapes_analyse(const uint8_t *rgb, int w, int h, int n_colours, shapes_picture *out) {
  memset(out, 0, sizeof *out);
  out->background = -1;
  uint8_t *labels = malloc((size_t)w * h);
  if (!labels) return;
  int border[SHAPES_N_COLOURS] = {0}, all[SHAPES_N_COLOURS] = {0};
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      int c = nearest(rgb + ((size_t)y * w + x) * 3);
      labels[y * w + x] = (uint8_t)c;
      all[c]++;
      if (x < 3 || y < 3 || x >= w - 3 || y >= h - 3) border[c]++;
    }
  out->background = shapes_argmax_int(border, SHAPES_N_COLOURS);
  all[out->background] = 0;
  for (int i = 0; i < n_colours && i < SHAPES_MAX; i++) {
    int c = shapes_argmax_int(all, SHAPES_N_COLOURS);
    if (all[c] < SHAPES_MIN_PIXELS) break;
    out->present[out->n_present] = c;
    out->present_pixels[out->n_present] = all[c];
    out->kind[out->n_present++] = blob_kind(labels, w, h, c);
    all[c] = 0;
  }
  free(labels);
}

int shapes_background_ok(const shapes_caption *c, const shapes_picture *p) {
  return p->background >= 0 && (p->background == c->background || p->background == c->background2);
}

static int present_index(const shapes_picture *p, int colour) {
  for (int i = 0; i < p->n_present; i++)
    if (p->present[i] == colour) return i;
  return -1;
}

int shapes_colours_ok(const shapes_caption *c, const shapes_picture *p) {
  if (p->n_present != c->n_colours) return 0;
  for (int i = 0; i < c->n_shapes; i++)
    if (present_index(p, c->colour[i]) < 0) return 0;
  return 1;
}

int shapes_kinds_ok(const shapes_caption *c, const shapes_picture *p) {
  if (!c->n_shapes) return 1;
  for (int i = 0; i < c->n_shapes; i++) {
    int j = present_index(p, c->colour[i]);
    if (j < 0 || p->kind[j] != c->kind[i]) return 0;
  }
  return 1;
}

static int inside(int kind, float x, float y, float cx, float cy, float r) {
  float dx = x - cx, dy = y - cy;
  if (kind == SHAPES_CIRCLE) return dx * dx + dy * dy <= r * r;
  if (kind == SHAPES_SQUARE) return fabsf(dx) <= r && fabsf(dy) <= r;
  /* upward equilateral triangle, circumradius r */
  float s = 0.8660254f * r, ax = cx, ay = cy - r, bx = cx - s, by = cy + r / 2, qx = cx + s;
  float e1 = (bx - ax) * (y - ay) - (by - ay) * (x - ax); /* left edge */
  float e2 = (ax - qx) * (y - by) - (ay - by) * (x - qx); /* right edge */
  return e1 <= 0 && e2 <= 0 && y <= by;
}

void shapes_render(uint8_t *rgb, int w, int h, int background, int colour, int kind, float cx,
                   float cy, float r) {
  const uint8_t *bg = shapes_palette[background], *fg = shapes_palette[colour];
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      int hits = 0;
      for (int sy = 0; sy < 4; sy++)
        for (int sx = 0; sx < 4; sx++)
          hits += inside(kind, x + (sx + 0.5f) / 4, y + (sy + 0.5f) / 4, cx, cy, r);
      for (int k = 0; k < 3; k++)
        rgb[((size_t)y * w + x) * 3 + k] = (uint8_t)((bg[k] * (16 - hits) + fg[k] * hits + 8) / 16);
    }
}

int shapes_argmax(const float *v, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return best;
}

int shapes_argmax_int(const int *v, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return best;
}

float shapes_cosine(const float *a, const float *b, int n) {
  double ab = 0, aa = 0, bb = 0;
  for (int i = 0; i < n; i++)
    ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
  return aa > 0 && bb > 0 ? (float)(ab / sqrt(aa * bb)) : 0.0f;
}
