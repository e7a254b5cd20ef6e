"""Atomic writes keep the usual permissions (mkstemp alone would leave 0600) and the replaced file's mode."""

import os

from hoofenv.files import atomic_write_text


def test_new_file_gets_the_umask_mode_and_replacement_keeps_its_mode(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "report.md", "a\n")
        assert path.stat().st_mode & 0o777 == 0o644
        path.chmod(0o600)
        atomic_write_text(path, "b\n")
        assert path.read_text() == "b\n" and path.stat().st_mode & 0o777 == 0o600
        assert [p.name for p in tmp_path.iterdir()] == ["report.md"]  # no temp file left behind
    finally:
        os.umask(old)


import json  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

from hoofenv.files import backup  # noqa: E402

from tests.conftest import REPO, run_cli  # noqa: E402

WRITER = ("import sys; sys.path.insert(0, sys.argv[1]); from hoofenv.files import atomic_write_text\n"
          "class Slow(str):\n"
          "    pass\n"
          "import os\n"
          "text = 'x' * (64 << 20)\n"
          "import hoofenv.files as f\n"
          "real = os.fsync\n"
          "def stall(fd):\n"
          "    print('written', flush=True); import time; time.sleep(60)\n"
          "os.fsync = stall\n"
          "atomic_write_text(sys.argv[2], text)\n")


def test_a_killed_writer_leaves_a_temp_file_that_the_next_write_removes(tmp_path):
    target = tmp_path / "big.json"
    target.write_text("old\n")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(REPO), str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "written"  # 64 MB in the temp file, not yet renamed
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(temps) == 1 and temps[0].stat().st_size == 64 << 20
    assert target.read_text() == "old\n", "the killed write never touched the target"
    atomic_write_text(target, "new\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.json"] and target.read_text() == "new\n"


def test_backups_never_replace_an_older_one(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("1")
    first = backup(path)
    path.write_text("2")
    second = backup(path)
    assert (first.name, second.name) == ("a.json.bak", "a.json.bak.1")
    assert first.read_text() == "1" and second.read_text() == "2"


@pytest.fixture()
def small_disk(tmp_path):
    """A 1 MiB tmpfs: a real ENOSPC. Mounting needs root; elsewhere the test says so and skips."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): a full disk is simulated that way")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_leaves_no_half_backup_and_the_original_intact(small_disk):
    path = small_disk / "ann.json"
    path.write_bytes(b"x" * (600 << 10))  # a second copy does not fit
    with pytest.raises(OSError):
        backup(path)
    assert sorted(p.name for p in small_disk.iterdir()) == ["ann.json"]
    assert path.stat().st_size == 600 << 10


def test_a_full_disk_in_a_command_is_one_clear_error(small_disk):
    ann = small_disk / "ann.json"
    data = {"images": [{"id": i, "file_name": f"{i}.jpg", "width": 10, "height": 10} for i in range(1, 2000)],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": [1, 1, 2], "num_keypoints": 1,
                             "bbox": [0, 0, 5, 5], "area": 25}],  # no iscrowd: fix adds it
            "categories": [{"id": 1, "name": "hoof", "keypoints": ["a"], "skeleton": []}]}
    ann.write_text(json.dumps(data))
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * ((1 << 20) - ann.stat().st_size - (64 << 10)))
    proc = run_cli("data", "fix", str(ann), "--in-place")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "No space left on device" in proc.stderr and "hint:" in proc.stderr
    assert sorted(p.name for p in small_disk.iterdir()) == ["ann.json", "filler"], "no 0-byte .bak, no temp"
    assert json.loads(ann.read_text()) == data
