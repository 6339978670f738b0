#!/bin/sh
# Under an address-space limit (ulimit -v) from 64 MiB to 2 GiB, `dif generate`
# on the default model always ends within BOUND seconds, with a picture or
# with "out of memory" (exit 1) and no output file — or, below what its shared
# libraries need, with the dynamic loader's refusal (exit 127) — never a hang (OpenBLAS
# retries a failed buffer allocation forever: lib/core/blas.c and
# tools/dif/main.c say how libdif and the command keep it from getting
# there). A run takes about a second here; BOUND is generous for a busy
# machine. Usage: test-memlimit.sh DIF_BINARY
set -u
dif=$1
bound=60
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0 pictures=0
for mb in 64 100 150 200 250 300 350 400 450 500 600 700 800 1024 1536 2048; do
  out=$work/m$mb.png
  start=$(date +%s)
  (ulimit -v $((mb * 1024)) && exec timeout -s KILL $bound "$dif" generate \
    "a red circle on a blue background" -q -o "$out") >"$work/out" 2>"$work/err"
  rc=$?
  took=$(($(date +%s) - start))
  if [ $rc -eq 0 ] && [ -s "$out" ]; then
    pass=$((pass + 1)) pictures=$((pictures + 1))
    echo "ok   ${mb} MiB: a picture (${took} s)"
  elif [ $rc -eq 127 ] && grep -q "error while loading shared libraries" "$work/err" \
    && [ ! -e "$out" ]; then
    # Below what the program's shared libraries need, the dynamic loader
    # refuses to start it (before any of our code runs): an end, with a message.
    pass=$((pass + 1))
    echo "ok   ${mb} MiB: the loader cannot map the libraries, no file: $(head -c 160 "$work/err")"
  elif [ $rc -eq 1 ] && grep -q "out of memory\|Cannot allocate memory" "$work/err" && [ ! -e "$out" ] \
    && ! grep -q "allocating 0 bytes" "$work/err"; then
    # (the message names what failed with its real size: never "allocating 0 bytes")
    pass=$((pass + 1))
    echo "ok   ${mb} MiB: out of memory, no file (${took} s): $(head -c 160 "$work/err")"
  else
    fail=$((fail + 1))
    echo "FAIL ${mb} MiB: exit $rc after ${took} s (137 = killed at the ${bound} s bound): $(head -c 300 "$work/err")"
  fi
done
# The sweep must reach both outcomes, or it tested nothing.
[ $pictures -gt 0 ] && [ $pictures -lt $((pass + fail)) ] || {
  fail=$((fail + 1))
  echo "FAIL the sweep did not see both outcomes ($pictures pictures)"
}
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
