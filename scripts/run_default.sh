#!/usr/bin/env bash
# Sets up (Debian packages), builds and runs the main job on the bundled default data:
# kvsched-sim replays the bundled mixed-SLO mix through the main presets and prints a comparison.
# Arguments are passed to kvsched-sim (none = the bundled default run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DKVSCHED_BUILD_EXAMPLES=ON >/dev/null
if [[ -f examples/kvsched_sim/main.cpp ]]; then
  cmake --build "$build" -j"$(nproc)" --target kvsched-sim >/dev/null
  exec "$build/examples/kvsched-sim" "$@"
fi
cmake --build "$build" -j"$(nproc)" --target kvsched-quickstart >/dev/null
exec "$build/examples/kvsched-quickstart" "$@"
