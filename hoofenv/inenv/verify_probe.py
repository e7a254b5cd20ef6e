"""The in-environment half of `hoofenv verify`: runs the probe checks it is given, in order, and reports each.

    ENV_PYTHON hoofenv/inenv/launch.py verify ARGS.json

ARGS.json: {"checks": [ids, in order], "plan": {...} | null, "config": path | null, "gpu_present": bool,
"fault": "id:crash|hang" | null, "default_types": [...], "default_specs": {package: requirement}}. Before a check
it reports a `start` event, after it a `done` event (protocol.py); whatever the stack prints goes to stderr. When
the process dies or hangs inside a check, hoofenv knows which one from the last `start` and reruns the rest in a
fresh process. Each check is the function `check_<id>` of this module (protocol.CHECKS holds the ids).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import traceback

from . import protocol
from .protocol import FAIL, OK, SKIP, WARN


class Result(Exception):
    """Raised (or returned) by a check: status, detail, hint."""

    def __init__(self, status: str, detail: str, hint: str | None = None, own: bool = False):
        super().__init__(detail)
        self.status, self.detail, self.hint, self.own = status, detail, hint, own


def ok(detail: str) -> Result:
    return Result(OK, detail)


def fail(detail: str, hint: str | None = None, own: bool = False) -> Result:
    """own=True: the failure is this check's own root cause (its package is missing or the wrong one), never a
    consequence of an earlier failed check."""
    return Result(FAIL, detail, hint, own)


ARGS: dict = {}
PLAN: dict = {}


def _last_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0] if len(lines) == 1 else " / ".join(lines[:3])


def _dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _vtuple(version: str) -> tuple:
    """'2.1.0rc4+cu121' -> comparable tuple (pre-releases sort before the release)."""
    base = version.split("+")[0]
    m = re.match(r"(\d+(?:\.\d+)*)(?:(rc|a|b)(\d+))?", base)
    if not m:
        return (0,)
    nums = tuple(int(x) for x in m.group(1).split("."))
    nums = nums + (0,) * (4 - len(nums))
    pre = (-1, int(m.group(3))) if m.group(2) else (0, 0)
    return nums + pre


def _pin(name: str, fallback: str) -> str:
    """A pip requirement for `name` from the plan (torch==2.1.2, numpy==1.26.4, setuptools<81), else fallback."""
    if name in ("torch", "torchvision", "mmengine", "mmdet", "mmpose") and PLAN.get(name):
        return f"{name}=={PLAN[name]}"
    if name == "mmcv" and (PLAN.get("mmcv") or {}).get("version"):
        return f"mmcv=={PLAN['mmcv']['version']}"
    spec = (PLAN.get("pins") or {}).get(name)
    if spec:
        return f"{name}{spec}" if spec[:1] in "<>=!~" else f"{name}=={spec}"
    return fallback


def _default_spec(name: str) -> str:
    """Without a plan: the requirement hoofenv's matrix names for the package (given in ARGS), else its name."""
    return (ARGS.get("default_specs") or {}).get(name, name)


def _reinstall_hint() -> str:
    env = ARGS.get("env")
    return f"hoofenv install --env {env}" if env else "hoofenv install"


# ---------------------------------------------------------------------------------------------------- checks


def check_python_version():
    have = "%d.%d.%d" % sys.version_info[:3]
    want = PLAN.get("python")
    if not want:
        return ok(f"Python {have} ({sys.executable}); no plan: any version accepted")
    if have.split(".")[:2] != str(want).split(".")[:2]:
        return fail(f"Python {have}, the plan wants {want}",
                    f"recreate the environment with Python {want}: {_reinstall_hint()} --python {want}")
    return ok(f"Python {have} (plan: {want})")


def check_numpy_version():
    have = _dist_version("numpy")
    if have is None:
        return fail("numpy is not installed", f"pip install '{_pin('numpy', 'numpy<2')}'")
    import numpy

    if _vtuple(numpy.__version__) >= _vtuple("2"):
        return fail(f"numpy {numpy.__version__}: opencv < 4.12, xtcocotools and mmcv wheels built against numpy 1.x "
                    "break (`numpy.dtype size changed`)", f"pip install '{_pin('numpy', 'numpy<2')}'")
    pin = (PLAN.get("pins") or {}).get("numpy")
    if pin and pin[:1] not in "<>=!~" and numpy.__version__ != pin:
        return Result(WARN, f"numpy {numpy.__version__} (< 2, but the plan pins {pin})", f"pip install numpy=={pin}")
    return ok(f"numpy {numpy.__version__}" + (f" (plan: {pin})" if pin else ""))


def check_opencv_flavour():
    have = {n: v for n in protocol.OPENCV_FLAVOURS if (v := _dist_version(n))}
    listed = ", ".join(f"{n} {v}" for n, v in have.items())
    keep = _pin("opencv-python", "opencv-python<4.12")
    if not have:
        return fail("no opencv package is installed (mmcv and mmengine import cv2)", f"pip install '{keep}'", own=True)
    if len(have) > 1:
        names = " ".join(have)
        return fail(f"{len(have)} opencv flavours share one cv2 folder: {listed}",
                    f"pip uninstall -y {names} && pip install '{keep}'", own=True)
    try:
        import cv2
    except Exception as exc:  # noqa: BLE001 - any import failure is the finding
        hint = f"pip install --force-reinstall '{keep}'"
        if "numpy" in str(exc).lower() or "multiarray" in str(exc):
            hint = f"pip install '{_pin('numpy', 'numpy<2')}' (this cv2 was built against numpy 1.x)"
        return fail(f"{listed}: import cv2 failed: {_last_line(exc)}", hint)
    return ok(f"{listed} (cv2 {cv2.__version__})")


def check_xtcocotools_abi():
    if _dist_version("xtcocotools") is None:
        return fail("xtcocotools is not installed (mmpose's COCO metric needs it)",
                    f"pip install '{_pin('xtcocotools', 'xtcocotools')}'")
    try:
        from xtcocotools import _mask  # noqa: F401  - the compiled part, the one that breaks
        from xtcocotools.coco import COCO  # noqa: F401
        from xtcocotools.cocoeval import COCOeval  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        msg = _last_line(exc)
        if "dtype size changed" in msg or "NumPy" in msg:
            import numpy

            if _vtuple(numpy.__version__) >= _vtuple("2"):
                hint = f"pip install '{_pin('numpy', 'numpy<2')}'"
            else:
                hint = "pip install --force-reinstall --no-binary xtcocotools xtcocotools (rebuild for this numpy)"
            return fail(f"xtcocotools {_dist_version('xtcocotools')} was built against another numpy: {msg}", hint)
        return fail(f"import xtcocotools failed: {msg}", f"pip install --force-reinstall '{_pin('xtcocotools', 'xtcocotools')}'")
    import numpy

    return ok(f"xtcocotools {_dist_version('xtcocotools')} loads under numpy {numpy.__version__}")


def check_setuptools_version():
    have = _dist_version("setuptools")
    hint = f"pip install '{_pin('setuptools', 'setuptools<81')}'"
    if have is None:
        return fail("setuptools is not installed: mmcv and mmpose.apis import pkg_resources", hint)
    try:
        import pkg_resources  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return fail(f"setuptools {have}: import pkg_resources failed ({_last_line(exc)}); mmcv and mmpose.apis need it",
                    hint)
    if _vtuple(have) >= _vtuple("81"):
        return fail(f"setuptools {have} is >= 81: pkg_resources still imports here but is deprecated and removed in "
                    "later releases; mmcv's setup.py and mmpose.apis import it, so the stack pins setuptools<81", hint)
    return ok(f"setuptools {have} (pkg_resources imports)")


def _torch_pair_hint() -> str:
    if PLAN.get("torch") and PLAN.get("torchvision"):
        return (f"install the planned pair from one index: pip install torch=={PLAN['torch']} "
                f"torchvision=={PLAN['torchvision']} (or {_reinstall_hint()})")
    return "install torch and torchvision as a matching pair from the same index (both +cpu or both +cuXXX)"


def check_torch_import():
    try:
        import torch
    except Exception as exc:  # noqa: BLE001
        return fail(f"import torch failed: {_last_line(exc)}", f"pip install --force-reinstall '{_pin('torch', 'torch')}'")
    built = torch.version.cuda or "cpu"
    detail = f"torch {torch.__version__} (CUDA build: {built})"
    want, want_cuda = PLAN.get("torch"), PLAN.get("cuda")
    if want and torch.__version__.split("+")[0] != want:
        return fail(f"{detail}; the plan wants torch {want}", f"pip install torch=={want} ({_reinstall_hint()})")
    if want_cuda and want_cuda != "cpu" and torch.version.cuda is None:
        return fail(f"{detail}; the plan wants a {want_cuda} build", _reinstall_hint())
    return ok(detail + (f" (plan: {want}+{want_cuda})" if want else "; no plan: any version accepted"))


def _device():
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_torch_device():
    import torch

    if torch.cuda.is_available():
        idx = torch.cuda.current_device()
        return ok(f"cuda:{idx} {torch.cuda.get_device_name(idx)} (CUDA {torch.version.cuda}, "
                  f"{torch.cuda.device_count()} device(s))")
    want_cuda = PLAN.get("cuda")
    if want_cuda and want_cuda != "cpu":
        return fail(f"torch.cuda.is_available() is False but the plan is {want_cuda}",
                    "run `nvidia-smi`; if the driver is fine, `hoofenv doctor` compares it with the plan")
    if ARGS.get("gpu_present") and torch.version.cuda:
        return fail("an NVIDIA device is present but torch.cuda.is_available() is False",
                    "run `nvidia-smi` and `hoofenv doctor` (driver too old for CUDA "
                    f"{torch.version.cuda}, or the driver was upgraded without a reboot)")
    if ARGS.get("gpu_present"):
        return Result(WARN, f"an NVIDIA device is present but torch {torch.__version__} is a CPU build: training "
                            "will run on the CPU", "hoofenv plan (then `hoofenv install`) picks a CUDA build for it")
    return ok("CPU only: torch.cuda.is_available() is False (no NVIDIA device here)")


def check_torch_arch():
    import torch

    if not torch.cuda.is_available():
        return Result(SKIP, "no CUDA device: nothing to compare with torch.cuda.get_arch_list()")
    major, minor = torch.cuda.get_device_capability()
    sm = f"sm_{major}{minor}"
    arches = torch.cuda.get_arch_list()
    # PTX entries (compute_XY) can be JIT-compiled for the same or a newer GPU; "sm_90a"-style suffixes are exact-only
    ptx = [a for a in arches if (m := re.fullmatch(r"compute_(\d+)", a)) and int(m.group(1)) <= major * 10 + minor]
    name = torch.cuda.get_device_name()
    if sm in arches:
        return ok(f"{name} is {sm}, compiled into this torch ({' '.join(arches)})")
    if ptx:
        return Result(WARN, f"{name} is {sm}: not compiled in, runs by JIT from {ptx[-1]} (slow first start)")
    return fail(f"{name} is {sm}, which torch {torch.__version__} was not built for ({' '.join(arches)}): "
                f"\"{sm} is not compatible with the current PyTorch installation\"",
                "use a torch build that still carries this GPU (older CUDA tag, e.g. cu126/cu118): "
                "`hoofenv plan` picks it from the GPU's compute capability")


def check_torch_matmul():
    import torch

    dev = _device()
    a = torch.arange(64 * 64, dtype=torch.float32).reshape(64, 64) / 4096.0
    ref = a @ a
    out = (a.to(dev) @ a.to(dev)).cpu()
    if dev == "cuda":
        torch.cuda.synchronize()
    if not torch.allclose(out, ref, rtol=1e-3, atol=1e-3):
        return fail(f"64x64 matmul on {dev} differs from the CPU result", "run `hoofenv doctor`; reinstall torch")
    return ok(f"64x64 float32 matmul on {dev} matches")


def check_torchvision_import():
    tv = _dist_version("torchvision")
    if tv is None:
        return fail("torchvision is not installed (mmpose.visualization and mmengine's collect_env need it)",
                    f"pip install '{_pin('torchvision', 'torchvision')}'")
    import torch

    try:
        import torchvision
        from torchvision.ops import nms
    except Exception as exc:  # noqa: BLE001
        msg = _last_line(exc)
        if "torchvision::nms does not exist" in msg:
            return fail(f"torchvision {tv} does not match torch {torch.__version__} (a CUDA torchvision beside a "
                        f"{'CPU' if torch.version.cuda is None else 'different'} torch?): {msg}", _torch_pair_hint())
        return fail(f"import torchvision failed: {msg}", _torch_pair_hint())
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], dtype=torch.float32)
    keep = nms(boxes.to(_device()), torch.tensor([0.9, 0.8, 0.7]).to(_device()), 0.5).cpu().tolist()
    if keep != [0, 2]:
        return fail(f"torchvision.ops.nms returned {keep}, expected [0, 2]", _torch_pair_hint())
    return ok(f"torchvision {torchvision.__version__} (ops run on {_device()})")


def _mmcv_rebuild_hint() -> str:
    import torch

    tv = torch.__version__
    return (f"rebuild or reinstall mmcv for torch {tv}: pip uninstall -y mmcv && {_reinstall_hint()} "
            f"(mmcv's compiled ops must be built against the torch that runs them)")


def check_mmcv_ext():
    import importlib.util

    lite = _dist_version("mmcv-lite")
    full = _dist_version("mmcv")
    planned = (PLAN.get("mmcv") or {}).get("version")
    hint = (f"pip uninstall -y mmcv-lite mmcv && {_reinstall_hint()} "
            f"(full mmcv{' ' + planned if planned else ''} with compiled ops, built for this torch)")
    if lite and not full:
        return fail(f"mmcv-lite {lite} is installed: it has no mmcv._ext (compiled ops); mmpose.models needs full mmcv",
                    hint, own=True)
    if not full and not lite:
        return fail("mmcv is not installed", hint, own=True)
    try:
        spec = importlib.util.find_spec("mmcv._ext")
    except Exception as exc:  # noqa: BLE001 - mmcv/__init__ itself failed
        return fail(f"import mmcv failed: {_last_line(exc)}", hint)
    if spec is None:
        return fail(f"mmcv {full or lite} has no mmcv._ext (built without MMCV_WITH_OPS=1, or mmcv-lite files)", hint)
    where = os.path.basename(spec.origin or "?")
    return ok(f"mmcv {full} with compiled ops ({where})" + (f"; mmcv-lite {lite} is also installed" if lite else ""))


def check_mmcv_abi():
    import torch

    try:
        import mmcv._ext  # noqa: F401
    except ImportError as exc:
        msg = _last_line(exc)
        if "undefined symbol" in msg:
            return fail(f"mmcv._ext was built for another torch than {torch.__version__}: {msg}", _mmcv_rebuild_hint())
        return fail(f"import mmcv._ext failed: {msg}", _mmcv_rebuild_hint())
    from mmcv.ops import get_compiler_version, get_compiling_cuda_version

    return ok(f"mmcv._ext loads under torch {torch.__version__} (compiled with {get_compiler_version()}, "
              f"CUDA {get_compiling_cuda_version()})")


# The version guards of mmpose 1.3.x and mmdet 3.x (their __init__ asserts), read from the installed sources.
GUARDS = {"mmpose": "min <= v <= max", "mmdet": "min <= v < max"}


def _guard(package: str) -> tuple[str, str] | None:
    import ast
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        return None
    found = {}
    with open(spec.origin, encoding="utf-8") as fh:
        for node in ast.parse(fh.read()).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for t in node.targets:
                    if isinstance(t, ast.Name) and t.id in ("mmcv_minimum_version", "mmcv_maximum_version"):
                        found[t.id] = node.value.value
    if len(found) != 2:
        return None
    return found["mmcv_minimum_version"], found["mmcv_maximum_version"]


def check_mmcv_version():
    have = _dist_version("mmcv") or _dist_version("mmcv-lite")
    if have is None:
        return fail("mmcv is not installed", _reinstall_hint(), own=True)
    problems, seen = [], []
    v = _vtuple(have)
    for package, rule in GUARDS.items():
        guard = _guard(package)
        if guard is None:
            seen.append(f"{package}: not installed")
            continue
        lo, hi = guard
        inside = _vtuple(lo) <= v and (v <= _vtuple(hi) if rule.endswith("<= max") else v < _vtuple(hi))
        text = f"{package} {_dist_version(package)} wants {lo} <= mmcv {'<=' if rule.endswith('<= max') else '<'} {hi}"
        seen.append(text)
        if not inside:
            problems.append(text)
    want = (PLAN.get("mmcv") or {}).get("version")
    if want and have.split("+")[0] != want:
        problems.append(f"the plan wants mmcv {want}")
    if problems:
        return fail(f"mmcv {have} is outside the guards: " + "; ".join(problems),
                    f"pip uninstall -y mmcv && {_reinstall_hint()} (mmcv {want or '2.1.0'})")
    return ok(f"mmcv {have}: " + "; ".join(seen))


def check_mmcv_ops():
    import torch
    from mmcv.ops import MultiScaleDeformableAttention, nms, roi_align

    dev = _device()
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], dtype=torch.float32, device=dev)
    scores = torch.tensor([0.9, 0.8, 0.7], device=dev)
    _, keep = nms(boxes, scores, 0.5)
    if keep.cpu().tolist() != [0, 2]:
        return fail(f"mmcv.ops.nms on {dev} returned {keep.tolist()}, expected [0, 2]", _mmcv_rebuild_hint())
    feat = torch.arange(16, dtype=torch.float32, device=dev).reshape(1, 1, 4, 4)
    rois = torch.tensor([[0, 0, 0, 3, 3]], dtype=torch.float32, device=dev)
    pooled = roi_align(feat, rois, (2, 2), 1.0, 0, "avg", True)
    if tuple(pooled.shape) != (1, 1, 2, 2):
        return fail(f"mmcv.ops.roi_align on {dev} returned shape {tuple(pooled.shape)}", _mmcv_rebuild_hint())
    torch.manual_seed(0)
    attn = MultiScaleDeformableAttention(embed_dims=8, num_heads=2, num_levels=1, num_points=2,
                                         batch_first=True).to(dev)
    shapes = torch.tensor([[4, 4]], device=dev)
    query = torch.rand(1, 16, 8, device=dev)
    ref = torch.rand(1, 16, 1, 2, device=dev)
    out = attn(query, value=query, reference_points=ref, spatial_shapes=shapes,
               level_start_index=torch.tensor([0], device=dev))
    if dev == "cuda":
        torch.cuda.synchronize()
    if tuple(out.shape) != (1, 16, 8) or not torch.isfinite(out).all():
        return fail(f"MultiScaleDeformableAttention on {dev} gave shape {tuple(out.shape)}", _mmcv_rebuild_hint())
    return ok(f"nms, roi_align and MultiScaleDeformableAttention forward run on {dev}")


def check_mm_imports():
    versions = []
    for package, sub in (("mmengine", "mmengine.runner"), ("mmcv", "mmcv.ops"), ("mmdet", "mmdet.models"),
                         ("mmpose", "mmpose.models")):
        try:
            module = __import__(package)
            __import__(sub)
        except Exception as exc:  # noqa: BLE001
            msg = _last_line(exc)
            missing = re.search(r"No module named '([\w.]+)'", msg)
            if missing and missing.group(1).split(".")[0] in ("mmengine", "mmdet", "mmpose"):
                name = missing.group(1).split(".")[0]
                return fail(f"import {sub} failed: {msg}",
                            f"pip install '{_pin(name, _default_spec(name))}' (or {_reinstall_hint()})",
                            own=True)
            elif "MMCV==" in msg or "mmcv" in msg.lower():
                hint = f"pip uninstall -y mmcv mmcv-lite && {_reinstall_hint()}"
            else:
                hint = _reinstall_hint()
            return fail(f"import {sub} failed: {msg}", hint)
        versions.append(f"{package} {getattr(module, '__version__', '?')}")
    mismatch = [f"{p} {getattr(sys.modules[p], '__version__', '?')} (plan {PLAN[p]})" for p in ("mmengine", "mmdet", "mmpose")
                if PLAN.get(p) and getattr(sys.modules[p], "__version__", None) != PLAN[p]]
    if mismatch:
        return fail("differs from the plan: " + ", ".join(mismatch), _reinstall_hint())
    return ok(", ".join(versions))


# ---------------------------------------------------------------------------------- registry.types

# Where a `type=` sits in the config -> the mmpose registries that build it.
_SECTION_REGISTRIES = [
    (r"(^|\.)(codec|encoder|decoder)$", ["KEYPOINT_CODECS"]),
    (r"(^|\.)init_cfg$", ["WEIGHT_INITIALIZERS"]),
    (r"^model(\.|$)", ["MODELS"]),
    (r"pipeline|switch_pipeline", ["TRANSFORMS"]),
    (r"(^|\.)sampler$", ["DATA_SAMPLERS"]),
    (r"dataset", ["DATASETS"]),
    (r"hooks", ["HOOKS"]),
    (r"evaluator", ["METRICS", "EVALUATOR"]),
    (r"^optim_wrapper\.optimizer", ["OPTIMIZERS"]),
    (r"^optim_wrapper", ["OPTIM_WRAPPERS"]),
    (r"^param_scheduler", ["PARAM_SCHEDULERS"]),
    (r"vis_backends", ["VIS_BACKENDS"]),
    (r"^visualizer", ["VISUALIZERS"]),
    (r"^log_processor", ["LOG_PROCESSORS"]),
    (r"^(train|val|test)_cfg", ["LOOPS"]),
]
# dicts whose children are not registry types (albumentations' own transforms)
_OPAQUE = {"Albumentation": "transforms"}


def collect_types(cfg, path: str = "", scope: str | None = None, out: list | None = None) -> list:
    """Every (path, type, scope) in a config dict, recursively; `_scope_` applies to the subtree."""
    out = [] if out is None else out
    if isinstance(cfg, dict):
        scope = cfg.get("_scope_", scope)
        t = cfg.get("type")
        if isinstance(t, str):
            out.append((path or "<root>", t, scope))
        for key, value in cfg.items():
            if isinstance(t, str) and _OPAQUE.get(t.split(".")[-1]) == key:
                continue
            collect_types(value, f"{path}.{key}" if path else str(key), scope, out)
    elif isinstance(cfg, (list, tuple)):
        for i, value in enumerate(cfg):
            collect_types(value, f"{path}[{i}]", scope, out)
    return out


def _registries_for(path: str) -> list[str]:
    for pattern, names in _SECTION_REGISTRIES:
        if re.search(pattern, re.sub(r"\[\d+\]", "", path)):
            return names
    return []


def _hidden_import_error(registry, scope: str) -> str | None:
    """The ImportError that mmengine's Registry.import_from_location logged as a warning and swallowed."""
    import importlib

    from mmengine.registry import Registry

    target = registry
    if scope and scope != registry.scope:
        try:
            importlib.import_module(f"{scope}.registry")
        except Exception as exc:  # noqa: BLE001
            return f"import {scope}.registry: {_last_line(exc)}"
        target = registry._get_root_registry()._search_child(scope) if hasattr(registry, "_get_root_registry") else None
        if target is None:
            return f"no {scope} registry below {registry.name}"
    for location in getattr(target, "_locations", None) or []:
        try:
            importlib.import_module(location)
        except Exception as exc:  # noqa: BLE001
            return f"import {location}: {_last_line(exc)}"
    del Registry
    return None


def check_registry_types():
    import warnings

    from mmengine.registry import init_default_scope

    warnings.simplefilter("ignore")
    import mmpose.registry as R

    cfg_path = ARGS.get("config")
    if cfg_path:
        from mmengine.config import Config

        cfg = Config.fromfile(cfg_path)
        types = collect_types(cfg.to_dict())
        source = cfg_path
    else:
        types = [(p, t, s) for p, t, s in ARGS.get("default_types", [])]
        source = "the RTMPose types hoofenv trains with (no training config given)"
    init_default_scope("mmpose")
    missing, hidden = [], {}
    for path, type_name, scope in types:
        every = [n for n in dir(R) if n.isupper() and hasattr(getattr(R, n), "get")]
        names = _registries_for(path) or every
        found = False
        for name in names + [n for n in every if n not in names]:  # inferred registries first
            registry = getattr(R, name, None)
            if registry is None:
                continue
            key = type_name if "." in type_name or not scope or scope == "mmpose" else f"{scope}.{type_name}"
            try:
                if registry.get(key) is not None:
                    found = True
                    break
            except Exception as exc:  # noqa: BLE001
                hidden.setdefault(key, _last_line(exc))
        if not found:
            key = type_name if "." in type_name or not scope or scope == "mmpose" else f"{scope}.{type_name}"
            scope_name = key.split(".")[0] if "." in key else "mmpose"
            registry = getattr(R, names[0], None)
            why = hidden.get(key) or (_hidden_import_error(registry, scope_name) if registry is not None else None)
            missing.append(f"{path}: {key} not in mmpose::{(names[0] if names else '?').lower()}"
                           + (f" (hidden import failure: {why})" if why else ""))
    if missing:
        hint = _reinstall_hint()
        text = " ".join(missing)
        if "mmdet" in text:
            hint = f"pip install '{_pin('mmdet', _default_spec('mmdet'))}' (the RTMPose configs use mmdet-scoped types), or {_reinstall_hint()}"
        if "mmcv._ext" in text:
            hint = f"pip uninstall -y mmcv-lite mmcv && {_reinstall_hint()}"
        return fail(f"{len(missing)} of {len(types)} types do not resolve: " + "; ".join(missing[:6]), hint)
    return ok(f"all {len(types)} types resolve ({len({t for _, t, _ in types})} distinct) from {source}")


# -------------------------------------------------------------------------------- checkpoint.roundtrip


def _runner_like_checkpoint() -> dict:
    """What mmengine's Runner.save_checkpoint writes: weights, numpy meta, the message hub, the optimizer."""
    import numpy as np
    import torch
    from mmengine.logging import MessageHub
    from mmengine.runner.checkpoint import weights_to_cpu

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.rand(1, 3, 8, 8)).sum().backward()
    optim.step()
    hub = MessageHub.get_instance("hoofenv-verify")
    for i in range(3):
        hub.update_scalar("train/loss", 0.5 / (i + 1))
    hub.update_info("iter", 3)
    return {"meta": {"epoch": 1, "iter": 3, "seed": np.int64(0), "experiment_name": "verify", "mmengine_version": "x",
                     "dataset_meta": {"flip_indices": np.array([1, 0])}},
            "state_dict": weights_to_cpu(model.state_dict()), "message_hub": hub.state_dict(),
            "optimizer": optim.state_dict(), "param_schedulers": []}


def check_checkpoint_roundtrip():
    """hoofenv's checkpoint policy under the installed torch: a Runner checkpoint saved the way hoofenv saves it
    (HistoryBuffer as data, sha256 recorded) holds no callable-reaching global and resumes through mmengine's own
    load; the same file copied elsewhere (not recorded) is refused, as torch's defaults refuse it."""
    import shutil
    import tempfile

    import torch
    from mmengine.logging import MessageHub
    from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint

    from . import checkpoint as ck

    if not hasattr(torch.serialization, "safe_globals"):
        return ok(f"torch {torch.__version__} has no safe_globals context: checkpoints load with this torch's "
                  "default (weights_only=False), as before hoofenv's policy (docs/train.md)")
    ck.data_only_history_buffer()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "work", "epoch_1.pth")
        os.makedirs(os.path.dirname(path))
        save_checkpoint(_runner_like_checkpoint(), path)
        ck.record(path)
        callables = sorted(set(ck.discover_globals(path)) & ck.NEVER_ALLOWED)
        if callables:
            return fail(f"a checkpoint saved as hoofenv saves it still holds {callables}", _reinstall_hint())
        plain = "plain torch.load loads it"
        try:
            _load_checkpoint(path, map_location="cpu")  # the call Runner.resume makes (mmengine 0.10.7)
        except Exception as exc:  # noqa: BLE001
            if "Weights only" not in str(exc):
                return fail(f"loading a Runner checkpoint failed: {_last_line(exc)}", _reinstall_hint())
            plain = f"plain torch.load refuses it under torch {torch.__version__} (weights_only=True)"
        foreign = os.path.join(tmp, "elsewhere.pth")
        shutil.copy(path, foreign)
        try:
            with ck.policy():
                resumed = _load_checkpoint(path, map_location="cpu")
                try:
                    _load_checkpoint(foreign, map_location="cpu")
                    return fail("a copy outside the work dir (sha256 not recorded there) loaded with HistoryBuffer "
                                "allowed", "report this: hoofenv/inenv/checkpoint.py keys trust on the manifest")
                except ck.Refused:
                    pass
        except (ck.Refused, ck.NotACheckpoint) as exc:
            return fail(f"{plain}, and hoofenv's policy refused it too: {exc}",
                        "report this: the data-only allow-list in hoofenv/inenv/checkpoint.py misses a type")
        hub2 = MessageHub.get_instance("hoofenv-verify-2")
        hub2.load_state_dict(resumed["message_hub"])
        got = hub2.get_scalar("train/loss").current()
        if abs(got - 0.5 / 3) > 1e-9 or "0.weight" not in resumed["state_dict"]:
            return fail(f"{plain}; the policy loaded it, but the message hub came back as {got}", _reinstall_hint())
    return ok(f"{plain}; hoofenv's policy (weights_only=True + numpy data types + HistoryBuffer for files it recorded, "
              "no callables) resumes model, optimizer and message hub, and refuses the same file from elsewhere")




def main(argv: list[str]) -> int:
    global ARGS, PLAN
    with open(argv[0], encoding="utf-8") as fh:
        ARGS = json.load(fh)
    PLAN = ARGS.get("plan") or {}
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the stack prints goes to stderr
    sys.stdout = sys.stderr
    fault_id, _, fault_kind = (ARGS.get("fault") or "").partition(":")
    for check_id in ARGS["checks"]:
        protocol.emit("start", channel, id=check_id)
        t0 = time.perf_counter()
        if check_id == fault_id:  # test hook: prove that a crash or a hang cannot take the report down
            if fault_kind == "crash":
                import signal

                os.kill(os.getpid(), signal.SIGSEGV)
            time.sleep(10_000)
        try:
            result = globals()[protocol.BY_ID[check_id].function]()
        except Result as res:
            result = res
        except BaseException as exc:  # noqa: BLE001 - a check must not end the probe
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            result = fail(f"the check raised {tb}", _reinstall_hint())
        protocol.emit("done", channel, id=check_id, status=result.status, detail=result.detail, hint=result.hint,
                      own=result.own, seconds=round(time.perf_counter() - t0, 3))
    return protocol.EXIT_OK
