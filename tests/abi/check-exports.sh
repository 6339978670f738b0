#!/bin/sh
# Only dif_* symbols may be exported by libdif.so, and its SONAME must be
# libdif.so.<major>. Usage: check-exports.sh LIBDIF_SO MAJOR
set -eu
lib=$1
major=$2
bad=$(nm -D --defined-only "$lib" | awk '{print $NF}' | grep -v '^dif_' || true)
if [ -n "$bad" ]; then
  echo "exported symbols without the dif_ prefix:"; echo "$bad"; exit 1
fi
count=$(nm -D --defined-only "$lib" | awk '{print $NF}' | grep -c '^dif_')
[ "$count" -gt 0 ] || { echo "no dif_ symbols exported"; exit 1; }
soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
[ "$soname" = "libdif.so.$major" ] || { echo "SONAME is '$soname', expected libdif.so.$major"; exit 1; }
echo "ok: $count dif_* symbols, nothing else; SONAME $soname"
