"""bf16_refs/default_model_psnr.json: how far PyTorch's own bf16 lands from its float32 on whole
generations of the trained default model (models/dif-shapes-64), per image, in PSNR.

    make_bf16_generation_psnr.py OUTDIR [MODEL_DIR] [IMAGES_DIR]   (OUTDIR = tests/fixtures)

The real diffusers v0.26.3 StableUnCLIPPipeline loaded from the model folder (its model_index.json)
runs the 20 prompts of the model's eval.json at seeds 0 and 1 with the model's recommended settings
(dif_defaults.json: 64x64, 25 decoder steps at guidance 3, 25 prior steps at guidance 2,
noise_level 0; generator = torch.Generator().manual_seed(seed), as the model's README), twice:
float32, and after `pipe.to(torch.bfloat16)`.

Same noise in both: torch.randn with dtype=bfloat16 draws *different* numbers from the float32
draw (the generator fills bf16 directly), so a plain bf16 run starts from another noise and its
distance says nothing about precision. Every randn asked for in bfloat16 is therefore drawn in
float32 and cast (recorded as "noise"), which is what libdif does in every precision (its
activations are float32). The plain runs' PSNR is recorded too ("psnr_plain_bf16_noise").

PSNR = 10·log10(255² / MSE) over the 64x64x3 8-bit images (pipeline output_type "pil"), per image
and of the MSE averaged over all 40 (the summary's psnr_of_mean_mse). Also
written, if IMAGES_DIR is given: the float32 and bf16 images as PNG (for the libdif comparison).
"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "shared", "oracle", "diffusers"))
from common import transformers_compat, versions  # noqa: E402

torch.set_num_threads(1)
torch.set_grad_enabled(False)
SEEDS = (0, 1)
_randn = torch.randn


def randn_f32_then_cast(*args, dtype=None, **kw):
    if dtype in (torch.bfloat16, torch.float16):
        return _randn(*args, dtype=torch.float32, **kw).to(dtype)
    return _randn(*args, dtype=dtype, **kw)


def mse(a, b):
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def psnr_of(m):
    return float("inf") if m == 0 else float(10 * np.log10(255.0 ** 2 / m))


def psnr(a, b):
    return psnr_of(mse(a, b))


def run(pipe, prompt, seed, d):
    img = pipe(prompt, height=d["height"], width=d["width"], num_inference_steps=d["steps"],
               guidance_scale=d["guidance"], prior_num_inference_steps=d["prior_steps"],
               prior_guidance_scale=d["prior_guidance"], noise_level=d["noise_level"],
               generator=torch.Generator().manual_seed(seed)).images[0]
    return img


def main():
    transformers_compat()  # the oracle's AddedToken fix (no Rust tokenizers here)
    from diffusers import StableUnCLIPPipeline
    from diffusers.utils import logging
    logging.disable_progress_bar()
    outd = os.path.join(sys.argv[1], "bf16_refs")
    model = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "..", "models", "dif-shapes-64")
    imgd = sys.argv[3] if len(sys.argv) > 3 else None
    with open(os.path.join(model, "dif_defaults.json")) as f:
        d = json.load(f)
    with open(os.path.join(model, "eval.json")) as f:
        prompts = [p["prompt"] for p in json.load(f)["per_prompt_seed0"]]
    p32 = StableUnCLIPPipeline.from_pretrained(model)
    p32.set_progress_bar_config(disable=True)
    p16 = StableUnCLIPPipeline.from_pretrained(model).to(torch.bfloat16)
    p16.set_progress_bar_config(disable=True)
    rows = []
    for i, prompt in enumerate(prompts):
        for seed in SEEDS:
            a = run(p32, prompt, seed, d)
            plain = np.asarray(run(p16, prompt, seed, d))
            torch.randn = randn_f32_then_cast
            try:
                b = run(p16, prompt, seed, d)
            finally:
                torch.randn = _randn
            if imgd:
                os.makedirs(imgd, exist_ok=True)
                a.save(os.path.join(imgd, f"p{i:02d}-s{seed}-f32.png"))
                b.save(os.path.join(imgd, f"p{i:02d}-s{seed}-bf16.png"))
            a, b = np.asarray(a), np.asarray(b)
            rows.append({"prompt_index": i, "prompt": prompt, "seed": seed, "mse_bf16_vs_f32": mse(a, b),
                         "psnr_bf16_vs_f32": psnr(a, b),
                         "psnr_plain_bf16_noise": psnr(a, plain)})
            print(f"{i:2d} seed {seed}: PSNR bf16 vs f32 {rows[-1]['psnr_bf16_vs_f32']:.2f} dB "
                  f"(plain bf16 noise: {rows[-1]['psnr_plain_bf16_noise']:.2f} dB)  {prompt}", flush=True)
    v = np.array([r["psnr_bf16_vs_f32"] for r in rows])
    out = {"generator": "tests/oracle/make_bf16_generation_psnr.py", "model": "models/dif-shapes-64",
           "settings": d, "seeds": list(SEEDS), "pipeline": "diffusers StableUnCLIPPipeline",
           "precisions": "float32, and pipe.to(torch.bfloat16)",
           "noise": "every torch.randn asked for in bfloat16 drawn in float32 and cast (same noise as float32)",
           "psnr": "10*log10(255^2/MSE) on the 8-bit RGB images (MSE over 64x64x3 values)", "versions": versions(),
           "summary": {"psnr_of_mean_mse": psnr_of(float(np.mean([r["mse_bf16_vs_f32"] for r in rows]))),
                       "mean": float(v.mean()), "median": float(np.median(v)), "min": float(v.min()),
                       "max": float(v.max())},
           "images": rows}
    os.makedirs(outd, exist_ok=True)
    with open(os.path.join(outd, "default_model_psnr.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("PSNR PyTorch bf16 vs f32: mean %.2f median %.2f min %.2f max %.2f dB" % (
        v.mean(), np.median(v), v.min(), v.max()))


if __name__ == "__main__":
    main()
