"""`data fix`: the repairs that have exactly one right answer, each listed; nothing is ever deleted.

bbox from keypoints: the labelled points' box, padded on each side by 10% of its longer side, at least 2% of the
picture's longer side (4 px when the picture's size is unknown), then clipped to the picture. A single point
gets a square around it; MMPose then crops that region at 1.25x instead of dropping the instance.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.data.coco import dump, is_int, is_number, keypoint_categories, load_export, skeleton_base
from hoofenv.files import atomic_write_text as write_atomic, backup, output_problem, same_file, sweep_temps


@dataclass
class Change:
    code: str
    count: int
    ids: list
    message: str


@dataclass
class FixResult:
    input: str
    written: str | None
    backup: str | None
    images: int
    annotations: int
    changes: list[Change] = field(default_factory=list)
    unfixable: list[str] = field(default_factory=list)


MESSAGES = {
    "category-keypoint-names": "filled the empty keypoint names of category {ids} from the schema",
    "skeleton-zero-based": "made the skeleton of category {ids} 0-based (MMPose indexes keypoints from 0)",
    "rectangle-category": "{n} annotations moved from a rectangle category to the keypoint category",
    "duplicate-annotation-id": "{n} repeated annotation ids renumbered after the highest id",
    "outside-coords-zeroed": "{n} annotations: coordinates of points marked outside (v=0) set to 0,0",
    "bbox-from-keypoints": "{n} annotations: missing or zero-size bbox rebuilt around the labelled keypoints",
    "area-from-bbox": "{n} annotations: area set to bbox w x h (it was missing or zero, or the bbox was rebuilt)",
    "num-keypoints": "{n} annotations: num_keypoints recounted (points with v > 0)",
    "iscrowd": "{n} annotations: missing iscrowd set to 0",
}


def fix(data: dict, schema=None) -> list[Change]:
    """Repair DATA in place and return what changed; running it twice changes nothing the second time."""
    changed: dict[str, list] = defaultdict(list)
    cats = [c for c in data["categories"] if isinstance(c, dict)]
    images = {i.get("id"): i for i in data["images"] if isinstance(i, dict)}
    anns = [a for a in data["annotations"] if isinstance(a, dict)]
    kp_cats = _fix_categories(data, cats, anns, schema, changed)
    cat_by_id = {c.get("id"): c for c in cats}
    k_by_cat = {c.get("id"): len(c["keypoints"]) for c in kp_cats}
    ids = [a.get("id") for a in anns if is_int(a.get("id"))]
    next_id = max(ids, default=0) + 1
    seen_ids: set = set()
    for ann in anns:
        aid = ann.get("id")
        if is_int(aid):
            if aid in seen_ids:
                ann["id"] = aid = next_id
                next_id += 1
                changed["duplicate-annotation-id"].append(aid)
            seen_ids.add(aid)
        kps = ann.get("keypoints")
        kps_ok = isinstance(kps, list) and kps and len(kps) % 3 == 0 and all(is_number(v) for v in kps)
        cat = cat_by_id.get(ann.get("category_id"))
        if cat is not None and not cat.get("keypoints") and kps_ok:
            matching = [cid for cid, k in k_by_cat.items() if 3 * k == len(kps)]
            if len(matching) == 1:
                ann["category_id"] = matching[0]
                changed["rectangle-category"].append(aid)
        if kps_ok:
            _fix_annotation(ann, aid, kps, images.get(ann.get("image_id")), changed)
    return [Change(code, len(v), v, MESSAGES[code].format(n=len(v), ids=", ".join(str(i) for i in v)))
            for code, v in changed.items() if v]


def _fix_categories(data: dict, cats: list[dict], anns: list[dict], schema, changed: dict) -> list[dict]:
    """Keypoint names from the schema where the export lost them, 0-based skeletons; the keypoint categories."""
    kp_cats = keypoint_categories(data)
    if not kp_cats and schema is not None:
        target = _category_for_schema(cats, anns, len(schema.keypoints))
        if target is not None:
            target["keypoints"] = list(schema.keypoints)
            target["skeleton"] = [list(e) for e in schema.skeleton]
            target["skeleton_base"] = 0
            changed["category-keypoint-names"].append(target.get("id"))
            kp_cats = [target]
    for cat in kp_cats:
        k = len(cat["keypoints"])
        edges = cat.get("skeleton") or []
        if skeleton_base(cat) == 1 and all(
                isinstance(e, list) and len(e) == 2 and all(is_int(i) and 1 <= i <= k for i in e) for e in edges):
            cat["skeleton"] = [[a - 1, b - 1] for a, b in edges]
            cat["skeleton_base"] = 0
            changed["skeleton-zero-based"].append(cat.get("id"))
    return kp_cats


def _fix_annotation(ann: dict, aid, kps: list, img: dict | None, changed: dict) -> None:
    """Outside points zeroed, a box from the points when it is missing or flat, area, num_keypoints, iscrowd."""
    labelled = []
    for j in range(0, len(kps), 3):
        if kps[j + 2] == 0 and (kps[j] != 0 or kps[j + 1] != 0):
            kps[j] = kps[j + 1] = 0
            if not changed["outside-coords-zeroed"] or changed["outside-coords-zeroed"][-1] != aid:
                changed["outside-coords-zeroed"].append(aid)
        if kps[j + 2] > 0:
            labelled.append((kps[j], kps[j + 1]))
    bbox = ann.get("bbox")
    rebuilt = False
    if (bbox is None or (isinstance(bbox, list) and len(bbox) == 4 and all(is_number(v) for v in bbox)
                         and (bbox[2] <= 0 or bbox[3] <= 0))) and labelled:
        ann["bbox"] = bbox = _box_around(labelled, img)
        changed["bbox-from-keypoints"].append(aid)
        rebuilt = True
    area = ann.get("area")
    if (rebuilt or area is None or not is_number(area) or area <= 0) and _valid_box(bbox):
        ann["area"] = round(bbox[2] * bbox[3], 2)
        changed["area-from-bbox"].append(aid)
    if ann.get("num_keypoints") != len(labelled) or not is_int(ann.get("num_keypoints")):
        ann["num_keypoints"] = len(labelled)
        changed["num-keypoints"].append(aid)
    if "iscrowd" not in ann:
        ann["iscrowd"] = 0
        changed["iscrowd"].append(aid)


def _valid_box(bbox) -> bool:
    return isinstance(bbox, list) and len(bbox) == 4 and all(is_number(v) for v in bbox) and bbox[2] > 0 and bbox[3] > 0


def _category_for_schema(cats: list[dict], anns: list[dict], k: int) -> dict | None:
    """The category most annotations with 3*K keypoint values use: the skeleton label whose names went missing."""
    counts: dict = defaultdict(int)
    for a in anns:
        if isinstance(a.get("keypoints"), list) and len(a["keypoints"]) == 3 * k:
            counts[a.get("category_id")] += 1
    by_id = {c.get("id"): c for c in cats}
    ranked = sorted((n, cid) for cid, n in counts.items() if cid in by_id)
    if ranked:
        return by_id[ranked[-1][1]]
    return cats[0] if len(cats) == 1 else None


def _box_around(points: list[tuple[float, float]], img: dict | None) -> list[float]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
    size = None
    if img and is_number(img.get("width")) and is_number(img.get("height")) and img["width"] > 0 and img["height"] > 0:
        size = (img["width"], img["height"])
    pad = max(0.1 * max(x2 - x1, y2 - y1), 0.02 * max(size) if size else 4.0)
    x1, y1, x2, y2 = x1 - pad, y1 - pad, x2 + pad, y2 + pad
    if size:
        cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, size[0]), min(y2, size[1])
        if cx2 > cx1 and cy2 > cy1:
            x1, y1, x2, y2 = cx1, cy1, cx2, cy2
    return [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]


def fix_file(path: str | Path, output: str | Path | None = None, in_place: bool = False, schema=None,
             dry_run: bool = False) -> FixResult:
    """Fix PATH into OUTPUT (whatever OUTPUT held is backed up first) or in place (PATH.bak first)."""
    from hoofenv.data.check import check
    from hoofenv.data.split import manifests_naming, rerecord

    path = Path(path)
    if not in_place and output is None:
        raise HoofenvError("name the output", hint=f"hoofenv data fix {path} -o {path.with_suffix('.fixed.json')}",
                           code="usage", exit_code=2)
    target = path if in_place else Path(output)
    if not in_place:
        _check_output(path, target)
    sweep_temps(target)  # what a killed earlier run left, even when this one has nothing to write
    data = load_export(path)
    changes = fix(data, schema=schema)
    after = check(data, str(target), schema=schema)
    unfixable = [f"{f.code}: {f.message} (ids {', '.join(str(i) for i in f.ids[:10])}) -- {f.hint}"
                 for f in after.findings if f.severity == "error"]
    result = FixResult(input=str(path), written=None, backup=None, images=len(data["images"]),
                       annotations=len(data["annotations"]), changes=changes, unfixable=unfixable)
    if dry_run or (in_place and not changes):
        return result
    text = dump(data, target)
    pair = next((s for s in manifests_naming(path) if s.ok), None) if in_place else None
    if in_place:
        result.backup = str(backup(path))
    elif target.exists() and target.read_bytes() != text.encode("utf-8"):
        result.backup = str(backup(target))
    write_atomic(target, text)
    result.written = str(target)
    if pair is not None:
        rerecord(pair, path, "hoofenv data fix --in-place")
    return result


def _check_output(src: Path, target: Path) -> None:
    if target.exists() and same_file(src, target):
        raise HoofenvError(f"-o {target} is the input file: fix never overwrites its input by accident",
                           hint=f"hoofenv data fix {src} --in-place  (keeps {src.name}.bak)",
                           code="usage", exit_code=2)
    problem = output_problem(target)
    if problem:
        raise HoofenvError(f"-o {target}: {problem}", hint=f"hoofenv data fix {src} -o {src.with_suffix('.fixed.json')}",
                           code="usage", exit_code=2)
