/* lora.h — LoRA files (kohya / AUTOMATIC1111 and diffusers / PEFT names),
 * merged into a model's weights as it loads.
 *
 * A LoRA adds a low-rank product to a Linear or Conv2d weight:
 *   W' = W + weight · (alpha / rank) · up · down
 * with down [rank, in(, kh, kw)] and up [out, rank(, 1, 1)]; several files
 * add one after the other, each with its own weight (diffusers v0.26.3's
 * fuse_lora computes the same sum). Names read, as diffusers v0.26.3's
 * load_lora_weights reads them (loaders/lora.py, lora_conversion_utils.py):
 *   - kohya / A1111: lora_unet_<module>.{lora_down.weight, lora_up.weight,
 *     alpha} and lora_te_ (or lora_te1_) for the text encoder, <module> the
 *     diffusers module name with its dots written as underscores
 *     (down_blocks_0_attentions_0_…_attn1_to_q). The module is the one
 *     tensor "<module>.weight" of the component whose name, dots as
 *     underscores, is that: exactly the module diffusers' replacement chain
 *     arrives at for these names (when two weights of the component share
 *     that form, a module naming it is refused, not guessed). alpha
 *     defaults to the rank.
 *   - diffusers: unet.<module>.lora.{down,up}.weight and
 *     text_encoder.<module>.lora_linear_layer.{down,up}.weight (what v0.26.3
 *     writes and reads without peft), and PEFT's <component>.<module>.
 *     lora_A.weight / lora_B.weight (A = down, B = up), and the older
 *     attention-processor names (unet.….attn1.processor.to_q_lora.down.
 *     weight, text_encoder.….self_attn.to_out_lora.up.weight); no alpha
 *     (scale 1).
 * Not read (refused naming the key): kohya names in the LDM layout
 * (lora_unet_input_blocks_…), SDXL's second text encoder (lora_te2_,
 * text_encoder_2.), LyCORIS/LoHa/LoKr tensors, and anything else.
 *
 * Memory: each targeted weight becomes an owned float32 copy (4 bytes per
 * element; the file's own tensor stays mapped and untouched, so a context
 * loaded without the LoRA has the original bits). Counted from SD-1.5's
 * shapes: its UNet's attention projections (to_q/k/v/out of 16 transformer
 * blocks) are 94M elements (374 MB merged), CLIP-L's attention and MLP
 * 85M (340 MB); an F16 model's own pages of those tensors are then no
 * longer read (the page cache may drop them). Float32 rather than the
 * file's dtype because the LoRA's contribution is a small delta that a
 * 16-bit sum would round away in part (diffusers fuses in float32 for
 * float32 models, which the fixtures check).
 */
#ifndef DIF__IO_LORA_H
#define DIF__IO_LORA_H

#include <stdbool.h>

#include "core/error.h"
#include "io/safetensors.h"

typedef enum dif__lora_component {
  DIF__LORA_UNET,
  DIF__LORA_TEXT_ENCODER,
  DIF__LORA_COMPONENTS
} dif__lora_component;

typedef struct dif__lora_module {
  dif__lora_component component;
  char name[256];       /* diffusers module name; kohya: with underscores */
  bool kohya;           /* name is kohya's form, resolved against the target */
  const char *down_key; /* the file's tensor names, for messages */
  const char *up_key;
  dif__tensor down, up; /* float32 (F16/BF16 converted by the file handle) */
  int64_t rank;
  float alpha; /* the file's, or the rank */
} dif__lora_module;

typedef struct dif__lora {
  char *path;
  dif__safetensors *st;
  const char *format; /* "kohya" or "diffusers" */
  dif__lora_module *mods;
  size_t n;
  size_t merged[DIF__LORA_COMPONENTS]; /* dif__lora_apply calls that merged its modules */
} dif__lora;

/* Opens and checks path: every key known, each module with a down and an
 * up of matching rank, shapes of a Linear/Conv LoRA, alphas finite and
 * positive, every value finite. Messages name the file and the key. */
dif_status dif__lora_open(const char *path, dif__lora **out, dif__error *err);
/* Same over an open file (fuzzers: dif__st_open_memory), which the LoRA
 * then owns (closed on failure too). */
dif_status dif__lora_open_st(dif__safetensors *st, dif__lora **out, dif__error *err);
void dif__lora_close(dif__lora *l);

/* Modules of l for component c. */
size_t dif__lora_count(const dif__lora *l, dif__lora_component c);

/* One LoRA with its weight, as applied. */
typedef struct dif__lora_use {
  dif__lora *lora;
  float weight;
} dif__lora_use;

/* Merges the component-c modules of every use into target (a component's
 * weights file): all modules are resolved and checked against the target's
 * tensors first (a module the target lacks, or whose shape differs, fails
 * naming the LoRA file, its tensor and the target's), then the merged
 * float32 weights are computed and installed together
 * (dif__st_replace_weights): on failure target is unchanged. */
dif_status dif__lora_apply(const dif__lora_use *uses, int n, dif__lora_component c,
                           dif__safetensors *target, dif__error *err);

#endif
