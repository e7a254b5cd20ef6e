"""CVAT "COCO Keypoints 1.0" exports as CVAT writes them: the zip, or the folder it unzips to.

    annotations/person_keypoints_<subset>.json     subset: `default`, or the task's subsets (train, val, ...)
    images/<subset>/<file_name>                    when "save images" was ticked (older exports: images/<file_name>)

A zip is read where it lies. Its members are listed and judged before a byte is written: no absolute or `..`
names, no links or device files, no encrypted members, and declared sizes and compression ratios within bounds
(a zip bomb is refused from its directory, not discovered on a full disk). Only the annotation files and the
pictures they name are extracted, each to a path hoofenv computes from a checked file_name, never to a member's
own name, and never more bytes than the member declares. The export itself is only read.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from hoofenv.errors import HoofenvError

ANNOTATION = re.compile(r"^person_keypoints_(.+)\.json$")
RESAVE = "export the task again from CVAT as 'COCO Keypoints 1.0' with 'Save images' ticked"
CHUNK = 1 << 20


@dataclass(frozen=True)
class ZipLimits:
    """What a zip may declare before hoofenv extracts anything from it."""

    max_members: int = 1_000_000
    max_total_bytes: int = 1 << 40  # what the pictures and annotations may add up to (the free disk also bounds it)
    max_ratio: float = 200.0  # uncompressed / compressed, for members over ratio_floor bytes
    ratio_floor: int = 1 << 20
    max_json_bytes: int = 4 << 30
    disk_margin: int = 64 << 20


@dataclass
class Subset:
    name: str
    annotation: str  # member name in the zip, or path in the folder


@dataclass
class Export:
    """One export: where it is, how it is stored, its subsets, and a fingerprint of its content."""

    path: Path
    kind: str  # "zip" or "folder"
    root: str  # the export's folder inside the zip ("" or "name/"); "" for a folder
    subsets: list[Subset] = field(default_factory=list)
    fingerprint: str = ""
    size_bytes: int = 0
    members: dict = field(default_factory=dict, repr=False)  # zip: name -> ZipInfo

    @property
    def label(self) -> str:
        return str(self.path)

    def annotation_label(self, subset: Subset) -> str:
        return f"{self.path}:{subset.annotation}" if self.kind == "zip" else subset.annotation


def unsafe_name(name: str) -> str | None:
    """Why a member name or a JSON file_name could write outside its folder, or None."""
    if not name or "\x00" in name:
        return "an empty name or a NUL byte"
    n = name.replace("\\", "/")
    if n.startswith("/") or re.match(r"^[A-Za-z]:", n):
        return "an absolute path"
    if ".." in n.split("/"):
        return "a `..` that leaves the folder"
    return None


def is_zip(path: Path) -> bool:
    return path.is_file() and zipfile.is_zipfile(path)


def is_export(path: str | os.PathLike) -> bool:
    """A CVAT COCO-keypoints zip, or a folder holding annotations/person_keypoints_*.json."""
    p = Path(path).expanduser()
    if is_zip(p):
        return True
    ann = p / "annotations"
    return ann.is_dir() and any(ANNOTATION.match(f.name) for f in ann.iterdir())


def open_export(path: str | os.PathLike, limits: ZipLimits = ZipLimits()) -> Export:
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise HoofenvError(f"{path}: no such file or folder", hint="pass the CVAT export's zip or its folder",
                           code="export-layout")
    if p.is_file():
        if not is_zip(p):
            raise HoofenvError(f"{path} is not a zip file", causes=["CVAT exports a zip; pass it, or its folder"],
                               hint=RESAVE, code="export-layout")
        return _open_zip(p, limits)
    return _open_folder(p)


def _not_an_export(where: str, names: list[str]) -> HoofenvError:
    causes = [f"found: {', '.join(sorted(names)[:8]) or 'nothing'}"]
    hint = RESAVE
    if any(n.startswith("instances_") for n in names):
        causes.append("instances_*.json is CVAT's 'COCO 1.0' (boxes only), not 'COCO Keypoints 1.0'")
    if "train.json" in names and "val.json" in names:
        hint = "that is a hoofenv dataset folder already: hoofenv train --data DIR"
    return HoofenvError(f"{where} holds no annotations/person_keypoints_<subset>.json", causes=causes, hint=hint,
                        code="export-layout")


def _open_folder(p: Path) -> Export:
    ann = p / "annotations"
    names = sorted(f.name for f in ann.iterdir()) if ann.is_dir() else []
    subsets = [Subset(m.group(1), str(ann / n)) for n in names if (m := ANNOTATION.match(n))]
    if not subsets:
        raise _not_an_export(str(p), names or sorted(f.name for f in p.iterdir()))
    h = hashlib.sha256()
    for s in subsets:
        h.update(s.name.encode() + b"\0")
        with open(s.annotation, "rb") as fh:
            for block in iter(lambda: fh.read(CHUNK), b""):
                h.update(block)
    size = 0
    images = p / "images"
    for folder, dirs, files in os.walk(images):
        dirs.sort()
        for f in sorted(files):
            st = os.stat(os.path.join(folder, f))
            size += st.st_size
            h.update(f"{os.path.relpath(os.path.join(folder, f), images)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return Export(p, "folder", "", subsets, h.hexdigest(), size)


def _open_zip(p: Path, limits: ZipLimits) -> Export:
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as exc:
        raise HoofenvError(f"{p} is not a readable zip", causes=[str(exc)], hint=RESAVE, code="zip-invalid") from None
    with zf:
        infos = zf.infolist()
    _judge_members(p, infos, limits)
    members = {i.filename: i for i in infos if not i.is_dir()}
    roots = {}
    for name in members:
        parts = name.split("/")
        if len(parts) >= 2 and parts[-2] == "annotations" and ANNOTATION.match(parts[-1]):
            roots.setdefault("/".join(parts[:-2]) + ("/" if len(parts) > 2 else ""), []).append(parts[-1])
    if not roots:
        raise _not_an_export(str(p), [n.split("/")[-1] for n in members if "/annotations/" in "/" + n])
    if len(roots) > 1:
        raise HoofenvError(f"{p} holds several exports ({', '.join(sorted(r or '(top)' for r in roots))})",
                           hint="zip one export per file, or pass the folders", code="export-layout")
    root, files = next(iter(roots.items()))
    subsets = [Subset(ANNOTATION.match(f).group(1), f"{root}annotations/{f}") for f in sorted(files)]
    h = hashlib.sha256()
    for i in sorted(infos, key=lambda i: i.filename):
        h.update(f"{i.filename}\0{i.CRC}\0{i.file_size}\n".encode())
    return Export(p, "zip", root, subsets, h.hexdigest(), p.stat().st_size, members)


def _judge_members(path: Path, infos: list[zipfile.ZipInfo], limits: ZipLimits) -> None:
    """Refuse the whole zip when one member is hostile: the error names each such member."""
    problems: list[str] = []
    if len(infos) > limits.max_members:
        problems.append(f"{len(infos)} members (at most {limits.max_members})")
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        why = unsafe_name(name)
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if why:
            problems.append(f"{name!r}: {why}")
        elif kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            problems.append(f"{name!r}: a {'symbolic link' if kind == stat.S_IFLNK else 'special file'}")
        elif info.flag_bits & 0x1:
            problems.append(f"{name!r}: encrypted")
        elif name in seen:
            problems.append(f"{name!r}: stored twice")
        elif info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            problems.append(f"{name!r}: expands {ratio:.0f}-fold to {info.file_size} bytes (a zip bomb; at most "
                            f"{limits.max_ratio:.0f}-fold)")
        seen.add(name)
    if problems:
        raise HoofenvError(f"{path}: refusing an unsafe zip; nothing was extracted", causes=problems[:10]
                           + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else []),
                           hint="export the task again from CVAT and pass that zip unchanged", code="zip-unsafe")


def read_annotation(export: Export, subset: Subset, scratch: Path, limits: ZipLimits = ZipLimits()) -> Path:
    """The subset's annotation file on disk: the export's own file, or its copy extracted into scratch."""
    if export.kind == "folder":
        return Path(subset.annotation)
    info = export.members[subset.annotation]
    if info.file_size > limits.max_json_bytes:
        raise HoofenvError(f"{export.annotation_label(subset)} declares {info.file_size} bytes "
                           f"(at most {limits.max_json_bytes})", code="zip-unsafe",
                           hint="export the task again from CVAT and pass that zip unchanged")
    target = scratch / "annotations" / f"{subset.name}.json"
    with zipfile.ZipFile(export.path) as zf:
        _extract(zf, info, target, export)
    return target


def image_member(export: Export, subset: str, file_name: str):
    """Where the picture lies: images/<subset>/<file_name>, else images/<file_name> (older exports); None if absent.
    A ZipInfo for a zip, a Path for a folder."""
    for rel in (f"images/{subset}/{file_name}", f"images/{file_name}"):
        if export.kind == "zip":
            info = export.members.get(export.root + rel)
            if info is not None:
                return info
        else:
            path = export.path / rel
            if path.is_file():
                return path
    return None


def has_images(export: Export) -> bool:
    if export.kind == "zip":
        return any(n.startswith(export.root + "images/") for n in export.members)
    return (export.path / "images").is_dir()


def check_room(target: Path, needed: int, what: str, limits: ZipLimits = ZipLimits()) -> None:
    """Refuse before extracting when the declared bytes exceed the limit or the free disk."""
    if needed > limits.max_total_bytes:
        raise HoofenvError(f"{what} declares {needed} bytes of pictures and annotations "
                           f"(at most {limits.max_total_bytes}): refusing to extract", code="zip-unsafe",
                           hint="export the task again from CVAT and pass that zip unchanged")
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed + limits.disk_margin > free:
        raise HoofenvError(f"{what} needs {needed / 2**20:.0f} MiB under {target}, {free / 2**20:.0f} MiB are free",
                           hint=f"free space (`df -h {probe}`), or write the prepared dataset elsewhere",
                           code="disk-full")


def copy_picture(export: Export, source, target: Path, zf: zipfile.ZipFile | None = None) -> int:
    """One picture to TARGET (a path hoofenv computed); returns the bytes written."""
    if export.kind == "zip":
        return _extract(zf, source, target, export)
    _folder(target.parent)
    shutil.copyfile(source, target)
    return target.stat().st_size


_MADE: set = set()


def _folder(path: Path) -> None:
    """mkdir -p, once per folder per process (10,000 pictures in 40 folders: 40 calls, not 10,000)."""
    if path not in _MADE or not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        _MADE.add(path)


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, export: Export) -> int:
    """Stream one member to TARGET, never more than its declared size; a CRC or size error names the member."""
    _folder(target.parent)
    written = 0
    try:
        with zf.open(info) as src, open(target, "wb") as dst:
            while True:
                block = src.read(CHUNK)
                if not block:
                    break
                written += len(block)
                if written > info.file_size:
                    raise zipfile.BadZipFile(f"more data than the declared {info.file_size} bytes")
                dst.write(block)
    except OSError:
        target.unlink(missing_ok=True)
        raise  # the disk, not the zip: the CLI names the path
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        target.unlink(missing_ok=True)
        raise HoofenvError(f"{export.path}: member {info.filename!r} is damaged", causes=[str(exc)],
                           hint="download or export the zip again", code="zip-invalid") from None
    return written


def subset_folder_name(name: str) -> str:
    """The subset as one safe folder name (CVAT allows spaces and slashes in subset names)."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "subset"
    return clean


def posix_name(file_name: str) -> str:
    return str(PurePosixPath(file_name.replace("\\", "/")))
