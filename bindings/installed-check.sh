#!/bin/sh
# tools/test step 8: the examples and bindings as a user gets them, against
# the libdif installed at PREFIX (nothing from the build tree):
#   - examples/ built standalone with find_package(dif); its ctest runs the C,
#     C++ and plugin examples;
#   - the Python package pip-installed (offline, the README's line) into a
#     venv, finding the installed libdif.so.0 with no DIF_LIBRARY and no
#     loader path (pkg-config's libdir, recorded when pip built it); again with
#     a Python other than Debian's (pyenv's oldest and newest >= 3.9, or
#     $DIF_TEST_PYTHON), with no setuptools needed;
#   - the Go examples built through the installed dif.pc;
#   - C, Python and Go text-to-image with the same seed give the same pixels.
# Usage: installed-check.sh PREFIX WORKDIR
set -eu
prefix=$(cd "$1" && pwd)
rm -rf "$2" && mkdir -p "$2"
work=$(cd "$2" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
pcdir=$(dirname "$(find "$prefix" -name dif.pc | head -n1)")
libdir=$(dirname "$pcdir")
models=$root/tests/golden/models
py=/usr/bin/python3
[ -x "$py" ] || py=python3
fail() { echo "installed-check: FAIL: $*"; exit 1; }
unset DIF_LIBRARY

echo "-- examples/ standalone (find_package(dif) in $prefix)"
cmake -S "$root/examples" -B "$work/examples" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/examples" >/dev/null
ctest --test-dir "$work/examples" --output-on-failure

echo "-- Python: pip install into a venv, the installed libdif.so.0"
unset LD_LIBRARY_PATH
# pip_install PYTHON VENV [VENV-OPTIONS]: the README's install line, offline
pip_install() {
  "$1" -m venv ${3:-} "$2" || fail "$1 -m venv"
  PKG_CONFIG_PATH="$pcdir" "$2/bin/python" -m pip install -q --no-index --no-cache-dir \
    --disable-pip-version-check "$root/bindings/python" || fail "pip install with $1"
}
pip_install "$py" "$work/venv" --system-site-packages
# import dif with no DIF_LIBRARY, LD_LIBRARY_PATH or PKG_CONFIG_PATH: the installed library
check_import='
import os, sys, dif
maps = open("/proc/self/maps").read()
assert sys.argv[1] + "/libdif.so.0" in maps, "libdif.so.0 not loaded from " + sys.argv[1]
assert os.path.isfile(os.path.join(os.path.dirname(dif.__file__), "py.typed"))
print("dif", dif.library_version(), "from", sys.argv[1], "with Python", sys.version.split()[0])'
(cd "$work" && env -u PKG_CONFIG_PATH "$work/venv/bin/python" -c "$check_import" "$libdir") ||
  fail "import dif (Debian's Python) did not load the installed library"
env -u PKG_CONFIG_PATH "$work/venv/bin/python" "$root/examples/python/txt2img.py" \
  "$models/tiny-unclip" "$models/tiny-karlo-prior" "a red cat" "$work/python.png" 3

echo "-- Python: the same with a Python other than Debian's"
others=$(
  for p in ${DIF_TEST_PYTHON:-} python3 "$HOME"/.pyenv/versions/*/bin/python3; do
    [ -x "$(command -v "$p" 2>/dev/null)" ] || continue
    "$p" -c 'import sys; v = sys.version_info
if v >= (3, 9) and not sys.executable.startswith("/usr/bin/"):
    print("%d.%03d %s" % (v[0], v[1], sys.executable))' 2>/dev/null
  done | sort -u | sed -n '1p;$p' | cut -d' ' -f2 | uniq)
if [ -z "$others" ]; then
  echo "SKIPPED: no Python >= 3.9 other than Debian's /usr/bin/python3 (pyenv, or set DIF_TEST_PYTHON)"
fi
for other in $others; do
  v=$(basename "$(dirname "$(dirname "$other")")")
  pip_install "$other" "$work/venv-$v"
  (cd "$work" && env -u PKG_CONFIG_PATH "$work/venv-$v/bin/python" -c "$check_import" "$libdir") ||
    fail "import dif ($other) did not load the installed library"
  (cd "$work" && env -u PKG_CONFIG_PATH "$work/venv-$v/bin/python" - "$work/other-$v.png" <<'PY') ||
import sys, dif
with dif.Context(threads=2) as ctx:  # the installed default model
    images = ctx.generate("a red circle", steps=3, prior_steps=2, seed=5, output="bytes")
    images.save(sys.argv[1])
    assert ctx.generate_from(sys.argv[1], output="bytes")[0] == images[0]
    try:
        ctx.generate("a red circle", steps=0)
        raise AssertionError("steps=0 was accepted")
    except ValueError as e:
        assert isinstance(e, dif.InvalidArgumentError), e
print("default model, record and --from with Python", sys.version.split()[0])
PY
    fail "the default model with $other"
done
export LD_LIBRARY_PATH="$libdir" # the Go program below links libdif without a RUNPATH

echo "-- Go: examples/go through the installed dif.pc"
(cd "$root/examples/go" && PKG_CONFIG_PATH="$pcdir" GOCACHE="$work/go-cache" \
  GOPATH="$work/go-path" GOPROXY=off GOFLAGS=-buildvcs=false GO111MODULE=on \
  go build -o "$work/go-txt2img" ./txt2img)
"$work/go-txt2img" "$models/tiny-unclip" "$models/tiny-karlo-prior" "a red cat" "$work/go.png" 3

echo "-- C, Python and Go agree"
"$py" - "$work/examples/out/c-txt2img.png" "$work/python.png" "$work/go.png" <<'PY' || fail "pixels differ"
import sys
from PIL import Image
px = [Image.open(p).convert("RGB").tobytes() for p in sys.argv[1:]]
assert px[0] == px[1] == px[2], [len(p) for p in px]
print("same pixels from C, Python and Go (%d bytes)" % len(px[0]))
PY
echo "installed-check: ok"
