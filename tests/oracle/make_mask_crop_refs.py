#!/usr/bin/python3
"""diffusers v0.26.3's padding_mask_crop helpers on PIL images, for tests/unit/test-mask-crop.c.

Writes <root>/resample/mask_crop_refs.safetensors (uint8 tensors; settings in __metadata__) from the
real VaeImageProcessor (diffusers source in /tmp/oracle-src, oracle environment as make_inpaint.py),
Pillow 9.4.0, numpy only; no networks. For each case k (a W x H picture, a mask, a padding):

  case<k>.picture (H, W, 3)   noise picture (numpy RandomState(seed))
  case<k>.mask    (H, W)      an L mask: a rectangle or a grey blob (every level), white = repaint
  case<k>.generated (H, W, 3) a noise "generated" image
  case<k>.coords  (4)         mask_processor.get_crop_region(mask, W, H, pad)
  case<k>.image_fill (H, W, 3) image_processor.resize(picture.crop(coords), H, W, resize_mode="fill")
  case<k>.mask_fill  (H, W)   mask_processor.resize(mask.crop(coords), H, W, "fill").convert("L")
  case<k>.overlay (H, W, 3)   image_processor.apply_overlay(mask, picture, generated, coords)

metadata "cases": [{"name", "size": [W, H], "pad", "mask", "seed"}], "versions".
Run: source ../shared/oracle/env.sh; source ../shared/oracle/diffusers-env.sh;
     /usr/bin/python3 tests/oracle/make_mask_crop_refs.py tests/fixtures   (byte-identical on a rerun)
"""
import json
import os
import struct
import sys

import numpy as np
import PIL
from PIL import Image

import diffusers
from diffusers.image_processor import VaeImageProcessor

# (W, H, pad, mask): rect = [x0, y0, x1, y1] white; blob = a grey ellipse around (cx, cy, rx, ry).
CASES = [
    (48, 48, 4, ("rect", [26, 8, 40, 16])),   # the fixture's crop case, square
    (64, 40, 0, ("rect", [10, 12, 22, 30])),  # tall region in a wide picture: fill bands left/right
    (40, 64, 8, ("rect", [4, 30, 36, 38])),   # wide region in a tall picture: fill bands top/bottom
    (56, 32, 2, ("rect", [50, 0, 56, 6])),    # a corner: the region shifts back inside
    (32, 32, 40, ("rect", [12, 12, 14, 14])), # padding beyond the picture: the whole picture
    (48, 32, 3, ("blob", [30, 14, 9, 6])),    # grey levels: the overlay blends
    (40, 56, 1, ("blob", [8, 40, 6, 11])),
    (64, 48, 5, ("rect", [0, 20, 64, 23])),   # a full-width band
]


def make_mask(w, h, kind, v, rng):
    m = np.zeros((h, w), np.uint8)
    if kind == "rect":
        m[v[1]:v[3], v[0]:v[2]] = 255
    else:
        cx, cy, rx, ry = v
        y, x = np.mgrid[0:h, 0:w]
        d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2
        m = np.clip((1.5 - d) * 255 + rng.randint(-40, 40, size=(h, w)), 0, 255).astype(np.uint8)
        m[d > 1.6] = 0
    return m


def main(root):
    ip = VaeImageProcessor(vae_scale_factor=8)
    mp = VaeImageProcessor(vae_scale_factor=8, do_normalize=False, do_binarize=True,
                           do_convert_grayscale=True)
    tensors, meta = {}, []
    for k, (w, h, pad, (kind, v)) in enumerate(CASES):
        seed = 3000 + k
        rng = np.random.RandomState(seed)
        pic = rng.randint(0, 256, size=(h, w, 3)).astype(np.uint8)
        gen = rng.randint(0, 256, size=(h, w, 3)).astype(np.uint8)
        mask = make_mask(w, h, kind, v, rng)
        P, G, M = Image.fromarray(pic), Image.fromarray(gen), Image.fromarray(mask, "L")
        coords = mp.get_crop_region(M, w, h, pad=pad)
        fill = ip.resize(P.crop(coords), h, w, resize_mode="fill")
        mfill = mp.resize(M.crop(coords), h, w, resize_mode="fill").convert("L")
        over = ip.apply_overlay(M, P, G, coords)
        n = f"case{k}"
        for key, a in (("picture", pic), ("generated", gen), ("mask", mask),
                       ("coords", np.array(coords, np.uint8)), ("image_fill", np.asarray(fill)),
                       ("mask_fill", np.asarray(mfill)), ("overlay", np.asarray(over))):
            tensors[f"{n}.{key}"] = a
        meta.append({"name": n, "size": [w, h], "pad": pad, "mask": [kind, v], "seed": seed,
                     "coords": list(coords)})
    md = {"cases": json.dumps(meta),
          "versions": json.dumps({"diffusers": diffusers.__version__, "Pillow": PIL.__version__,
                                  "numpy": np.__version__})}
    header, data, off = {"__metadata__": md}, b"", 0
    for name in sorted(tensors):
        b = np.ascontiguousarray(tensors[name], dtype=np.uint8).tobytes()
        header[name] = {"dtype": "U8", "shape": list(tensors[name].shape), "data_offsets": [off, off + len(b)]}
        data += b
        off += len(b)
    hb = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    os.makedirs(os.path.join(root, "resample"), exist_ok=True)
    with open(os.path.join(root, "resample", "mask_crop_refs.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + data)
    for c in meta:
        print(c["name"], c["size"], "pad", c["pad"], "coords", c["coords"])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
