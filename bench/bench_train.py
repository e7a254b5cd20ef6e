"""hoofenv train vs a bare MMEngine Runner on the same rendered config, in the same run (alternating, A B A B).

    HOOFENV_STACK_PYTHON=/path/to/env/bin/python python bench/bench_train.py [--rounds 2] [--n-train 160]

Both sides train one epoch of n_train/batch iterations on synthetic 256x256 hooves (RTMPose-t, input 256x256,
batch 4, --workers auto, no pretrained weights). The iteration time and data_time are MMEngine's own
(IterTimerHook, as logged to vis_data/scalars.json every 10 iterations); the first logged window (start-up) is
dropped and the rest's median is taken. Prints a markdown table for docs/PERFORMANCE.md.
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

BARE = (
    "import sys\n"
    "from mmengine.config import Config\n"
    "from mmengine.runner import Runner\n"
    "cfg = Config.fromfile(sys.argv[1]); cfg.work_dir = sys.argv[2]\n"
    "Runner.from_cfg(cfg).train()\n"
)


def scalars(work_dir: Path) -> tuple[float, float]:
    files = sorted(work_dir.glob("*/vis_data/scalars.json"))
    rows = [json.loads(line) for line in files[-1].read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "time" in r and "data_time" in r and "coco/AP" not in r][1:]
    return statistics.median(r["time"] for r in rows), statistics.median(r["data_time"] for r in rows)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--n-train", type=int, default=160)
    ap.add_argument("--batch", type=int, default=4)
    args = ap.parse_args()
    py = os.environ.get("HOOFENV_STACK_PYTHON")
    if not py:
        sys.exit("set HOOFENV_STACK_PYTHON to the stack's python")
    from hoofenv.data.synthetic import generate

    tmp = Path(tempfile.mkdtemp(prefix="bench_train."))
    data = generate(tmp / "data", n_train=args.n_train, n_val=4, seed=1, image_size=(256, 256))
    hoof, bare = [], []
    config = None
    for r in range(args.rounds):
        work = tmp / f"hoofenv{r}"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hoofenv", "train", "--data", str(data), "--python", py,
                        "--work-dir", str(work), "--epochs", "1", "--batch-size", str(args.batch),
                        "--pretrained", "none", "--skip-verify", "--val-interval", "1"],
                       check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        hoof.append((*scalars(work), time.perf_counter() - t0))
        config = work / "config.py"
        bwork = tmp / f"bare{r}"
        t0 = time.perf_counter()
        subprocess.run([py, "-c", BARE, str(config), str(bwork)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        bare.append((*scalars(bwork), time.perf_counter() - t0))
        print(f"round {r + 1}: hoofenv {hoof[-1][0]:.3f} s/iter (data {hoof[-1][1]:.3f}), "
              f"bare {bare[-1][0]:.3f} s/iter (data {bare[-1][1]:.3f})", flush=True)
    from hoofenv.train.config import parse_params

    params = parse_params(config.read_text())
    h_it = statistics.median(h[0] for h in hoof)
    b_it = statistics.median(b[0] for b in bare)
    h_dt = statistics.median(h[1] for h in hoof)
    iters = args.n_train // args.batch
    print()
    print(f"RTMPose-t, input 256x256, batch {args.batch}, workers {params['num_workers']} (auto), "
          f"{iters} iterations per run, {args.rounds} rounds alternating")
    print("| what | s/iter (median) | data_time s/iter | whole process s |")
    print("|---|---|---|---|")
    print(f"| hoofenv train | {h_it:.3f} | {h_dt:.3f} | {statistics.median(h[2] for h in hoof):.1f} |")
    print(f"| bare MMEngine Runner, same config.py | {b_it:.3f} | {statistics.median(b[1] for b in bare):.3f} | "
          f"{statistics.median(b[2] for b in bare):.1f} |")
    print(f"\nratio hoofenv / bare: {h_it / b_it:.3f}; data_time share (hoofenv): {h_dt / h_it:.1%}")
    print(f"(work dirs under {tmp})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
