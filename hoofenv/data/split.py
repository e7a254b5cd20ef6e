"""`data split`: train/val by image, reproducible from the seed, with groups (horse, video) kept whole.

Groups are ordered by sha256(seed:group) rather than by `random`: the order depends on nothing but the seed and
the group's name -- not on the order of the file, the Python version or the platform.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hoofenv.errors import HoofenvError
from hoofenv.data.coco import dump, load, require_lists
from hoofenv.files import atomic_write_text as write_atomic


@dataclass
class Part:
    name: str
    path: str
    images: int
    annotations: int
    groups: int


@dataclass
class SplitReport:
    seed: int
    val_fraction: float
    group_by: str | None
    train: Part
    val: Part


def group_key(img: dict, group_by: str | None) -> str:
    name = str(img.get("file_name", ""))
    if not group_by:
        return f"image:{img.get('id')}"
    if group_by == "dir":
        return str(PurePosixPath(name.replace("\\", "/")).parent)
    if group_by.startswith("re:"):
        m = re.search(group_by[3:], name)
        if not m:
            raise HoofenvError(f"--group-by {group_by!r} does not match file name {name!r}",
                               hint="use a regex with one group that matches every file name, e.g. 're:^([^_]+)_'",
                               code="usage", exit_code=2)
        return m.group(1) if m.groups() else m.group(0)
    value = img.get(group_by)
    if value is None:
        value = (img.get("attributes") or {}).get(group_by) if isinstance(img.get("attributes"), dict) else None
    if value is None:
        raise HoofenvError(f"image {img.get('id')} ({name}) has no field {group_by!r} to group by",
                           hint="hoofenv data split ANN --group-by dir  (the file name's folder, e.g. one per video)",
                           code="usage", exit_code=2)
    return str(value)


def split(data: dict, val: float, seed: int, group_by: str | None = None) -> tuple[dict, dict, dict]:
    """Return (train, val, groups); whole groups go to val in hash order until it holds >= val x images."""
    try:
        re.compile(group_by[3:]) if group_by and group_by.startswith("re:") else None
    except re.error as exc:
        raise HoofenvError(f"--group-by {group_by!r} is not a valid regex", causes=[str(exc)], code="usage",
                           exit_code=2) from None
    groups: dict[str, list[dict]] = {}
    for img in data["images"]:
        groups.setdefault(group_key(img, group_by), []).append(img)
    order = sorted(groups, key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    target = val * len(data["images"])
    val_groups: set[str] = set()
    taken = 0
    for g in order:
        if taken >= target or len(val_groups) == len(groups) - 1:
            break
        val_groups.add(g)
        taken += len(groups[g])
    if not val_groups:
        raise HoofenvError(
            f"cannot split {len(groups)} group(s) without putting a group in both parts",
            causes=[f"--group-by {group_by}: every image is in {next(iter(groups))!r}"] if group_by else [],
            hint="group by something finer (e.g. --group-by dir when each video has its own folder), or drop "
                 "--group-by",
            code="usage", exit_code=2)
    val_ids = {img["id"] for g in val_groups for img in groups[g]}
    parts = []
    for in_val in (False, True):
        part = {k: v for k, v in data.items() if k not in ("images", "annotations")}
        part["images"] = [i for i in data["images"] if (i["id"] in val_ids) == in_val]
        part["annotations"] = [a for a in data["annotations"] if (a.get("image_id") in val_ids) == in_val]
        parts.append(part)
    return parts[0], parts[1], {"val": val_groups, "train": set(groups) - val_groups}


def split_file(path: str, val: float, seed: int, group_by: str | None = None,
               output_dir: str | None = None) -> SplitReport:
    src = Path(path)
    data = load(src)
    require_lists(data, src)
    if len(data["images"]) < 2:
        raise HoofenvError(f"{src} has {len(data['images'])} image(s): nothing to split",
                           hint=f"hoofenv data stats {src}", code="usage", exit_code=2)
    train, valid, groups = split(data, val, seed, group_by)
    out = Path(output_dir) if output_dir else src.parent
    paths = {}
    for name, part in (("train", train), ("val", valid)):
        paths[name] = out / f"{src.stem}_{name}.json"
        write_atomic(paths[name], dump(part))
    return SplitReport(
        seed=seed, val_fraction=val, group_by=group_by,
        train=Part("train", str(paths["train"]), len(train["images"]), len(train["annotations"]), len(groups["train"])),
        val=Part("val", str(paths["val"]), len(valid["images"]), len(valid["annotations"]), len(groups["val"])),
    )
