#!/bin/sh
# Compiles and runs the first ```c block of README.md against the build tree,
# so the README's example cannot rot. Usage: check-example.sh README CC INCDIR LIBDIR
set -eu
readme=$1 cc=$2 inc=$3 libdir=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
awk '/^```c$/ {on=1; next} /^```$/ && on {exit} on {print}' "$readme" > "$work/example.c"
[ -s "$work/example.c" ] || { echo "no \`\`\`c block in $readme"; exit 1; }
"$cc" -std=c11 -Wall -Wextra -Werror -I"$inc" "$work/example.c" -o "$work/example" -L"$libdir" -ldif -Wl,-rpath,"$libdir"
"$work/example"
