"""libdif for Python: text and image prompts to pictures on a CPU.

    import dif
    with dif.Context() as ctx:                    # libdif's default model
        images = ctx.generate("a red circle", seed=2024)
        images.save("circle.png")                 # the PNG keeps its record
        again = ctx.generate_from("circle.png")   # the same pixels, from the record

Images come back as PIL images if Pillow is installed, else as numpy arrays
(height x width x 3, uint8) if numpy is, else as bytes (RGB8 rows); pass
output="pil", "numpy" or "bytes" to choose. This module is a thin hand-written
layer over dif._ffi, which tools/gen-bindings generates from include/dif.h;
the contracts (ranges, threads, errors) are those of dif.h.
"""
from __future__ import annotations

import ctypes as _C
import json as _json
import os as _os
import threading as _threading
import weakref as _weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union


from . import _ffi
from ._ffi import Blend, LogLevel, Status, TextEmbedding  # noqa: F401 (re-exported)
from ._lib import lib as _dll

__all__ = ["Context", "Prompt", "Job", "Images", "Error", "Cancelled", "InvalidArgumentError",
           "FileError", "BadModelError", "BadImageError", "UnsupportedError",
           "OutOfMemoryError", "LimitError", "BusyError", "InternalError", "NonFiniteError",
           "Status", "LogLevel", "TextEmbedding", "Blend", "RANDOM", "version",
           "library_version", "blas_core", "blas_setup", "default_model_dir", "read_parameters",
           "VARY_STRONG", "VARY_SUBTLE"]

PathLike = Union[str, bytes, "_os.PathLike[str]", "_os.PathLike[bytes]"]
Progress = Callable[[int, int], Optional[bool]]
"""progress(step, total) -> True to cancel (dif.h's cancel rule); None or False go on."""

RANDOM = "random"
"""seed=dif.RANDOM: a random seed, picked by the library and reported in Images.seed."""

VARY_STRONG = _ffi.DIF_VARY_STRONG
VARY_SUBTLE = _ffi.DIF_VARY_SUBTLE
"""Vary (Region) strengths (dif.h): the masked part from noise, or keeping its layout."""

version = "%d.%d.%d" % (_ffi.DIF_VERSION_MAJOR, _ffi.DIF_VERSION_MINOR, _ffi.DIF_VERSION_PATCH)


def library_version() -> str:
    """The version string of the libdif.so.0 that was loaded."""
    return _dll.dif_version_string().decode()


def blas_core() -> str:
    """The BLAS kernel set in use on this CPU (e.g. "Haswell")."""
    return _dll.dif_blas_core().decode()


def blas_setup(threads: int = 0) -> None:
    """dif_blas_setup, for a program that owns its process, before any thread may
    use BLAS: OpenBLAS's fastest kernels for this CPU, its idle threads asleep
    right after each product, and (threads > 0) its thread count. Process-wide
    (numpy's BLAS too, where it is the same library). Raises UnsupportedError when
    this BLAS cannot be switched (the message says which variable to set)."""
    _check_global(_dll.dif_blas_setup(int(threads)))


def default_model_dir() -> Optional[str]:
    """The folder of libdif's default model (dif_default_model_dir), None if none
    is found. dif.Context() with no folder loads it."""
    d = _dll.dif_default_model_dir()
    return _os.fsdecode(d) if d else None


# ---------------------------------------------------------------------------
# Errors


class Error(Exception):
    """A libdif call failed: .status (a dif.Status) and .message (libdif's text).

    Each status raises its own subclass, which also derives from the Python
    exception of its kind, so callers can catch by kind:
        ValueError:  InvalidArgumentError, LimitError, UnsupportedError, BadImageError
        OSError:     FileError (Status.ERR_IO: a file could not be read or written)
        MemoryError: OutOfMemoryError
        ArithmeticError: NonFiniteError
        RuntimeError: BusyError, InternalError
    plus BadModelError and Cancelled (plain dif.Error)."""

    status: Union[Status, int]
    message: str

    def __init__(self, status: Union[Status, int], message: str = "") -> None:
        try:
            status = Status(status)
        except ValueError:
            pass
        name = _dll.dif_status_string(int(status)).decode()
        text = "%s (%s)" % (message, name) if message else name
        Exception.__init__(self, text)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Cancelled(Error):
    """The generation was cancelled (Status.ERR_CANCELLED)."""


class InvalidArgumentError(Error, ValueError):
    """A value out of range or a call in the wrong state (Status.ERR_INVALID_ARGUMENT)."""


class FileError(Error, OSError):
    """A file could not be opened, read, written or renamed (Status.ERR_IO)."""


class BadModelError(Error):
    """A model file or config is malformed or inconsistent (Status.ERR_BAD_MODEL)."""


class BadImageError(Error, ValueError):
    """An image file is corrupt, truncated or not an image (Status.ERR_BAD_IMAGE)."""


class UnsupportedError(Error, ValueError):
    """Well-formed but not implemented: a scheduler name, dtype... (Status.ERR_UNSUPPORTED)."""


class OutOfMemoryError(Error, MemoryError):
    """An allocation failed (Status.ERR_OUT_OF_MEMORY)."""


class LimitError(Error, ValueError):
    """A documented limit (size, pixels, parts) was exceeded (Status.ERR_LIMIT)."""


class BusyError(Error, RuntimeError):
    """The handle is in use (Status.ERR_BUSY)."""


class InternalError(Error, RuntimeError):
    """A bug in libdif; the message says where (Status.ERR_INTERNAL)."""


class NonFiniteError(Error, ArithmeticError):
    """A computation produced NaN or infinity (Status.ERR_NON_FINITE)."""


_ERRORS = {
    Status.ERR_INVALID_ARGUMENT: InvalidArgumentError, Status.ERR_IO: FileError,
    Status.ERR_BAD_MODEL: BadModelError, Status.ERR_BAD_IMAGE: BadImageError,
    Status.ERR_UNSUPPORTED: UnsupportedError, Status.ERR_OUT_OF_MEMORY: OutOfMemoryError,
    Status.ERR_LIMIT: LimitError, Status.ERR_CANCELLED: Cancelled, Status.ERR_BUSY: BusyError,
    Status.ERR_INTERNAL: InternalError, Status.ERR_NON_FINITE: NonFiniteError,
}


def _raise(status: int, message: Union[bytes, str]) -> None:
    if status == Status.OK:
        return
    cls = _ERRORS.get(status, Error)
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
    (the generation parameters as a dict, the record stored in saved PNGs).

    save(path, index=0) writes an image as a PNG with its record, which
    Context.generate_from (and `dif generate --from`) reproduce; saving through
    PIL or numpy writes the pixels only. The list holds the library's sample
    for that until close() or until it is collected."""

    seed: int = 0
    width: int = 0
    height: int = 0
    parameters: Optional[Dict[str, Any]] = None
    _sample: Optional["_Sample"] = None

    def save(self, path: PathLike, index: int = 0) -> None:
        """Writes image `index` as a PNG with its record (dif_sample_save_png):
        prompt and init image files are named relative to the PNG's folder; the
        file is written atomically (dif_check_output_path's rules). Raises
        dif.FileError (an OSError) when it cannot be written."""
        if self._sample is None or not self._sample.ptr:
            raise ValueError("dif.Images is closed: save() needs the generation's sample")
        self._sample._check(_dll.dif_sample_save_png(self._sample.ptr, index,
                                                     _os.fsencode(path)))

    def close(self) -> None:
        """Frees the library's sample (the images stay; save() no longer works)."""
        if self._sample is not None:
            self._sample.free()
            self._sample = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


def read_parameters(path: PathLike) -> Dict[str, Any]:
    """The record (dif:parameters) of a PNG written by libdif, as a dict.
    Raises dif.InvalidArgumentError if the PNG has none, dif.FileError if it
    cannot be read."""
    return _json.loads(_read_record(path))


def _read_record(path: PathLike) -> str:
    p = _os.fsencode(path)
    size = _C.c_size_t(0)
    _check_global(_dll.dif_read_png_parameters(p, None, _C.byref(size)))
    buf = _C.create_string_buffer(size.value)
    _check_global(_dll.dif_read_png_parameters(p, buf, _C.byref(size)))
    return buf.value.decode("utf-8")


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
             "scheduler", "seed", "batch", "noise_level", "blend", "init_image", "strength",
             "mask", "mask_rect", "mask_crop", "zoom_out", "make_square", "pan", "upscale")
_DIRECTIONS = {"left": 0, "right": 1, "up": 2, "down": 3}
_UPSCALE_MODES = {"subtle": 0, "creative": 1}


class _Sample:
    """Owns one dif_sample and the Python objects the C side points to."""

    def __init__(self, ctx: "Context", prompt: Any, opts: Dict[str, Any],
                 progress: Optional[Progress], cancel: Optional[_threading.Event],
                 record: Optional[Tuple[bytes, bytes]] = None) -> None:
        p, owned = _as_prompt(prompt)
        ptr = _C.POINTER(_ffi.dif_sample)()
        try:
            ctx._check(_dll.dif_sample_new(ctx._handle(), p._handle(), _C.byref(ptr)))
        finally:
            if owned:
                p.close()
        self.ptr, self.ctx, self.error = ptr, ctx, None
        self._callback = None
        try:
            if record is not None:  # (JSON, folder): every setting of the record first
                self._check(_dll.dif_sample_apply_record(ptr, record[0], record[1]))
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
        self._configure_edit(o)

    def _configure_edit(self, o):
        """Masks and the editing tools (dif.h: masked generation, zoom out,
        make square, pan); at most one of them."""
        s = self.ptr
        given = [k for k in ("mask", "mask_rect", "zoom_out", "make_square", "pan", "upscale")
                 if o.get(k) is not None and o.get(k) is not False]
        if len(given) > 1:
            raise TypeError("give one of mask, mask_rect, zoom_out, make_square, pan, upscale, "
                            "not %s" % " and ".join(given))
        mask = o.get("mask")
        if isinstance(mask, (str, bytes, _os.PathLike)):
            self._check(_dll.dif_sample_set_mask_file(s, _os.fsencode(mask)))
        elif mask is not None:
            data, w, h = _rgb_of(mask)
            self._check(_dll.dif_sample_set_mask_rgb(s, _u8(data), w, h, 3 * w))
        if o.get("mask_rect") is not None:
            x, y, w, h = o["mask_rect"]
            self._check(_dll.dif_sample_set_mask_rect(s, x, y, w, h))
        if o.get("mask_crop") is not None:
            self._check(_dll.dif_sample_set_mask_crop(s, o["mask_crop"]))
        if o.get("zoom_out") is not None:
            self._check(_dll.dif_sample_set_zoom_out(s, o["zoom_out"]))
        if o.get("make_square"):
            self._check(_dll.dif_sample_set_make_square(s))
        if o.get("pan") is not None:
            direction, amount = o["pan"]
            if direction not in _DIRECTIONS:
                raise ValueError("pan: direction %r: left, right, up or down" % (direction,))
            self._check(_dll.dif_sample_set_pan(s, _DIRECTIONS[direction], amount))
        if o.get("upscale") is not None:
            factor, mode = o["upscale"]
            if mode not in _UPSCALE_MODES:
                raise ValueError("upscale: mode %r: subtle or creative" % (mode,))
            self._check(_dll.dif_sample_set_upscale(s, factor, _UPSCALE_MODES[mode]))

    def _on_progress(self, step: int, total: int, _user: Any) -> int:
        # dif.h's cancel rule: a true result cancels. Runs inside the C library:
        # an exception must not escape into ctypes (it would be printed and
        # ignored); it cancels and is re-raised later.
        try:
            if self.cancel_event is not None and self.cancel_event.is_set():
                return 1
            if self.progress is not None and self.progress(step, total):
                return 1
            return 0
        except BaseException as e:  # noqa: B902 - KeyboardInterrupt cancels too
            self.error = e
            return 1

    def finish(self, status: int, output: Optional[str]) -> Images:
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
        record = _dll.dif_sample_parameters(s).decode("utf-8")
        out.parameters = _json.loads(record)
        if kind == "pil":  # as PIL reads it back from a saved PNG
            for img in out:
                img.info["dif:parameters"] = record
        # the images keep the sample for Images.save; no Python callback stays installed
        _dll.dif_sample_set_progress(s, _ffi.dif_progress_fn(), None)
        self._callback = None
        out._sample = self
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

    def result(self) -> Images:
        """Waits for the end; returns the Images or raises (dif.Cancelled, dif.Error,
        or what the progress callback raised)."""
        if self._images is None:
            if self._sample.ptr is None:
                raise ValueError("dif.Job is closed")
            try:
                status = _dll.dif_sample_wait(self._sample.ptr)  # releases the GIL
                self._images = self._sample.finish(status, self._output)
            finally:
                if self._images is None:
                    self.close()
        return self._images

    def close(self) -> None:
        """Cancels if still running and frees the sample (once result() returned,
        the Images own it)."""
        if self._images is None:
            self._sample.free()

    def __del__(self) -> None:
        try:
            if getattr(self, "_sample", None) is not None and self._images is None:
                self._sample.free()
        except Exception:  # interpreter shutdown
            pass


# ---------------------------------------------------------------------------
# Context


class Context:
    """Loaded models (dif.h section 5); use it as a context manager or close() it.

        dif.Context(model_dir=None, prior_dir=None, threads=None, log=None,
                    log_level=LogLevel.INFO, config_dir=None, loras=())

    model_dir: a diffusers folder (Stable unCLIP or Stable Diffusion), or a
               single-file checkpoint (.safetensors in the original SD
               layout) with config_dir; None loads libdif's default model
               (dif.default_model_dir()).
    prior_dir: a Karlo prior folder for text-to-image with an unCLIP model.
    loras:     [(path, weight)] LoRA files (kohya/A1111 or diffusers/PEFT
               .safetensors) merged into the UNet and text encoder at load,
               in order, each with its weight (diffusers' lora_scale).
    config_dir: for a single-file model_dir, the diffusers folder of the same
               model whose configs, tokenizer and scheduler go with its weights.
    threads:   worker threads (None: one per core). Same threads, same pixels.
    log:       a callable(level, message) receiving the library's log lines.
    A loaded context may be shared by threads running generate() at once; it
    must outlive its jobs, so close() cancels and frees any still running.
    Do not close() it while another thread is inside generate()."""

    def __init__(self, model_dir: Optional[PathLike] = None, prior_dir: Optional[PathLike] = None,
                 threads: Optional[int] = None,
                 log: Optional[Callable[[LogLevel, str], None]] = None,
                 log_level: LogLevel = LogLevel.INFO,
                 config_dir: Optional[PathLike] = None,
                 loras: Sequence[Tuple[PathLike, float]] = (),
                 embeddings: Sequence[Union[PathLike, Tuple[PathLike, Optional[str]]]] = ()
                 ) -> None:
        if model_dir is None:
            model_dir = default_model_dir()
            if model_dir is None:
                raise FileError(Status.ERR_IO, "no model folder given and libdif's default "
                                "model was not found (set DIF_MODEL_DIR)")
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
            if config_dir is not None:
                self._check(_dll.dif_context_set_config(ptr, _os.fsencode(config_dir)))
            for path, weight in loras:
                self._check(_dll.dif_context_add_lora(ptr, _os.fsencode(path), float(weight)))
            for item in embeddings:  # a file, or (file, token): token None = the file's
                path, token = item if isinstance(item, tuple) else (item, None)
                self._check(_dll.dif_context_add_embedding(
                    ptr, _os.fsencode(path), None if token is None else token.encode("utf-8")))
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

    def info(self) -> Dict[str, Any]:
        """dif_context_info as a dict: the folder, pipeline and family, components
        with their configs, weight files with fingerprints, the sample defaults
        ("defaults"), the default model folder, the BLAS kernels and threads."""
        return _json.loads(_dll.dif_context_info(self._handle()).decode("utf-8"))

    def model_files(self) -> List[Tuple[str, int, int]]:
        """[(relative path, size in bytes, xxh3-64)] of the weight files: the model identity."""
        out = []
        for i in range(_dll.dif_context_model_file_count(self._handle())):
            path, size, xxh3 = _C.c_char_p(), _C.c_uint64(), _C.c_uint64()
            _check_global(_dll.dif_context_model_file(self._ptr, i, _C.byref(path),
                                                      _C.byref(size), _C.byref(xxh3)))
            out.append((path.value.decode(), size.value, xxh3.value))
        return out

    def release_scratch(self) -> int:
        """Frees the scratch memory the context keeps between generations
        (dif_context_release_scratch) and keeps the model; returns the bytes
        released. The next generation allocates its scratch afresh."""
        freed = _C.c_size_t(0)
        self._check(_dll.dif_context_release_scratch(self._handle(), _C.byref(freed)))
        return freed.value

    def release_packed(self) -> int:
        """Frees the packed forms of the weights the context built at its
        generations (dif_context_release_packed: fast's bf16 copies, the
        Winograd-transformed convolution weights) and keeps the model;
        returns the bytes released. The next generation packs them again.
        Raises dif.BusyError while a generation of the context runs."""
        freed = _C.c_size_t(0)
        self._check(_dll.dif_context_release_packed(self._handle(), _C.byref(freed)))
        return freed.value

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
    def generate(self, prompt: Any, *, progress: Optional[Progress] = None,
                 cancel: Optional[_threading.Event] = None, output: Optional[str] = None,
                 **settings: Any) -> Images:
        """Draws images; blocks until done and returns an Images list.

        prompt:   a str (text), a path / PIL image / numpy array (image
                  variation) or a dif.Prompt.
        settings: width, height, steps, guidance, prior_steps, prior_guidance,
                  scheduler, seed (dif.RANDOM: a random one, see Images.seed),
                  batch, noise_level, blend, init_image (+ strength, default 0.8);
                  with init_image, one edit (dif.h, masked generation and the
                  editing tools): mask (a path or image, white = repaint:
                  Vary Region; strength dif.VARY_STRONG or dif.VARY_SUBTLE),
                  mask_rect (x, y, w, h), mask_crop (padding in pixels:
                  repaint the region around the mask at full size and
                  paste it back, diffusers' padding_mask_crop),
                  zoom_out (1 < factor <= 4),
                  make_square (True), pan ((direction, amount): "left",
                  "right", "up", "down", 0 < amount <= 1), upscale ((factor,
                  "subtle" or "creative"), 1 < factor <= 4; 4 on an x4
                  upscaler model).
                  Unset ones keep the library's defaults (dif.h section 7: seed 0,
                  the model's size, 20 steps, ...).
        progress: callable(step, total) after every denoising step. dif.h's
                  cancel rule: return True to cancel (dif.Cancelled is raised),
                  None or False to go on. If it raises, the generation is
                  cancelled and the exception re-raised here.
        cancel:   a threading.Event; setting it (from any thread) cancels.
        output:   "pil", "numpy", "bytes" or None (Pillow, else numpy, else bytes).
        Raises dif.Cancelled when cancelled, dif.Error (a subclass per kind)
        on failure. The Images keep the record: Images.save(path) stores it."""
        _output_kind(output)
        return self._run(_Sample(self, prompt, settings, progress, cancel), output)

    def generate_from(self, png: PathLike, *, progress: Optional[Progress] = None,
                      cancel: Optional[_threading.Event] = None, output: Optional[str] = None,
                      **settings: Any) -> Images:
        """Reproduces an image from the record in its PNG (`dif generate --from`):
        the prompt and every setting come from the record, image files are read
        relative to the PNG's folder and checked by their xxh3 (dif.h,
        "Reproducing an image from its record"); settings given here override
        the record's. The same model and threads give the same pixels."""
        _output_kind(output)
        record = _read_record(png).encode("utf-8")
        folder = _os.path.dirname(_os.path.abspath(_os.fsdecode(png))).encode()
        ptr = _C.POINTER(_ffi.dif_prompt)()
        _check_global(_dll.dif_prompt_from_record(record, folder, _C.byref(ptr)))
        prompt = Prompt.__new__(Prompt)
        prompt._ptr, prompt._negative = ptr, None
        try:
            sample = _Sample(self, prompt, settings, progress, cancel, record=(record, folder))
        finally:
            prompt.close()
        return self._run(sample, output)

    def _run(self, sample: "_Sample", output: Optional[str]) -> Images:
        try:
            status = _dll.dif_sample_run(sample.ptr)  # releases the GIL
            return sample.finish(status, output)
        except BaseException:
            sample.free()
            raise

    def start(self, prompt: Any, *, progress: Optional[Progress] = None,
              output: Optional[str] = None, **settings: Any) -> Job:
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

