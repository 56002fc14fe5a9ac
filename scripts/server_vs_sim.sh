#!/usr/bin/env bash
# The server's measured figures beside kvsched-sim's prediction for the same requests
# (docs/server.md): starts kvsched-server (random tiny Llama, CPU) with --iteration-log, replays
# the first N Azure conv requests with scripts/loadgen.py, fits a CPU latency model to the
# server's iteration times (scripts/fit_cpu_latency.py), and replays the same requests in
# kvsched-sim on that model. Loopback only. Env: BUILD_DIR (build), N (300), RATE (req/s, 6),
# POLICY (vllm_v1), SLO_TTFT (0.5), SLO_TBT (0.1), OUT (a temporary folder).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build=${BUILD_DIR:-$root/build}
n=${N:-300}; rate=${RATE:-6}; policy=${POLICY:-vllm_v1}; ttft=${SLO_TTFT:-0.5}; tbt=${SLO_TBT:-0.1}
out=${OUT:-$(mktemp -d)}
py=$root/.venv/bin/python
[[ -x $py ]] || { echo "server_vs_sim: run scripts/setup_pyenv.sh first (numpy)"; exit 2; }
"$build/examples/kvsched-server" --port 0 --policy "$policy" --kv-blocks 1024 --max-model-len 2048 \
  --iteration-log "$out/iterations.csv" > "$out/server.log" 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening on" "$out/server.log" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$out/server.log")
echo "== server (measured): $policy, $n requests at $rate req/s"
"$py" "$root/scripts/loadgen.py" --url "http://127.0.0.1:$port" --num-requests "$n" --rate "$rate" --max-prompt 1024 \
  --max-output 256 --slo-ttft "$ttft" --slo-tbt "$tbt" --json "$out/server.json" --write-trace "$out/trace.csv"
kill -TERM $srv; wait $srv || true; trap - EXIT
echo "== CPU latency model fitted to the server's iterations"
# random tiny Llama: 2 (K, V) x 4 layers x 2 KV heads x 64 x 4 bytes (fp32) = 4096 bytes per token
"$py" "$root/scripts/fit_cpu_latency.py" "$out/iterations.csv" --kv-bytes-per-token 4096 -o "$out/cpu_latency.json"
echo "== kvsched-sim (predicted) on the same requests"
"$build/examples/kvsched-sim" --trace "$out/trace.csv" --trace-format azure --policy "$policy" --kv-blocks 1024 \
  --max-model-len 2048 --latency-json "$out/cpu_latency.json" --slo-ttft "$ttft" --slo-tbt "$tbt" -q --json "$out/sim.json"
echo "outputs in $out"
