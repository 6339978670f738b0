#!/usr/bin/env python3
"""Text to PNG: txt2img.py MODEL_DIR PRIOR_DIR "PROMPT" OUT.png [SEED]

MODEL_DIR is a Stable unCLIP folder, PRIOR_DIR a Karlo prior folder, or "-" for
none when the model carries its own prior/ (the default model, models/dif-shapes-64,
does)."""
import sys

import dif


def main(model_dir, prior_dir, prompt, out, seed="0"):
    with dif.Context(model_dir, prior_dir=None if prior_dir == "-" else prior_dir) as ctx:
        images = ctx.generate(prompt, seed=int(seed), output="bytes")
        images.save(out)  # with its record: ctx.generate_from(out) reproduces it
        print("wrote %s (%dx%d, seed %d)" % (out, images.width, images.height, images.seed))


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    try:
        main(*sys.argv[1:])
    except dif.Error as e:
        sys.exit("txt2img: %s" % e)
