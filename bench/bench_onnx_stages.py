"""Where `hoofenv predict --onnx`'s per-picture time goes: the runner's own stages timed apart, in the runtime venv
(numpy, onnxruntime, Pillow), on the same pictures and in the same order as predict_image runs them:

decode (open, EXIF turn, RGB), array (the picture as numpy), frame (centre, scale, warp matrix), warp, normalise,
session.run, decode SimCC (argmax and back to the picture), records (COCO entries, angles), draw, save PNG.

Usage:
  ORT/bin/python bench/bench_onnx_stages.py MODEL.onnx IMAGE... [--repeat 20] [--threads N]
Prints the median milliseconds of each stage over repeat x pictures (the first pass over the pictures not counted),
their sum, and what predict_image's timed part (decode .. records) comes to.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "hoofenv" / "inenv"
sys.path.insert(0, str(HERE))
import launch  # noqa: E402

launch.load_package()
sys.path[:] = [p for p in sys.path if p != str(HERE)]
import importlib  # noqa: E402

run = importlib.import_module("hoofenv_inenv.onnx_runner")
drawing = importlib.import_module("hoofenv_inenv.drawing")
results = importlib.import_module("hoofenv_inenv.results")

STAGES = ("decode", "array", "frame", "warp", "normalise", "session.run", "decode SimCC", "records", "draw", "save")
TIMED = STAGES[:8]  # what predict_image's `seconds` covers


def one(session, meta, path, roles, out, np, t):
    def lap(name, start):
        now = time.perf_counter()
        t[name].append(now - start)
        return now

    s = time.perf_counter()
    image = run.open_rgb(path)
    s = lap("decode", s)
    rgb = np.asarray(image)
    s = lap("array", s)
    xyxy = results.boxes_xyxy({}, path, *image.size)
    frames = [run.center_scale(b, meta, np) for b in xyxy]
    size = meta["input_size"]
    mats = [run.warp_matrix(c, sc, size, np) for c, sc in frames]
    s = lap("frame", s)
    warped = [run.warp_like_cv2(rgb, m, size, np) for m in mats]
    s = lap("warp", s)
    batch = np.concatenate([run.normalise(w, meta, np) for w in warped])
    s = lap("normalise", s)
    sx, sy = session.run(None, {session.get_inputs()[0].name: batch})
    s = lap("session.run", s)
    locs, scores = run.decode(sx, sy, meta, np)
    s = lap("decode SimCC", s)
    insize = np.asarray(size)
    instances = []
    for n, (centre, scale) in enumerate(frames):
        kps = locs[n] / insize * scale + centre - 0.5 * scale
        rec = results.record(1, path, kps.tolist(), scores[n].tolist(), xyxy[n])
        pts = results.angle_points(rec)
        instances.append(dict(kps=list(zip(rec["keypoints"][0::3], rec["keypoints"][1::3])), box=xyxy[n],
                              points=pts, angles=drawing.measured(pts, roles)))
    s = lap("records", s)
    drawing.draw(image, instances, meta["keypoints"], meta.get("skeleton", []), roles)
    s = lap("draw", s)
    drawing.save(image, out / (Path(path).stem + ".png"))
    lap("save", s)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("images", nargs="+")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    import numpy as np
    import onnxruntime as ort

    session, meta = run.open_session(ort, a.model, a.threads)
    roles = results.angle_roles(meta["keypoints"], "auto")
    out = Path(tempfile.mkdtemp(prefix="hoofbench-stages-"))
    t = {k: [] for k in STAGES}
    for path in a.images:  # warm
        one(session, meta, path, roles, out, np, {k: [] for k in STAGES})
    for _ in range(a.repeat):
        for path in a.images:
            one(session, meta, path, roles, out, np, t)
    med = {k: statistics.median(v) * 1000 for k, v in t.items()}
    print(f"{len(a.images)} pictures x {a.repeat}, 1-minute load average {os.getloadavg()[0]:.1f}, "
          f"input {meta['input_size']}")
    print("| stage | median ms |\n|---|---:|")
    for k in STAGES:
        print(f"| {k} | {med[k]:.2f} |")
    print(f"| timed part (decode .. records) | {sum(med[k] for k in TIMED):.2f} |")


if __name__ == "__main__":
    main()
