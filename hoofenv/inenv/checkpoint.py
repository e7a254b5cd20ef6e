"""How hoofenv loads checkpoints inside the managed env: torch's weights_only rules for every file, with data types
only on top, and nothing added to torch process-wide.

Unpickling runs code: a `.pth` can name any function and have it called. torch >= 2.6 loads with
`weights_only=True`, an unpickler that builds tensors and a fixed list of types and refuses everything else. MMEngine
Runner checkpoints hold more: numpy arrays, scalars and dtypes, and mmengine's HistoryBuffer (the message hub), so
mmengine <= 0.10.7's resume fails under torch >= 2.6 (open-mmlab/mmengine#1655). The remedy here, applied by
`install()` (a wrapper around `torch.load`, in the train and predict runners):

- every load is `weights_only=True` (whatever the caller asked; a `pickle_module` is dropped), inside
  `torch.serialization.safe_globals([...])` (torch >= 2.5), a context that adds types for that one load only;
- a file that hoofenv itself wrote (its sha256 recorded in `.hoofenv-checkpoints.json` in the folder it lives in,
  by `record()` when the runner saved it) gets HOOFENV_GLOBALS: numpy data types and HistoryBuffer; any other file
  gets NUMPY_GLOBALS only (arrays, scalars, dtypes: what mmpose's dataset_meta holds);
- both lists are data-only: no entry returns or calls a callable it is handed (`builtins.getattr` is never on
  them; see NEVER_ALLOWED), so a forged manifest in a work dir someone else wrote into gains nothing but HistoryBuffer;
- HistoryBuffer's pickled state is made data-only too (`data_only_history_buffer()`): mmengine's `__getstate__`
  adds `statistics_methods` (functions, which pickle as `getattr(HistoryBuffer, 'min')`: that was the only reason
  the old allow-list held getattr); hoofenv drops it on save, and on load drops it and any key that would shadow a
  class attribute (mmengine sets the default statistics methods on the class when a buffer is built);
- a file the user vouches for with `--trust-checkpoint` loads with `weights_only=False` (it may run code);
- a file that is not a torch checkpoint at all (text, empty, a truncated zip, a TorchScript archive) is called that
  (NotACheckpoint), before torch reads it.

On torch < 2.5 (no `safe_globals` context) nothing can be added for one load, so files keep the default of that torch
(weights_only=False below 2.6: see docs/train.md). `discover_globals(path)` lists what a file needs beyond torch's
defaults (`torch.serialization.get_unsafe_globals_in_checkpoint`).

Imported by hoofenv's own Python (the pure parts: manifest, sniffing) and run inside the env: torch, numpy and
mmengine are imported lazily.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterable

MANIFEST = ".hoofenv-checkpoints.json"
MANIFEST_FORMAT = 1

# (module, qualname). Read from real files (2026-11-24, torch 2.14.1, numpy 1.26.4, mmengine 0.10.7):
# get_unsafe_globals_in_checkpoint of a Runner checkpoint (AdamW, LinearLR, EMAHook, CheckpointHook) listed
# HistoryBuffer, numpy.core.multiarray._reconstruct, numpy.dtype, builtins.getattr (gone since hoofenv saves
# HistoryBuffer without its statistics methods), numpy.core.multiarray.scalar, numpy.ndarray; each array's dtype
# class (numpy.dtypes.Float32DType, ...) is added by numpy_dtype_classes(). numpy 2 moved numpy.core to numpy._core:
# both spellings are listed; whichever is importable is used.
NUMPY_GLOBALS: list[tuple[str, str]] = [
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
]
HOOFENV_GLOBALS: list[tuple[str, str]] = NUMPY_GLOBALS + [("mmengine.logging.history_buffer", "HistoryBuffer")]
# Globals that reach or call arbitrary callables: never on either list (a test holds the lists to it).
NEVER_ALLOWED = frozenset({"builtins.getattr", "builtins.eval", "builtins.exec", "builtins.__import__",
                           "builtins.compile", "builtins.open", "builtins.setattr", "builtins.vars",
                           "builtins.globals", "functools.partial", "operator.attrgetter", "operator.methodcaller",
                           "posix.system", "os.system", "subprocess.Popen", "importlib.import_module"})
LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."  # torch.save(_use_new_zipfile_serialization=False)
WEIGHTS_ONLY_DEFAULT_FROM = (2, 6)


class NotACheckpoint(Exception):
    def __init__(self, path: str, why: str):
        super().__init__(f"{path}: {why}")
        self.path, self.why = path, why


class Refused(Exception):
    def __init__(self, path: str, names: list[str], why: str, recorded: bool):
        super().__init__(f"{path}: {why}")
        self.path, self.names, self.why, self.recorded = path, names, why, recorded


def needs_remedy(torch_version: str) -> bool:
    """True from torch 2.6 on: torch.load defaults to weights_only=True."""
    m = re.match(r"(\d+)\.(\d+)", torch_version)
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= WEIGHTS_ONLY_DEFAULT_FROM


# ----------------------------------------------------------------------------------------- the manifest (stdlib)
def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(folder) -> dict[str, dict]:
    """name -> {"sha256", "bytes"} of the manifest in `folder`; {} when there is none or it is not one of ours."""
    try:
        data = json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    entries = data.get("checkpoints") if isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT else None
    if not isinstance(entries, dict):
        return {}
    return {name: e for name, e in entries.items() if isinstance(name, str) and "/" not in name
            and isinstance(e, dict) and isinstance(e.get("sha256"), str) and isinstance(e.get("bytes"), int)}


def record(path) -> None:
    """Add `path` (a checkpoint just saved) to its folder's manifest, keeping the entries whose files still exist.
    Written to a temp file and renamed: readers see the old manifest or the new one."""
    path = Path(path)
    folder = path.parent
    entries = {name: e for name, e in read_manifest(folder).items()
               if name != path.name and (folder / name).is_file()}
    entries[path.name] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    text = json.dumps({"format": MANIFEST_FORMAT, "written_by": "hoofenv", "checkpoints": entries}, indent=1)
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST}.{os.getpid()}.", suffix=".tmp", dir=folder)  # O_EXCL: no link
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, folder / MANIFEST)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def recorded(path) -> bool:
    """Whether the file behind `path` (links followed) is one hoofenv saved: same size and sha256 as the entry for
    its name in the manifest of the folder it lives in."""
    real = Path(path).resolve()
    entry = read_manifest(real.parent).get(real.name)
    try:
        return bool(entry) and real.stat().st_size == entry["bytes"] and sha256_file(real) == entry["sha256"]
    except OSError:
        return False


def sniff(path) -> str | None:
    """None when `path` looks like a file torch.save wrote (a zip with data.pkl, or the legacy pickle format);
    otherwise why it is not a checkpoint, in words."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    if str(path).endswith(".safetensors"):
        return None
    if head.startswith(LEGACY_MAGIC):
        return None
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            return f"a zip archive that cannot be read (truncated or damaged: {exc})"
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return "a TorchScript archive (torch.jit.save), not a checkpoint of weights"
        if not any(n.endswith("data.pkl") for n in names):
            return "a zip archive without data.pkl: not written by torch.save"
        return None
    if not head:
        return "an empty file"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"neither a zip archive written by torch.save nor a legacy torch pickle (starts with {head[:8].hex(' ')})"
    first = text.strip().splitlines()[0][:40] if text.strip() else ""
    return f"a text file (starts with {first!r}), not a torch checkpoint"


# ------------------------------------------------------------------------------------------ the allow-lists
def numpy_dtype_classes() -> list:
    """Every numpy.dtypes.*DType class (data-only: an array's dtype is built as an instance of one)."""
    try:
        import numpy.dtypes as nd
    except ImportError:
        return []
    return [getattr(nd, n) for n in dir(nd) if n.endswith("DType") and isinstance(getattr(nd, n), type)]


def resolve(names: Iterable[tuple[str, str]]) -> list:
    """The objects that exist in this environment, in the form torch's safe_globals takes (an object, or
    (object, "module.qualname") when it is pickled under another name, as numpy 2's numpy.core aliases are)."""
    found = []
    for module_name, qualname in names:
        try:
            obj: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            continue
        found.append((obj, f"{module_name}.{qualname}") if getattr(obj, "__module__", module_name) != module_name
                     else obj)
    return found


def globals_for(ours: bool) -> list:
    return resolve(HOOFENV_GLOBALS if ours else NUMPY_GLOBALS) + numpy_dtype_classes()


def global_names(objs: list) -> list[str]:
    return [o[1] if isinstance(o, tuple) else f"{o.__module__}.{o.__qualname__}" for o in objs]


def discover_globals(path) -> list[str]:
    """The globals a checkpoint needs that torch's weights_only unpickler does not allow by default."""
    import torch

    return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))


# ------------------------------------------------------------------------------------- HistoryBuffer as data
def data_only_history_buffer() -> None:
    """Pickle mmengine's HistoryBuffer without `statistics_methods` (functions) and rebuild it from data alone:
    on load the key and any key that would shadow a class attribute are dropped (mmengine's own __setstate__ then
    sets the default statistics methods on the class). Idempotent."""
    try:
        from mmengine.logging.history_buffer import HistoryBuffer
    except ImportError:
        return
    if getattr(HistoryBuffer, "_hoofenv_data_only", False):
        return
    setstate = HistoryBuffer.__setstate__

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "statistics_methods"}

    def __setstate__(self, state) -> None:
        state = state if isinstance(state, dict) else {}
        setstate(self, {k: v for k, v in state.items() if isinstance(k, str) and k != "statistics_methods"
                        and not hasattr(type(self), k)})

    HistoryBuffer.__getstate__ = __getstate__
    HistoryBuffer.__setstate__ = __setstate__
    HistoryBuffer._hoofenv_data_only = True


# ----------------------------------------------------------------------------------------------- loading
def _path_of(f) -> str | None:
    return str(Path(f).resolve()) if isinstance(f, (str, os.PathLike)) else None


def _torch_reason(exc: BaseException) -> str:
    """The line of torch's weights_only error that names what was refused (the rest is torch's general advice)."""
    lines = [t.strip() for t in str(exc).splitlines() if t.strip()]
    for line in lines:
        if "WeightsUnpickler error:" in line:
            return line.split("WeightsUnpickler error:", 1)[1].strip().split(". ")[0]
    for line in lines:
        if "GLOBAL" in line or "nsupported" in line:
            return line.rstrip(".")
    return lines[-1][:300] if lines else type(exc).__name__


def _unsafe_names(f, allowed: list) -> list[str]:
    """What the file holds beyond torch's defaults and `allowed` (read from the pickle, nothing run)."""
    import torch

    try:
        with torch.serialization.safe_globals(allowed):
            return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(f))
    except Exception:  # noqa: BLE001 -- a listing for the message only
        return []


def load(original, f, args: tuple = (), kwargs: dict | None = None, trusted: Iterable[str] = ()) -> Any:
    """`original(f, *args, **kwargs)` (torch.load) under the policy of this module's docstring. Raises
    NotACheckpoint or Refused; a trusted file (resolved path in `trusted`) loads with weights_only=False."""
    import pickle

    import torch

    kwargs = dict(kwargs or {})
    path = _path_of(f)
    if path is not None and os.path.isfile(path):
        why = sniff(path)
        if why:
            raise NotACheckpoint(path, why)
        if path in set(trusted):
            kwargs["weights_only"] = False
            return original(f, *args, **kwargs)
    ours = path is not None and recorded(path)
    if not hasattr(torch.serialization, "safe_globals"):  # torch < 2.5: nothing can be added for one load
        return original(f, *args, **kwargs)
    args = args[:1]  # (map_location,): a pickle_module cannot be honoured under weights_only
    kwargs.pop("pickle_module", None)
    kwargs["weights_only"] = True
    allowed = globals_for(ours)
    try:
        with torch.serialization.safe_globals(allowed):
            return original(f, *args, **kwargs)
    except pickle.UnpicklingError as exc:
        raise Refused(path or "<stream>", _unsafe_names(path, allowed) if path else [], _torch_reason(exc),
                      ours) from exc
    except RuntimeError as exc:
        if path is not None and ("PytorchStreamReader" in str(exc) or "zip archive" in str(exc)):
            raise NotACheckpoint(path, f"a damaged torch archive ({_torch_reason(exc)})") from exc
        raise
    except (AttributeError, TypeError, ValueError, KeyError, IndexError, EOFError) as exc:
        # an allow-listed function handed arguments no torch.save writes: a crafted or broken pickle
        raise Refused(path or "<stream>", [], f"its pickle does not rebuild as data ({type(exc).__name__}: "
                                              f"{str(exc)[:200]})", ours) from exc


@contextlib.contextmanager
def policy(trusted: Iterable[str] = ()):
    """torch.load under `load` for the duration of a with-block; refusals raise NotACheckpoint / Refused."""
    import torch

    data_only_history_buffer()
    trusted = frozenset(str(Path(t).resolve()) for t in trusted)
    original = torch.load

    def guarded(f, *args, **kwargs):
        return load(original, f, args, kwargs, trusted)

    torch.load = guarded
    try:
        yield
    finally:
        torch.load = original


def install(trusted: Iterable[str] = ()) -> None:
    """`policy()` for the rest of this process (mmengine and mmpose call torch.load by attribute). A refusal ends
    the program: an event, then the protocol's exit code."""
    import torch

    from . import protocol

    data_only_history_buffer()
    trusted = frozenset(str(Path(t).resolve()) for t in trusted)
    original = torch.load

    def guarded(f, *args, **kwargs):
        try:
            return load(original, f, args, kwargs, trusted)
        except NotACheckpoint as exc:
            protocol.emit("not-a-checkpoint", path=exc.path, why=exc.why)
            raise SystemExit(protocol.EXIT_NOT_A_CHECKPOINT) from None
        except Refused as exc:
            protocol.emit("checkpoint-refused", path=exc.path, globals=exc.names, why=exc.why, recorded=exc.recorded)
            raise SystemExit(protocol.EXIT_CHECKPOINT_REFUSED) from None

    torch.load = guarded
