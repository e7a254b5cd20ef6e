"""Benchmark `hoofenv data check` on a generated CVAT-like export (10,000 images, 20,000 annotations).

Times the whole process (interpreter start included), median of --runs, against the plain alternative measured in
the same run: `json.load` of the same file, and xtcocotools/pycocotools `COCO(F)` when a python that has it is
given (--coco-python). Peak memory per process comes from wait4's rusage. A half-size export shows whether memory
grows linearly with the file.

    python bench/bench_data_check.py [--runs 5] [--coco-python /path/to/python]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KEYPOINTS = ["toe", "heel", "hoof_pastern_junction", "pastern_axis"]


def generate(n_images: int, n_anns: int, seed: int = 0) -> dict:
    """Deterministic CVAT-shaped export; about 2% of annotations carry one of CVAT's quirks."""
    rnd = random.Random(seed)
    images = [{"id": i, "width": 1920, "height": 1080, "file_name": f"task_{i // 500}/frame_{i:06d}.png",
               "license": 0, "flickr_url": "", "coco_url": "", "date_captured": 0} for i in range(1, n_images + 1)]
    anns = []
    for a in range(1, n_anns + 1):
        iid = (a - 1) % n_images + 1
        x, y = rnd.uniform(50, 1500), rnd.uniform(50, 700)
        kps = []
        for _ in KEYPOINTS:
            v = rnd.choice((2, 2, 2, 1, 0))
            kps += [round(x + rnd.uniform(0, 300), 2), round(y + rnd.uniform(0, 300), 2), v]
        bbox = [round(x - 5, 2), round(y - 5, 2), 310.0, 310.0]
        quirk = rnd.random()
        if quirk < 0.01:
            bbox[3] = 0.0
        ann = {"id": a, "image_id": iid, "category_id": 2, "segmentation": [], "area": bbox[2] * bbox[3],
               "bbox": bbox, "iscrowd": 0, "attributes": {"occluded": False, "keyframe": True},
               "keypoints": kps, "num_keypoints": sum(1 for v in kps[2::3] if v)}
        anns.append(ann)
    return {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "date_created": "", "description": "", "url": "", "version": "", "year": ""},
        "categories": [{"id": 1, "name": "box", "supercategory": "", "keypoints": [], "skeleton": []},
                       {"id": 2, "name": "hoof", "supercategory": "", "keypoints": KEYPOINTS,
                        "skeleton": [[2, 1], [1, 3], [2, 3], [3, 4]]}],
        "images": images,
        "annotations": anns,
    }


def png_header(path: Path, w: int, h: int) -> None:
    """Signature and IHDR only: enough for a header reader, and 10,000 of them cost ~0.5 MB."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk)


def hoofenv_cmd() -> list[str]:
    return [sys.executable, "-m", "hoofenv"]


def measure(cmd: list[str], runs: int) -> tuple[float, float]:
    """(median wall seconds, max peak RSS in MiB) of CMD as a whole process."""
    times, peaks = [], []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        times.append(time.perf_counter() - start)
        peaks.append(usage.ru_maxrss / 1024)
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):
            raise SystemExit(f"{cmd} exited {code}: {proc.stderr.read().decode()}")
    return statistics.median(times), max(peaks)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--annotations", type=int, default=20_000)
    ap.add_argument("--coco-python", help="a python with xtcocotools or pycocotools, for the COCO() baseline")
    ap.add_argument("--generate", metavar="PATH", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate:
        Path(args.generate).write_text(json.dumps(generate(args.images, args.annotations)))
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="hoofenv-bench-"))
    full, half = tmp / "full.json", tmp / "half.json"
    # Generated in a child: a forked child's peak RSS counts the parent's pages, so this process stays small.
    for path, n_img, n_ann in ((full, args.images, args.annotations), (half, args.images // 2, args.annotations // 2)):
        subprocess.run([sys.executable, __file__, "--generate", str(path), "--images", str(n_img),
                        "--annotations", str(n_ann)], check=True)
    for i in range(1, args.images + 1):
        png_header(tmp / "images" / f"task_{i // 500}/frame_{i:06d}.png", 1920, 1080)

    hoof = hoofenv_cmd()
    rows = [
        ("json.load (baseline)", [sys.executable, "-c", "import json,sys; json.load(open(sys.argv[1]))", str(full)]),
        ("hoofenv data check", hoof + ["data", "check", str(full), "--json"]),
        ("hoofenv data check --images", hoof + ["data", "check", str(full), "--images", str(tmp / "images"), "--json"]),
        ("hoofenv data check (half size)", hoof + ["data", "check", str(half), "--json"]),
    ]
    if args.coco_python:
        rows.insert(1, ("COCO(F) (baseline)", [args.coco_python, "-c",
                        "import sys\ntry:\n from xtcocotools.coco import COCO\nexcept ImportError:\n"
                        " from pycocotools.coco import COCO\nCOCO(sys.argv[1])", str(full)]))
    results = {}
    for name, cmd in rows:
        results[name] = measure(cmd, args.runs)
    base = results["json.load (baseline)"][0]
    mb = {"full": full.stat().st_size / 2**20, "half": half.stat().st_size / 2**20}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"export: {args.images} images, {args.annotations} annotations, {mb['full']:.1f} MiB "
          f"(half: {mb['half']:.1f} MiB); median of {args.runs} runs, whole process")
    print(f"{'command':34} {'median s':>9} {'x json.load':>12} {'peak MiB':>9}")
    for name, (t, peak) in results.items():
        print(f"{name:34} {t:9.3f} {t / base:12.2f} {peak:9.1f}")
    full_peak, half_peak = results["hoofenv data check"][1], results["hoofenv data check (half size)"][1]
    print(f"memory: {full_peak - half_peak:.1f} MiB more for {mb['full'] - mb['half']:.1f} MiB more JSON "
          f"({(full_peak - half_peak) / (mb['full'] - mb['half']):.1f} MiB per MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
