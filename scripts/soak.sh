#!/usr/bin/env bash
# Soak test (not in CI): every preset driven for ITERATIONS simulated iterations (default 10^7)
# with random arrivals, EOS and aborts; prints resident memory at intervals (it must stay
# flat) and invariant violations (there must be none). Exit 1 on a violation or growth.
#   ITERATIONS=1000000 PRESETS=vllm_v1,cacheopt bash scripts/soak.sh
# Env: BUILD_DIR (default build), ITERATIONS, PRESETS (comma-separated; default all), SEED.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DKVSCHED_CUDA=OFF -DKVSCHED_BUILD_EXAMPLES=ON
fi
cmake --build "$build" -j"$(nproc)" --target kvsched-soak
args=(--iterations "${ITERATIONS:-10000000}" --seed "${SEED:-1}")
[[ -n "${PRESETS:-}" ]] && args+=(--presets "$PRESETS")
exec "$build/examples/kvsched-soak" "${args[@]}"
