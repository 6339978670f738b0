#!/bin/sh
# tools/test step 6: the examples and bindings as a user gets them, against
# the libdif installed at PREFIX (nothing from the build tree):
#   - examples/ built standalone with find_package(dif); its ctest runs the C,
#     C++ and plugin examples;
#   - the Python package pip-installed (offline) into a venv, loading the
#     installed libdif.so.0 through the dynamic loader (no DIF_LIBRARY);
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
"$py" -m venv --system-site-packages "$work/venv"
cp -R "$root/bindings/python" "$work/python-src" # pip builds in the source tree
"$work/venv/bin/python" -m pip install -q --no-index --no-cache-dir \
  --disable-pip-version-check "$work/python-src"
export LD_LIBRARY_PATH="$libdir"
(cd "$work" && "$work/venv/bin/python" -c '
import sys, dif
maps = open("/proc/self/maps").read()
assert sys.argv[1] + "/libdif.so.0" in maps, "libdif.so.0 not loaded from " + sys.argv[1]
print("dif", dif.library_version(), "from", sys.argv[1])' "$libdir")
"$work/venv/bin/python" "$root/examples/python/txt2img.py" "$models/tiny-unclip" \
  "$models/tiny-karlo-prior" "a red cat" "$work/python.png" 3

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
