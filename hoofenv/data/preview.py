"""`data preview`: each image with its boxes, keypoints and skeleton, plus one contact sheet to scan by eye.

The only part of hoofenv.data that needs Pillow; imported here so that check/fix/merge/split never do.

Pictures are drawn as MMPose's loader sees them (hoofenv.data.imagefiles): EXIF orientation applied for JPEG,
PNG and TIFF, not for WebP. Only files inside --images are read (a file_name that is absolute or climbs out with
`..` is skipped), and a file that is empty, no picture, cut short, a GIF, or larger than PREVIEW_MAX_PIXELS is
listed as not drawn instead of stopping the run.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.data.coco import is_number, keypoint_categories, load_export, skeleton_base
from hoofenv.data.schema import _colour

THUMB = 256
PREVIEW_MAX_PIXELS = 1 << 27  # 134 megapixels, ~400 MB as RGB


@dataclass
class PreviewReport:
    output_dir: str
    contact_sheet: str | None
    pictures: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<file>: why it was not drawn"


def _pillow():
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        raise HoofenvError("data preview needs Pillow, which is not installed",
                           hint="pip install 'hoofenv[pictures]'", code="missing-dependency") from None
    return Image, ImageDraw


def preview_file(path: str, images_dir: str, output_dir: str, limit: int = 100) -> PreviewReport:
    _pillow()
    data = load_export(path)
    root, out = Path(images_dir), Path(output_dir)
    if not root.is_dir():
        raise HoofenvError(f"--images {root} is not a folder", hint="pass the export's images folder",
                           code="usage", exit_code=2)
    from hoofenv.files import output_problem

    problem = output_problem(out, folder=True)
    if problem:
        raise HoofenvError(f"-o {out}: {problem}", hint="name a folder for the pictures", code="usage",
                           exit_code=2)
    if limit < 1:
        raise HoofenvError(f"--limit {limit}: draw at least one image", hint="--limit 100", code="usage",
                           exit_code=2)
    cats = keypoint_categories(data)
    edges: list[tuple[int, int]] = []
    if cats:
        base = skeleton_base(cats[0]) or 0
        edges = [(e[0] - base, e[1] - base) for e in cats[0].get("skeleton") or []]
    by_image: dict = {}
    for a in data["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    report = PreviewReport(output_dir=str(out), contact_sheet=None)
    thumbs = []
    for img in data["images"][:limit]:
        canvas = _open(root, img, report)
        if canvas is None:
            continue
        from PIL import ImageDraw

        draw = ImageDraw.Draw(canvas)
        r = max(2, round(max(canvas.size) / 150))
        for ann in by_image.get(img["id"], []):
            _draw_annotation(draw, ann, edges, r)
        name = f"{img['id']}_{re.sub(r'[^A-Za-z0-9._-]+', '_', Path(img['file_name']).stem)[:80]}.png"
        _save(canvas, out / name)
        report.pictures.append(str(out / name))
        canvas.thumbnail((THUMB, THUMB))
        thumbs.append((canvas, str(img["id"])))
    if thumbs:
        report.contact_sheet = str(_sheet(thumbs, out))
    return report


def _open(root: Path, img: dict, report: PreviewReport):
    """The picture as an RGB image the way MMPose decodes it, or None (noted in REPORT)."""
    import warnings

    from PIL import Image, ImageOps

    from hoofenv.data.imagefiles import TURNING, decoded, inside
    from hoofenv.data.imagesize import header

    src = inside(root, img["file_name"])
    if src is None:
        report.skipped.append(f"image {img['id']}: file_name {img['file_name']!r} leaves the images folder")
        return None
    try:
        present = src.is_file()
    except OSError:
        present = False
    if not present:
        report.missing.append(str(src))
        return None
    d = decoded(src)
    if d.problem or d.width * d.height > PREVIEW_MAX_PIXELS:
        why = d.problem or f"is {d.width}x{d.height}, larger than preview draws ({PREVIEW_MAX_PIXELS} pixels)"
        report.skipped.append(f"{src} {why}")
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(src) as pic:
                if header(src).format in TURNING:
                    pic = ImageOps.exif_transpose(pic)
                return pic.convert("RGB")
    except Exception as exc:  # noqa: BLE001 -- a decoder meeting a broken file raises many types; one line each
        report.skipped.append(f"{src} could not be decoded ({type(exc).__name__}: {exc})")
        return None


def _save(picture, path: Path) -> None:
    import io

    from hoofenv.files import atomic_write_bytes

    buf = io.BytesIO()
    picture.save(buf, "PNG")
    atomic_write_bytes(path, buf.getvalue())


def _sheet(thumbs: list, out: Path) -> Path:
    from PIL import Image, ImageDraw

    cols = min(8, math.ceil(math.sqrt(len(thumbs))))
    rows = math.ceil(len(thumbs) / cols)
    sheet = Image.new("RGB", (cols * (THUMB + 4), rows * (THUMB + 16)), (24, 24, 24))
    d = ImageDraw.Draw(sheet)
    for n, (thumb, label) in enumerate(thumbs):
        x, y = (n % cols) * (THUMB + 4), (n // cols) * (THUMB + 16)
        sheet.paste(thumb, (x, y + 14))
        d.text((x + 2, y + 1), f"image {label}", fill=(230, 230, 230))
    _save(sheet, out / "contact_sheet.png")
    return out / "contact_sheet.png"


def _draw_annotation(draw, ann: dict, edges: list[tuple[int, int]], r: int) -> None:
    lim = 4 * max(draw.im.size) + 4 * r  # a box or point far off the picture is drawn at its edge

    def c(v):
        return max(-lim, min(lim, v))

    bbox = ann.get("bbox")
    if isinstance(bbox, list) and len(bbox) == 4 and all(is_number(v) for v in bbox):
        x, y, w, h = bbox
        bad = w <= 0 or h <= 0
        draw.rectangle([c(x), c(y), c(x + max(w, 0)), c(y + max(h, 0))],
                       outline=(255, 0, 0) if bad else (0, 220, 255), width=max(1, r // 2))
    kps = ann.get("keypoints")
    if not (isinstance(kps, list) and len(kps) % 3 == 0 and all(is_number(v) for v in kps)):
        return
    pts = [(c(kps[i]), c(kps[i + 1]), kps[i + 2]) for i in range(0, len(kps), 3)]
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
