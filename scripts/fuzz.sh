#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (-fsanitize=fuzzer,address,undefined) and
# runs each for SECONDS (default 60) from its committed corpus, printing libFuzzer's final
# stats (executions, coverage). A crash, a sanitizer report or a violated property fails the
# script; the reproducer is left in build-fuzz/crashes/.
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]       (targets: fuzz/fuzz_*.cpp names)
# Env: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (parallel builds, default nproc),
# FUZZ_RUNS=N runs N inputs per target from libFuzzer seed FUZZ_SEED (default 1) instead of
# SECONDS: the same inputs on every machine, so CI's verdict does not depend on its speed.
# FUZZ_MERGE=1 merges new inputs back into fuzz/corpus/<target>/ (to commit a better corpus).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --fuzz
secs=${1:-60}
shift || true
out=${FUZZ_BUILD_DIR:-build-fuzz}
mkdir -p "$out/crashes" "$out/work"
cxx=$(command -v clang++ || ls /usr/bin/clang++-* 2>/dev/null | sort -V | tail -1)
[[ -n "$cxx" ]] || { echo "fuzz.sh: clang++ not found (scripts/setup.sh --fuzz installs it)" >&2; exit 2; }
targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in fuzz/fuzz_*.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi
flags=(-std=c++20 -O1 -gline-tables-only -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Iinclude -Ifuzz -DNDEBUG)
build() {
  local t=$1
  if [[ ! -x "$out/$t" || "fuzz/$t.cpp" -nt "$out/$t" || -n "$(find include fuzz -newer "$out/$t" -name '*.hpp' -print -quit)" ]]; then
    echo "fuzz.sh: building $t"
    # shellcheck disable=SC2046
    "$cxx" "${flags[@]}" "fuzz/$t.cpp" -o "$out/$t" -lfmt $(pkg-config --libs absl_flat_hash_map) -lpthread
  fi
}
jobs=${FUZZ_JOBS:-$(nproc)}
pids=()
for t in "${targets[@]}"; do
  build "$t" &
  pids+=($!)
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
done
for p in "${pids[@]}"; do wait "$p"; done
for t in "${targets[@]}"; do [[ -x "$out/$t" ]] || { echo "fuzz.sh: $t did not build" >&2; exit 1; }; done

status=0
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  mkdir -p "$corpus" "$out/work/$t"
  dict=()
  [[ -f "fuzz/$t.dict" ]] && dict=(-dict="fuzz/$t.dict")
  budget=(-max_total_time="$secs")
  [[ -n "${FUZZ_RUNS:-}" ]] && budget=(-runs="$FUZZ_RUNS" -seed="${FUZZ_SEED:-1}")
  echo "=== $t: ${budget[*]}"
  if ! UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
      "$out/$t" "${budget[@]}" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
      -artifact_prefix="$out/crashes/$t-" "${dict[@]}" "$out/work/$t" "$corpus" 2>&1 |
      tee "$out/$t.log" | grep -E "^(#[0-9]+ +(INITED|DONE)|stat::|==[0-9]+==|SUMMARY|fuzz property|INFO: (Seed|Loaded))" ; then
    :
  fi
  if grep -qE "^(SUMMARY|fuzz property violated|==[0-9]+==ERROR)|Test unit written" "$out/$t.log"; then
    echo "fuzz.sh: $t FAILED (see $out/$t.log and $out/crashes/)" >&2
    status=1
  fi
  if [[ "${FUZZ_MERGE:-0}" == 1 ]]; then
    "$out/$t" -merge=1 "$corpus" "$out/work/$t" > /dev/null 2>&1 || true
  fi
done
exit $status
