"""CUDA out of memory handling of `hoofenv train`, with a stand-in for the env's python: CUDA OOM cannot happen on
this CPU-only machine, so the stand-in answers like inenv/train_runner.py does on OOM (exit 3 and an `oom` event)
until the batch is small enough. Everything else (data check, rendering, retry, messages) is the real code."""

from __future__ import annotations

import re
import stat

import pytest

from tests.conftest import run_cli


@pytest.fixture()
def data(tmp_path):
    from hoofenv.data.synthetic import generate

    return generate(tmp_path / "d", n_train=2, n_val=1, seed=0, image_size=(64, 64))


def fake_python(tmp_path, fits_at: int):
    log = tmp_path / "calls.log"
    script = tmp_path / "python"
    script.write_text(
        "#!/bin/sh\n"
        # argv: LAUNCHER train CONFIG --work-dir DIR ...
        f'b=$(grep -o "^train_batch_size = [0-9]*" "$3" | grep -o "[0-9]*$")\n'
        f'echo "$b" >> {log}\n'
        f'if [ "$b" -gt {fits_at} ]; then echo \'[hoofenv] {{"event": "oom", "batch_size": \'$b\'}}\'; exit 3; fi\n'
        'echo \'[hoofenv] {"event": "done", "work_dir": "w"}\'\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, log


def test_auto_batch_halves_until_it_fits(tmp_path, data):
    py, log = fake_python(tmp_path, fits_at=8)
    proc = run_cli("train", "--data", str(data), "--python", str(py), "--work-dir", str(tmp_path / "w"),
                   "--pretrained", "none", "--skip-verify", env={"HOOFENV_GPU_MEMORY_GIB": "6"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tried = [int(x) for x in log.read_text().split()]
    assert tried[0] > 8 and tried[-1] == 8 and all(a == 2 * b for a, b in zip(tried, tried[1:])), tried
    assert "retrying with batch" in proc.stdout
    assert re.search(r"^train_batch_size = 8$", (tmp_path / "w" / "config.py").read_text(), re.M)


def test_fixed_batch_oom_names_a_batch_that_may_fit(tmp_path, data):
    py, log = fake_python(tmp_path, fits_at=8)
    proc = run_cli("train", "--data", str(data), "--python", str(py), "--work-dir", str(tmp_path / "w"),
                   "--pretrained", "none", "--skip-verify", "--batch-size", "32", env={"HOOFENV_GPU_MEMORY_GIB": "6"})
    assert proc.returncode == 1
    assert "CUDA out of memory at batch size 32" in proc.stderr and "--batch-size 16" in proc.stderr
    assert log.read_text().split() == ["32"]
