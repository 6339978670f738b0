"""A PEP 517 build backend for the dif package, standard library only.

pip runs it from this folder (pyproject.toml: backend-path) in an isolated
build environment that needs nothing installed: `pip install ./bindings/python`
works offline with any Python >= 3.9, setuptools or not. It writes a
pure-Python wheel (dif/*.py, py.typed) plus dif/_origin.py, which records
where the package was built from, for dif/_lib.py's search for libdif.so.0:
  - SOURCE_TREE: the checkout when the package was built inside one (its
    build/run, build/... folders are searched: what tools/run builds);
  - PKGCONFIG_LIBDIR: `pkg-config --variable=libdir dif` at build time (an
    installed libdif, e.g. with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig).
An editable install (pip install -e) adds the source folder to sys.path
through a .pth file instead.
"""
import base64
import hashlib
import io
import os
import re
import subprocess
import tarfile
import zipfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bindings/python
NAME = "dif"
TAG = "py3-none-any"


def _version():
    with open(os.path.join(HERE, "dif", "_ffi.py"), encoding="utf-8") as f:
        text = f.read()
    part = {k: re.search(r"^DIF_VERSION_%s = (\d+)$" % k, text, re.M).group(1)
            for k in ("MAJOR", "MINOR", "PATCH")}
    return "%(MAJOR)s.%(MINOR)s.%(PATCH)s" % part


def _metadata():
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n"
            "Summary: Text and image prompts to pictures on a CPU: Python bindings of libdif\n"
            "License: MIT\nRequires-Python: >=3.9\n"
            "Provides-Extra: pil\nRequires-Dist: Pillow; extra == \"pil\"\n"
            "Provides-Extra: numpy\nRequires-Dist: numpy; extra == \"numpy\"\n"
            "Description-Content-Type: text/markdown\n\n%s" % (NAME, _version(), readme))


def _dist_info():
    return "%s-%s.dist-info" % (NAME, _version())


def _origin():
    """dif/_origin.py: the checkout and the pkg-config libdir at build time."""
    repo = os.path.dirname(os.path.dirname(HERE))
    tree = repo if os.path.isfile(os.path.join(repo, "include", "dif.h")) else None
    libdir = None
    try:
        r = subprocess.run(["pkg-config", "--variable=libdir", "dif"], capture_output=True,
                           text=True, timeout=30)
        if r.returncode == 0 and r.stdout.strip():
            libdir = r.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return ('"""Where this copy of the package was built (written by backend/dif_build.py)."""\n'
            "SOURCE_TREE = %r\nPKGCONFIG_LIBDIR = %r\n" % (tree, libdir))


def _write_wheel(directory, files):
    """files: [(archive name, bytes)]; returns the wheel's file name."""
    name = "%s-%s-%s.whl" % (NAME, _version(), TAG)
    info = _dist_info()
    files = list(files) + [
        (info + "/METADATA", _metadata().encode()),
        (info + "/WHEEL", ("Wheel-Version: 1.0\nGenerator: dif_build\nRoot-Is-Purelib: true\n"
                           "Tag: %s\n" % TAG).encode()),
    ]
    record = []
    with zipfile.ZipFile(os.path.join(directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in files:
            z.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append("%s,sha256=%s,%d" % (arc, digest.decode(), len(data)))
        record.append(info + "/RECORD,,")
        z.writestr(info + "/RECORD", "\n".join(record) + "\n")
    return name


def _package_files():
    pkg = os.path.join(HERE, "dif")
    out = []
    for f in sorted(os.listdir(pkg)):
        if (f.endswith(".py") or f == "py.typed") and f != "_origin.py":
            with open(os.path.join(pkg, f), "rb") as fh:
                out.append(("dif/" + f, fh.read()))
    return out + [("dif/_origin.py", _origin().encode())]


# -- PEP 517


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    info = os.path.join(metadata_directory, _dist_info())
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    return _dist_info()


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, _package_files())


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, [("dif.pth", (HERE + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    base = "%s-%s" % (NAME, _version())
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for rel in ("pyproject.toml", "README.md", "backend/dif_build.py"):
            t.add(os.path.join(HERE, rel), arcname=base + "/" + rel)
        for arc, data in _package_files()[:-1]:  # not _origin.py: written at build time
            ti = tarfile.TarInfo(base + "/" + arc)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        data = _metadata().encode()
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    return name


