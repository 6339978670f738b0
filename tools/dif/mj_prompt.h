/* mj_prompt.h — Midjourney-style prompt syntax for the dif command.
 *
 *   [image.png ...] text::weight text::weight ... [--ar W:H] [--no text]
 *                   [--iw N] [--seed N]
 *
 * Leading words that name image files (.png, .jpg, .jpeg, .webp, .gif, .bmp)
 * are image parts (a .gif or .bmp then fails with a message naming the
 * format rather than being drawn as words).
 * "::" ends a text part; a number right after it is that part's weight
 * (default 1, negative allowed). --iw sets the weight of the image parts,
 * --no the negative text, --ar the aspect ratio, --seed the seed. Unknown
 * --parameters are an error naming the supported ones. Every number (a
 * weight, --iw, --ar, --seed) is parsed strictly (numbers.h); a bad one is
 * an error naming the parameter and what it accepts, as is a parameter
 * without a value ("--no --ar 16:9").
 */
#ifndef DIF__TOOLS_MJ_PROMPT_H
#define DIF__TOOLS_MJ_PROMPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MJ_MAX_PARTS 16

typedef struct mj_part {
  char *text;  /* a text part, or NULL */
  char *image; /* an image path, or NULL */
  float weight;
} mj_part;

typedef struct mj_prompt {
  mj_part parts[MJ_MAX_PARTS];
  int n_parts;
  char *negative; /* --no, or NULL */
  int ar_w, ar_h; /* --ar, 0 if absent */
  bool has_iw, has_seed;
  float iw;
  uint64_t seed;
} mj_prompt;

/* Parses s into *p (zeroed first). Returns 0, or -1 with a message in err. */
int mj_parse(const char *s, mj_prompt *p, char *err, size_t err_size);
void mj_free(mj_prompt *p);

/* A width and height for aspect ratio aw:ah with about side×side pixels,
 * both multiples of 8. */
void mj_size_for_ratio(int side, int aw, int ah, int *w, int *h);

#endif
