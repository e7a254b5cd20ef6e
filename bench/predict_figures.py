"""The figures of docs/angles.md and docs/labelling.md, drawn by the code `hoofenv predict` draws with.

    python bench/predict_figures.py            -> docs/img/angles.png, docs/img/labelling-loop.png

angles.png: synthetic hoofs (their true keypoints) facing right and left, drawn by hoofenv/inenv/drawing.py with the
angles of hoofenv/inenv/angles.py, the generator's own true angles printed under each.
labelling-loop.png: the CVAT round trip, and a pre-annotated picture as CVAT shows it (a filled point: visible,
v=2; a ring: occluded, v=1, the model's doubtful points to check first).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hoofenv.data import synthetic  # noqa: E402
from hoofenv.inenv import angles, drawing  # noqa: E402

SCALE = 2


def hoof_panel(seed: int, index: int, facing: str) -> Image.Image:
    img, kps, vis, box, params = synthetic.render(seed, "val", index, (256, 256), facing)
    roles = angles.resolve(synthetic.KEYPOINTS)
    pts = [(x, y) if v else None for (x, y), v in zip(kps, vis)]
    got = angles.measure(pts, roles)
    big = img.resize((256 * SCALE, 256 * SCALE), Image.BICUBIC)
    s = lambda p: (p[0] * SCALE, p[1] * SCALE)  # noqa: E731
    inst = dict(kps=[s(p) for p in kps], box=[v * SCALE for v in (box[0], box[1], box[0] + box[2], box[1] + box[3])],
                points=[s(p) if p else None for p in pts], angles=got)
    skeleton = [[a - 1, b - 1] for a, b in synthetic.SKELETON]
    drawing.draw(big, [inst], synthetic.KEYPOINTS, skeleton, roles)
    t = params["angles"]
    foot = Image.new("RGB", (big.width, 44), (250, 250, 250))
    d = ImageDraw.Draw(foot)
    font = drawing._font(15)
    d.text((8, 4), f"facing {facing}: measured hoof {got['hoof_deg']:.2f}°, pastern {got['pastern_deg']:.2f}°",
           fill=(0, 0, 0), font=font)
    d.text((8, 23), f"generator's truth: hoof {t['hoof_deg']:.2f}°, pastern {t['pastern_deg']:.2f}°, {t['hpa']}",
           fill=(60, 60, 60), font=font)
    out = Image.new("RGB", (big.width, big.height + foot.height))
    out.paste(big, (0, 0))
    out.paste(foot, (0, big.height))
    return out


def angles_figure(path: Path) -> None:
    panels = [hoof_panel(0, 3, "right"), hoof_panel(0, 3, "left")]
    sheet = Image.new("RGB", (sum(p.width for p in panels) + 10, panels[0].height), (255, 255, 255))
    sheet.paste(panels[0], (0, 0))
    sheet.paste(panels[1], (panels[0].width + 10, 0))
    sheet.save(path)


STEPS = [
    ("hoofenv predict best.pth NEW/*.jpg -o pred --cvat pre.zip", "pre-annotations + pred/review.csv"),
    ("CVAT: new task with NEW/*.jpg (same skeleton)", "Actions > Upload annotations > COCO Keypoints 1.0 > pre.zip"),
    ("correct in CVAT, worst pictures first", "rings (occluded) = points the model doubted"),
    ("CVAT: Export task dataset > COCO Keypoints 1.0", "new.zip: annotations/person_keypoints_default.json"),
    ("hoofenv data merge old.json new.json -o all.json", "ids renumbered, duplicates removed, counts proven"),
    ("hoofenv data split all.json -o split", "as data/annotations/{train,val}.json, pictures in data/images/"),
    ("hoofenv train --data data --from work/best.pth", "incremental: starts from the last model"),
]


def loop_figure(path: Path) -> None:
    font, small = drawing._font(17), drawing._font(14)
    w, box_h, gap = 720, 54, 16
    panel = hoof_panel(0, 5, "right").crop((0, 0, 512, 512)).resize((360, 360))
    img, kps, vis, box, _ = synthetic.render(0, "val", 5, (256, 256), "right")
    scores = [0.82, 0.21, 0.64, 0.28]  # as a model might score them: heel and pastern_axis doubtful
    pre = img.resize((360, 360), Image.BICUBIC)
    d = ImageDraw.Draw(pre)
    f = 360 / 256
    for (x, y), sc in zip(kps, scores):
        x, y, r = x * f, y * f, 6
        if sc >= 0.3:
            d.ellipse([x - r, y - r, x + r, y + r], fill=(255, 60, 60), outline=(255, 255, 255))
        else:
            d.ellipse([x - r, y - r, x + r, y + r], outline=(255, 230, 0), width=3)
    height = max(len(STEPS) * (box_h + gap) + 40, 830)
    sheet = Image.new("RGB", (w + 400, height), (255, 255, 255))
    dr = ImageDraw.Draw(sheet)
    y = 20
    for k, (title, note) in enumerate(STEPS):
        dr.rounded_rectangle([20, y, w, y + box_h], radius=8, outline=(40, 90, 160), width=2, fill=(235, 243, 252))
        dr.text((32, y + 6), f"{k + 1}. {title}", fill=(0, 0, 0), font=font)
        dr.text((32, y + 30), note, fill=(70, 70, 70), font=small)
        if k + 1 < len(STEPS):
            dr.line([(w // 2, y + box_h), (w // 2, y + box_h + gap)], fill=(40, 90, 160), width=3)
        y += box_h + gap
    dr.line([(w - 40, y - gap - box_h // 2), (w + 20, y - gap - box_h // 2), (w + 20, 20 + box_h // 2),
             (w, 20 + box_h // 2)], fill=(160, 60, 40), width=2)
    sheet.paste(pre, (w + 30, 20))
    dr.text((w + 30, 385), "pre-annotation in CVAT: filled = visible (v=2),", fill=(0, 0, 0), font=small)
    dr.text((w + 30, 403), "ring = occluded (v=1): score < --visible-score", fill=(0, 0, 0), font=small)
    sheet.paste(panel, (w + 30, 430))
    dr.text((w + 30, 795), "predict --angles: the degrees on the picture", fill=(0, 0, 0), font=small)
    sheet.save(path)


def main() -> None:
    out = REPO / "docs" / "img"
    angles_figure(out / "angles.png")
    loop_figure(out / "labelling-loop.png")
    print(out / "angles.png", out / "labelling-loop.png")


if __name__ == "__main__":
    main()
