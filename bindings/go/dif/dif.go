// Package dif turns text and image prompts into pictures on a CPU with libdif
// (Stable unCLIP and Stable Diffusion from diffusers model folders).
//
//	ctx, err := dif.Open("models/sd21-unclip-small", dif.WithPrior("models/karlo-v1-alpha"))
//	if err != nil { ... }
//	defer ctx.Close()
//	images, err := ctx.Generate(context.Background(), dif.Text("a photo of a red cat"),
//		dif.Steps(20), dif.Seed(2024))
//
// Cancelling the context.Context passed to Generate cancels the generation
// within one denoising step. A Context must be closed with Close; a finalizer
// only frees a forgotten one as a safety net. The low-level layer (ffi.go) is
// generated from include/dif.h by tools/gen-bindings; this file and the
// others are the small idiomatic layer on top. The contracts (ranges, threads,
// errors) are those of dif.h.
package dif

/*
#include <stdlib.h>
#include <dif.h>
extern void difGoLog(dif_log_level level, char *message, void *user);
*/
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// Version is the version of the dif.h these bindings were generated from.
const Version = VersionMajor*10000 + VersionMinor*100 + VersionPatch

// init: oneDNN's OpenMP threads (libgomp, loaded with oneDNN when libdif
// first needs it) sleep between products instead of spinning against libdif's
// own threads, as the dif command sets (dif.h, DIF_PRECISION_FAST): the default
// model measured 2x faster on 2 cores. A policy the user set is kept.
func init() {
	if _, set := os.LookupEnv("OMP_WAIT_POLICY"); !set {
		os.Setenv("OMP_WAIT_POLICY", "passive")
	}
}

// LibraryVersion is the "MAJOR.MINOR.PATCH" of the libdif that is running.
func LibraryVersion() string { return difVersionString() }

// BLASCore names the BLAS kernels in use on this CPU (e.g. "Haswell").
func BLASCore() string { return difBLASCore() }

// BLASSetup is dif_blas_setup, for a program that owns its process, called
// first thing in main (before any goroutine or library may use BLAS):
// OpenBLAS's fastest kernels for this CPU, its idle threads asleep right after
// each product (OpenBLAS is loaded with the program, before the package's
// init, so unlike OMP_WAIT_POLICY the package cannot set
// OPENBLAS_THREAD_TIMEOUT itself), and threads > 0 its thread count.
// Process-wide. An error (ErrUnsupported) when this BLAS cannot be
// switched: the message says which variable to set instead.
func BLASSetup(threads int) error {
	if s := difBLASSetup(int32(threads)); s != OK {
		return newError(s, difLastError())
	}
	return nil
}

// DefaultModelDir is the folder of libdif's default model (dif_default_model_dir):
// dif.Open(dif.DefaultModelDir()) needs nothing else. "" if none is found.
func DefaultModelDir() string { return difDefaultModelDir() }

// String is the status' English name ("invalid argument").
func (s Status) String() string { return difStatusString(s) }

// Error makes a Status an error, so errors.Is(err, dif.ErrCancelled) works.
func (s Status) Error() string { return "dif: " + s.String() }

// Error is a failed libdif call: its status and libdif's message.
type Error struct {
	Status  Status
	Message string
	cause   error // context.Canceled or DeadlineExceeded for a cancelled Generate
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "dif: " + e.Status.String()
	}
	return fmt.Sprintf("dif: %s (%s)", e.Message, e.Status.String())
}

// Is matches a Status: errors.Is(err, dif.ErrIO).
func (e *Error) Is(target error) bool {
	s, ok := target.(Status)
	return ok && s == e.Status
}

// Unwrap gives the context's error when a Generate was cancelled through it.
func (e *Error) Unwrap() error { return e.cause }

func newError(s Status, msg string) error {
	if s == OK {
		return nil
	}
	return &Error{Status: s, Message: msg}
}

var errClosed = errors.New("dif: the Context is closed")

// cstr converts s for the duration of a call; free the result with C.free.
func cstr(s string) *C.char { return C.CString(s) }

func free(p *C.char) { C.free(unsafe.Pointer(p)) }

// handleBox holds a cgo.Handle in C memory, so C can carry it as user data
// without a Go pointer crossing into C.
type handleBox struct{ p unsafe.Pointer }

func newHandleBox(v any) handleBox {
	p := C.malloc(C.size_t(unsafe.Sizeof(cgo.Handle(0))))
	*(*cgo.Handle)(p) = cgo.NewHandle(v)
	return handleBox{p}
}

func (b *handleBox) free() {
	if b.p != nil {
		(*(*cgo.Handle)(b.p)).Delete()
		C.free(b.p)
		b.p = nil
	}
}

func handleValue(user unsafe.Pointer) any { return (*(*cgo.Handle)(user)).Value() }

//export difGoLog
func difGoLog(level C.dif_log_level, message *C.char, user unsafe.Pointer) {
	handleValue(user).(func(LogLevel, string))(LogLevel(level), C.GoString(message))
}

// Context holds loaded models (dif.h section 5). It is safe for concurrent
// use: several goroutines may Generate at once.
type Context struct {
	mu  sync.RWMutex // Generate holds it for reading, Close for writing
	c   *C.dif_context
	log handleBox
}

type openOptions struct {
	prior    string
	config   string
	loras    []lora
	embs     []embedding
	threads  int
	logger   func(LogLevel, string)
	logLevel LogLevel
}

// OpenOption configures Open.
type OpenOption func(*openOptions)

// WithPrior loads a Karlo diffusion prior folder for text-to-image with a
// Stable unCLIP model.
func WithPrior(dir string) OpenOption { return func(o *openOptions) { o.prior = dir } }

// WithConfig names, for a single-file checkpoint given to Open, the diffusers
// folder of the same model whose configs, tokenizer and scheduler go with the
// file's weights.
func WithConfig(dir string) OpenOption { return func(o *openOptions) { o.config = dir } }

type lora struct {
	file   string
	weight float32
}

// WithLoRA merges a LoRA file (kohya/A1111 or diffusers/PEFT .safetensors)
// into the UNet and text encoder as the model loads, with weight w (the
// lora_scale of diffusers, A1111's <lora:name:w>). Repeatable: LoRAs add up
// in order.
func WithLoRA(file string, w float32) OpenOption {
	return func(o *openOptions) { o.loras = append(o.loras, lora{file, w}) }
}

type embedding struct {
	file, token string
}

// WithEmbedding adds a textual-inversion embedding (.safetensors, diffusers
// or A1111 layout) to the tokenizer and text encoder as the model loads;
// token "" takes the file's (its tensor's name, or for A1111's emb_params
// the file name without .safetensors). Repeatable.
func WithEmbedding(file, token string) OpenOption {
	return func(o *openOptions) { o.embs = append(o.embs, embedding{file, token}) }
}

// WithThreads sets the number of worker threads (default: one per core). The
// same model, settings, seed and threads give the same pixels, bit for bit.
func WithThreads(n int) OpenOption { return func(o *openOptions) { o.threads = n } }

// WithLogger receives the library's log lines up to maxLevel. It is called on
// whichever thread calls into the library and must not call back into dif.
func WithLogger(fn func(level LogLevel, message string), maxLevel LogLevel) OpenOption {
	return func(o *openOptions) { o.logger, o.logLevel = fn, maxLevel }
}

// Open loads a diffusers model folder (Stable unCLIP or Stable Diffusion), or
// a single-file checkpoint (.safetensors in the original SD layout) with
// WithConfig.
func Open(modelDir string, opts ...OpenOption) (*Context, error) {
	var o openOptions
	for _, opt := range opts {
		opt(&o)
	}
	var c *C.dif_context
	if s := difContextNew(&c); s != OK {
		return nil, newError(s, difLastError())
	}
	ctx := &Context{c: c}
	fail := func(s Status) (*Context, error) {
		err := newError(s, difContextLastError(c))
		ctx.Close()
		return nil, err
	}
	if o.threads != 0 {
		if s := difContextSetThreads(c, int32(o.threads)); s != OK {
			return fail(s)
		}
	}
	if o.logger != nil {
		ctx.log = newHandleBox(o.logger)
		if s := difContextSetLog(c, C.dif_log_fn(C.difGoLog), o.logLevel, ctx.log.p); s != OK {
			return fail(s)
		}
	}
	if o.prior != "" {
		p := cstr(o.prior)
		s := difContextSetPrior(c, p)
		free(p)
		if s != OK {
			return fail(s)
		}
	}
	if o.config != "" {
		p := cstr(o.config)
		s := difContextSetConfig(c, p)
		free(p)
		if s != OK {
			return fail(s)
		}
	}
	for _, l := range o.loras {
		p := cstr(l.file)
		s := difContextAddLora(c, p, l.weight)
		free(p)
		if s != OK {
			return fail(s)
		}
	}
	for _, e := range o.embs {
		p := cstr(e.file)
		var tok *C.char
		if e.token != "" {
			tok = cstr(e.token)
		}
		s := difContextAddEmbedding(c, p, tok)
		free(p)
		if tok != nil {
			free(tok)
		}
		if s != OK {
			return fail(s)
		}
	}
	dir := cstr(modelDir)
	s := difContextLoad(c, dir)
	free(dir)
	if s != OK {
		return fail(s)
	}
	runtime.SetFinalizer(ctx, (*Context).Close)
	return ctx, nil
}

// Close frees the models. It waits for running Generate calls to finish;
// calling it again is a no-op.
func (ctx *Context) Close() error {
	ctx.mu.Lock()
	defer ctx.mu.Unlock()
	if ctx.c != nil {
		difContextFree(ctx.c)
		ctx.c = nil
		runtime.SetFinalizer(ctx, nil)
	}
	ctx.log.free()
	return nil
}

func (ctx *Context) get() (*C.dif_context, error) {
	if ctx.c == nil {
		return nil, errClosed
	}
	return ctx.c, nil
}

func (ctx *Context) flag(fn func(*C.dif_context) int32) bool {
	ctx.mu.RLock()
	defer ctx.mu.RUnlock()
	return ctx.c != nil && fn(ctx.c) != 0
}

// IsUnCLIP reports a Stable unCLIP model (image prompts, variations).
func (ctx *Context) IsUnCLIP() bool { return ctx.flag(difContextIsUnclip) }

// HasPrior reports that text-to-image works with the unCLIP model.
func (ctx *Context) HasPrior() bool { return ctx.flag(difContextHasPrior) }

// HasImageEncoder reports that image prompts work.
func (ctx *Context) HasImageEncoder() bool { return ctx.flag(difContextHasImageEncoder) }

// Threads is the number of threads the context uses.
func (ctx *Context) Threads() int {
	ctx.mu.RLock()
	defer ctx.mu.RUnlock()
	if ctx.c == nil {
		return 0
	}
	return int(difContextThreads(ctx.c))
}

// ReleaseScratch frees the scratch memory the context keeps between
// generations (dif_context_release_scratch) and keeps the model; it returns
// the bytes released. For a program that generates now and then and wants
// the memory back in between; the next generation allocates afresh.
func (ctx *Context) ReleaseScratch() (uint64, error) {
	return ctx.release(difContextReleaseScratch)
}

// ReleasePacked frees the packed forms of the weights the context built at
// its generations (dif_context_release_packed: fast's bf16 copies, the
// Winograd-transformed convolution weights) and keeps the model; it returns
// the bytes released. The next generation packs them again. While a
// generation of the context runs it fails with status ErrBusy.
func (ctx *Context) ReleasePacked() (uint64, error) {
	return ctx.release(difContextReleasePacked)
}

// release runs one of the dif_context_release_* calls: the bytes it freed.
func (ctx *Context) release(call func(*C.dif_context, *uint) Status) (uint64, error) {
	ctx.mu.RLock()
	defer ctx.mu.RUnlock()
	c, err := ctx.get()
	if err != nil {
		return 0, err
	}
	var freed uint
	if s := call(c, &freed); s != OK {
		return 0, newError(s, difContextLastError(c))
	}
	return uint64(freed), nil
}

// InfoJSON is the JSON description of the loaded model (dif_context_info):
// folder, pipeline, components, weight files with fingerprints, the sample
// defaults, the default model folder, BLAS kernels and threads.
func (ctx *Context) InfoJSON() string {
	ctx.mu.RLock()
	defer ctx.mu.RUnlock()
	if ctx.c == nil {
		return "{}"
	}
	return difContextInfo(ctx.c)
}

// Info is InfoJSON decoded: info["defaults"].(map[string]any)["steps"], ...
func (ctx *Context) Info() (map[string]any, error) {
	var info map[string]any
	if err := json.Unmarshal([]byte(ctx.InfoJSON()), &info); err != nil {
		return nil, fmt.Errorf("dif: dif_context_info: %w", err)
	}
	return info, nil
}
