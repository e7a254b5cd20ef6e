"""The in-env half of `hoofenv config check` (and of `hoofenv train --config` with a full MMPose config):

    ENV_PYTHON hoofenv/inenv/launch.py config ARGS.json

ARGS.json: {"jobs": [{"config": PATH, "data": DIR|null, "overrides": {dotted.key: value}, "absolute": bool,
"render_to": PATH|null}], "registry_cache": PATH|null}. Each job's config is loaded with MMEngine's `Config`
(so `_base_` chains and `read_base()` work as in training), `data` is substituted into every loader and evaluator,
the overrides merged, and with `absolute` every relative path made absolute against the working directory (what
MMEngine would resolve it against). One `config-facts` event per job reports what hoofenv's side judges
(hoofenv/verify/config_check.py): the config as a dict, each dataset's metainfo as MMPose would load it, every
`type=` and whether the registries resolve it, the custom_imports, the checkpoints named. With `render_to` the
config is dumped there (the rendered copy `hoofenv train` runs).

Speed: loading a config imports mmengine.config only. Resolving types needs MMPose's registries, whose import pulls
in torch, mmcv and mmdet (10-20 s here); the first run in an env therefore records every resolvable key in
`registry_cache` (keyed by the env's packages) and later runs read that file instead. A type the file does not
know, or custom_imports, still import the stack.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import sys
import time

from . import protocol
from .verify_probe import _hidden_import_error, _last_line, _registries_for, collect_types

STACK_PACKAGES = ("mmengine", "mmcv", "mmdet", "mmpose", "torch")
LOADERS = ("train", "val", "test")
SCHEMES = {"open-mmlab://": "openmmlab.json", "openmmlab://": "openmmlab.json", "mmcls://": "mmcls.json",
           "torchvision://": "torchvision_0.12.json"}


def main(argv: list[str]) -> int:
    with open(argv[0], encoding="utf-8") as fh:
        args = json.load(fh)
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # what the stack prints goes to stderr; events go to the saved stdout
    sys.stdout = sys.stderr
    for job in args["jobs"]:
        try:
            facts = examine(job, args.get("registry_cache"))
        except Exception as exc:  # noqa: BLE001 - one bad config must not hide the others' facts
            facts = {"config": job.get("config"), "internal_error": _last_line(exc)}
        protocol.emit("config-facts", channel, **facts)
    return protocol.EXIT_OK


def examine(job: dict, registry_cache: str | None) -> dict:
    from mmengine.config import Config

    path = job["config"]
    t0 = time.perf_counter()
    facts: dict = {"config": path, "cwd": os.getcwd(), "env": _env_facts()}
    try:
        cfg = Config.fromfile(path, import_custom_modules=False)
    except BaseException as exc:  # noqa: BLE001 - a config is the user's code: SyntaxError, SystemExit, ...
        facts["load_error"] = _last_line(exc)
        return facts
    if job.get("data"):
        substitute_data(cfg, job["data"])
    if job.get("overrides"):
        facts["overrides"] = apply_overrides(cfg, job["overrides"])
    if job.get("absolute"):
        make_absolute(cfg)
    facts["load_seconds"] = round(time.perf_counter() - t0, 3)
    d = cfg.to_dict()
    facts["cfg"] = jsonable(d)
    facts["metainfo"] = {key: metainfo_facts(ds) for key, ds in datasets(d)}
    facts["custom_imports"] = custom_imports(d, path)
    t1 = time.perf_counter()
    facts["types"], facts["registry_source"] = resolve_types(d, registry_cache, facts["custom_imports"])
    facts["registry_seconds"] = round(time.perf_counter() - t1, 3)
    facts["checkpoints"] = checkpoints(d)
    if job.get("render_to"):
        cfg.dump(job["render_to"])
        facts["rendered"] = job["render_to"]
    return facts


# ----------------------------------------------------------------------------------------- data and paths
def leaf_datasets(ds, key: str):
    """(key, dataset dict) of a loader's dataset, through wrappers (CombinedDataset, RepeatDataset, ...)."""
    if not isinstance(ds, dict):
        return
    if isinstance(ds.get("datasets"), (list, tuple)):
        for i, inner in enumerate(ds["datasets"]):
            yield from leaf_datasets(inner, f"{key}.datasets[{i}]")
    elif isinstance(ds.get("dataset"), dict):
        yield from leaf_datasets(ds["dataset"], f"{key}.dataset")
    else:
        yield key, ds


def datasets(d: dict):
    for split in LOADERS:
        loader = d.get(f"{split}_dataloader")
        if isinstance(loader, dict):
            yield from leaf_datasets(loader.get("dataset"), f"{split}_dataloader.dataset")


def _evaluators(cfg, split: str) -> list:
    ev = cfg.get(f"{split}_evaluator")
    return [m for m in (ev if isinstance(ev, (list, tuple)) else [ev]) if isinstance(m, dict)]


def substitute_data(cfg, root: str) -> None:
    """hoofenv's dataset folder into every loader and evaluator: annotations/{train,val,test}.json + images/."""
    root = os.path.abspath(root)
    test = "test.json" if os.path.isfile(os.path.join(root, "annotations", "test.json")) else "val.json"
    ann = {"train": "annotations/train.json", "val": "annotations/val.json", "test": f"annotations/{test}"}
    for split in LOADERS:
        loader = cfg.get(f"{split}_dataloader")
        if not isinstance(loader, dict):
            continue
        for _, ds in leaf_datasets(loader.get("dataset"), ""):
            ds["data_root"] = root + "/"
            ds["ann_file"] = ann[split]
            ds["data_prefix"] = dict(ds.get("data_prefix") or {}, img="images/")
        for metric in _evaluators(cfg, split):
            if "ann_file" in metric:
                metric["ann_file"] = os.path.join(root, ann[split])


def apply_overrides(cfg, overrides: dict) -> dict:
    """hoofenv train's flags as dotted keys, merged where the config has the parent (a config without a test
    loader does not get one); returns what was applied and what was skipped."""
    applied, skipped = {}, []
    for key, value in overrides.items():
        parts = key.split(".")[:-1]
        parent = cfg.get(parts[0]) if parts else cfg
        for part in parts[1:]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) or parent is cfg:
            applied[key] = value
        else:
            skipped.append(key)
    cfg.merge_from_dict(applied)
    return {"applied": applied, "skipped": skipped}


def _is_url(value) -> bool:
    return isinstance(value, str) and "://" in value


def _absolute(value):
    if not isinstance(value, str) or not value or _is_url(value) or os.path.isabs(value):
        return value
    return os.path.abspath(value) + ("/" if value.endswith("/") else "")


def make_absolute(cfg) -> None:
    """Every path MMEngine would resolve against the working directory, resolved now (the rendered copy runs from
    anywhere)."""
    for split in LOADERS:
        loader = cfg.get(f"{split}_dataloader")
        for _, ds in leaf_datasets(loader.get("dataset") if isinstance(loader, dict) else None, ""):
            if ds.get("data_root"):
                ds["data_root"] = _absolute(ds["data_root"])
            else:
                if ds.get("ann_file"):
                    ds["ann_file"] = _absolute(ds["ann_file"])
                prefix = ds.get("data_prefix")
                if isinstance(prefix, dict):
                    for k, v in prefix.items():
                        prefix[k] = _absolute(v) if v else v
            meta = ds.get("metainfo")
            if isinstance(meta, dict) and isinstance(meta.get("from_file"), str) and os.path.isfile(meta["from_file"]):
                meta["from_file"] = os.path.abspath(meta["from_file"])
        for metric in _evaluators(cfg, split):
            if isinstance(metric.get("ann_file"), str):
                metric["ann_file"] = _absolute(metric["ann_file"])
    if isinstance(cfg.get("load_from"), str):
        cfg["load_from"] = _absolute(cfg["load_from"])
    for _, node in walk_dicts(cfg):
        if str(node.get("type", "")).endswith("Pretrained") and isinstance(node.get("checkpoint"), str):
            if os.path.exists(node["checkpoint"]):
                node["checkpoint"] = os.path.abspath(node["checkpoint"])


def walk_dicts(node, path: str = ""):
    if isinstance(node, dict):
        yield path or "<root>", node
        for k, v in node.items():
            yield from walk_dicts(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from walk_dicts(v, f"{path}[{i}]")


def jsonable(value):
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return f"<{type(value).__name__}: {value!r}>"[:300]


# ----------------------------------------------------------------------------------------------- metainfo
def _package_dir(name: str) -> str | None:
    """A package's folder without importing it (find_spec of a top-level name runs none of its code)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return locations[0] if locations else None


def _torch_hub_dir() -> str:
    """torch.hub.get_dir() without importing torch: $TORCH_HOME/hub, else $XDG_CACHE_HOME/torch/hub."""
    if os.environ.get("TORCH_HOME"):
        return os.path.join(os.path.expanduser(os.environ["TORCH_HOME"]), "hub")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "torch", "hub")


def _env_facts() -> dict:
    return {"python": sys.executable, "mmpose_dir": _package_dir("mmpose"), "mmengine_dir": _package_dir("mmengine"),
            "torch_hub_dir": _torch_hub_dir()}


_CLASS_INDEX: dict = {}
_SOURCES: dict = {}


def class_metainfo(type_name: str) -> tuple[bool, str | None]:
    """(whether MMPose defines the dataset class, the from_file of its METAINFO), read from mmpose/datasets'
    source with ast (importing the class would import torch); only the files that define the classes are parsed."""
    name = type_name.rsplit(".", 1)[-1]
    seen = set()
    while name and name not in seen:
        seen.add(name)
        if name not in _CLASS_INDEX:
            _index_class(name)
        if _CLASS_INDEX.get(name) is None:
            return len(seen) > 1, None
        bases, from_file, has = _CLASS_INDEX[name]
        if has:
            return True, from_file
        name = next((b for b in bases if b), None)
    return False, None


def _index_class(name: str) -> None:
    if not _SOURCES:
        root = os.path.join(_package_dir("mmpose") or "", "datasets")
        for folder, _, files in os.walk(root):
            for f in (f for f in files if f.endswith(".py")):
                try:
                    with open(os.path.join(folder, f), encoding="utf-8") as fh:
                        _SOURCES[os.path.join(folder, f)] = fh.read()
                except OSError:
                    pass
    _CLASS_INDEX[name] = None
    for text in (t for t in _SOURCES.values() if f"class {name}(" in t):
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == name:
                _CLASS_INDEX[name] = _class_entry(node)
                return


def _class_entry(node: ast.ClassDef) -> tuple[list[str], str | None, bool]:
    bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
    has, from_file = False, None
    for stmt in node.body:
        targets = (stmt.targets if isinstance(stmt, ast.Assign)
                   else [stmt.target] if isinstance(stmt, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == "METAINFO" for t in targets) and isinstance(stmt.value, ast.Call):
            has = True
            for kw in stmt.value.keywords:
                if kw.arg == "from_file" and isinstance(kw.value, ast.Constant):
                    from_file = kw.value.value
    return bases, from_file, has


_DATASET_INFO: dict = {}


def _dataset_info(path: str):
    from mmengine.config import Config

    if path not in _DATASET_INFO:
        _DATASET_INFO[path] = Config.fromfile(path).to_dict().get("dataset_info")
    return _DATASET_INFO[path]


def _resolve_metainfo_file(from_file: str) -> tuple[str | None, bool]:
    """Where MMPose's parse_pose_metainfo finds the file: as given (cwd), else by its base name in mmpose's
    packaged configs/_base_/datasets."""
    if os.path.isfile(from_file):
        return from_file, False
    packaged = os.path.join(_package_dir("mmpose") or "", ".mim", "configs", "_base_", "datasets",
                            os.path.basename(from_file))
    return (packaged, True) if os.path.isfile(packaged) else (None, False)


def metainfo_facts(ds: dict) -> dict:
    """The keypoints a dataset will have: from its metainfo, or its class's built-in METAINFO when it has none."""
    meta = ds.get("metainfo")
    type_name = str(ds.get("type", ""))
    out: dict = {"explicit": meta is not None, "type": type_name.rsplit(".", 1)[-1]}
    if meta is None:
        known, from_file = class_metainfo(type_name)
        out["class_known"] = known
        if not from_file:
            return out
        meta = {"from_file": from_file}
    if not isinstance(meta, dict):
        out["error"] = f"metainfo is a {type(meta).__name__}, not a dict"
        return out
    info = meta
    if "from_file" in meta:
        out["from_file"] = meta["from_file"]
        resolved, fallback = _resolve_metainfo_file(str(meta["from_file"]))
        out.update(resolved=resolved, fallback=fallback)
        if resolved is None:
            out["missing"] = True
            return out
        try:
            info = _dataset_info(resolved)
        except BaseException as exc:  # noqa: BLE001
            out["error"] = _last_line(exc)
            return out
        if not isinstance(info, dict):
            out["error"] = f"{resolved} defines no dataset_info dict"
            return out
    kpi = info.get("keypoint_info") if isinstance(info.get("keypoint_info"), dict) else {}
    points = [kpi[k] for k in sorted(kpi, key=lambda k: (not isinstance(k, int), k)) if isinstance(kpi[k], dict)]
    out.update(num_keypoints=len(points), names=[str(p.get("name")) for p in points],
               swaps={str(p.get("name")): str(p.get("swap") or "") for p in points},
               upper=sum(1 for p in points if p.get("type") == "upper"),
               lower=sum(1 for p in points if p.get("type") == "lower"),
               sigmas=len(info["sigmas"]) if isinstance(info.get("sigmas"), (list, tuple)) else None,
               dataset_name=info.get("dataset_name"))
    return out


# ----------------------------------------------------------------------------------- imports and types
def custom_imports(d: dict, config_path: str) -> list[dict]:
    """Each custom_imports module, imported as the Runner will: the working directory is not on sys.path."""
    ci = d.get("custom_imports")
    if not isinstance(ci, dict):
        return []
    mods = ci.get("imports")
    mods = [mods] if isinstance(mods, str) else list(mods or [])
    out = []
    for i, module in enumerate(mods):
        entry = {"key": f"custom_imports.imports[{i}]", "module": str(module), "ok": True}
        try:
            importlib.import_module(str(module))
        except BaseException as exc:  # noqa: BLE001 - the module is the user's code
            entry.update(ok=False, error=_last_line(exc), only_from=_found_in(str(module), config_path))
        out.append(entry)
    return out


def _found_in(module: str, config_path: str) -> str | None:
    """A folder from which the module would import (the cwd, the config's folder or one above it), if any."""
    first = module.split(".")[0]
    folders = [os.getcwd()]
    here = os.path.dirname(os.path.abspath(config_path))
    for _ in range(6):
        folders.append(here)
        here = os.path.dirname(here)
    for folder in folders:
        if os.path.isdir(os.path.join(folder, first)) or os.path.isfile(os.path.join(folder, first + ".py")):
            return folder
    return None


def type_key(type_name: str, scope: str | None) -> str:
    """The registry key for a `type=` under its `_scope_`, as verify's registry.types check forms it."""
    return type_name if "." in type_name or not scope or scope == "mmpose" else f"{scope}.{type_name}"


def env_key() -> str:
    """The env as far as registries go: its interpreter, and each stack package's folder, install time and
    dist-info name (which carries the version). No importlib.metadata: it costs more than the rest of a check."""
    parts = [os.path.realpath(sys.executable)]
    listings: dict = {}
    for name in STACK_PACKAGES:
        where = _package_dir(name)
        if not where:
            parts.append(f"{name}=-")
            continue
        parent = os.path.dirname(where)
        if parent not in listings:
            try:
                listings[parent] = os.listdir(parent)
            except OSError:
                listings[parent] = []
        dists = sorted(n for n in listings[parent] if n.startswith(f"{name}-") and n.endswith(".dist-info"))
        try:
            stamp = os.stat(where).st_mtime_ns
        except OSError:
            stamp = 0
        parts.append(f"{name}@{where}:{stamp}:{','.join(dists)}")
    return "|".join(parts)


def _read_index(cache: str | None, key: str) -> set | None:
    if not cache:
        return None
    try:
        with open(cache, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return set(data.get("keys", [])) if isinstance(data, dict) and data.get("env") == key else None


def resolve_types(d: dict, cache: str | None, customs: list[dict]) -> tuple[list[dict], str]:
    """Each type's resolution: from the cached index where it knows the key, else by importing the registries."""
    types = [(p, t, s) for p, t, s in collect_types(d)]
    key = env_key() if cache else ""
    index = _read_index(cache, key)
    known = [(p, t, s) for p, t, s in types if index is not None and type_key(t, s) in index]
    rest = [x for x in types if x not in known]
    results = {(p, t, s): {"path": p, "type": t, "key": type_key(t, s), "ok": True} for p, t, s in known}
    if not rest:
        return [results[x] for x in types], "cache"
    live, registries = _resolve_live(rest)
    results.update(zip(rest, live))
    if cache:
        _write_index(cache, key, registries, {c["module"].split(".")[0] for c in customs})
    return [results[x] for x in types], "import"


def _resolve_live(types: list) -> tuple[list[dict], list]:
    import warnings

    from mmengine.registry import init_default_scope

    warnings.simplefilter("ignore")
    import mmpose.registry as R

    init_default_scope("mmpose")
    every = [n for n in dir(R) if n.isupper() and hasattr(getattr(R, n), "get")]
    results = []
    for path, type_name, scope in types:
        key = type_key(type_name, scope)
        names = _registries_for(path) or every
        found, why = False, None
        for name in names + [n for n in every if n not in names]:
            try:
                if getattr(R, name).get(key) is not None:
                    found = True
                    break
            except Exception as exc:  # noqa: BLE001 - a registry's lazy import may fail
                if "Failed to get" not in str(exc):
                    why = why or _last_line(exc)
        if not found and names:
            why = why or _hidden_import_error(getattr(R, names[0]), key.split(".")[0] if "." in key else "mmpose")
        results.append({"path": path, "type": type_name, "key": key, "ok": found,
                        "registry": names[0].lower() if names else "?", "why": why})
    return results, [getattr(R, n) for n in every]


def _names_up(reg) -> set:
    names: set = set()
    while reg is not None:
        names |= set(reg.module_dict)
        reg = reg.parent
    return names


def _write_index(cache: str, key: str, registries: list, custom_roots: set) -> None:
    """Every key the mmpose registries resolve to a class of the stack (not of custom_imports), for later runs."""
    keys: set = set()
    for reg in registries:
        try:
            reg.import_from_location()
        except Exception:  # noqa: BLE001
            pass
        candidates = _names_up(reg)
        for scope, child in reg._get_root_registry()._children.items():
            try:
                child.import_from_location()
            except Exception:  # noqa: BLE001
                pass
            candidates |= {f"{scope}.{n}" for n in _names_up(child)}  # a scoped key also searches its parents
        for k in candidates - keys:
            try:
                obj = reg.get(k)
            except Exception:  # noqa: BLE001
                continue
            root = (getattr(obj, "__module__", "") or "").split(".")[0]
            if obj is not None and root not in custom_roots:
                keys.add(k)
    os.makedirs(os.path.dirname(os.path.abspath(cache)), exist_ok=True)
    tmp = f"{cache}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"env": key, "keys": sorted(keys)}, fh)
    os.replace(tmp, cache)


# ---------------------------------------------------------------------------------------------- checkpoints
def checkpoints(d: dict) -> list[dict]:
    """Pretrained init_cfg checkpoints and load_from, with open-mmlab:// style names resolved to their URLs."""
    found = []
    for path, node in walk_dicts(d):
        if str(node.get("type", "")).endswith("Pretrained") and isinstance(node.get("checkpoint"), str):
            found.append((f"{path}.checkpoint", node["checkpoint"]))
    if isinstance(d.get("load_from"), str) and d["load_from"]:
        found.append(("load_from", d["load_from"]))
    return [dict(key=key, value=value, **_resolve_checkpoint(value)) for key, value in found]


def _resolve_checkpoint(value: str) -> dict:
    if value.startswith(("http://", "https://")):
        return {"url": value}
    for prefix, table in SCHEMES.items():
        if value.startswith(prefix):
            name = value[len(prefix):]
            hub = os.path.join(_package_dir("mmengine") or "", "hub")
            try:
                with open(os.path.join(hub, table), encoding="utf-8") as fh:
                    urls = json.load(fh)
                with open(os.path.join(hub, "deprecated.json"), encoding="utf-8") as fh:
                    name = json.load(fh).get(name, name) if table == "openmmlab.json" else name
            except (OSError, ValueError):
                urls = {}
            url = urls.get(name)
            return {"url": url} if url else {"unknown": f"{prefix}{name} is not in mmengine's {table}"}
    if "://" in value:
        return {"server": value.split("://")[0]}
    return {"path": value}
