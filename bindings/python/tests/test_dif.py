"""The Python bindings on the tiny golden models: parity with the C library
bit for bit, errors as exceptions, progress and cancel, no leaks."""
import gc
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import PIL.Image
import pytest

import dif
from conftest import INPUT_PNG, THREADS

TXT2IMG = dict(width=32, height=32, steps=4, prior_steps=5, seed=2024)
TXT2IMG_REF = ["--text", "a photo of a red cat", "--size", 32, 32, "--steps", 4,
               "--prior-steps", 5, "--seed", 2024]


@pytest.fixture(scope="module")
def unclip(models):
    with dif.Context(models / "tiny-unclip", prior_dir=models / "tiny-karlo-prior",
                     threads=THREADS) as ctx:
        yield ctx


def test_versions_and_generated_constants():
    assert dif.library_version() == dif.version
    assert dif.Status.ERR_CANCELLED == 8 and dif.Blend.SLERP == 1
    assert dif._ffi.DIF_MAX_BATCH == 16
    assert dif.blas_core()
    with pytest.raises(dif.InvalidArgumentError):
        dif.blas_setup(-1)
    dif.blas_setup(0)  # the kernels (already the best here) and the package's idle threads kept
    # every function of the generated layer is exported by the library
    assert dif._lib.missing == []


def reference_txt2img(models, reference):
    # dif-ref takes the context options first (--prior DIR), then the prompt and settings
    return reference(models / "tiny-unclip", "--prior", models / "tiny-karlo-prior", *TXT2IMG_REF)


def test_text_to_image_parity(models, reference, unclip):
    ref_rgb, w, h, n = reference_txt2img(models, reference)
    images = unclip.generate("a photo of a red cat", output="bytes", **TXT2IMG)
    assert (images.width, images.height, len(images)) == (w, h, n) == (32, 32, 1)
    assert images[0] == ref_rgb
    assert images.seed == 2024 and images.parameters["steps"] == 4
    # the other output kinds carry the same pixels
    arr = unclip.generate("a photo of a red cat", output="numpy", **TXT2IMG)[0]
    assert arr.shape == (32, 32, 3) and arr.dtype == np.uint8 and arr.tobytes() == ref_rgb
    img = unclip.generate("a photo of a red cat", **TXT2IMG)[0]  # default: PIL
    assert isinstance(img, PIL.Image.Image) and img.tobytes() == ref_rgb
    # the scratch kept between runs is released; the model stays and draws the same
    assert unclip.release_scratch() > 0 and unclip.release_scratch() == 0
    assert unclip.generate("a photo of a red cat", output="bytes", **TXT2IMG)[0] == ref_rgb
    # and the weights' packed forms (the VAE's Winograd weights where a backend has them)
    assert unclip.release_packed() >= 0 and unclip.release_packed() == 0
    # not while a generation uses them (from its progress callback): BusyError
    tried = []

    def release_during(step, total):
        if not tried:
            with pytest.raises(dif.BusyError, match="going on"):
                unclip.release_packed()
            tried.append(step)
        return False

    assert unclip.generate("a photo of a red cat", output="bytes", progress=release_during,
                           **TXT2IMG)[0] == ref_rgb
    assert tried == [1]


def test_image_variation_parity_path_pil_numpy(models, reference):
    ref_rgb, w, h, n = reference(models / "tiny-unclip", "--image", INPUT_PNG, "--size", 48, 32,
                                 "--steps", 4, "--seed", 1010)
    with dif.Context(models / "tiny-unclip", threads=THREADS) as ctx:
        settings = dict(width=48, height=32, steps=4, seed=1010, output="bytes")
        by_path = ctx.generate(INPUT_PNG, **settings)  # a pathlib.Path: an image prompt
        pil = PIL.Image.open(INPUT_PNG)
        by_pil = ctx.generate(dif.Prompt().add_image(pil), **settings)
        by_array = ctx.generate(np.asarray(pil.convert("RGB")), **settings)
    assert (w, h, n) == (48, 32, 1)
    assert by_path[0] == ref_rgb and by_pil[0] == ref_rgb and by_array[0] == ref_rgb


def test_sd_negative_batch_parity(models, reference):
    ref_rgb, w, h, n = reference(models / "tiny-sd", "--text", "a watercolor lighthouse",
                                 "--negative", "ugly", "--steps", 3, "--seed", 32, "--batch", 2,
                                 "--scheduler", "euler_a")
    with dif.Context(models / "tiny-sd", threads=THREADS) as ctx:
        assert not ctx.is_unclip
        p = dif.Prompt("a watercolor lighthouse", negative="ugly")
        images = ctx.generate(p, steps=3, seed=32, batch=2, scheduler="euler_a", output="bytes")
    assert n == 2 and len(images) == 2
    assert b"".join(images) == ref_rgb
    assert images[0] != images[1]


def test_single_file_checkpoint_parity(models, reference):
    # the tiny SD-1.x model as one file in the original layout (tests/fixtures) + its folder's configs
    single = models.parent.parent / "fixtures" / "models" / "single-file" / "tiny-sd.ldm.safetensors"
    if not single.is_file():
        pytest.skip("no single-file fixture at %s" % single)
    ref_rgb, w, h, n = reference(models / "tiny-sd", "--text", "a watercolor lighthouse",
                                 "--steps", 3, "--seed", 33)
    with dif.Context(single, config_dir=models / "tiny-sd", threads=THREADS) as ctx:
        images = ctx.generate(dif.Prompt("a watercolor lighthouse"), steps=3, seed=33,
                              output="bytes")
    assert images[0] == ref_rgb
    with pytest.raises(dif.Error) as e:
        dif.Context(single)
    assert "--config DIR" in e.value.message


def test_loras_change_pixels_and_bad_ones_raise(models):
    lora = models.parent.parent / "fixtures" / "models" / "lora" / "tiny-sd.kohya.safetensors"
    if not lora.is_file():
        pytest.skip("no LoRA fixture at %s" % lora)
    def draw(**kw):
        with dif.Context(models / "tiny-sd", threads=THREADS, **kw) as ctx:
            return ctx.generate(dif.Prompt("a watercolor lighthouse"), steps=2, seed=5,
                                output="bytes")[0]
    plain, merged = draw(), draw(loras=[(lora, 0.8)])
    assert plain != merged and draw(loras=[(lora, 0.8)]) == merged
    with pytest.raises(dif.Error) as e:
        dif.Context(models / "tiny-sd", loras=[(models / "tiny-sd" / "unet" /
                                                "diffusion_pytorch_model.safetensors", 1.0)])
    assert "unknown LoRA key" in e.value.message

def test_embeddings_change_pixels_and_bad_ones_raise(models):
    emb = models.parent.parent / "fixtures" / "models" / "textual_inversion" / "tiny-shape3.safetensors"
    if not emb.is_file():
        pytest.skip("no embedding fixture at %s" % emb)
    def draw(**kw):
        with dif.Context(models / "tiny-sd", threads=THREADS, **kw) as ctx:
            return ctx.generate(dif.Prompt("a <shape3> lighthouse"), steps=2, seed=5,
                                output="bytes")[0]
    plain, added = draw(), draw(embeddings=[emb])
    assert plain != added and draw(embeddings=[(emb, "<shape3>")]) == added
    with pytest.raises(dif.Error) as e:
        dif.Context(models / "tiny-sd", embeddings=[(emb, "a")])
    assert "already in the tokenizer's vocabulary" in e.value.message

def test_errors_become_exceptions(models, unclip, tmp_path):
    with pytest.raises(dif.Error) as e:
        dif.Context(tmp_path / "no-such-model")
    assert e.value.status == dif.Status.ERR_IO and "no-such-model" in e.value.message
    with pytest.raises(dif.Error) as e:
        unclip.generate("a cat", steps=0)
    assert e.value.status == dif.Status.ERR_INVALID_ARGUMENT and "steps" in e.value.message
    with pytest.raises(dif.Error) as e:
        unclip.generate("a cat", scheduler="no-such-scheduler")
    assert e.value.status == dif.Status.ERR_UNSUPPORTED and "euler" in e.value.message
    with pytest.raises(dif.Error) as e:
        dif.Prompt(b"bad \xff utf-8")
    assert e.value.status == dif.Status.ERR_INVALID_ARGUMENT and "UTF-8" in str(e.value)
    with pytest.raises(dif.Error) as e:
        dif.Prompt().add_image(tmp_path / "missing.png")
    assert e.value.status == dif.Status.ERR_IO
    with pytest.raises(TypeError):
        unclip.generate("a cat", no_such_setting=1)
    with pytest.raises(TypeError):
        dif.Prompt().add_image(np.zeros((4, 4, 3), dtype=np.float32))
    ctx = dif.Context(models / "tiny-sd", threads=1)
    ctx.close()
    with pytest.raises(ValueError):
        ctx.generate("a cat")
    assert isinstance(dif.Cancelled(dif.Status.ERR_CANCELLED, "x"), dif.Error)


def test_a_str_naming_a_file_is_an_image(unclip, tmp_path, monkeypatch):
    """Issue 14 item 3: generate("ref.png") is a variation, never the words "ref.png"."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ref.png").write_bytes(INPUT_PNG.read_bytes())
    (tmp_path / "noext").write_bytes(INPUT_PNG.read_bytes())
    as_path = unclip.generate(INPUT_PNG, steps=2, seed=3, output="bytes")
    for name in ("ref.png", "noext", b"ref.png"):
        images = unclip.generate(name, steps=2, seed=3, output="bytes")
        assert images[0] == as_path[0], name  # the image prompt, not a text prompt
    (tmp_path / "ref.webp").write_bytes(b"GIF89a\1\0\1\0\0\0\0")
    with pytest.raises(dif.Error) as e:
        unclip.generate("ref.webp", steps=2)
    assert "a GIF image" in e.value.message and "ref.webp" in e.value.message
    # text that names no file is still text
    assert len(unclip.generate("a red cat", steps=2, prior_steps=2, seed=3)) == 1


def test_progress_and_cancel(unclip):
    seen = []
    unclip.generate("a red cat", progress=lambda s, t: seen.append((s, t)), **TXT2IMG)
    assert seen == [(i, 9) for i in range(1, 10)]  # 5 prior + 4 decoder steps

    # dif.h's cancel rule: True cancels after that step, None and False go on
    calls = []
    with pytest.raises(dif.Cancelled) as e:
        unclip.generate("a red cat", progress=lambda s, t: calls.append(s) or s >= 3, **TXT2IMG)
    assert e.value.status == dif.Status.ERR_CANCELLED and calls == [1, 2, 3]
    calls = []
    unclip.generate("a red cat", progress=lambda s, t: calls.append(s) or False, **TXT2IMG)
    assert calls == list(range(1, 10))

    calls = []

    def boom(step, total):
        calls.append(step)
        if step == 2:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        unclip.generate("a red cat", progress=boom, **TXT2IMG)
    assert calls == [1, 2]  # cancelled at once: no further steps
    # the context is still usable and gives the same pixels as before
    a = unclip.generate("a red cat", output="bytes", **TXT2IMG)
    b = unclip.generate("a red cat", output="bytes", **TXT2IMG)
    assert a[0] == b[0]


def test_cancel_event_from_another_thread(unclip):
    stop = threading.Event()
    started = threading.Event()

    def progress(step, total):
        started.set()
        time.sleep(0.01)

    threading.Timer(0, lambda: started.wait(10) and stop.set()).start()
    with pytest.raises(dif.Cancelled):
        unclip.generate("a red cat", progress=progress, cancel=stop, width=32, height=32,
                        steps=400, prior_steps=2)


def test_job_poll_cancel_result(unclip):
    steps, threads = [], set()

    def progress(step, total):  # called on the library's thread
        steps.append(step)
        threads.add(threading.get_ident())

    job = unclip.start("a red cat", output="bytes", progress=progress, **TXT2IMG)
    while not job.done():
        time.sleep(0.001)
    assert job.poll()[0]
    images = job.result()
    assert images.seed == 2024 and len(images[0]) == 32 * 32 * 3
    assert steps == list(range(1, 10)) and threading.get_ident() not in threads

    job = unclip.start("a red cat", width=32, height=32, steps=1000, prior_steps=2, seed=1)
    job.cancel()
    with pytest.raises(dif.Cancelled):
        job.result()


def test_random_seed_is_reported(unclip):
    images = unclip.generate("a red cat", width=32, height=32, steps=1, prior_steps=1,
                             seed=dif.RANDOM, output="bytes")
    again = unclip.generate("a red cat", width=32, height=32, steps=1, prior_steps=1,
                            seed=images.seed, output="bytes")
    assert images[0] == again[0]
    default = unclip.generate("a red cat", width=32, height=32, steps=1, prior_steps=1)
    assert default.seed == 0  # unset settings keep the library's defaults
    with pytest.raises(ValueError):
        unclip.generate("a red cat", seed=-1)


def test_embeddings(unclip):
    hidden = unclip.encode_text("a red cat")
    assert hidden.dtype == np.float32 and hidden.size % 77 == 0
    projected = unclip.encode_text("a red cat", dif.TextEmbedding.PROJECTED)
    image = unclip.encode_image(INPUT_PNG)
    assert image.shape == projected.shape
    assert np.array_equal(image, unclip.encode_image(PIL.Image.open(INPUT_PNG)))


def _rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _weights_mapped():
    with open("/proc/self/maps") as f:
        return sum(".safetensors" in line for line in f)


def test_no_leak_over_100_create_free_cycles(models):
    def cycle():
        with dif.Context(models / "tiny-unclip", prior_dir=models / "tiny-karlo-prior",
                         threads=1) as ctx:
            with dif.Prompt("a red cat", negative="blurry") as p:
                ctx.generate(p, width=32, height=32, steps=1, prior_steps=1, seed=1,
                             output="bytes")
    for _ in range(10):  # warm up allocator pools and caches
        cycle()
    gc.collect()
    fds, rss, maps = len(os.listdir("/proc/self/fd")), _rss_kib(), _weights_mapped()
    for _ in range(100):
        cycle()
    gc.collect()
    grown = _rss_kib() - rss
    assert len(os.listdir("/proc/self/fd")) == fds
    assert _weights_mapped() == maps  # every weight file unmapped again
    # a leaked model would be megabytes per cycle; allow allocator noise
    assert grown < 4096, "RSS grew by %d KiB over 100 cycles" % grown


def test_error_kinds(models, unclip, tmp_path):
    """dif.Error subclasses that also derive from the Python exception of their kind."""
    with pytest.raises(OSError) as e:
        dif.Context(tmp_path / "no-such-model")
    assert isinstance(e.value, dif.FileError) and isinstance(e.value, dif.Error)
    assert e.value.status == dif.Status.ERR_IO and "no-such-model" in str(e.value)
    with pytest.raises(ValueError) as e:
        unclip.generate("a cat", steps=0)
    assert isinstance(e.value, dif.InvalidArgumentError)
    with pytest.raises(ValueError) as e:
        unclip.generate("a cat", scheduler="no-such-scheduler")
    assert isinstance(e.value, dif.UnsupportedError)
    with pytest.raises(ValueError) as e:
        unclip.generate("a cat", width=8192, height=8192)
    assert isinstance(e.value, dif.Error)
    with pytest.raises(OSError):
        dif.Prompt().add_image(tmp_path / "missing.png")
    kinds = {dif.Status.ERR_OUT_OF_MEMORY: MemoryError, dif.Status.ERR_LIMIT: ValueError,
             dif.Status.ERR_BAD_IMAGE: ValueError, dif.Status.ERR_NON_FINITE: ArithmeticError,
             dif.Status.ERR_BUSY: RuntimeError, dif.Status.ERR_INTERNAL: RuntimeError}
    for status, kind in kinds.items():
        with pytest.raises(kind) as e:
            dif._raise(status, b"message")
        assert isinstance(e.value, dif.Error) and e.value.status == status
        assert e.value.message == "message" and str(e.value).startswith("message (")
    with pytest.raises(dif.Cancelled):
        dif._raise(dif.Status.ERR_CANCELLED, "")
    assert not isinstance(dif.Cancelled(dif.Status.ERR_CANCELLED), ValueError)


def test_default_model_info_save_and_generate_from(tmp_path, monkeypatch):
    folder = dif.default_model_dir()
    assert folder and os.path.isfile(os.path.join(folder, "model_index.json"))
    with dif.Context(threads=THREADS) as ctx:  # no folder: the default model
        info = ctx.info()
        assert info["default_model"] == folder and info["family"] == "unclip"
        assert info["defaults"]["steps"] > 0
        images = ctx.generate("a red circle", steps=3, prior_steps=2, seed=77)
        assert isinstance(images[0], PIL.Image.Image)
        assert images[0].info["dif:parameters"] == json.dumps(images.parameters,
                                                              separators=(",", ":")) or \
            json.loads(images[0].info["dif:parameters"]) == images.parameters
        out = tmp_path / "circle.png"
        images.save(out)
        assert dif.read_parameters(out) == images.parameters
        monkeypatch.chdir(tmp_path.parent)  # the record's folder is the PNG's, not the cwd
        again = ctx.generate_from(out, output="bytes")
        assert again[0] == images[0].tobytes() and again.seed == 77
        other = ctx.generate_from(str(out), seed=78, output="bytes")
        assert other.seed == 78 and other[0] != again[0]
        with pytest.raises(OSError) as e:
            images.save(tmp_path / "no-such-dir" / "x.png")
        assert "no-such-dir" in str(e.value)
        images.close()
        with pytest.raises(ValueError):
            images.save(out)
    with pytest.raises(dif.InvalidArgumentError):
        dif.read_parameters(INPUT_PNG)  # a PNG without a record


def test_generate_from_an_image_record(models, tmp_path):
    ref = tmp_path / "ref.png"
    shutil.copy(INPUT_PNG, ref)
    with dif.Context(models / "tiny-unclip", threads=THREADS) as ctx:
        job = ctx.start(ref, width=32, height=32, steps=2, seed=3, output="bytes")
        images = job.result()
        images.save(tmp_path / "variation.png")  # Images from a Job keep the record too
        again = ctx.generate_from(tmp_path / "variation.png", output="bytes")
        assert again[0] == images[0]
        assert dif.read_parameters(tmp_path / "variation.png")["prompt"][0]["image"] == "ref.png"


def test_editing_tools(models, tmp_path):
    """Masks and the editing tools reach the library: sizes, the record, errors."""
    with dif.Context(models / "tiny-sd", threads=THREADS) as sd:
        base = dict(steps=2, seed=3, init_image=INPUT_PNG, strength=dif.VARY_STRONG)
        mask = np.zeros((32, 32, 3), dtype=np.uint8)
        mask[8:24, 8:24] = 255
        vary = sd.generate("a red cat", mask=mask, output="numpy", **base)
        assert vary[0].shape == (32, 32, 3)
        rect = sd.generate("a red cat", mask_rect=(8, 8, 16, 16), output="numpy", **base)
        assert np.array_equal(vary[0], rect[0])  # the same mask, as pixels or a rectangle
        crop = sd.generate("a red cat", mask_rect=(8, 8, 16, 16), mask_crop=4, output="numpy", **base)
        picture = np.asarray(PIL.Image.open(INPUT_PNG).convert("RGB"))
        keep = np.ones((32, 32), dtype=bool)
        keep[8:24, 8:24] = False
        assert np.array_equal(crop[0][keep], picture[keep])  # pasted back: the kept pixels exactly
        with pytest.raises(dif.Error) as e:
            sd.generate("a red cat", mask_rect=(8, 8, 16, 16), mask_crop=-5, **base)
        assert "padding -5" in e.value.message
        zoom = sd.generate("a red cat", zoom_out=2.0, output="numpy", **base)
        assert zoom[0].shape == (32, 32, 3)
        pan = sd.generate("a red cat", pan=("left", 0.5), output="numpy", **base)
        assert pan[0].shape == (32, 48, 3)
        path = tmp_path / "pan.png"
        pan.save(path)
        assert dif.read_parameters(path)["edit"]["op"] == "pan"
        up = sd.generate("a red cat", upscale=(2.0, "creative"), output="numpy", **base)
        assert up[0].shape == (64, 64, 3)
        with pytest.raises(ValueError):
            sd.generate("a red cat", upscale=(2.0, "wild"), **base)
        with pytest.raises(dif.Error) as e:
            sd.generate("a red cat", zoom_out=9.0, **base)
        assert e.value.status == dif.Status.ERR_INVALID_ARGUMENT and "(1, 4]" in e.value.message
        with pytest.raises(dif.Error) as e:
            sd.generate("a red cat", make_square=True, **base)
        assert "already square" in e.value.message
        with pytest.raises(ValueError):
            sd.generate("a red cat", pan=("sideways", 0.5), **base)
        with pytest.raises(TypeError):
            sd.generate("a red cat", zoom_out=2.0, mask_rect=(0, 0, 8, 8), **base)


def _info_in_child(env):
    code = ("import os, dif\n"
            "with dif.Context(threads=1) as ctx:\n"
            "    print(os.environ['OPENBLAS_THREAD_TIMEOUT'], ctx.info()['blas_idle_threads'])\n")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_openblas_idle_threads_sleep_unless_the_user_chose():
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    out = _info_in_child(env)  # set by the package before libdif (and OpenBLAS) load
    assert out.startswith("4 ") and "environment's OPENBLAS_THREAD_TIMEOUT" in out, out
    out = _info_in_child(dict(env, OPENBLAS_THREAD_TIMEOUT="9"))  # the user's is kept
    assert out.startswith("9 "), out
