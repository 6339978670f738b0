"""tests/fixtures single-file checkpoints: tests/golden's tiny models as one .safetensors each, in the
original LDM / OpenCLIP layout, checked by diffusers v0.26.3's own single-file conversion.

Writes
  models/single-file/tiny-sd.ldm.safetensors      SD-1.x layout (cond_stage_model.transformer.*)
  models/single-file/tiny-unclip.ldm.safetensors  SD-2.x / Stable unCLIP layout (OpenCLIP text encoder
                                                  cond_stage_model.model.* with fused in_proj, label_emb)
  models/single-file/tiny-sd.ldm.f16.safetensors  the SD-1.x file in F16 (the script's --half), as most
                                                  shared checkpoints are
  cases/single_file/<name>.safetensors            one case per checkpoint (below)

Writer.  diffusers' scripts/convert_diffusers_to_original_stable_diffusion.py is imported unmodified
and used where its output is right: the text encoders (SD-1.x identity, SD-2.x
convert_text_enc_state_dict_v20 with its fused in_proj) and, where it round-trips, the UNet.  The
script hard-codes SD's four levels with two layers each (input_blocks.{3*i+j+1}, decoder up.{3-i}),
so it cannot write the tiny models' two-level VAEs nor tiny-sd's one-layer UNet, and it reshapes the VAE
attention biases to (C, 1, 1) along with the weights (diffusers' loader then fails on them, for any
model: checked on tiny-sd-layout, whose SD-1.5 layout the script handles otherwise): those parts are
written by `ldm_unet` / `ldm_vae` below, the inverse of the mapping that diffusers' loader
(loaders/single_file_utils.py convert_ldm_unet_checkpoint / convert_ldm_vae_checkpoint) applies.
Each part's metadata says which writer made it.

Oracle.  Every checkpoint is read back with diffusers v0.26.3's single-file conversion functions —
the ones `from_single_file` calls — given the tiny folder's configs (what diffusers'
`from_single_file(..., config=...)` means; v0.26.3 itself only takes an LDM yaml):
convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint, create_text_encoder_from_ldm_clip_checkpoint /
create_text_encoder_from_open_clip_checkpoint.  The converted state dicts must equal the folder's
tensors bit for bit (asserted, and recorded per tensor as shape + sha256 of the float32 bytes), and
the pipeline built from the converted parts must draw exactly what the folder draws with the settings of
the tests/golden pipeline case named in the case (asserted; stored as out.images).

Case tensors: out.images (the image from the converted parts).  Metadata (JSON strings):
  settings: {checkpoint, config (the folder), family, golden_case, parts_from_checkpoint,
             parts_from_config, writer, notes}
  converted: {component: {diffusers name: [shape, sha256]}}
  versions.
"""
import hashlib
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "oracle", "diffusers"))
sys.path.insert(0, os.path.join(os.environ.get("ORACLE_SRC", "/tmp/oracle-src"), "diffusers-v0.26.3", "scripts"))

from common import out_dir, save_st, transformers_compat, versions  # noqa: E402

transformers_compat()
torch.set_num_threads(1)  # as tests/golden (versions.torch_num_threads 1): same sums, same bits

import convert_diffusers_to_original_stable_diffusion as script  # noqa: E402
from diffusers.loaders import single_file_utils as sfu  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "golden")

RESNET = [("in_layers.0", "norm1"), ("in_layers.2", "conv1"), ("out_layers.0", "norm2"),
          ("out_layers.3", "conv2"), ("emb_layers.1", "time_emb_proj"), ("skip_connection", "conv_shortcut")]


def resnet_to_ldm(rest):
    for ldm, hf in RESNET:
        if rest.startswith(hf + "."):
            return ldm + rest[len(hf):]
    return rest


def ldm_unet(sd, cfg):
    """diffusers UNet names -> LDM names (inverse of convert_ldm_unet_checkpoint for this config)"""
    lpb = cfg["layers_per_block"]
    inv = sfu.DIFFUSERS_TO_LDM_MAPPING["unet"]["layers"]  # diffusers -> ldm
    cls = sfu.DIFFUSERS_TO_LDM_MAPPING["unet"]["class_embed_type"]
    out = {}
    for k, v in sd.items():
        p = k.split(".")
        if k in inv:
            n = inv[k]
        elif k in cls:
            n = cls[k]
        elif p[0] == "down_blocks":
            b, rest = int(p[1]), ".".join(p[4:])
            if p[2] == "resnets":
                n = f"input_blocks.{1 + b * (lpb + 1) + int(p[3])}.0.{resnet_to_ldm(rest)}"
            elif p[2] == "attentions":
                n = f"input_blocks.{1 + b * (lpb + 1) + int(p[3])}.1.{rest}"
            else:  # downsamplers.0.conv.*
                n = f"input_blocks.{(b + 1) * (lpb + 1)}.0.op.{p[-1]}"
        elif p[0] == "up_blocks":
            b, rest = int(p[1]), ".".join(p[4:])
            if p[2] == "resnets":
                n = f"output_blocks.{b * (lpb + 1) + int(p[3])}.0.{resnet_to_ldm(rest)}"
            elif p[2] == "attentions":
                n = f"output_blocks.{b * (lpb + 1) + int(p[3])}.1.{rest}"
            else:  # upsamplers.0.conv.*: after the attention if the block has one
                has_attn = any(x.startswith(f"up_blocks.{b}.attentions.") for x in sd)
                n = f"output_blocks.{b * (lpb + 1) + lpb}.{2 if has_attn else 1}.conv.{p[-1]}"
        elif p[0] == "mid_block":
            rest = ".".join(p[3:])
            n = (f"middle_block.{2 * int(p[2])}.{resnet_to_ldm(rest)}" if p[1] == "resnets"
                 else f"middle_block.1.{rest}")
        else:
            raise SystemExit(f"unet: no LDM name for {k}")
        out["model.diffusion_model." + n] = v
    return out


def ldm_vae(sd, cfg):
    """diffusers AutoencoderKL names -> LDM first_stage_model names, attention weights as 1x1 convs"""
    n_up = len(cfg["up_block_types"])
    inv = sfu.DIFFUSERS_TO_LDM_MAPPING["vae"]  # diffusers -> ldm
    attn = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
    out = {}
    for k, v in sd.items():
        p = k.split(".")
        side = p[0]
        if k in inv:
            n = inv[k]
        elif p[1] == "down_blocks":
            rest = ".".join(p[5:]).replace("conv_shortcut", "nin_shortcut")
            n = (f"{side}.down.{p[2]}.block.{p[4]}.{rest}" if p[3] == "resnets"
                 else f"{side}.down.{p[2]}.downsample.conv.{p[-1]}")
        elif p[1] == "up_blocks":
            blk = n_up - 1 - int(p[2])
            rest = ".".join(p[5:]).replace("conv_shortcut", "nin_shortcut")
            n = (f"{side}.up.{blk}.block.{p[4]}.{rest}" if p[3] == "resnets"
                 else f"{side}.up.{blk}.upsample.conv.{p[-1]}")
        elif p[1] == "mid_block" and p[2] == "resnets":
            rest = ".".join(p[4:]).replace("conv_shortcut", "nin_shortcut")
            n = f"{side}.mid.block_{int(p[3]) + 1}.{rest}"
        elif p[1] == "mid_block" and p[2] == "attentions":
            layer = ".".join(p[4:-1])
            n = f"{side}.mid.attn_1.{attn[layer]}.{p[-1]}"
            if v.ndim == 2:
                v = v.reshape(*v.shape, 1, 1)
        else:
            raise SystemExit(f"vae: no LDM name for {k}")
        out["first_stage_model." + n] = v
    return out


def sha(t):
    return hashlib.sha256(t.detach().float().contiguous().numpy().tobytes()).hexdigest()


def same(a, b, what):
    ka, kb = set(a), set(b)
    assert ka == kb, (what, sorted(ka - kb)[:5], sorted(kb - ka)[:5])
    for k in ka:
        assert a[k].shape == b[k].shape and torch.equal(a[k].float(), b[k].float()), (what, k)


def folder_sd(folder, comp):
    d = os.path.join(folder, comp)
    for f in ("diffusion_pytorch_model.safetensors", "model.safetensors"):
        if os.path.exists(os.path.join(d, f)):
            return load_file(os.path.join(d, f))
    raise SystemExit(f"no weights in {d}")


def config(folder, comp):
    with open(os.path.join(folder, comp, "config.json")) as f:
        return json.load(f)


def unet_part(folder):
    sd, cfg = folder_sd(folder, "unet"), config(folder, "unet")
    ck = {"model.diffusion_model." + k: v for k, v in script.convert_unet_state_dict(dict(sd)).items()}
    try:
        same(sfu.convert_ldm_unet_checkpoint(dict(ck), cfg), sd, "unet (script)")
        return ck, "scripts/convert_diffusers_to_original_stable_diffusion.py convert_unet_state_dict"
    except (AssertionError, KeyError):
        ck = ldm_unet(sd, cfg)
        same(sfu.convert_ldm_unet_checkpoint(dict(ck), cfg), sd, "unet (inverse)")
        return ck, ("make_single_file.ldm_unet (the script's output does not load back: it hard-codes 4 levels x 2 "
                       "layers and writes no label_emb for a class embedding)")


def vae_part(folder):
    sd, cfg = folder_sd(folder, "vae"), config(folder, "vae")
    ck = {"first_stage_model." + k: v for k, v in script.convert_vae_state_dict(dict(sd)).items()}
    try:
        same(sfu.convert_ldm_vae_checkpoint(dict(ck), cfg), sd, "vae (script)")
        return ck, "scripts/convert_diffusers_to_original_stable_diffusion.py convert_vae_state_dict"
    except (AssertionError, KeyError):
        ck = ldm_vae(sd, cfg)
        same(sfu.convert_ldm_vae_checkpoint(dict(ck), cfg), sd, "vae (inverse)")
        return ck, ("make_single_file.ldm_vae (the script's output does not load back: it reshapes the "
                       "attention biases to (C, 1, 1) as well, and hard-codes 4 levels: decoder up.{3-i})")


def text_part(folder, openclip, seed):
    sd = folder_sd(folder, "text_encoder")
    if not openclip:
        ck = {"cond_stage_model.transformer." + k: v for k, v in script.convert_text_enc_state_dict(sd).items()}
        te = sfu.create_text_encoder_from_ldm_clip_checkpoint(os.path.join(folder, "text_encoder"), dict(ck))
        return ck, te, "script convert_text_enc_state_dict (identity) + prefix cond_stage_model.transformer.", None
    tsd = {"transformer." + k: v for k, v in sd.items()}
    ck = {"cond_stage_model.model." + k: v for k, v in script.convert_text_enc_state_dict_v20(tsd).items()}
    # OpenCLIP checkpoints carry text_projection [width, embed]; diffusers v0.26.3 reads the q/k/v split size
    # from its shape[0] (default 1024 without it) and ignores the values for a CLIPTextModel.
    hidden = sd["text_model.final_layer_norm.weight"].shape[0]
    g = torch.Generator().manual_seed(seed)
    ck["cond_stage_model.model.text_projection"] = torch.randn(hidden, hidden, generator=g)
    te = sfu.create_text_encoder_from_open_clip_checkpoint(folder, dict(ck), subfolder="text_encoder")
    note = (f"cond_stage_model.model.text_projection ({hidden}x{hidden}, torch.randn seed {seed}) added: "
            "real OpenCLIP checkpoints have it and diffusers takes the in_proj split size from its shape[0]")
    return ck, te, "script convert_text_enc_state_dict_v20 (fused in_proj) + prefix cond_stage_model.model.", note


def golden_case(name):
    from safetensors import safe_open
    path = os.path.join(GOLDEN, "cases", "pipelines", name + ".safetensors")
    with safe_open(path, "pt") as f:
        settings = json.loads(f.metadata()["settings"])
        return settings, f.get_tensor("out.images")


def run_pipe(kind, folder, settings, **parts):
    import diffusers
    g = torch.Generator().manual_seed(settings["seed"])
    kw = dict(prompt=settings["prompt"], guidance_scale=settings["guidance_scale"],
              num_inference_steps=settings["num_inference_steps"], height=settings["height"],
              width=settings["width"])
    if kind == "sd":
        pipe = diffusers.StableDiffusionPipeline.from_pretrained(folder, **parts)
        kw["negative_prompt"] = settings["negative_prompt"]
    else:
        pipe = diffusers.StableUnCLIPImg2ImgPipeline.from_pretrained(folder, **parts)
        kw["image"] = Image.open(os.path.join(GOLDEN, "cases", "pipelines", settings["image"])).convert("RGB")
        kw["noise_level"] = settings["noise_level"]
    pipe.set_progress_bar_config(disable=True)
    return torch.from_numpy(np.asarray(pipe(**kw, generator=g, output_type="np").images, dtype=np.float32))


def draw(kind, folder, unet, vae, te, name, half, run=None):
    """the golden case's run (or `run`, settings of the case's own) with the converted parts; from an F32 file
    it must equal the folder's own run in this process bit for bit (the folder's run differs from
    tests/golden's stored image only by this CPU's float sums); from an F16 file the weights are the
    folder's rounded to F16, so it differs"""
    settings, want = golden_case(name) if run is None else (run, None)
    img = run_pipe(kind, folder, settings, unet=unet, vae=vae, text_encoder=te)
    ref = run_pipe(kind, folder, settings)
    assert half or torch.equal(img, ref), f"{name}: the converted parts draw another image than the folder"
    return img, float((img - (ref if want is None else want)).abs().max()), float((img - ref).abs().max())


def make(kind, folder_name, openclip, case_name, seed, half=False, run=None, root=GOLDEN):
    """run: None = the settings of tests/golden's pipeline case case_name; else the case's own settings
    (a model of tests/fixtures, root), recorded in settings.run"""
    import diffusers
    folder = os.path.join(root, "models", folder_name)
    unet_ck, unet_w = unet_part(folder)
    vae_ck, vae_w = vae_part(folder)
    te_ck, te, te_w, note = text_part(folder, openclip, seed)
    ckpt = {**unet_ck, **vae_ck, **te_ck}
    if half:  # the script's --half: every tensor .half()
        ckpt = {k: v.half() for k, v in ckpt.items()}
    fname = f"{folder_name}.ldm{'.f16' if half else ''}.safetensors"
    path = os.path.join(out_dir("models/single-file"), fname)
    save_file({k: v.contiguous() for k, v in sorted(ckpt.items())}, path)

    # read back from the written file, exactly as the single-file loader converts it
    back = load_file(path)
    ucfg, vcfg = config(folder, "unet"), config(folder, "vae")
    conv = {"unet": sfu.convert_ldm_unet_checkpoint(dict(back), ucfg),
            "vae": sfu.convert_ldm_vae_checkpoint(dict(back), vcfg)}
    if openclip:
        te = sfu.create_text_encoder_from_open_clip_checkpoint(folder, dict(back), subfolder="text_encoder")
    else:
        te = sfu.create_text_encoder_from_ldm_clip_checkpoint(os.path.join(folder, "text_encoder"), dict(back))
    conv["text_encoder"] = {k: v for k, v in te.state_dict().items() if k != "text_model.embeddings.position_ids"}
    for comp, sd in conv.items():
        ref = {k: (v.half() if half else v) for k, v in folder_sd(folder, comp).items()
               if k != "text_model.embeddings.position_ids"}
        same(sd, ref, comp)
    unet = diffusers.UNet2DConditionModel.from_config(ucfg)
    unet.load_state_dict(conv["unet"])
    vae = diffusers.AutoencoderKL.from_config(vcfg)
    vae.load_state_dict(conv["vae"])
    for model in (unet, vae, te):
        model.eval()  # as from_pretrained leaves them
    img, vs_golden, vs_folder = draw(kind, folder, unet, vae, te, case_name, half, run)

    settings = {
        "checkpoint": f"models/single-file/{fname}",
        "config": f"models/{folder_name}",
        "family": {"sd": "SD-2.x" if openclip else "SD-1.x", "unclip": "Stable unCLIP (SD-2.x layout)"}[kind],
        "dtype": "F16" if half else "F32",
        **({"golden_case": f"cases/pipelines/{case_name}.safetensors"} if run is None else {"run": run}),
        "parts_from_checkpoint": ["unet", "vae", "text_encoder"],
        "parts_from_config": (["tokenizer", "scheduler"] if kind == "sd" else
                              ["tokenizer", "scheduler", "image_encoder", "feature_extractor", "image_normalizer",
                               "image_noising_scheduler"]),
        "writer": {"unet": unet_w, "vae": vae_w, "text_encoder": te_w},
        "reader": "diffusers v0.26.3 loaders/single_file_utils.py convert_ldm_unet_checkpoint, "
                  "convert_ldm_vae_checkpoint, create_text_encoder_from_"
                  + ("open_clip_checkpoint" if openclip else "ldm_clip_checkpoint")
                  + " with the config folder's configs; equal to the folder's tensors"
                  + (" rounded to F16 (torch .half())" if half else "") + " bit for bit",
        "folder": "tests/golden" if root == GOLDEN else "tests/fixtures (made here: make_sd_layout_model)",
        "image": ("out.images = the golden case's run with the converted parts (F16 weights, float32 models: "
                  f"max abs difference to the folder's run {vs_folder:.3g}"
                  if half else
                  "out.images = the golden case's run with the converted parts, bit-identical to the folder's "
                  "run in the same process") + f"; max abs difference to the golden case's stored image: "
                 f"{vs_golden:.3g}",
        "notes": note or "",
    }
    converted = {c: {k: [list(v.shape), sha(v)] for k, v in sorted(sd.items())} for c, sd in conv.items()}
    case = f"{folder_name}{'.f16' if half else ''}.safetensors"
    save_st(os.path.join(out_dir("cases/single_file"), case), {"out.images": img},
            {"settings": settings, "converted": converted, "versions": versions()})
    print(f"{fname}: {len(ckpt)} tensors, {os.path.getsize(path)} bytes; image {vs_folder:.3g} from the folder's, "
          f"{vs_golden:.3g} from {case_name}")


def make_sd_layout_model(root):
    """models/tiny-sd-layout: a tiny model with SD-1.5's layout — 4 UNet levels (CrossAttnDownBlock2D x3,
    DownBlock2D / UpBlock2D, CrossAttnUpBlock2D x3), 2 layers per block, a 4-level VAE with 2 layers
    (3 in the decoder) — the layout the conversion script hard-codes, so that it is used unmodified
    and the checkpoint has every kind of LDM key (upsamplers after attentions: output_blocks.N.2.conv).
    Text encoder, tokenizer and scheduler are tests/golden's tiny-sd's (copied). Init as tests/golden:
    torch.manual_seed(S), then common.perturb(model, S+1); S = 400 (UNet), 410 (VAE)."""
    import shutil
    from common import perturb
    from diffusers import AutoencoderKL, UNet2DConditionModel
    d = os.path.join(root, "models", "tiny-sd-layout")
    src = os.path.join(GOLDEN, "models", "tiny-sd")
    for sub in ("text_encoder", "tokenizer", "scheduler"):
        shutil.rmtree(os.path.join(d, sub), ignore_errors=True)
        shutil.copytree(os.path.join(src, sub), os.path.join(d, sub))
    shutil.copy(os.path.join(src, "model_index.json"), os.path.join(d, "model_index.json"))
    torch.manual_seed(400)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, flip_sin_to_cos=True, freq_shift=0,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=(16, 16, 32, 32), layers_per_block=2, norm_num_groups=4, norm_eps=1e-5,
        cross_attention_dim=32, attention_head_dim=2, use_linear_projection=False,
        downsample_padding=1, mid_block_scale_factor=1, act_fn="silu")
    perturb(unet.eval(), 401).save_pretrained(os.path.join(d, "unet"))
    torch.manual_seed(410)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 16, 16), layers_per_block=2,
        act_fn="silu", latent_channels=4, norm_num_groups=4, sample_size=64, scaling_factor=0.18215)
    perturb(vae.eval(), 411).save_pretrained(os.path.join(d, "vae"))


SD_LAYOUT_RUN = {"prompt": "a watercolor painting of a lighthouse", "negative_prompt": "ugly", "guidance_scale": 7.5,
                 "num_inference_steps": 4, "height": 64, "width": 64, "seed": 41,
                 "generator": "torch.Generator('cpu').manual_seed(41)"}


def make_sd2_layout_model(root):
    """models/tiny-sd2-layout: a tiny SD-2.x model — SD-2's UNet layout (4 levels, 2 layers, linear
    proj_in/proj_out: use_linear_projection, a per-level head list as SD-2's [5, 10, 20, 20]), a 4-level
    VAE, and tests/golden's tiny-unclip's OpenCLIP-style text encoder (gelu), its SD-2 tokenizer (pad "!")
    and its DDIM v_prediction scheduler (copied), under StableDiffusionPipeline: what
    v2-1_768-ema-pruned.safetensors is, in small. Init as tests/golden: torch.manual_seed(S), then
    common.perturb(model, S+1); S = 420 (UNet), 430 (VAE)."""
    import shutil
    from common import perturb
    from diffusers import AutoencoderKL, UNet2DConditionModel
    d = os.path.join(root, "models", "tiny-sd2-layout")
    src = os.path.join(GOLDEN, "models", "tiny-unclip")
    for sub in ("text_encoder", "tokenizer", "scheduler"):
        shutil.rmtree(os.path.join(d, sub), ignore_errors=True)
        shutil.copytree(os.path.join(src, sub), os.path.join(d, sub))
    shutil.copy(os.path.join(GOLDEN, "models", "tiny-sd", "model_index.json"), os.path.join(d, "model_index.json"))
    with open(os.path.join(d, "model_index.json")) as f:
        index = json.load(f)
    index["scheduler"] = ["diffusers", "DDIMScheduler"]
    with open(os.path.join(d, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    torch.manual_seed(420)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, flip_sin_to_cos=True, freq_shift=0,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=(16, 16, 32, 32), layers_per_block=2, norm_num_groups=4, norm_eps=1e-5,
        cross_attention_dim=32, attention_head_dim=(2, 2, 4, 4), use_linear_projection=True,
        downsample_padding=1, mid_block_scale_factor=1, act_fn="silu")
    perturb(unet.eval(), 421).save_pretrained(os.path.join(d, "unet"))
    torch.manual_seed(430)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 16, 16), layers_per_block=2,
        act_fn="silu", latent_channels=4, norm_num_groups=4, sample_size=64, scaling_factor=0.18215)
    perturb(vae.eval(), 431).save_pretrained(os.path.join(d, "vae"))


SD2_LAYOUT_RUN = {"prompt": "a lighthouse on a cliff at dusk", "negative_prompt": "blurry", "guidance_scale": 7.5,
                  "num_inference_steps": 4, "height": 64, "width": 64, "seed": 42,
                  "generator": "torch.Generator('cpu').manual_seed(42)"}


if __name__ == "__main__":
    make("sd", "tiny-sd", False, "sd_txt2img.32x32", 1701)
    make("unclip", "tiny-unclip", True, "unclip_img2img.nl0.gs10.32x32", 1702)
    make("sd", "tiny-sd", False, "sd_txt2img.32x32", 1703, half=True)
    make_sd_layout_model(out_dir())
    make("sd", "tiny-sd-layout", False, "tiny-sd-layout", 1704, run=SD_LAYOUT_RUN, root=out_dir())
    make_sd2_layout_model(out_dir())
    make("sd", "tiny-sd2-layout", True, "tiny-sd2-layout", 1705, run=SD2_LAYOUT_RUN, root=out_dir())
