// Image variation: variation MODEL_DIR IN.png OUT.png [SEED]
// MODEL_DIR is a Stable unCLIP folder; the picture is redrawn from IN.png's
// CLIP image embedding. Shows progress and a time limit via context.
package main

import (
	"context"
	"fmt"
	"image"
	_ "image/jpeg" // decoders for image.Decode
	"image/png"
	"os"
	"strconv"
	"time"

	"libdif/dif"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: variation MODEL_DIR IN.png OUT.png [SEED]")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3], os.Args[4:]); err != nil {
		fmt.Fprintln(os.Stderr, "variation:", err)
		os.Exit(1)
	}
}

func decode(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	return img, err
}

func run(modelDir, in, out string, rest []string) error {
	var seed uint64
	if len(rest) > 0 {
		var err error
		if seed, err = strconv.ParseUint(rest[0], 10, 64); err != nil {
			return err
		}
	}
	src, err := decode(in) // any image.Image works; dif.ImageFile(in) lets libdif decode
	if err != nil {
		return err
	}
	ctx, err := dif.Open(modelDir)
	if err != nil {
		return err
	}
	defer ctx.Close()
	gctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	images, err := ctx.Generate(gctx, dif.Image(src), dif.Seed(seed),
		dif.OnProgress(func(step, total int) bool {
			fmt.Printf("\rstep %d/%d", step, total)
			return false // go on (true would cancel: dif.h's cancel rule)
		}))
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := png.Encode(f, images[0]); err != nil {
		f.Close()
		return err
	}
	fmt.Printf("\nwrote %s (%v, seed %d)\n", out, images[0].Bounds().Size(), seed)
	return f.Close()
}
