"""What both predict runners (PyTorch: predict_runner.py; ONNX: onnx_runner.py) share, standard library only: the
boxes of --bboxes, the COCO results record, the file they write, the angle request and the per-image event.

A runner writes DIR/predictions.json (COCO results: image_id, file_name, category_id, keypoints [x, y, score]*K,
score, bbox [x, y, w, h]) and DIR/NAME.png, and reports each picture with an `image` event (size, boxes, seconds)
and the end with `predicted` (keypoint names, skeleton, category, median seconds per picture after the first).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from . import angles, protocol

MIN_POINT_SCORE = 0.0  # SimCC marks a keypoint it could not place with a score <= 0 (location -1)


class BoxesError(ValueError):
    """--bboxes cannot be used; the message names the file, the entry and what is wrong."""


def _box(value, where: str) -> list[float]:
    ok = isinstance(value, list) and len(value) == 4 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    if not ok or value[2] <= 0 or value[3] <= 0:
        raise BoxesError(f"{where}: bbox {value!r} is not [x, y, w, h] with w > 0 and h > 0")
    return [float(v) for v in value]


def load_boxes(path: str | None) -> dict[str, list[list[float]]]:
    """--bboxes: a COCO file (images + annotations) or a list of {file_name or image_id, bbox: [x, y, w, h]};
    boxes by picture file name. Raises BoxesError for a file that is not that."""
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise BoxesError(f"{path}: not readable JSON ({exc})") from None
    by_name: dict[str, list[list[float]]] = {}
    try:
        if isinstance(data, dict) and "annotations" in data:
            names = {i["id"]: i["file_name"] for i in data.get("images", [])}
            for n, ann in enumerate(data["annotations"]):
                if ann.get("bbox"):
                    key = os.path.basename(str(names.get(ann.get("image_id"), "")))
                    by_name.setdefault(key, []).append(_box(ann["bbox"], f"{path}: annotations[{n}]"))
        elif isinstance(data, list):
            for n, rec in enumerate(data):
                key = os.path.basename(str(rec.get("file_name", rec.get("image_id", ""))))
                by_name.setdefault(key, []).append(_box(rec.get("bbox"), f"{path}: [{n}]"))
        else:
            raise BoxesError(f"{path}: expected a COCO file with annotations or a list of {{file_name, bbox}}")
    except (KeyError, TypeError, AttributeError) as exc:
        raise BoxesError(f"{path}: an entry lacks {exc} or is not an object") from None
    return by_name


def boxes_xyxy(boxes: dict, image: str, width: int, height: int) -> list[list[float]]:
    """The picture's boxes as [x0, y0, x1, y1]; the whole picture when --bboxes names none for it."""
    given = boxes.get(os.path.basename(image))
    if given:
        return [[float(x), float(y), float(x) + float(w), float(y) + float(h)] for x, y, w, h in given]
    return [[0.0, 0.0, float(width), float(height)]]


def record(image_id: int, image: str, kps, scores, box) -> dict:
    """One COCO results entry; `kps` K x 2 and `scores` K (any sequence of numbers), `box` [x0, y0, x1, y1]."""
    flat = []
    for (x, y), s in zip(kps, scores):
        flat += [round(float(x), 2), round(float(y), 2), round(float(s), 4)]
    values = [float(s) for s in scores]
    return dict(image_id=image_id, file_name=os.path.basename(image), category_id=1, keypoints=flat,
                score=round(sum(values) / len(values), 4) if values else 0.0,
                bbox=[float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])])


def angle_points(rec: dict) -> list:
    """The points of a results entry that angles.measure may use: a point SimCC could not place is missing."""
    return angles.from_coco_keypoints(rec["keypoints"], min_score=MIN_POINT_SCORE)


def boxes_or_exit(path: str | None) -> dict[str, list[list[float]]]:
    """load_boxes, or a `bad-boxes` event and EXIT_USAGE."""
    try:
        return load_boxes(path)
    except BoxesError as exc:
        protocol.emit("bad-boxes", message=str(exc))
        raise SystemExit(protocol.EXIT_USAGE) from None


def angle_roles(names: list[str], spec: str | None) -> dict[str, int] | None:
    """--angles SPEC (a JSON mapping or "auto") -> {role: index}; None without --angles. A mapping that does not
    fit the model's keypoints ends the program with EXIT_USAGE and an `angles-unfit` event."""
    if spec is None:
        return None
    try:
        mapping = None if spec == "auto" else json.loads(spec)
        return angles.resolve(names, mapping)
    except (angles.AngleSpecError, ValueError) as exc:
        protocol.emit("angles-unfit", message=str(exc), keypoints=names)
        raise SystemExit(protocol.EXIT_USAGE) from None


def write_predictions(out: Path, results: list[dict]) -> Path:
    path = out / "predictions.json"
    tmp = out / ".predictions.json.tmp"
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, path)
    return path


def median_after_first(seconds: list[float]) -> float | None:
    """The warm per-picture time: the first picture pays for lazy initialisation."""
    warm = sorted(seconds[1:] or seconds)
    return round(warm[len(warm) // 2], 5) if warm else None
