"""pip install ./bindings/python — pure Python (ctypes), nothing is compiled.

The package loads libdif.so.0 at import (see dif/_lib.py for where it looks).
There is deliberately no pyproject.toml: with Debian's python3-setuptools and
python3-wheel present, pip then builds with them directly instead of
downloading a build environment, so the install works offline."""
import os
import runpy

from setuptools import setup

here = os.path.dirname(os.path.abspath(__file__))
ffi = runpy.run_path(os.path.join(here, "dif", "_ffi.py"))  # generated from dif.h
setup(
    name="dif",
    version="%(DIF_VERSION_MAJOR)d.%(DIF_VERSION_MINOR)d.%(DIF_VERSION_PATCH)d" % ffi,
    description="Text and image prompts to pictures on a CPU: Python bindings of libdif",
    long_description=open(os.path.join(here, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    packages=["dif"],
    python_requires=">=3.9",
    extras_require={"pil": ["Pillow"], "numpy": ["numpy"]},
    zip_safe=False,
)
