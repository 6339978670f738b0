/* kinds.c — the case kinds dif-golden knows. Add one line per kind. */
#include "kinds.h"

const golden_kind golden_kinds[] = {
    {"image_normalizer", golden_kind_image_normalizer},
    {"clip_text", golden_kind_clip_text},
    {"clip_vision", golden_kind_clip_vision},
    {"unet", golden_kind_unet},
    {"vae", golden_kind_vae},
    {"prior", golden_kind_prior},
    {"rng", golden_kind_rng},
    {"clip_preprocess", golden_kind_clip_preprocess},
    {"pipelines", golden_kind_pipelines},
    {"inpaint", golden_kind_inpaint},
    {"upscale", golden_kind_upscale},
    {"noise_image_embeddings", golden_kind_noise_image_embeddings},
    {"schedulers", golden_kind_schedulers},
    {"tokenizer", golden_kind_tokenizer},
    {"single_file", golden_kind_single_file},
    {"lora", golden_kind_lora},
    {"few_step", golden_kind_few_step},
    {"textual_inversion", golden_kind_textual_inversion},
    {NULL, NULL},
};
