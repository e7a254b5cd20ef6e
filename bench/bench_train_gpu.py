"""GPU training throughput: `hoofenv train` vs a bare MMEngine Runner on the same rendered config, per RTMPose size,
with and without --amp, alternating hoofenv and bare in each round (A B A B), in one run.

    python bench/bench_train_gpu.py --python ENV/bin/python [--models t,s,m] [--amp both] [--rounds 2]
        [--n-train 1024] [--batch 64] [--epochs 3] [--input 256] [--json OUT.json] [--budget-s 300]

Synthetic hooves (bench_train.py's generator and timing: MMEngine's own iteration time from vis_data/scalars.json,
first logged window dropped, median of the rest). images/s = batch / s_per_iter. --budget-s stops starting new
measurements when the time is spent (the rows measured so far are kept and printed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_train import BARE, scalars  # noqa: E402


def one(py: str, data: Path, work: Path, model: str, amp: bool, batch: int, size: int,
        epochs: int) -> tuple[float, float, float]:
    """(s/iter hoofenv, s/iter bare, data_time share hoofenv) for one round."""
    cmd = [sys.executable, "-m", "hoofenv", "train", "--data", str(data), "--python", py, "--work-dir",
           str(work / "hoofenv"), "--epochs", str(epochs), "--batch-size", str(batch), "--model", model,
           "--input-size", f"{size}x{size}", "--pretrained", "none", "--skip-verify", "--val-interval", str(epochs)]
    cmd += ["--amp"] if amp else []
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    h_it, h_dt = scalars(work / "hoofenv")
    subprocess.run([py, "-c", BARE, str(work / "hoofenv" / "config.py"), str(work / "bare")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    b_it, _ = scalars(work / "bare")
    return h_it, b_it, h_dt / h_it


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True)
    ap.add_argument("--models", default="t,s,m")
    ap.add_argument("--amp", choices=["off", "on", "both"], default="both")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--n-train", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3, help="MMEngine logs every 10 iterations; the first is dropped")
    ap.add_argument("--input", type=int, default=256)
    ap.add_argument("--budget-s", type=float, default=1e9)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    from hoofenv.data.synthetic import generate

    start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_gpu."))
    data = generate(tmp / "data", n_train=args.n_train, n_val=8, seed=1, image_size=(args.input, args.input))
    amps = {"off": [False], "on": [True], "both": [False, True]}[args.amp]
    rows = []
    for model in args.models.split(","):
        for amp in amps:
            runs = []
            for r in range(args.rounds):
                if time.monotonic() - start > args.budget_s:
                    break
                runs.append(one(args.python, data, tmp / f"{model}-{amp}-{r}", model, amp, args.batch, args.input,
                                args.epochs))
                print(f"rtmpose-{model} amp={amp} round {r + 1}: hoofenv {runs[-1][0]:.4f} s/iter, bare "
                      f"{runs[-1][1]:.4f} s/iter", flush=True)
            if runs:
                h, b = statistics.median(x[0] for x in runs), statistics.median(x[1] for x in runs)
                rows.append({"model": f"rtmpose-{model}", "amp": amp, "batch": args.batch, "input": args.input,
                             "iters": args.epochs * (args.n_train // args.batch), "rounds": len(runs), "hoofenv_s_iter": h,
                             "bare_s_iter": b, "ratio": h / b, "images_per_s": args.batch / h,
                             "ratios": [x[0] / x[1] for x in runs],
                             "data_time_share": statistics.median(x[2] for x in runs)})
    print("\n| model | amp | batch | hoofenv s/iter | bare s/iter | ratio (per round) | images/s | data_time |")
    print("|---|---|---:|---:|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {'on' if r['amp'] else 'off'} | {r['batch']} | {r['hoofenv_s_iter']:.4f} | "
              f"{r['bare_s_iter']:.4f} | {r['ratio']:.3f} ({', '.join(f'{x:.3f}' for x in r['ratios'])}) | "
              f"{r['images_per_s']:.0f} | {r['data_time_share']:.0%} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
