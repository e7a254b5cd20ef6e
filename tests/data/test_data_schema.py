"""Keypoint schema: presets, from_coco with 1-based skeletons, swap pairs, and the metainfo file MMPose reads."""

from __future__ import annotations

import runpy

import pytest

from hoofenv.data.coco import load
from hoofenv.data.schema import PRESETS, Schema, swap_pairs, write_metainfo
from hoofenv.errors import HoofenvError
from tests.data.helpers import cvat_export, data_cli, write_export


def test_presets():
    side, four = PRESETS["hoof-side"], PRESETS["four-hooves"]
    assert side.keypoints == ["toe", "heel", "hoof_pastern_junction", "pastern_axis"]
    assert four.keypoints == ["near_fore", "off_fore", "near_hind", "off_hind"]
    assert four.swaps == {} and side.swaps == {}
    for s in (side, four):
        assert len(s.sigmas) == len(s.joint_weights) == 4
        assert all(0.02 <= x <= 0.1 for x in s.sigmas)
        assert all(n.isidentifier() for n in s.keypoints)


def test_from_real_exports_converts_one_based_skeleton_and_finds_flip_pairs(realdata):
    ap10k = Schema.from_coco(load(realdata / "ap10k/test_ap10k.json"))
    assert len(ap10k.keypoints) == 17 and ap10k.skeleton[0] == (0, 1)
    assert max(max(e) for e in ap10k.skeleton) == 16
    assert ap10k.swaps["left_front_paw"] == "right_front_paw"
    assert ap10k.flip_indices()[7] == 10
    zebra = Schema.from_coco(load(realdata / "zebra/test_zebra.json"))
    assert zebra.swaps == {"forelegL1": "forelegR1", "forelegR1": "forelegL1",
                           "hindlegL1": "hindlegR1", "hindlegR1": "hindlegL1"}
    animal = Schema.from_coco(load(realdata / "animalpose/test_animalpose.json"))
    assert animal.swaps["L_F_Paw"] == "R_F_Paw" and "Nose" not in animal.swaps
    datumaro = Schema.from_coco(load(
        realdata / "cvat_like/cvat-ai_datumaro/coco_person_keypoints/annotations/person_keypoints_val.json"))
    assert datumaro.skeleton == [(0, 1), (1, 2)]


def test_near_off_are_not_swapped():
    assert swap_pairs(["near_fore", "off_fore", "near_hind", "off_hind"]) == {}
    assert swap_pairs(["l_hoof", "r_hoof", "tail"]) == {"l_hoof": "r_hoof", "r_hoof": "l_hoof"}


def test_inconsistent_schema_is_refused():
    with pytest.raises(HoofenvError, match="inconsistent"):
        Schema(name="x", keypoints=["a", "b"], skeleton=[(0, 2)])
    with pytest.raises(HoofenvError, match="sigmas"):
        Schema(name="x", keypoints=["a", "b"], sigmas=[0.1])


def test_no_names_is_an_error_with_the_fix(realdata):
    data = load(realdata / "cvat_like/openvinotoolkit_datumaro/coco_person_keypoints/annotations/"
                           "person_keypoints_train.json")
    with pytest.raises(HoofenvError) as err:
        Schema.from_coco(data)
    assert "--schema" in err.value.hint


def test_metainfo_file_shape(tmp_path):
    schema = Schema.from_coco(cvat_export())
    path = write_metainfo(schema, tmp_path / "hoof.py")
    info = runpy.run_path(str(path))["dataset_info"]
    assert info == schema.to_metainfo()
    assert set(info) == {"dataset_name", "paper_info", "keypoint_info", "skeleton_info", "joint_weights", "sigmas"}
    assert info["keypoint_info"][2] == dict(name="hoof_pastern_junction", id=2, color=info["keypoint_info"][2]["color"],
                                            type="", swap="")
    assert info["skeleton_info"][0]["link"] == ("toe", "heel")
    assert info["sigmas"] == [0.025, 0.025, 0.035, 0.062]


def test_cli_schema_from_preset_and_export(tmp_path):
    proc = data_cli("schema", "--preset", "four-hooves", "-o", str(tmp_path / "four.py"))
    assert proc.returncode == 0, proc.stderr
    assert runpy.run_path(str(tmp_path / "four.py"))["dataset_info"]["dataset_name"] == "four-hooves"
    src = write_export(tmp_path, cvat_export())
    proc = data_cli("schema", str(src), "-o", str(tmp_path / "meta.py"))
    assert proc.returncode == 0 and "metainfo=dict(from_file=" in proc.stdout
    proc = data_cli("schema", "--preset", "three-hooves", "-o", str(tmp_path / "x.py"))
    assert proc.returncode == 2 and "hoof-side" in proc.stderr
