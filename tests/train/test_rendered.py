"""--resume runs the work dir's config.py and metainfo.py (MMEngine executes them): only when they are the files
hoofenv wrote, by a record kept in hoofenv's cache where writing into the work dir does not reach
(hoofenv/train/rendered.py)."""

from __future__ import annotations

import json

import pytest

from hoofenv.errors import HoofenvError
from hoofenv.train import rendered

HINT = "hoofenv train --data D --work-dir W-2 --from W/last.pth"


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOFENV_CACHE_DIR", str(tmp_path / "cache"))
    w = tmp_path / "w"
    w.mkdir()
    (w / "config.py").write_text("model = dict(type='TopdownPoseEstimator')\n")
    (w / "metainfo.py").write_text("dataset_info = dict(dataset_name='hoof')\n")
    return w


def refused(work) -> HoofenvError:
    with pytest.raises(HoofenvError) as caught:
        rendered.verify(work, HINT)
    err = caught.value
    assert err.code == "config-not-ours" and "refused to resume" in err.message and err.hint.startswith(HINT)
    return err


def test_hoofenvs_own_files_pass(work):
    rendered.record(work)
    rendered.verify(work, HINT)
    assert not (work / ".hoofenv-rendered.json").exists()  # nothing of it in the work dir


@pytest.mark.parametrize("name", ["config.py", "metainfo.py"])
def test_an_edited_or_replaced_file_is_refused(work, name):
    rendered.record(work)
    with open(work / name, "a") as f:
        f.write("__import__('os').system('touch PWNED')\n")
    err = refused(work)
    assert any(name in c and "differ" in c for c in err.causes), err.causes


def test_a_file_that_was_not_there_when_recorded_is_refused(work):
    (work / "metainfo.py").unlink()
    rendered.record(work)
    (work / "metainfo.py").write_text("x = 1\n")
    err = refused(work)
    assert any("metainfo.py" in c for c in err.causes)


def test_no_record_is_refused(work):
    err = refused(work)
    assert any("no record" in c for c in err.causes)


def test_a_record_written_into_the_work_dir_counts_for_nothing(work):
    from hoofenv.files import sha256_file

    forged = {"format": 1, "work_dir": str(work), "sha256": {n: sha256_file(work / n) for n in rendered.FILES}}
    (work / ".hoofenv-rendered.json").write_text(json.dumps(forged))
    refused(work)


def test_a_moved_work_dir_has_no_record(work, tmp_path):
    rendered.record(work)
    moved = tmp_path / "moved"
    work.rename(moved)
    refused(moved)


@pytest.mark.parametrize("content", ["", "[]", "null", '{"sha256": 5}', '{"format": 1, "sha256": {}}', "NaN",
                                     '{"format": 1, "work_dir": 7, "sha256": {"config.py": 1}}', "\udcff"])
def test_a_damaged_record_is_a_refusal_not_a_traceback(work, content):
    rendered.record(work)
    path = rendered.record_path(work)
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    refused(work)


def test_a_record_that_is_a_folder_is_a_refusal(work):
    path = rendered.record_path(work)
    path.mkdir(parents=True)
    refused(work)


def test_a_cache_that_cannot_be_written_is_a_notice_not_a_failed_run(work, monkeypatch):
    from hoofenv.train import run

    def full(work_dir):
        raise OSError(28, "No space left on device", str(rendered.record_path(work_dir)))
    monkeypatch.setattr(rendered, "record", full)
    events = []
    run._record(work, events.append)
    assert len(events) == 1 and events[0]["event"] == "notice"
    assert "No space left on device" in events[0]["text"] and "--resume" in events[0]["text"]
