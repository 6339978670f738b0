/* embeds.h — arithmetic on CLIP image embeddings: combining prompt parts and
 * Stable unCLIP's noise augmentation.
 *
 * Combining parts (dif_prompt's weighted text and image parts), for part
 * embeddings e_i with weights w_i (W = Σ w_i must be > 0):
 *
 *   sum:   s = Σ w_i e_i;  e = s / ‖s‖ · (Σ w_i ‖e_i‖) / W
 *          (the direction of the weighted sum, with the weighted mean norm:
 *          averaging dissimilar embeddings would otherwise shrink them)
 *   slerp: r = e_1, V = w_1; for i = 2..n: r = slerp(r, e_i, w_i / (V + w_i)),
 *          V += w_i — spherical interpolation of the directions with the norm
 *          interpolated linearly (DALL-E 2 style); a weight fraction outside
 *          [0, 1] (a negative weight) extrapolates along the great circle.
 *
 * One part with any positive weight gives that part's embedding unchanged,
 * so a plain prompt reproduces diffusers exactly. Both rules are tested in
 * tests/unit/test-embeds.c and documented in docs/prompts.md.
 */
#ifndef DIF__PIPELINES_EMBEDS_H
#define DIF__PIPELINES_EMBEDS_H

#include <stdint.h>

#include "core/error.h"
#include "models/image_normalizer.h"
#include "samplers/rng.h"
#include "samplers/scheduler.h"

typedef enum dif__blend_rule { DIF__BLEND_RULE_SUM = 0, DIF__BLEND_RULE_SLERP = 1 } dif__blend_rule;

/* out[dim] = the combination of parts[n][dim] (rows) with weights[n]. */
dif_status dif__embeds_combine(dif__blend_rule rule, const float *parts, const float *weights,
                               int n, int64_t dim, float *out, dif__error *err);

/* StableUnCLIPImg2ImgPipeline.noise_image_embeddings for rows [B, D]:
 * e = unscale(add_noise(scale(embeds), noise, noise_level)) and
 * out[B, 2D] = cat(e, timestep_embedding(noise_level, D, flip_sin_to_cos)).
 * noise[B, D] is used as given (the caller draws it). */
dif_status dif__noise_image_embeddings(const dif__image_normalizer *norm,
                                       const dif__scheduler *noising, const float *embeds,
                                       const float *noise, int64_t B, int noise_level, float *out,
                                       dif__error *err);

#endif
