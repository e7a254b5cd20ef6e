"""Helpers for the `data` tests: build CVAT-like exports in tmp_path and run `hoofenv data` as a user would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import run_cli

def data_cli(*args: str) -> subprocess.CompletedProcess:
    return run_cli("data", *args)


def data_json(*args: str) -> tuple[int, dict]:
    proc = data_cli(*args, "--json")
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"not JSON from hoofenv data {' '.join(args)}: {exc}\n{proc.stdout}\n{proc.stderr}")


HOOF = ["toe", "heel", "hoof_pastern_junction", "pastern_axis"]


def cvat_export(n_images: int = 3, per_image: int = 2, width: int = 64, height: int = 48) -> dict:
    """A clean export shaped like CVAT's: skeleton label id 2 with names and a 1-based skeleton converted already,
    a rectangle label id 1 with `keypoints: []`, sequential ids, attributes dicts."""
    images, anns = [], []
    for i in range(1, n_images + 1):
        images.append({"id": i, "width": width, "height": height, "file_name": f"task/frame_{i:04d}.png",
                       "license": 0, "flickr_url": "", "coco_url": "", "date_captured": 0})
        for k in range(per_image):
            x0 = 4 + 28 * k
            kps = [x0 + 2.0, 30.0, 2, x0 + 18.0, 28.0, 2, x0 + 4.0, 12.0, 1, x0 + 6.0, 6.0, 2]
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 2, "segmentation": [],
                         "area": 24.0 * 30.0, "bbox": [float(x0), 4.0, 24.0, 30.0], "iscrowd": 0,
                         "attributes": {"occluded": False, "keyframe": True}, "keypoints": kps,
                         "num_keypoints": 4})
    return {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "date_created": "", "description": "", "url": "", "version": "", "year": ""},
        "categories": [
            {"id": 1, "name": "hoof_box", "supercategory": "", "keypoints": [], "skeleton": []},
            {"id": 2, "name": "hoof", "supercategory": "", "keypoints": list(HOOF),
             "skeleton": [[0, 1], [0, 2], [1, 2], [2, 3]]},
        ],
        "images": images,
        "annotations": anns,
    }


def write_export(tmp: Path, data: dict, name: str = "ann.json", pictures: bool = False) -> Path:
    """Write the JSON (and, with pictures, a real PNG per image at the JSON's size under tmp/images)."""
    path = tmp / name
    path.write_text(json.dumps(data))
    if pictures:
        from PIL import Image

        for img in data["images"]:
            target = tmp / "images" / img["file_name"]
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (img["width"], img["height"]), (30 + img["id"] % 200, 90, 60)).save(target)
    return path
