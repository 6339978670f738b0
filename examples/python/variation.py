#!/usr/bin/env python3
"""Image variation: variation.py MODEL_DIR IN.png OUT.png [SEED]

MODEL_DIR is a Stable unCLIP folder; the picture is redrawn from IN.png's
CLIP image embedding. Shows the progress callback."""
import pathlib
import sys

import dif


def progress(step, total):
    print("\rstep %d/%d" % (step, total), end="", flush=True)


def main(model_dir, image, out, seed="0"):
    with dif.Context(model_dir) as ctx:
        # a path (not a str) is an image prompt; a str would be text
        images = ctx.generate(pathlib.Path(image), seed=int(seed), progress=progress,
                              output="pil")
        images[0].save(out)
        print("\nwrote %s (%dx%d, seed %d)" % (out, images.width, images.height, images.seed))


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    try:
        main(*sys.argv[1:])
    except dif.Error as e:
        sys.exit("variation: %s" % e)
