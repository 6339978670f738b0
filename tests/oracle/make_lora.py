"""tests/fixtures LoRA files on tests/golden's tiny-sd and cases/lora/: diffusers v0.26.3 `load_lora_weights`.

Usage (repository root): /usr/bin/python3 tests/oracle/make_lora.py tests/fixtures

Writes
  models/lora/tiny-sd.kohya.safetensors      kohya / AUTOMATIC1111 names (lora_unet_* / lora_te_*, .lora_down.weight,
                                             .lora_up.weight, .alpha): UNet attention to_q/to_k/to_v/to_out.0 (attn1 and
                                             attn2 of every transformer block), ff.net.0.proj and ff.net.2, proj_in /
                                             proj_out (1x1 convolutions), two ResNet conv1 (3x3 LoRA convolutions:
                                             down 3x3, up 1x1); text encoder q/k/v/out_proj and mlp fc1/fc2 of every
                                             layer. Rank 4, alpha 2 (Linear and 1x1); rank 2, alpha 3 (3x3 convs).
  models/lora/tiny-sd.diffusers.safetensors  the names diffusers v0.26.3 reads without the `peft` package (what its
                                             non-PEFT save_lora_weights writes): unet.<module>.lora.down.weight /
                                             .lora.up.weight and text_encoder.<module>.lora_linear_layer.down.weight /
                                             .up.weight, no alphas (scale 1): UNet attention projections, text encoder
                                             q/k/v/out_proj. Rank 3.
  models/lora/tiny-sd.peft.safetensors       the same tensors as tiny-sd.diffusers under PEFT's names
                                             (unet.<module>.lora_A.weight / lora_B.weight, text_encoder.… the same).
                                             diffusers v0.26.3 without peft cannot load PEFT UNet names (KeyError
                                             'lora.down.weight' in UNet2DConditionModel.load_attn_procs; Debian has no
                                             peft), so its reference is the diffusers-named file's run (same tensors).
  models/lora/tiny-sd.legacy.safetensors     the same tensors under diffusers' older attention-processor names
                                             (unet.<attn>.processor.to_q_lora.down.weight, to_out_lora;
                                             text_encoder.<attn>.to_q_lora.down.weight), which v0.26.3 still reads
                                             (convert_state_dict_legacy_attn_format, DIFFUSERS_OLD_TO_DIFFUSERS).
  cases/lora/<name>.safetensors + index.json (tensors as tests/golden's sd_txt2img cases, plus merged.* below)

Every LoRA tensor: torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 0.2, one generator per file
(seeds 1801 kohya, 1802 diffusers), modules in the order listed in the file's metadata (`settings.modules`).

Cases (prompt, negative prompt, guidance 7.5, 5 PNDM steps, 32x32, seed 31: tests/golden's sd_txt2img.32x32):
  kohya.s0.8     pipe.load_lora_weights(kohya file); pipe(..., cross_attention_kwargs={"scale": 0.8}): v0.26.3 without
                 peft applies the scale to the UNet's LoRA layers and, through encode_prompt's lora_scale
                 (adjust_lora_scale_text_encoder), to the text encoder's.
  diffusers.s0.5 the diffusers-named file, scale 0.5.
  legacy.s0.5    the legacy-named file loaded by diffusers itself, scale 0.5.
  peft.s0.5      the PEFT-named file: reference = the diffusers.s0.5 run (same tensors, names only differ).
  unclip_img2img.diffusers.s0.7  tests/golden's unclip_img2img.nl0.gs10.32x32 run (StableUnCLIPImg2ImgPipeline on
                 tiny-unclip, image input_32x32.png, prompt "", noise_level 0, guidance 10, 4 steps, seed 1010) with the
                 diffusers file at scale 0.7: the decoder's text encoder and UNet (the same LoRA fits tiny-unclip's
                 shapes). Its image differs from the LoRA-less golden case by 0.336 (max abs).
  two.k0.8.d0.5  both files: load kohya, pipe.fuse_lora(lora_scale=0.8), load diffusers, fuse_lora(lora_scale=0.5)
                 (v0.26.3 without peft keeps one unfused LoRA per layer, so two at once = fused one after the other),
                 then pipe(...) without a scale.
merged.<component>.<tensor>: for a few weights, the values after pipe.fuse_lora(lora_scale=s) in the same process
(W + s * alpha/rank * up @ down, computed by diffusers), per case. settings.fused_vs_unfused_max_abs: the image of the
fused pipeline against the unfused run (how far fusing moves the result, i.e. the reference's own merge noise).
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_common as fc  # noqa: E402

import diffusers  # noqa: E402
from diffusers.utils import USE_PEFT_BACKEND  # noqa: E402

torch.set_num_threads(1)
assert not USE_PEFT_BACKEND, "the fixtures are for diffusers v0.26.3's non-PEFT path"

TINY = os.path.join(fc.GOLDEN, "models", "tiny-sd")
RUN = {"prompt": "a watercolor painting of a lighthouse", "negative_prompt": "ugly", "guidance_scale": 7.5,
       "num_inference_steps": 5, "height": 32, "width": 32, "seed": 31,
       "generator": "torch.Generator('cpu').manual_seed(31)"}
MERGED = [("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"),
          ("unet", "mid_block.attentions.0.transformer_blocks.0.attn2.to_v.weight"),
          ("unet", "up_blocks.1.attentions.1.proj_out.weight"),
          ("unet", "down_blocks.0.resnets.0.conv1.weight"),
          ("text_encoder", "text_model.encoder.layers.0.self_attn.q_proj.weight"),
          ("text_encoder", "text_model.encoder.layers.2.mlp.fc1.weight")]


def kohya_name(prefix, module):
    return prefix + module.replace(".", "_")


def lora_pair(g, out_f, in_f, rank, k=1):
    down = torch.randn(rank, in_f, k, k, generator=g) * 0.2 if k > 1 else torch.randn(rank, in_f, generator=g) * 0.2
    up = torch.randn(out_f, rank, generator=g) * 0.2
    return down, up


def unet_targets(unet, attn_only):
    out = []
    for name, m in unet.named_modules():
        if name.endswith((".to_q", ".to_k", ".to_v", ".to_out.0")):
            out.append((name, m.out_features, m.in_features, 1))
        elif not attn_only and name.endswith((".ff.net.0.proj", ".ff.net.2")):
            out.append((name, m.out_features, m.in_features, 1))
        elif not attn_only and name.endswith((".proj_in", ".proj_out")):
            out.append((name, m.out_channels, m.in_channels, 1))
        elif not attn_only and name in ("down_blocks.0.resnets.0.conv1", "mid_block.resnets.0.conv1"):
            out.append((name, m.out_channels, m.in_channels, 3))
    return out


def te_targets(te, mlp):
    out = []
    for name, m in te.named_modules():
        if name.endswith((".q_proj", ".k_proj", ".v_proj", ".out_proj")) or (mlp and name.endswith((".fc1", ".fc2"))):
            out.append((name, m.out_features, m.in_features, 1))
    return out


def conv_shape(t, linear_like):
    """LoRA of a convolution: down (r, in, k, k), up (out, r, 1, 1); of a 1x1 convolution both 4-D 1x1"""
    return t if not linear_like else t.reshape(*t.shape, 1, 1) if t.ndim == 2 else t


def make_kohya(pipe, path):
    g = torch.Generator().manual_seed(1801)
    st, mods = {}, []
    for comp, prefix, targets in (("unet", "lora_unet_", unet_targets(pipe.unet, False)),
                                  ("text_encoder", "lora_te_", te_targets(pipe.text_encoder, True))):
        for name, o, i, k in targets:
            rank, alpha = (2, 3.0) if k == 3 else (4, 2.0)
            down, up = lora_pair(g, o, i, rank, k)
            conv = comp == "unet" and (k == 3 or name.endswith(("proj_in", "proj_out")))
            key = kohya_name(prefix, name)
            st[key + ".lora_down.weight"] = conv_shape(down, conv)
            st[key + ".lora_up.weight"] = conv_shape(up, conv)
            st[key + ".alpha"] = torch.tensor(alpha)
            mods.append([comp, name, rank, alpha, k])
    save_file(st, path, metadata={"settings": json.dumps({"seed": 1801, "scale": "randn * 0.2", "modules": mods})})
    return mods


def legacy_name(comp, name):
    """<attn>.to_q -> <attn>.processor.to_q_lora (UNet), <attn>.q_proj -> <attn>.to_q_lora (text encoder)"""
    attn, proj = name.rsplit(".", 1) if not name.endswith("to_out.0") else (name[:-9], "to_out")
    if comp == "unet":
        return f"{attn}.processor.{proj}_lora"
    return f"{attn}.to_{proj[0] if proj != 'out_proj' else 'out'}_lora"


def make_diffusers(pipe, path, peft_path, legacy_path):
    g = torch.Generator().manual_seed(1802)
    st, peft, legacy, mods = {}, {}, {}, []
    for comp, targets, mid in (("unet", unet_targets(pipe.unet, True), "lora"),
                               ("text_encoder", te_targets(pipe.text_encoder, False), "lora_linear_layer")):
        for name, o, i, k in targets:
            down, up = lora_pair(g, o, i, 3)
            st[f"{comp}.{name}.{mid}.down.weight"] = down
            st[f"{comp}.{name}.{mid}.up.weight"] = up
            peft[f"{comp}.{name}.lora_A.weight"] = down
            peft[f"{comp}.{name}.lora_B.weight"] = up
            legacy[f"{comp}.{legacy_name(comp, name)}.down.weight"] = down
            legacy[f"{comp}.{legacy_name(comp, name)}.up.weight"] = up
            mods.append([comp, name, 3, None, 1])
    meta = {"settings": json.dumps({"seed": 1802, "scale": "randn * 0.2", "modules": mods})}
    save_file(st, path, metadata=meta)
    save_file(peft, peft_path, metadata=meta)
    save_file(legacy, legacy_path, metadata=meta)
    return mods


def load_pipe():
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(TINY)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(pipe, scale):
    """the sd_txt2img.32x32 run, recorded as tests/golden records it"""
    fc.start_case()
    kw = {k: RUN[k] for k in ("prompt", "negative_prompt", "guidance_scale", "num_inference_steps", "height",
                              "width")}
    if scale is not None:
        kw["cross_attention_kwargs"] = {"scale": scale}
    img = pipe(**kw, generator=torch.Generator().manual_seed(RUN["seed"]), output_type="np",
               callback_on_step_end=fc.mp.callback_new, callback_on_step_end_tensor_inputs=["latents"]).images
    out = torch.from_numpy(np.asarray(img, dtype=np.float32))
    fc.rec("out.images", out)
    return out


def wrap(pipe):
    fc.mp.wrap_unet(pipe.unet)
    fc.mp.wrap_text(pipe.text_encoder, "text_encoder")
    fc.mp.wrap_vae_decode(pipe.vae)


def merged(pipe):
    comps = {"unet": pipe.unet, "text_encoder": pipe.text_encoder}
    out = {}
    for comp, t in MERGED:
        sd = comps[comp].state_dict()
        key = t if t in sd else t.replace(".weight", ".regular_linear_layer.weight")
        out[f"merged.{comp}.{t}"] = sd[key].detach().clone()
    return out


def unfused_image(pipe, scale):
    """the image of pipe without recording (to compare fused and unfused)"""
    kw = {k: RUN[k] for k in ("prompt", "negative_prompt", "guidance_scale", "num_inference_steps", "height",
                              "width")}
    if scale is not None:
        kw["cross_attention_kwargs"] = {"scale": scale}
    saved = (dict(fc.REC), dict(fc.COUNT))
    img = pipe(**kw, generator=torch.Generator().manual_seed(RUN["seed"]), output_type="np").images
    fc.REC.clear(), fc.COUNT.clear()
    fc.REC.update(saved[0]), fc.COUNT.update(saved[1])
    return torch.from_numpy(np.asarray(img, dtype=np.float32))


def unclip_case(outd, index, lora_dir, name, lora_key, files, weight):
    """tests/golden's unclip_img2img.nl0.gs10.32x32 run (StableUnCLIPImg2ImgPipeline on tiny-unclip: its decoder text
    encoder and UNet) with a LoRA at cross_attention_kwargs={"scale": weight}"""
    from PIL import Image
    from safetensors import safe_open
    unclip = os.path.join(fc.GOLDEN, "models", "tiny-unclip")
    gcase = os.path.join(fc.GOLDEN, "cases", "pipelines", "unclip_img2img.nl0.gs10.32x32.safetensors")
    with safe_open(gcase, "pt") as f:
        g = json.loads(f.metadata()["settings"])
    image = Image.open(os.path.join(fc.GOLDEN, "cases", "pipelines", g["image"])).convert("RGB")
    pipe = diffusers.StableUnCLIPImg2ImgPipeline.from_pretrained(unclip)
    pipe.set_progress_bar_config(disable=True)
    wrap(pipe)
    fc.mp.wrap_image_encoder(pipe.image_encoder)
    pipe.load_lora_weights(lora_dir, weight_name=os.path.basename(files[lora_key]), low_cpu_mem_usage=False)
    fc.start_case()
    kw = {k: g[k] for k in ("prompt", "noise_level", "guidance_scale", "num_inference_steps", "height", "width")}
    img = pipe(image=image, **kw, cross_attention_kwargs={"scale": weight}, output_type="np",
               generator=torch.Generator().manual_seed(g["seed"]), callback=fc.mp.callback_old, callback_steps=1).images
    fc.rec("out.images", torch.from_numpy(np.asarray(img, dtype=np.float32)))
    s = dict(g, model=fc.ref(unclip), image="cases/pipelines/" + g["image"],
             golden_case="cases/pipelines/unclip_img2img.nl0.gs10.32x32.safetensors",
             loras=[{"file": fc.ref(files[lora_key]), "weight": weight, "format": lora_key}],
             diffusers_call=f"load_lora_weights, pipe(..., cross_attention_kwargs={{'scale': {weight}}})")
    extra = {"in.image_uint8": fc.uint8_tensor(image)}
    fc.save_case(outd, index, name, type(pipe).__name__, s, extra)
    print(name, "done")


def main():
    root = fc.root()
    lora_dir = fc.out_dir("models/lora")
    outd = fc.out_dir("cases/lora")
    index = {"versions": fc.versions(), "runs": []}
    files = {"kohya": os.path.join(lora_dir, "tiny-sd.kohya.safetensors"),
             "diffusers": os.path.join(lora_dir, "tiny-sd.diffusers.safetensors"),
             "peft": os.path.join(lora_dir, "tiny-sd.peft.safetensors"),
             "legacy": os.path.join(lora_dir, "tiny-sd.legacy.safetensors")}
    base = load_pipe()
    mods = {"kohya": make_kohya(base, files["kohya"])}
    mods["diffusers"] = make_diffusers(base, files["diffusers"], files["peft"], files["legacy"])
    wrap(base)
    plain = run(base, None)

    def case(name, loras, scale_kw, fuse_plan):
        """loras: [(file key, weight)]; scale_kw: the cross_attention_kwargs scale or None; fuse_plan: fuse each
        after loading (the two-LoRA case)"""
        pipe = load_pipe()
        wrap(pipe)
        for key, w in loras:
            pipe.load_lora_weights(lora_dir, weight_name=os.path.basename(files[key if key != "peft" else
                                                                                 "diffusers"]),
                                   low_cpu_mem_usage=False)
            if fuse_plan:
                pipe.fuse_lora(lora_scale=w)
        img = run(pipe, scale_kw)
        rec = dict(fc.REC)
        if not fuse_plan:  # the merged weights as diffusers fuses them, and the fused pipeline's image
            pipe.fuse_lora(lora_scale=scale_kw)
            fused = unfused_image(pipe, None)
        else:
            fused = img
        fc.REC.clear()
        fc.REC.update(rec)
        s = dict({"model": fc.ref(TINY)}, **RUN)
        s["scheduler"] = fc.sched_ref(pipe.scheduler, os.path.join(TINY, "scheduler"), {})
        s["loras"] = [{"file": fc.ref(files[k]), "weight": w, "format": k} for k, w in loras]
        s["diffusers_call"] = ("load_lora_weights each, fuse_lora(lora_scale=weight) after each, pipe(...)"
                               if fuse_plan else
                               f"load_lora_weights, pipe(..., cross_attention_kwargs={{'scale': {scale_kw}}})")
        if any(k == "peft" for k, _ in loras):
            s["reference"] = ("the run of models/lora/tiny-sd.diffusers.safetensors (same tensors under the names "
                              "diffusers v0.26.3 reads without peft)")
        s["fused_vs_unfused_max_abs"] = float((fused - img).abs().max())
        s["vs_no_lora_max_abs"] = float((img - plain).abs().max())
        fc.save_case(outd, index, name, type(pipe).__name__, s, merged(pipe))
        print(name, "image moved by the LoRA", s["vs_no_lora_max_abs"], "fused vs unfused",
              s["fused_vs_unfused_max_abs"])

    case("kohya.s0.8", [("kohya", 0.8)], 0.8, False)
    case("diffusers.s0.5", [("diffusers", 0.5)], 0.5, False)
    case("legacy.s0.5", [("legacy", 0.5)], 0.5, False)
    case("peft.s0.5", [("peft", 0.5)], 0.5, False)
    case("two.k0.8.d0.5", [("kohya", 0.8), ("diffusers", 0.5)], None, True)
    unclip_case(outd, index, lora_dir, "unclip_img2img.diffusers.s0.7", "diffusers", files, 0.7)
    fc.write_json(os.path.join(outd, "index.json"), index)
    del root


if __name__ == "__main__":
    main()
