"""Few-step generation (diffusers v0.26.3): LCMScheduler traces, a tiny latent consistency model, and runs of
LatentConsistencyModelPipeline, LatentConsistencyModelImg2ImgPipeline and StableDiffusion(Img2Img)Pipeline
with SD-Turbo-style and LCM-LoRA-style settings.

Usage (repository root): /usr/bin/python3 tests/oracle/make_few_step.py tests/fixtures
Writes:
  cases/schedulers/lcm*.safetensors, euler_ancestral_trailing*.safetensors (+ index.json): sampling-loop traces
      made by ../shared/oracle's make_schedulers.trace (its fake model output, its seeds 0 / 123 / 7), each
      <Class>.from_config(models/tiny-unclip/scheduler, **overrides); one LCM trace sets the timesteps with
      set_timesteps(steps, strength=0.5) (metadata set_timesteps_kwargs), as LatentConsistencyModelImg2ImgPipeline.
  models/tiny-lcm/: a LatentConsistencyModelPipeline folder: tests/golden's tiny-sd text_encoder, tokenizer and vae
      (byte copies), a UNet with tiny-sd's config and time_cond_proj_dim 16 (torch.manual_seed(600), library init,
      common.perturb(unet, 601)), LCMScheduler as SimianLuo/LCM_Dreamshaper_v7 ships it (scaled_linear
      0.00085..0.012, original_inference_steps 50, set_alpha_to_one, steps_offset 1, timestep_scaling 10), and a
      dif_defaults.json with the pipeline's own defaults (4 steps, guidance 8.5, scheduler lcm).
  cases/few_step/: the runs (settings in each file's metadata and index.json; one
      torch.Generator('cpu').manual_seed(seed) per run).
Tensors as tests/fixtures/README-editing.md, plus w_embedding (the UNet's timestep_cond, first call)."""
import functools
import json
import os
import shutil

import numpy as np
import torch
from PIL import Image

import fixture_common as fc
import make_schedulers as ms  # ../shared/oracle/diffusers (fixture_common put it on the path)
import diffusers.pipelines.latent_consistency_models.pipeline_latent_consistency_img2img as m_lcm_img
import diffusers.pipelines.latent_consistency_models.pipeline_latent_consistency_text2img as m_lcm_txt
import diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion as m_sd
import diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img as m_sdi
import diffusers.schedulers.scheduling_euler_ancestral_discrete as m_eua
import diffusers.schedulers.scheduling_euler_discrete as m_eu
import diffusers.schedulers.scheduling_lcm as m_lcm
import diffusers.models.autoencoders.vae as m_vae
from diffusers import (AutoencoderKL, EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, LatentConsistencyModelImg2ImgPipeline,
                       LatentConsistencyModelPipeline, LCMScheduler, StableDiffusionImg2ImgPipeline,
                       StableDiffusionPipeline, UNet2DConditionModel)
from common import perturb
from transformers import CLIPTextModel, CLIPTokenizer

PIPELINE_MODULES = (m_lcm_img, m_lcm_txt, m_sd, m_sdi, m_eua, m_eu, m_lcm, m_vae)


# ---------------------------------------------------------------- scheduler traces

def strength_set_timesteps(sched, strength):
    """sched.set_timesteps(n) -> sched.set_timesteps(n, strength=strength) (LCM img2img's call)"""
    orig = sched.set_timesteps

    @functools.wraps(orig)
    def f(n, *a, **k):
        return orig(n, *a, strength=strength, **k)
    sched.set_timesteps = f


TRACES = [  # name, class, overrides, steps, set_timesteps kwargs
    ("lcm.epsilon", LCMScheduler, {"prediction_type": "epsilon"}, 4, {}),
    ("lcm.v_prediction", LCMScheduler, {"prediction_type": "v_prediction"}, 4, {}),
    ("lcm.sample", LCMScheduler, {"prediction_type": "sample"}, 2, {}),
    ("lcm.1step.epsilon", LCMScheduler, {"prediction_type": "epsilon"}, 1, {}),
    ("lcm_clip.epsilon", LCMScheduler, {"prediction_type": "epsilon", "clip_sample": True,
                                        "clip_sample_range": 0.5}, 4, {}),
    ("lcm_thresholding.epsilon", LCMScheduler, {"prediction_type": "epsilon", "thresholding": True,
                                                "dynamic_thresholding_ratio": 0.9, "sample_max_value": 1.5}, 4, {}),
    ("lcm_zero_snr.v_prediction", LCMScheduler, {"prediction_type": "v_prediction", "rescale_betas_zero_snr": True,
                                                 "set_alpha_to_one": True}, 4, {}),
    ("lcm_orig20_scaling5.epsilon", LCMScheduler, {"prediction_type": "epsilon", "original_inference_steps": 20,
                                                   "timestep_scaling": 5.0, "timestep_spacing": "trailing"}, 8, {}),
    ("lcm_strength0.5.epsilon", LCMScheduler, {"prediction_type": "epsilon"}, 4, {"strength": 0.5}),
    ("euler_ancestral_trailing.epsilon", EulerAncestralDiscreteScheduler,
     {"prediction_type": "epsilon", "timestep_spacing": "trailing"}, 1, {}),
    ("euler_ancestral_trailing.2steps.epsilon", EulerAncestralDiscreteScheduler,
     {"prediction_type": "epsilon", "timestep_spacing": "trailing"}, 2, {}),
]


def make_traces():
    m_lcm.randn_tensor = ms.recording_randn_tensor
    m_eua.randn_tensor = ms.recording_randn_tensor
    d = fc.out_dir("cases/schedulers")
    cfg_dir = os.path.join(fc.GOLDEN, "models", "tiny-unclip", "scheduler")
    base = json.load(open(os.path.join(cfg_dir, "scheduler_config.json")))
    index = {"versions": fc.versions(), "base_config": "models/tiny-unclip/scheduler/scheduler_config.json",
             "fake_model_output": "0.8*tanh(x_in) + 0.1*sin(0.01*t) (../shared/oracle make_schedulers.fake)",
             "traces": []}
    for name, cls, ov, n, stkw in TRACES:
        s = cls.from_config(base, **ov)
        if stkw:
            strength_set_timesteps(s, stkw["strength"])
        tr = ms.trace(s, n)
        cfg = ms.cfg_of(s)
        ref = {"class": cls.__name__, "config": "models/tiny-unclip/scheduler", "overrides": dict(ov)}
        meta = {"class": cls.__name__, "config": cfg, "num_inference_steps": n, "step_kwargs": {},
                "scheduler": ref}
        if stkw:
            meta["set_timesteps_kwargs"] = stkw
        fc.save_st(os.path.join(d, name + ".safetensors"), tr, meta)
        index["traces"].append({"file": name + ".safetensors", "class": cls.__name__, "num_inference_steps": n,
                                "set_timesteps_kwargs": stkw, "scheduler": ref, "config": cfg,
                                "timesteps": tr["timesteps"].tolist()})
    fc.write_json(os.path.join(d, "index.json"), index)
    fc.record_randn_in(*PIPELINE_MODULES)  # back to the pipeline recorder (randn.draw<j>)


# ---------------------------------------------------------------- the tiny LCM

LCM_SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                     original_inference_steps=50, clip_sample=False, set_alpha_to_one=True, steps_offset=1,
                     prediction_type="epsilon", timestep_spacing="leading", timestep_scaling=10.0)
DEFAULTS = {"comment": "LatentConsistencyModelPipeline's own defaults (docs/model-defaults.md)",
            "steps": 4, "guidance": 8.5, "scheduler": "lcm"}


def make_model(models):
    d = os.path.join(models, "tiny-lcm")
    if os.path.isdir(d):
        shutil.rmtree(d)
    src = os.path.join(fc.GOLDEN, "models", "tiny-sd")
    for sub in ("text_encoder", "tokenizer", "vae"):
        shutil.copytree(os.path.join(src, sub), os.path.join(d, sub))
    cfg = dict(UNet2DConditionModel.load_config(os.path.join(src, "unet")))
    cfg["time_cond_proj_dim"] = 16
    torch.manual_seed(600)
    unet = perturb(UNet2DConditionModel.from_config(cfg).eval(), 601)
    unet.save_pretrained(os.path.join(d, "unet"))
    LCMScheduler(**LCM_SCHEDULER).save_pretrained(os.path.join(d, "scheduler"))
    pipe = LatentConsistencyModelPipeline(
        vae=AutoencoderKL.from_pretrained(os.path.join(d, "vae")),
        text_encoder=CLIPTextModel.from_pretrained(os.path.join(d, "text_encoder")),
        tokenizer=CLIPTokenizer.from_pretrained(os.path.join(d, "tokenizer")), unet=unet,
        scheduler=LCMScheduler(**LCM_SCHEDULER), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    pipe.save_config(d)  # model_index.json
    with open(os.path.join(d, "dif_defaults.json"), "w") as f:
        json.dump(DEFAULTS, f, indent=2)
        f.write("\n")
    return d


# ---------------------------------------------------------------- pipeline runs

def wrap_pipeline(pipe):
    fc.mp.wrap_unet(pipe.unet)
    fc.mp.wrap_text(pipe.text_encoder, "text_encoder")
    fc.mp.wrap_vae_decode(pipe.vae)
    fc.wrap_scheduler(pipe.scheduler)

    def enc(j, a, k, out):  # the names libdif's img2img traces (as ../shared/oracle's sd_img2img cases)
        fc.rec("vae.encode.in", a[0])
        fc.rec("vae.encode.latent_mean", out.latent_dist.mean)
        fc.rec("vae.encode.latent_std", out.latent_dist.std)
    fc.wrap_method(pipe.vae, "encode", enc)
    orig = pipe.unet.forward

    @functools.wraps(orig)
    def fwd(*a, **k):
        if k.get("timestep_cond") is not None and "w_embedding" not in fc.REC:
            fc.rec("w_embedding", k["timestep_cond"])
        return orig(*a, **k)
    pipe.unet.forward = fwd


def run_case(outd, index, name, pipe, model_dir, s, sched_ov, image=None):
    fc.start_case()
    s = dict({"model": fc.ref(model_dir)}, **s)
    s["scheduler"] = fc.sched_ref(pipe.scheduler, os.path.join(model_dir, "scheduler"), sched_ov)
    s["generator"] = f"torch.Generator('cpu').manual_seed({s['seed']})"
    s["output_type"] = "np"
    kw = {k: s[k] for k in ("prompt", "negative_prompt", "guidance_scale", "num_inference_steps", "height",
                            "width", "strength", "num_images_per_prompt") if k in s}
    if image is not None:
        kw["image"] = image
    img = pipe(generator=torch.Generator().manual_seed(s["seed"]), callback_on_step_end=fc.mp.callback_new,
               callback_on_step_end_tensor_inputs=["latents"], output_type="np", **kw).images
    fc.rec("out.images", torch.from_numpy(np.asarray(img, dtype=np.float32)))
    n = sum(1 for k in fc.REC if k.startswith("callback.step") and k.endswith(".t"))
    s["timesteps"] = [int(fc.REC[f"callback.step{i}.t"].item()) for i in range(n)]
    s["height"], s["width"] = int(img.shape[1]), int(img.shape[2])
    s["classifier_free_guidance"] = "unet.call0.sample" in fc.REC and fc.REC["unet.call0.sample"].shape[0] == 2
    extra = {"in.image_uint8": fc.uint8_tensor(image)} if image is not None else None
    fc.save_case(outd, index, name, type(pipe).__name__, s, extra)


def swapped(pipe, cls, ov):
    """pipe with scheduler <cls>.from_config(<its folder's config>, **ov), wrapped for recording"""
    pipe.scheduler = cls.from_config(pipe.scheduler.config, **ov)
    fc.wrap_scheduler(pipe.scheduler)
    return pipe


def lcm_runs(outd, index, lcm_dir):
    pipe = LatentConsistencyModelPipeline.from_pretrained(lcm_dir, safety_checker=None, feature_extractor=None)
    pipe.set_progress_bar_config(disable=True)
    wrap_pipeline(pipe)
    for steps, gs, (h, w), seed in [(4, 8.5, (32, 32), 71), (2, 2.0, (32, 48), 72), (1, 8.5, (32, 32), 73)]:
        s = {"prompt": "a photo of a red cat", "guidance_scale": gs, "num_inference_steps": steps, "height": h,
             "width": w, "seed": seed}
        run_case(outd, index, f"lcm.{steps}steps.gs{gs:g}.{h}x{w}", pipe, lcm_dir, s, {})
    s = {"prompt": "a photo of a red cat", "guidance_scale": 4.0, "num_inference_steps": 3, "height": 32,
         "width": 32, "num_images_per_prompt": 2, "seed": 75}
    run_case(outd, index, "lcm.3steps.gs4.batch2.32x32", pipe, lcm_dir, s, {})
    # the same folder through the img2img pipeline (strength passed to set_timesteps)
    img2img = LatentConsistencyModelImg2ImgPipeline(**pipe.components)
    img2img.set_progress_bar_config(disable=True)
    name = fc.save_png(fc.test_image(32, 32, 81), outd, "input_32x32.png")
    image = Image.open(os.path.join(outd, name)).convert("RGB")
    s = {"prompt": "a photo of a red cat", "image": name, "strength": 0.6, "guidance_scale": 8.5,
         "num_inference_steps": 4, "seed": 74}
    run_case(outd, index, "lcm_img2img.4steps.strength0.6", img2img, lcm_dir, s, {}, image)
    return image, name


def sd_runs(outd, index, image, image_name):
    sd_dir = os.path.join(fc.GOLDEN, "models", "tiny-sd")
    pipe = StableDiffusionPipeline.from_pretrained(sd_dir, safety_checker=None, feature_extractor=None)
    pipe.set_progress_bar_config(disable=True)
    wrap_pipeline(pipe)
    folder = pipe.scheduler
    base = {"prompt": "a watercolor painting of a lighthouse", "negative_prompt": "ugly", "height": 32,
            "width": 32}
    # (b) SD-Turbo style: Euler ancestral (and the folder's-class Euler) with trailing spacing, no guidance
    trailing = {"timestep_spacing": "trailing"}
    for cls, tag, steps, seed in [(EulerAncestralDiscreteScheduler, "euler_a", 1, 91),
                                  (EulerAncestralDiscreteScheduler, "euler_a", 2, 92),
                                  (EulerDiscreteScheduler, "euler", 1, 93)]:
        pipe.scheduler = folder
        swapped(pipe, cls, trailing)
        s = dict(base, guidance_scale=0.0, num_inference_steps=steps, seed=seed)
        run_case(outd, index, f"turbo.{tag}_trailing.{steps}step.gs0", pipe, sd_dir, s, trailing)
    # (c) LCM-LoRA style: LCMScheduler from the folder's config, guidance 1 (no CFG), 4 steps
    pipe.scheduler = folder
    swapped(pipe, LCMScheduler, {})
    s = dict(base, guidance_scale=1.0, num_inference_steps=4, seed=94)
    run_case(outd, index, "lcm_lora_style.lcm.4steps.gs1", pipe, sd_dir, s, {})
    # ... and its img2img: StableDiffusionImg2ImgPipeline trims the LCM schedule (get_timesteps)
    img2img = StableDiffusionImg2ImgPipeline(**pipe.components)
    img2img.set_progress_bar_config(disable=True)
    s = dict(base, image=image_name, strength=0.5, guidance_scale=1.0, num_inference_steps=4, seed=95)
    del s["height"], s["width"]
    run_case(outd, index, "lcm_lora_style.img2img.lcm.4steps.strength0.5", img2img, sd_dir, s, {}, image)


def main():
    make_traces()
    outd = fc.out_dir("cases/few_step")
    lcm_dir = make_model(fc.out_dir("models"))
    index = {"versions": fc.versions(), "runs": []}
    image, image_name = lcm_runs(outd, index, lcm_dir)
    sd_runs(outd, index, image, image_name)
    fc.write_json(os.path.join(outd, "index.json"), index)


if __name__ == "__main__":
    main()
