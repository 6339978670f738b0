/* kinds.h — one entry point per case kind (kind_<name>.c). */
#ifndef DIF__GOLDEN_KINDS_H
#define DIF__GOLDEN_KINDS_H

#include "golden.h"

int golden_kind_image_normalizer(golden *g, const char *dir);
int golden_kind_clip_text(golden *g, const char *dir);
int golden_kind_single_file(golden *g, const char *dir);
int golden_kind_lora(golden *g, const char *dir);
int golden_kind_few_step(golden *g, const char *dir);
int golden_kind_textual_inversion(golden *g, const char *dir);
int golden_kind_clip_vision(golden *g, const char *dir);
int golden_kind_unet(golden *g, const char *dir);
int golden_kind_vae(golden *g, const char *dir);
int golden_kind_prior(golden *g, const char *dir);
int golden_kind_rng(golden *g, const char *dir);
int golden_kind_clip_preprocess(golden *g, const char *dir);
int golden_kind_schedulers(golden *g, const char *dir);

int golden_kind_pipelines(golden *g, const char *dir);
int golden_kind_inpaint(golden *g, const char *dir);
int golden_kind_upscale(golden *g, const char *dir);
int golden_kind_noise_image_embeddings(golden *g, const char *dir);

int golden_kind_tokenizer(golden *g, const char *dir);

#endif
