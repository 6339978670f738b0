"""bf16_refs/<kind>/<case>.safetensors: PyTorch's own bf16 on the golden forward-pass cases.

    make_bf16_refs.py OUTDIR [GOLDEN]      (OUTDIR = tests/fixtures, GOLDEN = tests/golden)

For every case of GOLDEN/cases/{unet,vae,clip_text,clip_vision,prior}, the same tiny model is loaded
as the case's generator loaded it (diffusers v0.26.3 / transformers 4.46.0.dev0 `from_pretrained`,
`.eval()`), then `model.to(torch.bfloat16)` — what a user asking PyTorch for bf16 writes — and run on
the case's recorded inputs:

- float inputs cast with `.to(torch.bfloat16)`: UNet in.sample, in.encoder_hidden_states,
  in.class_labels; VAE in.image, in.latent; CLIP vision pixel_values; prior in.hidden_states,
  in.proj_embedding, in.encoder_hidden_states;
- left as their generator made them: UNet timesteps (int64 or float32, as the case's
  timestep_dtype says, 0-d for the b2_cfg case), prior timestep (0-d int64), prior attention_mask
  (bool), CLIP input_ids (int64).

Each output (the keys test-fast-fidelity compares, same names) is written as float32 (bf16 values
are exact in float32), with its distance to the case's float32 output in the metadata: relative L2
‖bf16 − ref‖/‖ref‖ and max-abs max|bf16 − ref|, in float64. The same model is also run in float32
on the same inputs and must reproduce the case's output (rel L2 < 1e-5, recorded), which proves the
inputs and calls are the case's own. Single thread (torch.set_num_threads(1)). The distances of
every case also go to OUTDIR/bf16_refs/index.json.

`--probe` instead prints which products PyTorch runs in bf16 through oneDNN (DNNL_VERBOSE) and how
its element-wise kernels round (docs/performance.md, "Fidelity of fast").
"""
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "shared", "oracle", "diffusers"))

import torch  # noqa: E402

from common import save_st, versions  # noqa: E402  (../shared/oracle/diffusers/common.py)

torch.set_num_threads(1)
torch.set_grad_enabled(False)
BF = torch.bfloat16
KINDS = ["unet", "vae", "clip_text", "clip_vision", "prior"]


def load_case(path):
    from safetensors.torch import load_file
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    meta = json.loads(raw[8:8 + n]).get("__metadata__", {})
    return load_file(path), meta, hashlib.sha256(raw).hexdigest()


def bf(x):
    return x.to(BF)


# ---- one function per kind: (model loader, run(model, case, meta, dtype) -> {key: output}) ----

def unet_load(golden, meta):
    from diffusers import UNet2DConditionModel
    return UNet2DConditionModel.from_pretrained(os.path.join(golden, meta["model"])).eval()


def unet_run(m, c, meta, name, dt):
    tdt = torch.int64 if meta["timestep_dtype"] == "torch.int64" else torch.float32
    tv = c["in.timestep"].to(tdt)
    t = tv.reshape(()) if name.split(".")[1].startswith("b2") else tv  # as make_unet_vae_cases
    kw = {"class_labels": c["in.class_labels"].to(dt)} if "in.class_labels" in c else {}
    out = m(c["in.sample"].to(dt), t, encoder_hidden_states=c["in.encoder_hidden_states"].to(dt), **kw)
    return {"out.sample": out.sample}


def vae_load(golden, meta):
    from diffusers import AutoencoderKL
    return AutoencoderKL.from_pretrained(os.path.join(golden, meta["model"])).eval()


def vae_run(m, c, meta, name, dt):
    dist = m.encode(c["in.image"].to(dt)).latent_dist
    dec = m.decode(c["in.latent"].to(dt)).sample
    return {"out.latent_mean": dist.mean, "out.latent_logvar": dist.logvar, "out.decoded": dec}


def clip_text_load(golden, meta):
    from transformers import CLIPTextModelWithProjection
    return CLIPTextModelWithProjection.from_pretrained(os.path.join(golden, meta["model"])).eval()


def clip_text_run(m, c, meta, name, dt):
    ids = c["input_ids"].to(torch.int64)
    o = m(input_ids=ids, output_hidden_states=True)  # as oracle/clip/make_text_models.run
    return {"last_hidden_state": o.last_hidden_state,
            "pooled_output": m.text_model(input_ids=ids).pooler_output, "text_embeds": o.text_embeds}


def clip_vision_load(golden, meta):
    from transformers import CLIPVisionModelWithProjection
    return CLIPVisionModelWithProjection.from_pretrained(os.path.join(golden, meta["model"])).eval()


def clip_vision_run(m, c, meta, name, dt):
    pv = c["pixel_values"].to(dt)
    o = m(pixel_values=pv, output_hidden_states=True)  # as oracle/clip/make_vision_model.run
    return {"image_embeds": o.image_embeds, "last_hidden_state": o.last_hidden_state,
            "pooled_output": m.vision_model(pixel_values=pv).pooler_output}


def prior_load(golden, meta):
    from diffusers import PriorTransformer
    return PriorTransformer.from_pretrained(os.path.join(golden, meta["model"])).eval()


def prior_run(m, c, meta, name, dt):
    t = torch.tensor(int(c["in.timestep"].item()))  # 0-d int64, as make_embed_prior_cases
    out = m(c["in.hidden_states"].to(dt), timestep=t, proj_embedding=c["in.proj_embedding"].to(dt),
            encoder_hidden_states=c["in.encoder_hidden_states"].to(dt),
            attention_mask=c["in.attention_mask"] != 0)
    return {"out.predicted_image_embedding": out.predicted_image_embedding}


RUNNERS = {"unet": (unet_load, unet_run), "vae": (vae_load, vae_run),
           "clip_text": (clip_text_load, clip_text_run), "clip_vision": (clip_vision_load, clip_vision_run),
           "prior": (prior_load, prior_run)}
CASTS = {
    "unet": "model.to(bfloat16); in.sample, in.encoder_hidden_states, in.class_labels .to(bfloat16); "
            "timestep as recorded (timestep_dtype; 0-d for b2 cases)",
    "vae": "model.to(bfloat16); in.image, in.latent .to(bfloat16); encode().latent_dist mean/logvar, decode().sample",
    "clip_text": "model.to(bfloat16); input_ids int64 (no cast); last_hidden_state, text_model(ids).pooler_output, "
                 "text_embeds",
    "clip_vision": "model.to(bfloat16); pixel_values .to(bfloat16)",
    "prior": "model.to(bfloat16); in.hidden_states, in.proj_embedding, in.encoder_hidden_states .to(bfloat16); "
             "timestep 0-d int64; attention_mask bool",
}


def dist(out, ref):
    d = out.double() - ref.double()
    r = ref.double()
    return {"rel_l2": float(d.norm() / r.norm()), "max_abs": float(d.abs().max()),
            "ref_max_abs": float(r.abs().max())}


def one_case(golden, outd, kind, fname, models):
    path = os.path.join(golden, "cases", kind, fname)
    c, meta, sha = load_case(path)
    load, run = RUNNERS[kind]
    key = meta["model"]
    if key not in models:
        models.clear()  # one model at a time
        m32 = load(golden, meta)
        models[key] = (m32, load(golden, meta).to(BF))
    m32, m16 = models[key]
    name = fname[: -len(".safetensors")]
    o32, o16 = run(m32, c, meta, name, torch.float32), run(m16, c, meta, name, BF)
    tensors, dists = {}, {}
    for k, v in o16.items():
        assert v.dtype == BF, f"{name} {k}: PyTorch returned {v.dtype}, not bfloat16"
        f32 = dist(o32[k], c[k])
        assert f32["rel_l2"] < 1e-5, f"{name} {k}: float32 rerun is {f32['rel_l2']} from the case"
        tensors[k] = v.float()
        dists[k] = dict(dist(v, c[k]), f32_rerun_rel_l2=f32["rel_l2"])
    md = {"generator": "tests/oracle/make_bf16_refs.py", "golden_case": f"cases/{kind}/{fname}",
          "golden_case_sha256": sha, "model": meta["model"], "dtype": "torch.bfloat16", "casts": CASTS[kind],
          "distances": dists, "versions": versions(),
          "transformers_commit": "f2c388e3f946862f657acc1e21b272ec946fc66c",
          "note": "outputs are PyTorch's bfloat16 values stored as float32 (exact); distances in float64 to "
                  "the golden case's float32 output"}
    save_st(os.path.join(outd, kind, fname), tensors, md)
    return dists


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    if sys.argv[1] == "--probe":
        return probe()
    golden = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "golden")
    outd = os.path.join(sys.argv[1], "bf16_refs")
    index = {"generator": "tests/oracle/make_bf16_refs.py", "versions": versions(), "casts": CASTS, "cases": {}}
    for kind in KINDS:
        models = {}
        for fname in sorted(os.listdir(os.path.join(golden, "cases", kind))):
            if not fname.endswith(".safetensors"):
                continue
            d = one_case(golden, outd, kind, fname, models)
            index["cases"][f"{kind}/{fname}"] = d
            for k, v in d.items():
                print(f"{kind:11s} {fname:52s} {k:30s} rel L2 {v['rel_l2']:.3e} max-abs {v['max_abs']:.3e}")
    with open(os.path.join(outd, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


# ---- --probe: what PyTorch actually computes in bf16 ----

def probe_ops():
    import torch.nn.functional as F
    torch.manual_seed(0)

    def one(name, f, *xs):
        xb = [x.to(BF) for x in xs]
        yb = f(*xb).double()
        yf = f(*[x.float() for x in xb]).double()  # same bf16 inputs, float32 math
        yr = yf.float().to(BF).double()  # ... rounded once
        print(f"  {name:34s} equal to round_bf16(f32 op on the same inputs): {float((yb == yr).double().mean()):7.2%};"
              f" rel L2 to the f32 op {float((yb - yf).norm() / yf.norm()):.2e} (one rounding: "
              f"{float((yr - yf).norm() / yf.norm()):.2e})")

    x = torch.randn(2, 64, 16, 16) * 3 + 1
    one("group_norm (32 groups)", lambda a, w, b: F.group_norm(a, 32, w, b, 1e-5), x, torch.randn(64), torch.randn(64))
    one("layer_norm (768)", lambda a, w, b: F.layer_norm(a, (768,), w, b, 1e-5), torch.randn(2, 77, 768) * 3 + 1,
        torch.randn(768), torch.randn(768))
    one("softmax", lambda a: F.softmax(a, -1), torch.randn(8, 384, 384) * 4)
    one("silu", F.silu, torch.randn(100000) * 3)
    one("gelu", F.gelu, torch.randn(100000) * 3)
    one("add", lambda a, b: a + b, torch.randn(100000), torch.randn(100000))
    for K in (16, 1024):
        a, b = torch.randn(2, 384, K), torch.randn(2, K, 384)
        one(f"baddbmm(beta=0, alpha=0.25) K={K}",
            lambda p, q: torch.baddbmm(torch.empty(2, 384, 384, dtype=p.dtype), p, q, beta=0, alpha=0.25), a, b)
        one(f"bmm K={K}", torch.bmm, a, b)
        one(f"linear K={K}", lambda p, w: F.linear(p, w), a[0], b[0].t().contiguous())
    one("conv2d 3x3, 64 -> 64", lambda p, w: F.conv2d(p, w, padding=1), torch.randn(1, 64, 16, 16),
        torch.randn(64, 64, 3, 3))


def probe():
    import subprocess
    if os.environ.get("DNNL_VERBOSE") != "1":
        print("ops with bf16 inputs, 1 thread, this CPU:")
        probe_ops()
        print("oneDNN primitives run per module (DNNL_VERBOSE=1):")
        env = dict(os.environ, DNNL_VERBOSE="1")
        txt = subprocess.run([sys.executable, __file__, "--probe"], env=env, capture_output=True, text=True).stdout
        cur = None
        counts = {}
        for line in txt.splitlines():
            if line.startswith("MODULE "):
                cur = line.split()[1]
            elif line.startswith("onednn_verbose,exec") and cur:
                f = line.split(",")
                prim = f"{f[3]} {f[4]} {f[6].split()[0].split(':')[0]}"
                counts.setdefault(cur, {}).setdefault(prim, 0)
                counts[cur][prim] += 1
        for mod, d in counts.items():
            print(f"  {mod}: " + "; ".join(f"{n}x {p}" for p, n in sorted(d.items()) if "reorder" not in p))
        return
    golden = os.path.join(HERE, "..", "golden")
    for kind, fname in (("unet", "tiny-unclip.b1_16x24_t421.safetensors"), ("vae", "tiny-sd.32x32.safetensors"),
                        ("clip_text", "clip-text-tiny-gelu__cat_padeos.safetensors"),
                        ("clip_vision", "randn.safetensors"), ("prior", "prior_forward.case1.safetensors")):
        c, meta, _ = load_case(os.path.join(golden, "cases", kind, fname))
        load, run = RUNNERS[kind]
        m = load(golden, meta).to(BF)
        print(f"MODULE {kind}", flush=True)
        run(m, c, meta, fname[: -len(".safetensors")], BF)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
