/* shapes.h — what a picture of dif-shapes-64's world shows, measured the way
 * the model's eval.json measured it (models/dif-shapes-64/README.md,
 * "Evaluation"), for the semantic tests and tools/eval-default-model.
 *
 *   - every pixel gets the nearest of the 8 palette colours (RGB distance);
 *   - the background is the most frequent label of the 3-pixel border;
 *   - the shape colours are the most frequent non-background labels, as many
 *     as the caption has shape colours, each covering at least
 *     SHAPES_MIN_PIXELS pixels (fewer found: a shape is missing);
 *   - a shape's kind comes from the fill ratio of the largest 4-connected
 *     component of its colour in its bounding box: square > 0.88 > circle >
 *     0.64 > triangle.
 *
 * eval.json records results, not its palette; the palette here is the
 * colours the model draws for "on a <colour> background" (measured with
 * libdif, rounded), which is what its training data used up to ±12 jitter.
 * Pure C, no libdif: the callers do the CLIP part (retrieval). */
#ifndef SHAPES_H
#define SHAPES_H

#include <stdint.h>

enum {
  SHAPES_RED,
  SHAPES_GREEN,
  SHAPES_BLUE,
  SHAPES_YELLOW,
  SHAPES_PURPLE,
  SHAPES_ORANGE,
  SHAPES_WHITE,
  SHAPES_BLACK,
  SHAPES_N_COLOURS
};
enum { SHAPES_NO_KIND = -1, SHAPES_CIRCLE, SHAPES_SQUARE, SHAPES_TRIANGLE };

#define SHAPES_MAX 2         /* shapes per caption */
#define SHAPES_MIN_PIXELS 16 /* a colour must cover 4x4 pixels to count as a shape */
#define SHAPES_N_EVAL 20     /* the eval.json prompts */
#define SHAPES_N_HELD_OUT 5  /* of them, with a held-out triple: every 4th from the 4th */

extern const uint8_t shapes_palette[SHAPES_N_COLOURS][3];
extern const char *const shapes_eval_prompts[SHAPES_N_EVAL];
extern const uint64_t shapes_eval_seeds[3]; /* 0, 1000, 2000 */

const char *shapes_colour_name(int colour); /* "red", ...; "-" for -1 */
const char *shapes_kind_name(int kind);     /* "circle", ...; "-" for SHAPES_NO_KIND */
int shapes_is_held_out(int prompt_index);   /* eval prompt i uses a held-out triple */

/* What a caption asks for. */
typedef struct shapes_caption {
  int background;  /* colour, or -1 if the caption names none */
  int background2; /* a two-tone background's second colour, or -1 */
  int n_shapes;    /* 0..SHAPES_MAX */
  int colour[SHAPES_MAX], kind[SHAPES_MAX];
  int n_colours; /* distinct shape colours */
} shapes_caption;

/* Parses a caption of the model's vocabulary ("a small red circle on the left
 * and a blue square on a green background"). Returns 0, or -1 if it names no
 * shape and no background. */
int shapes_parse(const char *caption, shapes_caption *out);

/* What a picture shows. */
typedef struct shapes_picture {
  int background;
  int n_present; /* shape colours found, most frequent first */
  int present[SHAPES_MAX];
  int present_pixels[SHAPES_MAX];
  int kind[SHAPES_MAX]; /* kind of each present colour's largest blob */
} shapes_picture;

/* Labels RGB8 pixels (rows of width*3 bytes) looking for n_colours shape
 * colours (0..SHAPES_MAX). */
void shapes_analyse(const uint8_t *rgb, int width, int height, int n_colours, shapes_picture *out);

/* The three pixel checks of eval.json for one picture of a caption. */
int shapes_background_ok(const shapes_caption *c, const shapes_picture *p); /* either tone */
int shapes_colours_ok(const shapes_caption *c, const shapes_picture *p);    /* same set */
int shapes_kinds_ok(const shapes_caption *c, const shapes_picture *p);      /* every shape */

/* Draws one shape of `colour` and `kind` centred at (cx, cy) with radius r
 * (half the side of a square, the circumradius of an upward triangle) on a
 * `background` picture, anti-aliased by 4x4 supersampling: the kind of
 * picture the model was trained on. */
void shapes_render(uint8_t *rgb, int width, int height, int background, int colour, int kind,
                   float cx, float cy, float r);

/* Index of the largest of n values (the first on ties). */
int shapes_argmax(const float *v, int n);
int shapes_argmax_int(const int *v, int n);
/* Cosine similarity of two vectors of n floats. */
float shapes_cosine(const float *a, const float *b, int n);

#endif
