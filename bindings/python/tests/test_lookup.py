"""Where the package finds libdif.so.0 (dif/_lib.py) when DIF_LIBRARY is unset:
a checkout's build/run (what tools/run builds), and the libdir pkg-config gives."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import dif

PACKAGE = pathlib.Path(dif.__file__).parent


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DIF_LIBRARY", "LD_LIBRARY_PATH", "PKG_CONFIG_PATH", "PYTHONPATH")}
    env.update(extra)
    return env


def _loaded_from(pythonpath, env):
    r = subprocess.run([sys.executable, "-c", "import dif._lib as l; print(l.path)"],
                       env=dict(env, PYTHONPATH=str(pythonpath)), capture_output=True, text=True,
                       cwd="/")
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def _system_libdif(env):
    r = subprocess.run([sys.executable, "-c", "import ctypes; ctypes.CDLL('libdif.so.0')"],
                       env=env, capture_output=True)
    return r.returncode == 0


def test_a_checkouts_build_run_is_found(tmp_path):
    env = _clean_env()
    if _system_libdif(env):
        pytest.skip("a libdif.so.0 on the loader's path comes first")
    tree = tmp_path / "checkout"
    shutil.copytree(PACKAGE, tree / "bindings" / "python" / "dif",
                    ignore=shutil.ignore_patterns("_origin.py", "__pycache__"))
    (tree / "include").mkdir()
    (tree / "include" / "dif.h").write_text("/* a checkout */\n")
    (tree / "build" / "run").mkdir(parents=True)
    lib = tree / "build" / "run" / "libdif.so.0"
    shutil.copy(dif._lib.path, lib)
    assert _loaded_from(tree / "bindings" / "python", env) == str(lib)


def test_pkg_config_libdir_is_found(tmp_path):
    env = _clean_env()
    if _system_libdif(env) or not shutil.which("pkg-config"):
        pytest.skip("a libdif.so.0 on the loader's path comes first, or no pkg-config")
    prefix = tmp_path / "prefix"
    (prefix / "lib" / "pkgconfig").mkdir(parents=True)
    shutil.copy(dif._lib.path, prefix / "lib" / "libdif.so.0")
    (prefix / "lib" / "pkgconfig" / "dif.pc").write_text(
        "libdir=%s\n\nName: dif\nDescription: test\nVersion: %s\nLibs: -L${libdir} -ldif\n" %
        (prefix / "lib", dif.version))
    pkg = tmp_path / "site"
    shutil.copytree(PACKAGE, pkg / "dif", ignore=shutil.ignore_patterns("_origin.py",
                                                                        "__pycache__"))
    env["PKG_CONFIG_PATH"] = str(prefix / "lib" / "pkgconfig")
    assert _loaded_from(pkg, env) == str(prefix / "lib" / "libdif.so.0")


def test_the_error_lists_what_was_tried(tmp_path):
    env = _clean_env()
    if _system_libdif(env):
        pytest.skip("a libdif.so.0 on the loader's path")
    pkg = tmp_path / "site"
    shutil.copytree(PACKAGE, pkg / "dif", ignore=shutil.ignore_patterns("_origin.py",
                                                                        "__pycache__"))
    r = subprocess.run([sys.executable, "-c", "import dif"], env=dict(env, PYTHONPATH=str(pkg)),
                       capture_output=True, text=True, cwd="/")
    assert r.returncode != 0 and "DIF_LIBRARY" in r.stderr and "build/run" in r.stderr


def test_typed_package():
    assert (PACKAGE / "py.typed").is_file()
    assert dif.Context.generate.__annotations__["return"] in ("Images", dif.Images)
