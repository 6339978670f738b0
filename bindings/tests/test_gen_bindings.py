"""tools/gen-bindings: adding a function (and an enum and a macro) to dif.h and
re-running the generator is all it takes for it to appear in both low-level
layers, typed, callable from Python and compiled and called from Go.

A copy of dif.h gets the additions; a tiny shared library implements the new
function; the generated _ffi.py binds and calls it through ctypes, and the
generated ffi.go is compiled with cgo and calls it from a Go test.
Environment (ctest sets it): DIF_LIBRARY (the built libdif.so.0), DIF_GO,
CC, DIF_TEST_STRICT=1 (a skip fails)."""
import ctypes
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
GEN = REPO / "tools" / "gen-bindings"

EXTRA_DECLS = """
/* added by bindings/tests/test_gen_bindings.py */
typedef enum dif_extra_mode { DIF_EXTRA_FAST = 0, DIF_EXTRA_GOOD = 7 } dif_extra_mode;
#define DIF_EXTRA_LIMIT (3 << 4)
#define DIF_EXTRA_NAME "extra"
DIF_API int64_t dif_extra_scale(const dif_context *ctx, double scale, const char *name,
                                dif_extra_mode mode, size_t *length);
"""
EXTRA_IMPL = r"""
#include <dif.h>
#include <string.h>
int64_t dif_extra_scale(const dif_context *ctx, double scale, const char *name,
                        dif_extra_mode mode, size_t *length) {
  *length = strlen(name);
  return (int64_t)(scale * 1000) + (ctx ? 2 : 1) + (int64_t)mode * 100000;
}
"""
GO_CALL = """package dif

/*
#include <stdlib.h>
*/
import "C"

import "unsafe"

func callExtra() (int64, uint) {
	name := C.CString("abcd")
	defer C.free(unsafe.Pointer(name))
	var n uint
	r := difExtraScale(nil, 1.5, name, ExtraGood, &n)
	return r, n
}
"""
GO_TEST = """package dif

import "testing"

func TestExtra(t *testing.T) {
	r, n := callExtra()
	if r != 1500+1+700000 || n != 4 || ExtraLimit != 48 || ExtraName != "extra" {
		t.Fatalf("r=%d n=%d", r, n)
	}
	if difVersion() != VersionNumber {
		t.Fatal("the real libdif is linked too")
	}
}
"""


def need(ok, why):
    if not ok:
        if os.environ.get("DIF_TEST_STRICT") == "1":
            pytest.fail("DIF_TEST_STRICT=1 and " + why)
        pytest.skip(why)


def gen(*args):
    return subprocess.run([sys.executable, str(GEN), *map(str, args)], capture_output=True,
                          text=True)


@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    """A header with the additions, the layers generated from it, libextra.so."""
    d = tmp_path_factory.mktemp("gen")
    text = (REPO / "include" / "dif.h").read_text()
    cut = text.rindex("#ifdef __cplusplus")  # before the closing extern "C" block
    (d / "include").mkdir()
    (d / "include" / "dif.h").write_text(text[:cut] + EXTRA_DECLS + text[cut:])
    r = gen("--header", d / "include" / "dif.h", "--python-out", d / "_ffi.py",
            "--go-out", d / "go" / "dif" / "ffi.go")
    assert r.returncode == 0, r.stderr
    cc = os.environ.get("CC", "cc")
    need(shutil.which(cc) is not None, "no C compiler (CC)")
    r = subprocess.run([cc, "-shared", "-fPIC", "-I", str(d / "include"), "-x", "c", "-",
                        "-o", str(d / "libextra.so")], input=EXTRA_IMPL, text=True,
                       capture_output=True)
    assert r.returncode == 0, r.stderr
    return d


def test_committed_layers_are_up_to_date():
    r = gen("--check")
    assert r.returncode == 0, r.stderr
    assert "up to date" in r.stdout


def test_check_fails_when_the_header_changes(extended):
    # the committed layers against the extended header: stale, with a diff
    r = gen("--check", "--header", extended / "include" / "dif.h",
            "--python-out", REPO / "bindings" / "python" / "dif" / "_ffi.py",
            "--go-out", REPO / "bindings" / "go" / "dif" / "ffi.go")
    assert r.returncode == 1
    assert "out of date" in r.stderr and "+    'dif_extra_scale': (" in r.stderr
    assert "+func difExtraScale(" in r.stderr


def test_new_function_in_python_layer(extended):
    spec = importlib.util.spec_from_file_location("ffi_extra", extended / "_ffi.py")
    ffi = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ffi)
    restype, argtypes, names, sig = ffi.FUNCTIONS["dif_extra_scale"]
    assert restype is ctypes.c_int64
    assert argtypes == [ctypes.POINTER(ffi.dif_context), ctypes.c_double, ctypes.c_char_p,
                        ffi.dif_extra_mode, ctypes.POINTER(ctypes.c_size_t)]
    assert names == ("ctx", "scale", "name", "mode", "length")
    assert sig.startswith("int64_t dif_extra_scale(const dif_context *ctx, double scale")
    assert ffi.ExtraMode.GOOD == 7 and ffi.DIF_EXTRA_GOOD == 7
    assert ffi.DIF_EXTRA_LIMIT == 48 and ffi.DIF_EXTRA_NAME == "extra"
    # bound and called through ctypes
    lib = ctypes.CDLL(str(extended / "libextra.so"))
    missing = ffi.bind(lib)
    assert "dif_extra_scale" not in missing and "dif_version" in missing
    n = ctypes.c_size_t()
    assert lib.dif_extra_scale(None, 1.5, b"abcd", ffi.ExtraMode.GOOD, ctypes.byref(n)) == 701501
    assert n.value == 4
    # and the real library still binds every function of the real header
    real = os.environ.get("DIF_LIBRARY")
    need(real, "DIF_LIBRARY is not set")
    assert ffi.bind(ctypes.CDLL(real)) == ["dif_extra_scale"]


def test_new_function_in_go_layer(extended):
    go = os.environ.get("DIF_GO") or shutil.which("go")
    real = os.environ.get("DIF_LIBRARY")
    need(go and real, "needs go (DIF_GO) and DIF_LIBRARY")
    mod = extended / "go"
    (mod / "go.mod").write_text("module libdif\n\ngo 1.19\n")
    (mod / "dif" / "extra.go").write_text(GO_CALL)
    (mod / "dif" / "extra_test.go").write_text(GO_TEST)
    (extended / "dif.pc").write_text(
        "Name: dif\nDescription: test\nVersion: 0\nCflags: -I%s\nLibs: -L%s -ldif\n"
        % (extended / "include", pathlib.Path(real).parent))
    env = dict(os.environ, PKG_CONFIG_PATH=str(extended), CGO_LDFLAGS="-L%s -lextra" % extended,
               LD_LIBRARY_PATH="%s:%s" % (extended, pathlib.Path(real).parent),
               GOPROXY="off", GOFLAGS="-buildvcs=false")
    env.setdefault("GOCACHE", str(extended / "gocache"))
    r = subprocess.run([go, "test", "-count=1", "./dif"], cwd=mod, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_unsupported_declarations_stop_the_generator(tmp_path):
    text = (REPO / "include" / "dif.h").read_text()
    cut = text.rindex("#ifdef __cplusplus")
    h = tmp_path / "dif.h"
    h.write_text(text[:cut] + "typedef struct dif_point { int x, y; } dif_point;\n" + text[cut:])
    r = gen("--header", h, "--python-out", tmp_path / "a.py", "--go-out", tmp_path / "a.go")
    assert r.returncode == 2 and "dif_point" in r.stderr and "public fields" in r.stderr
    assert not (tmp_path / "a.py").exists()
    h.write_text(text[:cut] + "DIF_API int dif_printf(const char *fmt, ...);\n" + text[cut:])
    r = gen("--header", h, "--python-out", tmp_path / "a.py", "--go-out", tmp_path / "a.go")
    assert r.returncode == 2 and "variadic" in r.stderr
