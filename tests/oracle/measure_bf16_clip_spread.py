"""Why one CLIP text output loses to PyTorch bf16 (docs/fidelity.md): libdif's rounding points
emulated in PyTorch, on a golden case and over random prompts.

    measure_bf16_clip_spread.py [N_PROMPTS] [CASE ...]     (defaults: 300, the losing case)

Emulation of the precision fast: the float32 model, with every `F.linear` and `torch.bmm` (the
products of transformers' CLIP: projections, MLP, Q·Kᵀ and P·V) computed from inputs rounded to
bf16, accumulated in float64, returned in float32; everything else float32 — what libdif's fast
does (bf16 product inputs, float32 accumulation, float32 activations). Against it, PyTorch's own
bf16 (`model.to(torch.bfloat16)`). Prints, for each CASE of tests/golden/cases/clip_text, the
emulation's distances to the case's float32 outputs, then, over N random prompts (token ids drawn
with torch.Generator().manual_seed(7), 1..39 tokens between bos and eos-padding) on both tiny CLIP
text models, the spread of the ratio emulation / PyTorch-bf16 per output. Measures only; writes
nothing.
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "golden")
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "shared", "oracle", "diffusers"))
import common  # noqa: E402,F401  (../shared/oracle/diffusers/common.py: no grad)

torch.set_num_threads(1)
torch.set_grad_enabled(False)
MODELS = {"clip-text-tiny-gelu": (1512, 1513), "clip-text-tiny-quickgelu": (0, 2)}  # (bos, eos)
_linear0, _bmm0 = F.linear, torch.bmm  # PyTorch's own


def _r(t):
    return t.to(torch.bfloat16).double()


def _lin(x, w, b=None):
    y = (_r(x) @ _r(w).t()).float()
    return y + b if b is not None else y


def _bmm(a, b):
    return (_r(a) @ _r(b)).float()


def outputs(m, ids, emulate=False):
    if emulate:
        F.linear = torch.nn.modules.linear.F.linear = _lin
        torch.bmm = _bmm
    try:
        o = m(input_ids=ids)
        return {"last_hidden_state": o.last_hidden_state,
                "pooled_output": m.text_model(input_ids=ids).pooler_output, "text_embeds": o.text_embeds}
    finally:
        F.linear = torch.nn.modules.linear.F.linear = _linear0
        torch.bmm = _bmm0


def dist(x, ref):
    d = x.double() - ref.double()
    return float(d.norm() / ref.double().norm()), float(d.abs().max())


def main():
    from safetensors.torch import load_file
    from transformers import CLIPTextModelWithProjection
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    cases = sys.argv[2:] or ["clip-text-tiny-gelu__bang_padeos"]
    load = lambda name: CLIPTextModelWithProjection.from_pretrained(os.path.join(GOLDEN, "models", name)).eval()
    for case in cases:
        c = load_file(os.path.join(GOLDEN, "cases", "clip_text", case + ".safetensors"))
        m = load(case.split("__")[0])
        for k, v in outputs(m, c["input_ids"].to(torch.int64), emulate=True).items():
            r, a = dist(v, c[k])
            print(f"{case} {k:18s} emulated fast: rel L2 {r:.3e} max-abs {a:.3e}")
    for name, (bos, eos) in MODELS.items():
        m32, m16 = load(name), load(name).to(torch.bfloat16)
        g = torch.Generator().manual_seed(7)
        ratios = {}
        for _ in range(n):
            length = int(torch.randint(1, 40, (1,), generator=g))
            ids = torch.full((1, 77), eos)
            ids[0, 0] = bos
            ids[0, 1:1 + length] = torch.randint(3, 1500, (length,), generator=g)
            ref, pt, em = outputs(m32, ids), outputs(m16, ids), outputs(m32, ids, emulate=True)
            for k in ref:
                (er, ea), (pr, pa) = dist(em[k], ref[k]), dist(pt[k], ref[k])
                ratios.setdefault((k, "rel L2"), []).append(er / pr)
                ratios.setdefault((k, "max-abs"), []).append(ea / pa)
        for (k, what), v in ratios.items():
            v = torch.tensor(v)
            print(f"{name:25s} {k:18s} {what:8s} emulated fast / PyTorch bf16 over {n} prompts: median "
                  f"{float(v.median()):.2f}, 95th pct {float(v.quantile(0.95)):.2f}, max {float(v.max()):.2f}, "
                  f"share > 1.5: {float((v > 1.5).double().mean()):.1%}")


if __name__ == "__main__":
    main()
