"""A full disk, for real: a small tmpfs filled up. Every writing command fails with one error naming the path
(exit 1), leaves the input as it was, leaves no half file, no 0-byte backup and no temp file behind."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.data.helpers import cvat_export, write_export
from tests.data.hostile import run


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (skipped with the reason where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'not root'}): no real ENOSPC")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> None:
    """Fill DISK until about LEAVE bytes are free."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    if free > leave:
        with open(disk / "filler", "wb") as fh:
            fh.write(b"\0" * (free - leave))
    assert os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize <= leave + st.f_frsize


def export_of(size_goal: int) -> dict:
    """A clean export with quirks fix repairs, of roughly SIZE_GOAL bytes."""
    data = cvat_export(n_images=max(2, size_goal // 900), per_image=2)
    for a in data["annotations"][::3]:
        a["bbox"][3] = 0.0
    return data


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.startswith("."))


def assert_clean_failure(code: int, err: str, disk: Path) -> None:
    assert code == 1, err
    assert "No space left on device" in err and str(disk) in err and "Traceback" not in err, err
    assert leftovers(disk) == []


def test_fix_in_place_when_the_backup_does_not_fit(small_disk):
    ann = write_export(small_disk, export_of(200_000), "ann.json")
    before = ann.read_bytes()
    fill(small_disk, len(before) // 2)
    code, out, err = run("data", "fix", str(ann), "--in-place")
    assert_clean_failure(code, err, small_disk)
    assert ann.read_bytes() == before
    assert not list(small_disk.glob("ann.json.bak*")), "no backup at all, never a 0-byte or half one"


def test_fix_in_place_when_the_backup_fits_but_the_new_file_does_not(small_disk):
    ann = write_export(small_disk, export_of(200_000), "ann.json")
    before = ann.read_bytes()
    fill(small_disk, len(before) + len(before) // 2)
    code, out, err = run("data", "fix", str(ann), "--in-place")
    assert_clean_failure(code, err, small_disk)
    assert ann.read_bytes() == before
    [bak] = small_disk.glob("ann.json.bak*")
    assert bak.read_bytes() == before, "a backup is whole or absent"


@pytest.mark.parametrize("command", ["fix", "merge", "split", "schema", "preview"])
def test_writing_into_a_full_disk(tmp_path, small_disk, command):
    ann = write_export(tmp_path, export_of(150_000), "ann.json")
    other = write_export(tmp_path, cvat_export(n_images=5), "other.json")
    for i, img in enumerate(json.loads(ann.read_text())["images"][:3]):
        from PIL import Image

        target = tmp_path / "images" / img["file_name"]
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (img["width"], img["height"])).save(target)
    fill(small_disk, 2048)
    argv = {
        "fix": ["data", "fix", str(ann), "-o", str(small_disk / "fixed.json")],
        "merge": ["data", "merge", str(ann), str(other), "-o", str(small_disk / "merged.json")],
        "split": ["data", "split", str(ann), "-o", str(small_disk)],
        "schema": ["data", "schema", str(ann), "-o", str(small_disk / "meta.py")],
        "preview": ["data", "preview", str(ann), "--images", str(tmp_path / "images"), "-o", str(small_disk),
                    "--limit", "3"],
    }[command]
    before = ann.read_bytes()
    code, out, err = run(*argv)
    if command == "schema" and code == 0:
        return  # a metainfo file of a few hundred bytes fits in what is left
    assert_clean_failure(code, err, small_disk)
    assert ann.read_bytes() == before
    assert sorted(p.name for p in small_disk.iterdir() if p.name != "filler") in ([], ["contact_sheet.png"]) or \
        command == "preview"
    if command == "split":
        assert not list(small_disk.glob("*.split.json")) and not list(small_disk.glob("ann_*.json"))


def test_split_over_an_existing_pair_on_a_full_disk_keeps_the_old_pair(small_disk):
    ann = write_export(small_disk, export_of(60_000), "ann.json")
    code, out, err = run("data", "split", str(ann), "--seed", "1")
    assert code == 0, err
    pair = {p.name: p.read_bytes() for p in small_disk.glob("ann_*.json")}
    manifest = (small_disk / "ann_train.split.json").read_bytes()
    fill(small_disk, 20_000)
    code, out, err = run("data", "split", str(ann), "--seed", "2")
    assert_clean_failure(code, err, small_disk)
    assert {p.name: p.read_bytes() for p in small_disk.glob("ann_*.json")} == pair
    assert (small_disk / "ann_train.split.json").read_bytes() == manifest
    code, out, err = run("data", "check", str(small_disk / "ann_train.json"), "--json")
    assert "split-mismatch" not in out
