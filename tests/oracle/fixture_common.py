"""Shared parts of the tests/oracle generators: where things are, what a case records, how it is saved.

Imports ../shared/oracle/diffusers/common.py (save_st, versions, write_json) and make_pipelines.py (its
recording wrappers: randn_tensor, UNet / text encoder / VAE decode calls, the step callback) from the
shared oracle, unchanged; nothing in diffusers is modified, only forward()s and methods are wrapped.
Run with /usr/bin/python3 after `source ../shared/oracle/env.sh; source ../shared/oracle/diffusers-env.sh`."""
import functools
import os
import sys

import numpy as np
import torch
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED_ORACLE = os.path.join(os.environ.get("DIF_SHARED", os.path.join(REPO, "..", "shared")), "oracle", "diffusers")
sys.path.insert(0, SHARED_ORACLE)

import make_pipelines as mp  # noqa: E402  (also applies the transformers compat fix and wraps randn_tensor)
from common import out_dir, save_st, versions, write_json  # noqa: E402,F401

GOLDEN = os.path.join(REPO, "tests", "golden")  # byte copy of ../shared/golden: read only
rec = mp.rec
REC = mp.REC
COUNT = mp.COUNT


def root():
    """the output root (tests/fixtures), first command-line argument"""
    return out_dir()


def ref(path):
    """a folder under the output root or under tests/golden -> "models/..." relative to that root"""
    for r in (root(), GOLDEN):
        rp = os.path.relpath(os.path.abspath(path), os.path.abspath(r))
        if not rp.startswith(".."):
            return rp.replace(os.sep, "/")
    raise ValueError(f"{path} is under neither {root()} nor {GOLDEN}")


def sched_ref(sched, config_dir, overrides):
    """scheduler reference (tests/golden/README-diffusers.md): <class>.from_config(<config>, **overrides)"""
    return {"class": type(sched).__name__, "config": ref(config_dir), "overrides": dict(overrides)}


def record_randn_in(*modules):
    """route these modules' randn_tensor through the oracle's recorder (randn.draw<j>, in draw order)"""
    for m in modules:
        m.randn_tensor = mp.recording_randn_tensor


def wrap_method(obj, name, record):
    """obj.<name>(*a, **k) -> record(j, a, k, out) after the real call (j = call index of this name)"""
    orig = getattr(obj, name)

    @functools.wraps(orig)  # keeps the signature: pipelines inspect step() for `generator` / `eta`
    def f(*a, **k):
        out = orig(*a, **k)
        j = COUNT.setdefault(name, 0)
        COUNT[name] += 1
        record(j, a, k, out)
        return out
    setattr(obj, name, f)


def wrap_scheduler(sched):
    """step<i>.{model_output, timestep, prev_sample} and add_noise.call<j>.{timestep, out} (its original and
    noise are tensors the pipeline recorded already; the consistency checks confirm which). Once per object."""
    if getattr(sched, "_oracle_wrapped", False):
        return
    sched._oracle_wrapped = True
    def step(j, a, k, out):
        rec(f"step{j}.model_output", a[0])
        rec(f"step{j}.timestep", torch.as_tensor(a[1]).reshape(-1).float())
        rec(f"step{j}.prev_sample", out[0] if isinstance(out, tuple) else out.prev_sample)

    def add_noise(j, a, k, out):
        rec(f"add_noise.call{j}.timestep", torch.as_tensor(a[2]).reshape(-1).float())
        rec(f"add_noise.call{j}.out", out)
    wrap_method(sched, "step", step)
    wrap_method(sched, "add_noise", add_noise)


def wrap_vae_encode(vae):
    """vae.encode.call<j>.{in, latent_mean, latent_std} (the posterior sample itself is a randn draw)"""
    def r(j, a, k, out):
        rec(f"vae.encode.call{j}.in", a[0])
        rec(f"vae.encode.call{j}.latent_mean", out.latent_dist.mean)
        rec(f"vae.encode.call{j}.latent_std", out.latent_dist.std)
    wrap_method(vae, "encode", r)


def test_image(h, w, seed):
    """deterministic RGB input: smooth gradients + seeded noise (as make_pipelines.input_image_public)"""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 256.0 / w, yy * 256.0 / h, (xx + yy) * 128.0 / max(h, w)], -1)
    arr = np.clip(base + rng.randint(-40, 41, size=base.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def save_png(img, folder, name):
    img.save(os.path.join(folder, name))
    return name


def as_float_tensors(t):
    """every recorded tensor as float32 (integer labels/timesteps too, as in tests/golden)"""
    return {k: (v.float() if not torch.is_floating_point(v) else v) for k, v in t.items()}


def save_case(outd, index, name, pipeline, settings, extra=None):
    """<name>.safetensors (everything recorded + extra; metadata settings/versions) and its index.json entry"""
    t = dict(REC)
    t.update(extra or {})
    t = as_float_tensors(t)
    save_st(os.path.join(outd, name + ".safetensors"), t, {"settings": settings, "versions": versions()})
    index["runs"].append({"file": name + ".safetensors", "pipeline": pipeline, "settings": settings,
                          "tensors": {k: list(v.shape) for k, v in t.items()}})


def start_case():
    REC.clear()
    COUNT.clear()


def uint8_tensor(img):
    """a PIL image as the float32 tensor of its uint8 values (H, W, C) or (H, W)"""
    return torch.from_numpy(np.asarray(img).astype(np.float32))
