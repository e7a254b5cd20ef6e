"""`hoofenv predict CKPT` and `hoofenv export CKPT` take the config.py beside the checkpoint when none is given;
MMEngine runs it as Python, so it is used only when hoofenv rendered it there (its record in the cache), and
otherwise refused before anything runs it, with the command that names it (--config: the user's choice)."""

from __future__ import annotations

import shutil

import pytest

from hoofenv.train import rendered
from tests.conftest import run_cli


@pytest.fixture
def foreign(tmp_path, monkeypatch):
    """A folder someone else filled: a checkpoint and a config.py that writes a marker when run."""
    monkeypatch.setenv("HOOFENV_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "shared"
    folder.mkdir()
    marker = tmp_path / "PWNED"
    (folder / "best.pth").write_bytes(b"PK\x03\x04 not read before the config is judged")
    (folder / "config.py").write_text(f"import pathlib; pathlib.Path({str(marker)!r}).write_text('ran')\n")
    image = tmp_path / "hoof.jpg"
    image.write_bytes(b"\xff\xd8\xff\xe0 a picture")
    return folder, marker, image


def _refused(proc, folder, marker, command):
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert f"refused to run {folder / 'config.py'}" in proc.stderr and "not a config hoofenv wrote" in proc.stderr
    assert f"{command} --config {folder / 'config.py'}" in proc.stderr, proc.stderr
    assert "Traceback" not in out and not marker.exists()


def test_predict_refuses_a_config_it_did_not_write(foreign, tmp_path):
    folder, marker, image = foreign
    ckpt = folder / "best.pth"
    proc = run_cli("predict", str(ckpt), str(image), "-o", str(tmp_path / "o"),
                   env={"HOOFENV_CACHE_DIR": str(tmp_path / "cache")})
    _refused(proc, folder, marker, f"hoofenv predict {ckpt} IMAGES")


def test_export_refuses_a_config_it_did_not_write(foreign, tmp_path):
    folder, marker, _ = foreign
    ckpt, out = folder / "best.pth", tmp_path / "m.onnx"
    proc = run_cli("export", str(ckpt), "--onnx", str(out), env={"HOOFENV_CACHE_DIR": str(tmp_path / "cache")})
    _refused(proc, folder, marker, f"hoofenv export {ckpt} --onnx {out}")


def test_a_config_hoofenv_rendered_is_found(foreign, tmp_path):
    from hoofenv.train.predict import find_config

    folder, marker, _ = foreign
    (folder / "config.py").write_text("model = dict()\n")
    rendered.record(folder)
    assert find_config(folder / "best.pth", None) == folder / "config.py"
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)  # the same files elsewhere: no record for that folder
    with pytest.raises(Exception, match="not a config hoofenv wrote"):
        find_config(copy / "best.pth", None)
    assert find_config(copy / "best.pth", str(copy / "config.py")) == copy / "config.py"  # named: the user's choice
