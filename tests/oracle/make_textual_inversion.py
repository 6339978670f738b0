"""tests/fixtures textual-inversion embeddings on tests/golden's tiny models and cases/textual_inversion/: diffusers
v0.26.3 `load_textual_inversion`.

Usage (repository root): /usr/bin/python3 tests/oracle/make_textual_inversion.py tests/fixtures

Writes
  models/textual_inversion/tiny-cat-toy.safetensors   diffusers layout, one vector: {"<cat-toy>": [32]}
  models/textual_inversion/tiny-shape3.safetensors    diffusers layout, three vectors: {"<shape3>": [3, 32]}
  models/textual_inversion/tinystyle.safetensors      AUTOMATIC1111 layout: {"emb_params": [2, 32]}; its token is the
                                                      file's stem "tinystyle" (A1111's rule; libdif's default).
                                                      diffusers would call it "emb_params" unless told, so the
                                                      reference passes token="tinystyle" explicitly.
  cases/textual_inversion/<name>.safetensors + index.json

Every vector: torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 0.5 (seeds 1901, 1902, 1903), in
float32 (the text encoders' dtype). The tiny models' tokenizers have 1514 tokens = the text encoders' vocab_size, so
the new rows start at id 1514 and resize_token_embeddings leaves no randomly initialised row in use.

Cases (settings.embeddings: [{file, token (null: the file's)}]; settings.converted: maybe_convert_prompt's output for
the prompt and the negative prompt; ti.token_ids: convert_tokens_to_ids of every added token, in order):
  sd.cat_toy       tiny-sd (SD-1 style), the sd_txt2img.32x32 run of tests/golden (guidance 7.5, 5 PNDM steps, seed
                   31) with the prompt "a photo of <cat-toy> on a table" and negative "ugly".
  sd.shape3_neg    tiny-sd, the three-vector embedding in the prompt AND the negative prompt (both converted).
  sd.all_three     tiny-sd, all three files (A1111's with its stem token, written "TinyStyle" in the prompt, which
                   is NOT the token: CLIPTokenizer has no do_lower_case and splits the raw text on added tokens
                   case-sensitively, so it stays BPE text; "tinystyle" in the negative prompt is).
  unclip.shape3    tiny-unclip (SD-2 style tokenizer, pad "!"; StableUnCLIPImg2ImgPipeline: only the decoder's
                   tokenizer/text encoder receive the embedding, as diffusers), tests/golden's
                   unclip_img2img.nl0.gs10.32x32 run with a prompt holding the three-vector token.
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

torch.set_num_threads(1)

TINY = os.path.join(fc.GOLDEN, "models", "tiny-sd")
UNCLIP = os.path.join(fc.GOLDEN, "models", "tiny-unclip")
RUN = {"guidance_scale": 7.5, "num_inference_steps": 5, "height": 32, "width": 32, "seed": 31,
       "generator": "torch.Generator('cpu').manual_seed(31)"}


def randn(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 0.5


def make_files(d):
    files = {"cat_toy": (os.path.join(d, "tiny-cat-toy.safetensors"), {"<cat-toy>": randn((32,), 1901)}, 1901),
             "shape3": (os.path.join(d, "tiny-shape3.safetensors"), {"<shape3>": randn((3, 32), 1902)}, 1902),
             "tinystyle": (os.path.join(d, "tinystyle.safetensors"), {"emb_params": randn((2, 32), 1903)}, 1903)}
    for path, st, seed in files.values():
        save_file(st, path, metadata={"settings": json.dumps({"seed": seed, "scale": "randn * 0.5"})})
    return {k: v[0] for k, v in files.items()}


def load(pipe, files, embs):
    """each embedding by its own load_textual_inversion call (token: explicit, or None for the file's; the A1111
    file's stem passed explicitly, what libdif derives)"""
    for key, token in embs:
        path = files[key]
        explicit = token
        if explicit is None and key == "tinystyle":
            explicit = os.path.basename(path)[:-len(".safetensors")]
        pipe.load_textual_inversion(path, token=explicit)


def added_ids(pipe):
    enc = pipe.tokenizer.added_tokens_encoder
    names = sorted((i, t) for t, i in enc.items() if i >= 1514)
    return [t for _, t in names], torch.tensor([float(i) for i, _ in names])


def settings_for(files, embs, pipe, prompt, negative):
    return {"embeddings": [{"file": fc.ref(files[k]), "token": t} for k, t in embs],
            "converted": {"prompt": pipe.maybe_convert_prompt(prompt, pipe.tokenizer),
                          "negative_prompt": pipe.maybe_convert_prompt(negative, pipe.tokenizer)},
            "diffusers_call": "pipe.load_textual_inversion(file, token=token) per file (A1111 file: token=its stem)"}


def sd_case(outd, index, files, name, embs, prompt, negative):
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(TINY)
    pipe.set_progress_bar_config(disable=True)
    load(pipe, files, embs)
    fc.mp.wrap_unet(pipe.unet)
    fc.mp.wrap_text(pipe.text_encoder, "text_encoder")
    fc.mp.wrap_vae_decode(pipe.vae)
    fc.start_case()
    img = pipe(prompt=prompt, negative_prompt=negative, guidance_scale=RUN["guidance_scale"],
               num_inference_steps=RUN["num_inference_steps"], height=32, width=32,
               generator=torch.Generator().manual_seed(RUN["seed"]), output_type="np",
               callback_on_step_end=fc.mp.callback_new, callback_on_step_end_tensor_inputs=["latents"]).images
    fc.rec("out.images", torch.from_numpy(np.asarray(img, dtype=np.float32)))
    tokens, ids = added_ids(pipe)
    s = dict({"model": fc.ref(TINY), "prompt": prompt, "negative_prompt": negative}, **RUN)
    s["scheduler"] = fc.sched_ref(pipe.scheduler, os.path.join(TINY, "scheduler"), {})
    s.update(settings_for(files, embs, pipe, prompt, negative))
    s["added_tokens"] = tokens
    fc.save_case(outd, index, name, type(pipe).__name__, s, {"ti.token_ids": ids})
    print(name, s["converted"], tokens)


def unclip_case(outd, index, files, name, embs, prompt):
    from PIL import Image
    from safetensors import safe_open
    gcase = os.path.join(fc.GOLDEN, "cases", "pipelines", "unclip_img2img.nl0.gs10.32x32.safetensors")
    with safe_open(gcase, "pt") as f:
        g = json.loads(f.metadata()["settings"])
    image = Image.open(os.path.join(fc.GOLDEN, "cases", "pipelines", g["image"])).convert("RGB")
    pipe = diffusers.StableUnCLIPImg2ImgPipeline.from_pretrained(UNCLIP)
    pipe.set_progress_bar_config(disable=True)
    load(pipe, files, embs)
    fc.mp.wrap_unet(pipe.unet)
    fc.mp.wrap_text(pipe.text_encoder, "text_encoder")
    fc.mp.wrap_vae_decode(pipe.vae)
    fc.mp.wrap_image_encoder(pipe.image_encoder)
    fc.start_case()
    kw = {k: g[k] for k in ("noise_level", "guidance_scale", "num_inference_steps", "height", "width")}
    img = pipe(image=image, prompt=prompt, **kw, output_type="np",
               generator=torch.Generator().manual_seed(g["seed"]), callback=fc.mp.callback_old,
               callback_steps=1).images
    fc.rec("out.images", torch.from_numpy(np.asarray(img, dtype=np.float32)))
    tokens, ids = added_ids(pipe)
    s = dict(g, model=fc.ref(UNCLIP), image="cases/pipelines/" + g["image"], prompt=prompt,
             golden_case="cases/pipelines/unclip_img2img.nl0.gs10.32x32.safetensors")
    s.update(settings_for(files, embs, pipe, prompt, ""))
    s["added_tokens"] = tokens
    fc.save_case(outd, index, name, type(pipe).__name__, s,
                 {"in.image_uint8": fc.uint8_tensor(image), "ti.token_ids": ids})
    print(name, s["converted"], tokens)


def main():
    root = fc.root()
    files = make_files(fc.out_dir("models/textual_inversion"))
    outd = fc.out_dir("cases/textual_inversion")
    index = {"versions": fc.versions(), "runs": []}
    sd_case(outd, index, files, "sd.cat_toy", [("cat_toy", None)], "a photo of <cat-toy> on a table", "ugly")
    sd_case(outd, index, files, "sd.shape3_neg", [("shape3", None)], "a <shape3> house at night",
            "<shape3>, blurry")
    sd_case(outd, index, files, "sd.all_three", [("cat_toy", None), ("shape3", None), ("tinystyle", None)],
            "<cat-toy> and <shape3> in TinyStyle", "tinystyle")
    unclip_case(outd, index, files, "unclip.shape3", [("shape3", None)], "a <shape3> on the beach!")
    fc.write_json(os.path.join(outd, "index.json"), index)
    del root


if __name__ == "__main__":
    main()
