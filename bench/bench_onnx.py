"""`hoofenv predict --onnx` (onnxruntime, numpy, Pillow; no torch) against `hoofenv predict` (torch + MMPose in the
training env) on the same pictures and boxes, in the same run, interleaved (onnx, torch, onnx, torch, ...):

- whole process: the wall time of the command, interpreter starts and imports included;
- per picture, warm: the runner's own median seconds per picture after the first (the `predicted` event);
- ONNX process start: the wall time of `hoofenv predict --onnx` on one picture minus that picture's own seconds;
- angles: microseconds per instance of hoofenv/inenv/angles.measure, in this process.

`--torch-env OMP_WAIT_POLICY=PASSIVE` runs the torch arm with that variable (repeatable). The ONNX runner's threads
wait without spinning; torch's OpenMP threads spin by default, and on a loaded machine that alone makes the torch
path 10-30x slower per picture (docs/PERFORMANCE.md): with PASSIVE both arms wait alike and the ratio measures the
work, not the scheduler. Without it the torch arm is `hoofenv predict` exactly as it ships.

Usage:
  .venv/bin/python bench/bench_onnx.py --ckpt WORK/best.pth --onnx MODEL.onnx --stack-python ENV/bin/python \
      --ort-python ORT/bin/python --images DIR [--bboxes ANN.json] [--n 8] [--rounds 3] [--trust-checkpoint] \
      [--torch-env KEY=VALUE ...]
MODEL.onnx from `hoofenv export WORK/best.pth --onnx MODEL.onnx`; ORT a venv with numpy, onnxruntime, Pillow.
Prints a Markdown table (medians of the rounds and the median of the per-round ratios torch / onnx).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, dict]:
    wall, _, out = timed_cpu(cmd, env)
    return wall, out


def timed_cpu(cmd: list[str], env: dict | None = None) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of the command and its children, its JSON). On a shared machine the CPU seconds
    are the better estimate of an idle machine's wall time for single-threaded start-up work."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(proc.stdout)


def angles_us() -> float:
    from hoofenv.inenv import angles

    roles = angles.resolve(["toe", "heel", "hoof_pastern_junction", "pastern_axis"])
    pts = [(240.5, 310.2), (150.1, 300.7), (205.3, 230.9), (160.8, 170.4)]
    n = 20000
    return min(timeit.repeat(lambda: angles.measure(pts, roles), number=n, repeat=5)) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--stack-python", required=True)
    ap.add_argument("--ort-python", required=True)
    ap.add_argument("--images", required=True, help="a folder: its val_* pictures (else all *.jpg/*.png)")
    ap.add_argument("--bboxes")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--trust-checkpoint", action="store_true", help="a checkpoint trained before its manifest existed")
    ap.add_argument("--torch-env", action="append", default=[], metavar="KEY=VALUE", help="for the torch arm only")
    a = ap.parse_args()
    torch_env = dict(kv.split("=", 1) for kv in a.torch_env)
    folder = Path(a.images)
    images = sorted(folder.glob("val_*")) or sorted([*folder.glob("*.jpg"), *folder.glob("*.png")])
    images = [str(p) for p in images[:a.n]]
    boxes = ["--bboxes", a.bboxes] if a.bboxes else []
    tmp = Path(tempfile.mkdtemp(prefix="hoofbench-onnx-"))
    hoofenv = [sys.executable, "-m", "hoofenv", "predict"]
    onnx = hoofenv + ["--onnx", a.onnx, *images, *boxes, "--python", a.ort_python, "--angles", "--json", "-o"]
    onnx1 = hoofenv + ["--onnx", a.onnx, images[0], *boxes, "--python", a.ort_python, "--json", "-o"]
    trust = ["--trust-checkpoint"] if a.trust_checkpoint else []
    torch = hoofenv + [a.ckpt, *images, *boxes, "--python", a.stack_python, *trust, "--angles", "--json", "-o"]
    timed(onnx + [str(tmp / "warm-o")])  # warm the file cache, not counted
    timed(torch + [str(tmp / "warm-t")], torch_env)
    rows = {k: [] for k in ("onnx_wall", "torch_wall", "onnx_img", "torch_img", "onnx_start", "onnx_start_cpu")}
    for r in range(a.rounds):
        wall, out = timed(onnx + [str(tmp / f"o{r}")])
        rows["onnx_wall"].append(wall)
        rows["onnx_img"].append(out["seconds_per_image"])
        wall, out = timed(torch + [str(tmp / f"t{r}")], torch_env)
        rows["torch_wall"].append(wall)
        rows["torch_img"].append(out["seconds_per_image"])
        wall, cpu, out = timed_cpu(onnx1 + [str(tmp / f"s{r}")])
        one = json.loads((tmp / f"s{r}" / "predictions.json").read_text())
        assert one, "no instance"
        rows["onnx_start"].append(wall - (out["seconds_per_image"] or 0.0))
        rows["onnx_start_cpu"].append(cpu - (out["seconds_per_image"] or 0.0))
        print(f"round {r + 1}: onnx {rows['onnx_wall'][-1]:.2f} s, torch {rows['torch_wall'][-1]:.2f} s, "
              f"per image {rows['onnx_img'][-1] * 1000:.1f} / {rows['torch_img'][-1] * 1000:.1f} ms", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in rows.items()}
    wall_ratio = statistics.median(t / o for t, o in zip(rows["torch_wall"], rows["onnx_wall"]))
    img_ratio = statistics.median(t / o for t, o in zip(rows["torch_img"], rows["onnx_img"]))
    load = os.getloadavg()[0]
    print(f"\n{len(images)} pictures, {a.rounds} interleaved rounds, 1-minute load average {load:.1f} "
          f"on {os.cpu_count()} cores; torch arm environment: {torch_env or 'as it ships'}\n")
    print("| what | onnx (onnxruntime) | torch (MMPose) | torch / onnx (median of rounds) |")
    print("|---|---:|---:|---:|")
    print(f"| whole process, {len(images)} pictures, --angles | {med['onnx_wall']:.2f} s | {med['torch_wall']:.2f} s "
          f"| {wall_ratio:.1f} |")
    print(f"| per picture, warm | {med['onnx_img'] * 1000:.1f} ms | {med['torch_img'] * 1000:.1f} ms "
          f"| {img_ratio:.1f} |")
    print(f"| process start (one picture's wall minus its own time) | {med['onnx_start']:.2f} s | | |")
    print(f"| process start, CPU seconds (hoofenv + runner) | {med['onnx_start_cpu']:.2f} s | | |")
    print(f"| angles.measure per instance | {angles_us():.1f} µs | | |")


if __name__ == "__main__":
    main()
