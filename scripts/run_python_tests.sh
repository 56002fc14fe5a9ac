#!/usr/bin/env bash
# Runs the kvsched package's pytest suite (tests/python/test_kvsched_*.py) with the venv of
# scripts/setup_python.sh. Exit 77 (ctest: skipped) with a message when the venv or the
# package is absent. Usage: scripts/run_python_tests.sh [KVSCHED_SIM_EXE] [pytest args...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv=${VENV_DIR:-$root/.venv}
if [[ $# -ge 1 && -x "$1" ]]; then export KVSCHED_SIM_EXE="$1"; shift; fi
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import kvsched, pytest" 2>/dev/null; then
  echo "SKIPPED: no venv with the kvsched package and pytest at $venv; run scripts/setup_python.sh"
  exit 77
fi
cd "$root/tests/python"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" test_kvsched_*.py
