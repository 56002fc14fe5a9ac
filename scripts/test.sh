#!/usr/bin/env bash
# Sets up (Debian packages, the Python venv .venv with the kvsched package and the test clients), builds
# everything and runs every test through ctest.
# Extra CMake arguments: KVSCHED_CMAKE_ARGS; build folder: BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_python.sh  # .venv: the kvsched package (pip install .) for ctest python_kvsched_pytest
bash scripts/setup_pyenv.sh   # .venv: openai + pytest for tests/python (ctest server_openai_pytest)
build=${BUILD_DIR:-build}
# shellcheck disable=SC2086
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DKVSCHED_BUILD_TESTS=ON -DKVSCHED_BUILD_EXAMPLES=ON \
  -DKVSCHED_BUILD_BENCH=ON ${KVSCHED_CMAKE_ARGS:-}
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
