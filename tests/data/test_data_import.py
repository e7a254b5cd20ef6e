"""`hoofenv data import`: CVAT exports as exported -- datumaro's real CVAT-style test exports (../shared), and exports
built here for one subset, two subsets, a merge of two exports, the flat layout and hostile zips."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile
from pathlib import Path

import pytest

from hoofenv.data.cvat_export import ZipLimits
from hoofenv.data.imports import ImportOptions, import_exports
from hoofenv.errors import HoofenvError
from tests.conftest import run_cli
from tests.data.exports import subset_json, write_export, zip_folder


def tree_digest(root: Path) -> str:
    """Every file's path, bytes and mode under ROOT: proves an export was not touched."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes() + oct(p.stat().st_mode).encode())
    return h.hexdigest()


def load(path) -> dict:
    return json.loads(Path(path).read_text())


def cli(*args):
    """(exit code, the --json report, the error as text: message, causes and hint)."""
    proc = run_cli("data", "import", *args, "--json")
    data = json.loads(proc.stdout) if proc.stdout.strip() else None
    error = (data or {}).get("error") or {}
    text = " ".join([error.get("message") or "", *error.get("causes", []), error.get("hint") or ""])
    return proc.returncode, data, proc.stderr + text


# ------------------------------------------------------------------------------------------- real exports
@pytest.fixture()
def cvat_real(realdata) -> Path:
    return realdata / "cvat_like" / "cvat-ai_datumaro" / "coco_person_keypoints"


@pytest.mark.parametrize("zipped", [False, True])
def test_datumaro_cvat_export_as_exported(cvat_real, tmp_path, zipped):
    source = zip_folder(cvat_real, tmp_path / "export.zip") if zipped else cvat_real
    before = tree_digest(cvat_real)
    rc, report, err = cli(str(source), "-o", str(tmp_path / "ds"))
    assert rc == 0, err
    assert tree_digest(cvat_real) == before
    assert report["sources"][0]["kind"] == ("zip" if zipped else "folder")
    assert set(report["sources"][0]["subsets"]) == {"train", "val"}
    assert report["split"]["how"] == "subsets"
    # the export's quirk: annotations on the rectangle label (empty keypoints) -- repaired, not dropped
    assert {c["code"] for c in report["repaired"]} == {"rectangle-category"}
    assert "crowd-instance" in {f["code"] for f in report["remaining"]}
    train, val = load(tmp_path / "ds/annotations/train.json"), load(tmp_path / "ds/annotations/val.json")
    assert [i["file_name"] for i in train["images"]] == ["train/a.jpg"]
    assert [i["file_name"] for i in val["images"]] == ["val/b.jpg"]
    assert all(a["category_id"] == 1 for a in train["annotations"] + val["annotations"])
    assert (tmp_path / "ds/images/train/a.jpg").read_bytes() == (cvat_real / "images/train/a.jpg").read_bytes()
    assert "dataset_info" in (tmp_path / "ds/metainfo.py").read_text()
    again = run_cli("data", "import", str(source), "-o", str(tmp_path / "ds"))
    assert again.returncode == 0 and "unchanged since the last import" in again.stdout


def test_export_without_keypoint_names_is_refused_with_the_way_out(realdata, tmp_path):
    source = realdata / "cvat_like" / "openvinotoolkit_datumaro" / "coco_person_keypoints"
    rc, _, err = cli(str(source), "-o", str(tmp_path / "ds"))
    assert rc == 1
    assert "no-keypoint-names" in err and "--schema" in err and "nothing was written" in err
    assert not (tmp_path / "ds").exists() and list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------- built exports
def test_one_subset_zip_is_repaired_and_split_reproducibly(tmp_path):
    export = write_export(tmp_path / "e", {"default": 10}, zip_to=tmp_path / "task.zip")
    a = import_exports([str(export)], tmp_path / "a", ImportOptions(seed=3))
    import_exports([str(export)], tmp_path / "b", ImportOptions(seed=3))
    import_exports([str(export)], tmp_path / "c", ImportOptions(seed=4))
    assert a.split["how"] == "split" and a.split["counts"]["train"]["images"] + a.split["counts"]["val"]["images"] == 10
    for name in ("train", "val"):
        assert (tmp_path / "a/annotations" / f"{name}.json").read_bytes() == \
            (tmp_path / "b/annotations" / f"{name}.json").read_bytes()
    names = lambda d: sorted(i["file_name"] for i in load(d / "annotations/val.json")["images"])  # noqa: E731
    assert names(tmp_path / "a") != names(tmp_path / "c")
    repaired = {c["code"]: c["count"] for c in a.repaired}
    assert repaired["bbox-from-keypoints"] == 4 and "skeleton-zero-based" in repaired  # every 3rd box was flat
    train = load(tmp_path / "a/annotations/train.json")
    assert all(ann["bbox"][3] > 0 and ann["area"] > 0 for ann in train["annotations"])
    assert train["categories"][1]["skeleton"] == [[0, 1], [0, 2], [1, 2], [2, 3]]
    for img in train["images"]:
        assert img["file_name"].startswith("default/horse") and (tmp_path / "a/images" / img["file_name"]).is_file()
    assert a.images["pictures"] == 10 and not a.remaining


def test_group_by_keeps_each_horse_in_one_part(tmp_path):
    export = write_export(tmp_path / "e", {"default": 12})
    report = import_exports([str(export)], tmp_path / "ds", ImportOptions(group_by="dir", val=0.4))
    parts = {n: {i["file_name"].split("/")[1] for i in load(tmp_path / f"ds/annotations/{n}.json")["images"]}
             for n in ("train", "val")}
    assert parts["train"] and parts["val"] and not parts["train"] & parts["val"]
    assert report.split["group_by"] == "dir"


def test_two_subsets_are_used_as_train_and_val(tmp_path):
    export = write_export(tmp_path / "e", {"train": 5, "val": 3, "test": 2})
    report = import_exports([str(export)], tmp_path / "ds")
    assert report.split["how"] == "subsets"
    assert {k: v["images"] for k, v in report.split["counts"].items()} == {"train": 5, "val": 3, "test": 2}
    assert all(i["file_name"].startswith("val/") for i in load(tmp_path / "ds/annotations/val.json")["images"])
    assert (tmp_path / "ds/annotations/test.json").is_file()


def test_flat_layout_of_older_exports(tmp_path):
    export = write_export(tmp_path / "e", {"default": 4}, flat=True)
    report = import_exports([str(export)], tmp_path / "ds")
    assert report.images["pictures"] == 4
    assert sorted(p.name for p in (tmp_path / "ds/images/default").rglob("*.jpg")) == [
        f"frame_{i:06d}.jpg" for i in range(4)]


def test_annotate_more_export_again_merges_and_the_later_export_wins(tmp_path):
    first = write_export(tmp_path / "v1", {"default": 6}, zip_to=tmp_path / "v1.zip")
    second_dir = tmp_path / "v2"
    write_export(second_dir, {"default": 6}, start=3)  # frames 3..8: 3 shared with the first export
    ann = second_dir / "annotations/person_keypoints_default.json"
    data = load(ann)
    moved = next(a for a in data["annotations"] if a["image_id"] == 2)  # frame 4, re-annotated in the second
    moved["keypoints"][0] += 3.0
    ann.write_text(json.dumps(data))
    report = import_exports([str(first), str(second_dir)], tmp_path / "ds")
    (merged,) = report.merged
    assert merged["counts"]["images_in"] == 12 and merged["counts"]["images_out"] == 9
    assert merged["counts"]["duplicate_images"] == 3 and merged["conflicts"] == 1
    both = load(tmp_path / "ds/annotations/train.json")["annotations"] + load(
        tmp_path / "ds/annotations/val.json")["annotations"]
    assert len(both) == 9
    assert any(a["keypoints"][0] == moved["keypoints"][0] for a in both)  # the later export's version kept
    assert len(list((tmp_path / "ds/images").rglob("*.jpg"))) == 9


def test_zip_leaves_out_pictures_no_annotation_names(tmp_path):
    export = write_export(tmp_path / "e", {"default": 3})
    (export / "images/default/stray.jpg").write_bytes((export / "images/default/horse1/frame_000000.jpg").read_bytes())
    report = import_exports([str(zip_folder(export, tmp_path / "x.zip"))], tmp_path / "ds")
    assert report.images["unreferenced"] == 1 and not (tmp_path / "ds/images/default/stray.jpg").exists()


# ------------------------------------------------------------------------------------------- refusals
def test_export_without_pictures_names_the_tick_box(tmp_path):
    export = write_export(tmp_path / "e", {"default": 3})
    for p in sorted((export / "images").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    with pytest.raises(HoofenvError) as err:
        import_exports([str(export)], tmp_path / "ds")
    assert err.value.code == "image-file-missing" and "Save images" in err.value.hint
    assert not (tmp_path / "ds").exists()


def test_output_is_claimed_only_when_an_import_wrote_it(tmp_path):
    export = write_export(tmp_path / "e", {"default": 3})
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    rc, _, err = cli(str(export), "-o", str(mine))
    assert rc == 1 and "was not written by" in err and (mine / "notes.txt").read_text() == "keep"
    rc, _, err = cli(str(export), "-o", str(export / "prepared"))
    assert rc == 2 and "overlap" in err and not (export / "prepared").exists()


def test_changed_export_is_imported_again(tmp_path):
    export = write_export(tmp_path / "e", {"default": 4})
    first = import_exports([str(export)], tmp_path / "ds")
    assert not first.reused and import_exports([str(export)], tmp_path / "ds").reused
    ann = export / "annotations/person_keypoints_default.json"
    data = load(ann)
    data["annotations"].pop()
    ann.write_text(json.dumps(data))
    again = import_exports([str(export)], tmp_path / "ds")
    assert not again.reused
    assert sum(v["annotations"] for v in again.split["counts"].values()) == 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging or old copy left


def test_unsafe_file_name_in_the_json_is_refused(tmp_path):
    export = write_export(tmp_path / "e", {"default": 2})
    ann = export / "annotations/person_keypoints_default.json"
    data = load(ann)
    data["images"][0]["file_name"] = "../../../etc/passwd"
    ann.write_text(json.dumps(data))
    with pytest.raises(HoofenvError) as err:
        import_exports([str(export)], tmp_path / "ds")
    assert err.value.code == "unsafe-file-name" and "../../../etc/passwd" in " ".join(err.value.causes)


# ------------------------------------------------------------------------------------------- hostile zips
def _valid_members(tmp_path) -> list[tuple[str, bytes]]:
    data, pictures = subset_json("default", 1)
    import io

    buf = io.BytesIO()
    pictures[0][1].save(buf, format="JPEG")
    return [("annotations/person_keypoints_default.json", json.dumps(data).encode()),
            (f"images/default/{pictures[0][0]}", buf.getvalue())]


def _zip(path: Path, members: list, extra) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, payload in members:
            zf.writestr(name, payload)
        extra(zf)
    return path


def _symlink(zf):
    info = zipfile.ZipInfo("images/default/link.jpg")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, "/etc/passwd")


HOSTILE = {
    "traversal": (lambda zf: zf.writestr("../../escaped.txt", b"x"), "`..`"),
    "absolute": (lambda zf: zf.writestr(zipfile.ZipInfo("/tmp/hoofenv-absolute.txt"), b"x"), "absolute"),
    "symlink": (_symlink, "symbolic link"),
    "bomb": (lambda zf: zf.writestr("images/default/bomb.jpg", b"\0" * (8 << 20)), "zip bomb"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_zip_is_refused_before_anything_is_written(tmp_path, kind):
    extra, words = HOSTILE[kind]
    work = tmp_path / "deep" / "work"
    work.mkdir(parents=True)
    bad = _zip(work / "bad.zip", _valid_members(tmp_path), extra)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    proc = run_cli("data", "import", str(bad), "-o", str(work / "ds"), cwd=work)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "refusing an unsafe zip" in proc.stderr and words in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert not Path("/tmp/hoofenv-absolute.txt").exists()


def test_declared_total_beyond_the_limit_is_refused(tmp_path):
    bad = _zip(tmp_path / "big.zip", _valid_members(tmp_path), lambda zf: None)
    with pytest.raises(HoofenvError) as err:
        import_exports([str(bad)], tmp_path / "ds", ImportOptions(limits=ZipLimits(max_total_bytes=100)))
    assert err.value.code == "zip-unsafe" and "refusing to extract" in err.value.message
    assert not (tmp_path / "ds").exists()


def test_member_that_lies_about_its_size_is_cut_off(tmp_path):
    """The central directory says 64 bytes, the data inflates to far more: never more than 64 are written."""
    members = _valid_members(tmp_path)
    path = _zip(tmp_path / "liar.zip", members, lambda zf: None)
    raw = bytearray(path.read_bytes())
    name = members[1][0].encode()
    with zipfile.ZipFile(path) as zf:
        real = zf.getinfo(members[1][0]).file_size
    for at in [i for i in range(len(raw)) if raw.startswith(name, i)]:
        for header, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            start = at - (30 if header == b"PK\x03\x04" else 46)
            if start >= 0 and raw[start:start + 4] == header:
                raw[start + offset:start + offset + 4] = (64).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo(members[1][0]).file_size == 64 < real
    with pytest.raises(HoofenvError) as err:
        import_exports([str(path)], tmp_path / "ds")
    assert err.value.code == "zip-invalid" and "damaged" in err.value.message, err.value.render()
    assert not (tmp_path / "ds").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["liar.zip"]


def test_not_an_export_is_named(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations/instances_default.json").write_text("{}")
    rc, _, err = cli(str(tmp_path), "-o", str(tmp_path.parent / f"{tmp_path.name}-out"))
    assert rc == 1 and "COCO 1.0" in err and "person_keypoints" in err


def test_train_names_a_data_path_that_is_neither(tmp_path):
    (tmp_path / "stuff").mkdir()
    proc = run_cli("train", "--data", str(tmp_path / "stuff"), "--python", os.sys.executable, "--work-dir",
                   str(tmp_path / "w"), "--skip-verify")
    assert proc.returncode == 1
    assert "neither a hoofenv dataset folder nor a CVAT export" in proc.stderr and "data import" in proc.stderr


def test_import_reads_picture_headers_only(tmp_path):
    """No picture is decoded: a fresh process that imports an export never loads Pillow, OpenCV or numpy."""
    import subprocess
    import sys

    export = write_export(tmp_path / "e", {"default": 3}, zip_to=tmp_path / "e.zip")
    code = ("import sys; from hoofenv.data.imports import import_exports; import_exports([sys.argv[1]], sys.argv[2]);"
            "print(sorted(m for m in ('PIL', 'cv2', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(export), str(tmp_path / "ds")], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_train_on_an_export_renamed_by_hand_points_at_the_export(tmp_path):
    """The issue's user: person_keypoints_{train,val}.json renamed to {train,val}.json, pictures in images/<subset>/."""
    export = write_export(tmp_path / "e", {"train": 2, "val": 1})
    for subset in ("train", "val"):
        (export / "annotations" / f"person_keypoints_{subset}.json").rename(export / "annotations" / f"{subset}.json")
    proc = run_cli("train", "--data", str(export), "--python", os.sys.executable, "--work-dir", str(tmp_path / "w"),
                   "--skip-verify", "--pretrained", "none")
    assert proc.returncode == 1
    assert f"the pictures are there, under {export / 'images'}/{{train" in proc.stderr
    assert "--data EXPORT.zip" in proc.stderr
