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
