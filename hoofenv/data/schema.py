"""The keypoint schema: names, 0-based skeleton, OKS sigmas, flip pairs; written as MMPose dataset metainfo.

Default sigmas come from the COCO/AP-10K tables (OKS per-keypoint falloff, relative to the object's scale):
a keypoint name that neither preset knows gets 0.089, the COCO ankle and AP-10K back-paw value, i.e. the
loosest limb-end value of the published animal benchmark -- a hand-labelled custom set is noisier than COCO.
Re-estimate them once two people have labelled the same images (sigma = std of their disagreement / scale).
"""

from __future__ import annotations

import pprint
import re
from dataclasses import dataclass, field
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.data.coco import is_int, keypoint_categories, skeleton_base

DEFAULT_SIGMA = 0.089

# Left/right spellings whose mirror image is the other side. near/off are deliberately absent (see PRESETS).
_SIDE_PATTERNS = [
    (r"(^|_)left(_|$)", "left", "right"),
    (r"(^|_)right(_|$)", "right", "left"),
    (r"^l_", "l_", "r_"),
    (r"^r_", "r_", "l_"),
    (r"_l$", "_l", "_r"),
    (r"_r$", "_r", "_l"),
    (r"(?<=[a-z])l(?=\d*$)", "l", "r"),
    (r"(?<=[a-z])r(?=\d*$)", "r", "l"),
]


@dataclass
class Schema:
    """What the training config needs about the keypoints; `skeleton` is 0-based."""

    name: str
    keypoints: list[str]
    skeleton: list[tuple[int, int]] = field(default_factory=list)
    sigmas: list[float] = field(default_factory=list)
    joint_weights: list[float] = field(default_factory=list)
    swaps: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = len(self.keypoints)
        if not self.sigmas:
            self.sigmas = [DEFAULT_SIGMA] * k
        if not self.joint_weights:
            self.joint_weights = [1.0] * k
        self.skeleton = [(int(a), int(b)) for a, b in self.skeleton]
        problems = []
        if len(set(self.keypoints)) != k:
            problems.append(f"keypoint names repeat: {self.keypoints}")
        if len(self.sigmas) != k:
            problems.append(f"{len(self.sigmas)} sigmas for {k} keypoints (CocoMetric fails to broadcast)")
        if len(self.joint_weights) != k:
            problems.append(f"{len(self.joint_weights)} joint_weights for {k} keypoints")
        bad = [e for e in self.skeleton if not (0 <= e[0] < k and 0 <= e[1] < k)]
        if bad:
            problems.append(f"skeleton edges {bad} point outside 0..{k - 1}")
        unknown = [n for pair in self.swaps.items() for n in pair if n not in self.keypoints]
        if unknown:
            problems.append(f"swap names {unknown} are not keypoints")
        if problems:
            raise HoofenvError(f"keypoint schema {self.name!r} is inconsistent", causes=problems,
                               hint="hoofenv data check ANN.json", code="schema")

    @classmethod
    def from_coco(cls, dataset: dict, category_id: int | None = None) -> "Schema":
        """From the export's keypoint category: CVAT writes names and a 1-based skeleton on the skeleton label."""
        cats = keypoint_categories(dataset)
        if category_id is not None:
            cats = [c for c in cats if c.get("id") == category_id]
        if not cats:
            which = f"category {category_id}" if category_id is not None else "no category"
            raise HoofenvError(
                f"{which} carries keypoint names",
                causes=["CVAT writes the names on the skeleton label; a rectangle label has 'keypoints': []"],
                hint="hoofenv data fix ANN.json --schema hoof-side -o fixed.json",
                code="no-keypoint-names",
            )
        names = {tuple(c["keypoints"]) for c in cats}
        if len(names) > 1:
            raise HoofenvError(
                "the export has several keypoint categories with different keypoints",
                causes=[f"category {c.get('id')} {c.get('name')!r}: {c['keypoints']}" for c in cats],
                hint="pick one with Schema.from_coco(data, category_id=ID)",
                code="schema",
            )
        cat = cats[0]
        keypoints = [str(n) for n in cat["keypoints"]]
        base = skeleton_base(cat) or 0
        edges = [tuple(i - base for i in e) for e in cat.get("skeleton") or []
                 if isinstance(e, (list, tuple)) and len(e) == 2 and all(is_int(i) for i in e)]
        known = {n: s for p in PRESETS.values() for n, s in zip(p.keypoints, p.sigmas)}
        return cls(
            name=str(cat.get("name") or "keypoints"),
            keypoints=keypoints,
            skeleton=edges,
            sigmas=[known.get(n, DEFAULT_SIGMA) for n in keypoints],
            swaps=swap_pairs(keypoints),
        )

    def flip_indices(self) -> list[int]:
        index = {n: i for i, n in enumerate(self.keypoints)}
        return [index[self.swaps.get(n, n)] for n in self.keypoints]

    def to_metainfo(self) -> dict:
        """MMPose's `dataset_info` dict (the shape of configs/_base_/datasets/*.py)."""
        keypoint_info = {
            i: dict(name=n, id=i, color=list(_colour(i)), type="", swap=self.swaps.get(n, ""))
            for i, n in enumerate(self.keypoints)
        }
        skeleton_info = {
            i: dict(link=(self.keypoints[a], self.keypoints[b]), id=i, color=list(_colour(a)))
            for i, (a, b) in enumerate(self.skeleton)
        }
        return dict(
            dataset_name=self.name,
            paper_info=dict(author="", title=f"{self.name} keypoints (hoofenv)", container="", year="",
                            homepage=""),
            keypoint_info=keypoint_info,
            skeleton_info=skeleton_info,
            joint_weights=list(self.joint_weights),
            sigmas=list(self.sigmas),
        )


def swap_pairs(names: list[str]) -> dict[str, str]:
    """Left/right partners both ways (left_eye <-> right_eye, L_F_Paw <-> R_F_Paw, forelegL1 <-> forelegR1)."""
    present = set(names)
    swaps: dict[str, str] = {}
    for n in names:
        low = n.lower()
        for pattern, old, new in _SIDE_PATTERNS:
            m = re.search(pattern, low)
            if not m:
                continue
            start = low.find(old, m.start()) if old in ("left", "right") else m.start()
            partner_low = low[:start] + new + low[start + len(old):]
            partner = next((p for p in present if p.lower() == partner_low and p != n), None)
            if partner:
                swaps[n] = partner
                break
    return {a: b for a, b in swaps.items() if swaps.get(b) == a}


def _colour(i: int) -> tuple[int, int, int]:
    palette = [(255, 128, 0), (0, 255, 0), (51, 153, 255), (255, 51, 255), (255, 255, 0), (0, 255, 255),
               (255, 0, 0), (128, 0, 255)]
    return palette[i % len(palette)]


PRESETS: dict[str, Schema] = {
    # One hoof from the side. The object is the hoof itself, so OKS scale is the hoof's box: the toe and heel
    # are sharp corners (COCO eye value 0.025), the hoof-pastern junction lies on the coronary band, a line
    # (COCO ear value 0.035), and the pastern-axis point is chosen along an axis, the loosest (COCO wrist 0.062).
    "hoof-side": Schema(
        name="hoof-side",
        keypoints=["toe", "heel", "hoof_pastern_junction", "pastern_axis"],
        skeleton=[(0, 1), (0, 2), (1, 2), (2, 3)],
        sigmas=[0.025, 0.025, 0.035, 0.062],
    ),
    # The four hooves of a horse, AP-10K sigmas for paws: front 0.062, back 0.089. No swap pairs: here near and
    # off are camera-relative (near = the hoof closer to the camera), which a horizontal flip does not change.
    # Annotators who use the equestrian meaning (near = the horse's left) must add near<->off swaps, because a
    # mirrored horse shows its other side.
    "four-hooves": Schema(
        name="four-hooves",
        keypoints=["near_fore", "off_fore", "near_hind", "off_hind"],
        skeleton=[(0, 1), (2, 3), (0, 2), (1, 3)],
        sigmas=[0.062, 0.062, 0.089, 0.089],
    ),
}


def get_preset(name: str) -> Schema:
    try:
        return PRESETS[name]
    except KeyError:
        raise HoofenvError(
            f"unknown keypoint schema preset {name!r}",
            causes=[f"presets: {', '.join(PRESETS)}"],
            hint="hoofenv data schema --preset hoof-side -o metainfo.py",
            code="usage",
            exit_code=2,
        ) from None


def write_metainfo(schema: Schema, path: str | Path) -> Path:
    """A Python file `dataset_info = dict(...)` that MMPose reads with `metainfo=dict(from_file=path)`."""
    from hoofenv.files import atomic_write_text as write_atomic

    from hoofenv.files import output_problem

    path = Path(path)
    problem = output_problem(path)
    if problem:
        raise HoofenvError(f"-o {path}: {problem}", hint="hoofenv data schema ... -o data/hoof_metainfo.py",
                           code="usage", exit_code=2)
    if path.suffix != ".py":
        raise HoofenvError(f"{path}: MMPose loads metainfo from a .py file", hint=f"use {path.with_suffix('.py')}",
                           code="usage", exit_code=2)
    body = pprint.pformat(schema.to_metainfo(), indent=1, width=100, sort_dicts=False)
    text = (f'"""MMPose dataset metainfo for {schema.name!r}, written by hoofenv data schema."""\n\n'
            f"dataset_info = {body}\n")
    if path.is_file() and path.read_bytes() != text.encode("utf-8"):
        from hoofenv.files import backup

        backup(path)  # a metainfo file edited by hand is kept as PATH.bak
    return write_atomic(path, text)
