"""`data merge`: ids remapped, images de-duplicated by name and content, conflicts reported, counts proven."""

from __future__ import annotations



from hoofenv.data.check import check_file
from hoofenv.data.coco import load
from tests.data.helpers import cvat_export, data_cli, data_json, write_export


def second_export() -> dict:
    """The next round: images 1-2 re-exported (1 re-annotated), two new ones, ids restarting at 1 as CVAT does."""
    d = cvat_export(n_images=4)
    for img in d["images"][2:]:
        img["file_name"] = img["file_name"].replace("frame_", "round2_")
    d["annotations"][0]["keypoints"][0] += 3.0
    return d


def test_merge_counts_and_ids(tmp_path):
    a = write_export(tmp_path, cvat_export(n_images=3), "a.json")
    b = write_export(tmp_path, second_export(), "b.json")
    code, out = data_json("merge", str(a), str(b), "-o", str(tmp_path / "m.json"))
    assert code == 0, out
    c = out["counts"]
    # image 1: one annotation re-annotated (superseded by b's), the other identical (a duplicate); image 2: both
    # identical
    assert c == {"images_in": 7, "images_out": 5, "duplicate_images": 2, "annotations_in": 14,
                 "annotations_out": 10, "duplicate_annotations": 3, "superseded_annotations": 1}
    assert [d["file_name"] for d in out["duplicate_images"]] == ["task/frame_0001.png", "task/frame_0002.png"]
    [conflict] = out["conflicts"]
    assert conflict["file_name"] == "task/frame_0001.png" and conflict["kept_source"].endswith("b.json")
    merged = load(tmp_path / "m.json")
    assert [i["id"] for i in merged["images"]] == [1, 2, 3, 4, 5]
    assert [x["id"] for x in merged["annotations"]] == list(range(1, 11))
    kept = [x for x in merged["annotations"] if x["image_id"] == 1]
    assert kept[0]["keypoints"][0] == cvat_export()["annotations"][0]["keypoints"][0] + 3.0
    assert check_file(tmp_path / "m.json").ok


def test_prefer_first(tmp_path):
    a = write_export(tmp_path, cvat_export(n_images=3), "a.json")
    b = write_export(tmp_path, second_export(), "b.json")
    code, out = data_json("merge", str(a), str(b), "-o", str(tmp_path / "m.json"), "--prefer", "first")
    assert code == 0
    merged = load(tmp_path / "m.json")
    assert merged["annotations"][0]["keypoints"][0] == cvat_export()["annotations"][0]["keypoints"][0]


def test_same_content_under_another_name_is_a_duplicate(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a_data = cvat_export(n_images=2)
    b_data = cvat_export(n_images=2)
    b_data["images"][0]["file_name"] = "renamed/first.png"
    b_data["images"][1]["file_name"] = "task/new.png"
    a = write_export(tmp_path / "a", a_data, pictures=True)
    b = write_export(tmp_path / "b", b_data, pictures=True)
    from PIL import Image
    Image.new("RGB", (64, 48), (1, 2, 3)).save(tmp_path / "b/images/task/new.png")
    code, out = data_json("merge", str(a), str(b), "-o", str(tmp_path / "m.json"),
                          "--images", str(tmp_path / "a/images"), "--images", str(tmp_path / "b/images"))
    assert code == 0, out
    assert [(d["file_name"], d["reason"]) for d in out["duplicate_images"]] == [("renamed/first.png", "same content")]
    assert out["counts"]["images_out"] == 3


def test_same_name_different_picture_is_refused(tmp_path):
    a = write_export(tmp_path, cvat_export(n_images=2), "a.json")
    other = cvat_export(n_images=2)
    other["images"][0]["width"] = 640
    b = write_export(tmp_path, other, "b.json")
    proc = data_cli("merge", str(a), str(b), "-o", str(tmp_path / "m.json"))
    assert proc.returncode == 1 and "two different pictures are both called" in proc.stderr
    assert not (tmp_path / "m.json").exists()


def test_different_schemas_are_refused(tmp_path):
    a = write_export(tmp_path, cvat_export(), "a.json")
    other = cvat_export()
    other["categories"][1]["keypoints"] = ["near_fore", "off_fore", "near_hind", "off_hind"]
    b = write_export(tmp_path, other, "b.json")
    code, out = data_json("merge", str(a), str(b), "-o", str(tmp_path / "m.json"))
    assert code == 1 and out["ok"] is False and out["error"]["code"] == "schema"
    assert "different keypoint schema" in out["error"]["message"]
    assert not (tmp_path / "m.json").exists()


def test_one_based_and_zero_based_skeletons_are_the_same_schema(tmp_path):
    a = write_export(tmp_path, cvat_export(), "a.json")
    other = second_export()
    other["categories"][1]["skeleton"] = [[1, 2], [1, 3], [2, 3], [3, 4]]
    b = write_export(tmp_path, other, "b.json")
    assert data_cli("merge", str(a), str(b), "-o", str(tmp_path / "m.json")).returncode == 0


def test_refuses_to_overwrite_an_input(tmp_path):
    a = write_export(tmp_path, cvat_export(), "a.json")
    b = write_export(tmp_path, second_export(), "b.json")
    before = b.read_text()
    assert data_cli("merge", str(a), str(b), "-o", str(b)).returncode == 2
    assert b.read_text() == before


def test_real_cvat_like_train_and_val(realdata, tmp_path):
    root = realdata / "cvat_like/cvat-ai_datumaro/coco_person_keypoints"
    code, out = data_json("merge", str(root / "annotations/person_keypoints_train.json"),
                          str(root / "annotations/person_keypoints_val.json"), "-o", str(tmp_path / "m.json"),
                          "--images", str(root / "images/train"), "--images", str(root / "images/val"))
    assert code == 0, out
    c = out["counts"]
    assert c["images_in"] == c["images_out"] + c["duplicate_images"]
    assert c["annotations_in"] == c["annotations_out"] + c["duplicate_annotations"] + c["superseded_annotations"]
    assert (c["images_out"], c["annotations_out"]) == (2, 3)
