"""Warm-cache install of the full CPU stack: `hoofenv install` (uv) vs the plain `pip install` sequence a user
would type vs one raw `uv pip install --compile-bytecode` of the same pinned set; plus a no-op re-run.

Usage: .venv/bin/python bench/bench_install.py [--runs 3] [--skip-pip] [--mmcv-wheel FILE]
Needs the mmcv wheel in hoofenv's cache (a first `hoofenv install` builds it) and warm uv/pip caches (the
first run of each method warms them and is not counted). The counted runs are interleaved (hoofenv, raw uv, pip,
hoofenv, ...). Prints a Markdown table; medians of --runs runs, and the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
STACK = ["--torch", "2.14.1", "--cuda", "cpu", "--python", PY]


def sh(cmd, **kw) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    return time.perf_counter() - t


def plan_and_wheel():
    from hoofenv.install import mmcv_build as wheelcache
    from hoofenv.commands.main import build_parser
    from hoofenv.commands.options import plan_from

    _, plan = plan_from(build_parser().parse_args(["install", *STACK]))
    cached = wheelcache.lookup(plan)
    if not cached.wheel:
        raise SystemExit(f"no cached mmcv wheel ({cached.key}): run `hoofenv install {' '.join(STACK)}` first")
    return plan, str(cached.wheel)


def pinned_sets(plan, wheel):
    r = plan.requirement
    runtime = [r(n) for n in plan.mmpose_runtime if n not in ("xtcocotools", "chumpy")]
    seq = [["pip", r("setuptools"), "wheel"], [r("torch"), r("torchvision")], [r("numpy")], [wheel], [r("mmengine")],
           [r("mmdet")], ["--no-deps", r("mmpose")], runtime, [r("opencv-python")], [r("xtcocotools")],
           [r("openmim")]]
    return seq


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-pip", action="store_true")
    a = ap.parse_args()
    plan, wheel = plan_and_wheel()
    seq = pinned_sets(plan, wheel)
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    tmp = Path(tempfile.mkdtemp(prefix="hoofbench-"))
    cons = tmp / "constraints.txt"
    from hoofenv.install.recipe import constraints_text
    cons.write_text(constraints_text(plan))
    from hoofenv.install.installers import Installer
    from hoofenv.install.sources import sources_from
    src_args = Installer("uv", sources_from(), uv).source_args()  # pip's configured mirrors, passed to uv
    env = {**os.environ, "HOOFENV_TORCH_INDEX_URL": os.environ.get("HOOFENV_TORCH_INDEX_URL", "none")}
    base = sys.executable if sys.prefix == sys.base_prefix else str(Path(sys.base_prefix) / "bin" / f"python{PY}")

    def hoofenv(i):
        d = tmp / f"h{i}"
        return sh([sys.executable, "-m", "hoofenv", "install", *STACK, "--installer", "uv", "--env", str(d / "env"),
                   "--lock", str(d / "hoofenv.lock"), "--no-verify"], env=env, cwd=REPO)

    def raw_uv(i):
        d = tmp / f"u{i}"
        t = time.perf_counter()
        subprocess.run([uv, "venv", "--quiet", "--python", base, str(d)], check=True)
        flat = [x for step in seq for x in step if x != "--no-deps"]
        # one resolve of the same pinned set; mmpose's chumpy is kept out the way hoofenv does (--no-deps below)
        subprocess.run([uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(d / "bin/python"),
                        "--constraint", str(cons), *src_args, *[x for x in flat if not x.startswith("mmpose")]],
                       check=True)
        subprocess.run([uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(d / "bin/python"), "--no-deps",
                        "--constraint", str(cons), *src_args, plan.requirement("mmpose")], check=True)
        return time.perf_counter() - t

    def plain_pip(i):
        d = tmp / f"p{i}"
        t = time.perf_counter()
        subprocess.run([base, "-m", "venv", str(d)], check=True)
        for step in seq:
            subprocess.run([str(d / "bin/python"), "-m", "pip", "install", "-q", "-c", str(cons), *step], check=True)
        return time.perf_counter() - t

    results: dict[str, list[float]] = {}
    methods = [("hoofenv install (uv)", hoofenv), ("raw uv pip install, same set", raw_uv)]
    if not a.skip_pip:
        methods.append(("plain pip install sequence", plain_pip))
    for name, fn in methods:
        fn("warm")  # warms the caches; not counted
        results[name] = []
    for i in range(a.runs):  # interleaved, so a slower minute on a shared machine hits every method alike
        for name, fn in methods:
            results[name].append(fn(i))
            print(f"{name}: run {i}: {results[name][-1]:.1f}s", file=sys.stderr)
    noop = []
    for i in range(max(5, a.runs)):
        noop.append(hoofenv(0))
    results["no-op re-run (hoofenv install on the installed env)"] = noop
    shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    print("| what | median (s) | runs |\n|---|---|---|")
    for k, v in results.items():
        print(f"| {k} | {med[k]:.2f} | {', '.join(f'{x:.1f}' for x in v)} |")
    h, u = med["hoofenv install (uv)"], med["raw uv pip install, same set"]
    per_round = statistics.median(x / y for x, y in zip(results["hoofenv install (uv)"],
                                                         results["raw uv pip install, same set"]))
    print(f"\nhoofenv overhead over raw uv: {100 * (h / u - 1):.0f}% (medians), {100 * (per_round - 1):.0f}% "
          f"(median of the per-round ratios)")
    if "plain pip install sequence" in med:
        print(f"speed-up over the plain pip sequence: {med['plain pip install sequence'] / h:.1f}x")
    print(json.dumps({k: round(v, 3) for k, v in med.items()}), file=sys.stderr)


if __name__ == "__main__":
    main()
