"""Hoof and pastern angles from the side-view keypoints, as farriers measure them (docs/angles.md).

Standard library only: the validation metric imports it inside the training env (angle_metric.py), the ONNX
runner inside its light env, and hoofenv's own process for the CSV/JSON of `predict --angles` and the report.

Definitions (../shared/reference/data-facts.md, "Hoof angles"):
- the ground line runs toe -> heel when both points are there and at least MIN_SEGMENT_PX apart, else it is the
  picture's horizontal (`ground` says which, `note` why);
- the hoof (dorsal wall) angle is the angle between the ground line and the segment toe -> coronary band at the
  front; the pastern angle is that of the segment along the pastern (coronary band -> fetlock, or the
  hoof-pastern junction -> a point on the pastern axis);
- each is the acute angle between the two lines, 0..90 degrees, as an inclinometer reads it. Mirroring a picture
  does not change an angle between two lines, so a hoof facing left reads the same as one facing right, and the
  order of a segment's two points does not matter. (A wall or pastern leaning forward past vertical, which no
  real hoof does, would read 180 - a.)
- HPA: aligned when |hoof - pastern| < ALIGNED_DEG; broken forward (the seed team's "Broken Axis (High)") when
  the hoof is steeper than the pastern; broken back ("Broken Axis (Low)") when the pastern is steeper.
"""

from __future__ import annotations

import json
import math
import os

ALIGNED_DEG = 3.0
MIN_SEGMENT_PX = 1.0  # a ground line or segment shorter than this has no direction worth reading

# The points an angle needs, by role: the hoof segment runs toe -> hoof_top, the pastern segment
# pastern_low -> pastern_high, the ground toe -> heel.
ROLES = ("toe", "heel", "hoof_top", "pastern_low", "pastern_high")
REQUIRED = ("toe", "hoof_top", "pastern_low", "pastern_high")

# role -> keypoint name, for the schemas hoofenv knows. `hoof-side` is hoofenv's preset (hoofenv/data/schema.py);
# `hpa-points` the horse-health team's own four points (pastern_top = fetlock joint, pastern_bottom = coronary
# band, hoof_wall_top = coronary band at the front, toe_tip = ground contact), which have no heel.
PRESETS = {
    "hoof-side": {"toe": "toe", "heel": "heel", "hoof_top": "hoof_pastern_junction",
                  "pastern_low": "hoof_pastern_junction", "pastern_high": "pastern_axis"},
    "hpa-points": {"toe": "toe_tip", "hoof_top": "hoof_wall_top", "pastern_low": "pastern_bottom",
                   "pastern_high": "pastern_top"},
}

HPA_CLASSES = ("aligned", "broken-forward", "broken-back")
HPA_WORDS = {"aligned": "aligned", "broken-forward": "Broken Axis (High): Hoof > Pastern",
             "broken-back": "Broken Axis (Low): Pastern > Hoof"}
FIELDS = ("hoof_deg", "pastern_deg", "difference_deg", "hpa", "ground", "facing", "note")


class AngleSpecError(ValueError):
    """A mapping of roles to keypoint names that does not fit (the message names what is wrong)."""


def parse_spec(spec: str | None) -> dict | None:
    """`--angle-points`: None (choose from the keypoint names), a preset name, a JSON file {role: name}, or
    `role=name,role=name`. Returns {role: name} or None."""
    if spec is None or spec == "auto":
        return None
    if spec in PRESETS:
        return dict(PRESETS[spec])
    if "=" in spec:
        out = {}
        for part in spec.split(","):
            role, sep, name = part.partition("=")
            if not sep or not role.strip() or not name.strip():
                raise AngleSpecError(f"{part!r} is not ROLE=KEYPOINT")
            out[role.strip()] = name.strip()
        return _checked(out, spec)
    if os.path.isfile(spec):
        try:
            with open(spec, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            raise AngleSpecError(f"{spec}: not a JSON object of role -> keypoint name ({exc})") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise AngleSpecError(f"{spec}: expected a JSON object of role -> keypoint name, "
                                 f"e.g. {PRESETS['hpa-points']}")
        return _checked(dict(data), spec)
    raise AngleSpecError(f"{spec!r} is neither a preset ({', '.join(PRESETS)}), a JSON file nor ROLE=KEYPOINT pairs")


def _checked(mapping: dict, where: str) -> dict:
    unknown = sorted(set(mapping) - set(ROLES))
    if unknown:
        raise AngleSpecError(f"{where}: unknown role(s) {unknown}; roles are {', '.join(ROLES)}")
    missing = [r for r in REQUIRED if r not in mapping]
    if missing:
        raise AngleSpecError(f"{where}: missing role(s) {missing} (heel is optional)")
    return mapping


def resolve(names: list[str], mapping: dict | None = None) -> dict[str, int]:
    """{role: keypoint index} for these keypoint names. Without a mapping, the first preset whose names are all
    present (heel may be absent). Raises AngleSpecError naming the keypoints that are missing."""
    index = {n: i for i, n in enumerate(names)}
    if mapping is None:
        for preset in PRESETS.values():
            if all(preset[r] in index for r in REQUIRED):
                return {r: index[n] for r, n in preset.items() if n in index}
        raise AngleSpecError(f"keypoints {names} fit no angle preset ({', '.join(PRESETS)}): name the points with "
                             "--angle-points toe=NAME,heel=NAME,hoof_top=NAME,pastern_low=NAME,pastern_high=NAME")
    mapping = _checked(dict(mapping), "mapping")
    absent = [f"{r}={n}" for r, n in mapping.items() if n not in index]
    if absent:
        raise AngleSpecError(f"{', '.join(absent)}: not among the keypoints {names}")
    return {r: index[n] for r, n in mapping.items()}


def names_for(names: list[str], mapping: dict | None = None) -> dict[str, str]:
    """{role: keypoint name}: resolve() spelled out, for a config or a report."""
    return {r: names[i] for r, i in resolve(names, mapping).items()}


def fits(names: list[str]) -> bool:
    try:
        resolve(names)
    except AngleSpecError:
        return False
    return True


def _vec(a, b):
    return (b[0] - a[0], b[1] - a[1])


def _len(v) -> float:
    return math.hypot(v[0], v[1])


def line_angle(v, ground) -> float:
    """The acute angle in degrees between two directions (0..90)."""
    cross = v[0] * ground[1] - v[1] * ground[0]
    dot = v[0] * ground[0] + v[1] * ground[1]
    return math.degrees(math.atan2(abs(cross), abs(dot)))


def hpa_class(hoof: float | None, pastern: float | None) -> str | None:
    if hoof is None or pastern is None:
        return None
    diff = hoof - pastern
    if abs(diff) < ALIGNED_DEG:
        return "aligned"
    return "broken-forward" if diff > 0 else "broken-back"


def _facing(p: dict, ground) -> str | None:
    """Which way the toe points: along the ground line from heel to toe, else the toe ahead of the hoof top."""
    if p.get("toe") and p.get("heel") and ground is not None:
        return "right" if p["toe"][0] >= p["heel"][0] else "left"
    for front, back in (("toe", "hoof_top"), ("pastern_low", "pastern_high")):
        if p.get(front) and p.get(back) and p[front][0] != p[back][0]:
            return "right" if p[front][0] > p[back][0] else "left"
    return None


def measure(points: list, roles: dict[str, int]) -> dict:
    """The angles of one instance. `points[k]` is (x, y) in pixels (y down) or None when keypoint k is missing
    (not labelled, or not predicted). Angles that cannot be measured are None and `note` says why."""
    p = {r: (tuple(points[i][:2]) if i < len(points) and points[i] is not None else None) for r, i in roles.items()}
    notes = []
    ground, ground_name = (1.0, 0.0), "horizontal"
    if p.get("toe") and p.get("heel"):
        g = _vec(p["heel"], p["toe"])
        if _len(g) >= MIN_SEGMENT_PX:
            ground, ground_name = g, "toe-heel"
        else:
            notes.append(f"toe and heel {_len(g):.2f} px apart: ground = picture horizontal")
    elif "heel" in roles:
        notes.append("toe or heel missing: ground = picture horizontal")
    angles = {}
    for name, (a, b) in (("hoof_deg", ("toe", "hoof_top")), ("pastern_deg", ("pastern_low", "pastern_high"))):
        if not p.get(a) or not p.get(b):
            angles[name] = None
            notes.append(f"{name[:-4]}: {a if not p.get(a) else b} missing")
            continue
        v = _vec(p[a], p[b])
        if _len(v) < MIN_SEGMENT_PX:
            angles[name] = None
            notes.append(f"{name[:-4]}: {a} and {b} {_len(v):.2f} px apart")
            continue
        angles[name] = line_angle(v, ground)
    hoof, pastern = angles["hoof_deg"], angles["pastern_deg"]
    return {"hoof_deg": hoof, "pastern_deg": pastern,
            "difference_deg": None if hoof is None or pastern is None else hoof - pastern,
            "hpa": hpa_class(hoof, pastern), "ground": ground_name,
            "facing": _facing(p, ground if ground_name == "toe-heel" else None), "note": "; ".join(notes)}


def from_coco_keypoints(flat: list, min_score: float | None = None) -> list:
    """[x, y, v-or-score] * K -> [(x, y) or None]: a point is missing when v == 0 (annotations) or, with
    min_score, when its score is below it (predictions)."""
    out = []
    for j in range(0, len(flat) - 2, 3):
        x, y, v = flat[j], flat[j + 1], flat[j + 2]
        missing = (v <= min_score) if min_score is not None else v <= 0
        out.append(None if missing else (float(x), float(y)))
    return out


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), q in 0..100."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def errors(pairs: list[tuple[dict, dict]]) -> dict:
    """Absolute errors of (predicted, true) angle pairs: mean and 90th percentile per angle in degrees, the HPA
    class agreement (fraction) and how many instances each figure is over. Missing on either side: not counted."""
    out: dict = {}
    for key, short in (("hoof_deg", "hoof"), ("pastern_deg", "pastern"), ("difference_deg", "difference")):
        errs = [abs(p[key] - t[key]) for p, t in pairs if p.get(key) is not None and t.get(key) is not None]
        out[f"{short}_mae"] = sum(errs) / len(errs) if errs else None
        out[f"{short}_p90"] = percentile(errs, 90)
        out[f"{short}_n"] = len(errs)
    agree = [p["hpa"] == t["hpa"] for p, t in pairs if p.get("hpa") and t.get("hpa")]
    out["hpa_agreement"] = sum(agree) / len(agree) if agree else None
    out["hpa_n"] = len(agree)
    return out


def rounded(record: dict, digits: int = 2) -> dict:
    return {k: round(v, digits) if isinstance(v, float) else v for k, v in record.items()}
