"""NaN, Infinity, 1e400 and integers past 2^53, written into random places of an export: `check` reports each as
a `non-finite` error with the record's id (exit 1), and fix, merge and split refuse the file and write nothing --
no command ever writes a bare NaN."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.data.helpers import cvat_export, write_export
from tests.data.hostile import run, strict_json

TOKENS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1E999", "9" * 400, str(2 ** 60), "-" + str(2 ** 54)]
MARK = "123456.5"

# (section, index, path inside the record) of places that hold numbers in a CVAT export
PLACES = [("annotations", a, p) for a in range(6) for p in
          [("bbox", 0), ("bbox", 3), ("keypoints", 0), ("keypoints", 7), ("keypoints", 11), ("area",),
           ("num_keypoints",), ("attributes", "rotation"), ("id",), ("image_id",)]] + \
         [("images", i, p) for i in range(3) for p in [("width",), ("height",), ("id",)]] + \
         [("info", None, ("year",))]


def _place(data: dict, where: tuple) -> None:
    section, index, path = where
    target = data[section] if index is None else data[section][index]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = float(MARK)


def _record_id(where: tuple, data: dict):
    section, index, path = where
    if section == "info":
        return "info.year"
    if path == ("id",):
        return None  # the id itself is the bad number: the finding names the record by position
    return data[section][index]["id"]


@pytest.mark.slow  # 40 examples, each three CLI processes: 17 s
@settings(max_examples=40, deadline=None)
@given(where=st.sampled_from(PLACES), token=st.sampled_from(TOKENS))
def test_check_names_the_record_and_the_writers_refuse(where, token):
    data = cvat_export()
    _place(data, where)
    text = json.dumps(data).replace(MARK, token, 1)
    with tempfile.TemporaryDirectory() as tmp:
        ann = Path(tmp) / "ann.json"
        ann.write_text(text)
        code, out, err = run("data", "check", str(ann), "--json")
        if where[2][0] in ("attributes", "year") and token.lstrip("-").isdigit():
            # an integer of any size is JSON; in a field hoofenv does not read (attributes, info) it is written
            # back unchanged
            assert code == 0 and "non-finite" not in out
            code, out, err = run("data", "fix", str(ann), "-o", f"{tmp}/fixed.json")
            assert code == 0 and token in Path(f"{tmp}/fixed.json").read_text()
            return
        assert code == 1, (where, token, out, err)
        finding = next(f for f in json.loads(out)["findings"] if f["code"] == "non-finite")
        assert finding["severity"] == "error"
        expected = _record_id(where, data)
        if expected is not None:
            assert expected in finding["ids"], (where, token, finding)
        clean = write_export(Path(tmp), cvat_export(n_images=5), "clean.json")
        for argv in (["fix", str(ann), "-o", f"{tmp}/out/fixed.json"], ["fix", str(ann), "--in-place"],
                     ["merge", str(clean), str(ann), "-o", f"{tmp}/out/merged.json"],
                     ["split", str(ann), "-o", f"{tmp}/out"], ["stats", str(ann)]):
            code, out, err = run("data", *argv)
            if argv[0] == "stats":
                assert code == 0
                continue
            assert code == 1 and "Traceback" not in err, (argv, err)
            # refused with the error, or (fix --in-place, where nothing else needs fixing) "not repaired"
            assert "NaN, Infinity" in out + err or "wrong type" in err, (argv, out, err)
        assert not Path(f"{tmp}/out").exists() and ann.read_text() == text and not list(Path(tmp).glob("*.bak"))


def test_a_bbox_of_four_nans(tmp_path):
    data = cvat_export()
    data["annotations"][2]["bbox"] = [float("nan")] * 4
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(data))
    code, out, err = run("data", "check", str(ann), "--json")
    assert code == 1
    [finding] = [f for f in json.loads(out)["findings"] if f["code"] == "non-finite"]
    assert finding["ids"] == [3] and "bbox[0] = NaN" in finding["details"][0]
    code, out, err = run("data", "fix", str(ann), "-o", str(tmp_path / "fixed.json"))
    assert code == 1 and "annotation 3: bbox[0] = NaN" in err and not (tmp_path / "fixed.json").exists()


def test_fix_output_is_strict_json(tmp_path):
    data = cvat_export()
    data["annotations"][0]["bbox"][3] = 0.0
    ann = write_export(tmp_path, data)
    code, _, err = run("data", "fix", str(ann), "-o", str(tmp_path / "fixed.json"))
    assert code == 0, err
    strict_json((tmp_path / "fixed.json").read_text())
