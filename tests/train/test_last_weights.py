"""The refused `--resume` offers a new run from the old run's weights: the hint names a checkpoint that is there."""

from __future__ import annotations

import os

from hoofenv.train.run import last_weights


def test_last_pth_when_it_is_there(tmp_path):
    (tmp_path / "epoch_3.pth").write_bytes(b"3")
    (tmp_path / "last.pth").symlink_to("epoch_3.pth")
    assert last_weights(tmp_path) == tmp_path / "last.pth"


def test_the_newest_epoch_by_number_in_a_work_dir_without_last_pth(tmp_path):
    for n in (2, 10, 9):
        (tmp_path / f"epoch_{n}.pth").write_bytes(b"x")
    (tmp_path / "epoch_best.pth").write_bytes(b"x")  # not an epoch number
    (tmp_path / "epoch_11.pth").mkdir()  # not a file
    assert last_weights(tmp_path) == tmp_path / "epoch_10.pth"


def test_a_dangling_last_pth_link_falls_back_to_the_epochs(tmp_path):
    (tmp_path / "epoch_4.pth").write_bytes(b"x")
    os.symlink(tmp_path / "gone.pth", tmp_path / "last.pth")
    assert last_weights(tmp_path) == tmp_path / "epoch_4.pth"


def test_nothing_there_still_names_last_pth(tmp_path):
    assert last_weights(tmp_path) == tmp_path / "last.pth"
