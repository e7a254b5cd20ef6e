"""No traceback, the right exit code: JSON of every type in every field, names with Rich markup, invalid UTF-8,
and output paths that cannot be written (a folder, a file's child, --limit -1). Exit 2 for usage, 1 for problems,
0 otherwise; whatever a command writes is strict JSON."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import run_cli
from tests.data.helpers import cvat_export, write_export
from tests.data.hostile import hostile_text, mutation, name_text, run, strict_json

COMMANDS = ("check", "check-json", "stats", "fix", "fix-in-place", "merge", "split", "schema", "preview")


def _images(folder: Path) -> Path:
    from PIL import Image

    for i in range(1, 4):
        target = folder / "images" / f"task/frame_{i:04d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 48), (i * 40, 90, 60)).save(target)
    return folder / "images"


def _argv(command: str, ann: Path, folder: Path) -> list[str]:
    clean = folder / "clean.json"
    return {
        "check": ["data", "check", str(ann), "--images", str(folder / "images"), "-v"],
        "check-json": ["data", "check", str(ann), "--json"],
        "stats": ["data", "stats", str(ann)],
        "fix": ["data", "fix", str(ann), "-o", str(folder / "out" / "fixed.json")],
        "fix-in-place": ["data", "fix", str(ann), "--in-place"],
        "merge": ["data", "merge", str(clean), str(ann), "-o", str(folder / "out" / "merged.json")],
        "split": ["data", "split", str(ann), "-o", str(folder / "out")],
        "schema": ["data", "schema", str(ann), "-o", str(folder / "out" / "meta.py")],
        "preview": ["data", "preview", str(ann), "--images", str(folder / "images"), "-o", str(folder / "pv")],
    }[command]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(mutation(), min_size=1, max_size=3), command=st.sampled_from(COMMANDS))
def test_any_json_in_any_field_gets_an_exit_code_never_a_traceback(changes, command):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _images(folder)
        write_export(folder, cvat_export(n_images=3), "clean.json")
        ann = folder / "ann.json"
        ann.write_text(hostile_text(changes))
        code, out, err = run(*_argv(command, ann, folder))
        assert code in (0, 1, 2), (command, code, out, err)
        assert "Traceback" not in out + err
        if code == 2:
            assert "error:" in err or "usage:" in err
        for written in (folder / "out").glob("*.json"):
            if not written.name.endswith((".bak", ".split.json")):
                strict_json(written.read_text())  # never NaN, Infinity or an overflowing number
        if command == "fix-in-place" and code in (0, 1) and (folder / "ann.json.bak").exists():
            assert (folder / "ann.json.bak").read_text() == hostile_text(changes)


@settings(max_examples=25, deadline=None)
@given(name=name_text, keypoint=name_text)
def test_names_are_printed_as_given_never_read_as_markup(name, keypoint):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / name  # a name with '/' in it (v2[/final]) is a folder and a file
        folder.mkdir(parents=True)
        data = cvat_export()
        data["categories"][1]["keypoints"][0] = keypoint[:12]
        ann = folder / (name + ".json")
        ann.parent.mkdir(parents=True, exist_ok=True)
        ann.write_text(json.dumps(data))
        code, out, err = run("data", "check", str(ann))
        assert code == 0, err
        assert f"hoofenv data check {ann}" in out
        assert keypoint[:12] in out  # the keypoint table cell
        fixed = Path(str(ann)[:-5] + " fixed.json")
        code, out, err = run("data", "fix", str(ann), "-o", str(fixed))
        assert code == 0 and str(fixed) in out
        missing = Path(str(ann)[:-5] + " missing.json")
        code, out, err = run("data", "check", str(missing))
        assert code == 1 and str(missing) in err


def test_the_issue_s_two_names(tmp_path):
    for name in ("v2[/final].json", "task [horse 1].json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        ann = write_export(tmp_path, cvat_export(), name)
        proc = run_cli("data", "check", str(ann))
        assert proc.returncode == 0 and f"hoofenv data check {ann}" in proc.stdout, proc.stderr
        proc = run_cli("data", "stats", str(ann))
        assert proc.returncode == 0 and str(ann) in proc.stdout
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("io_encoding", [None, "utf-8:strict"])
def test_a_file_name_that_is_not_utf8(tmp_path, io_encoding):
    """argv carries the raw bytes (surrogate-escaped); printing them must not raise UnicodeEncodeError, whatever
    the stream's error handler."""
    import subprocess
    import sys

    from tests.conftest import REPO

    raw = os.fsencode(str(tmp_path)) + b"/\xff[x].json"
    with open(raw, "w") as fh:
        fh.write('{"images": [], "annotations": [], "categories": []}')
    env = dict(os.environ)
    if io_encoding:
        env["PYTHONIOENCODING"] = io_encoding
    proc = subprocess.run([sys.executable, "-m", "hoofenv", "data", "check", os.fsdecode(raw)], capture_output=True,
                          env=env, cwd=REPO, timeout=120)
    out, err = proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert "[x].json" in out


@pytest.mark.parametrize("argv", [
    ["data", "preview", "{ann}", "--images", "{tmp}", "-o", "{tmp}/pv", "--limit", "-1"],
    ["data", "preview", "{ann}", "--images", "{tmp}", "-o", "{tmp}/pv", "--limit", "0"],
    ["data", "preview", "{ann}", "--images", "{tmp}", "-o", "{tmp}/pv", "--limit", "many"],
    ["data", "fix", "{ann}", "-o", "{tmp}"],
    ["data", "fix", "{ann}", "-o", "{ann}/x.json"],
    ["data", "merge", "{ann}", "{tmp}/b.json", "-o", "{tmp}"],
    ["data", "merge", "{ann}", "{tmp}/b.json", "-o", "{ann}/m.json"],
    ["data", "split", "{ann}", "-o", "{ann}"],
    ["data", "split", "{ann}", "-o", "{ann}/parts"],
    ["data", "split", "{ann}", "--names", "a.json"],
    ["data", "split", "{ann}", "--names", "../a.json,b.json"],
    ["data", "schema", "{ann}", "-o", "{tmp}/sub.py"],
    ["data", "schema", "{ann}", "-o", "{ann}/meta.py"],
    ["data", "preview", "{ann}", "--images", "{tmp}", "-o", "{ann}"],
    ["data", "check", "{ann}", "--images", "{ann}"],
])
def test_usage_errors_exit_2_and_name_the_path(tmp_path, argv):
    ann = write_export(tmp_path, cvat_export(), "a.json")
    write_export(tmp_path, cvat_export(n_images=4), "b.json")
    (tmp_path / "sub.py").mkdir()
    args = [a.format(ann=ann, tmp=tmp_path) for a in argv]
    code, out, err = run(*args)
    assert code == 2, (args, out, err)
    assert "Traceback" not in err
    before = sorted(p.name for p in tmp_path.iterdir())
    assert before == sorted(["a.json", "b.json", "sub.py"]), "nothing was written"


def _without_dac() -> list[str]:
    """A command prefix that runs as root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH, so permissions apply
    (a plain root process ignores them)."""
    import shutil

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to drop the capabilities that bypass file permissions")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def test_permission_denied_is_one_error_naming_the_path(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO

    prefix = _without_dac()
    ann = write_export(tmp_path, cvat_export(), "a.json")
    locked = tmp_path / "locked"
    locked.mkdir()
    secret = write_export(tmp_path, cvat_export(), "secret.json")
    for path, mode in ((locked, 0o700), (secret, 0o600)):
        os.chown(path, 65534, 65534)
        path.chmod(mode)
    for argv, named in ((["data", "fix", str(ann), "-o", str(locked / "out.json")], locked),
                        (["data", "check", str(secret)], secret),
                        (["data", "split", str(ann), "-o", str(locked)], locked),
                        (["data", "merge", str(ann), str(secret), "-o", str(tmp_path / "m.json")], secret)):
        proc = subprocess.run([*prefix, sys.executable, "-m", "hoofenv", *argv], capture_output=True, text=True,
                              cwd=REPO, timeout=120)
        assert proc.returncode == 1, (argv, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr and "Permission denied" in proc.stderr, proc.stderr
        assert str(named) in proc.stderr
    assert not (tmp_path / "m.json").exists()
