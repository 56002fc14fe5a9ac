#!/usr/bin/env python3
"""Fails on any include that runs upward in kvsched's folder order (docs/design.md section 6).

Usage: check_layering.py [REPO_ROOT]. Reads every file under include/kvsched/ and
cuda/include/kvsched/; a header in folder F may include "kvsched/G/..." only when G is F or
below F in ORDER (folders on one level, such as sim/ and serve/, do not include each other).
Inside policy/, a slot folder (allocator/, queue/, ...) includes only itself, policy/common/
and the headers directly in policy/. Prints each violation as FILE:LINE: message and exits 1
if any, else 0.
"""
import pathlib
import re
import sys

# Bottom to top; keep in step with docs/design.md section 6. cuda/ is the GPU build of backend/.
ORDER = [["core"], ["hardware"], ["io"], ["latency"], ["policy"], ["scheduler"], ["presets"],
         ["backend"], ["cuda"], ["model"], ["sim", "serve"]]
RANK = {name: i for i, level in enumerate(ORDER) for name in level}
POLICY_SHARED = "common"  # policy/common/: what every slot may include
UMBRELLA = "kvsched.hpp"  # include/kvsched/kvsched.hpp sits above every folder
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]kvsched/([^"/>]+)(/[^">]*)?[">]')


def check(root: pathlib.Path) -> list[str]:
    errors = []
    for base in (root / "include" / "kvsched", root / "cuda" / "include" / "kvsched"):
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(base)
            folder = rel.parts[0] if len(rel.parts) > 1 else None
            if folder is None:
                if rel.name != UMBRELLA:
                    errors.append(f"{path}:1: a header directly in {base} must be {UMBRELLA}")
                continue
            if folder not in RANK:
                errors.append(f"{path}:1: folder '{folder}' is not in the folder order {ORDER}")
                continue
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = m.group(1)
                if m.group(2) is None:  # "kvsched/kvsched.hpp"
                    errors.append(f"{path}:{lineno}: includes the umbrella header {target}")
                elif target not in RANK:
                    errors.append(f"{path}:{lineno}: includes unknown folder '{target}'")
                elif RANK[target] > RANK[folder]:
                    errors.append(f"{path}:{lineno}: {folder}/ includes {target}/, which is above it")
                elif RANK[target] == RANK[folder] and target != folder:
                    errors.append(f"{path}:{lineno}: {folder}/ includes {target}/, a folder on its own level")
                elif folder == target == "policy" and len(rel.parts) > 2:
                    slot = rel.parts[1]
                    parts = (m.group(2) or "").strip("/").split("/")
                    other = parts[0] if len(parts) > 1 else None  # None: a header directly in policy/
                    if other not in (None, slot, POLICY_SHARED):
                        errors.append(f"{path}:{lineno}: policy/{slot}/ includes policy/{other}/ "
                                      f"(slots share code only through policy/{POLICY_SHARED}/)")
    return errors


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
    errors = check(root)
    for e in errors:
        print(e)
    print(f"layering: {len(errors)} upward or unknown include(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
