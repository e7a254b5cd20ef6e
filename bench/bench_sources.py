"""What checking the package sources costs `hoofenv plan --json`, and how soon a dead source is decided.

    python bench/bench_sources.py [--runs 7] [--baseline-python /work/main/.venv/bin/python] [--pip-baseline]

Whole processes, interleaved rounds (this machine drifts by 40%): in each round hoofenv (this checkout) and the
baseline (hoofenv without sources, e.g. main's checkout) run the same command back to back.

- warm: the real probe, the sources check cached (what a second `plan` within 5 minutes costs);
- cold, two sources that never answer: the PyTorch index and the OpenMMLab base point at servers on 127.0.0.1 that
  accept and never answer, and the sources cache is empty each time;
- facts file: `--facts` (no probe at all);
- `--pip-baseline`: once, how long plain pip takes to give up on an index that never answers (its default timeout
  and retries), against hoofenv's plan deciding about the same index;
- `--install-decision`: once, a source that stops answering in the middle of the torch download: how long
  `hoofenv install` (uv) takes to fail the step naming the host, against the same download by plain uv (its own
  timeout and retries), each with an empty uv cache.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.fakeindex import Server  # noqa: E402

FACTS = REPO / "tests" / "fixtures" / "facts" / "gtx1660s-535-ubuntu22.04.json"


def once(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=REPO, text=True)
    took = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return took


def rounds(a: list[str], b: list[str] | None, runs: int, env_a, env_b=None) -> dict:
    """A and B interleaved; env_* are callables giving each run's environment (a fresh cache, say)."""
    ta, tb = [], []
    for _ in range(runs):
        ta.append(once(a, env_a()))
        if b:
            tb.append(once(b, (env_b or env_a)()))
    out = {"hoofenv_s": round(statistics.median(ta), 3), "hoofenv_runs": [round(t, 3) for t in ta]}
    if tb:
        out |= {"baseline_s": round(statistics.median(tb), 3), "baseline_runs": [round(t, 3) for t in tb],
                "ratio_per_round": [round(x / y, 2) for x, y in zip(ta, tb)],
                "ratio_median": round(statistics.median(x / y for x, y in zip(ta, tb)), 2)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--baseline-python", default="/work/main/.venv/bin/python",
                    help="a python whose `-m hoofenv` is hoofenv without sources (main's checkout)")
    ap.add_argument("--pip-baseline", action="store_true")
    ap.add_argument("--install-decision", action="store_true")
    args = ap.parse_args()
    here = [sys.executable, "-m", "hoofenv", "plan", "--json"]
    base = [args.baseline_python, "-m", "hoofenv", "plan", "--json"] if Path(args.baseline_python).exists() else None
    cache = Path(tempfile.mkdtemp(prefix="hoofenv-bench-sources-"))
    user = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # with .pyc files, as users run it
    warm_env = {**user, "HOOFENV_CACHE_DIR": str(cache / "warm")}
    once(here, warm_env)  # fills the interpreter, matrix and sources caches
    if base:
        once(base, warm_env)
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": args.runs}
    results["warm"] = rounds(here, base, args.runs, lambda: warm_env)
    root = cache / "idx"
    (root / "simple").mkdir(parents=True)
    hang_a, hang_b = Server(root, mode="hang"), Server(root, mode="hang")

    def cold_env() -> dict:
        shutil.rmtree(cache / "cold", ignore_errors=True)
        shutil.copytree(cache / "warm", cache / "cold")
        (cache / "cold" / "sources.json").unlink(missing_ok=True)
        return {**user, "HOOFENV_CACHE_DIR": str(cache / "cold"),
                "HOOFENV_TORCH_INDEX_URL": hang_a.url + "/whl/{cuda}", "HOOFENV_MMCV_BASE_URL": hang_b.url}

    try:
        results["cold_two_dead"] = rounds(here, base, args.runs, cold_env)
        facts = ["--facts", str(FACTS)]
        results["facts_file"] = rounds(here + facts, base + facts if base else None, args.runs, lambda: warm_env)
        if args.pip_baseline:
            results["dead_index_decision"] = pip_baseline(hang_a.url, cold_env)
        if args.install_decision:
            results["lost_mid_install"] = install_decision(cache)
    finally:
        hang_a.stop()
        hang_b.stop()
        shutil.rmtree(cache, ignore_errors=True)
    print(json.dumps(results, indent=2))
    return 0


def pip_baseline(url: str, cold_env) -> dict:
    """Plain pip against an index that never answers (pip's defaults: 15 s timeout, 5 retries), once, against
    hoofenv's plan deciding about the same index."""
    venv_dir = Path(tempfile.mkdtemp(prefix="hoofenv-bench-pip-"))
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv_dir)], check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {"PIP_CONFIG_FILE": os.devnull}
        start = time.perf_counter()
        subprocess.run([str(venv_dir / "bin" / "python"), "-m", "pip", "download", "--no-deps", "-d",
                        str(venv_dir / "d"), "--index-url", url + "/whl/cpu", "torch==2.1.2"], env=env,
                       capture_output=True)
        pip_s = time.perf_counter() - start
    finally:
        shutil.rmtree(venv_dir, ignore_errors=True)
    plan_s = once([sys.executable, "-m", "hoofenv", "plan", "--json"], cold_env())
    return {"pip_gives_up_s": round(pip_s, 1), "hoofenv_plan_decides_s": round(plan_s, 2)}


def install_decision(tmp: Path) -> dict:
    from tests.fakeindex import build_world, isolated_env

    root = tmp / "world"
    build_world(root)
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    out = {}
    server = Server(root, hang_on="/torch-2.1.2")
    try:
        env = isolated_env(tmp, server.url, tmp / "c1") | {"PYTHONPATH": str(REPO)}
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "hoofenv", "install", "--torch", "2.1.2", "--cuda", "cpu",
                               "--python", py, "--installer", "uv", "--json", "--env", str(tmp / "e1")],
                              capture_output=True, text=True, env=env, cwd=tmp)
        out["hoofenv_install_s"] = round(time.perf_counter() - start, 1)
        out["hoofenv_error"] = json.loads(proc.stdout)["error"]["message"][:160] if proc.stdout else proc.stderr[-300:]
    finally:
        server.stop()
    server = Server(root, hang_on="/torch-2.1.2")
    try:
        uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(tmp / "e2")], check=True)
        env = isolated_env(tmp, server.url, tmp / "c2")
        start = time.perf_counter()
        proc = subprocess.run([uv, "pip", "install", "--python", str(tmp / "e2" / "bin" / "python"), "--index-url",
                               server.url + "/simple", "--extra-index-url", server.url + "/torch/cpu",
                               "torch==2.1.2+cpu"], capture_output=True, text=True, env=env)
        out["plain_uv_s"] = round(time.perf_counter() - start, 1)
        out["plain_uv_error"] = proc.stderr.strip().splitlines()[-1][:160] if proc.stderr.strip() else ""
    finally:
        server.stop()
    return out


if __name__ == "__main__":
    sys.exit(main())
