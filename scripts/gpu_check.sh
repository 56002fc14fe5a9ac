#!/usr/bin/env bash
# GPU check, for a machine with an NVIDIA GPU (about 5 minutes): builds the CUDA backend for the
# GPU that is present (nvidia-smi --query-gpu=compute_cap), runs the GPU tests (cuda/tests: paged
# attention against the CPU reference, swap round trip, KV writes, and KV integrity under the
# scheduler: every preset driving the CUDA backend in lockstep with the CPU one), the CPU KV
# integrity test with fault injection, then kvsched-gpu-bench, and prints swap
# GB/s against the host link and decode attention GB/s against the device's memory bandwidth.
#   bash scripts/gpu_check.sh               # on a GPU machine
#   bash scripts/gpu_check.sh --build-only  # no GPU: configure and build only (CUDA_ARCH, default 90)
# Env: BUILD_DIR (default build-gpu), TIME_LIMIT (s, default 300), CUDA_ARCH (overrides the probe).
# Exit: 0 pass; 1 a test or the bench failed; 3 no GPU (and no --build-only); 2 bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=0
case "${1:-}" in
  "") ;;
  --build-only) build_only=1 ;;
  *) echo "usage: bash scripts/gpu_check.sh [--build-only]" >&2; exit 2 ;;
esac
start=$(date +%s)
limit=${TIME_LIMIT:-300}
left() { echo $((limit - ($(date +%s) - start))); }
build=${BUILD_DIR:-build-gpu}

nvcc_bin=$(command -v nvcc || true)
[[ -z "$nvcc_bin" && -x /usr/local/cuda/bin/nvcc ]] && nvcc_bin=/usr/local/cuda/bin/nvcc
if [[ -z "$nvcc_bin" ]]; then
  echo "gpu_check: nvcc not found (install the CUDA toolkit or put nvcc on PATH)" >&2
  exit 3
fi
arch=${CUDA_ARCH:-}
if [[ -z "$arch" ]]; then
  if command -v nvidia-smi > /dev/null && cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1) && [[ -n "$cap" ]]; then
    arch=${cap//./}
    echo "gpu_check: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1), compute capability $cap"
  elif ((build_only)); then
    arch=90
  else
    echo "gpu_check: no GPU: nvidia-smi is missing or lists no device. Run this on a GPU machine," >&2
    echo "           or 'bash scripts/gpu_check.sh --build-only' to check that the CUDA build works." >&2
    exit 3
  fi
fi
echo "gpu_check: building for sm_$arch with $("$nvcc_bin" --version | tail -1) in $build"
mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DKVSCHED_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc_bin" \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" -DKVSCHED_BUILD_TESTS=ON -DKVSCHED_BUILD_BENCH=ON -DKVSCHED_BUILD_EXAMPLES=OFF > "$build/configure.log" 2>&1 ||
  { tail -30 "$build/configure.log" >&2; echo "gpu_check: configure failed (log: $build/configure.log)" >&2; exit 1; }
cmake --build "$build" -j"$(nproc)" --target kvsched-cuda-tests kvsched-gpu-bench test_backend_kv_integrity
echo "gpu_check: built in $(( $(date +%s) - start )) s"
((build_only)) && { echo "gpu_check: --build-only: done"; exit 0; }

status=0
echo "=== GPU tests (cuda/tests), $(left) s left"
out=$(timeout "$(left)" "$build/cuda/kvsched-cuda-tests" 2>&1) || status=1
echo "$out" | tail -5
if grep -q "SKIPPED: no CUDA device" <<< "$out"; then echo "gpu_check: the GPU tests found no CUDA device" >&2; exit 3; fi
echo "=== KV integrity under the scheduler, with fault injection, $(left) s left"
timeout "$(left)" "$build/tests/test_backend_kv_integrity" 2>&1 | tail -3 || status=1
echo "=== kvsched-gpu-bench --quick, $(left) s left"
json="$build/gpu_bench.json"
timeout "$(left)" "$build/cuda/kvsched-gpu-bench" --quick --json "$json" || status=1
if [[ -f "$json" ]]; then
  python3 - "$json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
d = r["device"]
print(f"\n{d['name']}: host link H2D {d['h2d_GBs']:.1f} GB/s, D2H {d['d2h_GBs']:.1f} GB/s; memory peak {d['peak_mem_GBs']:.0f} GB/s")
for s in r.get("swap", []):
    print(f"swap {s.get('model', '?'):<10} {s.get('pairs', '?'):>3} pairs: out {s['kernel_out_GBs']:.1f} GB/s ({s['kernel_out_vs_link']:.2f} x link), "
          f"in {s['kernel_in_GBs']:.1f} GB/s ({s['kernel_in_vs_link']:.2f} x link)")
for a in r.get("attention", []):
    if a.get("qo_len", 1) == 1:
        print(f"decode attention {a.get('dtype', '?'):<5} batch {a.get('batch', '?'):>4} context {a.get('context', '?'):>5}: "
              f"{a['kernel_kv_GBs']:.0f} GB/s = {a['kernel_vs_peak']:.2f} x memory peak")
PY
fi
echo "gpu_check: $( ((status == 0)) && echo PASS || echo FAIL ) in $(( $(date +%s) - start )) s"
exit $status
