"""Finding and loading libdif.so.0 (hand-written; the prototypes come from _ffi).

Search order, first that loads wins:
  1. $DIF_LIBRARY — a path to libdif.so.0 (if set, nothing else is tried);
  2. next to the package: dif/libdif.so.0 (a wheel that bundles the library);
  3. the installed library: the dynamic loader's own search for "libdif.so.0"
     (LD_LIBRARY_PATH, RUNPATH, ld.so.cache); the libdir pkg-config gave for
     dif when the package was built (recorded in dif/_origin.py), then the one
     it gives now (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig finds any prefix);
     lib/ under sys.prefix, /usr/local and /usr (with the multiarch folder);
  4. the checkout the package was built from or sits in: build/run (what
     tools/run builds), build, build/rel and build/test-release.
The error lists every place tried and why each failed.
"""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import sysconfig
from typing import Iterator, List, Optional, Tuple

from . import _ffi

SONAME = "libdif.so.%d" % _ffi.DIF_VERSION_MAJOR
BUILD_DIRS = ("build/run", "build", "build/rel", "build/test-release")

try:
    from . import _origin  # written by backend/dif_build.py into an installed copy
except ImportError:  # the source folder itself (PYTHONPATH, pip install -e)
    _origin = None


def _pkgconfig_libdir() -> Optional[str]:
    try:
        r = subprocess.run(["pkg-config", "--variable=libdir", "dif"], capture_output=True,
                           text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


def _source_trees() -> List[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    trees = [getattr(_origin, "SOURCE_TREE", None),
             os.path.dirname(os.path.dirname(os.path.dirname(here)))]
    return [t for t in dict.fromkeys(trees)
            if t and os.path.isfile(os.path.join(t, "include", "dif.h"))]


def candidates() -> Iterator[str]:
    """The paths (or the bare SONAME, for the loader's search) tried, in order."""
    env = os.environ.get("DIF_LIBRARY")
    if env:
        yield env
        return
    yield os.path.join(os.path.dirname(os.path.abspath(__file__)), SONAME)
    yield SONAME
    libdirs = [getattr(_origin, "PKGCONFIG_LIBDIR", None)]
    libdirs.append(_pkgconfig_libdir())
    arch = sysconfig.get_config_var("MULTIARCH") or ""
    for prefix in dict.fromkeys((sys.prefix, "/usr/local", "/usr")):
        for libdir in ("lib", "lib64", os.path.join("lib", arch) if arch else None):
            if libdir:
                libdirs.append(os.path.join(prefix, libdir))
    for d in dict.fromkeys(d for d in libdirs if d):
        yield os.path.join(d, SONAME)
    for tree in _source_trees():
        for build in BUILD_DIRS:
            yield os.path.join(tree, build, SONAME)


def load() -> Tuple[ctypes.CDLL, List[str], str]:
    """(ctypes.CDLL with the generated prototypes, names it lacks, where it came from)."""
    # oneDNN's OpenMP threads (libgomp, loaded with oneDNN when libdif first
    # needs it) sleep between products instead of spinning against libdif's
    # own threads, as the dif command sets (dif.h, DIF_PRECISION_FAST): the
    # default model measured 2x faster on 2 cores. libgomp reads it when it is
    # loaded, so it does nothing where a module loaded libgomp before (torch);
    # a policy the user set is kept.
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    # OpenBLAS's idle threads sleep right after each product instead of
    # polling for ~0.1 s against libdif's own threads (what dif_blas_setup does
    # for the dif command: an exact VAE decode measured 10-20 % faster on 2
    # cores). OpenBLAS reads it when it is loaded (with libdif, unless a module
    # such as numpy loaded the same library before); a value the user set is kept.
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    tried = []
    for path in candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append("%s (no such file)" % path)
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
            continue
        missing = _ffi.bind(lib)
        if "dif_version" in missing:
            tried.append("%s (not libdif)" % path)
            continue
        major = lib.dif_version() // 10000
        if major != _ffi.DIF_VERSION_MAJOR:
            tried.append("%s (ABI %d, these bindings need %d)" % (path, major,
                                                                  _ffi.DIF_VERSION_MAJOR))
            continue
        return lib, missing, path
    raise ImportError("dif: cannot load %s; build it (tools/run builds build/run), install it "
                      "(set PKG_CONFIG_PATH to PREFIX/lib/pkgconfig before pip install, or "
                      "LD_LIBRARY_PATH), or set DIF_LIBRARY to its path. Tried:\n  %s" %
                      (SONAME, "\n  ".join(tried)))


lib, missing, path = load()
