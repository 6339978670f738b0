"""Finding and loading libdif.so.0 (hand-written; the prototypes come from _ffi).

Search order, first that loads wins:
  1. $DIF_LIBRARY — a path to libdif.so.0 (if set, nothing else is tried);
  2. the installed library: the dynamic loader's own search for "libdif.so.0"
     (LD_LIBRARY_PATH, ld.so.cache), then lib/ under sys.prefix, /usr/local
     and /usr (with the Debian multiarch folder);
  3. a build tree of the repository this package sits in:
     build/ and build/test-release/ (a source checkout, not an installed copy).
"""
import ctypes
import os
import sys
import sysconfig

from . import _ffi

SONAME = "libdif.so.%d" % _ffi.DIF_VERSION_MAJOR


def _candidates():
    env = os.environ.get("DIF_LIBRARY")
    if env:
        yield env
        return
    yield SONAME
    arch = sysconfig.get_config_var("MULTIARCH") or ""
    for prefix in dict.fromkeys((sys.prefix, "/usr/local", "/usr")):
        for libdir in ("lib", "lib64", os.path.join("lib", arch) if arch else None):
            if libdir:
                yield os.path.join(prefix, libdir, SONAME)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    if os.path.isfile(os.path.join(repo, "include", "dif.h")):
        for build in ("build", os.path.join("build", "test-release")):
            yield os.path.join(repo, build, SONAME)


def load():
    """Returns (ctypes.CDLL with the generated prototypes, names it lacks)."""
    tried = []
    for path in _candidates():
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
        return lib, missing
    raise ImportError("dif: cannot load %s; set DIF_LIBRARY to its path. Tried:\n  %s" %
                      (SONAME, "\n  ".join(tried)))


lib, missing = load()
