"""Bench: a full `hoofenv verify` on a warm environment against the floor, the bare import of the stack.

    python bench/bench_verify.py [ENV_PYTHON] [--runs N] [--config FILE]

ENV_PYTHON defaults to $HOOFENV_STACK_PYTHON. Both are timed as whole processes, alternating, after one warm-up
run of each, in the same run; prints medians and the ratio (target: verify <= 1.5 x floor). Figures go to
docs/PERFORMANCE.md under `## verify`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLOOR = "import mmpose.models, mmcv.ops, mmdet.models"


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    took = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("python", nargs="?", default=os.environ.get("HOOFENV_STACK_PYTHON"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--config", default=str(REPO / "tests" / "fixtures" / "verify" / "rtmpose_hoof.py"))
    args = ap.parse_args()
    if not args.python:
        raise SystemExit("give the stack's python (or set HOOFENV_STACK_PYTHON)")
    floor_cmd = [args.python, "-c", FLOOR]
    verify_cmd = [sys.executable, "-m", "hoofenv", "verify", "--python", args.python, "--config", args.config,
                  "--json"]
    timed(floor_cmd), timed(verify_cmd)  # warm-up: page cache, .pyc
    floor, full = [], []
    for _ in range(args.runs):
        floor.append(timed(floor_cmd))
        full.append(timed(verify_cmd))
    f, v = statistics.median(floor), statistics.median(full)
    print(f"machine: {os.uname().machine}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"floor  `python -c \"{FLOOR}\"`: median {f:.2f} s  (runs: {', '.join(f'{x:.2f}' for x in floor)})")
    print(f"verify (all checks, --json):                                  median {v:.2f} s  "
          f"(runs: {', '.join(f'{x:.2f}' for x in full)})")
    print(f"ratio verify / floor: {v / f:.2f} (target <= 1.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
