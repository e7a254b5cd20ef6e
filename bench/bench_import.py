"""Bench: `hoofenv data import` of a 10,000-picture CVAT export zip: time and peak memory, against the floor of the
same run, extracting the same zip with Python's zipfile (`extractall`), interleaved.

    python bench/bench_import.py [--images 10000] [--runs 3]

The export is built once in a temporary folder: 24 distinct synthetic 96x96 JPEGs reused under 10,000 names in
40 task folders, one skeleton per picture, every third with CVAT's flat bbox (so `data fix` repairs 3,334), zipped
as CVAT does. Each timed command runs in a wrapper process that reports its child's peak RSS. The import reads only
picture headers: a run in a fresh interpreter also reports whether Pillow or OpenCV were imported (they must not be).
Figures go to docs/PERFORMANCE.md under `## data import`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WRAPPER = ("import resource, subprocess, sys, time\n"
           "t = time.perf_counter(); p = subprocess.run(sys.argv[1:], capture_output=True)\n"
           "took = time.perf_counter() - t\n"
           "sys.stderr.write(p.stderr.decode()[-2000:]) if p.returncode else None\n"
           "print(p.returncode, took, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
FLOOR = "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])"
NO_DECODE = ("import sys; from hoofenv.data.imports import import_exports; import_exports([sys.argv[1]], sys.argv[2]);"
             "print(sorted(m for m in ('PIL', 'cv2', 'numpy') if m in sys.modules))")


def build(root: Path, n: int) -> Path:
    from tests.data.exports import subset_json

    data, pictures = subset_json("default", 24, seed=0)
    blobs = []
    for _, img in pictures:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90)
        blobs.append(buf.getvalue())
    images, anns = [], []
    for i in range(n):
        k = i % 24
        image = dict(data["images"][k], id=i + 1, file_name=f"horse{i % 40:02d}/frame_{i:06d}.jpg")
        ann = dict(data["annotations"][k], id=i + 1, image_id=i + 1, bbox=list(data["annotations"][k]["bbox"]))
        if i % 3 == 0:
            ann["bbox"][3], ann["area"] = 0.0, 0.0
        images.append(image)
        anns.append(ann)
    data.update(images=images, annotations=anns)
    path = root / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("annotations/person_keypoints_default.json", json.dumps(data))
        for i, img in enumerate(images):
            zf.writestr(f"images/default/{img['file_name']}", blobs[i % 24])
    return path


def measured(cmd: list[str]) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True, cwd=REPO)
    rc, took, rss = out.stdout.split()
    if rc != "0":
        raise SystemExit(f"{cmd} exited {rc}: {out.stderr}")
    return float(took), int(rss) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hoofenv-bench-import-") as tmp:
        root = Path(tmp)
        export = build(root, args.images)
        rows = {"floor": [], "import": []}
        for r in range(args.runs):
            for name, cmd in (("floor", [sys.executable, "-c", FLOOR, str(export), str(root / f"x{r}")]),
                              ("import", [sys.executable, "-m", "hoofenv", "data", "import", str(export), "-o",
                                          str(root / f"ds{r}"), "--json"])):
                rows[name].append(measured(cmd))
            shutil.rmtree(root / f"x{r}")
        report = json.loads((root / "ds0" / "hoofenv-import.json").read_text())["report"]
        modules = subprocess.run([sys.executable, "-c", NO_DECODE, str(export), str(root / "nd")], cwd=REPO,
                                 capture_output=True, text=True, check=True).stdout.strip()
        size = export.stat().st_size / 2**20
    print(f"machine: {os.uname().machine}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    print(f"export: {args.images} pictures, zip {size:.1f} MiB; repaired: "
          + ", ".join(f"{c['code']} {c['count']}" for c in report["repaired"]))
    for name, label in (("floor", "zipfile extractall (floor)"), ("import", "hoofenv data import")):
        secs = [t for t, _ in rows[name]]
        rss = [m for _, m in rows[name]]
        print(f"{label}: median {statistics.median(secs):.2f} s (runs: {', '.join(f'{x:.2f}' for x in secs)}), "
              f"peak RSS {max(rss):.0f} MiB")
    print("per-round ratio import / floor: "
          + ", ".join(f"{b[0] / a[0]:.2f}" for a, b in zip(rows["floor"], rows["import"])))
    print(f"modules a fresh import process loaded among PIL, cv2, numpy: {modules}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
