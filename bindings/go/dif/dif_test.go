package dif_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"libdif/dif"
)

// The tiny golden models of the repository (DIF_TEST_MODELS overrides) and
// dif-ref, the C library's own output (DIF_REF, set by ctest). With
// DIF_TEST_STRICT=1 a missing prerequisite fails instead of skipping.
var (
	models   = envOr("DIF_TEST_MODELS", filepath.Join("..", "..", "..", "tests", "golden", "models"))
	inputPNG = filepath.Join(models, "..", "cases", "pipelines", "input_32x32.png")
	unclip   = filepath.Join(models, "tiny-unclip")
	prior    = filepath.Join(models, "tiny-karlo-prior")
)

const threads = 2 // as dif-ref: the same threads give the same pixels

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func need(t *testing.T, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("DIF_TEST_STRICT") == "1" {
		t.Fatalf("DIF_TEST_STRICT=1 and %s", why)
	}
	t.Skip(why)
}

func open(t *testing.T, dir string, opts ...dif.OpenOption) *dif.Context {
	t.Helper()
	_, err := os.Stat(dir)
	need(t, err == nil, "no tiny models at "+models+" (set DIF_TEST_MODELS)")
	ctx, err := dif.Open(dir, append([]dif.OpenOption{dif.WithThreads(threads)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctx.Close() })
	return ctx
}

// reference runs dif-ref and returns the RGB8 bytes of all its images.
func reference(t *testing.T, model string, args ...string) []byte {
	t.Helper()
	exe := os.Getenv("DIF_REF")
	need(t, exe != "", "DIF_REF (the dif-ref program of the build tree) is not set")
	out := filepath.Join(t.TempDir(), "ref.rgb")
	cmd := exec.Command(exe, append([]string{out, model, "--threads", "2"}, args...)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dif-ref: %v: %s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rgbOf(imgs []image.Image) []byte {
	var b bytes.Buffer
	for _, img := range imgs {
		r := img.(*image.RGBA)
		for i := 0; i < len(r.Pix); i += 4 {
			b.Write(r.Pix[i : i+3])
		}
	}
	return b.Bytes()
}

func TestVersion(t *testing.T) {
	if dif.LibraryVersion() != "0.1.0" || dif.Version != dif.VersionNumber {
		t.Fatalf("library %s, header %d", dif.LibraryVersion(), dif.Version)
	}
	if dif.ErrCancelled.String() != "cancelled" || dif.BLASCore() == "" {
		t.Fatal(dif.ErrCancelled.String(), dif.BLASCore())
	}
}

func TestBLASSetup(t *testing.T) {
	var e *dif.Error
	if err := dif.BLASSetup(-1); !errors.As(err, &e) || e.Status != dif.ErrInvalidArgument {
		t.Fatalf("BLASSetup(-1): %v", err)
	}
	if err := dif.BLASSetup(0); err != nil { // nothing else runs BLAS now
		t.Fatal(err)
	}
}

func TestTextToImageParity(t *testing.T) {
	want := reference(t, unclip, "--prior", prior, "--text", "a photo of a red cat",
		"--size", "32", "32", "--steps", "4", "--prior-steps", "5", "--seed", "2024")
	ctx := open(t, unclip, dif.WithPrior(prior))
	if !ctx.IsUnCLIP() || !ctx.HasPrior() || ctx.Threads() != threads {
		t.Fatal("model flags")
	}
	imgs, err := ctx.Generate(context.Background(), dif.Text("a photo of a red cat"),
		dif.Size(32, 32), dif.Steps(4), dif.PriorSteps(5), dif.Seed(2024))
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].Bounds() != image.Rect(0, 0, 32, 32) {
		t.Fatalf("%d images", len(imgs))
	}
	if !bytes.Equal(rgbOf(imgs), want) {
		t.Fatal("Go and C pixels differ")
	}
	// the scratch kept between runs is released; the model stays and draws the same
	if n, err := ctx.ReleaseScratch(); err != nil || n == 0 {
		t.Fatalf("ReleaseScratch: %d bytes, %v", n, err)
	}
	if n, err := ctx.ReleaseScratch(); err != nil || n != 0 {
		t.Fatalf("ReleaseScratch again: %d bytes, %v", n, err)
	}
	imgs, err = ctx.Generate(context.Background(), dif.Text("a photo of a red cat"),
		dif.Size(32, 32), dif.Steps(4), dif.PriorSteps(5), dif.Seed(2024))
	if err != nil || !bytes.Equal(rgbOf(imgs), want) {
		t.Fatalf("after ReleaseScratch: %v", err)
	}
	// and the weights' packed forms (the VAE's Winograd weights where a backend has them)
	if _, err := ctx.ReleasePacked(); err != nil {
		t.Fatalf("ReleasePacked: %v", err)
	}
	if n, err := ctx.ReleasePacked(); err != nil || n != 0 {
		t.Fatalf("ReleasePacked again: %d bytes, %v", n, err)
	}
	// not while a generation uses them (from its progress callback): ErrBusy
	var busy error
	tried := false
	imgs, err = ctx.Generate(context.Background(), dif.Text("a photo of a red cat"),
		dif.Size(32, 32), dif.Steps(4), dif.PriorSteps(5), dif.Seed(2024),
		dif.OnProgress(func(step, total int) bool {
			if !tried {
				tried = true
				_, busy = ctx.ReleasePacked()
			}
			return false
		}))
	if err != nil || !bytes.Equal(rgbOf(imgs), want) {
		t.Fatalf("after ReleasePacked: %v", err)
	}
	var de *dif.Error
	if !tried || !errors.As(busy, &de) || de.Status != dif.ErrBusy {
		t.Fatalf("ReleasePacked during a generation: %v", busy)
	}
}

// The tiny SD-1.x model as one file in the original layout (tests/fixtures)
// with its folder's configs draws the folder's pixels.
func TestSingleFileParity(t *testing.T) {
	sd := filepath.Join(models, "tiny-sd")
	single := filepath.Join(models, "..", "..", "fixtures", "models", "single-file", "tiny-sd.ldm.safetensors")
	_, err := os.Stat(single)
	need(t, err == nil, "no single-file fixture at "+single)
	want := reference(t, sd, "--text", "a watercolor lighthouse", "--steps", "3", "--seed", "33")
	ctx := open(t, single, dif.WithConfig(sd))
	imgs, err := ctx.Generate(context.Background(), dif.Text("a watercolor lighthouse"),
		dif.Steps(3), dif.Seed(33))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rgbOf(imgs), want) {
		t.Fatal("single file and folder pixels differ")
	}
	if _, err := dif.Open(single); err == nil || !strings.Contains(err.Error(), "--config DIR") {
		t.Fatalf("no config: %v", err)
	}
}

func TestImageVariationParity(t *testing.T) {
	want := reference(t, unclip, "--image", inputPNG, "--size", "48", "32", "--steps", "4",
		"--seed", "1010")
	ctx := open(t, unclip)
	f, err := os.Open(inputPNG)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*dif.Prompt{"file": dif.ImageFile(inputPNG),
		"image.Image": dif.Image(decoded)} {
		imgs, err := ctx.Generate(context.Background(), p, dif.Size(48, 32), dif.Steps(4),
			dif.Seed(1010))
		if err != nil {
			t.Fatal(name, err)
		}
		if !bytes.Equal(rgbOf(imgs), want) {
			t.Fatalf("%s: Go and C pixels differ", name)
		}
	}
}

func TestStableDiffusionBatchParity(t *testing.T) {
	sd := filepath.Join(models, "tiny-sd")
	want := reference(t, sd, "--text", "a watercolor lighthouse", "--negative", "ugly",
		"--steps", "3", "--seed", "32", "--batch", "2", "--scheduler", "euler_a")
	ctx := open(t, sd)
	imgs, err := ctx.Generate(context.Background(),
		dif.Text("a watercolor lighthouse").SetNegative("ugly"),
		dif.Steps(3), dif.Seed(32), dif.Batch(2), dif.Scheduler("euler_a"))
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 || !bytes.Equal(rgbOf(imgs), want) {
		t.Fatal("Go and C pixels differ")
	}
}

func TestCancelThroughContext(t *testing.T) {
	ctx := open(t, unclip, dif.WithPrior(prior))
	gctx, cancel := context.WithCancel(context.Background())
	var last atomic.Int32
	_, err := ctx.Generate(gctx, dif.Text("a red cat"), dif.Size(32, 32), dif.Steps(500),
		dif.PriorSteps(2), dif.OnProgress(func(step, total int) bool {
			last.Store(int32(step))
			if step == 3 {
				cancel()
			}
			return false
		}))
	if !errors.Is(err, dif.ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("want a cancellation, got %v", err)
	}
	if s := last.Load(); s < 3 || s > 10 {
		t.Fatalf("stopped after step %d of 502", s)
	}
	var de *dif.Error
	if !errors.As(err, &de) || de.Status != dif.ErrCancelled {
		t.Fatalf("%#v", err)
	}
	// a deadline cancels too, and the context stays usable
	dctx, dcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer dcancel()
	start := time.Now()
	_, err = ctx.Generate(dctx, dif.Text("a red cat"), dif.Size(32, 32), dif.Steps(900))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("deadline: %v after %v", err, time.Since(start))
	}
	var used uint64
	if _, err := ctx.Generate(context.Background(), dif.Text("a red cat"), dif.Size(32, 32),
		dif.Steps(2), dif.PriorSteps(2), dif.RandomSeed(&used)); err != nil {
		t.Fatal(err)
	}
	// an already cancelled context does not start
	_, err = ctx.Generate(gctx, dif.Text("a red cat"))
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	_, err := dif.Open(filepath.Join(t.TempDir(), "no-such-model"))
	var de *dif.Error
	if !errors.As(err, &de) || de.Status != dif.ErrIO || !strings.Contains(de.Message, "no-such-model") {
		t.Fatalf("%v", err)
	}
	ctx := open(t, unclip, dif.WithPrior(prior))
	bg := context.Background()
	if _, err := ctx.Generate(bg, dif.Text("a cat"), dif.Steps(0)); !errors.Is(err, dif.ErrInvalidArgument) {
		t.Fatal(err)
	}
	if _, err := ctx.Generate(bg, dif.Text("a cat"), dif.Scheduler("nope")); !errors.Is(err, dif.ErrUnsupported) ||
		!strings.Contains(err.Error(), "euler") {
		t.Fatal(err)
	}
	if _, err := ctx.Generate(bg, dif.Text("bad \xff utf-8")); !errors.Is(err, dif.ErrInvalidArgument) {
		t.Fatal(err)
	}
	if _, err := ctx.Generate(bg, dif.NewPrompt()); !errors.Is(err, dif.ErrInvalidArgument) {
		t.Fatal(err)
	}
	if _, err := ctx.Generate(bg, dif.ImageFile("/no/such.png")); !errors.Is(err, dif.ErrIO) {
		t.Fatal(err)
	}
	ctx.Close()
	ctx.Close() // idempotent
	if _, err := ctx.Generate(bg, dif.Text("a cat")); err == nil {
		t.Fatal("generate on a closed context")
	}
}

func TestLoggerAndConcurrentGenerate(t *testing.T) {
	var lines atomic.Int32
	ctx := open(t, unclip, dif.WithPrior(prior),
		dif.WithLogger(func(dif.LogLevel, string) { lines.Add(1) }, dif.LogDebug))
	if lines.Load() == 0 {
		t.Fatal("no log lines while loading")
	}
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func(seed uint64) {
			_, err := ctx.Generate(context.Background(), dif.Text("a red cat"), dif.Size(32, 32),
				dif.Steps(2), dif.PriorSteps(2), dif.Seed(seed))
			errs <- err
		}(uint64(i))
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func mappedWeights(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip("no /proc")
	}
	return strings.Count(string(b), ".safetensors")
}

func TestNoLeakOverOpenCloseCycles(t *testing.T) {
	before := mappedWeights(t)
	for i := 0; i < 100; i++ {
		ctx, err := dif.Open(unclip, dif.WithPrior(prior), dif.WithThreads(1))
		if err != nil {
			t.Fatal(err)
		}
		ctx.Close()
	}
	if after := mappedWeights(t); after != before {
		t.Fatalf("%d weight mappings before, %d after", before, after)
	}
}

// dif.h's cancel rule: the progress callback returns true to cancel.
func TestProgressReturnsTrueToCancel(t *testing.T) {
	ctx := open(t, unclip, dif.WithPrior(prior))
	var steps []int
	_, err := ctx.Generate(context.Background(), dif.Text("a red cat"), dif.Size(32, 32),
		dif.Steps(4), dif.PriorSteps(5), dif.OnProgress(func(step, total int) bool {
			steps = append(steps, step)
			return false
		}))
	if err != nil || len(steps) != 9 {
		t.Fatalf("false goes on: %v after steps %v", err, steps)
	}
	steps = nil
	_, err = ctx.Generate(context.Background(), dif.Text("a red cat"), dif.Size(32, 32),
		dif.Steps(4), dif.PriorSteps(5), dif.OnProgress(func(step, total int) bool {
			steps = append(steps, step)
			return step >= 3
		}))
	if !errors.Is(err, dif.ErrCancelled) || len(steps) != 3 {
		t.Fatalf("true cancels: %v after steps %v", err, steps)
	}
}

// The default model, its info, saving with the record and reproducing from it.
func TestDefaultModelInfoRecord(t *testing.T) {
	dir := dif.DefaultModelDir()
	need(t, dir != "", "no default model found")
	ctx := open(t, dir)
	info, err := ctx.Info()
	if err != nil || info["default_model"] != dir || info["family"] != "unclip" {
		t.Fatalf("info: %v %v", err, info)
	}
	if _, ok := info["defaults"].(map[string]any)["steps"]; !ok {
		t.Fatalf("info has no defaults.steps: %s", ctx.InfoJSON())
	}
	tmp := t.TempDir()
	r, err := ctx.GenerateResult(context.Background(), dif.Text("a red circle"), dif.Steps(3),
		dif.PriorSteps(2), dif.Seed(77))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Seed != 77 || !strings.Contains(r.Parameters, `"steps"`) {
		t.Fatalf("seed %d, parameters %s", r.Seed, r.Parameters)
	}
	out := filepath.Join(tmp, "circle.png")
	if err := r.SavePNG(0, out); err != nil {
		t.Fatal(err)
	}
	record, err := dif.ReadParameters(out)
	if err != nil || record != r.Parameters {
		t.Fatalf("record %q, %v; want %q", record, err, r.Parameters)
	}
	again, err := ctx.GenerateFrom(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if !bytes.Equal(rgbOf(again.Images), rgbOf(r.Images)) {
		t.Fatal("GenerateFrom gave other pixels")
	}
	other, err := ctx.GenerateFrom(context.Background(), out, dif.Seed(78))
	if err != nil || other.Seed != 78 || bytes.Equal(rgbOf(other.Images), rgbOf(r.Images)) {
		t.Fatalf("an option overrides the record: %v, seed %d", err, other.Seed)
	}
	other.Close()
	if _, err := dif.ReadParameters(inputPNG); !errors.Is(err, dif.ErrInvalidArgument) {
		t.Fatalf("a PNG without a record: %v", err)
	}
	if err := r.SavePNG(0, filepath.Join(tmp, "no-such-dir", "x.png")); !errors.Is(err, dif.ErrIO) ||
		!strings.Contains(err.Error(), "no-such-dir") {
		t.Fatalf("SavePNG into a missing folder: %v", err)
	}
	r.Close()
	if err := r.SavePNG(0, out); err == nil {
		t.Fatal("SavePNG on a closed Result")
	}
}

// An image prompt's file is found again relative to the PNG's folder.
func TestGenerateFromImageRecord(t *testing.T) {
	ctx := open(t, unclip)
	tmp := t.TempDir()
	ref := filepath.Join(tmp, "ref.png")
	b, err := os.ReadFile(inputPNG)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ref, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := ctx.GenerateResult(context.Background(), dif.ImageFile(ref), dif.Size(32, 32),
		dif.Steps(2), dif.Seed(3))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := filepath.Join(tmp, "variation.png")
	if err := r.SavePNG(0, out); err != nil {
		t.Fatal(err)
	}
	again, err := ctx.GenerateFrom(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if !bytes.Equal(rgbOf(again.Images), rgbOf(r.Images)) {
		t.Fatal("GenerateFrom gave other pixels")
	}
}

func TestEditingTools(t *testing.T) {
	ctx := open(t, filepath.Join(models, "tiny-sd"))
	base := []dif.Option{dif.Steps(2), dif.Seed(3), dif.InitImageFile(inputPNG, dif.VaryStrong)}
	run := func(opts ...dif.Option) ([]image.Image, error) {
		return ctx.Generate(context.Background(), dif.Text("a red cat"), append(base, opts...)...)
	}
	pan, err := run(dif.Pan(dif.DirectionLeft, 0.5))
	if err != nil || pan[0].Bounds().Dx() != 48 || pan[0].Bounds().Dy() != 32 {
		t.Fatalf("pan: %v", err)
	}
	zoom, err := run(dif.ZoomOut(2))
	if err != nil || zoom[0].Bounds().Dx() != 32 {
		t.Fatalf("zoom: %v", err)
	}
	if _, err := run(dif.MaskRect(8, 8, 16, 16)); err != nil {
		t.Fatal(err)
	}
	if _, err := run(dif.MaskRect(8, 8, 16, 16), dif.MaskCrop(4)); err != nil {
		t.Fatalf("mask crop: %v", err)
	}
	if _, err := run(dif.MaskRect(8, 8, 16, 16), dif.MaskCrop(-5)); err == nil ||
		!strings.Contains(err.Error(), "padding -5") {
		t.Fatalf("mask crop -5: %v", err)
	}
	if _, err := run(dif.ZoomOut(9)); err == nil || !strings.Contains(err.Error(), "(1, 4]") {
		t.Fatalf("zoom 9: %v", err)
	}
	if _, err := run(dif.MakeSquare()); err == nil || !strings.Contains(err.Error(), "square") {
		t.Fatalf("make square: %v", err)
	}
	up, err := run(dif.Upscale(2, dif.UpscaleCreative))
	if err != nil || up[0].Bounds().Dx() != 64 || up[0].Bounds().Dy() != 64 {
		t.Fatalf("upscale: %v", err)
	}
}

// A LoRA (tests/fixtures) changes the pixels, the same way twice; a model
// file given as a LoRA is refused.
func TestLoRA(t *testing.T) {
	sd := filepath.Join(models, "tiny-sd")
	lora := filepath.Join(models, "..", "..", "fixtures", "models", "lora", "tiny-sd.kohya.safetensors")
	_, err := os.Stat(lora)
	need(t, err == nil, "no LoRA fixture at "+lora)
	draw := func(opts ...dif.OpenOption) []byte {
		ctx := open(t, sd, opts...)
		imgs, err := ctx.Generate(context.Background(), dif.Text("a watercolor lighthouse"),
			dif.Steps(2), dif.Seed(5))
		if err != nil {
			t.Fatal(err)
		}
		return rgbOf(imgs)
	}
	plain, merged := draw(), draw(dif.WithLoRA(lora, 0.8))
	if bytes.Equal(plain, merged) || !bytes.Equal(merged, draw(dif.WithLoRA(lora, 0.8))) {
		t.Fatal("the LoRA did not change the pixels, or not the same way twice")
	}
	_, err = dif.Open(sd, dif.WithLoRA(filepath.Join(sd, "unet", "diffusion_pytorch_model.safetensors"), 1))
	if err == nil || !strings.Contains(err.Error(), "unknown LoRA key") {
		t.Fatalf("a model file as a LoRA: %v", err)
	}
}

// An embedding (tests/fixtures) changes the pixels of a prompt naming its
// token, the same way twice; a token of the vocabulary is refused.
func TestEmbedding(t *testing.T) {
	sd := filepath.Join(models, "tiny-sd")
	emb := filepath.Join(models, "..", "..", "fixtures", "models", "textual_inversion", "tiny-shape3.safetensors")
	_, err := os.Stat(emb)
	need(t, err == nil, "no embedding fixture at "+emb)
	draw := func(opts ...dif.OpenOption) []byte {
		ctx := open(t, sd, opts...)
		imgs, err := ctx.Generate(context.Background(), dif.Text("a <shape3> lighthouse"),
			dif.Steps(2), dif.Seed(5))
		if err != nil {
			t.Fatal(err)
		}
		return rgbOf(imgs)
	}
	plain, added := draw(), draw(dif.WithEmbedding(emb, ""))
	if bytes.Equal(plain, added) || !bytes.Equal(added, draw(dif.WithEmbedding(emb, "<shape3>"))) {
		t.Fatal("the embedding did not change the pixels, or not the same way twice")
	}
	_, err = dif.Open(sd, dif.WithEmbedding(emb, "a"))
	if err == nil || !strings.Contains(err.Error(), "already in the tokenizer's vocabulary") {
		t.Fatalf("a vocabulary token: %v", err)
	}
}
