"""The rules of `hoofenv config check`, each a function (config dict, probe facts, job) -> findings.

The config dict is what MMEngine's Config gave the probe (flattened `_base_` chain, as JSON); relative paths are
judged against the folder the probe ran in, which is the folder training would start in.
"""

from __future__ import annotations

import os
import re
import urllib.parse

from hoofenv.verify.config_check import ConfigFinding, finding, same_value

CODEC_FIELDS = ("type", "input_size", "heatmap_size", "sigma", "simcc_split_ratio")
SERVER_BACKENDS = {"WandbVisBackend": "wandb.ai (an account, network)", "ClearMLVisBackend": "a ClearML server",
                   "NeptuneVisBackend": "neptune.ai (an account, network)"}


# ------------------------------------------------------------------------------------------------ helpers
def get_path(cfg, key: str):
    """cfg at a key path such as `train_dataloader.dataset.datasets[0]`; None when absent."""
    node = cfg
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        if part.startswith("["):
            i = int(part[1:-1])
            node = node[i] if isinstance(node, list) and i < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return None
    return node


def _type(node) -> str:
    return str(node.get("type", "")).rsplit(".", 1)[-1] if isinstance(node, dict) else ""


def _url(value) -> bool:
    return isinstance(value, str) and "://" in value


def _here(path: str, facts: dict) -> str:
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(facts.get("cwd") or os.getcwd(), path))


def effective(ds: dict) -> tuple[str, str]:
    """(ann_file, image folder) as MMEngine's BaseDataset joins them with data_root."""
    root = ds.get("data_root") or ""
    ann = ds.get("ann_file") or ""
    prefix = (ds.get("data_prefix") or {}).get("img", "") if isinstance(ds.get("data_prefix"), dict) else ""
    join = (lambda p: p if not root or _url(p) or os.path.isabs(p) else os.path.join(root, p))
    return (join(ann) if ann else ""), (join(prefix or "") if (prefix or root) else "")


def head_of(cfg) -> dict:
    head = get_path(cfg, "model.head")
    return head if isinstance(head, dict) else {}


def pipelines(cfg, facts: dict, splits=("train", "val", "test")):
    """(key, list, split) of every pipeline the loaders and the PipelineSwitchHook use."""
    for key in facts.get("metainfo") or {}:
        split = key.split("_", 1)[0]
        pipe = get_path(cfg, f"{key}.pipeline")
        if split in splits and isinstance(pipe, list):
            yield f"{key}.pipeline", pipe, split
    if "train" in splits:
        for i, hook in enumerate(cfg.get("custom_hooks") or []):
            if _type(hook) == "PipelineSwitchHook" and isinstance(hook.get("switch_pipeline"), list):
                yield f"custom_hooks[{i}].switch_pipeline", hook["switch_pipeline"], "train"


def transforms(cfg, facts: dict, name: str, splits=("train", "val", "test")):
    for key, pipe, split in pipelines(cfg, facts, splits):
        for i, t in enumerate(pipe):
            if _type(t) == name:
                yield f"{key}[{i}]", t, split


def meta_for(facts: dict, split: str) -> dict:
    return next((m for k, m in (facts.get("metainfo") or {}).items() if k.startswith(f"{split}_")), {})


def max_epochs(cfg) -> int | None:
    tc = cfg.get("train_cfg") or {}
    if not isinstance(tc, dict) or tc.get("by_epoch") is False or "Iter" in str(tc.get("type", "")):
        return None
    value = tc.get("max_epochs")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_ANN_CACHE: dict = {}


def annotation_keypoints(path: str) -> int | None:
    """The keypoint count of an annotation file's keypoint categories (None: unreadable, none, or several)."""
    if path not in _ANN_CACHE:
        from hoofenv.data.coco import keypoint_categories, load
        from hoofenv.errors import HoofenvError

        try:
            counts = {len(c["keypoints"]) for c in keypoint_categories(load(path))}
        except (HoofenvError, OSError, ValueError):
            counts = set()
        _ANN_CACHE[path] = counts.pop() if len(counts) == 1 else None
    return _ANN_CACHE[path]


# ------------------------------------------------------------------------------------------------ metainfo
def metainfo_rule(cfg, facts: dict, job) -> list[ConfigFinding]:
    metas = facts.get("metainfo") or {}
    head_k = head_of(cfg).get("out_channels")
    head_k = head_k if isinstance(head_k, int) else None
    explicit = [m for m in metas.values() if m.get("explicit")]
    own = os.path.join(job.data, "metainfo.py") if job.data else None
    suggest = (next((m.get("from_file") for m in explicit if m.get("from_file")), None)
               or (own if own and os.path.isfile(own) else "DIR/metainfo.py"))
    out = []
    for key, m in metas.items():
        ds = get_path(cfg, key) or {}
        ann, _ = effective(ds)
        ann_k = annotation_keypoints(_here(ann, facts)) if ann and not _url(ann) else None
        k = m.get("num_keypoints")
        if not m.get("explicit"):
            out += _missing_metainfo(key, m, k, head_k, ann_k, bool(explicit), suggest)
            continue
        if m.get("missing"):
            out.append(finding("path-missing", f"{key}.metainfo.from_file",
                               f"{_here(str(m.get('from_file')), facts)} does not exist (nor does "
                               f"{os.path.basename(str(m.get('from_file')))} in MMPose's packaged configs)",
                               f"{key}.metainfo = dict(from_file='/absolute/path/metainfo.py')  "
                               "(hoofenv data schema ANN.json -o metainfo.py writes one)"))
            continue
        if m.get("error"):
            out.append(finding("metainfo-invalid", f"{key}.metainfo", f"{m.get('from_file')}: {m['error']}",
                               "the file must define dataset_info = dict(keypoint_info=..., skeleton_info=..., "
                               "joint_weights=..., sigmas=...): hoofenv data schema ANN.json -o metainfo.py"))
            continue
        out += _metainfo_counts(key, m, k, head_k, ann_k, ann)
        ff = m.get("from_file")
        if isinstance(ff, str) and not os.path.isabs(ff) and not m.get("fallback"):
            out.append(finding("relative-path", f"{key}.metainfo.from_file",
                               f"{ff} is relative: found only when training starts in {facts.get('cwd')}",
                               f"{key}.metainfo = dict(from_file='{_here(ff, facts)}')"))
    return out


def _missing_metainfo(key, m, k, head_k, ann_k, others: bool, suggest: str) -> list[ConfigFinding]:
    if k is None:
        if others:
            return [finding("metainfo-missing", f"{key}.metainfo",
                            f"{key} ({m.get('type')}) has no metainfo while other loaders set one",
                            f"{key}.metainfo = dict(from_file='{suggest}')  (train, val and test alike)")]
        return []
    builtin = f"{m.get('type')}'s built-in {os.path.basename(str(m.get('from_file')))} ({k} keypoints)"
    bad = ([f"the head predicts {head_k}"] if head_k and head_k != k else []) + (
        [f"the annotations have {ann_k}"] if ann_k and ann_k != k else [])
    hint = f"{key}.metainfo = dict(from_file='{suggest}')  (train, val and test alike)"
    if head_k and ann_k and head_k != ann_k:
        hint += f", and model.head.out_channels = {ann_k}"
    if bad:
        return [finding("metainfo-missing", f"{key}.metainfo",
                        f"{key} has no metainfo: MMPose falls back to {builtin}, but {' and '.join(bad)}", hint)]
    if others:
        return [finding("metainfo-missing", f"{key}.metainfo",
                        f"{key} has no metainfo and relies on {builtin} while other loaders set their own", hint)]
    return []


def _metainfo_counts(key, m, k, head_k, ann_k, ann) -> list[ConfigFinding]:
    out = []
    if k is None:
        return out
    src = m.get("from_file") or "the inline metainfo"
    if head_k and k != head_k:
        out.append(finding("metainfo-head", f"{key}.metainfo", f"{src} has {k} keypoints, model.head.out_channels "
                           f"is {head_k}", f"model.head.out_channels = {k}  (or the metainfo of your keypoints)"))
    if ann_k and ann_k != k:
        out.append(finding("metainfo-annotations", f"{key}.metainfo",
                           f"{src} has {k} keypoints, the categories of {ann} have {ann_k}",
                           "hoofenv data schema ANN.json -o metainfo.py, then point every loader's metainfo at it"))
    if m.get("sigmas") is not None and m["sigmas"] != k:
        out.append(finding("metainfo-sigmas", f"{key}.metainfo", f"{src} has {m['sigmas']} sigmas for {k} keypoints "
                           "(CocoMetric: operands could not be broadcast)", "one sigma per keypoint in dataset_info"))
    return out


# ------------------------------------------------------------------------------------------------ paths
def paths_rule(cfg, facts: dict, job) -> list[ConfigFinding]:
    out = []
    for key in facts.get("metainfo") or {}:
        ds = get_path(cfg, key) or {}
        out += _dataset_paths(key, ds, facts)
    for split in ("val", "test"):
        ev = cfg.get(f"{split}_evaluator")
        metrics = ev if isinstance(ev, list) else [ev]
        for i, metric in enumerate(metrics):
            ann = metric.get("ann_file") if isinstance(metric, dict) else None
            if isinstance(ann, str) and ann and not _url(ann):
                key = f"{split}_evaluator" + (f"[{i}]" if isinstance(ev, list) else "") + ".ann_file"
                out += _one_path(key, ann, facts, folder=False)
    wd = cfg.get("work_dir")
    if isinstance(wd, str) and wd and not job.training:
        out += _work_dir(wd, facts)
    return out


def _one_path(key: str, path: str, facts: dict, folder: bool) -> list[ConfigFinding]:
    out = []
    full = _here(path, facts)
    if not os.path.isabs(path):
        out.append(finding("relative-path", key, f"{path} is relative: it resolves to {full} only when training "
                           f"starts in {facts.get('cwd')}", f"{key} = '{full}'  (hoofenv train renders it so)"))
    if not (os.path.isdir(full) if folder else os.path.isfile(full)):
        out.append(finding("path-missing", key, f"{full} does not exist"
                           + ("" if os.path.isabs(path) else f" (resolved against {facts.get('cwd')})"),
                           f"set {key} to an existing {'folder' if folder else 'file'}, or check it with "
                           "--data DIR (a hoofenv dataset folder: hoofenv data import)"))
    return out


def _dataset_paths(key: str, ds: dict, facts: dict) -> list[ConfigFinding]:
    root = ds.get("data_root")
    ann, img = effective(ds)
    if isinstance(root, str) and root and not _url(root):
        found = _one_path(f"{key}.data_root", root, facts, folder=True)
        if any(f.code == "path-missing" for f in found):
            return found
        out = found
    else:
        out = []
        if ann and not _url(ann) and not os.path.isabs(ann):
            out += [f for f in _one_path(f"{key}.ann_file", ann, facts, False) if f.code == "relative-path"]
        if img and not _url(img) and not os.path.isabs(img):
            out += [f for f in _one_path(f"{key}.data_prefix.img", img, facts, True) if f.code == "relative-path"]
    if ann and not _url(ann) and not os.path.isfile(_here(ann, facts)):
        out.append(finding("path-missing", f"{key}.ann_file", f"{_here(ann, facts)} does not exist",
                           f"set {key}.ann_file (relative to data_root), or check with --data DIR"))
    if not _url(img) and not os.path.isdir(_here(img or ".", facts)):
        out.append(finding("path-missing", f"{key}.data_prefix.img", f"image folder {_here(img, facts)} does not exist",
                           f"set {key}.data_prefix = dict(img='images/')  (relative to data_root)"))
    return out


def _work_dir(wd: str, facts: dict) -> list[ConfigFinding]:
    out = []
    full = _here(wd, facts)
    if not os.path.isabs(wd):
        out.append(finding("relative-path", "work_dir", f"{wd} is relative: checkpoints land under the folder "
                           "training starts in", f"work_dir = '{full}'  (or let hoofenv train --work-dir set it)"))
    probe = full
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK):
        out.append(finding("path-not-writable", "work_dir", f"{full} cannot be created: {probe} is "
                           + ("not a folder" if not os.path.isdir(probe) else "not writable"),
                           "work_dir = a folder you can write (a path inside a Docker image rarely exists here)"))
    return out


def val_test_rule(cfg, facts: dict, job) -> list[ConfigFinding]:
    keys = list(facts.get("metainfo") or {})
    val = next((k for k in keys if k.startswith("val_")), None)
    test = next((k for k in keys if k.startswith("test_")), None)
    if not val or not test:
        return []
    (va, vi), (ta, ti) = effective(get_path(cfg, val) or {}), effective(get_path(cfg, test) or {})
    if va and va == ta and os.path.normpath(vi or ".") != os.path.normpath(ti or "."):
        return [finding("val-test-images-differ", f"{test}.data_prefix.img",
                        f"val and test both read {va}, val with images from {vi}, test from {ti}",
                        f"{test}.data_prefix = dict(img='{get_path(cfg, val + '.data_prefix.img') or ''}')  "
                        "(or give test its own ann_file)")]
    return []


# ------------------------------------------------------------------------------------------------ codec
def codec_rule(cfg, facts: dict, job) -> list[ConfigFinding]:
    head = head_of(cfg)
    dec = head.get("decoder")
    if not isinstance(dec, dict):
        return []
    out = []
    for f in ("input_size", "simcc_split_ratio"):
        if f in head and f in dec and not same_value(head[f], dec[f]):
            out.append(finding("codec-mismatch", f"model.head.{f}", f"the head's {f} {head[f]} differs from its "
                               f"decoder's {dec[f]}", f"model.head.{f} = codec['{f}']"))
    for key, t, _ in transforms(cfg, facts, "GenerateTarget", ("train",)):
        enc = t.get("encoder")
        if not isinstance(enc, dict):
            continue
        diff = [f"{f} {enc[f]} vs {dec[f]}" for f in CODEC_FIELDS if f in enc and f in dec
                and not same_value(enc[f], dec[f])]
        if diff:
            out.append(finding("codec-mismatch", f"{key}.encoder",
                               "GenerateTarget's encoder differs from model.head.decoder: " + "; ".join(diff)
                               + " (the targets are made one way and decoded another)",
                               "use one codec dict for both: GenerateTarget(encoder=codec) and head decoder=codec"))
    return out


def input_size_rule(cfg, facts: dict, job) -> list[ConfigFinding]:
    head = head_of(cfg)
    dec = head.get("decoder") if isinstance(head.get("decoder"), dict) else {}
    size = dec.get("input_size", head.get("input_size"))
    if size is None:
        return []
    return [finding("input-size-mismatch", f"{key}.input_size", f"TopdownAffine crops to {t['input_size']}, the "
                    f"codec expects {size}", f"{key}.input_size = codec['input_size']")
            for key, t, _ in transforms(cfg, facts, "TopdownAffine")
            if "input_size" in t and not same_value(t["input_size"], size)]


# ------------------------------------------------------------------------------------------------ augmentation
def flip_rule(cfg, facts: dict, job) -> list[ConfigFinding]:
    from hoofenv.data.schema import swap_pairs

    out = []
    flips = [key for key, t, _ in transforms(cfg, facts, "RandomFlip", ("train",))
             if "horizontal" in (t.get("direction", "horizontal") if isinstance(t.get("direction", ""), list)
                                 else [t.get("direction", "horizontal")])]
    places = [(flips[0], meta_for(facts, "train"), "RandomFlip mirrors training pictures")] if flips else []
    if get_path(cfg, "model.test_cfg.flip_test") is True:
        places.append(("model.test_cfg.flip_test", meta_for(facts, "val"), "flip_test averages mirrored predictions"))
    for key, meta, what in places:
        names, declared = meta.get("names") or [], meta.get("swaps") or {}
        missing = sorted(n for n, partner in swap_pairs(names).items() if declared.get(n) != partner)
        if missing:
            out.append(finding("flip-without-swap", key, f"{what}, but {', '.join(missing[:6])} have no swap partner "
                               "in the metainfo: the model learns left as right", "set swap='<partner>' on both "
                               "keypoints in keypoint_info (hoofenv data schema ANN -o metainfo.py writes them)"))
    return out


def half_body_rule(cfg, facts: dict, job) -> list[ConfigFinding]:
    meta = meta_for(facts, "train")
    k = meta.get("num_keypoints")
    out = []
    for key, t, _ in transforms(cfg, facts, "RandomHalfBody", ("train",)):
        total, up, low = (t.get("min_total_keypoints", 9), t.get("min_upper_keypoints", 2),
                          t.get("min_lower_keypoints", 3))
        if k is not None and (k < total or (meta.get("upper", 0) < up and meta.get("lower", 0) < low)):
            out.append(finding("half-body-inert", key, f"RandomHalfBody needs {total} visible keypoints and {up} "
                               f"upper or {low} lower ones; the metainfo has {k} ({meta.get('upper', 0)} upper, "
                               f"{meta.get('lower', 0)} lower): it never fires", f"remove {key}"))
    return out


# ------------------------------------------------------------------------------------------------ schedule
def schedule_rule(cfg, facts: dict, job) -> list[ConfigFinding]:
    epochs = max_epochs(cfg)
    out = []
    switches = [(i, h) for i, h in enumerate(cfg.get("custom_hooks") or []) if _type(h) == "PipelineSwitchHook"]
    for i, hook in switches:
        se = hook.get("switch_epoch")
        if epochs and isinstance(se, (int, float)) and se >= epochs:
            out.append(finding("switch-never", f"custom_hooks[{i}].switch_epoch", f"switch_epoch {se} >= max_epochs "
                               f"{epochs}: the stage-2 pipeline never runs", "switch_epoch = max_epochs - "
                               "stage2_num_epochs (and stage2_num_epochs < max_epochs)"))
    if not switches:
        for name, value in cfg.items():
            if "stage2" in name and isinstance(value, list) and value and all(isinstance(t, dict) for t in value):
                out.append(finding("stage2-unused", name, f"{name} is defined but no PipelineSwitchHook switches to "
                                   "it", "custom_hooks += [dict(type='mmdet.PipelineSwitchHook', switch_epoch=..., "
                                   f"switch_pipeline={name})]  (or delete {name})"))
    scheds = cfg.get("param_scheduler")
    for i, s in enumerate(scheds if isinstance(scheds, list) else [scheds]):
        if not isinstance(s, dict) or s.get("by_epoch", True) is False or not epochs:
            continue
        key = "param_scheduler" + (f"[{i}]" if isinstance(scheds, list) else "")
        if isinstance(s.get("end"), (int, float)) and s["end"] > epochs:
            out.append(finding("scheduler-beyond-max-epochs", f"{key}.end", f"{_type(s)} ends at epoch {s['end']}, "
                               f"training stops at {epochs}: its schedule is cut short", f"{key}.end = max_epochs"))
        elif isinstance(s.get("begin"), (int, float)) and s["begin"] >= epochs:
            out.append(finding("scheduler-beyond-max-epochs", f"{key}.begin", f"{_type(s)} begins at epoch "
                               f"{s['begin']}, after the last epoch {epochs}: it never runs",
                               f"{key}.begin < max_epochs"))
    return out


def best_rule(cfg, facts: dict, job) -> list[ConfigFinding]:
    ck = get_path(cfg, "default_hooks.checkpoint")
    if isinstance(ck, dict) and not ck.get("save_best") and ck.get("max_keep_ckpts") == 1:
        return [finding("best-not-saved", "default_hooks.checkpoint.save_best", "max_keep_ckpts=1 keeps only the "
                        "last checkpoint and save_best is unset: the best epoch's weights are deleted",
                        "default_hooks.checkpoint.save_best = 'coco/AP' (rule='greater'), or max_keep_ckpts > 1")]
    return []


def syncbn_rule(cfg, facts: dict, job) -> list[ConfigFinding]:
    keys = []

    def walk(node, path):
        if isinstance(node, dict):
            if node.get("type") == "SyncBN":
                keys.append(path)
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(cfg.get("model"), "model")
    if not keys:
        return []
    return [finding("syncbn-single-device", keys[0], "SyncBN on a single device: MMEngine's Runner reverts it to "
                    "BatchNorm (nothing to do; with --gpus N it synchronises)", "none needed", details=keys[1:])]


# ------------------------------------------------------------------------------------------------ env
def types_rule(cfg, facts: dict, job) -> list[ConfigFinding]:
    return [finding("type-unresolved", t["path"], f"{t['key']} is in no registry (expected in "
                    f"mmpose::{t.get('registry', '?')})" + (f"; hidden import failure: {t['why']}" if t.get("why") else ""),
                    "check the spelling; a type of another package needs its scope (e.g. 'mmdet.PipelineSwitchHook') "
                    "or the module that registers it in custom_imports")
            for t in facts.get("types") or [] if not t.get("ok")]


def custom_imports_rule(cfg, facts: dict, job) -> list[ConfigFinding]:
    out = []
    for c in facts.get("custom_imports") or []:
        if c.get("ok"):
            continue
        where = c.get("only_from")
        out.append(finding("custom-import-failed", c["key"], f"import {c['module']} fails in the env: {c.get('error')}"
                           + (f"; it imports only from {where} (on sys.path when Python runs there, not when "
                              "training runs)" if where else ""),
                           f"PYTHONPATH={where} hoofenv train ...  (or `pip install -e` it into the env)" if where
                           else "install the package that provides it into the env, or correct the module name"))
    return out


def checkpoint_findings(facts: dict, online: bool) -> list[ConfigFinding]:
    out = []
    hub = (facts.get("env") or {}).get("torch_hub_dir") or ""
    for c in facts.get("checkpoints") or []:
        key, value = c["key"], c["value"]
        if "path" in c:
            out += _one_path(key, c["path"], facts, folder=False)
        elif "unknown" in c:
            out.append(finding("checkpoint-unavailable", key, c["unknown"], f"{key} = a URL or a local file"))
        elif "server" in c:
            out.append(finding("needs-server", key, f"{value} needs a {c['server']} server (not contacted)",
                               f"download it and set {key} to the local file"))
        elif "url" in c:
            out.append(_url_checkpoint(key, c["url"], hub, online))
    return out


def _url_checkpoint(key: str, url: str, hub: str, online: bool) -> ConfigFinding:
    cached = os.path.join(hub, "checkpoints", os.path.basename(urllib.parse.urlparse(url).path))
    if os.path.isfile(cached):
        return finding("checkpoint-cached", key, f"{url} is cached: {cached}", "none needed")
    if not online:
        return finding("checkpoint-not-cached", key, f"{url} is not in torch's hub cache ({cached}): training "
                       "downloads it first, which needs network (not contacted; --online tries it)",
                       f"download it and copy it to {cached}, or set {key} to a local file")
    why = reachable(url)
    if why is None:
        return finding("checkpoint-downloadable", key, f"{url} is not cached but answers: training downloads it to "
                       f"{cached}", "none needed")
    return finding("checkpoint-unavailable", key, f"{url} is not cached ({cached}) and cannot be downloaded: {why}",
                   f"download it elsewhere and copy it to {cached}, or set {key} to a local file (or None)")


def reachable(url: str, timeout: float = 10.0) -> str | None:
    """None when the URL answers a HEAD request, else why not."""
    import urllib.request

    try:
        req = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return None if resp.status < 400 else f"HTTP {resp.status}"
    except Exception as exc:  # noqa: BLE001 - any network failure is the answer
        return f"{type(exc).__name__}: {exc}"


def server_findings(cfg, online: bool) -> list[ConfigFinding]:
    out, covered = [], set()

    def walk(node, path):
        if isinstance(node, dict):
            t = _type(node)
            kwargs = node.get("init_kwargs") if isinstance(node.get("init_kwargs"), dict) else {}
            uri = node.get("tracking_uri") or kwargs.get("host")
            if t in SERVER_BACKENDS or (t == "MLflowVisBackend" and _url(uri)) or node.get("backend") == "petrel":
                what = SERVER_BACKENDS.get(t) or (f"the MLflow server {uri}" if t == "MLflowVisBackend"
                                                  else "a Ceph/petrel storage cluster")
                out.append(_server(path, f"{t or 'backend_args'} needs {what}", uri if _url(uri) else None, online))
                covered.add(path)
                return
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
        elif isinstance(node, str) and node.startswith(("http://", "https://", "s3://")) and not (
                path == "load_from" or path.endswith(".checkpoint")) and not any(path.startswith(c) for c in covered):
            out.append(_server(path, f"{node} is on a server", node, online))

    walk(cfg, "")
    return out


def _server(key: str, what: str, url: str | None, online: bool) -> ConfigFinding:
    state = "not contacted; --online tries it"
    if online and url and url.startswith("http"):
        why = reachable(url)
        state = "it answers" if why is None else f"unreachable: {why}"
    return finding("needs-server", key, f"{what} ({state})",
                   "for offline training remove it (e.g. vis_backends = [dict(type='LocalVisBackend')])")


RULES = [metainfo_rule, paths_rule, val_test_rule, codec_rule, input_size_rule, flip_rule, half_body_rule,
         schedule_rule, best_rule, syncbn_rule, types_rule, custom_imports_rule]
