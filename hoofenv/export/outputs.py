"""What predictions turn into, from DIR/predictions.json and the runner's report (train/predict.PredictRun):

- angles.csv and angles.json: per instance the hoof and pastern angles, their difference and the HPA class
  (hoofenv/inenv/angles.py, the module the validation metric uses too);
- a CVAT "COCO Keypoints 1.0" annotation file (.json, or a .zip holding annotations/person_keypoints_default.json)
  for the same pictures: same file names and sizes, the model's category, keypoint names and skeleton (1-based, as
  CVAT writes it), the boxes, visibility from the keypoint score (>= visible_score: 2, else 1 "occluded", drawn
  dashed in CVAT as a point to check; a point SimCC could not place: 0);
- review.csv: the pictures ordered by their lowest keypoint score, the ones worth a person's time first.
Every file is written whole or not at all (files.atomic_write_text; the zip through a temporary file).
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from hoofenv.errors import HoofenvError, UsageError
from hoofenv.files import atomic_write_text
from hoofenv.inenv import angles

if TYPE_CHECKING:
    from hoofenv.train.predict import PredictRun

VISIBLE_SCORE = 0.3  # RTMPose's usual keypoint threshold (mmpose demo --kpt-thr)
CVAT_SUBSET = "default"  # CVAT names the annotation file of a task without subsets person_keypoints_default.json


def load_predictions(run: PredictRun) -> list[dict]:
    path = run.out / "predictions.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise HoofenvError(f"cannot read {path}", causes=[str(exc)], code="predict-failed") from exc


# ------------------------------------------------------------------------------------------------------ angles
def angle_records(run: PredictRun, preds: list[dict], mapping: dict | None) -> tuple[dict, list[dict]]:
    """({role: keypoint name}, one record per instance)."""
    try:
        names = angles.names_for(run.keypoints, mapping)
    except angles.AngleSpecError as exc:
        raise UsageError(f"--angle-points: {exc}", code="angles-unfit") from None
    roles = angles.resolve(run.keypoints, mapping)
    by_id = {img["image_id"]: img for img in run.images}
    rows, seen = [], {}
    for rec in preds:
        seen[rec["image_id"]] = seen.get(rec["image_id"], 0) + 1
        pts = angles.from_coco_keypoints(rec["keypoints"], min_score=0.0)
        scores = [rec["keypoints"][3 * i + 2] for i in sorted(set(roles.values()))]
        found = angles.rounded(angles.measure(pts, roles))
        rows.append({"image_id": rec["image_id"], "file_name": rec["file_name"],
                     "path": by_id.get(rec["image_id"], {}).get("path", rec["file_name"]),
                     "instance": seen[rec["image_id"]],
                     **{k: found[k] for k in angles.FIELDS}, "hpa_words": angles.HPA_WORDS.get(found["hpa"], ""),
                     "min_score": round(min(scores), 4) if scores else None})
    return names, rows


def write_angles(run: PredictRun, preds: list[dict], mapping: dict | None) -> tuple[Path, Path, list[dict]]:
    names, rows = angle_records(run, preds, mapping)
    columns = ["image_id", "file_name", "instance", *angles.FIELDS, "hpa_words", "min_score", "path"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_path = atomic_write_text(run.out / "angles.csv", buf.getvalue())
    doc = {"definitions": "docs/angles.md", "points": names, "aligned_within_deg": angles.ALIGNED_DEG,
           "instances": rows}
    json_path = atomic_write_text(run.out / "angles.json", json.dumps(doc, indent=1) + "\n")
    return csv_path, json_path, rows


# -------------------------------------------------------------------------------------------------------- CVAT
def _visibility(score: float, visible_score: float) -> int:
    if score <= 0.0:
        return 0
    return 2 if score >= visible_score else 1


def cvat_coco(run: PredictRun, preds: list[dict], visible_score: float = VISIBLE_SCORE) -> dict:
    """The predictions as a CVAT "COCO Keypoints 1.0" export of the same pictures."""
    names = [os.path.basename(str(img["path"])) for img in run.images]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UsageError(f"{len(repeated)} picture name(s) occur twice: {', '.join(repeated[:5])}",
                         causes=["CVAT matches pre-annotations to a task's pictures by file name"],
                         hint="predict each folder on its own (one CVAT task each)")
    images = [{"id": img["image_id"], "width": img["width"], "height": img["height"],
               "file_name": os.path.basename(str(img["path"])), "license": 0, "flickr_url": "", "coco_url": "",
               "date_captured": 0} for img in run.images]
    annotations = []
    for n, rec in enumerate(preds, start=1):
        flat = []
        for j in range(0, len(rec["keypoints"]), 3):
            x, y, s = rec["keypoints"][j:j + 3]
            v = _visibility(s, visible_score)
            flat += [x, y, v] if v else [0, 0, 0]
        x, y, w, h = (round(float(b), 2) for b in rec["bbox"])
        annotations.append({"id": n, "image_id": rec["image_id"], "category_id": 1, "segmentation": [],
                            "area": round(w * h, 2), "bbox": [x, y, w, h], "iscrowd": 0,
                            "attributes": {"occluded": False}, "keypoints": flat,
                            "num_keypoints": sum(1 for v in flat[2::3] if v > 0)})
    category = {"id": 1, "name": run.category, "supercategory": "", "keypoints": list(run.keypoints),
                "skeleton": [[a + 1, b + 1] for a, b in run.skeleton]}
    return {"licenses": [{"name": "", "id": 0, "url": ""}],
            "info": {"contributor": "hoofenv predict", "date_created": "", "description": "model pre-annotations",
                     "url": "", "version": "", "year": ""},
            "categories": [category], "images": images, "annotations": annotations}


def write_cvat(run: PredictRun, preds: list[dict], dest: str, visible_score: float = VISIBLE_SCORE) -> Path:
    """DEST.json: the annotation file; DEST.zip: a zip CVAT imports as "COCO Keypoints 1.0"."""
    path = Path(dest).expanduser().resolve()
    if path.suffix not in (".json", ".zip"):
        raise UsageError(f"--cvat {dest}: name a .zip or a .json file", hint=f"--cvat {path.with_suffix('.zip')}")
    text = json.dumps(cvat_coco(run, preds, visible_score), indent=1) + "\n"
    if path.suffix == ".json":
        return atomic_write_text(path, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"annotations/person_keypoints_{CVAT_SUBSET}.json", text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def review_rows(run: PredictRun, preds: list[dict]) -> list[dict]:
    """One row per picture, lowest keypoint score first (a picture without an instance comes first of all)."""
    by_image: dict[int, list[dict]] = {}
    for rec in preds:
        by_image.setdefault(rec["image_id"], []).append(rec)
    rows = []
    for img in run.images:
        recs = by_image.get(img["image_id"], [])
        worst = (float("-inf"), "(no instance)")
        if recs:
            worst = min((rec["keypoints"][j + 2], run.keypoints[j // 3] if j // 3 < len(run.keypoints)
                         else str(j // 3)) for rec in recs for j in range(0, len(rec["keypoints"]), 3))
        rows.append({"file_name": os.path.basename(str(img["path"])), "min_score": worst[0],
                     "weakest_keypoint": worst[1],
                     "mean_score": round(sum(r["score"] for r in recs) / len(recs), 4) if recs else None,
                     "instances": len(recs), "path": img["path"]})
    rows.sort(key=lambda r: (r["min_score"], r["file_name"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
        row["min_score"] = None if row["min_score"] == float("-inf") else round(row["min_score"], 4)
    return rows


def write_review(run: PredictRun, preds: list[dict]) -> tuple[Path, list[dict]]:
    rows = review_rows(run, preds)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["rank", "file_name", "min_score", "weakest_keypoint", "mean_score",
                                             "instances", "path"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(run.out / "review.csv", buf.getvalue()), rows
