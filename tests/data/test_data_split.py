"""`data split`: reproducible by seed, by image, groups never straddle train and val, nothing lost."""

from __future__ import annotations

from hoofenv.data.coco import load
from hoofenv.data.split import split
from tests.data.helpers import cvat_export, data_cli, data_json, write_export


def videos(n_images: int = 40, n_videos: int = 8) -> dict:
    d = cvat_export(n_images=n_images, per_image=1)
    for img in d["images"]:
        img["file_name"] = f"horse_{img['id'] % n_videos}/frame_{img['id']:04d}.png"
        img["video"] = f"v{img['id'] % n_videos}"
    return d


def _ids(part) -> set:
    return {i["id"] for i in part["images"]}


def test_same_seed_same_split_other_seed_other_split():
    a = split(videos(), 0.2, seed=1)
    b = split(videos(), 0.2, seed=1)
    c = split(videos(), 0.2, seed=2)
    assert _ids(a[1]) == _ids(b[1])
    assert _ids(a[1]) != _ids(c[1])
    assert len(a[1]["images"]) == 8


def test_groups_do_not_leak_and_nothing_is_lost():
    data = videos()
    for key in ("dir", "video", r"re:^(horse_\d+)/"):
        train, val, groups = split(data, 0.25, seed=7, group_by=key)
        assert not groups["train"] & groups["val"]
        dirs_train = {i["file_name"].split("/")[0] for i in train["images"]}
        dirs_val = {i["file_name"].split("/")[0] for i in val["images"]}
        assert dirs_val and not dirs_train & dirs_val, key
        assert _ids(train) | _ids(val) == _ids(data) and not _ids(train) & _ids(val)
        assert len(train["annotations"]) + len(val["annotations"]) == len(data["annotations"])
        assert all(a["image_id"] in _ids(val) for a in val["annotations"])


def test_order_of_images_in_the_file_does_not_matter():
    data = videos()
    shuffled = dict(data, images=list(reversed(data["images"])), annotations=list(reversed(data["annotations"])))
    assert _ids(split(data, 0.3, seed=4, group_by="video")[1]) == _ids(split(shuffled, 0.3, seed=4, group_by="video")[1])


def test_cli_writes_both_parts(tmp_path):
    src = write_export(tmp_path, videos())
    code, out = data_json("split", str(src), "--val", "0.2", "--seed", "5", "--group-by", "dir",
                          "-o", str(tmp_path / "splits"))
    assert code == 0, out
    train, val = load(out["train"]["path"]), load(out["val"]["path"])
    assert out["train"]["images"] + out["val"]["images"] == 40
    assert len(train["annotations"]) + len(val["annotations"]) == 40
    assert train["categories"] == val["categories"]


def test_cli_bad_fraction_and_bad_group(tmp_path):
    src = write_export(tmp_path, videos())
    proc = data_cli("split", str(src), "--val", "1.5")
    assert proc.returncode == 2 and "--val 1.5" in proc.stderr
    proc = data_cli("split", str(src), "--group-by", "horse_name")
    assert proc.returncode == 2 and "no field 'horse_name'" in proc.stderr
    assert not (tmp_path / "ann_train.json").exists()


def test_one_group_cannot_be_split(tmp_path):
    src = write_export(tmp_path, cvat_export(n_images=6))
    proc = data_cli("split", str(src), "--group-by", "dir")
    assert proc.returncode == 2 and "without putting a group in both parts" in proc.stderr
    assert not (tmp_path / "ann_train.json").exists()
