/* guidance_embed.c — a latent consistency model's guidance-scale embedding
 * (the UNet's timestep_cond), as diffusers v0.26.3's
 * LatentConsistencyModelPipeline and StableDiffusionPipeline compute it:
 *
 *   w = torch.tensor(guidance_scale - 1).repeat(batch)     # float32
 *   get_guidance_scale_embedding(w, embedding_dim=unet.config.time_cond_proj_dim):
 *     w = w * 1000.0
 *     half_dim = embedding_dim // 2
 *     emb = torch.log(torch.tensor(10000.0)) / (half_dim - 1)
 *     emb = torch.exp(torch.arange(half_dim, dtype=float32) * -emb)
 *     emb = w[:, None] * emb[None, :]
 *     emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)   # sin first
 *     zero pad when embedding_dim is odd
 *
 * Every value is a float32 operation in that order; log and exp are torch's
 * own (samplers/torch_math.h), since an exp one ulp off moves the argument
 * of sin by up to 1000·w·6e-8. */
#include <math.h>
#include <string.h>

#include "pipelines/gen.h"
#include "samplers/torch_math.h"

/* One row: out[dim] for the float32 w (guidance_scale - 1). */
static void embed_row(float w, int64_t dim, float *out) {
  const int64_t half = dim / 2;
  const float x = w * 1000.0f;
  /* half_dim - 1 is 0 for dim 2 or 3: torch divides by zero (inf) and
   * exp(0 * -inf) is NaN; the caller refuses those sizes. */
  const float e = dif__torch_logf(10000.0f) / (float)(half - 1);
  for (int64_t i = 0; i < half; i++) {
    const float arg = x * dif__torch_expf((float)i * -e);
    out[i] = sinf(arg);
    out[half + i] = cosf(arg);
  }
  if (dim % 2) out[dim - 1] = 0.0f;
}

dif_status gen_guidance_embedding(gen *g) {
  const int64_t dim = g->m->unet.time_cond_dim, B = g->r->batch;
  if (dim < 4)
    return dif__fail(g->err, DIF_ERR_UNSUPPORTED,
                     "the UNet's time_cond_proj_dim %lld is too small for a guidance embedding "
                     "(diffusers divides by half of it minus one; at least 4)",
                     (long long)dim);
  g->tcond = gen_floats(g, B * dim, "guidance embedding");
  if (!g->tcond) return DIF_ERR_OUT_OF_MEMORY;
  /* torch.tensor(guidance_scale - 1): the Python float difference, then float32 */
  const float w = (float)((double)g->r->guidance - 1.0);
  embed_row(w, dim, g->tcond);
  for (int64_t b = 1; b < B; b++) memcpy(g->tcond + b * dim, g->tcond, (size_t)dim * sizeof(float));
  gen_trace(g, g->tcond, B * dim, "w_embedding");
  return DIF_OK;
}
