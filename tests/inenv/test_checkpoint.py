"""hoofenv.inenv.checkpoint against the real stack (torch 2.14.1, mmengine 0.10.7), in one stack process per test:
a real Runner checkpoint saved the way hoofenv saves it is data only and resumes under the policy; crafted
checkpoints (tests/inenv/payloads.py) run their payload under weights_only=False and under the old process-wide
allow-list, and are refused under the policy, foreign or with a forged manifest, through mmengine's own load."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import REPO
from tests.inenv.payloads import LIVE_UNDER_OLD_ALLOW_LIST, ROUTES, build

pytestmark = [pytest.mark.slow, pytest.mark.stack]

RUNNER = r'''
import json, os, shutil, sys, torch, numpy as np
from torch.utils.data import Dataset
from mmengine.model import BaseModel
from mmengine.runner import Runner
sys.path.insert(0, sys.argv[2])
from hoofenv.inenv import checkpoint as ck
from hoofenv.inenv.train_runner import record_saves

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
out = {}
ck.data_only_history_buffer()
r = runner(tmp + "/a", 1)
record_saves(r, 0)
r.train()
path = tmp + "/a/epoch_1.pth"
out["needs"] = sorted(ck.discover_globals(path))
out["manifest"] = ck.read_manifest(tmp + "/a")
try:
    runner(tmp + "/b", 2, load_from=path, resume=True).train()
    out["plain"] = "ok"
except Exception as exc:
    out["plain"] = f"{type(exc).__name__} {'Weights only load failed' in str(exc)}"
with ck.policy():
    r = runner(tmp + "/c", 2, load_from=path, resume=True)
    r.train()
    out["resumed"] = [r.iter, r.epoch]
    shutil.copy(path, tmp + "/elsewhere.pth")
    try:
        runner(tmp + "/d", 2, load_from=tmp + "/elsewhere.pth", resume=True).train()
        out["copy"] = "loaded"
    except ck.Refused as exc:
        out["copy"] = exc.names
print("RESULT", json.dumps(out))
'''


def run_stack(stack_python, script: str, *args) -> dict:
    proc = subprocess.run([str(stack_python), "-c", script, *map(str, args)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return json.loads(proc.stdout.split("RESULT ", 1)[1].splitlines()[0])


def test_runner_checkpoint_is_data_only_and_resumes(stack_python, tmp_path):
    from hoofenv.inenv.checkpoint import NEVER_ALLOWED, needs_remedy

    out = run_stack(stack_python, RUNNER, tmp_path, REPO)
    assert not set(out["needs"]) & NEVER_ALLOWED, out["needs"]  # no getattr: HistoryBuffer pickled as data
    assert "mmengine.logging.history_buffer.HistoryBuffer" in out["needs"]
    assert list(out["manifest"]) == ["epoch_1.pth"] and len(out["manifest"]["epoch_1.pth"]["sha256"]) == 64
    version = subprocess.run([str(stack_python), "-c", "import torch; print(torch.__version__)"],
                             capture_output=True, text=True).stdout.strip()
    if needs_remedy(version):
        assert out["plain"] == "UnpicklingError True"
    assert out["resumed"] == [8, 2]
    # the same bytes outside the folder whose manifest records them: torch's rules + numpy, no HistoryBuffer
    assert out["copy"] == ["mmengine.logging.history_buffer.HistoryBuffer"]


PAYLOADS = r'''
import json, os, shutil, sys, torch
sys.path.insert(0, sys.argv[2])
from hoofenv.inenv import checkpoint as ck
from mmengine.runner.checkpoint import _load_checkpoint
import mmengine.logging.history_buffer

folder, marker, routes = sys.argv[1], sys.argv[3], sys.argv[4].split(",")
old = ck.resolve(ck.HOOFENV_GLOBALS + [("builtins", "getattr"), ("collections", "OrderedDict")]) \
    + ck.numpy_dtype_classes()  # hoofenv's allow-list before this fix (it was added process-wide)

def attempt(how, path):
    if os.path.exists(marker):
        os.remove(marker)
    try:
        if how == "weights_only=False":
            torch.load(path, weights_only=False)
        elif how == "old allow-list":
            with torch.serialization.safe_globals(old):
                torch.load(path, weights_only=True)
        else:
            with ck.policy():
                _load_checkpoint(path, map_location="cpu")  # what resume, load_from and Pretrained call
        result = "loaded"
    except ck.Refused as exc:
        result = "refused: " + exc.why
    except Exception as exc:
        result = type(exc).__name__
    return {"ran": os.path.exists(marker), "result": result}

out = {}
for route in routes:
    path = os.path.join(folder, route + ".pth")
    out[route] = {how: attempt(how, path) for how in ("weights_only=False", "old allow-list", "policy")}
    forged = os.path.join(folder, "forged", route)  # someone else wrote the file and a manifest naming it
    os.makedirs(forged)
    shutil.copy(path, os.path.join(forged, "epoch_1.pth"))
    ck.record(os.path.join(forged, "epoch_1.pth"))
    assert ck.recorded(os.path.join(forged, "epoch_1.pth"))
    out[route]["policy, forged manifest"] = attempt("policy", os.path.join(forged, "epoch_1.pth"))
print("RESULT", json.dumps(out))
'''


def test_crafted_checkpoints_never_run(stack_python, tmp_path):
    marker = tmp_path / "PWNED"
    build(stack_python, tmp_path / "p", marker)
    out = run_stack(stack_python, PAYLOADS, tmp_path / "p", REPO, marker, ",".join(ROUTES))
    for route in ROUTES:
        # each payload is live: plain unpickling runs it, and so did hoofenv's old allow-list for some
        assert out[route]["weights_only=False"]["ran"], (route, out[route])
        assert out[route]["old allow-list"]["ran"] == (route in LIVE_UNDER_OLD_ALLOW_LIST), (route, out[route])
        for how in ("policy", "policy, forged manifest"):
            assert not out[route][how]["ran"], (route, how, out[route])
            assert out[route][how]["result"].startswith("refused: "), (route, how, out[route])
            assert "GLOBAL" in out[route][how]["result"]
    assert not marker.exists()


HOSTILE_BUFFER = r'''
import copyreg, json, os, sys, torch, numpy as np
sys.path.insert(0, sys.argv[2])
from hoofenv.inenv import checkpoint as ck
from mmengine.logging.history_buffer import HistoryBuffer

class Buffer:
    def __init__(self, state): self.state = state
    @property
    def __class__(self): return HistoryBuffer
    def __reduce__(self): return (copyreg.__newobj__, (HistoryBuffer,), self.state)

path = os.path.join(sys.argv[1], "epoch_1.pth")
# only allow-listed objects, but aimed at behaviour: a class-wide statistics method and an attribute shadowing one
state = {"max_length": 10, "_log_history": np.array([1.0, 3.0]), "_count_history": np.array([1, 1]),
         "statistics_methods": {"mean": torch._utils._rebuild_tensor_v2}, "current": torch._utils._rebuild_tensor_v2}
torch.save({"message_hub": {"log_scalars": {"loss": Buffer(state)}}}, path)
ck.record(path)
with ck.policy():
    buf = torch.load(path)["message_hub"]["log_scalars"]["loss"]
print("RESULT", json.dumps({"mean": HistoryBuffer._statistics_methods["mean"] is HistoryBuffer.mean,
                            "keys": sorted(vars(buf)), "current": float(buf.current()),
                            "statistics": float(buf.statistics("mean"))}))
'''


def test_history_buffer_is_rebuilt_from_data_alone(stack_python, tmp_path):
    out = run_stack(stack_python, HOSTILE_BUFFER, tmp_path, REPO)
    assert out == {"mean": True, "keys": ["_count_history", "_log_history", "max_length"], "current": 3.0,
                   "statistics": 2.0}


NOT_CHECKPOINTS = r'''
import json, os, sys, torch
sys.path.insert(0, sys.argv[2])
from hoofenv.inenv import checkpoint as ck
folder = sys.argv[1]
torch.save({"w": torch.zeros(2)}, os.path.join(folder, "ok.pth"))
data = open(os.path.join(folder, "ok.pth"), "rb").read()
open(os.path.join(folder, "truncated.pth"), "wb").write(data[: len(data) // 2])
open(os.path.join(folder, "text.pth"), "w").write("not a model\n")
torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), os.path.join(folder, "script.pt"))
out = {}
with ck.policy():
    for name in ("ok.pth", "truncated.pth", "text.pth", "script.pt"):
        try:
            out[name] = sorted(torch.load(os.path.join(folder, name)))
        except ck.NotACheckpoint as exc:
            out[name] = exc.why
print("RESULT", json.dumps(out))
'''


def test_files_that_are_not_checkpoints_are_called_that(stack_python, tmp_path):
    out = run_stack(stack_python, NOT_CHECKPOINTS, tmp_path, REPO)
    assert out["ok.pth"] == ["w"]
    assert out["truncated.pth"].startswith("a zip archive that cannot be read")
    assert out["text.pth"] == "a text file (starts with 'not a model'), not a torch checkpoint"
    assert out["script.pt"].startswith("a TorchScript archive")
