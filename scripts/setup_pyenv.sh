#!/usr/bin/env bash
# Creates (or reuses) .venv at the repository root with what the Python tests and the load
# generator need: the official `openai` client, pytest, numpy (PyPI). Idempotent: an existing
# .venv whose packages import is kept. VENV_DIR overrides the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV_DIR:-.venv}
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import openai, pytest, numpy" 2>/dev/null; then
  echo "setup_pyenv: reusing $venv ($("$venv/bin/python" -c 'import openai; print("openai", openai.__version__)'))"
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "openai>=1.40" "pytest>=7" "numpy>=1.24"
echo "setup_pyenv: created $venv ($("$venv/bin/python" -c 'import openai; print("openai", openai.__version__)'))"
