"""Loading a COCO keypoints file with errors a person can act on, and typed access to its records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hoofenv.errors import HoofenvError

TOP_LEVEL = ("images", "annotations", "categories")


def load(path: str | Path) -> dict:
    """Parse ANN.json; a broken file names the line and column, as an editor would show it."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise HoofenvError(
            f"annotation file not found: {path}",
            hint="export the task in CVAT as 'COCO Keypoints 1.0' and pass annotations/person_keypoints_<subset>.json",
            code="file-not-found",
        ) from None
    except IsADirectoryError:
        raise HoofenvError(
            f"{path} is a folder, not an annotation file",
            hint=f"pass the JSON inside it, e.g. {path}/annotations/person_keypoints_default.json",
            code="file-not-found",
        ) from None
    try:
        data = json.loads(text)
    except UnicodeDecodeError as exc:
        raise HoofenvError(
            f"{path} is not UTF-8 text", causes=[str(exc)], hint="re-export the task from CVAT", code="invalid-json"
        ) from None
    except json.JSONDecodeError as exc:
        raise HoofenvError(
            f"{path}:{exc.lineno}:{exc.colno}: invalid JSON",
            causes=[f"{exc.msg} at line {exc.lineno}, column {exc.colno}"],
            hint="the file was cut short or edited by hand: re-export it from CVAT, or repair that spot",
            code="invalid-json",
        ) from None
    if not isinstance(data, dict):
        raise HoofenvError(
            f"{path}: the top level is a {type(data).__name__}, not a COCO object",
            causes=["a COCO file is an object with 'images', 'annotations' and 'categories'"],
            hint="export the task in CVAT as 'COCO Keypoints 1.0'",
            code="wrong-type",
        )
    return data


def require_lists(data: dict, path: str | Path) -> None:
    """Commands that rewrite a file need the three lists; `check` reports their absence instead."""
    bad = [k for k in TOP_LEVEL if not isinstance(data.get(k), list)]
    if bad:
        raise HoofenvError(
            f"{path}: {', '.join(repr(k) for k in bad)} missing or not a list",
            causes=["a COCO keypoints file has the lists 'images', 'annotations' and 'categories'"],
            hint=f"hoofenv data check {path}",
            code="missing-field",
        )


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def keypoint_categories(data: dict) -> list[dict]:
    """Categories that carry keypoint names: CVAT writes them on the skeleton label only."""
    return [
        c for c in data.get("categories") or []
        if isinstance(c, dict) and isinstance(c.get("keypoints"), list) and c["keypoints"]
    ]


def skeleton_base(category: dict) -> int | None:
    """0 or 1: COCO and CVAT write 1-based edges, MMPose wants 0-based; None when there is no skeleton.

    A 0 anywhere means 0-based; otherwise the edges are read as 1-based (the COCO convention). `fix` writes
    `"skeleton_base": 0` beside a converted skeleton, so a converted skeleton that never uses point 0 is not
    converted a second time.
    """
    edges = category.get("skeleton")
    if not isinstance(edges, list) or not edges:
        return None
    if category.get("skeleton_base") in (0, 1):
        return category["skeleton_base"]
    flat = [i for e in edges if isinstance(e, (list, tuple)) for i in e if is_int(i)]
    return 0 if 0 in flat else 1


def dump(data: dict) -> str:
    """The text every command writes: keys in the order read, UTF-8, compact like CVAT's own export."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
