"""The real CPU stack on this machine, installed by the real `hoofenv install` (the stack_python fixture)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _hoofenv_env(stack_python):
    env = stack_python.parent.parent
    if not (env / "hoofenv-plan.json").exists():
        pytest.skip(f"{env} was not made by hoofenv install (HOOFENV_STACK_PYTHON points elsewhere)")
    return env


def test_real_stack_installed_and_working(stack_python):
    env = _hoofenv_env(stack_python)
    plan = json.loads((env / "hoofenv-plan.json").read_text())
    assert plan["torch"] == "2.14.1" and plan["mmcv"]["source"] == "build"
    code = ("import torch, mmcv, mmcv.ops, numpy, cv2, mmdet, mmpose, mmengine\n"
            "from mmcv.ops import nms\n"
            "b = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [50., 50., 60., 60.]])\n"
            "s = torch.tensor([0.9, 0.8, 0.7])\n"
            "dets, keep = nms(b, s, 0.5)\n"
            "print(torch.__version__, mmcv.__version__, numpy.__version__, cv2.__version__, keep.tolist())")
    out = subprocess.run([str(stack_python), "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    torch_v, mmcv_v, numpy_v, cv2_v, keep = out.stdout.split(maxsplit=4)
    assert torch_v.startswith("2.14.1") and mmcv_v == "2.1.0" and numpy_v == "1.26.4" and cv2_v.startswith("4.8.1")
    assert keep.strip() == "[0, 2]", "mmcv's compiled nms op must run"
    mim = subprocess.run([str(env / "bin" / "mim"), "list"], capture_output=True, text=True, timeout=300)
    assert mim.returncode == 0 and "mmpose" in mim.stdout, mim.stdout + mim.stderr
    freeze = subprocess.run([str(stack_python), "-m", "pip", "list", "--format", "json"], capture_output=True,
                            text=True, timeout=300)
    names = {p["name"].lower() for p in json.loads(freeze.stdout)}
    assert "chumpy" not in names and "opencv-python-headless" not in names


def test_real_rerun_is_a_noop(stack_python):
    env = _hoofenv_env(stack_python)
    where = env.parent
    proc = subprocess.run([sys.executable, "-m", "hoofenv", "install", "--torch", "2.14.1", "--cuda", "cpu",
                           "--python", f"{sys.version_info[0]}.{sys.version_info[1]}", "--env", str(env),
                           "--lock", str(where / "hoofenv.lock"), "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=600,
                          env={**__import__("os").environ, "HOOFENV_TORCH_INDEX_URL":
                                                            __import__("os").environ.get("HOOFENV_TORCH_INDEX_URL", "none")})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["noop"] is True
