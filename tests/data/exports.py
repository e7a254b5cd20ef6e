"""CVAT 'COCO Keypoints 1.0' exports built for the tests, laid out as CVAT writes them:

    annotations/person_keypoints_<subset>.json     rectangle label id 1 (keypoints: []), skeleton label id 2
    images/<subset>/<file_name>                    real pictures (hoofenv's synthetic hooves), file names with the
                                                   task's folder, e.g. horse1/frame_000001.jpg

with CVAT's quirks: a 1-based skeleton, skeletons drawn without a rectangle (a flat bbox), area 0 on those.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from hoofenv.data.synthetic import KEYPOINTS, SKELETON, render

SIZE = (96, 96)


def _record(i: int, image_id: int, name: str, kps, vis, box, flat: bool) -> tuple[dict, dict]:
    image = {"id": image_id, "width": SIZE[0], "height": SIZE[1], "file_name": name, "license": 0,
             "flickr_url": "", "coco_url": "", "date_captured": 0}
    points = []
    for (x, y), v in zip(kps, vis):
        points += [round(x, 2), round(y, 2), v]
    bbox = [round(b, 2) for b in box]
    if flat:  # a skeleton drawn alone: CVAT writes the tight box around the points, here a flat one
        bbox = [bbox[0], bbox[1], bbox[2], 0.0]
    ann = {"id": image_id, "image_id": image_id, "category_id": 2, "segmentation": [],
           "area": round(bbox[2] * bbox[3], 2), "bbox": bbox, "iscrowd": 0,
           "attributes": {"occluded": False, "keyframe": True}, "keypoints": points,
           "num_keypoints": sum(1 for v in vis if v > 0)}
    return image, ann


def subset_json(subset: str, n: int, seed: int = 0, start: int = 0, flat_every: int = 3,
                folders: int = 2) -> tuple[dict, list]:
    """(annotation JSON, [(file_name, PIL image)]) for pictures start .. start+n-1 of a synthetic task."""
    images, anns, pictures = [], [], []
    for k in range(n):
        i = start + k
        img, kps, vis, box, _ = render(seed, subset, i, SIZE, facing="right")
        name = f"horse{i % folders + 1}/frame_{i:06d}.jpg"
        image, ann = _record(i, k + 1, name, kps, vis, box, flat=flat_every and k % flat_every == 0)
        images.append(image)
        anns.append(ann)
        pictures.append((name, img))
    data = {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "date_created": "", "description": "", "url": "", "version": "", "year": ""},
        "categories": [
            {"id": 1, "name": "hoof_box", "supercategory": "", "keypoints": [], "skeleton": []},
            {"id": 2, "name": "hoof", "supercategory": "", "keypoints": list(KEYPOINTS),
             "skeleton": [list(e) for e in SKELETON]},  # 1-based, as CVAT writes it
        ],
        "images": images,
        "annotations": anns,
    }
    return data, pictures


def write_export(root: Path, subsets: dict[str, int], seed: int = 0, start: int = 0, flat: bool = False,
                 zip_to: Path | None = None) -> Path:
    """An export folder under ROOT (and, with zip_to, the same export zipped as CVAT does); returns what to pass.
    flat: pictures under images/<file_name> (older CVAT) instead of images/<subset>/<file_name>."""
    root.mkdir(parents=True, exist_ok=True)
    for subset, n in subsets.items():
        data, pictures = subset_json(subset, n, seed, start)
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / f"person_keypoints_{subset}.json").write_text(json.dumps(data))
        for name, img in pictures:
            target = root / "images" / ("" if flat else subset) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            img.save(target, quality=90)
    if zip_to is None:
        return root
    zip_folder(root, zip_to)
    return zip_to


def zip_folder(root: Path, zip_to: Path) -> Path:
    with zipfile.ZipFile(zip_to, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(root).as_posix())
    return zip_to
