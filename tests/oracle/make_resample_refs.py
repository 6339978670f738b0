#!/usr/bin/python3
"""Pillow reference resizes and composites for tests/unit/test-resample.c.

Writes <root>/resample/pillow_refs.safetensors (uint8 tensors, settings in
__metadata__) with the Debian python3-pil (Pillow 9.4.0) and numpy only:

  case<k>.in   (h, w, 3) or (h, w)   a noise image (numpy RandomState(seed)),
                                     for the L cases the single band
  case<k>.out  (oh, ow, 3) or (oh, ow)  Image.resize((ow, oh), filter, box)
  over<k>.{image,init,mask,out}      diffusers' apply_overlay arithmetic
                                     (crop_coords None): RGBa paste with the
                                     inverted mask, RGBA alpha_composite over
                                     the image, back to RGB

metadata "cases": [{"name", "mode", "in": [w, h], "out": [w, h], "filter",
"box" or null, "seed"}], "overlays": [{"name", "size": [w, h], "seed"}],
"versions". Run: /usr/bin/python3 tests/oracle/make_resample_refs.py tests/fixtures
(byte-identical on a rerun).
"""
import json
import os
import struct
import sys

import numpy as np
import PIL
from PIL import Image, ImageOps

FILTERS = {"LANCZOS": Image.LANCZOS, "BICUBIC": Image.BICUBIC, "BILINEAR": Image.BILINEAR}

# (in w, h) -> (out w, h): up, down, odd sizes, one axis only, big ratios.
SIZES = [
    ((1, 1), (3, 5)), ((2, 3), (7, 1)), ((5, 7), (13, 11)), ((13, 11), (5, 7)),
    ((16, 16), (48, 48)), ((48, 48), (22, 22)), ((22, 22), (48, 48)), ((37, 23), (37, 64)),
    ((64, 41), (19, 41)), ((100, 9), (7, 33)), ((9, 100), (33, 7)), ((31, 31), (30, 32)),
    ((3, 200), (3, 17)), ((255, 3), (16, 3)),
]
# diffusers' resize_mode="fill" strips: Image.resize((w, f), box=(0, 0, w, 0)) etc.,
# and fractional boxes.
BOXES = [
    ((48, 45), (48, 2), (0, 0, 48, 0)), ((48, 45), (48, 1), (0, 45, 48, 45)),
    ((45, 48), (2, 48), (0, 0, 0, 48)), ((45, 48), (1, 48), (45, 0, 45, 48)),
    ((20, 17), (11, 9), (2.5, 1.25, 17.75, 16.0)), ((20, 17), (30, 25), (0, 0, 20, 17)),
    ((20, 17), (10, 8), (3, 4, 13, 12)), ((9, 9), (4, 4), (1, 1, 3, 3)),
]


def noise(rng, w, h, mode):
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    # mostly smooth with some sharp edges, so that negative lobes clip
    a = rng.randint(0, 256, size=shape).astype(np.uint8)
    a[rng.rand(*shape[:2]) < 0.2] = 255
    a[rng.rand(*shape[:2]) < 0.2] = 0
    return a


def overlay(image, init, mask):
    """VaeImageProcessor.apply_overlay (v0.26.3) without crop_coords."""
    w, h = image.size
    masked = Image.new("RGBa", (w, h))
    masked.paste(init.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    masked = masked.convert("RGBA")
    out = image.convert("RGBA")
    out.alpha_composite(masked)
    return out.convert("RGB")


def main(root):
    tensors, cases, overlays = {}, [], []
    k = 0
    for fname, filt in FILTERS.items():
        for (iw, ih), (ow, oh) in SIZES:
            for mode in (("RGB", "L") if fname == "LANCZOS" else ("RGB",)):
                seed = 1000 + k
                a = noise(np.random.RandomState(seed), iw, ih, mode)
                out = np.asarray(Image.fromarray(a, mode).resize((ow, oh), filt))
                tensors[f"case{k}.in"], tensors[f"case{k}.out"] = a, out
                cases.append({"name": f"case{k}", "mode": mode, "in": [iw, ih], "out": [ow, oh],
                              "filter": fname, "box": None, "seed": seed})
                k += 1
    for (iw, ih), (ow, oh), box in BOXES:
        seed = 1000 + k
        a = noise(np.random.RandomState(seed), iw, ih, "RGB")
        out = np.asarray(Image.fromarray(a, "RGB").resize((ow, oh), Image.LANCZOS, box=box))
        tensors[f"case{k}.in"], tensors[f"case{k}.out"] = a, out
        cases.append({"name": f"case{k}", "mode": "RGB", "in": [iw, ih], "out": [ow, oh],
                      "filter": "LANCZOS", "box": list(box), "seed": seed})
        k += 1
    for j, (w, h) in enumerate([(16, 12), (33, 7)]):
        seed = 2000 + j
        rng = np.random.RandomState(seed)
        img, init = noise(rng, w, h, "RGB"), noise(rng, w, h, "RGB")
        mask = rng.randint(0, 256, size=(h, w)).astype(np.uint8)
        mask[:, : w // 3] = 0
        mask[:, -(w // 3):] = 255
        out = np.asarray(overlay(Image.fromarray(img), Image.fromarray(init), Image.fromarray(mask)))
        for name, v in (("image", img), ("init", init), ("mask", mask), ("out", out)):
            tensors[f"over{j}.{name}"] = v
        overlays.append({"name": f"over{j}", "size": [w, h], "seed": seed})
    meta = {"cases": json.dumps(cases), "overlays": json.dumps(overlays),
            "versions": json.dumps({"Pillow": PIL.__version__, "numpy": np.__version__})}
    header, data, off = {"__metadata__": meta}, b"", 0
    for name in sorted(tensors):
        b = np.ascontiguousarray(tensors[name], dtype=np.uint8).tobytes()
        header[name] = {"dtype": "U8", "shape": list(tensors[name].shape), "data_offsets": [off, off + len(b)]}
        data += b
        off += len(b)
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(os.path.join(root, "resample"), exist_ok=True)
    with open(os.path.join(root, "resample", "pillow_refs.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)
    print(f"{len(cases)} resize cases, {len(overlays)} overlays")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
