"""install's plain (non-terminal) progress: a long mmcv build shows files compiled and the ETA once a minute."""

from __future__ import annotations

from hoofenv.commands.install import TerminalProgress
from hoofenv.install.build_log import BuildProgress


def test_plain_progress_carries_the_build_count(capsys):
    shown = TerminalProgress()
    assert not shown.console.is_terminal
    p = BuildProgress(shown, clock=lambda: 0.0)
    p.step_started("[7/7] compile mmcv 2.1.0")
    shown.last_print = -1e9
    p.step_output("[7/7] compile mmcv 2.1.0", "[3/77] c++ -MMD -MF x.o.d -c nms.cpp", 125.0)
    err = capsys.readouterr().err
    assert "125s elapsed; compiled 3/77 files (3%)" in err
