/* checkpoint_preset.c — which of libdif's presets a single-file checkpoint
 * loads with when no config folder is given (see checkpoint.h). One row per
 * preset: what the tensors must say (text encoder layout, UNet input
 * channels), and the file-name words that pick it
 * among presets of the same shapes (the first row that fits wins). */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "io/checkpoint.h"

typedef struct preset_rule {
  const char *name;
  bool sd2;                /* the text encoder in the OpenCLIP (SD-2.x) layout, else CLIP */
  int64_t in_channels;     /* 4, or 9 for inpainting */
  const char *name_has[2]; /* words of the file name that pick it; {NULL}: any name */
  const char *why;
} preset_rule;

static const preset_rule rules[] = {
    {"sd15", false, 4, {NULL}, "SD-1.x tensors"},
    {"sd15-inpaint", false, 9, {NULL}, "SD-1.x inpainting tensors (9 input channels)"},
    {"sd2-inpaint", true, 9, {NULL}, "SD-2.x inpainting tensors (9 input channels)"},
    {"sd-turbo", true, 4, {"turbo", NULL}, "SD-2.x tensors; the file name says turbo"},
    {"sd21-base", true, 4, {"512", "base"}, "SD-2.x tensors; the file name says 512 or base"},
    {"sd21",
     true,
     4,
     {NULL},
     "SD-2.x tensors; 768 px v-prediction, diffusers' choice for an SD-2.x file whose name "
     "says nothing else (turbo, 512, base)"},
};

/* Does the file's base name contain word (ASCII, any case)? */
static bool name_has(const char *path, const char *word) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t n = strlen(word);
  for (const char *p = base; *p; p++) {
    size_t i = 0;
    while (i < n && p[i] && tolower((unsigned char)p[i]) == word[i]) i++;
    if (i == n) return true;
  }
  return false;
}

static bool fits_name(const preset_rule *r, const char *path) {
  if (!r->name_has[0]) return true;
  for (size_t i = 0; i < sizeof r->name_has / sizeof *r->name_has && r->name_has[i]; i++)
    if (name_has(path, r->name_has[i])) return true;
  return false;
}

const char *dif__checkpoint_preset(const dif__checkpoint *c, const char **why) {
  const dif__ckpt_info *in = dif__checkpoint_describe(c);
  if (in->class_embed_in) {
    *why = "a Stable unCLIP checkpoint holds no CLIP image encoder that diffusers reads: its "
           "folder (e.g. stable-diffusion-2-1-unclip-small) must be given with --config DIR";
    return NULL;
  }
  for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
    const preset_rule *r = &rules[i];
    if (in->has_text_encoder && r->sd2 == in->openclip && r->in_channels == in->unet_in_channels &&
        fits_name(r, dif__checkpoint_path(c))) {
      *why = r->why;
      return r->name;
    }
  }
  *why = in->has_text_encoder
             ? "no preset has its UNet's input channels: give the diffusers folder of the same "
               "model with --config"
             : "it has no text encoder, which tells SD-1.x from SD-2.x: give the diffusers "
               "folder of the same model with --config";
  return NULL;
}
