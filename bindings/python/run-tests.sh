#!/bin/sh
# ctest's Python check: pip-installs the package into a fresh venv (offline:
# --no-index; the build backend is in the package, backend/dif_build.py, and
# needs nothing installed; nothing is compiled), then runs pytest on the
# installed copy. Usage: run-tests.sh PYTHON3 WORKDIR
# (the environment gives DIF_LIBRARY, DIF_REF and DIF_TEST_STRICT=1).
set -eu
py=$1 work=$2
src=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work/pkg"
cp -R "$src/dif" "$src/backend" "$src/pyproject.toml" "$src/README.md" "$work/pkg/"
"$py" -m venv --system-site-packages "$work/venv"
"$work/venv/bin/python" -m pip install -q --no-index --no-cache-dir \
  --disable-pip-version-check "$work/pkg"
cd "$work"
"$work/venv/bin/python" -c 'import dif, sys; assert dif.__file__.startswith(sys.argv[1]), dif.__file__' "$work/venv"
# pytest exits 5 when it collects nothing: any non-zero status fails the test
exec "$work/venv/bin/python" -m pytest -p no:cacheprovider -q -rs "$src/tests"
