"""Contact sheet of the synthetic hoof dataset with its keypoints drawn (docs/img/synthetic-hoofs.png).

    python bench/synthetic_sheet.py [OUT.png]
toe red, heel green, hoof_pastern_junction blue, pastern_axis yellow; a hollow ring = occluded (v=1); white = bbox.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from hoofenv.data import synthetic

COLOURS = [(255, 40, 40), (40, 230, 40), (40, 140, 255), (255, 230, 0)]


def main(out: str = "docs/img/synthetic-hoofs.png", n: int = 8, thumb: int = 160) -> None:
    import json

    with tempfile.TemporaryDirectory() as tmp:
        d = synthetic.generate(Path(tmp) / "s", n_train=n, n_val=1, seed=0)
        coco = json.loads((d / "annotations" / "train.json").read_text())
        cols = 4
        sheet = Image.new("RGB", (cols * thumb, ((n + cols - 1) // cols) * thumb))
        for k, (im, a) in enumerate(zip(coco["images"], coco["annotations"])):
            img = Image.open(d / "images" / im["file_name"]).convert("RGB")
            f = thumb / img.width
            img = img.resize((thumb, thumb), Image.LANCZOS)
            draw = ImageDraw.Draw(img)
            x, y, w, h = (v * f for v in a["bbox"])
            draw.rectangle([x, y, x + w, y + h], outline=(255, 255, 255))
            kp = a["keypoints"]
            for j in range(4):
                px, py, v = kp[3 * j] * f, kp[3 * j + 1] * f, kp[3 * j + 2]
                if v:
                    draw.ellipse([px - 3, py - 3, px + 3, py + 3], outline=COLOURS[j],
                                 fill=COLOURS[j] if v == 2 else None, width=2)
            sheet.paste(img, ((k % cols) * thumb, (k // cols) * thumb))
    sheet.quantize(colors=128).save(out, optimize=True)
    print(out, Path(out).stat().st_size, "bytes")


if __name__ == "__main__":
    main(*sys.argv[1:2])
