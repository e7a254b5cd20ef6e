"""Bench: `hoofenv config check` on a config with a 3-level `_base_` chain against the plain load of the same file,
`python -c "from mmengine import Config; Config.fromfile(F)"`, in the same env and the same run.

    python bench/bench_config_check.py [ENV_PYTHON] [--runs N]

ENV_PYTHON defaults to $HOOFENV_STACK_PYTHON. The chain (runtime <- model <- config, the config being hoofenv's
rendered template on a tiny synthetic dataset) is written to a temporary folder. The first check in an env imports
MMPose's registries to record which types resolve (reported as `cold`, with an empty registry cache); the timed
rounds are warm and interleaved (plain, check, plain, check, ...) because this machine's speed drifts. Prints the
medians, each round's ratio, and the check's own split (load, registry) from its facts. Target: the check <= 3 s.
Figures go to docs/PERFORMANCE.md under `## config check`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def chain(root: Path) -> Path:
    from hoofenv.data.schema import get_preset, write_metainfo
    from hoofenv.data.synthetic import generate
    from hoofenv.train import config as trainconfig

    data = generate(root / "data", n_train=2, n_val=1, seed=0, image_size=(64, 64))
    write_metainfo(get_preset("hoof-side"), root / "metainfo.py")
    params = trainconfig.TrainParams(data_root=str(data), metainfo_file=str(root / "metainfo.py"), max_epochs=6)
    (root / "runtime.py").write_text("default_scope = 'mmpose'\nlog_level = 'INFO'\n")
    (root / "model.py").write_text("_base_ = ['./runtime.py']\nnum_keypoints = 4\n")
    (root / "config.py").write_text("_base_ = ['./model.py']\n" + trainconfig.render(params))
    return root / "config.py"


def timed(cmd: list[str], env: dict) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    took = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return took, proc.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("python", nargs="?", default=os.environ.get("HOOFENV_STACK_PYTHON"))
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    if not args.python:
        raise SystemExit("give the stack's python (or set HOOFENV_STACK_PYTHON)")
    with tempfile.TemporaryDirectory(prefix="hoofenv-bench-config-") as tmp:
        config = chain(Path(tmp))
        env = {**os.environ, "HOOFENV_CACHE_DIR": str(Path(tmp) / "cache")}  # an empty registry cache: cold first
        plain = [args.python, "-c", f"from mmengine import Config; Config.fromfile({str(config)!r})"]
        check = [sys.executable, "-m", "hoofenv", "config", "check", str(config), "--python", args.python, "--json"]
        cold, out = timed(check, env)
        assert json.loads(out)["registry_source"] == "import"
        timed(plain, env)
        a, b = [], []
        for _ in range(args.runs):
            a.append(timed(plain, env)[0])
            took, out = timed(check, env)
            b.append(took)
        facts = json.loads(out)
    pa, pb = statistics.median(a), statistics.median(b)
    print(f"machine: {os.uname().machine}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    print(f"cold check (registries imported, index written): {cold:.2f} s")
    print(f"plain Config.fromfile: median {pa:.2f} s  (runs: {', '.join(f'{x:.2f}' for x in a)})")
    print(f"hoofenv config check:  median {pb:.2f} s  (runs: {', '.join(f'{x:.2f}' for x in b)})  target <= 3 s")
    print(f"per-round ratio check / plain: {', '.join(f'{y / x:.2f}' for x, y in zip(a, b))}")
    print(f"last check: registry from the {facts['registry_source']}, {facts['types']} types, "
          f"load + registry {facts['seconds']:.2f} s inside the probe, ok={facts['ok']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
