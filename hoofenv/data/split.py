"""`data split`: train/val by image, reproducible from the seed, with groups (horse, video) kept whole.

Groups are ordered by sha256(seed:group) rather than by `random`: the order depends on nothing but the seed and
the group's name -- not on the order of the file, the Python version or the platform.

The two parts are one unit (`files.write_set`): both are written to temp files, whatever they replace is backed
up, a manifest `<train stem>.split.json` naming the pair, their sha256 and the source's is written, and only then
are both renamed into place. `data check` and `train` compare the pair with the manifest, so a split killed half
way (a new train beside an old val) is refused with the command that finishes it, never trained on.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from hoofenv.errors import HoofenvError
from hoofenv.data.coco import dump, load_export
from hoofenv.files import check_set, output_problem, read_set, same_file, sha256_file, write_set

MANIFEST_SUFFIX = ".split.json"
KIND = "hoofenv data split"


@dataclass
class Part:
    name: str
    path: str
    images: int
    annotations: int
    groups: int


@dataclass
class SplitReport:
    seed: int
    val_fraction: float
    group_by: str | None
    train: Part
    val: Part
    manifest: str = ""
    source_sha256: str = ""
    backups: list[str] = field(default_factory=list)


def group_key(img: dict, group_by: str | None) -> str:
    name = str(img.get("file_name", ""))
    if not group_by:
        return f"image:{img.get('id')}"
    if group_by == "dir":
        return str(PurePosixPath(name.replace("\\", "/")).parent)
    if group_by.startswith("re:"):
        m = re.search(group_by[3:], name)
        if not m:
            raise HoofenvError(f"--group-by {group_by!r} does not match file name {name!r}",
                               hint="use a regex with one group that matches every file name, e.g. 're:^([^_]+)_'",
                               code="usage", exit_code=2)
        return m.group(1) if m.groups() else m.group(0)
    value = img.get(group_by)
    if value is None:
        value = (img.get("attributes") or {}).get(group_by) if isinstance(img.get("attributes"), dict) else None
    if value is None:
        raise HoofenvError(f"image {img.get('id')} ({name}) has no field {group_by!r} to group by",
                           hint="hoofenv data split ANN --group-by dir  (the file name's folder, e.g. one per video)",
                           code="usage", exit_code=2)
    return value if isinstance(value, str) else repr(value)


def split(data: dict, val: float, seed: int, group_by: str | None = None) -> tuple[dict, dict, dict]:
    """Return (train, val, groups); whole groups go to val in hash order until it holds >= val x images."""
    try:
        re.compile(group_by[3:]) if group_by and group_by.startswith("re:") else None
    except re.error as exc:
        raise HoofenvError(f"--group-by {group_by!r} is not a valid regex", causes=[str(exc)], code="usage",
                           exit_code=2) from None
    groups: dict[str, list[dict]] = {}
    for img in data["images"]:
        groups.setdefault(group_key(img, group_by), []).append(img)
    order = sorted(groups, key=lambda g: hashlib.sha256(f"{seed}:{g}".encode("utf-8", "surrogatepass")).hexdigest())
    target = val * len(data["images"])
    val_groups: set[str] = set()
    taken = 0
    for g in order:
        if taken >= target or len(val_groups) == len(groups) - 1:
            break
        val_groups.add(g)
        taken += len(groups[g])
    if not val_groups:
        raise HoofenvError(
            f"cannot split {len(groups)} group(s) without putting a group in both parts",
            causes=[f"--group-by {group_by}: every image is in {next(iter(groups))!r}"] if group_by else [],
            hint="group by something finer (e.g. --group-by dir when each video has its own folder), or drop "
                 "--group-by",
            code="usage", exit_code=2)
    val_ids = {img["id"] for g in val_groups for img in groups[g]}
    parts = []
    for in_val in (False, True):
        part = {k: v for k, v in data.items() if k not in ("images", "annotations")}
        part["images"] = [i for i in data["images"] if (i["id"] in val_ids) == in_val]
        part["annotations"] = [a for a in data["annotations"] if (a["image_id"] in val_ids) == in_val]
        parts.append(part)
    return parts[0], parts[1], {"val": val_groups, "train": set(groups) - val_groups}


def output_names(src: Path, names: str | None) -> tuple[str, str]:
    """The two file names: `<stem>_train.json` and `<stem>_val.json`, or `--names TRAIN.json,VAL.json`."""
    if names is None:
        return f"{src.stem}_train.json", f"{src.stem}_val.json"
    pair = [n.strip() for n in names.split(",")]
    bad = len(pair) != 2 or pair[0] == pair[1] or any(
        not n.endswith(".json") or n.endswith(MANIFEST_SUFFIX) or "/" in n or "\\" in n or n in (".json",)
        for n in pair)
    if bad:
        raise HoofenvError(f"--names {names!r}: two different file names ending in .json, comma-separated",
                           hint="--names train.json,val.json", code="usage", exit_code=2)
    return pair[0], pair[1]


def split_file(path: str, val: float, seed: int, group_by: str | None = None,
               output_dir: str | None = None, names: str | None = None) -> SplitReport:
    src = Path(path)
    train_name, val_name = output_names(src, names)
    out = Path(output_dir) if output_dir else src.parent
    problem = output_problem(out, folder=True) or next(
        (p for p in (output_problem(out / n) for n in (train_name, val_name)) if p), None)
    if problem:
        raise HoofenvError(f"-o {out}: {problem}", hint="name a folder for the two parts", code="usage",
                           exit_code=2)
    targets = {"train": out / train_name, "val": out / val_name}
    for target in targets.values():
        if target.exists() and same_file(target, src):
            raise HoofenvError(f"{target} is the export being split: split never overwrites its input",
                               hint=f"hoofenv data split {src} -o {out}/splits", code="usage", exit_code=2)
    data = load_export(src)
    if len(data["images"]) < 2:
        raise HoofenvError(f"{src} has {len(data['images'])} image(s): nothing to split",
                           hint=f"hoofenv data stats {src}", code="usage", exit_code=2)
    train, valid, groups = split(data, val, seed, group_by)
    source_sha = sha256_file(src)
    manifest = out / (Path(train_name).stem + MANIFEST_SUFFIX)
    command = " ".join(shlex.quote(a) for a in (
        "hoofenv", "data", "split", str(src.resolve()), "--val", str(val), "--seed", str(seed),
        *(("--group-by", group_by) if group_by else ()), "-o", str(out.resolve()),
        "--names", f"{train_name},{val_name}"))
    record = {"kind": KIND, "command": command, "seed": seed, "val_fraction": val, "group_by": group_by,
              "source": {"path": str(src.resolve()), "sha256": source_sha},
              "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    backups = write_set({"train": (targets["train"], dump(train, targets["train"])),
                         "val": (targets["val"], dump(valid, targets["val"]))}, manifest, record)
    return SplitReport(
        seed=seed, val_fraction=val, group_by=group_by,
        train=Part("train", str(targets["train"]), len(train["images"]), len(train["annotations"]),
                   len(groups["train"])),
        val=Part("val", str(targets["val"]), len(valid["images"]), len(valid["annotations"]), len(groups["val"])),
        manifest=str(manifest), source_sha256=source_sha, backups=[str(b) for b in backups.values()],
    )


# -- verifying a pair ----------------------------------------------------------------------------------------------

@dataclass
class PairState:
    """What the split manifests beside a file say about it."""

    manifest: Path
    record: dict
    parts: dict[str, str]  # role -> ok / changed / missing

    @property
    def ok(self) -> bool:
        return all(s == "ok" for s in self.parts.values())

    def names(self) -> dict[str, str]:
        return {role: e["path"] for role, e in self.record["files"].items()}


def manifests_naming(path: str | Path) -> list[PairState]:
    """The split manifests in PATH's folder that name PATH as one of their parts, newest first."""
    path = Path(path)
    found = []
    try:
        candidates = sorted(path.parent.glob("*" + MANIFEST_SUFFIX), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return []
    for manifest in candidates:
        record = read_set(manifest)
        if record is None or record.get("kind") != KIND:
            continue
        if path.name in {e["path"] for e in record["files"].values()}:
            found.append(PairState(manifest, record, check_set(manifest, record)))
    return found


def describe(state: PairState) -> list[str]:
    names = state.names()
    return [f"{names[role]}: {'missing' if s == 'missing' else 'changed since'} {state.manifest.name} recorded it"
            for role, s in state.parts.items() if s != "ok"]


def fix_hint(state: PairState) -> str:
    return (f"{state.record.get('command') or 'hoofenv data split ...'}   (re-writes the pair; or, if you edited a "
            f"part on purpose, delete {state.manifest} to train on the files as they are)")


def check_findings(path: str | Path) -> list[tuple[str, str, str]]:
    """(code, detail, hint) for `data check`: a split part whose pair no manifest vouches for, a changed source."""
    states = manifests_naming(path)
    if not states:
        return []
    good = next((s for s in states if s.ok), None)
    if good is None:
        s = states[0]
        return [("split-mismatch", d, fix_hint(s)) for d in describe(s)]
    source = good.record.get("source") or {}
    src = Path(str(source.get("path", "")))
    if source.get("sha256") and src.is_file() and sha256_file(src) != source["sha256"]:
        return [("split-source-changed", f"{src} changed after {good.manifest.name} was written",
                 good.record.get("command") or "hoofenv data split ...")]
    return []


def verify_pair(train: Path, val: Path) -> None:
    """Refuse a train/val pair that a split manifest names but does not vouch for (one part changed or
    replaced, or the two parts from different splits). Files that no manifest names are not judged here."""
    states = manifests_naming(train)
    states += [s for s in manifests_naming(val) if s.manifest not in {t.manifest for t in states}]
    if not states:
        return
    wanted = {train.name, val.name}
    for s in states:
        if s.ok and set(s.names().values()) == wanted and train.parent == val.parent:
            return
    s = states[0]
    causes = describe(s) or [f"{s.manifest.name} pairs {' and '.join(sorted(s.names().values()))}, "
                             f"not {train.name} and {val.name}"]
    raise HoofenvError(
        f"{train} and {val} are not the pair `hoofenv data split` wrote together: val images may also be in train",
        causes=causes + ["an interrupted split, an edit, or files from two different splits"],
        hint=fix_hint(s), code="split-mismatch")


def rerecord(state: PairState, path: Path, by: str) -> None:
    """After hoofenv itself rewrote one part of a consistent pair (`fix --in-place`), record its new content in
    the manifest, so the pair stays vouched for. Interrupted between the two writes, the pair reads as changed."""
    import json

    from hoofenv.files import atomic_write_text

    record = dict(state.record)
    files = {role: dict(e) for role, e in record["files"].items()}
    for entry in files.values():
        if entry["path"] == path.name:
            entry["sha256"], entry["bytes"] = sha256_file(path), path.stat().st_size
    record["files"] = files
    record["edited"] = list(record.get("edited") or []) + [
        {"file": path.name, "by": by, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}]
    atomic_write_text(state.manifest, json.dumps(record, indent=1) + "\n")
