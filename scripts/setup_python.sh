#!/usr/bin/env bash
# Creates (or reuses) .venv at the repository root and installs the Python package kvsched into
# it from this checkout (nanobind + scikit-build-core from PyPI, Release build cached in
# build-python/, so a rerun with unchanged sources rebuilds nothing and only reinstalls), plus
# pytest and numpy for tests/python. VENV_DIR overrides the folder. About 2.5 min the first
# time on 2 cores (the extension), seconds afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV_DIR:-.venv}
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c "import nanobind, scikit_build_core, numpy, pytest" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "nanobind>=2.0" "scikit-build-core>=0.10" "numpy>=1.22" "pytest>=7"
fi
# --no-build-isolation: build with the venv's nanobind and scikit-build-core, reusing the CMake
# build folder of pyproject.toml (tool.scikit-build.build-dir) between runs.
"$venv/bin/python" -m pip install --quiet --no-build-isolation ${KVSCHED_PY_WERROR:+-Ccmake.define.KVSCHED_WERROR=ON} .
echo "setup_python: kvsched $("$venv/bin/python" -c 'import kvsched; print(kvsched.__version__)') in $venv"
