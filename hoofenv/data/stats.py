"""`data stats`: what the export holds, per keypoint, and whether it is enough to train on."""

from __future__ import annotations

from dataclasses import dataclass, field

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
