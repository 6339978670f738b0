"""Shared fixtures: the tiny golden models of the repository and dif-ref, the
C library's own output for parity checks (built by bindings/CMakeLists.txt).

Environment: DIF_LIBRARY (the libdif.so.0 to test), DIF_REF (dif-ref),
DIF_TEST_MODELS (default: tests/golden/models of this checkout),
DIF_TEST_STRICT=1 (ctest sets it): a skipped test fails the run."""
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
MODELS = pathlib.Path(os.environ.get("DIF_TEST_MODELS", REPO / "tests" / "golden" / "models"))
INPUT_PNG = REPO / "tests" / "golden" / "cases" / "pipelines" / "input_32x32.png"
THREADS = 2  # the same thread count as dif-ref: the same pixels, bit for bit


@pytest.fixture(scope="session")
def models():
    if not (MODELS / "tiny-unclip").is_dir():
        pytest.skip("no tiny models at %s (set DIF_TEST_MODELS)" % MODELS)
    return MODELS


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """reference(model, *args) -> (RGB8 bytes of all images, width, height, count)."""
    exe = os.environ.get("DIF_REF")
    if not exe or not os.access(exe, os.X_OK):
        pytest.skip("DIF_REF (the dif-ref program of the build tree) is not set")
    out = tmp_path_factory.mktemp("ref") / "out.rgb"

    def run(model, *args):
        r = subprocess.run([exe, str(out), str(model), "--threads", str(THREADS)] +
                           [str(a) for a in args], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        w, h, n = map(int, r.stdout.split())
        return out.read_bytes(), w, h, n

    return run


_skipped = []


def pytest_runtest_logreport(report):
    if report.skipped and os.environ.get("DIF_TEST_STRICT") == "1":
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if _skipped:
        print("\nDIF_TEST_STRICT=1: %d test(s) skipped: %s" % (len(_skipped), ", ".join(_skipped)))
        session.exitstatus = 1
