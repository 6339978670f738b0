"""libdif for Python: text and image prompts to pictures on a CPU.

    import dif
    with dif.Context("stable-diffusion-2-1-unclip-small", prior_dir="karlo-v1-alpha") as ctx:
        images = ctx.generate("a photo of a red cat", steps=20, seed=2024)
        images[0].save("cat.png")

Images come back as PIL images if Pillow is installed, else as numpy arrays
(height x width x 3, uint8) if numpy is, else as bytes (RGB8 rows); pass
output="pil", "numpy" or "bytes" to choose. This module is a thin hand-written
layer over dif._ffi, which tools/gen-bindings generates from include/dif.h;
the contracts (ranges, threads, errors) are those of dif.h.
"""
import ctypes as _C
import json as _json
import os as _os
import weakref as _weakref

from . import _ffi
from ._ffi import Blend, LogLevel, Status, TextEmbedding  # noqa: F401 (re-exported)
from ._lib import lib as _dll

__all__ = ["Context", "Prompt", "Job", "Images", "Error", "Cancelled", "Status", "LogLevel",
           "TextEmbedding", "Blend", "RANDOM", "version", "library_version", "blas_core"]

RANDOM = "random"
"""seed=dif.RANDOM: a random seed, picked by the library and reported in Images.seed."""

version = "%d.%d.%d" % (_ffi.DIF_VERSION_MAJOR, _ffi.DIF_VERSION_MINOR, _ffi.DIF_VERSION_PATCH)


def library_version():
    """The version string of the libdif.so.0 that was loaded."""
    return _dll.dif_version_string().decode()


def blas_core():
    """The BLAS kernel set in use on this CPU (e.g. "Haswell")."""
    return _dll.dif_blas_core().decode()


# ---------------------------------------------------------------------------
# Errors


class Error(Exception):
    """A libdif call failed: .status (a dif.Status) and .message (libdif's text)."""

    def __init__(self, status, message):
        try:
            status = Status(status)
        except ValueError:
            pass
        self.status = status
        self.message = message
        name = _dll.dif_status_string(int(status)).decode()
        super().__init__("%s (%s)" % (message, name) if message else name)


class Cancelled(Error):
    """The generation was cancelled (Status.ERR_CANCELLED)."""


def _raise(status, message):
    if status == Status.OK:
        return
    cls = Cancelled if status == Status.ERR_CANCELLED else Error
    raise cls(status, message.decode("utf-8", "replace") if isinstance(message, bytes) else message)


def _check_global(status):
    if status != Status.OK:
        _raise(status, _dll.dif_last_error())


def _text(s, what):
    if isinstance(s, bytes):
        return s
    if isinstance(s, str):
        return s.encode("utf-8")
    raise TypeError("%s must be str, not %s" % (what, type(s).__name__))


# ---------------------------------------------------------------------------
# Images in and out

try:
    import PIL.Image as _PIL
except ImportError:  # pragma: no cover - depends on the machine
    _PIL = None
try:
    import numpy as _np
except ImportError:  # pragma: no cover - depends on the machine
    _np = None


def _rgb_of(image):
    """(RGB8 bytes, width, height) of a PIL image or an HxWx3/HxWx4/HxW uint8 array."""
    if _PIL is not None and isinstance(image, _PIL.Image):
        rgb = image.convert("RGB")
        return rgb.tobytes(), rgb.width, rgb.height
    if _np is not None and isinstance(image, _np.ndarray):
        a = image
        if a.dtype != _np.uint8:
            raise TypeError("image arrays must be uint8, not %s" % a.dtype)
        if a.ndim == 2:
            a = _np.stack([a] * 3, axis=-1)
        if a.ndim != 3 or a.shape[2] not in (3, 4):
            raise ValueError("image arrays are height x width x 3 (or 4), not %s" % (a.shape,))
        a = _np.ascontiguousarray(a[:, :, :3])
        return a.tobytes(), a.shape[1], a.shape[0]
    raise TypeError("an image is a path, a PIL image or a numpy array, not %s" %
                    type(image).__name__)


def _u8(data):
    return _C.cast(_C.c_char_p(data), _C.POINTER(_C.c_uint8))


def _output_kind(output):
    if output is None:
        return "pil" if _PIL is not None else "numpy" if _np is not None else "bytes"
    if output == "pil" and _PIL is None:
        raise ValueError('output="pil" needs Pillow (Debian: python3-pil)')
    if output == "numpy" and _np is None:
        raise ValueError('output="numpy" needs numpy (Debian: python3-numpy)')
    if output not in ("pil", "numpy", "bytes"):
        raise ValueError('output is "pil", "numpy", "bytes" or None, not %r' % (output,))
    return output


class Images(list):
    """The images of one generation, plus .seed, .width, .height and .parameters
    (the generation parameters as a dict, as stored in saved PNGs)."""

    seed = 0
    width = 0
    height = 0
    parameters = None


# ---------------------------------------------------------------------------
# Prompt


class Prompt:
    """Weighted text and image parts plus a negative text (dif.h section 6).

        p = dif.Prompt("a castle", negative="blurry").add_image("ref.png", 0.5)

    An image part is a path (str or os.PathLike), a PIL image or a numpy
    array. A prompt is copied into each generation, so it may be changed or
    reused afterwards. Errors raise dif.Error at once."""

    def __init__(self, text=None, weight=1.0, *, negative=None):
        ptr = _C.POINTER(_ffi.dif_prompt)()
        _check_global(_dll.dif_prompt_new(_C.byref(ptr)))
        self._ptr = ptr
        self._negative = None
        if text is not None:
            self.add_text(text, weight)
        if negative is not None:
            self.negative = negative

    def _check(self, status):
        if status != Status.OK:
            _raise(status, _dll.dif_prompt_last_error(self._handle()))

    def _handle(self):
        if not self._ptr:
            raise ValueError("dif.Prompt is closed")
        return self._ptr

    def add_text(self, text, weight=1.0):
        """Adds a text part; returns the prompt."""
        self._check(_dll.dif_prompt_add_text(self._handle(), _text(text, "text"), weight))
        return self

    def add_image(self, image, weight=1.0):
        """Adds an image part (path, PIL image or numpy array); returns the prompt."""
        if isinstance(image, (str, bytes, _os.PathLike)):
            self._check(_dll.dif_prompt_add_image_file(self._handle(), _os.fsencode(image),
                                                       weight))
        else:
            data, w, h = _rgb_of(image)
            self._check(_dll.dif_prompt_add_image_rgb(self._handle(), _u8(data), w, h, 3 * w,
                                                      weight))
        return self

    @property
    def negative(self):
        """The negative text (None when unset); assign None or "" to clear it."""
        return self._negative

    @negative.setter
    def negative(self, text):
        self._check(_dll.dif_prompt_set_negative(
            self._handle(), None if text is None else _text(text, "negative")))
        self._negative = text or None

    def __len__(self):
        return _dll.dif_prompt_part_count(self._ptr) if self._ptr else 0

    def close(self):
        """Frees the C prompt now (also done when the object is collected)."""
        if self._ptr:
            _dll.dif_prompt_free(self._ptr)
            self._ptr = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if getattr(self, "_ptr", None):
                self.close()
        except Exception:  # interpreter shutdown
            pass


def _names_file(s):
    """Whether s names something other than a folder (a file, a FIFO, a dangling link)."""
    try:
        return _os.path.lexists(s) and not _os.path.isdir(s)
    except (ValueError, OSError):  # a NUL byte, a name too long
        return False


def _as_prompt(prompt):
    """(Prompt, owned): text → a text prompt, paths and images → an image prompt.
    A str or bytes that names an existing file is an image, whatever its name:
    libdif reads it (PNG, JPEG, WebP) or raises an error naming what it is."""
    if isinstance(prompt, Prompt):
        return prompt, False
    if isinstance(prompt, (str, bytes)) and not _names_file(prompt):
        return Prompt(prompt), True
    return Prompt().add_image(prompt), True


# ---------------------------------------------------------------------------
# Samples (one generation) and jobs (a generation running in the background)

_SETTINGS = ("width", "height", "steps", "guidance", "prior_steps", "prior_guidance",
             "scheduler", "seed", "batch", "noise_level", "blend", "init_image", "strength")


class _Sample:
    """Owns one dif_sample and the Python objects the C side points to."""

    def __init__(self, ctx, prompt, opts, progress, cancel):
        p, owned = _as_prompt(prompt)
        ptr = _C.POINTER(_ffi.dif_sample)()
        try:
            ctx._check(_dll.dif_sample_new(ctx._handle(), p._handle(), _C.byref(ptr)))
        finally:
            if owned:
                p.close()
        self.ptr, self.ctx, self.error = ptr, ctx, None
        try:
            self._configure(opts)
            self._callback = _ffi.dif_progress_fn(self._on_progress)
            self.progress, self.cancel_event = progress, cancel
            self._check(_dll.dif_sample_set_progress(ptr, self._callback, None))
        except BaseException:
            self.free()
            raise

    def _check(self, status):
        if status != Status.OK:
            _raise(status, _dll.dif_sample_last_error(self.ptr))

    def _configure(self, o):
        unknown = set(o) - set(_SETTINGS)
        if unknown:
            raise TypeError("unknown generation setting(s): %s" % ", ".join(sorted(unknown)))
        s = self.ptr
        if o.get("width") is not None or o.get("height") is not None:
            if o.get("width") is None or o.get("height") is None:
                raise TypeError("give both width and height")
            self._check(_dll.dif_sample_set_size(s, o["width"], o["height"]))
        for key, fn in (("steps", _dll.dif_sample_set_steps),
                        ("guidance", _dll.dif_sample_set_guidance),
                        ("prior_steps", _dll.dif_sample_set_prior_steps),
                        ("prior_guidance", _dll.dif_sample_set_prior_guidance),
                        ("batch", _dll.dif_sample_set_batch),
                        ("noise_level", _dll.dif_sample_set_noise_level)):
            if o.get(key) is not None:
                self._check(fn(s, o[key]))
        if o.get("blend") is not None:
            self._check(_dll.dif_sample_set_blend(s, Blend(o["blend"])))
        if o.get("scheduler") is not None:
            self._check(_dll.dif_sample_set_scheduler(s, _text(o["scheduler"], "scheduler")))
        if o.get("seed") == RANDOM:
            self._check(_dll.dif_sample_set_random_seed(s))
        elif o.get("seed") is not None:
            if not isinstance(o["seed"], int) or not 0 <= o["seed"] < 2**64:
                raise ValueError("seed: an int in [0, 2**64) or dif.RANDOM, not %r" % (o["seed"],))
            self._check(_dll.dif_sample_set_seed(s, o["seed"]))
        init = o.get("init_image")
        if init is not None:
            strength = 0.8 if o.get("strength") is None else o["strength"]
            if isinstance(init, (str, bytes, _os.PathLike)):
                self._check(_dll.dif_sample_set_init_image_file(s, _os.fsencode(init), strength))
            else:
                data, w, h = _rgb_of(init)
                self._check(_dll.dif_sample_set_init_image_rgb(s, _u8(data), w, h, 3 * w,
                                                               strength))

    def _on_progress(self, step, total, _user):
        # Runs inside the C library: an exception must not escape into ctypes
        # (it would be printed and ignored); it cancels and is re-raised later.
        try:
            if self.cancel_event is not None and self.cancel_event.is_set():
                return 1
            if self.progress is not None and self.progress(step, total):
                return 1
            return 0
        except BaseException as e:  # noqa: B902 - KeyboardInterrupt cancels too
            self.error = e
            return 1

    def finish(self, status, output):
        if self.error is not None:
            err, self.error = self.error, None
            raise err
        self._check(status)
        kind = _output_kind(output)
        s = self.ptr
        w, h = _dll.dif_sample_width(s), _dll.dif_sample_height(s)
        size = _dll.dif_sample_image_bytes(s)
        out = Images()
        for i in range(_dll.dif_sample_image_count(s)):
            buf = (_C.c_uint8 * size)()
            self._check(_dll.dif_sample_copy_image(s, i, buf, size))
            if kind == "pil":
                out.append(_PIL.frombuffer("RGB", (w, h), bytes(buf), "raw", "RGB", 0, 1))
            elif kind == "numpy":
                out.append(_np.frombuffer(buf, dtype=_np.uint8).reshape(h, w, 3).copy())
            else:
                out.append(bytes(buf))
        out.seed, out.width, out.height = _dll.dif_sample_seed(s), w, h
        out.parameters = _json.loads(_dll.dif_sample_parameters(s).decode("utf-8"))
        return out

    def free(self):
        if self.ptr:
            _dll.dif_sample_free(self.ptr)  # cancels and waits if running
            self.ptr = None
        self._callback = None


class Job:
    """A generation running on a library thread (Context.start): poll it from a
    UI or game loop, cancel it from any thread, collect it with result()."""

    def __init__(self, sample, output):
        self._sample, self._output, self._images = sample, output, None
        sample._check(_dll.dif_sample_start(sample.ptr))

    def poll(self):
        """Never blocks: (done, step, total)."""
        if self._sample.ptr is None:
            return True, 0, 0
        step, total = _C.c_int32(0), _C.c_int32(0)
        st = _dll.dif_sample_poll(self._sample.ptr, _C.byref(step), _C.byref(total))
        return st != Status.ERR_BUSY, step.value, total.value

    def done(self):
        return self.poll()[0]

    def cancel(self):
        """Asks the generation to stop (within one denoising step)."""
        if self._sample.ptr is not None:
            _dll.dif_sample_cancel(self._sample.ptr)

    def result(self):
        """Waits for the end; returns the Images or raises (dif.Cancelled, dif.Error,
        or what the progress callback raised)."""
        if self._images is None:
            if self._sample.ptr is None:
                raise ValueError("dif.Job is closed")
            try:
                status = _dll.dif_sample_wait(self._sample.ptr)  # releases the GIL
                self._images = self._sample.finish(status, self._output)
            finally:
                self.close()
        return self._images

    def close(self):
        """Cancels if still running and frees the sample."""
        self._sample.free()

    def __del__(self):
        try:
            if getattr(self, "_sample", None) is not None:
                self._sample.free()
        except Exception:  # interpreter shutdown
            pass


# ---------------------------------------------------------------------------
# Context


class Context:
    """Loaded models (dif.h section 5); use it as a context manager or close() it.

        dif.Context(model_dir, prior_dir=None, threads=None, log=None, log_level=LogLevel.INFO)

    model_dir: a diffusers folder (Stable unCLIP or Stable Diffusion).
    prior_dir: a Karlo prior folder for text-to-image with an unCLIP model.
    threads:   worker threads (None: one per core). Same threads, same pixels.
    log:       a callable(level, message) receiving the library's log lines.
    A loaded context may be shared by threads running generate() at once; it
    must outlive its jobs, so close() cancels and frees any still running.
    Do not close() it while another thread is inside generate()."""

    def __init__(self, model_dir, prior_dir=None, threads=None, log=None,
                 log_level=LogLevel.INFO):
        ptr = _C.POINTER(_ffi.dif_context)()
        _check_global(_dll.dif_context_new(_C.byref(ptr)))
        self._ptr = ptr
        self._jobs = _weakref.WeakSet()
        self._log = None
        try:
            if threads is not None:
                self._check(_dll.dif_context_set_threads(ptr, threads))
            if log is not None:
                def on_log(level, message, _user):
                    try:
                        log(LogLevel(level), message.decode("utf-8", "replace"))
                    except Exception:  # a logger must not break the library
                        pass
                self._log = _ffi.dif_log_fn(on_log)
                self._check(_dll.dif_context_set_log(ptr, self._log, LogLevel(log_level), None))
            if prior_dir is not None:
                self._check(_dll.dif_context_set_prior(ptr, _os.fsencode(prior_dir)))
            self._check(_dll.dif_context_load(ptr, _os.fsencode(model_dir)))
        except BaseException:
            self.close()
            raise

    def _handle(self):
        if not self._ptr:
            raise ValueError("dif.Context is closed")
        return self._ptr

    def _check(self, status):
        if status != Status.OK:
            _raise(status, _dll.dif_context_last_error(self._ptr))

    # -- what the model is
    @property
    def threads(self):
        return _dll.dif_context_threads(self._handle())

    @property
    def is_unclip(self):
        return bool(_dll.dif_context_is_unclip(self._handle()))

    @property
    def has_prior(self):
        return bool(_dll.dif_context_has_prior(self._handle()))

    @property
    def has_image_encoder(self):
        return bool(_dll.dif_context_has_image_encoder(self._handle()))

    def model_files(self):
        """[(relative path, size in bytes, xxh3-64)] of the weight files: the model identity."""
        out = []
        for i in range(_dll.dif_context_model_file_count(self._handle())):
            path, size, xxh3 = _C.c_char_p(), _C.c_uint64(), _C.c_uint64()
            _check_global(_dll.dif_context_model_file(self._ptr, i, _C.byref(path),
                                                      _C.byref(size), _C.byref(xxh3)))
            out.append((path.value.decode(), size.value, xxh3.value))
        return out

    # -- embeddings
    def _embedding(self, call):
        count = _C.c_size_t(0)
        self._check(call(None, _C.byref(count)))
        buf = (_C.c_float * count.value)()
        self._check(call(buf, _C.byref(count)))
        return _np.array(buf, dtype=_np.float32) if _np is not None else list(buf)

    def encode_text(self, text, kind=TextEmbedding.HIDDEN):
        """The text embedding (numpy float32 array if numpy is installed, else a list)."""
        t = _text(text, "text")
        return self._embedding(lambda out, n: _dll.dif_context_encode_text(
            self._handle(), t, TextEmbedding(kind), out, n))

    def encode_image(self, image):
        """The CLIP image embedding of a path, PIL image or numpy array."""
        if isinstance(image, (str, bytes, _os.PathLike)):
            p = _os.fsencode(image)
            return self._embedding(lambda out, n: _dll.dif_context_encode_image_file(
                self._handle(), p, out, n))
        data, w, h = _rgb_of(image)
        return self._embedding(lambda out, n: _dll.dif_context_encode_image_rgb(
            self._handle(), _u8(data), w, h, 3 * w, out, n))

    # -- generation
    def generate(self, prompt, *, progress=None, cancel=None, output=None, **settings):
        """Draws images; blocks until done and returns an Images list.

        prompt:   a str (text), a path / PIL image / numpy array (image
                  variation) or a dif.Prompt.
        settings: width, height, steps, guidance, prior_steps, prior_guidance,
                  scheduler, seed (dif.RANDOM: a random one, see Images.seed),
                  batch, noise_level, blend, init_image (+ strength, default 0.8).
                  Unset ones keep the library's defaults (dif.h section 7: seed 0,
                  the model's size, 20 steps, ...).
        progress: callable(step, total) after every denoising step; return
                  True to cancel. If it raises, the generation is cancelled and
                  the exception re-raised here.
        cancel:   a threading.Event; setting it (from any thread) cancels.
        output:   "pil", "numpy", "bytes" or None (Pillow, else numpy, else bytes).
        Raises dif.Cancelled when cancelled, dif.Error on failure."""
        _output_kind(output)
        sample = _Sample(self, prompt, settings, progress, cancel)
        try:
            status = _dll.dif_sample_run(sample.ptr)  # releases the GIL
            return sample.finish(status, output)
        finally:
            sample.free()

    def start(self, prompt, *, progress=None, output=None, **settings):
        """Like generate() but returns a running dif.Job at once. progress, if
        given, is called on the library's thread."""
        _output_kind(output)
        sample = _Sample(self, prompt, settings, progress, None)
        try:
            job = Job(sample, output)
        except BaseException:
            sample.free()
            raise
        self._jobs.add(job)
        return job

    def close(self):
        """Cancels and frees running jobs, then frees the models."""
        if getattr(self, "_ptr", None):
            for job in list(self._jobs):
                job.close()
            _dll.dif_context_free(self._ptr)
            self._ptr = None
        self._log = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

