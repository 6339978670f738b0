"""models/tiny-sd-inpaint/ and cases/inpaint/: StableDiffusionInpaintPipeline (diffusers v0.26.3) on tiny models.

Usage (repository root): /usr/bin/python3 tests/oracle/make_inpaint.py tests/fixtures
Two paths of the real pipeline:
  * a 4-channel UNet (tests/golden's models/tiny-sd): after every scheduler step the unmasked part of the
    latents is replaced by the image latents noised to the next timestep (`init_latents_proper`);
  * a 9-channel inpainting UNet (models/tiny-sd-inpaint, made here): the UNet input is
    cat(scaled latents, mask, masked-image latents); one case with padding_mask_crop.
Every case: one torch.Generator('cpu').manual_seed(seed); what it records is in tests/fixtures/README-editing.md."""
import json
import os
import shutil

import numpy as np
import torch
from PIL import Image

import fixture_common as fc
import diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_inpaint as m_inpaint
from diffusers import StableDiffusionInpaintPipeline, UNet2DConditionModel
from common import perturb

fc.record_randn_in(m_inpaint)

PROMPT = "a watercolor painting of a lighthouse"
NEGATIVE = "ugly"


# ------------------------------------------------------------------------------------------------ model
def make_inpaint_model(models):
    """tiny-sd with its UNet replaced by a 9-channel one (otherwise tiny-sd's UNet config); the other parts
    are byte copies of tests/golden/models/tiny-sd (vae, text_encoder, tokenizer, scheduler)."""
    src = os.path.join(fc.GOLDEN, "models", "tiny-sd")
    d = os.path.join(models, "tiny-sd-inpaint")
    if os.path.isdir(d):
        shutil.rmtree(d)
    cfg = dict(UNet2DConditionModel.load_config(os.path.join(src, "unet")))
    cfg = {k: v for k, v in cfg.items() if not k.startswith("_")}
    cfg["in_channels"] = 9
    torch.manual_seed(400)
    unet = perturb(UNet2DConditionModel.from_config(cfg).eval(), 401)
    for sub in ("vae", "text_encoder", "tokenizer", "scheduler"):
        shutil.copytree(os.path.join(src, sub), os.path.join(d, sub))
    unet.save_pretrained(os.path.join(d, "unet"))
    with open(os.path.join(src, "model_index.json")) as f:
        index = json.load(f)
    index["_class_name"] = "StableDiffusionInpaintPipeline"
    with open(os.path.join(d, "model_index.json"), "w") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return d


# ------------------------------------------------------------------------------------------------ inputs
def rect_mask(h, w, box):
    """L-mode mask: 255 inside box = (x0, y0, x1, y1) half-open, 0 elsewhere"""
    m = np.zeros((h, w), np.uint8)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = 255
    return Image.fromarray(m, "L")


def soft_mask(h, w, seed):
    """L-mode irregular soft mask: a noisy ellipse with a ramp edge (grey values all through 0..255), and
    two threshold probes on pixels the nearest-neighbour latent resize reads: (0,0) = 128 (>= 0.5 -> 1)
    and (0,2) = 127 (< 0.5 -> 0)."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    d = np.sqrt(((xx - 0.55 * w) / (0.3 * w)) ** 2 + ((yy - 0.45 * h) / (0.33 * h)) ** 2)
    v = (1.25 - d) * 255.0 / 0.5 + rng.randint(-60, 61, size=d.shape)
    m = np.clip(np.rint(v), 0, 255).astype(np.uint8)
    m[0, 0], m[0, 2] = 128, 127
    return Image.fromarray(m, "L")


# ------------------------------------------------------------------------------------------------ recording
def wrap_pipeline(pipe):
    fc.mp.wrap_unet(pipe.unet)
    fc.mp.wrap_text(pipe.text_encoder, "text_encoder")
    fc.mp.wrap_vae_decode(pipe.vae)
    fc.wrap_vae_encode(pipe.vae)

    def pre_image(j, a, k, out):
        fc.rec("preprocess.image", out)

    def pre_mask(j, a, k, out):
        fc.rec("preprocess.mask", out)

    def crop(j, a, k, out):
        fc.rec("crop.coords", torch.tensor(out, dtype=torch.float32))

    def latents(j, a, k, out):
        fc.rec("latents.init", out[0])
        fc.rec("latents.noise", out[1])
        if len(out) > 2:
            fc.rec("latents.image_latents", out[2])

    def mask_latents(j, a, k, out):
        fc.rec("mask_latents.masked_image", a[1])
        fc.rec("mask_latents.mask", out[0])
        fc.rec("mask_latents.masked_image_latents", out[1])
    fc.wrap_method(pipe.image_processor, "preprocess", pre_image)
    fc.wrap_method(pipe.mask_processor, "preprocess", pre_mask)
    fc.wrap_method(pipe.mask_processor, "get_crop_region", crop)
    fc.wrap_method(pipe, "prepare_latents", latents)
    fc.wrap_method(pipe, "prepare_mask_latents", mask_latents)


def wrap_postprocess(pipe):
    """output_type "pil" (needed by padding_mask_crop): also record the float image output_type="np" gives"""
    orig = pipe.image_processor.postprocess

    def post(image, output_type="pil", do_denormalize=None):
        fc.rec("out.images", torch.from_numpy(orig(image, output_type="np", do_denormalize=do_denormalize)))
        out = orig(image, output_type=output_type, do_denormalize=do_denormalize)
        fc.rec("out.generated_uint8", fc.uint8_tensor(out[0]))
        return out
    pipe.image_processor.postprocess = post


def draw_order(s, in_channels):
    """the randn_tensor draws of this call, in order (as the recorded randn.draw<j>)"""
    enc_image = in_channels == 4 or s["strength"] < 1.0
    order = ["vae.encode(image).latent_dist.sample"] if enc_image else []
    order.append("prepare_latents noise")
    order.append("vae.encode(masked_image).latent_dist.sample")
    if s["scheduler"]["class"] == "EulerAncestralDiscreteScheduler":
        order.append("scheduler.step noise, one per step")
    return order


ENCODER_TOL = 1e-5  # the golden runner's tolerance for VAE encoder outputs


def encoder_replays(model_dir, s):
    """PyTorch's float32 VAE encoder is not always within ENCODER_TOL of the exact result: the pipeline's
    input is a transposed numpy array (channels-last strides), for which PyTorch 1.13 picks another
    convolution path; in the 48x48 crop case its latent mean is 2.2e-5 from a float64 replay. Where a
    recorded encode call's mean or std is further than ENCODER_TOL from the same encoder in float64 on
    the recorded input, record that replay too (vae.encode.call<j>.latent_<mean|std>.f64_replay) and the
    distance (settings "reference_error"), so the runner compares with it at the same tolerance; the
    cases within ENCODER_TOL record nothing more (their files are unchanged)."""
    from diffusers import AutoencoderKL
    vae = AutoencoderKL.from_pretrained(os.path.join(model_dir, "vae")).double().eval()
    errs = {}
    for j in range(4):
        x = fc.REC.get(f"vae.encode.call{j}.in")
        if x is None:
            break
        with torch.no_grad():
            dist = vae.encode(x.double()).latent_dist
        for part, exact in (("latent_mean", dist.mean), ("latent_std", dist.std)):
            name = f"vae.encode.call{j}.{part}"
            err = (fc.REC[name].double() - exact).abs().max().item()
            if err > ENCODER_TOL:
                errs[name] = float(f"{err:.3g}")
                fc.rec(name + ".f64_replay", exact.float())
    if errs:
        s["reference_error"] = errs


def loop_timesteps():
    """the timesteps the denoising loop ran, from the step callback's records"""
    n = sum(1 for k in fc.REC if k.startswith("callback.step") and k.endswith(".t"))
    return [int(fc.REC[f"callback.step{i}.t"].item()) for i in range(n)]


def run_case(outd, index, name, pipe, model_dir, s, image, mask, sched=None):
    """one pipeline call with settings s (the pipeline's keyword arguments + seed + file names)"""
    fc.start_case()
    old = pipe.scheduler
    if sched is not None:
        import diffusers
        pipe.scheduler = getattr(diffusers, sched[0]).from_config(old.config, **sched[1])
    fc.wrap_scheduler(pipe.scheduler)
    s = dict({"model": fc.ref(model_dir)}, **s)
    s["scheduler"] = fc.sched_ref(pipe.scheduler, os.path.join(model_dir, "scheduler"), sched[1] if sched else {})
    s["unet_in_channels"] = pipe.unet.config.in_channels
    s["generator"] = f"torch.Generator('cpu').manual_seed({s['seed']})"
    s["draw_order"] = draw_order(s, pipe.unet.config.in_channels)
    kw = {k: s[k] for k in ("prompt", "negative_prompt", "height", "width", "strength", "guidance_scale",
                            "num_inference_steps", "padding_mask_crop") if k in s}
    pil = s.get("padding_mask_crop") is not None
    s["output_type"] = "pil" if pil else "np"
    if pil:
        wrap_postprocess(pipe)
    out = pipe(image=image, mask_image=mask, generator=torch.Generator().manual_seed(s["seed"]),
               callback_on_step_end=fc.mp.callback_new, callback_on_step_end_tensor_inputs=["latents"],
               output_type=s["output_type"], **kw).images
    if pil:
        del pipe.image_processor.postprocess
        fc.rec("out.image_uint8", fc.uint8_tensor(out[0]))
    else:
        fc.rec("out.images", torch.from_numpy(np.asarray(out, dtype=np.float32)))
    pipe.scheduler = old
    s["timesteps"] = loop_timesteps()
    encoder_replays(model_dir, s)
    extra = {"in.image_uint8": fc.uint8_tensor(image), "in.mask_uint8": fc.uint8_tensor(mask)}
    fc.save_case(outd, index, name, type(pipe).__name__, s, extra)


def load(model_dir):
    pipe = StableDiffusionInpaintPipeline.from_pretrained(model_dir)
    pipe.set_progress_bar_config(disable=True)
    wrap_pipeline(pipe)
    return pipe


def main():
    outd = fc.out_dir("cases/inpaint")
    inpaint_dir = make_inpaint_model(fc.out_dir("models"))
    index = {"versions": fc.versions(), "runs": []}
    png = {}
    for name, img in [("input_32x32.png", fc.test_image(32, 32, 11)), ("input_32x48.png", fc.test_image(32, 48, 12)),
                      ("input_48x48.png", fc.test_image(48, 48, 13)),
                      ("mask_rect_32x32.png", rect_mask(32, 32, (8, 10, 24, 22))),
                      ("mask_rect_32x48.png", rect_mask(32, 48, (20, 6, 44, 26))),
                      ("mask_rect_48x48.png", rect_mask(48, 48, (26, 8, 40, 16))),
                      ("mask_soft_32x48.png", soft_mask(32, 48, 21)), ("mask_soft_32x32.png", soft_mask(32, 32, 22))]:
        fc.save_png(img, outd, name)
        png[name] = Image.open(os.path.join(outd, name))  # what the pipeline reads: the PNG file
        png[name].load()
    rects = {"mask_rect_32x32.png": [8, 10, 24, 22], "mask_rect_32x48.png": [20, 6, 44, 26],
             "mask_rect_48x48.png": [26, 8, 40, 16]}

    def case(pipe, model_dir, name, img, mask, h, w, seed, strength, steps, sched=None, **more):
        s = {"prompt": PROMPT, "negative_prompt": NEGATIVE, "image": img, "mask_image": mask, "height": h,
             "width": w, "strength": strength, "guidance_scale": 7.5, "num_inference_steps": steps, "seed": seed}
        if mask in rects:
            s["mask_rect"] = rects[mask]
        s.update(more)
        run_case(outd, index, name, pipe, model_dir, s, png[img].convert("RGB"), png[mask], sched)

    sd = os.path.join(fc.GOLDEN, "models", "tiny-sd")
    p4 = load(sd)
    case(p4, sd, "sd_inpaint4.rect.32x32.strength1", "input_32x32.png", "mask_rect_32x32.png", 32, 32, 41, 1.0, 5)
    case(p4, sd, "sd_inpaint4.soft.32x48.strength0.75", "input_32x48.png", "mask_soft_32x48.png", 32, 48, 42, 0.75, 8)
    case(p4, sd, "sd_inpaint4.rect.32x32.euler_a.strength0.75", "input_32x32.png", "mask_rect_32x32.png", 32, 32, 43,
         0.75, 8, sched=("EulerAncestralDiscreteScheduler", {}))
    p9 = load(inpaint_dir)
    case(p9, inpaint_dir, "sd_inpaint9.soft.32x32.strength1", "input_32x32.png", "mask_soft_32x32.png", 32, 32, 51,
         1.0, 5)
    case(p9, inpaint_dir, "sd_inpaint9.rect.32x48.strength0.75", "input_32x48.png", "mask_rect_32x48.png", 32, 48, 52,
         0.75, 8)
    case(p9, inpaint_dir, "sd_inpaint9.crop4.48x48.strength1", "input_48x48.png", "mask_rect_48x48.png", 48, 48, 53,
         1.0, 5, padding_mask_crop=4)
    fc.write_json(os.path.join(outd, "index.json"), index)


if __name__ == "__main__":
    main()
