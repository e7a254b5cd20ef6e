"""A procedural side-view hoof dataset, written exactly as a CVAT "COCO Keypoints 1.0" export.

Each picture is one horse hoof seen from the side: the hoof capsule (a wedge whose dorsal wall runs from the
toe up to the coronary band, the heel at the back), the pastern above it (a band tilted along the hoof-pastern
axis), the fetlock and cannon above that, standing on a ground line, in front of a textured background, now and
then partly hidden by occluders. Four keypoints, in the order of the `hoof-side` schema:

    toe                    front of the hoof wall where it meets the ground
    heel                   back of the hoof where it meets the ground
    hoof_pastern_junction  the coronary band at the front (top of the dorsal wall)
    pastern_axis           a point on the pastern's axis, above the middle of the coronet

Every picture varies rotation (camera roll, +-25 deg), scale, position, facing (left/right mirror: the schema has
no swap pairs, so nothing else changes), wall angle, colours, background and occlusion. Points under an occluder
are written v=1 (occluded), points outside the picture v=0 with coordinates 0,0; num_keypoints counts v>0.

Deterministic: picture i of split s depends only on (seed, s, i) through its own `random.Random`, never global
state, so the first 10 pictures of a 100-picture set are those of a 10-picture set. Needs only Pillow.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.inenv import angles

KEYPOINTS = ["toe", "heel", "hoof_pastern_junction", "pastern_axis"]
# 1-based, as CVAT writes it; the same edges as the `hoof-side` schema preset (0-based there).
SKELETON = [[1, 2], [1, 3], [2, 3], [3, 4]]
CATEGORY = {"id": 1, "name": "hoof", "supercategory": "", "keypoints": KEYPOINTS, "skeleton": SKELETON}
MANIFEST = "synthetic.json"
_OWN_IMAGE = re.compile(r"^(train|val)_\d{5}\.(jpg|png)$")
SUPERSAMPLE = 2

_HORN = [(45, 40, 38), (62, 52, 44), (30, 28, 30), (176, 150, 110), (120, 100, 80)]
_HAIR = [(110, 62, 32), (150, 82, 40), (35, 28, 26), (150, 148, 145), (226, 220, 208), (84, 58, 40)]
_GROUND = [(188, 168, 128), (102, 82, 62), (72, 108, 52), (150, 150, 146), (44, 44, 48), (160, 130, 90)]
_WALL = [(200, 196, 186), (120, 130, 140), (90, 110, 70), (170, 140, 110), (60, 60, 70), (210, 210, 215),
         (140, 90, 70), (80, 100, 120)]
_OCCLUDER = [(210, 190, 90), (60, 120, 60), (30, 30, 30), (200, 60, 40), (40, 70, 160), (230, 230, 230),
             (140, 100, 60)]


def _pil():
    try:
        from PIL import Image, ImageDraw, ImageFilter
    except ImportError:
        raise HoofenvError(
            "the synthetic hoof dataset needs Pillow, which is not installed",
            causes=["No module named 'PIL'"],
            hint='pip install "hoofenv[pictures]"   (or: pip install pillow)',
            code="missing-pillow",
        ) from None
    return Image, ImageDraw, ImageFilter


@dataclass
class Sample:
    """The drawn picture's parameters (kept in synthetic.json so variety can be checked and reproduced)."""

    file_name: str
    rotation_deg: float
    scale_px: float
    facing: str
    wall_angle_deg: float
    occluders: int
    keypoints: list[list[float]] = field(default_factory=list)
    visibility: list[int] = field(default_factory=list)
    angles: dict = field(default_factory=dict)  # true_angles(): the hoof's angles from its canonical geometry


def _jitter(rng: random.Random, colour, amount: int = 18):
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in colour)


def _shade(colour, factor: float):
    return tuple(max(0, min(255, int(c * factor))) for c in colour)


def _inside(point, polygon) -> bool:
    """Even-odd ray casting."""
    x, y = point
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            xc = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < xc:
                inside = not inside
    return inside


def _ellipse(cx, cy, rx, ry, angle, steps=20):
    ca, sa = math.cos(angle), math.sin(angle)
    pts = []
    for k in range(steps):
        t = 2 * math.pi * k / steps
        x, y = rx * math.cos(t), ry * math.sin(t)
        pts.append((cx + x * ca - y * sa, cy + x * sa + y * ca))
    return pts


def _background(rng: random.Random, size, Image, ImageDraw, ImageFilter):
    w, h = size
    base = _jitter(rng, rng.choice(_WALL), 30)
    # Smooth blotches: a tiny random picture scaled up.
    cells = rng.randint(3, 8)
    low = Image.frombytes("RGB", (cells, cells), rng.randbytes(cells * cells * 3))
    low = low.resize((w, h), Image.BICUBIC)
    img = Image.blend(Image.new("RGB", (w, h), base), low, rng.uniform(0.1, 0.35))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(4, 14)):  # clutter: planks, straw, stones
        c = _jitter(rng, rng.choice(_WALL + _GROUND), 40)
        if rng.random() < 0.5:
            x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
            ang = rng.uniform(0, math.pi)
            ln = rng.uniform(0.1, 0.8) * w
            draw.line([(x0, y0), (x0 + ln * math.cos(ang), y0 + ln * math.sin(ang))], fill=c,
                      width=rng.randint(1, max(2, w // 40)))
        else:
            draw.polygon(_ellipse(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.02, 0.15) * w,
                                  rng.uniform(0.02, 0.15) * h, rng.uniform(0, math.pi), 12), fill=c)
    return img


@dataclass
class _Hoof:
    """One hoof in its canonical frame: hoof height 1, x towards the toe, y up, ground at y=0."""

    wall: float
    toe: tuple
    heel: tuple
    junction: tuple
    heel_top: tuple
    u: tuple  # the pastern's direction
    c0: tuple  # middle of the coronet, where the pastern starts
    pastern_pt: tuple
    p_len: float
    coronet: list
    capsule: list

    @property
    def keypoints(self) -> list:
        return [self.toe, self.heel, self.junction, self.pastern_pt]


def _hoof(rng: random.Random) -> _Hoof:
    wall = math.radians(rng.uniform(47, 60))
    ground_len = rng.uniform(1.05, 1.5)
    toe = (ground_len / 2, 0.0)
    heel = (-ground_len / 2, 0.0)
    junction = (toe[0] - 1.0 / math.tan(wall), 1.0)
    heel_h = rng.uniform(0.3, 0.5)
    heel_top = (heel[0] - rng.uniform(0.0, 0.12), heel_h)
    pastern_angle = wall + math.radians(rng.uniform(-6, 6))
    u = (-math.cos(pastern_angle), math.sin(pastern_angle))
    c0 = ((junction[0] + heel_top[0]) / 2, (junction[1] + heel_top[1]) / 2)
    axis_d = rng.uniform(0.75, 1.05)
    pastern_pt = (c0[0] + axis_d * u[0], c0[1] + axis_d * u[1])
    p_len = axis_d + rng.uniform(0.5, 0.8)
    # Coronet: a slight curve from the junction down to the heel bulb.
    sag = rng.uniform(0.0, 0.12)
    coronet = [(junction[0] + (heel_top[0] - junction[0]) * t,
                junction[1] + (heel_top[1] - junction[1]) * t + sag * math.sin(math.pi * t)) for t in
               (0.25, 0.5, 0.75)]
    toe_round = rng.uniform(0.0, 0.06)
    capsule = [heel, (toe[0] - toe_round, 0.0), (toe[0], toe_round), junction, *coronet, heel_top]
    return _Hoof(wall, toe, heel, junction, heel_top, u, c0, pastern_pt, p_len, coronet, capsule)


def true_angles(hoof: _Hoof) -> dict:
    """The angles `hoofenv predict --angles` measures (hoofenv/inenv/angles.py), read off the canonical hoof, where
    the ground is exactly y=0 and nothing is rotated, mirrored or rounded: the hoof angle is the wall angle drawn,
    the pastern angle that of hoof_pastern_junction -> pastern_axis. `pastern_axis_drawn_deg` is the tilt of the
    pastern band as drawn; the pastern_axis point lies on that band's axis, which starts at the middle of the
    coronet, not at the junction, so the junction -> pastern_axis line is flatter than the band."""
    hoof_deg = math.degrees(hoof.wall)
    dx, dy = hoof.pastern_pt[0] - hoof.junction[0], hoof.pastern_pt[1] - hoof.junction[1]
    pastern_deg = math.degrees(math.atan2(abs(dy), abs(dx)))
    return {"hoof_deg": round(hoof_deg, 4), "pastern_deg": round(pastern_deg, 4),
            "difference_deg": round(hoof_deg - pastern_deg, 4), "hpa": angles.hpa_class(hoof_deg, pastern_deg),
            "pastern_axis_drawn_deg": round(math.degrees(math.atan2(hoof.u[1], -hoof.u[0])), 4)}


def _camera(rng: random.Random, size, facing: str, hoof: _Hoof):
    """(canonical -> pixel transform, rotation, mirror, pixels per hoof height)."""
    W, H = size
    rot = math.radians(rng.uniform(-25, 25))
    mirror = rng.choice((1, -1))  # drawn either way, so a fixed facing changes nothing else in the picture
    mirror = {"right": 1, "left": -1}.get(facing, mirror)
    scale = rng.uniform(0.17, 0.32) * min(W, H)  # pixels per hoof height
    # Centre of the toe/heel/junction/pastern box lands anywhere in the middle of the picture.
    cx = rng.uniform(0.3, 0.7) * W
    cy = rng.uniform(0.35, 0.7) * H
    kp_canon = hoof.keypoints
    mid = (sum(p[0] for p in kp_canon) / 4, sum(p[1] for p in kp_canon) / 4)
    cr, sr = math.cos(rot), math.sin(rot)

    def tf(p):
        x, y = (p[0] - mid[0]) * mirror * scale, -(p[1] - mid[1]) * scale
        return (cx + x * cr - y * sr, cy + x * sr + y * cr)

    return tf, rot, mirror, scale


def _draw_leg(rng: random.Random, draw, hoof: _Hoof, tb, scale: float) -> None:
    """Ground, cannon and fetlock, the pastern band, heel bulb, capsule, growth lines, coronary band."""
    ss = SUPERSAMPLE
    if rng.random() < 0.85:  # a region below y=0 (rotated with the camera) and its edge line
        gcol = _jitter(rng, rng.choice(_GROUND), 20)
        draw.polygon(tb([(-40, 0), (40, 0), (40, -40), (-40, -40)]), fill=gcol)
        draw.line(tb([(-40, 0), (40, 0)]), fill=_shade(gcol, rng.uniform(0.5, 0.8)), width=ss * rng.randint(1, 3))
    hair = _jitter(rng, rng.choice(_HAIR), 15)
    horn = _jitter(rng, rng.choice(_HORN), 12)
    c0, u, junction, heel_top = hoof.c0, hoof.u, hoof.junction, hoof.heel_top
    fet = (c0[0] + hoof.p_len * u[0], c0[1] + hoof.p_len * u[1])
    cw = rng.uniform(0.32, 0.42)
    draw.polygon(tb([(fet[0] - cw, fet[1]), (fet[0] + cw * 0.8, fet[1]), (fet[0] + cw * 0.7, fet[1] + 6),
                     (fet[0] - cw * 0.9, fet[1] + 6)]), fill=_shade(hair, 0.92))
    draw.polygon(tb([*(_ellipse(fet[0] - 0.05, fet[1], 0.5, 0.42, 0.3, 16))]), fill=_shade(hair, 0.96))
    nrm = (u[1], -u[0])  # perpendicular, pointing to the front
    half_front = abs((junction[0] - c0[0]) * nrm[0] + (junction[1] - c0[1]) * nrm[1])
    hw0, hw1 = half_front * rng.uniform(0.95, 1.1), half_front * rng.uniform(0.75, 0.9)
    band = [(c0[0] + nrm[0] * hw0, c0[1] + nrm[1] * hw0),
            (fet[0] + nrm[0] * hw1, fet[1] + nrm[1] * hw1),
            (fet[0] - nrm[0] * hw1, fet[1] - nrm[1] * hw1),
            (c0[0] - nrm[0] * hw0, c0[1] - nrm[1] * hw0)]
    draw.polygon(tb(band), fill=hair)
    draw.polygon(tb(_ellipse(heel_top[0] + 0.12, heel_top[1] - 0.05, 0.2, 0.17, 0.2, 14)), fill=_shade(hair, 0.8))
    draw.polygon(tb(hoof.capsule), fill=horn)
    for k in range(rng.randint(3, 7)):
        t = rng.uniform(0.1, 0.9)
        top = (junction[0] + (heel_top[0] - junction[0]) * t, junction[1] + (heel_top[1] - junction[1]) * t)
        bottom = (hoof.toe[0] + (hoof.heel[0] - hoof.toe[0]) * t, 0.0)
        draw.line(tb([top, bottom]), fill=_shade(horn, rng.uniform(0.7, 1.35)), width=ss)
    draw.line(tb([junction, *hoof.coronet, heel_top]), fill=_shade(hair, rng.uniform(0.6, 1.3)),
              width=max(1, int(scale * ss * 0.05)))


def _draw_occluders(rng: random.Random, draw, kps: list, scale: float) -> list:
    """Patches placed over a chosen keypoint; points under one become v=1."""
    occluders = []
    if rng.random() < 0.4:
        for _ in range(rng.randint(1, 2)):
            tx, ty = kps[rng.randrange(4)]
            r = rng.uniform(0.22, 0.45) * scale
            ox, oy = tx + rng.uniform(-0.5, 0.5) * r, ty + rng.uniform(-0.5, 0.5) * r
            if rng.random() < 0.5:
                poly = _ellipse(ox, oy, r, r * rng.uniform(0.5, 1.0), rng.uniform(0, math.pi), 16)
            else:
                poly = _ellipse(ox, oy, r * 1.3, r * rng.uniform(0.4, 0.9), rng.uniform(0, math.pi), 4)
            colour = _jitter(rng, rng.choice(_OCCLUDER), 25)
            draw.polygon([(x * SUPERSAMPLE, y * SUPERSAMPLE) for x, y in poly], fill=colour)
            occluders.append(poly)
    return occluders


def _draw_sample(rng: random.Random, size, Image, ImageDraw, ImageFilter, facing: str = "both"):
    """One picture and its keypoints in pixel coordinates, with visibility and parameters."""
    W, H = size
    ss = SUPERSAMPLE
    img = _background(rng, (W * ss, H * ss), Image, ImageDraw, ImageFilter)
    draw = ImageDraw.Draw(img)
    hoof = _hoof(rng)
    tf, rot, mirror, scale = _camera(rng, size, facing, hoof)

    def tb(pts):  # -> supersampled drawing coordinates
        return [(x * ss, y * ss) for x, y in (tf(p) for p in pts)]

    _draw_leg(rng, draw, hoof, tb, scale)
    kps = [tf(p) for p in hoof.keypoints]
    occluders = _draw_occluders(rng, draw, kps, scale)
    img = img.resize((W, H), Image.BOX)
    if rng.random() < 0.6:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    grain = Image.frombytes("RGB", (W, H), rng.randbytes(W * H * 3))
    img = Image.blend(img, grain, rng.uniform(0.03, 0.12))
    vis = [0 if not (0 <= x < W and 0 <= y < H) else 1 if any(_inside((x, y), poly) for poly in occluders) else 2
           for x, y in kps]
    # Box: tight around the hoof (capsule) and the labelled points, padded by 10 %, clipped to the picture.
    pts = [tf(p) for p in hoof.capsule] + kps
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    pad = 0.1 * max(x1 - x0, y1 - y0)
    x0, y0 = max(0.0, x0 - pad), max(0.0, y0 - pad)
    x1, y1 = min(float(W), x1 + pad), min(float(H), y1 + pad)
    params = dict(rotation_deg=round(math.degrees(rot), 2), scale_px=round(scale, 2),
                  facing="right" if mirror == 1 else "left", wall_angle_deg=round(math.degrees(hoof.wall), 2),
                  occluders=len(occluders), angles=true_angles(hoof))
    return img, kps, vis, (x0, y0, x1 - x0, y1 - y0), params


def _coco(split_records, size) -> dict:
    W, H = size
    images, annotations = [], []
    for i, (file_name, kps, vis, box) in enumerate(split_records, start=1):
        images.append({"id": i, "width": W, "height": H, "file_name": file_name, "license": 0,
                       "flickr_url": "", "coco_url": "", "date_captured": 0})
        flat = []
        for (x, y), v in zip(kps, vis):
            flat += [round(x, 2), round(y, 2), v] if v else [0, 0, 0]
        bx = [round(b, 2) for b in box]
        annotations.append({
            "id": i, "image_id": i, "category_id": 1, "segmentation": [], "area": round(bx[2] * bx[3], 2),
            "bbox": bx, "iscrowd": 0, "attributes": {"occluded": any(v == 1 for v in vis)},
            "keypoints": flat, "num_keypoints": sum(1 for v in vis if v > 0),
        })
    return {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "hoofenv synthetic", "date_created": "", "description": "", "url": "",
                 "version": "", "year": ""},
        "categories": [CATEGORY],
        "images": images,
        "annotations": annotations,
    }


def render(seed: int, split: str, index: int, image_size=(256, 256), facing: str = "both"):
    """Picture `index` (0-based) of `split`: (PIL image, keypoints [(x, y)], visibility, bbox, params)."""
    Image, ImageDraw, ImageFilter = _pil()
    rng = random.Random(f"hoofenv-synthetic:{seed}:{split}:{index}")
    return _draw_sample(rng, tuple(image_size), Image, ImageDraw, ImageFilter, facing)


def _prepare(out_dir: Path) -> None:
    """Refuse to write into a folder that holds something other than an earlier synthetic set."""
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).exists():
        raise HoofenvError(
            f"{out_dir} exists and was not written by the synthetic generator",
            causes=[f"no {MANIFEST} in it; refusing to overwrite what may be real annotations"],
            hint="pass another folder: hoofenv demo --generate-only --out data/demo",
            code="refused",
        )
    images = out_dir / "images"
    if images.is_dir():
        for f in images.iterdir():
            if _OWN_IMAGE.match(f.name):
                f.unlink()


def generate(out_dir, n_train: int = 240, n_val: int = 60, seed: int = 0, image_size=(256, 256),
             fmt: str = "jpg", facing: str = "both") -> Path:
    """Write images/ and annotations/{train,val}.json (CVAT COCO Keypoints 1.0) under out_dir; returns out_dir.

    `facing`: "both" mirrors half the hooves at random; "right" or "left" draws every hoof that way, as lateral
    photographs of one side do. Toe and heel are named by anatomy, not by side, so with both facings a model must
    tell the toe by its shape: trained from scratch for minutes on a CPU it learns the average instead (measured:
    toe and heel swapped, COCO AP 0 after 30 epochs), which is why the demo uses one facing.
    """
    from hoofenv.files import atomic_write_text

    if n_train < 1 or n_val < 1:
        raise HoofenvError(f"need at least one train and one val picture (got {n_train}, {n_val})",
                           hint="hoofenv demo --generate-only --n-train 240 --n-val 60", code="usage", exit_code=2)
    if facing not in ("both", "right", "left"):
        raise HoofenvError(f"facing {facing!r}: both, right or left", code="usage", exit_code=2)
    if fmt not in ("jpg", "png"):
        raise HoofenvError(f"image format {fmt!r}: jpg or png", code="usage", exit_code=2)
    _pil()
    out_dir = Path(out_dir)
    _prepare(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    size = (int(image_size[0]), int(image_size[1]))
    started = time.perf_counter()
    manifest = {"generator": "hoofenv.data.synthetic", "seed": seed, "image_size": list(size), "facing": facing,
                "counts": {"train": n_train, "val": n_val}, "samples": {}}
    for split, n in (("train", n_train), ("val", n_val)):
        records, samples = [], []
        for i in range(n):
            img, kps, vis, box, params = render(seed, split, i, size, facing)
            file_name = f"{split}_{i + 1:05d}.{fmt}"
            if fmt == "jpg":
                img.save(out_dir / "images" / file_name, quality=92)
            else:
                img.save(out_dir / "images" / file_name)
            records.append((file_name, kps, vis, box))
            samples.append(asdict(Sample(file_name=file_name, keypoints=[[round(x, 2), round(y, 2)] for x, y in kps],
                                         visibility=vis, **params)))
        atomic_write_text(out_dir / "annotations" / f"{split}.json", json.dumps(_coco(records, size)) + "\n")
        manifest["samples"][split] = samples
    manifest["seconds"] = None  # timing is not part of the deterministic output; see generate_timed
    atomic_write_text(out_dir / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    _last_seconds[0] = time.perf_counter() - started
    return out_dir


_last_seconds = [0.0]


def last_duration() -> float:
    """Seconds the last `generate` call took in this process."""
    return _last_seconds[0]
