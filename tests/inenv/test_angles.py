"""Hoof angles (hoofenv/inenv/angles.py): exact values on constructed keypoints, and on the synthetic set against the
angles its generator drew."""

from __future__ import annotations

import json
import math

import pytest

from hoofenv.inenv import angles

SIDE = ["toe", "heel", "hoof_pastern_junction", "pastern_axis"]
SEED = ["pastern_top", "pastern_bottom", "hoof_wall_top", "toe_tip"]


def side_view(hoof_deg: float, pastern_deg: float, facing: str = "right", roll_deg: float = 0.0,
              origin=(200.0, 300.0), scale: float = 80.0) -> list:
    """hoof-side points in pixels (y down) of a hoof with these ground-relative angles, facing right or left,
    the camera rolled by roll_deg."""
    toe = (0.7, 0.0)
    heel = (-0.6, 0.0)
    h = math.radians(hoof_deg)
    junction = (toe[0] - math.cos(h) * 1.2, math.sin(h) * 1.2)
    p = math.radians(pastern_deg)
    axis = (junction[0] - math.cos(p) * 0.9, junction[1] + math.sin(p) * 0.9)
    sign = 1 if facing == "right" else -1
    r = math.radians(roll_deg)
    out = []
    for x, y in (toe, heel, junction, axis):
        x, y = x * sign * scale, -y * scale
        out.append((origin[0] + x * math.cos(r) - y * math.sin(r), origin[1] + x * math.sin(r) + y * math.cos(r)))
    return out


ROLES = angles.resolve(SIDE)


@pytest.mark.parametrize("facing", ["right", "left"])
@pytest.mark.parametrize("roll", [0.0, 17.0, -25.0])
def test_exact_angles_whichever_way_the_hoof_faces(facing, roll):
    got = angles.measure(side_view(52.0, 47.5, facing, roll), ROLES)
    assert got["hoof_deg"] == pytest.approx(52.0, abs=1e-9)
    assert got["pastern_deg"] == pytest.approx(47.5, abs=1e-9)
    assert got["difference_deg"] == pytest.approx(4.5, abs=1e-9)
    assert got["hpa"] == "broken-forward" and got["ground"] == "toe-heel" and got["facing"] == facing
    assert got["note"] == ""


def test_hpa_classes_and_the_three_degree_band():
    for hoof, pastern, want in ((50.0, 50.0, "aligned"), (50.0, 47.01, "aligned"), (50.0, 52.99, "aligned"),
                                (50.0, 46.99, "broken-forward"), (50.0, 53.01, "broken-back"),
                                (45.0, 55.0, "broken-back"), (60.0, 40.0, "broken-forward")):
        got = angles.measure(side_view(hoof, pastern), ROLES)
        assert got["hpa"] == want, (hoof, pastern, got)
    assert angles.hpa_class(None, 50.0) is None
    assert angles.HPA_WORDS["broken-forward"].startswith("Broken Axis (High)")
    assert angles.HPA_WORDS["broken-back"].startswith("Broken Axis (Low)")


def test_order_of_a_segments_points_does_not_matter():
    a = side_view(55.0, 44.0)
    plain = {"toe": 0, "hoof_top": 2, "pastern_low": 2, "pastern_high": 3}  # no heel: the picture's horizontal
    swapped = {"toe": 2, "hoof_top": 0, "pastern_low": 3, "pastern_high": 2}
    got, again = angles.measure(a, plain), angles.measure(a, swapped)
    assert got["hoof_deg"] == pytest.approx(55.0) and got["pastern_deg"] == pytest.approx(44.0)
    assert again["hoof_deg"] == pytest.approx(55.0) and again["pastern_deg"] == pytest.approx(44.0)


def test_missing_heel_uses_the_picture_horizontal_and_says_so():
    pts = side_view(52.0, 47.5, roll_deg=10.0)
    pts[1] = None
    got = angles.measure(pts, ROLES)
    assert got["ground"] == "horizontal" and "toe or heel missing" in got["note"]
    # the camera rolled 10 degrees (clockwise on screen, the toe lower): against the horizontal both read 10 more
    assert got["hoof_deg"] == pytest.approx(62.0, abs=1e-9)
    assert got["pastern_deg"] == pytest.approx(57.5, abs=1e-9)
    assert got["facing"] == "right"  # from the toe ahead of the hoof top


def test_degenerate_ground_line_falls_back_to_horizontal():
    pts = side_view(52.0, 47.5)
    pts[1] = (pts[0][0] + 0.3, pts[0][1] - 0.2)  # heel 0.36 px from the toe
    got = angles.measure(pts, ROLES)
    assert got["ground"] == "horizontal" and "px apart" in got["note"]
    assert got["hoof_deg"] == pytest.approx(52.0, abs=1e-9)


def test_missing_or_collapsed_points_leave_that_angle_out():
    pts = side_view(52.0, 47.5)
    pts[3] = None
    got = angles.measure(pts, ROLES)
    assert got["pastern_deg"] is None and got["hpa"] is None and got["difference_deg"] is None
    assert got["hoof_deg"] == pytest.approx(52.0) and "pastern: pastern_high missing" in got["note"]
    pts = side_view(52.0, 47.5)
    pts[2] = pts[0]  # junction on the toe: no wall direction
    got = angles.measure(pts, ROLES)
    assert got["hoof_deg"] is None and "0.00 px apart" in got["note"]
    assert all(v is None for k, v in angles.measure([None] * 4, ROLES).items() if k.endswith("_deg"))


def test_the_seed_teams_points_by_name():
    side = side_view(54.0, 50.0, "left")
    toe, _, junction, axis = side
    # pastern_top = fetlock (up the pastern), pastern_bottom = coronary band, hoof_wall_top, toe_tip
    points = [axis, junction, junction, toe]
    roles = angles.resolve(SEED)
    assert "heel" not in roles
    got = angles.measure(points, roles)
    assert got["ground"] == "horizontal" and got["facing"] == "left"
    assert got["hoof_deg"] == pytest.approx(54.0) and got["pastern_deg"] == pytest.approx(50.0)
    assert got["hpa"] == "broken-forward"


def test_mapping_specs_and_their_errors(tmp_path):
    assert angles.parse_spec(None) is None and angles.parse_spec("auto") is None
    assert angles.parse_spec("hpa-points") == angles.PRESETS["hpa-points"]
    pairs = angles.parse_spec("toe=a, hoof_top=b,pastern_low=b,pastern_high=c")
    assert pairs == {"toe": "a", "hoof_top": "b", "pastern_low": "b", "pastern_high": "c"}
    f = tmp_path / "map.json"
    f.write_text(json.dumps({"toe": "T", "heel": "H", "hoof_top": "J", "pastern_low": "J", "pastern_high": "P"}))
    assert angles.resolve(["T", "H", "J", "P"], angles.parse_spec(str(f))) == \
        {"toe": 0, "heel": 1, "hoof_top": 2, "pastern_low": 2, "pastern_high": 3}
    for bad, words in (("toe=a", "missing role"), ("elbow=a,toe=b,hoof_top=c,pastern_low=c,pastern_high=d",
                                                     "unknown role"), ("nonsense", "neither a preset"),
                       ("toe=", "not ROLE=KEYPOINT")):
        with pytest.raises(angles.AngleSpecError, match=words):
            angles.parse_spec(bad)
    f.write_text("[1, 2]")
    with pytest.raises(angles.AngleSpecError, match="JSON object"):
        angles.parse_spec(str(f))
    with pytest.raises(angles.AngleSpecError, match="fit no angle preset"):
        angles.resolve(["near_fore", "off_fore", "near_hind", "off_hind"])
    with pytest.raises(angles.AngleSpecError, match="not among the keypoints"):
        angles.resolve(SIDE, angles.PRESETS["hpa-points"])
    assert angles.fits(SIDE) and angles.fits(SEED) and not angles.fits(["a", "b"])


def test_errors_mean_p90_and_agreement():
    truth = [{"hoof_deg": 50.0, "pastern_deg": 50.0, "difference_deg": 0.0, "hpa": "aligned"}] * 10
    guess = [{"hoof_deg": 50.0 + e, "pastern_deg": 50.0, "difference_deg": e, "hpa": angles.hpa_class(50 + e, 50)}
             for e in range(10)]
    guess[9] = {"hoof_deg": None, "pastern_deg": 51.0, "difference_deg": None, "hpa": None}
    out = angles.errors(list(zip(guess, truth)))
    assert out["hoof_mae"] == pytest.approx(4.0) and out["hoof_n"] == 9  # |0..8| mean
    assert out["hoof_p90"] == pytest.approx(7.2)  # linear between ranks, as numpy.percentile
    assert out["pastern_mae"] == pytest.approx(0.1) and out["pastern_n"] == 10
    assert out["hpa_agreement"] == pytest.approx(3 / 9) and out["hpa_n"] == 9  # errors 0, 1, 2 stay aligned
    assert angles.percentile([], 90) is None and angles.percentile([3.0], 90) == 3.0
    assert angles.errors([])["hoof_mae"] is None


def test_synthetic_val_set_measures_what_its_generator_drew(tmp_path):
    """The angles measured on the exported annotations (rotated, mirrored, rounded to 0.01 px) equal the ones the
    generator computed on its canonical hoof."""
    from hoofenv.data import synthetic

    root = synthetic.generate(tmp_path / "s", n_train=2, n_val=40, seed=4, image_size=(256, 256))
    manifest = json.loads((root / synthetic.MANIFEST).read_text())
    anns = json.loads((root / "annotations" / "val.json").read_text())["annotations"]
    roles = angles.resolve(synthetic.KEYPOINTS)
    measured = 0
    for sample, ann in zip(manifest["samples"]["val"], anns):
        got = angles.measure(angles.from_coco_keypoints(ann["keypoints"]), roles)
        truth = sample["angles"]
        assert truth["hoof_deg"] == pytest.approx(sample["wall_angle_deg"], abs=0.006)
        if got["hoof_deg"] is None or got["pastern_deg"] is None or got["ground"] != "toe-heel":
            continue  # a point off the picture (v=0)
        measured += 1
        assert got["hoof_deg"] == pytest.approx(truth["hoof_deg"], abs=0.05)
        assert got["pastern_deg"] == pytest.approx(truth["pastern_deg"], abs=0.05)
        assert got["hpa"] == truth["hpa"] and got["facing"] == sample["facing"]
    assert measured >= 30
