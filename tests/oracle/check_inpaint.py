"""Internal consistency of tests/fixtures/cases/inpaint: the recorded tensors agree with each other and with
a replay of the reference code on the stored inputs. Exit status 1 on any failure.

Usage (repository root, oracle environment as make_inpaint.py):
    /usr/bin/python3 tests/oracle/check_inpaint.py tests/fixtures
Checks per case: mask preprocessing (uint8 PNG -> /255 -> binarised at 0.5 -> nearest resize to the latent
grid), masked image = image * (mask < 0.5), VAE posterior samples = mean + std * randn draw (x 0.18215),
initial latents from the recorded noise, the 9-channel UNet input layout, the 4-channel blend after every
step, the number of random draws against settings.draw_order, and a replay of UNet call 0 and of the VAE
decode on the recorded inputs (expected bit-identical on the machine that made the files)."""
import os

import torch
import torch.nn.functional as F

from check_common import fail, model_folder, near, run_checks
from diffusers import AutoencoderKL, UNet2DConditionModel


def check_mask(name, t, s):
    m = (t["in.mask_uint8"] / 255.0)[None, None]
    if "crop.coords" not in t:  # padding_mask_crop crops and resizes first (PIL Lanczos), not replayed here
        ref = torch.where(m < 0.5, torch.zeros_like(m), torch.ones_like(m))
        near(name, "preprocess.mask = binarise(mask/255)", t["preprocess.mask"], ref)
        near(name, "preprocess.image = image/127.5-1", t["preprocess.image"],
             (t["in.image_uint8"].permute(2, 0, 1)[None] / 255.0) * 2 - 1, 1e-6)
    h, w = t["latents.init"].shape[2:]
    small = F.interpolate(t["preprocess.mask"], size=(h, w))
    near(name, "mask latents = nearest(preprocess.mask)", t["mask_latents.mask"], torch.cat([small] * 2))
    near(name, "masked image = image * (mask < 0.5)", t["mask_latents.masked_image"],
         t["preprocess.image"] * (t["preprocess.mask"] < 0.5))


def check_draws(name, t, s):
    draws = [k for k in t if k.startswith("randn.draw")]
    n_steps = len(s["timesteps"])
    expect = len(s["draw_order"]) - 1 + n_steps if "one per step" in s["draw_order"][-1] else len(s["draw_order"])
    if len(draws) != expect:
        fail(f"{name}: {len(draws)} random draws, draw_order says {expect}")
    # encode calls: [image (4-channel UNet or strength < 1),] masked image; draws: [image sample,] noise, masked
    enc = sum(1 for k in t if k.startswith("vae.encode.call") and k.endswith(".in"))
    sf = 0.18215
    j = enc - 1  # index of the noise draw
    if enc == 2:
        near(name, "vae.encode(image) input", t["vae.encode.call0.in"], t["preprocess.image"])
        if "latents.image_latents" in t:
            near(name, "image_latents = 0.18215 * (mean + std * draw0)", t["latents.image_latents"],
                 sf * (t["vae.encode.call0.latent_mean"] + t["vae.encode.call0.latent_std"] * t["randn.draw0"]), 1e-6)
    last = f"vae.encode.call{enc - 1}"
    near(name, "vae.encode(masked image) input", t[last + ".in"], t["mask_latents.masked_image"])
    near(name, "masked_image_latents = 0.18215 * (mean + std * draw)", t["mask_latents.masked_image_latents"][:1],
         sf * (t[last + ".latent_mean"] + t[last + ".latent_std"] * t[f"randn.draw{j + 1}"]), 1e-6)
    near(name, "latents.noise = noise draw", t["latents.noise"], t[f"randn.draw{j}"])


def check_init(name, t, s):
    if s["strength"] == 1.0:
        if s["scheduler"]["class"] == "PNDMScheduler":  # init_noise_sigma 1
            near(name, "latents.init = noise * init_noise_sigma", t["latents.init"], t["latents.noise"])
    else:
        near(name, "latents.init = add_noise(image_latents, noise, t0)", t["latents.init"], t["add_noise.call0.out"])
        if int(t["add_noise.call0.timestep"][0]) != s["timesteps"][0]:
            fail(f"{name}: initial noise timestep {t['add_noise.call0.timestep']} != first loop timestep")


def check_loop(name, t, s):
    n = len(s["timesteps"])
    mask = t["mask_latents.mask"][:1]
    off = 1 if s["strength"] < 1.0 else 0
    for i in range(n):
        x = t[f"unet.call{i}.sample"]
        if s["unet_in_channels"] == 9:
            near(name, f"unet.call{i}.sample[:,4] = mask", x[:, 4:5], t["mask_latents.mask"])
            near(name, f"unet.call{i}.sample[:,5:] = masked image latents", x[:, 5:],
                 t["mask_latents.masked_image_latents"])
            near(name, f"callback.step{i} = step{i}.prev_sample", t[f"callback.step{i}.latents"],
                 t[f"step{i}.prev_sample"])
        else:
            if i < n - 1:
                proper = t[f"add_noise.call{i + off}.out"]
                if int(t[f"add_noise.call{i + off}.timestep"][0]) != s["timesteps"][i + 1]:
                    fail(f"{name}: blend {i} noised to {t[f'add_noise.call{i + off}.timestep']}")
            else:
                proper = t["latents.image_latents"]
            near(name, f"callback.step{i} = blend", t[f"callback.step{i}.latents"],
                 (1 - mask) * proper + mask * t[f"step{i}.prev_sample"], 1e-6)
        g = s["guidance_scale"]
        u, c = t[f"unet.call{i}.out"].chunk(2)
        near(name, f"step{i}.model_output = CFG", t[f"step{i}.model_output"], u + g * (c - u), 1e-5)
    near(name, "vae.decode.in = latents / 0.18215", t["vae.decode.in"], t[f"callback.step{n - 1}.latents"] / 0.18215)
    near(name, "out.images = clamp(decode/2+0.5)", t["out.images"],
         (t["vae.decode.out"] / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1))


def check_replay(name, t, s):
    d = model_folder(s["model"])
    unet = UNet2DConditionModel.from_pretrained(os.path.join(d, "unet")).eval()
    out = unet(t["unet.call0.sample"], t["unet.call0.timestep"][0].long(),
               encoder_hidden_states=t["unet.encoder_hidden_states"]).sample
    near(name, "replay unet.call0", out, t["unet.call0.out"])
    vae = AutoencoderKL.from_pretrained(os.path.join(d, "vae")).eval()
    near(name, "replay vae.decode", vae.decode(t["vae.decode.in"]).sample, t["vae.decode.out"])


if __name__ == "__main__":
    run_checks("inpaint", [check_mask, check_draws, check_init, check_loop, check_replay])
