"""Cold wall time of `hoofenv plan --json` (real probe, and from a facts file) beside the usual environment
report, `python -m torch.utils.collect_env`, measured in the same run. Whole processes, median of N.

    python bench/bench_plan.py [--runs 10] [--torch-python PATH]

Also proves the plan imports neither torch nor numpy (python -X importtime of the same command).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FACTS = REPO / "tests" / "fixtures" / "facts" / "gtx1660s-535-ubuntu22.04.json"


# as users run it: with .pyc files (a shell that sets PYTHONDONTWRITEBYTECODE would compile hoofenv's modules from
# source on every run, ~0.1 s here)
USER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(cmd: list[str], runs: int, env: dict | None = None) -> list[float]:
    env = USER_ENV if env is None else env
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO, check=False)
        times.append(time.perf_counter() - start)
    return times


def imported(cmd: list[str]) -> set[str]:
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, cwd=REPO,
                          env=USER_ENV)
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--torch-python", default=os.environ.get("HOOFENV_STACK_PYTHON", ".hoofenv/env/bin/python"))
    args = ap.parse_args()

    plan = [sys.executable, "-m", "hoofenv", "plan", "--json"]
    plan_facts = [*plan, "--facts", str(FACTS)]
    wall(plan, 2)  # page cache
    results = {
        "plan_probe": wall(plan, args.runs),
        "plan_facts": wall(plan_facts, args.runs),
    }
    torch_py = Path(args.torch_python)
    if torch_py.exists():
        collect = [str(torch_py), "-m", "torch.utils.collect_env"]
        wall(collect, 1)
        results["collect_env"] = wall(collect, args.runs)
    heavy = sorted(imported(plan) & {"torch", "numpy", "mmcv", "mmengine"})
    med = {k: statistics.median(v) for k, v in results.items()}
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "load_average_1min": os.getloadavg()[0],
        "runs": args.runs,
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "ratio_plan_vs_collect_env": round(med["plan_probe"] / med["collect_env"], 3) if "collect_env" in med else None,
        "heavy_imports_in_plan": heavy,
    }
    print(json.dumps(report, indent=2))
    return 0 if not heavy else 1


if __name__ == "__main__":
    raise SystemExit(main())
