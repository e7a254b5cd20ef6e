"""Loading MMEngine Runner checkpoints under torch >= 2.6 (weights_only=True by default) without turning it off.

torch 2.6 made `torch.load` default to weights_only=True; mmengine <= 0.10.7 calls `torch.load(filename,
map_location=...)` without the argument, so `resume=True` / `load_from` of a Runner checkpoint fails with
`_pickle.UnpicklingError: Weights only load failed ... Unsupported global` (open-mmlab/mmengine#1655): the
checkpoint holds numpy arrays and scalars, mmengine's HistoryBuffer (message hub) and a few containers. The remedy
here keeps weights_only=True and allow-lists exactly those globals, found by saving a Runner-like checkpoint under
torch 2.14.1 and reading `torch.serialization.get_unsafe_globals_in_checkpoint` (see `discover_globals`).

API (torch, numpy and mmengine are imported lazily: this module is imported by hoofenv's own Python and also
loaded by path inside the training environment by `hoofenv verify`):

    MMENGINE_CHECKPOINT_GLOBALS: list[tuple[str, str]]   # (module, qualname) pairs the allow-list holds
    needs_remedy(torch_version: str) -> bool               # True from torch 2.6 on
    safe_globals() -> list                                 # those objects, imported (absent ones skipped)
    allow_mmengine_globals() -> list[str]                  # process-wide torch.serialization.add_safe_globals;
                                                           #   after it mmengine's own resume/load_from works
    safe_load(path, map_location="cpu") -> Any             # torch.load(weights_only=True) under the allow-list
    discover_globals(path) -> list[str]                    # what a checkpoint needs beyond torch's defaults

`hoofenv train` calls `allow_mmengine_globals()` before building the Runner (one call; a no-op on torch < 2.6);
`hoofenv verify` (check `checkpoint.roundtrip`) proves that the plain load fails and this remedy succeeds under
the installed torch.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

# (module, qualname). Found for real (2026-11-24, torch 2.14.1, numpy 1.26.4, mmengine 0.10.7): a Runner trained
# for one epoch (AdamW, LinearLR, EMAHook, CheckpointHook) wrote epoch_1.pth, and
# torch.serialization.get_unsafe_globals_in_checkpoint listed exactly
#   HistoryBuffer, numpy.core.multiarray._reconstruct, numpy.dtype, builtins.getattr,
#   numpy.core.multiarray.scalar, numpy.ndarray
# (builtins.getattr: the message hub pickles HistoryBuffer._statistics_methods as getattr(HistoryBuffer, 'min');
# torch's weights_only unpickler still refuses to CALL anything not allow-listed, so getattr only reaches
# attributes). Each numpy array's dtype class (numpy.dtypes.Float32DType, ...) must be allow-listed as well: the
# unpickler builds dtype instances only of allowed types; the common ones are listed. numpy 2 moved
# numpy.core to numpy._core: both spellings are listed; whichever is importable is used.
MMENGINE_CHECKPOINT_GLOBALS: list[tuple[str, str]] = [
    ("mmengine.logging.history_buffer", "HistoryBuffer"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("builtins", "getattr"),
    ("collections", "OrderedDict"),
] + [("numpy.dtypes", f"{kind}DType") for kind in (
    "Float64", "Float32", "Float16", "Int64", "Int32", "Int16", "Int8", "UInt64", "UInt32", "UInt16", "UInt8",
    "Bool")]

WEIGHTS_ONLY_DEFAULT_FROM = (2, 6)


def needs_remedy(torch_version: str) -> bool:
    """torch >= 2.6 loads with weights_only=True unless told otherwise."""
    m = re.match(r"(\d+)\.(\d+)", torch_version)
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= WEIGHTS_ONLY_DEFAULT_FROM


def safe_globals() -> list:
    """The allow-listed objects that exist in this environment (numpy 1 or 2, any mmengine)."""
    found = []
    for module_name, qualname in MMENGINE_CHECKPOINT_GLOBALS:
        try:
            obj: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            continue
        # numpy 2 keeps numpy.core as an alias whose objects live in numpy._core: name them as pickled
        found.append((obj, f"{module_name}.{qualname}") if getattr(obj, "__module__", module_name) != module_name
                     else obj)
    return found


def allow_mmengine_globals() -> list[str]:
    """Add the allow-list to torch's weights_only unpickler for this process; returns the names added."""
    import torch

    if not needs_remedy(torch.__version__) or not hasattr(torch.serialization, "add_safe_globals"):
        return []
    objs = safe_globals()
    torch.serialization.add_safe_globals(objs)
    return [o[1] if isinstance(o, tuple) else f"{o.__module__}.{getattr(o, '__qualname__', o)}" for o in objs]


def safe_load(path, map_location: Any = "cpu") -> Any:
    """`torch.load(path, weights_only=True)` that accepts MMEngine Runner checkpoints."""
    import torch

    if not hasattr(torch.serialization, "safe_globals"):  # torch < 2.5: weights_only was opt-in and permissive
        return torch.load(path, map_location=map_location)
    with torch.serialization.safe_globals(safe_globals()):
        return torch.load(path, map_location=map_location, weights_only=True)


def discover_globals(path) -> list[str]:
    """The globals a checkpoint needs that torch's weights_only unpickler does not allow by default."""
    import torch

    return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
