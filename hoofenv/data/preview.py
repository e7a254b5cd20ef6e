"""`data preview`: each image with its boxes, keypoints and skeleton, plus one contact sheet to scan by eye.

The only part of hoofenv.data that needs Pillow; imported here so that check/fix/merge/split never do.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.data.coco import is_number, keypoint_categories, load, require_lists, skeleton_base
from hoofenv.data.schema import _colour

THUMB = 256


@dataclass
class PreviewReport:
    output_dir: str
    contact_sheet: str | None
    pictures: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _pillow():
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        raise HoofenvError("data preview needs Pillow, which is not installed",
                           hint="pip install 'hoofenv[pictures]'", code="missing-dependency") from None
    return Image, ImageDraw


def preview_file(path: str, images_dir: str, output_dir: str, limit: int = 100) -> PreviewReport:
    Image, ImageDraw = _pillow()
    data = load(path)
    require_lists(data, path)
    root, out = Path(images_dir), Path(output_dir)
    if not root.is_dir():
        raise HoofenvError(f"--images {root} is not a folder", hint="pass the export's images folder",
                           code="usage", exit_code=2)
    out.mkdir(parents=True, exist_ok=True)
    cats = keypoint_categories(data)
    edges: list[tuple[int, int]] = []
    if cats:
        base = skeleton_base(cats[0]) or 0
        edges = [(e[0] - base, e[1] - base) for e in cats[0].get("skeleton") or []
                 if isinstance(e, list) and len(e) == 2]
    by_image: dict = {}
    for a in data["annotations"]:
        if isinstance(a, dict):
            by_image.setdefault(a.get("image_id"), []).append(a)
    report = PreviewReport(output_dir=str(out), contact_sheet=None)
    thumbs = []
    for img in [i for i in data["images"] if isinstance(i, dict)][:limit]:
        src = root / str(img.get("file_name"))
        if not src.is_file():
            report.missing.append(str(src))
            continue
        with Image.open(src) as pic:
            canvas = pic.convert("RGB")
        draw = ImageDraw.Draw(canvas)
        r = max(2, round(max(canvas.size) / 150))
        for ann in by_image.get(img.get("id"), []):
            _draw_annotation(draw, ann, edges, r)
        name = f"{img.get('id')}_{re.sub(r'[^A-Za-z0-9._-]+', '_', Path(str(img.get('file_name'))).stem)}.png"
        canvas.save(out / name)
        report.pictures.append(str(out / name))
        canvas.thumbnail((THUMB, THUMB))
        thumbs.append((canvas, str(img.get("id"))))
    if thumbs:
        cols = min(8, math.ceil(math.sqrt(len(thumbs))))
        rows = math.ceil(len(thumbs) / cols)
        sheet = Image.new("RGB", (cols * (THUMB + 4), rows * (THUMB + 16)), (24, 24, 24))
        d = ImageDraw.Draw(sheet)
        for n, (thumb, label) in enumerate(thumbs):
            x, y = (n % cols) * (THUMB + 4), (n // cols) * (THUMB + 16)
            sheet.paste(thumb, (x, y + 14))
            d.text((x + 2, y + 1), f"image {label}", fill=(230, 230, 230))
        report.contact_sheet = str(out / "contact_sheet.png")
        sheet.save(report.contact_sheet)
    return report


def _draw_annotation(draw, ann: dict, edges: list[tuple[int, int]], r: int) -> None:
    bbox = ann.get("bbox")
    if isinstance(bbox, list) and len(bbox) == 4 and all(is_number(v) for v in bbox):
        x, y, w, h = bbox
        bad = w <= 0 or h <= 0
        draw.rectangle([x, y, x + max(w, 0), y + max(h, 0)], outline=(255, 0, 0) if bad else (0, 220, 255),
                       width=max(1, r // 2))
    kps = ann.get("keypoints")
    if not (isinstance(kps, list) and len(kps) % 3 == 0 and all(is_number(v) for v in kps)):
        return
    pts = [(kps[i], kps[i + 1], kps[i + 2]) for i in range(0, len(kps), 3)]
    for a, b in edges:
        if 0 <= a < len(pts) and 0 <= b < len(pts) and pts[a][2] > 0 and pts[b][2] > 0:
            draw.line([pts[a][:2], pts[b][:2]], fill=_colour(a), width=max(1, r // 2))
    for j, (x, y, v) in enumerate(pts):
        if v <= 0:
            continue
        box = [x - r, y - r, x + r, y + r]
        if v == 2:
            draw.ellipse(box, fill=_colour(j), outline=(0, 0, 0))
        else:
            draw.ellipse(box, outline=_colour(j), width=max(1, r // 2))
