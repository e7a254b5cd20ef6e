"""The predicted pictures, drawn with Pillow by both predict runners (the stack has Pillow, the ONNX env too), so the
PyTorch and the ONNX path draw the same picture from the same keypoints: the box, the skeleton, the named points,
and with --angles the ground line, the hoof and pastern lines with their degrees and the HPA verdict."""

from __future__ import annotations

import os
from pathlib import Path

from . import angles

BOX = (0, 200, 255)
SKELETON = (255, 255, 0)
POINT = (255, 0, 0)
TEXT = (255, 255, 255)
GROUND = (255, 255, 255)
HOOF = (255, 150, 0)
PASTERN = (0, 220, 255)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _extended(a, b, by: float):
    """The segment a -> b lengthened by `by` of its length at both ends (a line to read an angle off)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    return [(a[0] - dx * by, a[1] - dy * by), (b[0] + dx * by, b[1] + dy * by)]


def _label(draw, xy, text: str, colour, font) -> None:
    x, y = xy
    draw.text((x + 1, y + 1), text, fill=(0, 0, 0), font=font)
    draw.text((x, y), text, fill=colour, font=font)


def draw_angles(draw, pts: list, roles: dict, rec: dict, box, font, width: int) -> None:
    p = {r: pts[i] for r, i in roles.items() if i < len(pts) and pts[i] is not None}
    line_w = max(1, width // 250)
    if rec["ground"] == "toe-heel":
        draw.line(_extended(p["heel"], p["toe"], 0.4), fill=GROUND, width=line_w)
    elif p.get("toe"):
        half = (box[2] - box[0]) / 2
        draw.line([(p["toe"][0] - half, p["toe"][1]), (p["toe"][0] + half, p["toe"][1])], fill=GROUND, width=line_w)
    for key, (a, b), colour in (("hoof_deg", ("toe", "hoof_top"), HOOF),
                                ("pastern_deg", ("pastern_low", "pastern_high"), PASTERN)):
        if rec[key] is None:
            continue
        draw.line(_extended(p[a], p[b], 0.35), fill=colour, width=line_w)
        _label(draw, (p[b][0] + 4, p[b][1]), f"{key[:-4]} {rec[key]:.1f}°", colour, font)
    if rec["hpa"]:
        _label(draw, (box[0] + 2, box[1] + 2), f"HPA {rec['hpa']} ({rec['difference_deg']:+.1f}°)", TEXT, font)


def draw(image, instances: list[dict], names: list[str], skeleton: list, roles: dict | None = None):
    """`image`: a PIL RGB picture, drawn on in place. Each instance: kps (K x 2), box [x0, y0, x1, y1], and with
    roles `points` (angles.measure's input) and `angles` (its output)."""
    from PIL import ImageDraw

    width = image.size[0]
    font = _font(max(9, width // 45))
    d = ImageDraw.Draw(image)
    radius = max(2, width // 150)
    for inst in instances:
        kps, box = inst["kps"], inst["box"]
        d.rectangle([box[0], box[1], box[2], box[3]], outline=BOX, width=1)
        for a, b in skeleton:
            if a < len(kps) and b < len(kps):
                d.line([tuple(map(float, kps[a])), tuple(map(float, kps[b]))], fill=SKELETON, width=1)
        for k, (x, y) in enumerate(kps):
            x, y = float(x), float(y)
            d.ellipse([x - radius, y - radius, x + radius, y + radius], fill=POINT)
            _label(d, (x + radius + 1, y - radius - 10), names[k] if k < len(names) else str(k), TEXT, font)
        if roles is not None and inst.get("angles"):
            draw_angles(d, inst["points"], roles, inst["angles"], box, font, width)
    return image


def measured(points: list, roles: dict | None) -> dict | None:
    return angles.measure(points, roles) if roles is not None else None


def save(picture, path) -> None:
    """The drawn picture as PNG at zlib level 1: 3.6x faster to write than Pillow's default level 6 here (256 x 256:
    8.3 against 30 ms; 1920 x 1080: 163 against 568 ms), for files 9-29% larger. They are previews to look at, and
    writing them took longer than predicting them. Written beside and renamed, so a killed run leaves no half
    picture under the final name."""
    path = Path(path)
    tmp = path.with_name("." + path.name + ".tmp")
    picture.save(tmp, "PNG", compress_level=1)
    os.replace(tmp, path)
