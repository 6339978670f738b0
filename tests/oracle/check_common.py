"""Shared parts of the consistency checks of tests/fixtures (check_inpaint.py, check_upscale.py)."""
import json
import os
import sys

import torch

import fixture_common as fc
from safetensors.torch import load_file

FAIL = []


def fail(msg):
    FAIL.append(msg)


def near(name, what, a, b, tol=0.0):
    """a == b within tol (max abs difference, float64); a failure is recorded, not raised"""
    d = float((a.double() - b.double()).abs().max()) if a.numel() else 0.0
    if a.shape != b.shape or d > tol:
        FAIL.append(f"{name}: {what}: shape {tuple(a.shape)} vs {tuple(b.shape)}, max |diff| {d:.3g} > {tol:g}")
    return d


def model_folder(rel):
    """a settings path (models/...) -> the folder, searched in the output root, then tests/golden"""
    for r in (fc.root(), fc.GOLDEN):
        if os.path.isdir(os.path.join(r, rel)):
            return os.path.join(r, rel)
    raise SystemExit(f"{rel}: not found")


def run_checks(kind, checks):
    """every run of cases/<kind>/index.json through every check(name, tensors, settings); exit 1 on failure"""
    torch.set_grad_enabled(False)
    d = os.path.join(fc.root(), "cases", kind)
    with open(os.path.join(d, "index.json")) as f:
        index = json.load(f)
    for run in index["runs"]:
        t = load_file(os.path.join(d, run["file"]))
        n0 = len(FAIL)
        for check in checks:
            check(run["file"], t, run["settings"])
        print(("ok   " if len(FAIL) == n0 else "FAIL ") + run["file"])
    for f in FAIL:
        print("  " + f)
    sys.exit(1 if FAIL else 0)
