"""`hoofenv data import` (and `hoofenv train --data EXPORT`): CVAT exports, as exported, to a hoofenv dataset folder.

    OUT/annotations/train.json, val.json (, test.json)   checked, repaired by `data fix`, merged, split
    OUT/images/<subset>/<file_name>                       the pictures the annotations name (file_name is rewritten
                                                          to <subset>/<file_name>, relative to OUT/images)
    OUT/metainfo.py                                       the keypoint schema as MMPose metainfo (for own configs)
    OUT/hoofenv-import.json                               what went in (fingerprints, options), what came out

Steps: open each export (zip or folder) -> read every subset -> `data check` (what was found) -> `data fix` -> check
the JSON again (errors stop here, before a picture is copied) -> extract or copy the named pictures -> `data merge`
the subsets of one name across exports (the later export wins, pictures compared by content) -> check with the
pictures -> train/val from CVAT's own subsets, or a seeded `data split` -> write, then move the finished folder into
place. The exports are only read. OUT is written whole or not at all, and replaced only when an earlier import
wrote it; an unchanged import is recognised by its manifest and not redone.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hoofenv import __version__
from hoofenv.data import cvat_export as cx
from hoofenv.data.check import check
from hoofenv.data.coco import dump, load, require_lists
from hoofenv.data.fix import fix
from hoofenv.errors import HoofenvError, UsageError
from hoofenv.files import atomic_write_text

MANIFEST = "hoofenv-import.json"
WRITTEN_BY = "hoofenv data import"


@dataclass
class ImportOptions:
    val: float = 0.2
    seed: int = 0
    group_by: str | None = None
    schema: str | None = None  # a preset name, for exports whose keypoint names went missing
    limits: cx.ZipLimits = field(default_factory=cx.ZipLimits)

    def key(self) -> dict:
        return {"val": self.val, "seed": self.seed, "group_by": self.group_by, "schema": self.schema}


@dataclass
class ImportReport:
    output: str
    sources: list[dict] = field(default_factory=list)  # path, kind, subsets {name: {images, annotations}}
    found: list[dict] = field(default_factory=list)  # findings before repair: code, severity, count, where
    repaired: list[dict] = field(default_factory=list)  # data fix's changes: code, count, message, where
    merged: list[dict] = field(default_factory=list)  # per subset merged across exports: counts, conflicts
    remaining: list[dict] = field(default_factory=list)  # findings after repair (warnings only, or it stopped)
    split: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    images: dict = field(default_factory=dict)
    reused: bool = False
    seconds: float = 0.0


@dataclass
class _Source:
    """One subset of one export, read: its data (file names already <folder>/<name>) and where each picture is."""

    export: cx.Export
    subset: cx.Subset
    folder: str
    label: str
    data: dict
    original: dict  # prefixed file_name -> the export's own file_name


def import_exports(inputs: list[str], output: str | os.PathLike, options: ImportOptions | None = None,
                   reuse: bool = True, require_unchanged: bool = False) -> ImportReport:
    """Prepare OUT from the exports; returns what was found, repaired and written (or reused). With
    require_unchanged (a resumed run) OUT must be an import of these very exports with these options."""
    options = options or ImportOptions()
    if not 0 < options.val < 1:
        raise UsageError(f"--val {options.val} is not a fraction between 0 and 1", hint="--val 0.2")
    t0 = time.perf_counter()
    out = Path(output).expanduser().resolve()
    exports = _open_all(inputs, options.limits)
    _refuse_overlap(out, exports)
    previous = read_manifest(out)
    _claim(out, previous)
    inputs_key = [{"path": str(e.path), "kind": e.kind, "fingerprint": e.fingerprint} for e in exports]
    report = _previous_report(out, previous, inputs_key, options) if reuse or require_unchanged else None
    if report is not None:
        report.reused, report.seconds = True, round(time.perf_counter() - t0, 3)
        return report
    if require_unchanged:
        raise HoofenvError(f"the exports or the split options differ from those {out} was prepared from",
                           causes=["--resume continues a run exactly, on the data it started with"],
                           hint="train a new run from the last weights: --work-dir NEW --from WORK_DIR/last.pth",
                           code="data-changed")
    staging = out.parent / f".{out.name}.import-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        report = _build(exports, staging, options)
        report.output = str(out)
        report.seconds = round(time.perf_counter() - t0, 3)
        report.files = {k: str(out / Path(v).relative_to(staging)) for k, v in report.files.items()}
        manifest = {"written_by": WRITTEN_BY, "hoofenv": __version__, "inputs": inputs_key,
                    "options": options.key(), "report": asdict(report)}
        atomic_write_text(staging / MANIFEST, json.dumps(manifest, indent=1) + "\n")
        _swap(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def read_manifest(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("written_by") == WRITTEN_BY else None


def _open_all(inputs: list[str], limits: cx.ZipLimits) -> list[cx.Export]:
    if not inputs:
        raise UsageError("name at least one CVAT export (zip or folder)", hint="hoofenv data import EXPORT.zip -o DIR")
    exports = [cx.open_export(p, limits) for p in inputs]
    seen: dict[Path, str] = {}
    for given, e in zip(inputs, exports):
        if e.path in seen:
            raise UsageError(f"{given} is named twice ({seen[e.path]})", hint="name each export once, oldest first")
        seen[e.path] = given
    return exports


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _refuse_overlap(out: Path, exports: list[cx.Export]) -> None:
    """OUT may not lie in a folder export (that would change it) nor hold an export (replacing OUT would drop it)."""
    for e in exports:
        if (e.kind == "folder" and _inside(out, e.path)) or _inside(e.path, out):
            raise UsageError(f"-o {out} and the export {e.path} overlap",
                             causes=["the export is only read, and OUT is replaced as a whole"],
                             hint="write the prepared dataset to a folder of its own, e.g. -o data/hooves")


def _claim(out: Path, previous: dict | None) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise UsageError(f"-o {out} is a file", hint="name a folder for the prepared dataset")
    if previous is None and any(out.iterdir()):
        raise HoofenvError(f"{out} exists and was not written by `{WRITTEN_BY}`",
                           causes=[f"no {MANIFEST} in it: hoofenv does not replace what it did not write"],
                           hint="pass a new folder with -o", code="refused")


def _previous_report(out: Path, previous: dict | None, inputs_key: list,
                     options: ImportOptions) -> ImportReport | None:
    """The earlier import's report when it came from these exports with these options and its files are there."""
    if not previous or previous.get("inputs") != inputs_key or previous.get("options") != options.key():
        return None
    try:
        report = ImportReport(**previous["report"])
    except (TypeError, KeyError):  # a manifest of another hoofenv version: import again
        return None
    files = report.files if isinstance(report.files, dict) else {}
    return report if files and all(Path(p).exists() for p in files.values()) else None


def _swap(staging: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    try:
        os.replace(staging, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ------------------------------------------------------------------------------------------------- the steps
def _build(exports: list[cx.Export], staging: Path, options: ImportOptions) -> ImportReport:
    report = ImportReport(output="")
    sources = _read_sources(exports, staging / ".scratch", options, report)
    schema = _schema(options.schema)
    found, repaired, after = [], [], []
    for src in sources:
        before = check(src.data, src.label, schema=schema)
        found += [(src.label, f) for f in before.findings]
        repaired += [(src.label, c) for c in fix(src.data, schema=schema)]
        if before.errors:  # fix only repairs: a file without errors has none after it either
            after += [(src.label, f) for f in check(src.data, src.label, schema=schema).findings]
    report.found = _tally(found)
    report.repaired = _tally(repaired)
    _stop_on_errors(after, "after `data fix`, before any picture was copied")
    groups = _place_pictures(sources, staging, options, report)
    shutil.rmtree(staging / ".scratch", ignore_errors=True)
    remaining = []
    for folder, data in groups.items():
        remaining += [(folder, f) for f in check(data, folder, images_dir=staging / "images", schema=schema).findings]
    _stop_on_errors(remaining, "with the pictures")
    report.remaining = _tally(remaining)
    parts, report.split = _train_val(groups, options)
    _write(staging, parts, report)
    return report


def _schema(name: str | None):
    if not name:
        return None
    from hoofenv.data.schema import get_preset

    return get_preset(name)


def _read_sources(exports: list[cx.Export], scratch: Path, options: ImportOptions,
                  report: ImportReport) -> list[_Source]:
    sources = []
    for n, export in enumerate(exports):
        summary = {"path": str(export.path), "kind": export.kind, "subsets": {}}
        for subset in export.subsets:
            label = export.annotation_label(subset)
            path = cx.read_annotation(export, subset, scratch / str(n), options.limits)
            data = _load(path, label)
            require_lists(data, label)
            folder = cx.subset_folder_name(subset.name)
            original = _prefix_file_names(data, folder, label)
            sources.append(_Source(export, subset, folder, label, data, original))
            summary["subsets"][subset.name] = {"images": len(data["images"]),
                                               "annotations": len(data["annotations"])}
        report.sources.append(summary)
    return sources


def _load(path: Path, label: str) -> dict:
    """coco.load, with an extracted copy's temporary path replaced by the export's own name in any error."""
    try:
        return load(path)
    except HoofenvError as err:
        if str(path) != label:
            err.message = err.message.replace(str(path), label)
            err.causes = [c.replace(str(path), label) for c in err.causes]
        raise


def _prefix_file_names(data: dict, folder: str, label: str) -> dict:
    """file_name -> <folder>/<file_name>; refuses names that could leave the images folder."""
    original, bad = {}, []
    for img in data["images"]:
        if not isinstance(img, dict) or not isinstance(img.get("file_name"), str):
            continue  # data check reports it
        name = img["file_name"]
        why = cx.unsafe_name(name)
        if why:
            bad.append(f"image {img.get('id')}: {name!r} is {why}")
            continue
        img["file_name"] = f"{folder}/{cx.posix_name(name)}"
        original[img["file_name"]] = name
    if bad:
        raise HoofenvError(f"{label}: {len(bad)} file_name(s) point outside the images folder", causes=bad[:10],
                           hint=cx.RESAVE, code="unsafe-file-name")
    return original


def _tally(items: list[tuple[str, object]]) -> list[dict]:
    """Findings or changes of several files, one entry per code: summed counts and the files they came from."""
    out: dict[str, dict] = {}
    for where, item in items:
        entry = out.setdefault(item.code, {"code": item.code, "severity": getattr(item, "severity", "repair"),
                                           "count": 0, "message": item.message, "hint": getattr(item, "hint", ""),
                                           "where": []})
        entry["count"] += item.count
        if where not in entry["where"]:
            entry["where"].append(where)
        if len(entry["where"]) > 1:
            entry["message"] = _recount(item.message, entry["count"])
    order = {"error": 0, "warning": 1, "repair": 2}
    return sorted(out.values(), key=lambda e: (order.get(e["severity"], 3), e["code"]))


def _recount(message: str, n: int) -> str:
    head, sep, tail = message.partition(" ")
    return f"{n} {tail}" if head.isdigit() and sep else message


def _stop_on_errors(items: list[tuple[str, object]], when: str) -> None:
    errors = [(w, f) for w, f in items if f.severity == "error"]
    if not errors:
        return
    causes = []
    for where, f in errors[:12]:
        ids = f", ids {', '.join(str(i) for i in f.ids[:5])}" if f.ids else ""
        causes.append(f"{where}: {f.code}: {f.message}{ids} -- fix: {_import_hint(f)}")
    raise HoofenvError(f"the export has errors that `data fix` cannot repair ({when}); nothing was written",
                       causes=causes, hint="correct them in CVAT and export again (details: hoofenv data check "
                                           "ANN.json --images DIR on the unzipped export)", code="data-check")


def _import_hint(f) -> str:
    """data check's hint, for an import: its `data fix` already ran, so a remaining error needs CVAT or --schema."""
    if f.code == "no-keypoint-names":
        return ("name the points on CVAT's skeleton label and export again, or pass --schema hoof-side "
                "(or four-hooves) when the skeleton is one of those")
    if f.hint.startswith("hoofenv data"):
        return cx.RESAVE
    return f.hint


# ------------------------------------------------------------------------------------------------- pictures
def _place_pictures(sources: list[_Source], staging: Path, options: ImportOptions,
                    report: ImportReport) -> dict[str, dict]:
    """Pictures into staging/images/<folder>/...; subsets of one folder name merged across exports."""
    by_folder: dict[str, list[_Source]] = {}
    for src in sources:
        by_folder.setdefault(src.folder, []).append(src)
    wanted = {id(src): _locate(src) for src in sources}
    needed = sum(_size(src.export, member) for src in sources for member in wanted[id(src)].values())
    cx.check_room(staging, needed, ", ".join(sorted({str(s.export.path) for s in sources})), options.limits)
    written = {"pictures": 0, "bytes": 0}
    groups: dict[str, dict] = {}
    for folder, group in by_folder.items():
        if len(group) == 1:
            _copy_all(group[0], wanted[id(group[0])], staging / "images", written)
            groups[folder] = group[0].data
            continue
        dirs = []
        for k, src in enumerate(group):
            dirs.append(staging / ".merge" / folder / str(k))
            _copy_all(src, wanted[id(src)], dirs[-1], written)
        groups[folder] = _merge_group(folder, group, dirs, staging / "images", report)
    shutil.rmtree(staging / ".merge", ignore_errors=True)
    kept = sum(1 for d in groups.values() for _ in d["images"])
    merged = any(len(g) > 1 for g in by_folder.values())
    report.images = {"pictures": kept, "bytes": sum(_tree_bytes(staging / "images")) if merged else written["bytes"],
                     "copied_or_extracted": written["pictures"], "unreferenced": _unreferenced(sources, wanted)}
    return groups


def _locate(src: _Source) -> dict:
    """prefixed file_name -> the picture in the export; refuses when some are not in it."""
    found, missing = {}, []
    for prefixed, name in src.original.items():
        member = cx.image_member(src.export, src.subset.name, cx.posix_name(name))
        if member is None:
            missing.append(name)
        else:
            found[prefixed] = member
    if missing:
        what = (f"{len(missing)} pictures named in {src.label} are not in the export" if cx.has_images(src.export)
                else "the export holds no images/ folder")
        raise HoofenvError(
            f"{src.export.path}: {what}",
            causes=[f"looked for images/{src.subset.name}/<file_name> and images/<file_name>: "
                    + ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")],
            hint=cx.RESAVE, code="image-file-missing")
    return found


def _size(export: cx.Export, member) -> int:
    return member.file_size if export.kind == "zip" else member.stat().st_size


def _copy_all(src: _Source, members: dict, root: Path, written: dict) -> None:
    zf = zipfile.ZipFile(src.export.path) if src.export.kind == "zip" else None
    try:
        for prefixed, member in members.items():
            written["bytes"] += cx.copy_picture(src.export, member, root / prefixed, zf)
            written["pictures"] += 1
    finally:
        if zf is not None:
            zf.close()


def _merge_group(folder: str, group: list[_Source], dirs: list[Path], images: Path, report: ImportReport) -> dict:
    """`data merge` of one subset across exports (the later export wins); each kept picture moved into place."""
    from hoofenv.data.merge import merge

    data, merged = merge([(Path(s.label), s.data) for s in group], dirs, prefer="last")
    for img in data["images"]:
        name = img["file_name"]
        source = next(d / name for d in dirs if (d / name).is_file())
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, images / name)
    report.merged.append({"subset": folder, "exports": [s.label for s in group], "counts": merged.counts,
                          "conflicts": len(merged.conflicts)})
    return data


def _tree_bytes(root: Path):
    for folder, _, files in os.walk(root):
        for f in files:
            yield os.stat(os.path.join(folder, f)).st_size


def _unreferenced(sources: list[_Source], wanted: dict) -> int:
    """Pictures in the exports that no annotation file names (not copied)."""
    used: dict[int, set] = {}
    for src in sources:
        used.setdefault(id(src.export), set()).update(
            (m.filename if src.export.kind == "zip" else str(m)) for m in wanted[id(src)].values())
    total = 0
    for export in {id(s.export): s.export for s in sources}.values():
        if export.kind == "zip":
            names = {n for n in export.members if n.startswith(export.root + "images/")}
        else:
            names = {os.path.join(f, n) for f, _, files in os.walk(export.path / "images") for n in files}
        total += len(names - used.get(id(export), set()))
    return total


# ------------------------------------------------------------------------------------------------ split, write
def _train_val(groups: dict[str, dict], options: ImportOptions) -> tuple[dict[str, dict], dict]:
    """CVAT's own train/val subsets when the export has them, else a seeded split of everything."""
    from hoofenv.data.split import split

    lower = {name.lower(): name for name in groups}
    train, val = lower.get("train"), lower.get("val") or lower.get("validation")
    if train and val:
        test = lower.get("test")
        others = sorted(set(groups) - {train, val, test})
        parts = {"train": _combine([groups[train]] + [groups[o] for o in others], [train, *others]),
                 "val": groups[val]}
        if test:
            parts["test"] = groups[test]
        info = {"how": "subsets", "subsets": {"train": [train, *others], "val": [val]}
                | ({"test": [test]} if test else {})}
    else:
        data = _combine(list(groups.values()), list(groups))
        if len(data["images"]) < 2:
            raise HoofenvError(f"the export has {len(data['images'])} annotated picture(s): too few for train and val",
                               hint="annotate more pictures, or give the CVAT task train and val subsets",
                               code="data-check")
        t, v, g = split(data, options.val, options.seed, options.group_by)
        parts = {"train": t, "val": v}
        info = {"how": "split", "seed": options.seed, "val_fraction": options.val, "group_by": options.group_by,
                "groups": {"train": len(g["train"]), "val": len(g["val"])}, "subsets": sorted(groups)}
    info["counts"] = {k: {"images": len(p["images"]), "annotations": len(p["annotations"])} for k, p in parts.items()}
    return parts, info


def _combine(datas: list[dict], names: list[str]) -> dict:
    if len(datas) == 1:
        return datas[0]
    from hoofenv.data.merge import merge

    data, _ = merge([(Path(n), d) for n, d in zip(names, datas)])  # distinct <subset>/ prefixes: nothing de-duplicated
    return data


def _write(staging: Path, parts: dict[str, dict], report: ImportReport) -> None:
    from hoofenv.data.schema import Schema, write_metainfo

    for name, part in parts.items():
        report.files[name] = str(atomic_write_text(staging / "annotations" / f"{name}.json", dump(part)))
    report.files["images"] = str(staging / "images")
    report.files["metainfo"] = str(write_metainfo(Schema.from_coco(parts["train"]), staging / "metainfo.py"))
