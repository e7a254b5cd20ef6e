"""`data stats`: what the export holds, per keypoint, and whether it is enough to train on."""

from __future__ import annotations

from dataclasses import dataclass, field

from hoofenv.data.coco import is_number

# Rules of thumb for fine-tuning a pretrained RTMPose on a few keypoints (not a published threshold).
GUIDANCE = [
    (500, "stable", "{n} annotated images: 500+ gives a stable model"),
    (150, "reasonable", "{n} annotated images: reasonable (150-300); 500+ gives a stable model"),
    (50, "proof-of-concept", "{n} annotated images: a proof of concept (about 50), expect overfitting; aim for 150-300"),
    (0, "too-few", "{n} annotated images: fewer than the ~50 of a proof of concept; aim for 150-300"),
]


@dataclass
class KeypointCount:
    name: str
    labelled: int
    visible: int


@dataclass
class Stats:
    images: int
    annotated_images: int
    instances: int
    keypoints: list[KeypointCount] = field(default_factory=list)
    instances_per_image_max: int = 0
    size_class: str = ""
    guidance: str = ""


def size_guidance(annotated_images: int) -> tuple[str, str]:
    for floor, label, text in GUIDANCE:
        if annotated_images >= floor:
            return label, text.format(n=annotated_images)
    raise AssertionError("unreachable")


def compute_stats(data: dict, names: list[str], k: int | None) -> Stats:
    images = data.get("images") if isinstance(data.get("images"), list) else []
    anns = data.get("annotations") if isinstance(data.get("annotations"), list) else []
    image_ids = {i.get("id") for i in images if isinstance(i, dict)}
    per_image: dict = {}
    labelled = [0] * (k or 0)
    visible = [0] * (k or 0)
    for ann in anns:
        if not isinstance(ann, dict):
            continue
        iid = ann.get("image_id")
        if iid in image_ids:
            per_image[iid] = per_image.get(iid, 0) + 1
        kps = ann.get("keypoints")
        if k and isinstance(kps, list) and len(kps) == 3 * k:
            for j in range(k):
                v = kps[3 * j + 2]
                if is_number(v) and v > 0:
                    labelled[j] += 1
                    if v == 2:
                        visible[j] += 1
    label, text = size_guidance(len(per_image))
    kp_names = names if len(names) == (k or 0) else [f"kp{j}" for j in range(k or 0)]
    return Stats(
        images=len(images),
        annotated_images=len(per_image),
        instances=sum(1 for a in anns if isinstance(a, dict)),
        keypoints=[KeypointCount(n, labelled[j], visible[j]) for j, n in enumerate(kp_names)],
        instances_per_image_max=max(per_image.values(), default=0),
        size_class=label,
        guidance=text,
    )
