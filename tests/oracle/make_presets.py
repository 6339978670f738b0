"""libdif's single-file presets -> models/presets/<name>/, derived by diffusers' OWN single-file code.

usage: make_presets.py OUT_DIR V1_YAML V1_INPAINT_YAML V2_YAML V2_V_YAML V2_INPAINT_YAML TOKENIZERS_DIR

  V1_YAML          CompVis/stable-diffusion @ 21f890f9 configs/stable-diffusion/v1-inference.yaml
  V1_INPAINT_YAML  runwayml/stable-diffusion @ 08ab4d3 configs/stable-diffusion/v1-inpainting-inference.yaml
  V2_YAML          Stability-AI/stablediffusion @ cf1d67a6 configs/stable-diffusion/v2-inference.yaml
  V2_V_YAML        Stability-AI/stablediffusion @ cf1d67a6 configs/stable-diffusion/v2-inference-v.yaml
  V2_INPAINT_YAML  Stability-AI/stablediffusion @ cf1d67a6 configs/stable-diffusion/v2-inpainting-inference.yaml
  TOKENIZERS_DIR   tests/golden/tokenizers (clip-bpe: openai/clip-vit-large-patch14; clip-bpe-sd2: the
                   stable-diffusion-2 tokenizer, pad "!")

A preset is a diffusers model folder without weights: what `dif generate -m FILE.safetensors` reads with a
single-file checkpoint's tensors when no --config folder is given (lib/api/presets.c). Every config is what
diffusers v0.26.3's `from_single_file` builds for that checkpoint (loaders/single_file_utils.py:
create_unet_diffusers_config, create_vae_diffusers_config, create_scheduler_from_ldm with its default
scheduler_type "ddim"), completed with the class __init__ defaults as save_pretrained writes them. The text
encoders are the configs from_single_file downloads: openai/clip-vit-large-patch14's text tower (SD-1.x) and
stabilityai/stable-diffusion-2's text_encoder (SD-2.x) — ../shared/configs/README-configs.md says where each
number was verified. Where the choice is not diffusers' (sd-turbo's scheduler and settings) the README written
next to the presets says so.
"""
import inspect
import json
import os
import shutil
import sys

import yaml
from diffusers import AutoencoderKL, UNet2DConditionModel, __version__
from diffusers.loaders.single_file_utils import (create_scheduler_from_ldm, create_unet_diffusers_config,
                                                 create_vae_diffusers_config)

SHARED_CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "configs")


def full(cls, cfg):
    sig = inspect.signature(cls.__init__)
    d = {k: p.default for k, p in sig.parameters.items() if k not in ("self", "args", "kwargs")}
    d.update(cfg)
    d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
    return {"_class_name": cls.__name__, "_diffusers_version": __version__, **dict(sorted(d.items()))}


def dump(path, obj):
    obj = {k: v for k, v in obj.items() if not k.startswith("_use_default_values")}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def text_encoder_config(sd2):
    if sd2:  # stabilityai/stable-diffusion-2(-1-base) text_encoder/config.json (verified copy)
        with open(os.path.join(SHARED_CONFIGS, "sd21-unclip-small.text_encoder.json")) as f:
            return json.load(f)
    # openai/clip-vit-large-patch14's text_config (verified copy) as the CLIPTextModel from_single_file builds
    with open(os.path.join(SHARED_CONFIGS, "clip-vit-large-patch14.text_encoder.json")) as f:
        cfg = json.load(f)
    cfg["architectures"] = ["CLIPTextModel"]
    return cfg


def model_index(pipeline, scheduler_class):
    comp = {
        "feature_extractor": [None, None],
        "image_encoder": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", scheduler_class],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    return {"_class_name": pipeline, "_diffusers_version": __version__, **comp}


def preset(out, name, ldm_yaml, image_size, pipeline, sd2, tokenizers, scheduler_type="ddim",
           prediction_type=None, scheduler_extra=None, defaults=None):
    cfg = yaml.safe_load(open(ldm_yaml))
    d = os.path.join(out, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    unet = create_unet_diffusers_config(cfg, image_size=image_size)
    unet["upcast_attention"] = False  # from_single_file's default (changes only float16 attention)
    dump(os.path.join(d, "unet", "config.json"), full(UNet2DConditionModel, unet))
    vae = create_vae_diffusers_config(cfg, image_size=image_size)
    dump(os.path.join(d, "vae", "config.json"), full(AutoencoderKL, vae))
    sched = create_scheduler_from_ldm(pipeline, cfg, {}, prediction_type=prediction_type,
                                      scheduler_type=scheduler_type)["scheduler"]
    if scheduler_extra:
        sched = type(sched).from_config({**dict(sched.config), **scheduler_extra})
    dump(os.path.join(d, "scheduler", "scheduler_config.json"),
         {"_class_name": type(sched).__name__, "_diffusers_version": __version__, **dict(sched.config)})
    dump(os.path.join(d, "text_encoder", "config.json"), text_encoder_config(sd2))
    shutil.copytree(os.path.join(tokenizers, "clip-bpe-sd2" if sd2 else "clip-bpe"), os.path.join(d, "tokenizer"))
    dump(os.path.join(d, "model_index.json"), model_index(pipeline, type(sched).__name__))
    if defaults:
        dump(os.path.join(d, "dif_defaults.json"), defaults)


def main():
    out, v1, v1i, v2, v2v, v2i, tokenizers = sys.argv[1:8]
    # SD-1.x: 512 px, epsilon (v1-inference.yaml has no parameterization)
    preset(out, "sd15", v1, 512, "StableDiffusionPipeline", False, tokenizers)
    preset(out, "sd15-inpaint", v1i, 512, "StableDiffusionInpaintPipeline", False, tokenizers)
    # SD-2.x: diffusers' default for an SD-2 single file is v2-inference-v.yaml at 768 px, v_prediction
    preset(out, "sd21", v2v, 768, "StableDiffusionPipeline", True, tokenizers)
    # SD-2.x base (512 px, epsilon): v2-inference.yaml
    preset(out, "sd21-base", v2, 512, "StableDiffusionPipeline", True, tokenizers)
    preset(out, "sd2-inpaint", v2i, 512, "StableDiffusionInpaintPipeline", True, tokenizers)
    # SD-Turbo: the SD-2.1-base network (v2-inference.yaml, 512 px, epsilon) sampled as stabilityai/sd-turbo's
    # model card says: Euler ancestral, "trailing" timesteps, 1 step, no guidance.
    preset(out, "sd-turbo", v2, 512, "StableDiffusionPipeline", True, tokenizers,
           scheduler_type="euler-ancestral", scheduler_extra={"timestep_spacing": "trailing"},
           defaults={"comment": "stabilityai/sd-turbo's model card: 1 step, guidance 0 (up to 4 steps work)",
                     "steps": 1, "guidance": 0.0})


if __name__ == "__main__":
    main()
