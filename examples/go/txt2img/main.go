// Text to PNG: txt2img MODEL_DIR PRIOR_DIR "PROMPT" OUT.png [SEED]
// MODEL_DIR is a Stable unCLIP folder, PRIOR_DIR a Karlo prior folder, or "-" for
// none when the model carries its own prior/ (the default model,
// models/dif-shapes-64, does).
// Ctrl-C cancels the generation within one step.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"

	"libdif/dif"
)

func main() {
	if len(os.Args) < 5 {
		fmt.Fprintln(os.Stderr, "usage: txt2img MODEL_DIR PRIOR_DIR PROMPT OUT.png [SEED]")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5:]); err != nil {
		fmt.Fprintln(os.Stderr, "txt2img:", err)
		os.Exit(1)
	}
}

func run(modelDir, priorDir, text, out string, rest []string) error {
	var seed uint64
	if len(rest) > 0 {
		var err error
		if seed, err = strconv.ParseUint(rest[0], 10, 64); err != nil {
			return err
		}
	}
	var opts []dif.OpenOption
	if priorDir != "-" { // "-": the model carries its own prior/ (the default model does)
		opts = append(opts, dif.WithPrior(priorDir))
	}
	ctx, err := dif.Open(modelDir, opts...)
	if err != nil {
		return err
	}
	defer ctx.Close()
	gctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := ctx.GenerateResult(gctx, dif.Text(text), dif.Seed(seed))
	if err != nil {
		return err
	}
	defer r.Close()
	// with its record: ctx.GenerateFrom(gctx, out) reproduces it
	if err := r.SavePNG(0, out); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%v, seed %d)\n", out, r.Images[0].Bounds().Size(), r.Seed)
	return nil
}
