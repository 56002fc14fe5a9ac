#!/usr/bin/env bash
# Runs the server's Python tests (tests/python) with the venv of scripts/setup_pyenv.sh.
# Exit 77 (ctest: skipped) with a message when the venv is absent. Usage:
#   scripts/run_pytest.sh [KVSCHED_SERVER_EXE] [pytest args...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv=${VENV_DIR:-$root/.venv}
if [[ $# -ge 1 && -x "$1" ]]; then KVSCHED_SERVER_EXE="$(realpath "$1")"; export KVSCHED_SERVER_EXE; shift; fi
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import openai, pytest" 2>/dev/null; then
  echo "SKIPPED: no Python venv with openai and pytest at $venv; create it with scripts/setup_pyenv.sh"
  exit 77
fi
cd "$root/tests/python"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" .
