"""hoofenv.inenv.checkpoint against a real mmengine Runner under the installed torch: the plain resume fails with the
weights_only error (torch >= 2.6), and after allow_mmengine_globals() the same Runner resumes."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.stack]

SCRIPT = r'''
import sys, torch, numpy as np
from torch.utils.data import Dataset
from mmengine.model import BaseModel
from mmengine.runner import Runner
sys.path.insert(0, sys.argv[2])
from hoofenv.inenv import checkpoint as ck

class M(BaseModel):
    def __init__(self):
        super().__init__(); self.l = torch.nn.Linear(2, 1); self.bn = torch.nn.BatchNorm1d(1)
    def forward(self, x, y, mode="tensor"):
        out = self.bn(self.l(torch.stack(x)))
        return {"loss": ((out - torch.stack(y)) ** 2).mean()} if mode == "loss" else out

class D(Dataset):
    metainfo = {"flip_indices": np.array([1, 0]), "sigmas": np.array([0.1, 0.2], dtype=np.float32)}
    def __len__(self): return 16
    def __getitem__(self, i): return dict(x=torch.rand(2), y=torch.rand(1))

def runner(work_dir, epochs, **kw):
    return Runner(model=M(), work_dir=work_dir, train_dataloader=dict(dataset=D(), batch_size=4,
                  sampler=dict(type="DefaultSampler", shuffle=True)), train_cfg=dict(by_epoch=True, max_epochs=epochs),
                  optim_wrapper=dict(optimizer=dict(type="AdamW", lr=1e-3)),
                  param_scheduler=[dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=2)],
                  custom_hooks=[dict(type="EMAHook")], default_hooks=dict(checkpoint=dict(type="CheckpointHook")), **kw)

tmp = sys.argv[1]
runner(tmp + "/a", 1).train()
path = tmp + "/a/epoch_1.pth"
print("NEEDS", sorted(ck.discover_globals(path)))
try:
    runner(tmp + "/b", 2, load_from=path, resume=True).train()
    print("PLAIN ok")
except Exception as exc:
    print("PLAIN failed", type(exc).__name__, "Weights only load failed" in str(exc))
state = ck.safe_load(path)
print("SAFE_LOAD", sorted(state))
ck.allow_mmengine_globals()
r = runner(tmp + "/c", 2, load_from=path, resume=True)
r.train()
print("RESUMED", r.iter, r.epoch)
'''


def test_runner_checkpoint_resumes_with_the_allow_list(stack_python, tmp_path):
    proc = subprocess.run([str(stack_python), "-c", SCRIPT, str(tmp_path), str(REPO)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    from hoofenv.inenv.checkpoint import MMENGINE_CHECKPOINT_GLOBALS

    listed = {f"{m}.{q}" for m, q in MMENGINE_CHECKPOINT_GLOBALS}
    needs = eval(out.split("NEEDS ", 1)[1].splitlines()[0])  # noqa: S307 - our own printed list
    assert set(needs) <= listed, set(needs) - listed
    version = subprocess.run([str(stack_python), "-c", "import torch; print(torch.__version__)"],
                             capture_output=True, text=True).stdout.strip()
    from hoofenv.inenv.checkpoint import needs_remedy

    if needs_remedy(version):
        assert "PLAIN failed UnpicklingError True" in out
    assert "'message_hub'" in out and "'optimizer'" in out
    assert "RESUMED 8 2" in out
