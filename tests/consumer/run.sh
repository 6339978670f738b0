#!/bin/sh
# Consumer checks: a C and a C++ program built against the installed libdif
# at PREFIX, through pkg-config and through find_package(dif), shared and
# static; each must run. Usage: run.sh PREFIX WORKDIR
set -eu
prefix=$(cd "$1" && pwd)
work=$2
src=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work" && work=$(cd "$work" && pwd)
pcdir=$(dirname "$(find "$prefix" -name dif.pc | head -n1)")
libdir=$(dirname "$pcdir")
export PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
fail() { echo "consumer: FAIL: $*"; exit 1; }

# pkg-config, shared
cc -std=c11 -Wall -Wextra -Werror "$src/consumer.c" -o "$work/pc-shared-c" $(pkg-config --cflags --libs dif)
c++ -std=c++17 -Wall -Wextra -Werror -pedantic "$src/consumer.cpp" -o "$work/pc-shared-cpp" $(pkg-config --cflags --libs dif)
readelf -d "$work/pc-shared-c" | grep -q 'libdif.so.0' || fail "pc-shared-c does not link libdif.so.0"
LD_LIBRARY_PATH="$libdir" "$work/pc-shared-c" || fail "pc-shared-c"
LD_LIBRARY_PATH="$libdir" "$work/pc-shared-cpp" || fail "pc-shared-cpp"

# pkg-config, static: libdif.a plus the Requires.private / Libs.private closure
static_libs=$(pkg-config --static --libs dif | sed -e 's/-ldif\b//')
cc -std=c11 -Wall -Wextra -Werror "$src/consumer.c" -o "$work/pc-static-c" $(pkg-config --cflags dif) "$libdir/libdif.a" $static_libs
c++ -std=c++17 -Wall -Wextra -Werror -pedantic "$src/consumer.cpp" -o "$work/pc-static-cpp" $(pkg-config --cflags dif) "$libdir/libdif.a" $static_libs
if readelf -d "$work/pc-static-c" | grep -q 'libdif.so'; then fail "pc-static-c links libdif.so"; fi
"$work/pc-static-c" || fail "pc-static-c"
"$work/pc-static-cpp" || fail "pc-static-cpp"

# find_package(dif), shared and static
for mode in OFF ON; do
  b="$work/cmake-static-$mode"
  cmake -S "$src" -B "$b" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" -DCONSUMER_STATIC=$mode >/dev/null
  cmake --build "$b" >/dev/null
  if [ $mode = ON ]; then
    if readelf -d "$b/consumer_c" | grep -q 'libdif.so'; then fail "find_package static links libdif.so"; fi
  else
    readelf -d "$b/consumer_c" | grep -q 'libdif.so.0' || fail "find_package shared does not link libdif.so.0"
  fi
  LD_LIBRARY_PATH="$libdir" "$b/consumer_c" || fail "find_package($mode) C"
  LD_LIBRARY_PATH="$libdir" "$b/consumer_cpp" || fail "find_package($mode) C++"
done
# the default model is installed with the library, byte for byte, and the
# installed library finds it there (dif_default_model_dir, next to the library)
model="$(cd "$prefix" && pwd -P)/share/dif/models/dif-shapes-64"
[ -f "$model/model_index.json" ] || fail "no default model under $model"
(cd "$src/../../models/dif-shapes-64" && find . -type f | sort) >"$work/model-files.txt"
(cd "$model" && find . -type f | sort) | cmp -s - "$work/model-files.txt" || fail "installed model files differ"
while read -r f; do
  cmp -s "$src/../../models/dif-shapes-64/$f" "$model/$f" || fail "installed $f differs"
done <"$work/model-files.txt"
# the installed dif starts on its own: RUNPATH $ORIGIN/../<libdir>, no loader path
# (issue 14 item 1); it finds the installed default model and draws with it
readelf -d "$prefix/bin/dif" | grep -q 'RUNPATH.*\$ORIGIN/' || fail "$prefix/bin/dif has no \$ORIGIN RUNPATH"
out=$(env -u LD_LIBRARY_PATH "$prefix/bin/dif" --version 2>&1) || fail "the installed dif --version: $out"
echo "$out" | grep -qF "default model $model" \
  || fail "the installed dif does not find the installed default model: $out"
(cd "$work" && env -u LD_LIBRARY_PATH "$prefix/bin/dif" generate "a red circle" -q --threads 2 \
  -o "$work/installed-dif.png") || fail "the installed dif generate (default model)"
[ -s "$work/installed-dif.png" ] || fail "the installed dif generate wrote no $work/installed-dif.png"
echo "consumer: ok (pkg-config and find_package, shared and static, C and C++ with dif.hpp; the installed dif and the default model)"
