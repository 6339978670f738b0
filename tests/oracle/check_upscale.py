"""Internal consistency of tests/fixtures/cases/upscale (StableDiffusionUpscalePipeline). Exit status 1 on failure.

Usage (repository root, oracle environment as make_upscale.py):
    /usr/bin/python3 tests/oracle/check_upscale.py tests/fixtures
Checks per case: preprocessing (pixels/127.5 - 1), the low-res noising with alphas_cumprod of scaled_linear
0.0001..0.02 computed here in float64, the initial latents = draw1 (DDIM init_noise_sigma 1), the UNet input
cat(latents x2, noised image x2) and class labels [noise_level] x2, CFG, the DDIM v-prediction step (eta 0)
redone in float64, the decode input latents / 0.08333, the output image, and a replay of UNet call 0 and of
the VAE decode on the recorded inputs (expected bit-identical on the machine that made the files)."""
import os

import torch

from check_common import fail, model_folder, near, run_checks
from diffusers import AutoencoderKL, UNet2DConditionModel


def alphas_cumprod():
    betas = torch.linspace(0.0001 ** 0.5, 0.02 ** 0.5, 1000, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0)


def check_inputs(name, t, s):
    near(name, "preprocess.image = image/127.5-1", t["preprocess.image"],
         (t["in.image_uint8"].permute(2, 0, 1)[None] / 255.0) * 2 - 1, 1e-6)
    nl = s["noise_level"]
    if int(t["low_res.noise_level"][0]) != nl or not bool((t["unet.class_labels"] == nl).all()):
        fail(f"{name}: noise level {t['low_res.noise_level']} / class labels {t['unet.class_labels']} != {nl}")
    a = alphas_cumprod()[nl]
    near(name, "noised image = sqrt(a)*image + sqrt(1-a)*draw0", t["low_res.noised_image"],
         a.sqrt() * t["preprocess.image"].double() + (1 - a).sqrt() * t["randn.draw0"].double(), 1e-6)
    near(name, "latents.init = draw1", t["latents.init"], t["randn.draw1"])
    if sum(1 for k in t if k.startswith("randn.draw")) != len(s["draw_order"]):
        fail(f"{name}: random draws differ from draw_order")


def check_loop(name, t, s):
    ac = alphas_cumprod()
    latents = t["latents.init"].double()
    n = len(s["timesteps"])
    for i, ts in enumerate(s["timesteps"]):
        x = t[f"unet.call{i}.sample"]
        before = t["latents.init"] if i == 0 else t[f"callback.step{i - 1}.latents"]
        near(name, f"unet.call{i}.sample[:, :4] = latents", x[:, :4], torch.cat([before] * 2))
        near(name, f"unet.call{i}.sample[:, 4:] = noised image", x[:, 4:], torch.cat([t["low_res.noised_image"]] * 2))
        u, c = t[f"unet.call{i}.out"].chunk(2)
        v = u.double() + s["guidance_scale"] * (c.double() - u.double())
        near(name, f"step{i}.model_output = CFG", t[f"step{i}.model_output"], v, 1e-5)
        prev = ts - 1000 // s["num_inference_steps"]
        a_t, a_p = ac[ts], (ac[prev] if prev >= 0 else ac[0])  # set_alpha_to_one false: final alpha = ac[0]
        x0 = a_t.sqrt() * latents - (1 - a_t).sqrt() * v
        eps = a_t.sqrt() * v + (1 - a_t).sqrt() * latents
        latents = a_p.sqrt() * x0 + (1 - a_p).sqrt() * eps
        near(name, f"step{i} (DDIM v, eta 0, float64)", t[f"callback.step{i}.latents"], latents, 1e-5)
        latents = t[f"callback.step{i}.latents"].double()  # continue from the recorded latents
    near(name, "vae.decode.in = latents / 0.08333", t["vae.decode.in"], t[f"callback.step{n - 1}.latents"] / 0.08333,
         1e-5)
    near(name, "out.images = clamp(decode/2+0.5)", t["out.images"],
         (t["vae.decode.out"] / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1))
    if list(t["out.images"].shape[1:3]) != [4 * d for d in t["in.image_uint8"].shape[:2]]:
        fail(f"{name}: output {tuple(t['out.images'].shape)} is not 4x the input")


def check_replay(name, t, s):
    d = model_folder(s["model"])
    unet = UNet2DConditionModel.from_pretrained(os.path.join(d, "unet")).eval()
    out = unet(t["unet.call0.sample"], t["unet.call0.timestep"][0].long(), encoder_hidden_states=t[
        "unet.encoder_hidden_states"], class_labels=t["unet.class_labels"].long()).sample
    near(name, "replay unet.call0", out, t["unet.call0.out"])
    vae = AutoencoderKL.from_pretrained(os.path.join(d, "vae")).eval()
    near(name, "replay vae.decode", vae.decode(t["vae.decode.in"]).sample, t["vae.decode.out"])


if __name__ == "__main__":
    run_checks("upscale", [check_inputs, check_loop, check_replay])
