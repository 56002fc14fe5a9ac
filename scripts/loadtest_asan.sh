#!/usr/bin/env bash
# Bounded loopback load test of kvsched-server under AddressSanitizer + UBSan (not in CI by
# default: a few minutes). Builds kvsched-server in an ASan build folder, serves the random tiny
# Llama with a small KV pool (preemption) and a queue bound, runs scripts/loadtest.py, then
# SIGTERMs the server and fails on any sanitizer report, leak, non-zero exit or problem.
# Env: BUILD_DIR (build-asan), DURATION (180 s), WORKERS (24), POLICY (vllm_v0: swap),
# SKIP_BUILD=1 to use the server already built there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build=${BUILD_DIR:-$root/build-asan}
duration=${DURATION:-180}; workers=${WORKERS:-24}; policy=${POLICY:-vllm_v0}
if [[ -z ${SKIP_BUILD:-} ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVSCHED_SANITIZE=ON -DKVSCHED_CUDA=OFF \
    -DKVSCHED_BUILD_BENCH=OFF > /dev/null
  cmake --build "$build" -j"$(nproc)" --target kvsched-server
fi
log=$(mktemp)
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  "$build/examples/kvsched-server" --port 0 --policy "$policy" --kv-blocks 96 --max-model-len 1536 --max-queue 64 \
  --max-num-seqs 32 > "$log" 2>&1 &
srv=$!
for _ in $(seq 300); do grep -q "listening on" "$log" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$log")
[[ -n $port ]] || { cat "$log"; kill $srv; exit 1; }
rc=0
python3 "$root/scripts/loadtest.py" --url "http://127.0.0.1:$port" --duration "$duration" --workers "$workers" || rc=1
kill -TERM $srv
t0=$(date +%s)
srv_rc=0; wait $srv || srv_rc=$?
echo "loadtest_asan: server exited $srv_rc after $(( $(date +%s) - t0 )) s of SIGTERM"
if grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$log"; then
  echo "loadtest_asan: sanitizer report:"; grep -A30 -E "AddressSanitizer|LeakSanitizer|runtime error:" "$log" | head -80; rc=1
fi
[[ $srv_rc -eq 0 ]] || rc=1
tail -2 "$log"
rm -f "$log"
echo "loadtest_asan: $([[ $rc -eq 0 ]] && echo PASSED || echo FAILED)"
exit $rc
