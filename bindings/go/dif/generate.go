package dif

/*
#include <stdlib.h>
#include <dif.h>
extern int difGoProgress(int32_t step, int32_t total, void *user);
*/
import "C"

import (
	"context"
	"errors"
	"image"
	"path/filepath"
	"runtime"
	"sync"
	"unsafe"
)

type settings struct {
	apply    []func(*C.dif_sample) Status
	progress func(step, total int) bool
	seedOut  *uint64
}

// Option is a generation setting; unset ones keep the library's defaults
// (dif.h section 7: the model's size, 20 steps, seed 0, one image, ...).
type Option func(*settings)

func set(fn func(*C.dif_sample) Status) Option {
	return func(s *settings) { s.apply = append(s.apply, fn) }
}

// Size sets width and height in pixels (multiples of 8).
func Size(width, height int) Option {
	return set(func(s *C.dif_sample) Status { return difSampleSetSize(s, int32(width), int32(height)) })
}

// Steps sets the decoder's denoising steps.
func Steps(n int) Option {
	return set(func(s *C.dif_sample) Status { return difSampleSetSteps(s, int32(n)) })
}

// Guidance sets the classifier-free guidance scale.
func Guidance(scale float32) Option {
	return set(func(s *C.dif_sample) Status { return difSampleSetGuidance(s, scale) })
}

// PriorSteps sets the diffusion prior's steps.
func PriorSteps(n int) Option {
	return set(func(s *C.dif_sample) Status { return difSampleSetPriorSteps(s, int32(n)) })
}

// PriorGuidance sets the diffusion prior's guidance scale.
func PriorGuidance(scale float32) Option {
	return set(func(s *C.dif_sample) Status { return difSampleSetPriorGuidance(s, scale) })
}

// Scheduler picks the decoder's scheduler ("ddim", "euler_a", "dpmpp_2m", ...).
func Scheduler(name string) Option {
	return set(func(s *C.dif_sample) Status {
		c := cstr(name)
		defer free(c)
		return difSampleSetScheduler(s, c)
	})
}

// Seed sets the seed.
func Seed(seed uint64) Option {
	return set(func(s *C.dif_sample) Status { return difSampleSetSeed(s, seed) })
}

// RandomSeed lets the library pick a seed and stores it in *used.
func RandomSeed(used *uint64) Option {
	return func(st *settings) {
		st.apply = append(st.apply, difSampleSetRandomSeed)
		st.seedOut = used
	}
}

// Batch sets the number of images drawn in one run.
func Batch(n int) Option {
	return set(func(s *C.dif_sample) Status { return difSampleSetBatch(s, int32(n)) })
}

// NoiseLevel sets the unCLIP noise augmentation, 0 to the model's highest level
// (its image noising scheduler's num_train_timesteps - 1: 999 for Stable unCLIP).
func NoiseLevel(level int) Option {
	return set(func(s *C.dif_sample) Status { return difSampleSetNoiseLevel(s, int32(level)) })
}

// BlendMode sets how prompt parts combine (BlendSum or BlendSlerp).
func BlendMode(mode Blend) Option {
	return set(func(s *C.dif_sample) Status { return difSampleSetBlend(s, mode) })
}

// InitImageFile starts from a PNG or JPEG file noised to strength (img2img).
func InitImageFile(path string, strength float32) Option {
	return set(func(s *C.dif_sample) Status {
		c := cstr(path)
		defer free(c)
		return difSampleSetInitImageFile(s, c, strength)
	})
}

// InitImage starts from an image noised to strength (img2img).
func InitImage(img image.Image, strength float32) Option {
	rgb, w, h := toRGB(img)
	return set(func(s *C.dif_sample) Status {
		var px *uint8
		if len(rgb) > 0 {
			px = &rgb[0]
		}
		return difSampleSetInitImageRGB(s, px, int32(w), int32(h), int32(w*3), strength)
	})
}

// MaskFile repaints only the white part of the init image (Vary Region; dif.h,
// masked generation): a PNG, JPEG or WebP mask, scaled to the picture.
func MaskFile(path string) Option {
	return set(func(s *C.dif_sample) Status {
		c := cstr(path)
		defer free(c)
		return difSampleSetMaskFile(s, c)
	})
}

// Mask repaints only the white part of the init image (Vary Region).
func Mask(img image.Image) Option {
	rgb, w, h := toRGB(img)
	return set(func(s *C.dif_sample) Status {
		var px *uint8
		if len(rgb) > 0 {
			px = &rgb[0]
		}
		return difSampleSetMaskRGB(s, px, int32(w), int32(h), int32(w*3))
	})
}

// MaskRect repaints only the rectangle [x, x+w) × [y, y+h) of the picture.
func MaskRect(x, y, w, h int) Option {
	return set(func(s *C.dif_sample) Status {
		return difSampleSetMaskRect(s, int32(x), int32(y), int32(w), int32(h))
	})
}

// ZoomOut shrinks the init image by factor (1 < factor <= 4) into the centre
// of a canvas of its size and paints the border (dif.h, the editing tools).
func ZoomOut(factor float32) Option {
	return set(func(s *C.dif_sample) Status { return difSampleSetZoomOut(s, factor) })
}

// MakeSquare paints the init image onto a square canvas of about its pixel count.
func MakeSquare() Option {
	return set(func(s *C.dif_sample) Status { return difSampleSetMakeSquare(s) })
}

// Pan grows the canvas towards direction by amount (0 < amount <= 1) of the
// picture and paints the new strip.
func Pan(direction Direction, amount float32) Option {
	return set(func(s *C.dif_sample) Status { return difSampleSetPan(s, direction, amount) })
}

// Upscale redraws the init image resized by factor in (1, 4] (Subtle:
// img2img at 0.25, Creative: 0.5); on an x4 upscaler model, its own
// pipeline (factor 4; the mode sets the noise level, 20 or 100).
func Upscale(factor float32, mode UpscaleMode) Option {
	return set(func(s *C.dif_sample) Status { return difSampleSetUpscale(s, factor, mode) })
}

// OnProgress is called after every denoising step (prior steps included),
// on the library's thread. It follows dif.h's cancel rule: return true to
// cancel (Generate then fails with an error matching dif.ErrCancelled),
// false to go on. A context.Context cancels too.
func OnProgress(fn func(step, total int) (cancel bool)) Option {
	return func(s *settings) { s.progress = fn }
}

//export difGoProgress
func difGoProgress(step, total C.int32_t, user unsafe.Pointer) C.int {
	if handleValue(user).(func(step, total int) bool)(int(step), int(total)) {
		return 1
	}
	return 0
}

// Result is a finished generation: its images, the seed and the record
// (dif_sample_parameters), kept with the library's sample so that SavePNG
// can store the record in each PNG. Close it when done (a finalizer frees a
// forgotten one as a safety net).
type Result struct {
	Images     []image.Image // *image.RGBA, opaque
	Seed       uint64
	Parameters string // the record as JSON, as saved in PNGs ("dif:parameters")
	mu         sync.Mutex
	s          *C.dif_sample
}

// SavePNG writes image i as a PNG with its record (dif_sample_save_png):
// `dif generate --from` and Context.GenerateFrom reproduce it. Prompt and
// init image files are named relative to the PNG's folder; the file is
// written atomically, by the rules of dif_check_output_path.
func (r *Result) SavePNG(i int, path string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.s == nil {
		return errors.New("dif: the Result is closed")
	}
	c := cstr(path)
	defer free(c)
	if s := difSampleSavePNG(r.s, int32(i), c); s != OK {
		return newError(s, difSampleLastError(r.s))
	}
	return nil
}

// Close frees the library's sample; the images stay. Calling it again is a no-op.
func (r *Result) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.s != nil {
		difSampleFree(r.s)
		r.s = nil
		runtime.SetFinalizer(r, nil)
	}
	return nil
}

// Generate draws the prompt and returns its images (*image.RGBA, opaque).
// It blocks until the images are done; cancelling gctx cancels the
// generation within one denoising step and returns an error that matches
// both errors.Is(err, dif.ErrCancelled) and errors.Is(err, gctx.Err()).
func (ctx *Context) Generate(gctx context.Context, p *Prompt, opts ...Option) ([]image.Image, error) {
	r, err := ctx.GenerateResult(gctx, p, opts...)
	if err != nil {
		return nil, err
	}
	r.Close()
	return r.Images, nil
}

// GenerateResult is Generate returning a Result, to save the images with
// their record (Result.SavePNG).
func (ctx *Context) GenerateResult(gctx context.Context, p *Prompt, opts ...Option) (*Result, error) {
	cp, err := p.build()
	if err != nil {
		return nil, err
	}
	defer difPromptFree(cp)
	return ctx.run(gctx, cp, nil, opts)
}

// GenerateFrom reproduces an image from the record in its PNG (what
// `dif generate --from` does): the prompt and every setting are read from
// the record, image files relative to the PNG's folder (dif.h, "Reproducing
// an image from its record"); opts then override settings. The same model
// and threads give the same pixels.
func (ctx *Context) GenerateFrom(gctx context.Context, png string, opts ...Option) (*Result, error) {
	record, err := ReadParameters(png)
	if err != nil {
		return nil, err
	}
	cj, cd := cstr(record), cstr(filepath.Dir(png))
	defer free(cj)
	defer free(cd)
	var cp *C.dif_prompt
	if s := difPromptFromRecord(cj, cd, &cp); s != OK {
		return nil, newError(s, difLastError())
	}
	defer difPromptFree(cp)
	apply := func(s *C.dif_sample) Status { return difSampleApplyRecord(s, cj, cd) }
	return ctx.run(gctx, cp, apply, opts)
}

// ReadParameters returns the record (JSON) stored in a PNG written by libdif.
func ReadParameters(png string) (string, error) {
	c := cstr(png)
	defer free(c)
	var n uint
	if s := difReadPNGParameters(c, nil, &n); s != OK {
		return "", newError(s, difLastError())
	}
	buf := (*C.char)(C.malloc(C.size_t(n)))
	defer C.free(unsafe.Pointer(buf))
	if s := difReadPNGParameters(c, buf, &n); s != OK {
		return "", newError(s, difLastError())
	}
	return C.GoString(buf), nil
}

// run makes a sample of cp, applies first (a record) and the options, runs it
// on a library thread while watching gctx, and returns the Result.
func (ctx *Context) run(gctx context.Context, cp *C.dif_prompt, first func(*C.dif_sample) Status,
	opts []Option) (*Result, error) {
	ctx.mu.RLock()
	defer ctx.mu.RUnlock()
	c, err := ctx.get()
	if err != nil {
		return nil, err
	}
	if err := gctx.Err(); err != nil {
		return nil, &Error{Status: ErrCancelled, Message: "not started: " + err.Error(), cause: err}
	}
	var st settings
	for _, o := range opts {
		o(&st)
	}
	var s *C.dif_sample
	if status := difSampleNew(c, cp, &s); status != OK {
		return nil, newError(status, difContextLastError(c))
	}
	keep := false
	defer func() {
		if !keep {
			difSampleFree(s)
		}
	}()
	if first != nil {
		st.apply = append([]func(*C.dif_sample) Status{first}, st.apply...)
	}
	for _, apply := range st.apply {
		if status := apply(s); status != OK {
			return nil, newError(status, difSampleLastError(s))
		}
	}
	if st.seedOut != nil {
		*st.seedOut = difSampleSeed(s)
	}
	if st.progress != nil {
		box := newHandleBox(st.progress)
		defer box.free() // runs once the sample has stopped: no callback can follow
		if status := difSampleSetProgress(s, C.dif_progress_fn(C.difGoProgress), box.p); status != OK {
			return nil, newError(status, difSampleLastError(s))
		}
		// the sample outlives this call in a Result: no callback after the box is freed
		defer difSampleSetProgress(s, nil, nil)
	}
	if status := difSampleStart(s); status != OK {
		return nil, newError(status, difSampleLastError(s))
	}
	done := make(chan Status, 1)
	go func() { done <- difSampleWait(s) }()
	var status Status
	select {
	case status = <-done:
	case <-gctx.Done():
		difSampleCancel(s)
		status = <-done
		if status == ErrCancelled {
			return nil, &Error{Status: status, Message: difSampleLastError(s), cause: gctx.Err()}
		}
	}
	if status != OK {
		return nil, newError(status, difSampleLastError(s))
	}
	imgs, err := images(s)
	if err != nil {
		return nil, err
	}
	r := &Result{Images: imgs, Seed: difSampleSeed(s), Parameters: difSampleParameters(s), s: s}
	runtime.SetFinalizer(r, (*Result).Close)
	keep = true
	return r, nil
}

func images(s *C.dif_sample) ([]image.Image, error) {
	w, h := int(difSampleWidth(s)), int(difSampleHeight(s))
	n := difSampleImageBytes(s)
	rgb := make([]byte, n)
	out := make([]image.Image, 0, difSampleImageCount(s))
	for i := int32(0); i < difSampleImageCount(s); i++ {
		if status := difSampleCopyImage(s, i, &rgb[0], n); status != OK {
			return nil, newError(status, difSampleLastError(s))
		}
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for j, k := 0, 0; j < len(rgb); j, k = j+3, k+4 {
			img.Pix[k], img.Pix[k+1], img.Pix[k+2], img.Pix[k+3] = rgb[j], rgb[j+1], rgb[j+2], 255
		}
		out = append(out, img)
	}
	return out, nil
}
