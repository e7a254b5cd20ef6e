"""onnxruntime's threads spin while waiting only when the last minute left a core idle (onnx_runner.spare_core)."""

from __future__ import annotations

import importlib
import importlib.util
import os

import pytest

from tests.conftest import REPO


@pytest.fixture
def runner():
    spec = importlib.util.spec_from_file_location("launch", REPO / "hoofenv" / "inenv" / "launch.py")
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    launch.load_package()
    return importlib.import_module("hoofenv_inenv.onnx_runner")


@pytest.mark.parametrize("load, cores, spin", [(0.9, 2, True), (1.6, 2, False), (6.0, 2, False), (6.0, 16, True),
                                               (0.2, 1, True), (0.6, 1, False)])
def test_threads_spin_only_with_a_spare_core(runner, monkeypatch, load, cores, spin):
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert runner.spare_core() is spin


def test_no_load_figure_means_no_spinning(runner, monkeypatch):
    def unavailable():
        raise OSError("no load average here")
    monkeypatch.setattr(os, "getloadavg", unavailable)
    assert runner.spare_core() is False
