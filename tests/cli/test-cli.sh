#!/bin/sh
# The dif command end to end on the tiny models: text-to-image, reproducing
# from the PNG's record (identical file), a variation with a batch grid,
# Midjourney syntax, bad input (exit 2 with a message), Ctrl-C (exit 130,
# no output file); then on the default model without -m. Usage: test-cli.sh DIF_BINARY TESTS_DIR
set -u
dif=$1 tests=$2
m=$tests/golden/models
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

"$dif" generate "a photo of a red cat --no blurry --seed 2024" -m "$m/tiny-unclip" \
  --prior "$m/tiny-karlo-prior" -W 32 -H 32 --steps 4 --prior-steps 5 -q -o cat.png >out.txt 2>err.txt \
  && [ -s cat.png ] && grep -q cat.png out.txt && ok "text to image" || bad "text to image: $(cat err.txt)"

"$dif" generate --from cat.png -m "$m/tiny-unclip" --prior "$m/tiny-karlo-prior" -q -o again.png \
  >/dev/null 2>err.txt && cmp -s cat.png again.png && ok "--from reproduces the file" \
  || bad "--from: $(cat err.txt)"

"$dif" generate "$tests/golden/cases/pipelines/input_32x32.png" --batch 4 --noise-level 100 \
  -m "$m/tiny-unclip" --steps 2 --seed 9 -q -o var.png >out.txt 2>err.txt \
  && [ -s var-1.png ] && [ -s var-4.png ] && [ -s var-grid.png ] && ok "variation batch + grid" \
  || bad "variation: $(cat err.txt)"

"$dif" generate "a red cat::2 a dog::-0.5 --ar 3:2 --seed 3" -m "$m/tiny-unclip" \
  --prior "$m/tiny-karlo-prior" --steps 2 --prior-steps 2 -q -o mj.png >/dev/null 2>err.txt \
  && [ -s mj.png ] && ok "Midjourney syntax" || bad "Midjourney syntax: $(cat err.txt)"

"$dif" generate "a cat --chaos 3" -m "$m/tiny-sd" -q >/dev/null 2>err.txt
[ $? -eq 2 ] && grep -q "unknown prompt parameter --chaos" err.txt && ok "bad prompt parameter" \
  || bad "bad prompt parameter"

"$dif" generate "a cat" -m /nonexistent/model -q >/dev/null 2>err.txt
[ $? -eq 1 ] && grep -q "/nonexistent/model" err.txt && ok "missing model named" || bad "missing model"

"$dif" generate "a cat" -m "$m/tiny-sd" -W 33 -H 32 -q >/dev/null 2>err.txt
[ $? -eq 1 ] && grep -q "multiples of 8" err.txt && ok "bad size" || bad "bad size: $(cat err.txt)"

# Ctrl-C: a long run is cancelled within a step; no output file appears
"$dif" generate "a lighthouse" -m "$m/tiny-sd" -W 64 -H 64 --steps 400 -q -o long.png \
  >/dev/null 2>err.txt &
pid=$!
sleep 2
kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 130 ] && [ ! -e long.png ] && grep -q cancelled err.txt && ok "Ctrl-C cancels" \
  || bad "Ctrl-C (exit $rc): $(cat err.txt)"

"$dif" info "$m/tiny-unclip" >info.txt 2>&1 && grep -q '"xxh3"' info.txt \
  && grep -q '"family": "unclip"' info.txt && ok "info" || bad "info"

# The default model (no -m): found, its recommended settings (64x64), and the
# four kinds of prompt. What it draws is checked by test-default-model.
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{print $3*256+$4 "x" $7*256+$8}'; }
"$dif" version | grep -q "default model .*/dif-shapes-64" && ok "version names the default model" \
  || bad "version: $("$dif" version)"
"$dif" info >info.txt 2>&1 && grep -q '"default_model": ".*/dif-shapes-64"' info.txt \
  && grep -q '"defaults_file": ".*/dif-shapes-64/dif_defaults.json"' info.txt \
  && ok "info without MODEL_DIR: the default model and its defaults" || bad "info: $(head -c 300 info.txt)"
"$dif" generate "a red circle on a blue background" --seed 0 -q -o first.png >out.txt 2>err.txt \
  && grep -qx first.png out.txt && [ "$(png_size first.png)" = 64x64 ] \
  && ok "default model: text to image with its settings" \
  || bad "default model text to image: $(cat err.txt) $(png_size first.png 2>/dev/null)"
"$dif" generate first.png --steps 4 --seed 1 -q -o var.png >/dev/null 2>err.txt \
  && [ "$(png_size var.png)" = 64x64 ] && ok "default model: variation" || bad "variation: $(cat err.txt)"
"$dif" generate first.png "a yellow circle --iw 2" --steps 4 --prior-steps 4 --seed 2 -q -o it.png \
  >/dev/null 2>err.txt && [ -s it.png ] && ok "default model: image + text" \
  || bad "image + text: $(cat err.txt)"
"$dif" generate first.png var.png --blend slerp --steps 4 --seed 3 -q -o blend.png >/dev/null \
  2>err.txt && [ -s blend.png ] && ok "default model: blend" || bad "blend: $(cat err.txt)"

# --from: the record is untrusted. Its image files are found relative to the
# record's PNG (so --from works from another folder) and must match their
# xxh3; forged records (wrong types, 64-bit values, duplicate keys, paths out
# of the folder, wrong hashes) exit non-zero naming the key and never print
# a byte of the file they point at.
cp "$tests/golden/cases/pipelines/input_32x32.png" in.png
"$dif" generate in.png -m "$m/tiny-unclip" --steps 2 --seed 5 -q -o v.png >/dev/null 2>err.txt \
  && mkdir elsewhere && (cd elsewhere && "$dif" generate --from ../v.png -m "$m/tiny-unclip" -q \
  -o v2.png >/dev/null 2>../err.txt) && cmp -s v.png elsewhere/v2.png \
  && ok "--from finds the record's images next to it, from another folder" \
  || bad "--from from another folder: $(cat err.txt)"
if python3 -c "import zlib" 2>/dev/null; then
  forge() { # forge OUT.png JSON: a 1x1 PNG whose dif:parameters chunk is JSON
    python3 - "$1" "$2" <<'EOF'
import struct, sys, zlib
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
       + chunk(b"tEXt", b"dif:parameters\0" + sys.argv[2].encode())
       + chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + chunk(b"IEND", b""))
open(sys.argv[1], "wb").write(png)
EOF
  }
  printf 'root:$6$SECRET-HASH:19000:0:99999:7:::\n' >secret.png
  mkdir -p deep/er
  text='"prompt":[{"text":"a cat","weight":1.0}]'
  img() { echo "\"prompt\":[{\"image\":\"$1\",\"xxh3\":\"0123456789abcdef\",\"weight\":1.0}]"; }
  # forged NAME WANT JSON: exits 1, names WANT, echoes nothing of secret.png
  forged() {
    forge "$1.png" "$3"
    "$dif" generate --from "$1.png" -m "$m/tiny-sd" -q -o "$1-out.png" >out.txt 2>err.txt
    rc=$?
    if [ $rc -ne 0 ] && grep -qF -- "$2" err.txt && ! grep -qE 'SECRET|root:|72 ?6f ?6f ?74' out.txt err.txt \
      && [ ! -e "$1-out.png" ]; then ok "forged record: $1"
    else bad "forged record: $1 (exit $rc): $(cat err.txt)"
    fi
  }
  forged abs-path 'absolute path' "{$(img "$PWD/secret.png")}"
  forged etc-shadow 'absolute path' "{$(img /etc/shadow)}"
  forged dotdot '".."' "{$(img ../secret.png)}"
  forged dotdot-deep '".."' "{$(img er/../../secret.png)}"
  forged wrong-xxh3 'prompt[0]' "{$(img secret.png)}"
  forged wrong-xxh3-path 'secret.png' "{$(img secret.png)}"
  forged no-xxh3 '"prompt[0].xxh3" is missing' '{"prompt":[{"image":"secret.png","weight":1.0}]}'
  forged init-abs 'absolute path' \
    "{$text,\"init_image\":{\"image\":\"$PWD/secret.png\",\"xxh3\":\"0123456789abcdef\",\"strength\":0.5}}"
  forged init-xxh3 'init_image' \
    "{$text,\"init_image\":{\"image\":\"secret.png\",\"xxh3\":\"0123456789abcdef\",\"strength\":0.5}}"
  forged duplicate-key 'duplicate key "steps"' "{$text,\"steps\":2,\"steps\":3}"
  forged guidance-string '"guidance" must be a number' "{$text,\"guidance\":\"7\"}"
  forged steps-2-32 '"steps" must be an integer from 1 to' "{$text,\"steps\":4294967297}"
  forged steps-real '"steps" must be a JSON integer' "{$text,\"steps\":25.0}"
  forged unknown-key 'unknown key "stepz"' "{$text,\"stepz\":2}"
  cp secret.png deep/secret.png
  forge deep/er/rec.png "{$(img ../secret.png)}"
  "$dif" generate --from deep/er/rec.png -m "$m/tiny-sd" -q -o x.png >out.txt 2>err.txt
  [ $? -ne 0 ] && grep -qF '".."' err.txt && ! grep -qE 'SECRET|root:|72 ?6f ?6f ?74' out.txt err.txt \
    && ok "forged record: .. from a subfolder" || bad "forged record .. in a subfolder: $(cat err.txt)"
else
  echo "skip forged records: no python3 with zlib"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
