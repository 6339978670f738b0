"""models/tiny-x4-upscaler/ and cases/upscale/: StableDiffusionUpscalePipeline (diffusers v0.26.3) on a tiny model.

Usage (repository root): /usr/bin/python3 tests/oracle/make_upscale.py tests/fixtures
The tiny model has the real stabilityai/stable-diffusion-x4-upscaler structure (Stability-AI/stablediffusion
configs/stable-diffusion/x4-upscaling.yaml, as diffusers' convert_from_ckpt maps it; the block layout is the
one diffusers' own test_stable_diffusion_upscale.py uses): a UNet with in_channels 7 (4 latents + 3 low-res
image channels), num_class_embeds 1000 (class_embed_type None: nn.Embedding of the noise level added to the
time embedding), DownBlock2D first, only_cross_attention (True, True, False), 8 heads, linear projections;
a 3-level VAE (x4) with scaling_factor 0.08333; DDIM v-prediction and a DDPM low_res_scheduler, both
scaled_linear 0.0001..0.02 (the yaml's linear_start/linear_end); max_noise_level 350.
Text encoder + tokenizer: byte copies of tests/golden's tiny-unclip ones (OpenCLIP-style, as SD 2).
Every case: one torch.Generator('cpu').manual_seed(seed); tensors described in tests/fixtures/README-editing.md."""
import os
import shutil

import numpy as np
import torch
from PIL import Image

import fixture_common as fc
import diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_upscale as m_upscale
from diffusers import (AutoencoderKL, DDIMScheduler, DDPMScheduler, StableDiffusionUpscalePipeline,
                       UNet2DConditionModel)
from common import perturb
from transformers import CLIPTextModel, CLIPTokenizer

fc.record_randn_in(m_upscale)

BETAS = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="scaled_linear")


def tiny_unet():
    torch.manual_seed(500)
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=7, out_channels=4, flip_sin_to_cos=True, freq_shift=0,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        only_cross_attention=(True, True, False), block_out_channels=(16, 32, 32), layers_per_block=1,
        norm_num_groups=8, norm_eps=1e-5, cross_attention_dim=32, attention_head_dim=8,
        use_linear_projection=True, num_class_embeds=1000, downsample_padding=1, mid_block_scale_factor=1,
        act_fn="silu")
    return perturb(unet.eval(), 501)


def tiny_vae():
    torch.manual_seed(510)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=(16, 16, 32), layers_per_block=1,
        act_fn="silu", latent_channels=4, norm_num_groups=8, sample_size=64, scaling_factor=0.08333)
    return perturb(vae.eval(), 511)


def make_model(models):
    d = os.path.join(models, "tiny-x4-upscaler")
    if os.path.isdir(d):
        shutil.rmtree(d)
    src = os.path.join(fc.GOLDEN, "models", "tiny-unclip")
    for sub in ("text_encoder", "tokenizer"):
        shutil.copytree(os.path.join(src, sub), os.path.join(d, sub))
    unet, vae = tiny_unet(), tiny_vae()
    unet.save_pretrained(os.path.join(d, "unet"))
    vae.save_pretrained(os.path.join(d, "vae"))
    scheduler = DDIMScheduler(**BETAS, clip_sample=False, set_alpha_to_one=False, steps_offset=1,
                              prediction_type="v_prediction")
    scheduler.save_pretrained(os.path.join(d, "scheduler"))
    low_res = DDPMScheduler(**BETAS, clip_sample=False, variance_type="fixed_small")
    low_res.save_pretrained(os.path.join(d, "low_res_scheduler"))
    pipe = StableDiffusionUpscalePipeline(
        vae=vae, text_encoder=CLIPTextModel.from_pretrained(os.path.join(d, "text_encoder")),
        tokenizer=CLIPTokenizer.from_pretrained(os.path.join(d, "tokenizer")), unet=unet,
        low_res_scheduler=low_res, scheduler=scheduler, max_noise_level=350)
    pipe.save_config(d)  # model_index.json
    return d


def wrap_pipeline(pipe):
    fc.mp.wrap_unet(pipe.unet)
    fc.mp.wrap_text(pipe.text_encoder, "text_encoder")
    fc.mp.wrap_vae_decode(pipe.vae)
    fc.wrap_scheduler(pipe.scheduler)

    def pre(j, a, k, out):
        fc.rec("preprocess.image", out)

    def low_res(j, a, k, out):
        fc.rec("low_res.noise_level", torch.as_tensor(a[2]).reshape(-1).float())
        fc.rec("low_res.noised_image", out)

    def latents(j, a, k, out):
        fc.rec("latents.init", out)
    fc.wrap_method(pipe.image_processor, "preprocess", pre)
    fc.wrap_method(pipe.low_res_scheduler, "add_noise", low_res)
    fc.wrap_method(pipe, "prepare_latents", latents)


def run_case(outd, index, name, pipe, model_dir, s, image):
    fc.start_case()
    s = dict({"model": fc.ref(model_dir)}, **s)
    s["scheduler"] = fc.sched_ref(pipe.scheduler, os.path.join(model_dir, "scheduler"), {})
    s["low_res_scheduler"] = fc.sched_ref(pipe.low_res_scheduler, os.path.join(model_dir, "low_res_scheduler"), {})
    s["max_noise_level"] = pipe.config.max_noise_level
    s["generator"] = f"torch.Generator('cpu').manual_seed({s['seed']})"
    s["draw_order"] = ["low-res image noise (image shape)", "initial latents"]
    s["output_type"] = "np"
    kw = {k: s[k] for k in ("prompt", "negative_prompt", "noise_level", "guidance_scale", "num_inference_steps",
                            "eta")}
    img = pipe(image=image, generator=torch.Generator().manual_seed(s["seed"]), callback=fc.mp.callback_old,
               callback_steps=1, output_type="np", **kw).images
    fc.rec("out.images", torch.from_numpy(np.asarray(img, dtype=np.float32)))
    n = sum(1 for k in fc.REC if k.startswith("callback.step") and k.endswith(".t"))
    s["timesteps"] = [int(fc.REC[f"callback.step{i}.t"].item()) for i in range(n)]
    s["height"], s["width"] = int(img.shape[1]), int(img.shape[2])
    fc.save_case(outd, index, name, type(pipe).__name__, s, {"in.image_uint8": fc.uint8_tensor(image)})


def main():
    outd = fc.out_dir("cases/upscale")
    model_dir = make_model(fc.out_dir("models"))
    pipe = StableDiffusionUpscalePipeline.from_pretrained(model_dir)
    pipe.set_progress_bar_config(disable=True)
    wrap_pipeline(pipe)
    index = {"versions": fc.versions(), "runs": []}
    for (h, w), nl, gs, seed in [((16, 16), 20, 9.0, 61), ((16, 24), 100, 7.5, 62)]:
        img = fc.save_png(fc.test_image(h, w, 30 + seed), outd, f"input_{h}x{w}.png")
        image = Image.open(os.path.join(outd, img)).convert("RGB")
        s = {"prompt": "a photo of a lighthouse", "negative_prompt": "blurry", "image": img, "noise_level": nl,
             "guidance_scale": gs, "num_inference_steps": 5, "eta": 0.0, "seed": seed}
        run_case(outd, index, f"upscale.nl{nl}.gs{gs:g}.{h}x{w}", pipe, model_dir, s, image)
    fc.write_json(os.path.join(outd, "index.json"), index)


if __name__ == "__main__":
    main()
