#!/bin/sh
# The dif command end to end on the tiny models: text-to-image, reproducing
# from the PNG's record (identical file), a variation with a batch grid,
# Midjourney syntax, bad input (exit 2 with a message), Ctrl-C (exit 130,
# no output file); then on the default model without -m; files that are not
# files and outputs that must not be clobbered (issue 13, items 6 and 7).
# Usage: test-cli.sh DIF_BINARY TESTS_DIR [SIGNAL_AT_RENAME_SHIM]
set -u
dif=$1 tests=$2 shim=${3:-}
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

# the precision in effect is in the record, and --from draws with it: an exact picture is
# reproduced exactly even where auto would be fast, and --precision overrides the record
"$dif" generate "a red cat" -m "$m/tiny-sd" -W 32 -H 32 --steps 3 --seed 5 --precision exact -q \
  -o ex.png >/dev/null 2>err.txt && "$dif" generate --from ex.png -m "$m/tiny-sd" -q -o ex2.png \
  >/dev/null 2>>err.txt && cmp -s ex.png ex2.png \
  && "$dif" generate --from ex.png -m "$m/tiny-sd" -q -v -o ex3.png 2>&1 >/dev/null \
  | grep -q "precision exact" && ok "--from reproduces the record's precision" \
  || bad "--from precision: $(cat err.txt)"
if "$dif" generate "a red cat" -m "$m/tiny-sd" -W 32 -H 32 --steps 3 --seed 5 --precision fast \
  -q -o fa.png >/dev/null 2>err.txt; then
  "$dif" generate --from fa.png -m "$m/tiny-sd" -q -o fa2.png >/dev/null 2>>err.txt \
    && cmp -s fa.png fa2.png && ! cmp -s fa.png ex.png \
    && ok "fast: recorded, reproduced, and not the exact pixels" || bad "fast --from: $(cat err.txt)"
else
  grep -q "cannot run here" err.txt && ok "fast: refused here, saying why ($(head -c 150 err.txt))" \
    || bad "fast: $(cat err.txt)"
fi

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
[ $? -eq 2 ] && grep -q "multiple of 8" err.txt && ok "bad size" || bad "bad size: $(cat err.txt)"

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

# A few-step model's dif_defaults.json (tests/fixtures/models/tiny-lcm: 4 steps,
# guidance 8.5, scheduler lcm) is what a plain run uses, and the record says so
"$dif" generate "a cat" -m "$tests/fixtures/models/tiny-lcm" --seed 3 -q -o lcm.png >/dev/null \
  2>err.txt && grep -aq "Steps: 4, Sampler: LCM, CFG scale: 8.5, Seed: 3," lcm.png \
  && grep -aq '"steps":4,"guidance":8.5,"scheduler":"lcm"' lcm.png \
  && ok "a latent consistency model's dif_defaults.json: steps, guidance, scheduler" \
  || bad "LCM defaults: $(cat err.txt)"

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

# The editing tools (issue 16) on the default model, no -m: the model and the
# prompt come from first.png's record. What they draw is checked by
# test-default-model; here: sizes, records, the mask and bad usage.
"$dif" zoom first.png --factor 2 --seed 4 -q -o zoom.png >out.txt 2>err.txt \
  && grep -qx zoom.png out.txt && [ "$(png_size zoom.png)" = 64x64 ] \
  && "$dif" generate --from zoom.png -q -o zz.png >/dev/null 2>>err.txt && cmp -s zoom.png zz.png \
  && ok "dif zoom --factor 2: same size; --from reproduces the file" || bad "zoom: $(cat err.txt)"
"$dif" zoom zoom.png --factor 1.5 --steps 2 --seed 4 -q -o zoom2.png >/dev/null 2>err.txt \
  && [ "$(png_size zoom2.png)" = 64x64 ] && ok "dif zoom of a zoom (prompt from an edit's record)" \
  || bad "zoom of a zoom: $(cat err.txt)"
"$dif" pan first.png --direction left --seed 4 -q -o panl.png >/dev/null 2>err.txt \
  && [ "$(png_size panl.png)" = 96x64 ] \
  && "$dif" pan first.png --direction down --amount 1 --steps 2 --seed 4 -q -o pand.png \
  >/dev/null 2>>err.txt && [ "$(png_size pand.png)" = 64x128 ] \
  && "$dif" generate --from panl.png -q -o pp.png >/dev/null 2>>err.txt && cmp -s panl.png pp.png \
  && ok "dif pan left (0.5 by default) and down 1: the canvas grows; --from reproduces" \
  || bad "pan: $(cat err.txt)"
"$dif" pan panl.png --direction up --amount 0.3 --steps 2 --seed 4 -q -o panu.png >/dev/null 2>err.txt \
  && [ "$(png_size panu.png)" = 96x88 ] && "$dif" zoom panl.png --square --steps 2 -q -o sq.png \
  >/dev/null 2>>err.txt && [ "$(png_size sq.png)" = 72x72 ] \
  && ok "dif pan up 0.3 (rounded up to 24 px) and dif zoom --square (96x64 -> 72x72)" \
  || bad "pan up / square: $(cat err.txt) $(png_size panu.png) $(png_size sq.png)"
cp "$tests/fixtures/cases/inpaint/mask_rect_32x32.png" mask.png # 32x32 grey: scaled to the picture
mask=mask.png
"$dif" vary first.png --mask "$mask" "a yellow circle" --seed 4 -q -o vary.png >/dev/null 2>err.txt \
  && [ "$(png_size vary.png)" = 64x64 ] && "$dif" vary first.png --mask "$mask" --subtle --steps 2 \
  -q -o varys.png >/dev/null 2>>err.txt && [ -s varys.png ] \
  && "$dif" generate --from vary.png -q -o vv.png >/dev/null 2>>err.txt && cmp -s vary.png vv.png \
  && ok "dif vary with a (smaller) mask file, a new prompt (--from reproduces); --subtle with the record's prompt" \
  || bad "vary: $(cat err.txt)"
"$dif" zoom first.png --help | grep -q "usage: dif zoom IMAGE (--factor F | --square)" \
  && "$dif" pan --help | grep -q "left|right|up|down" && "$dif" vary -h | grep -q "white = repaint" \
  && "$dif" --help | grep -q "dif vary IMAGE --mask" && ok "edit commands: --help" || bad "edit --help"
edit_bad() { # edit_bad NAME WANT ARGS...: exit 2, WANT on stderr
  name=$1 want=$2
  shift 2
  "$dif" "$@" -q -o never.png >/dev/null 2>err.txt
  rc=$?
  [ $rc -eq 2 ] && grep -q -- "$want" err.txt && [ ! -e never.png ] && ! grep -q "dif_" err.txt \
    && ok "$name" || bad "$name (exit $rc): $(cat err.txt)"
}
edit_bad "zoom --factor 1 refused" "dif zoom: --factor: " zoom first.png --factor 1
edit_bad "zoom --factor 5 refused" "dif zoom: --factor: " zoom first.png --factor 5
edit_bad "zoom needs --factor or --square" "give --factor F" zoom first.png
edit_bad "pan --direction sideways refused" "expected left, right, up or down" pan first.png \
  --direction sideways
edit_bad "pan --amount 0 refused" "dif pan: --amount: " pan first.png --direction up --amount 0
edit_bad "vary needs --mask" "dif vary: --mask: missing" vary first.png "a cat"
edit_bad "vary --rect needs four numbers" "dif vary: --rect: expected four numbers" vary first.png \
  --rect 1,2,3
edit_bad "vary --rect with a zero width refused" "dif vary: --rect: " vary first.png --rect 0,0,0,8
edit_bad "vary --rect outside the picture refused at the run" "not inside the 64x64 picture" vary \
  first.png --rect 60,0,16,16 --steps 1
"$dif" vary first.png --rect 16,16,32,32 "a yellow circle" --steps 2 --seed 4 -q -o rect.png \
  >/dev/null 2>err.txt && "$dif" generate --from rect.png -q -o rect2.png >/dev/null 2>>err.txt \
  && cmp -s rect.png rect2.png && ok "dif vary --rect, reproduced by --from" || bad "vary --rect: $(cat err.txt)"
"$dif" vary first.png --rect 16,16,16,8 --crop-padding 4 "a yellow circle" --steps 2 --seed 4 -q \
  -o crop.png >/dev/null 2>err.txt && [ "$(png_size crop.png)" = 64x64 ] \
  && "$dif" generate --from crop.png -q -o crop2.png >/dev/null 2>>err.txt && cmp -s crop.png crop2.png \
  && ! cmp -s crop.png rect.png && ok "dif vary --crop-padding (padding_mask_crop), reproduced by --from" \
  || bad "vary --crop-padding: $(cat err.txt)"
edit_bad "vary --crop-padding -1 refused" "dif vary: --crop-padding: " vary first.png --rect 0,0,8,8 \
  --crop-padding -1
edit_bad "zoom --crop-padding is not its option" "is not an option of this command" zoom first.png \
  --factor 2 --crop-padding 4
edit_bad "vary --factor is not its option" "is not an option of this command" vary first.png \
  --mask "$mask" --factor 2
edit_bad "a picture without a record on an SD model needs a prompt" "PROMPT: missing" zoom \
  "$tests/golden/cases/pipelines/input_32x32.png" --factor 2 -m "$m/tiny-sd"
fx=$tests/fixtures
"$dif" vary "$fx/cases/inpaint/input_32x32.png" --mask "$fx/cases/inpaint/mask_rect_32x32.png" \
  "a lighthouse" -m "$fx/models/tiny-sd-inpaint" --steps 3 --seed 1 -q -o v9.png >/dev/null 2>err.txt \
  && "$dif" zoom v9.png --factor 1.5 --steps 3 --seed 1 -q -o z9.png >/dev/null 2>>err.txt \
  && [ "$(png_size z9.png)" = 32x32 ] && ok "an inpainting model (9 channels): dif vary, then dif zoom from its record" \
  || bad "9-channel vary/zoom: $(cat err.txt)"
# dif upscale: Subtle / Creative with IMAGE's model (the default one here), 2x by default;
# with -m an x4 upscaler folder, that pipeline (4x only)
"$dif" upscale first.png --seed 4 -q -o up.png >out.txt 2>err.txt && grep -qx up.png out.txt \
  && [ "$(png_size up.png)" = 128x128 ] \
  && "$dif" generate --from up.png -q -o upup.png >/dev/null 2>>err.txt && cmp -s up.png upup.png \
  && "$dif" upscale first.png --creative --factor 1.5 --steps 4 --seed 4 -q -o upc.png \
  >/dev/null 2>>err.txt && [ "$(png_size upc.png)" = 96x96 ] \
  && ok "dif upscale: 2x Subtle by default (--from reproduces), --creative --factor 1.5" \
  || bad "upscale: $(cat err.txt) $(png_size up.png 2>/dev/null)"
cp "$tests/fixtures/cases/upscale/input_16x24.png" low.png
"$dif" upscale low.png -m "$tests/fixtures/models/tiny-x4-upscaler" "a lighthouse" --steps 3 \
  --seed 4 -q -o x4.png >/dev/null 2>err.txt && [ "$(png_size x4.png)" = 96x64 ] \
  && "$dif" generate --from x4.png -m "$tests/fixtures/models/tiny-x4-upscaler" -q -o x4b.png \
  >/dev/null 2>>err.txt && cmp -s x4.png x4b.png \
  && ok "dif upscale -m an x4 upscaler: 4x the picture; --from reproduces" \
  || bad "upscale x4: $(cat err.txt) $(png_size x4.png 2>/dev/null)"
edit_bad "upscale --factor 5 refused" "dif upscale: --factor: " upscale first.png --factor 5
edit_bad "upscale --factor 1 refused" "dif upscale: --factor: " upscale first.png --factor 1
edit_bad "upscale --strength is not its option" "dif upscale: --strength: not an option" upscale \
  first.png --strength 0.3
edit_bad "x4 upscaler --factor 2 refused at the run" "an x4 upscaler model upscales by 4 only" \
  upscale low.png -m "$tests/fixtures/models/tiny-x4-upscaler" --factor 2
"$dif" upscale --help | grep -q "usage: dif upscale IMAGE \[--factor N\] \[--creative\]" \
  && "$dif" --help | grep -q "dif upscale IMAGE" && ok "dif upscale --help" || bad "upscale --help"
"$dif" vary first.png --mask /nonexistent/mask.png "x" -q -o never.png >/dev/null 2>err.txt
[ $? -eq 1 ] && grep -q "/nonexistent/mask.png" err.txt && ok "vary: a missing mask file named" \
  || bad "vary missing mask: $(cat err.txt)"

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
# Files that are not files (issue 13, item 6): a FIFO in place of an image
# argument, an init image, a record's image, dif_defaults.json or a tokenizer
# file is refused at once with a message saying so; `timeout` turns a reader
# that blocks on the FIFO into a failure instead of a hang.
mkfifo fifo.png
timeout 20 "$dif" generate fifo.png -m "$m/tiny-unclip" --steps 2 -q -o never.png >/dev/null 2>err.txt
rc=$?
[ $rc -eq 1 ] && grep -q "fifo.png is a FIFO, not a regular file" err.txt && [ ! -e never.png ] \
  && ok "a FIFO as an image prompt is refused" || bad "FIFO image prompt (exit $rc): $(cat err.txt)"
timeout 20 "$dif" generate "a cat" --init fifo.png -m "$m/tiny-sd" --steps 2 -q -o never.png \
  >/dev/null 2>err.txt
rc=$?
[ $rc -eq 1 ] && grep -q "fifo.png is a FIFO, not a regular file" err.txt \
  && ok "a FIFO as --init is refused" || bad "FIFO --init (exit $rc): $(cat err.txt)"
timeout 20 "$dif" generate --from fifo.png -m "$m/tiny-unclip" -q -o never.png >/dev/null 2>err.txt
rc=$?
[ $rc -eq 1 ] && grep -q "fifo.png is a FIFO, not a regular file" err.txt \
  && ok "a FIFO as --from is refused" || bad "FIFO --from (exit $rc): $(cat err.txt)"
cp "$tests/golden/cases/pipelines/input_32x32.png" ref.png
"$dif" generate ref.png -m "$m/tiny-unclip" --steps 2 --seed 4 -q -o rec.png >/dev/null 2>err.txt \
  && rm ref.png && mkfifo ref.png \
  && timeout 20 "$dif" generate --from rec.png -m "$m/tiny-unclip" -q -o never.png >/dev/null 2>err.txt
rc=$?
[ $rc -eq 1 ] && grep -q "ref.png is a FIFO, not a regular file" err.txt \
  && ok "a FIFO as a record's image is refused" || bad "FIFO record image (exit $rc): $(cat err.txt)"
cp -rs "$m/tiny-sd" sd-fifo && rm sd-fifo/tokenizer/merges.txt && mkfifo sd-fifo/tokenizer/merges.txt
timeout 20 "$dif" info sd-fifo >/dev/null 2>err.txt
rc=$?
[ $rc -eq 1 ] && grep -q "sd-fifo/tokenizer/merges.txt is a FIFO, not a regular file" err.txt \
  && ok "a FIFO as merges.txt is refused" || bad "FIFO merges.txt (exit $rc): $(cat err.txt)"
cp -rs "$m/tiny-sd" sd-defaults && mkfifo sd-defaults/dif_defaults.json
timeout 20 "$dif" info sd-defaults >/dev/null 2>err.txt
rc=$?
[ $rc -eq 1 ] && grep -q "sd-defaults/dif_defaults.json is a FIFO, not a regular file" err.txt \
  && ok "a FIFO as dif_defaults.json is refused" || bad "FIFO dif_defaults.json (exit $rc): $(cat err.txt)"
cp -rs "$m/tiny-sd" sd-dangling \
  && rm sd-dangling/unet/diffusion_pytorch_model.safetensors \
  && ln -s /nonexistent/unet.safetensors sd-dangling/unet/diffusion_pytorch_model.safetensors
"$dif" info sd-dangling >/dev/null 2>err.txt
rc=$?
[ $rc -eq 1 ] && grep -q "diffusion_pytorch_model.safetensors: dangling symbolic link" err.txt \
  && ! grep -q "no weights" err.txt && ok "dangling weights link named" \
  || bad "dangling weights link (exit $rc): $(cat err.txt)"
rm -f fifo.png ref.png

# Output that must not be clobbered (issue 13, item 7): every -o target (and a
# batch's numbered names and grid) is checked before generating; FIFOs,
# devices, links, directories and read-only files are refused and left as
# they were (--steps 400 would take minutes: a refusal must come first).
gen() { timeout 60 "$dif" generate "a cat" -m "$m/tiny-sd" -W 32 -H 32 --seed 1 -q "$@"; }
mkfifo out-fifo.png
gen --steps 400 -o out-fifo.png >/dev/null 2>err.txt
rc=$?
[ $rc -eq 1 ] && [ -p out-fifo.png ] && grep -q "out-fifo.png' is a FIFO, not a regular file" err.txt \
  && ok "-o onto a FIFO refused before the run" || bad "-o FIFO (exit $rc): $(cat err.txt)"
if mknod out-dev.png c 1 3 2>/dev/null; then
  gen --steps 400 -o out-dev.png >/dev/null 2>err.txt
  rc=$?
  [ $rc -eq 1 ] && [ -c out-dev.png ] && grep -q "is a character device, not a regular file" err.txt \
    && ok "-o onto a character device refused" || bad "-o device (exit $rc): $(cat err.txt)"
else
  echo "skip -o onto a character device: mknod needs root"
fi
echo old >target.png && ln -s target.png out-link.png
gen --steps 400 -o out-link.png >/dev/null 2>err.txt
rc=$?
[ $rc -eq 1 ] && [ -L out-link.png ] && [ "$(cat target.png)" = old ] \
  && grep -q "out-link.png' is a symbolic link" err.txt && ok "-o onto a symbolic link refused" \
  || bad "-o link (exit $rc): $(cat err.txt)"
echo old >out-ro.png && chmod 0444 out-ro.png
gen --steps 400 -o out-ro.png >/dev/null 2>err.txt
rc=$?
[ $rc -eq 1 ] && [ "$(cat out-ro.png)" = old ] && grep -q "out-ro.png' is read-only (mode 0444)" err.txt \
  && ok "-o onto a read-only file refused, also for root" || bad "-o read-only (exit $rc): $(cat err.txt)"
mkfifo out-b-grid.png
gen --steps 400 --batch 2 -o out-b.png >/dev/null 2>err.txt
rc=$?
[ $rc -eq 1 ] && [ ! -e out-b-1.png ] && grep -q "out-b-grid.png' is a FIFO" err.txt \
  && ok "a batch's grid name checked before the run" || bad "grid name (exit $rc): $(cat err.txt)"
echo old >out-600.png && chmod 0600 out-600.png
gen --steps 2 -o out-600.png >/dev/null 2>err.txt && [ "$(stat -c %a out-600.png)" = 600 ] \
  && [ "$(cat out-600.png)" != old ] && ok "a replaced file keeps its mode (0600)" \
  || bad "mode kept: $(stat -c %a out-600.png) $(cat err.txt)"
long=$(printf 'n%.0s' $(seq 246)).png
gen --steps 2 -o "$long" >/dev/null 2>err.txt && [ -s "$long" ] && ok "-o of a 250-byte name" \
  || bad "250-byte name: $(cat err.txt)"
# SIGTERM/SIGINT while images are being saved (delivered by the preloaded
# shim at the rename of the first image): the file being saved completes,
# the rest are not written, no temporary file is left, exit 128 + signal.
if [ -n "$shim" ] && [ -f "$shim" ]; then
  for sig in 15 2; do
    rm -f sig-*.png
    timeout 60 env DIF_TEST_SIGNAL_AT_RENAME=$sig LD_PRELOAD="$shim" \
      ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
      "$dif" generate "a cat" -m "$m/tiny-sd" -W 32 -H 32 --steps 2 --batch 2 --seed 1 -q -o sig.png \
      >/dev/null 2>err.txt
    rc=$?
    left=$(ls -A | grep -e '\.tmp' -e '^\.dif-')
    [ $rc -eq $((128 + sig)) ] && [ -z "$left" ] && [ -s sig-1.png ] && [ ! -e sig-2.png ] \
      && [ ! -e sig-grid.png ] && ok "signal $sig while saving: no temporary file left" \
      || bad "signal $sig while saving (exit $rc, left: $left): $(cat err.txt)"
  done
else
  echo "skip signals while saving: no signal-at-rename shim given"
fi
rm -f out-* target.png

# Issue 14 item 2: every number is parsed strictly (whole string, range,
# finite); a bad one exits 2 naming the option as typed and what it accepts,
# before any model is loaded. Messages carry no C function names.
# strict NAME WANT ARGS...: exits 2, stderr has WANT, no "dif_" in it
strict() {
  name=$1 want=$2
  shift 2
  timeout 60 "$dif" generate "$@" -m "$m/tiny-sd" -W 32 -H 32 --steps 2 -q -o strict.png \
    >/dev/null 2>err.txt
  rc=$?
  if [ $rc -eq 2 ] && grep -qF -- "$want" err.txt && ! grep -q "dif_" err.txt && [ ! -e strict.png ]
  then ok "strict: $name"
  else bad "strict: $name (exit $rc): $(cat err.txt)"
  fi
  rm -f strict.png
}
strict "--guidance foo" "--guidance: expected a number from 0 to 100, got 'foo'" "a cat" --guidance foo
strict "--guidance 7,5" "--guidance: expected a number from 0 to 100, got '7,5'" "a cat" --guidance 7,5
strict "--guidance inf" "--guidance: expected a number" "a cat" --guidance inf
strict "--steps -3" "--steps: expected an integer from 1 to 1000, got '-3'" "a cat" --steps -3
strict "--steps 10x" "--steps: expected an integer from 1 to 1000, got '10x'" "a cat" --steps 10x
strict "--steps 1e3" "--steps: expected an integer from 1 to 1000, got '1e3'" "a cat" --steps 1e3
strict "--steps 4294967297" "--steps: expected an integer" "a cat" --steps 4294967297
strict "-W 4294967360" "-W: expected a multiple of 8 from 8 to 4096, got '4294967360'" "a cat" \
  -W 4294967360
strict "--seed 2^64" "--seed: expected an integer from 0 to 18446744073709551615" "a cat" \
  --seed 18446744073709551616
strict "--seed -1" "--seed: expected an integer from 0" "a cat" --seed -1
strict "prompt --seed 2^64" "--seed: expected an integer from 0 to 18446744073709551615" \
  "a cat --seed 18446744073709551616"
strict "--batch 0" "--batch: expected an integer from 1 to 16" "a cat" --batch 0
strict "--prior-steps x" "--prior-steps: expected an integer from 1 to 1000" "a cat" --prior-steps x
strict "--prior-guidance -1" "--prior-guidance: expected a number from 0 to 100" "a cat" \
  --prior-guidance -1
strict "--threads 1.5" "--threads: expected an integer from 0 to 256" "a cat" --threads 1.5
strict "--strength 1.5" "--strength: expected a number above 0 and at most 1" "a cat" --strength 1.5
strict "--noise-level 9x" "--noise-level: expected an integer" "a cat" --noise-level 9x
strict "--ar 16x9" "--ar: expected W:H" "a cat" --ar 16x9
strict "prompt --iw 2x" "--iw: expected a finite non-zero number, got '2x'" "a cat --iw 2x"
strict "prompt ::2x" "got '2x'" "a cat::2x a dog"
strict "--no --steps 2" "--no needs a value, got the option '--steps'" "a cat" --no --steps 2
strict "prompt --no --ar 16:9" "--no needs a value, got the parameter '--ar'" "a cat --no --ar 16:9"
strict "--blend mix" "--blend: expected sum or slerp, got 'mix'" "a cat" --blend mix
strict "--precision half" "--precision: expected exact, fast or auto, got 'half'" "a cat" \
  --precision half
# refused by libdif: still the option's name, not the C function's
strict "--sampler bogus" "--sampler: unknown scheduler" "a cat" --sampler bogus
strict "--noise-level above the model's" "--noise-level: 5000 is outside 0..999" "a cat" \
  --noise-level 5000
"$dif" generate "a cat" --sampler bogus -v -m "$m/tiny-sd" -q >/dev/null 2>err.txt
[ $? -eq 2 ] && grep -q "dif_sample_set_scheduler" err.txt && ok "-v shows libdif's raw message" \
  || bad "-v raw message: $(cat err.txt)"
# a prompt of any length keeps the parameters after it (it was cut at 8 KB),
# and a multi-byte character where the cut was (bytes 8190-8191) is not
# "invalid UTF-8"
long=$(awk 'BEGIN { for (i = 0; i < 2047; i++) printf "red "; printf "ab\303\251 blue" }')
"$dif" generate "$long --seed 77" -m "$m/tiny-sd" -W 32 -H 32 --steps 2 -q -o long1.png \
  >/dev/null 2>err.txt && grep -qa '"seed":77' long1.png \
  && ok "a 8 KB prompt keeps its --seed and its UTF-8" || bad "long prompt: $(cat err.txt)"

# Issue 14 item 9: messages name the real problem: the file and what is
# wrong with it (missing, unreadable, not the folder meant, damaged, a
# directory, the limit an init image breaks).
# says NAME WANT ARGS...: fails (exit 1), stderr has WANT and no "dif_"
says() {
  name=$1 want=$2
  shift 2
  timeout 60 "$dif" "$@" >/dev/null 2>err.txt
  rc=$?
  if [ $rc -eq 1 ] && grep -qF -- "$want" err.txt && ! grep -q "dif_" err.txt; then ok "says: $name"
  else bad "says: $name (exit $rc): $(cat err.txt)"
  fi
}
cp -r "$m/tiny-sd" sd-novocab && rm sd-novocab/tokenizer/vocab.json
says "a missing vocabulary" "sd-novocab/tokenizer/vocab.json: cannot open: No such file or directory" \
  info sd-novocab
says "--prior at the prior/ subfolder" \
  "tiny-karlo-prior/prior is not a prior folder but a part of one: give the folder that contains prior/" \
  generate "a cat" -m "$m/tiny-unclip" --prior "$m/tiny-karlo-prior/prior" -q -o p.png
says "--prior at a folder without prior/" "tiny-sd is not a prior folder: it has no prior/" \
  generate "a cat" -m "$m/tiny-unclip" --prior "$m/tiny-sd" -q -o p.png
cp -r "$m/tiny-sd" sd-noperm && chmod 000 sd-noperm/unet
if [ "$(id -u)" -ne 0 ]; then
  says "an unreadable unet folder" "sd-noperm/unet/config.json: cannot open: Permission denied" \
    info sd-noperm
elif command -v setpriv >/dev/null && chmod 755 "$work" \
  && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
  setpriv --reuid=65534 --regid=65534 --clear-groups "$dif" info "$work/sd-noperm" >/dev/null 2>err.txt
  rc=$?
  [ $rc -eq 1 ] && grep -q "sd-noperm/unet/config.json: cannot open: Permission denied" err.txt \
    && ok "says: an unreadable unet folder" || bad "unreadable unet (exit $rc): $(cat err.txt)"
else
  echo "skip an unreadable unet folder: root without setpriv"
fi
chmod 755 sd-noperm/unet
says "-o ./" "'./' names a directory, not a file" generate "a cat" -m "$m/tiny-sd" -W 32 -H 32 \
  --steps 2 -q -o ./
if python3 -c "import zlib" 2>/dev/null; then
  python3 - <<'PY'
import struct, zlib
def chunk(t, d, crc=None):
    c = zlib.crc32(t + d) & 0xffffffff if crc is None else crc
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", c)
def png(name, text, crc=None, w=1, h=1):
    raw = b"".join(b"\0" + b"\0\0\0" * w for _ in range(h))
    open(name, "wb").write(b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"tEXt", b"dif:parameters\0" + text, crc)
        + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
rec = b'{"prompt":[{"text":"a cat","weight":1.0}],"steps":2,"width":32,"height":32'
png("rec-crc.png", rec + b'}', crc=1234)
png("rec-9mb.png", rec + b',"negative":"' + b"x" * (9 << 20) + b'"}')
png("wide.png", b"{}", w=16384, h=1)
PY
  says "a record chunk with a bad CRC" "rec-crc.png: PNG has no readable 'dif:parameters' text chunk (tEXt: CRC error)" \
    generate --from rec-crc.png -m "$m/tiny-sd" -q -o r.png
  timeout 60 "$dif" generate --from rec-9mb.png -m "$m/tiny-sd" -q -o r9.png >/dev/null 2>err.txt \
    && [ -s r9.png ] && ok "a 9 MB record chunk is read" || bad "9 MB record: $(cat err.txt)"
  says "a 16384x1 init image" \
    "the init image is 16384x1; as the output size (rounded down to multiples of 8) that is 16384x0: the width exceeds the maximum (4096 pixels per side) and the height is below 8 pixels; set a size with -W and -H" \
    generate "a cat" --init wide.png -m "$m/tiny-sd" --steps 2 -q -o w.png
else
  echo "skip damaged records: no python3 with zlib"
fi
rm -rf sd-novocab sd-noperm rec-*.png wide.png r9.png

# Issue 14 item 10: help for each command (exit 0) with defaults and exit
# codes; the progress bar names the phase and the time left; one img2img
# strength default (diffusers' 0.8) in the command and the Python binding.
"$dif" info --help >out.txt 2>err.txt && grep -q "usage: dif info" out.txt \
  && ok "dif info --help" || bad "dif info --help: $(cat err.txt)"
"$dif" generate --help >out.txt 2>err.txt && grep -q "Exit status: 0 done, 1 failed" out.txt \
  && grep -q "130 interrupted" out.txt && grep -q "guidance scale, 0..100 (default: the model's" out.txt \
  && grep -q "(default 0.8, as diffusers)" out.txt \
  && grep -q "ddim, ddpm, pndm, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, lms, unipc, lcm, unclip" out.txt \
  && ok "dif generate --help: defaults, exit codes, the schedulers" \
  || bad "dif generate --help: $(head -c 300 out.txt)"
if command -v script >/dev/null; then
  script -qc "'$dif' generate 'a cat' -m '$m/tiny-unclip' --prior '$m/tiny-karlo-prior' -W 32 -H 32 \
    --steps 4 --prior-steps 3 --seed 1 -o bar.png" /dev/null </dev/null | tr '\r' '\n' >bar.txt
  grep -q "prior 3/3" bar.txt && grep -q "decoder 4/4" bar.txt && grep -q "decoder 3/4, 0:00 left" bar.txt \
    && ok "the progress bar shows the phase and the time left" || bad "progress bar: $(tail -c 300 bar.txt)"
else
  echo "skip the progress bar: no script(1) for a terminal"
fi
"$dif" generate "a cat" --init "$tests/golden/cases/pipelines/input_32x32.png" -m "$m/tiny-sd" \
  --steps 4 --seed 1 -q -o s.png >/dev/null 2>err.txt && grep -qa '"strength":0.80' s.png \
  && grep -q 'strength = 0.8 if' "$tests/../bindings/python/dif/__init__.py" \
  && ok "img2img strength defaults to 0.8, as in Python" || bad "strength default: $(cat err.txt)"
grep -qx '.venv/' "$tests/../.gitignore" && ok ".venv is ignored" || bad ".venv not in .gitignore"
# Images in every format, records other tools read, --from that reproduces
# the right thing (issue 14, items 3, 4 and 8).
# 3: an argument that names a file is an image, whatever its name; a file
# libdif cannot decode is an error naming its format; WebP is read; -o
# chooses PNG, JPEG or WebP by its extension; any other is refused first.
printf 'GIF89a\001\000\001\000\000\000\000' >ref.webp
"$dif" generate ref.webp -m "$m/tiny-unclip" --steps 2 -q -o never.png >out.txt 2>err.txt
rc=$?
[ $rc -eq 1 ] && grep -q "ref.webp: a GIF image, which libdif does not read" err.txt \
  && [ ! -e never.png ] && ok "a GIF named .webp is refused, naming GIF" \
  || bad "GIF as .webp (exit $rc): $(cat err.txt)"
printf 'BM\072\000\000\000' >photo.bmp
"$dif" generate photo.bmp -m "$m/tiny-unclip" --steps 2 -q -o never.png >/dev/null 2>err.txt
[ $? -eq 1 ] && grep -q "a BMP image" err.txt && ok "a BMP is refused, naming BMP" \
  || bad "BMP: $(cat err.txt)"
echo "a red cat" >notes
"$dif" generate notes -m "$m/tiny-unclip" --steps 2 -q -o never.png >/dev/null 2>err.txt
[ $? -eq 1 ] && grep -q "notes: not an image (a text file" err.txt \
  && ok "an extension-less text file is not drawn as words" || bad "text file: $(cat err.txt)"
cp "$tests/golden/cases/pipelines/input_32x32.png" noext
"$dif" generate noext -m "$m/tiny-unclip" --steps 2 --seed 4 -q -o v-noext.png >/dev/null 2>err.txt \
  && ok "an extension-less PNG is an image prompt" || bad "extension-less PNG: $(cat err.txt)"
"$dif" generate "a cat" -m "$m/tiny-sd" -W 32 -H 32 --steps 2 --seed 1 -q -o out.jpg >/dev/null \
  2>err.txt && [ "$(od -An -tx1 -N3 out.jpg | tr -d ' ')" = ffd8ff ] && ok "-o out.jpg writes a JPEG" \
  || bad "-o out.jpg: $(od -An -tx1 -N4 out.jpg) $(cat err.txt)"
"$dif" generate "a cat" -m "$m/tiny-sd" -W 32 -H 32 --steps 2 --seed 1 --batch 2 -q -o w.WEBP \
  >/dev/null 2>err.txt && [ "$(head -c 4 w-1.WEBP)" = RIFF ] && [ "$(head -c 4 w-grid.WEBP)" = RIFF ] \
  && ok "-o w.WEBP: a batch and its grid in WebP" || bad "-o webp batch: $(cat err.txt)"
"$dif" generate w-2.WEBP -m "$m/tiny-unclip" --steps 2 --seed 1 -q -o from-webp.png >/dev/null \
  2>err.txt && ok "a WebP is read as an image prompt" || bad "WebP prompt: $(cat err.txt)"
gen --steps 400 -o out.gif >/dev/null 2>err.txt
rc=$?
[ $rc -eq 2 ] && [ ! -e out.gif ] && grep -q "out.gif: unknown image format" err.txt \
  && ok "-o out.gif refused before the run" || bad "-o out.gif (exit $rc): $(cat err.txt)"
# 8: an AUTOMATIC1111 "parameters" chunk next to dif:parameters
"$dif" generate "a cat --no blurry" -m "$m/tiny-sd" -W 32 -H 32 --steps 2 --seed 11 --sampler euler_a \
  --guidance 6 -q -o a1111.png >/dev/null 2>err.txt
if grep -aq "dif:parameters" a1111.png && grep -aq "Negative prompt: blurry" a1111.png \
  && grep -aq "Steps: 2, Sampler: Euler a, CFG scale: 6, Seed: 11, Size: 32x32, Model hash: " a1111.png
then ok "an A1111 parameters chunk next to the record"
else bad "A1111 parameters: $(cat err.txt)"
fi
# 4: the model of a record is checked; -m overrides with a warning; one
# image of a batch reproduces that image, not the batch; a JPEG record too
"$dif" generate --from a1111.png -q -o other.png >/dev/null 2>err.txt
rc=$?
[ $rc -eq 1 ] && [ ! -e other.png ] && grep -q "made with another model" err.txt \
  && grep -q "tiny-sd" err.txt && grep -q "dif-shapes-64" err.txt \
  && ok "--from a record of another model is refused, naming both" \
  || bad "--from other model (exit $rc): $(cat err.txt)"
"$dif" generate --from a1111.png -m "$m/tiny-unclip" --prior "$m/tiny-karlo-prior" --sampler ddim -q \
  -o forced.png >/dev/null 2>err.txt
rc=$?
[ $rc -eq 0 ] && [ -s forced.png ] && grep -q "warning: .*another model" err.txt \
  && ok "--from with -m of another model warns and goes on" || bad "--from -m (exit $rc): $(cat err.txt)"
"$dif" generate "a cat" -m "$m/tiny-sd" -W 32 -H 32 --steps 2 --seed 5 --batch 3 -q -o b.png >/dev/null \
  2>err.txt
rm -f again*.png
"$dif" generate --from b-2.png -m "$m/tiny-sd" -q -o again.png >out.txt 2>err.txt \
  && [ -s again.png ] && [ ! -e again-1.png ] && [ ! -e again-grid.png ] && cmp -s b-2.png again.png \
  && ok "--from b-2.png makes that one image, the same file" || bad "--from b-2.png: $(cat err.txt) $(ls again*)"
"$dif" generate --from out.jpg -m "$m/tiny-sd" -q -o out2.jpg >/dev/null 2>err.txt && cmp -s out.jpg out2.jpg \
  && ok "--from a JPEG reproduces it" || bad "--from JPEG: $(cat err.txt)"
rm -f ref.webp photo.bmp notes noext

# single-file checkpoints (tests/fixtures, issue 17): described without a config, drawn with one,
# reproduced from the record; pickles refused saying why
sf=$tests/fixtures/models/single-file
"$dif" info "$sf/tiny-sd.ldm.safetensors" >out.txt 2>err.txt && grep -q '"family": "SD-1.x"' out.txt \
  && grep -q '"vae",' out.txt && ok "dif info FILE describes a single file" \
  || bad "dif info FILE: $(cat err.txt)"
grep -q '"preset": "sd15"' out.txt && ok "dif info FILE names the preset an SD-1.x file loads with" \
  || bad "dif info FILE preset: $(cat out.txt)"
# without --config a file loads with the preset its tensors choose (here the test presets of
# tests/fixtures/presets: tiny-sd's configs, 1 step, guidance 0), and --config takes a preset's name
DIF_PRESETS_DIR="$tests/fixtures/presets" "$dif" generate "a cat" -m "$sf/tiny-sd.ldm.safetensors" \
  -W 32 -H 32 --seed 4 -v -o sfp.png >/dev/null 2>err.txt \
  && grep -q "from libdif's preset sd15 (SD-1.x tensors)" err.txt \
  && DIF_PRESETS_DIR="$tests/fixtures/presets" "$dif" generate "a cat" \
  -m "$sf/tiny-sd.ldm.safetensors" --config sd15 -W 32 -H 32 --seed 4 -q -o sfp2.png >/dev/null \
  2>>err.txt && cmp -s sfp.png sfp2.png && grep -aq '"steps":1,' sfp.png \
  && grep -aq '"guidance":0.0,' sfp.png \
  && ok "-m FILE without --config draws with its preset and the preset's settings" \
  || bad "-m FILE with a preset: $(cat err.txt)"
"$dif" generate "a cat" -m "$sf/tiny-sd.ldm.safetensors" --config sd-nope -q >/dev/null 2>err.txt
[ $? -eq 1 ] && grep -q "config 'sd-nope' is neither a folder nor one of libdif's presets (sd-turbo, sd15," err.txt \
  && ok "--config with an unknown preset lists the presets" || bad "--config sd-nope: $(cat err.txt)"
"$dif" generate "a cat" -m "$sf/tiny-unclip.ldm.safetensors" -W 32 -H 32 -q >/dev/null 2>err.txt
[ $? -eq 1 ] && grep -q "is a single-file Stable unCLIP (SD-2.x, 32-d image embeddings) checkpoint" err.txt \
  && grep -q -- "--config DIR" err.txt && ok "-m FILE without --config says what is needed" \
  || bad "-m FILE without --config: $(cat err.txt)"
"$dif" generate "a cat" -m "$sf/tiny-sd.ldm.safetensors" --config "$m/tiny-sd" -W 32 -H 32 --steps 2 \
  --seed 4 -q -o sf.png >/dev/null 2>err.txt \
  && "$dif" generate --from sf.png -m "$sf/tiny-sd.ldm.safetensors" --config "$m/tiny-sd" -q \
  -o sf2.png >/dev/null 2>>err.txt && cmp -s sf.png sf2.png \
  && ok "-m FILE --config DIR draws, --from reproduces it" || bad "-m FILE --config: $(cat err.txt)"
"$dif" zoom sf.png --factor 2 -m "$sf/tiny-sd.ldm.safetensors" --config "$m/tiny-sd" --steps 2 \
  -q -o sfz.png >/dev/null 2>err.txt && [ -s sfz.png ] \
  && ok "an edit command takes -m FILE --config DIR" || bad "dif zoom -m FILE --config: $(cat err.txt)"
printf 'PK\003\004' >v1-5-pruned-emaonly.ckpt
"$dif" info v1-5-pruned-emaonly.ckpt >/dev/null 2>err.txt
[ $? -eq 1 ] && grep -q "v1-5-pruned-emaonly.ckpt is a PyTorch pickle checkpoint: loading one runs" err.txt \
  && ok "a .ckpt is refused saying why and how to convert it" || bad ".ckpt: $(cat err.txt)"

# LoRAs (tests/fixtures/models/lora, issue 17): merged at load, recorded, reproduced; misuse refused
lf=$tests/fixtures/models/lora
mkdir -p lora && cp "$lf/tiny-sd.kohya.safetensors" "$lf/tiny-sd.diffusers.safetensors" lora/
"$dif" generate "a lighthouse" -m "$m/tiny-sd" -W 32 -H 32 --steps 2 --seed 5 -q -o lora/plain.png \
  >/dev/null 2>err.txt \
  && "$dif" generate "a lighthouse" -m "$m/tiny-sd" -W 32 -H 32 --steps 2 --seed 5 -q -o lora/l.png \
  --lora lora/tiny-sd.kohya.safetensors:0.8 --lora lora/tiny-sd.diffusers.safetensors:-0.5 \
  >/dev/null 2>>err.txt && ! cmp -s lora/plain.png lora/l.png \
  && "$dif" generate --from lora/l.png -m "$m/tiny-sd" -q -o lora/l2.png >/dev/null 2>>err.txt \
  && cmp -s lora/l.png lora/l2.png \
  && ok "--lora FILE:W (twice) changes the picture, --from reproduces it" || bad "--lora: $(cat err.txt)"
"$dif" generate "x" -m "$m/tiny-sd" -q --lora lora/tiny-sd.kohya.safetensors:11 >/dev/null 2>err.txt
[ $? -eq 2 ] && grep -q -- "--lora: the weight after ':' expected a number from -10 to 10, got '11'" err.txt \
  && ok "--lora with a weight out of range is a usage error" || bad "--lora :11: $(cat err.txt)"
"$dif" generate "x" -m "$tests/fixtures/models/tiny-sd-layout" -q --lora lora/tiny-sd.kohya.safetensors \
  >/dev/null 2>err.txt
[ $? -eq 1 ] && grep -q "tiny-sd.kohya.safetensors: LoRA tensors 'lora_unet_down_blocks_0_attentions_0_proj_in" err.txt \
  && grep -q "do not fit" err.txt && ok "a LoRA for another model names the file and the tensors" \
  || bad "LoRA on another model: $(cat err.txt)"
"$dif" generate "x" -m "$m/tiny-sd" -q --lora "$m/tiny-sd/unet/diffusion_pytorch_model.safetensors" \
  >/dev/null 2>err.txt
[ $? -eq 1 ] && grep -q "unknown LoRA key" err.txt && ok "a model file given as a LoRA is refused" \
  || bad "model file as LoRA: $(cat err.txt)"
"$dif" generate "a <lora:tiny-sd.diffusers:-0.5>lighthouse" -m "$m/tiny-sd" -W 32 -H 32 --steps 2 --seed 5 \
  -q -o lora/t.png --lora-dir lora >/dev/null 2>err.txt \
  && "$dif" generate "a lighthouse" -m "$m/tiny-sd" -W 32 -H 32 --steps 2 --seed 5 -q -o lora/t2.png \
  --lora lora/tiny-sd.diffusers.safetensors:-0.5 >/dev/null 2>>err.txt && cmp -s lora/t.png lora/t2.png \
  && ok "<lora:NAME:W> in the prompt with --lora-dir = --lora DIR/NAME.safetensors:W, tag out of the text" \
  || bad "<lora:> tag: $(cat err.txt)"
"$dif" generate "a <lora:x>" -m "$m/tiny-sd" -q >/dev/null 2>err.txt
[ $? -eq 2 ] && grep -q "<lora:x> needs --lora-dir DIR" err.txt && ok "<lora:NAME> without --lora-dir says so" \
  || bad "<lora:> without --lora-dir: $(cat err.txt)"
"$dif" generate "a <lora:../x:1>" -m "$m/tiny-sd" -q --lora-dir lora >/dev/null 2>err.txt
[ $? -eq 2 ] && grep -q "must be a file name in the --lora-dir folder" err.txt \
  && ok "<lora:../x> cannot leave the --lora-dir folder" || bad "<lora:../x>: $(cat err.txt)"
cp lora/tiny-sd.diffusers.safetensors lora/tiny-sd.kohya.safetensors
"$dif" generate --from lora/l.png -m "$m/tiny-sd" -q -o lora/l3.png >/dev/null 2>err.txt
[ $? -ne 0 ] && grep -q "tiny-sd.kohya.safetensors has the xxh3" err.txt \
  && ok "--from refuses a LoRA file that changed since the record" || bad "changed LoRA: $(cat err.txt)"

# Textual-inversion embeddings (tests/fixtures/models/textual_inversion, issue 17): added at load,
# recorded, reproduced; --embedding-dir picks files named in the prompt; misfits refused
tf=$tests/fixtures/models/textual_inversion
mkdir -p emb && cp "$tf/tiny-shape3.safetensors" "$tf/tinystyle.safetensors" emb/
"$dif" generate "a <shape3> house" -m "$m/tiny-sd" -W 32 -H 32 --steps 2 --seed 5 -q -o emb/plain.png \
  >/dev/null 2>err.txt \
  && "$dif" generate "a <shape3> house" -m "$m/tiny-sd" -W 32 -H 32 --steps 2 --seed 5 -q -o emb/e.png \
  --embedding emb/tiny-shape3.safetensors --no tinystyle --embedding emb/tinystyle.safetensors:tinystyle \
  >/dev/null 2>>err.txt && ! cmp -s emb/plain.png emb/e.png \
  && "$dif" generate --from emb/e.png -m "$m/tiny-sd" -q -o emb/e2.png >/dev/null 2>>err.txt \
  && cmp -s emb/e.png emb/e2.png \
  && ok "--embedding FILE[:TOKEN] changes the picture, --from reproduces it" || bad "--embedding: $(cat err.txt)"
"$dif" generate "a tinystyle house" -m "$m/tiny-sd" -W 32 -H 32 --steps 2 --seed 5 -q -o emb/d.png \
  --embedding-dir emb >/dev/null 2>err.txt \
  && "$dif" generate "a tinystyle house" -m "$m/tiny-sd" -W 32 -H 32 --steps 2 --seed 5 -q -o emb/d2.png \
  --embedding emb/tinystyle.safetensors >/dev/null 2>>err.txt && cmp -s emb/d.png emb/d2.png \
  && "$dif" generate "a tinystyle house" -m "$m/tiny-sd" -W 32 -H 32 --steps 2 --seed 5 -q -o emb/d3.png \
  >/dev/null 2>>err.txt && ! cmp -s emb/d.png emb/d3.png \
  && ok "--embedding-dir DIR adds DIR/NAME.safetensors for each NAME in the prompt or --no" \
  || bad "--embedding-dir: $(cat err.txt)"
"$dif" generate "x" -m "$m/tiny-sd" -q --embedding emb/tiny-shape3.safetensors:a >/dev/null 2>err.txt
[ $? -eq 1 ] && grep -q "tiny-shape3.safetensors: token \"a\" is already in the tokenizer's vocabulary" err.txt \
  && ok "--embedding with a token of the vocabulary is refused, naming the file" || bad "vocab token: $(cat err.txt)"
"$dif" generate "x" -m "$m/tiny-sd" -q --embedding "$m/tiny-sd/unet/diffusion_pytorch_model.safetensors" \
  >/dev/null 2>err.txt
[ $? -ne 0 ] && grep -q "diffusion_pytorch_model.safetensors: the embedding file holds" err.txt \
  && ok "--embedding with a model file is refused, naming it" || bad "model file as embedding: $(cat err.txt)"
cp emb/tinystyle.safetensors "emb/x:y.safetensors"
"$dif" generate "a x:y" -m "$m/tiny-sd" -W 32 -H 32 --steps 1 -q -o emb/c.png -v \
  --embedding "emb/x:y.safetensors" >/dev/null 2>err.txt && grep -q 'token "x:y"' err.txt \
  && ok "--embedding with a file name holding ':' reads the whole name" || bad "--embedding a:b: $(cat err.txt)"
"$dif" generate --help | grep -q -- "--embedding-dir DIR" && ok "generate --help lists --embedding-dir" \
  || bad "--help lacks --embedding-dir"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
