"""`data merge`: the "annotate new images, export, merge, resume" loop without losing or doubling anything.

Image and annotation ids are renumbered from 1; an image that two exports share (same file name, or same content
when the picture folders are given) is kept once. On a shared image the preferred export's annotations are kept
(the later one by default: it is usually the corrected re-export); another export's annotation identical to a
kept one (same category, keypoints, box and iscrowd) is a duplicate, a different one is superseded and reported
as a conflict. Identical annotations within one export on one image are duplicates too. The same file (or the
same bytes) given twice is refused.

Every input annotation gets exactly one fate in a ledger -- kept (its new id), duplicate or superseded -- and the
count proof is taken from that ledger and from the output, not from the buckets that built it: images in = out +
duplicates; annotations in = out + duplicates + superseded; no two output annotations on one image identical.
Nothing is written when the proof fails.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.data.coco import dump, is_int, keypoint_categories, load_export, skeleton_base
from hoofenv.files import atomic_write_text as write_atomic, same_file


@dataclass
class InputCount:
    path: str
    images: int
    annotations: int


@dataclass
class DuplicateImage:
    file_name: str
    reason: str
    source: str
    image_id: int
    kept_source: str
    kept_image_id: int


@dataclass
class Conflict:
    file_name: str
    image_id: int
    kept_source: str
    kept: int
    dropped_source: str
    dropped: int
    dropped_ids: list


@dataclass
class MergeReport:
    output: str
    inputs: list[InputCount] = field(default_factory=list)
    duplicate_images: list[DuplicateImage] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    backup: str | None = None
    duplicate_annotations: list[dict] = field(default_factory=list)  # {source, annotation_id, file_name, same_as}


def _schema_key(path: Path, data: dict) -> tuple:
    cats = keypoint_categories(data)
    if not cats:
        raise HoofenvError(
            f"{path}: no category carries keypoint names, so its schema cannot be compared",
            hint=f"hoofenv data fix {path} --schema hoof-side -o {path.with_suffix('.fixed.json')}",
            code="schema",
        )
    keys = set()
    for c in cats:
        base = skeleton_base(c) or 0
        edges = frozenset(tuple(sorted(i - base for i in e)) for e in c.get("skeleton") or []
                          if isinstance(e, list) and len(e) == 2 and all(is_int(i) for i in e))
        keys.add((tuple(c["keypoints"]), edges))
    if len(keys) > 1:
        raise HoofenvError(f"{path}: several keypoint categories with different keypoints",
                           hint=f"hoofenv data check {path}", code="schema")
    return keys.pop()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _signature(ann: dict, cat_names: dict) -> tuple:
    """What makes two annotations identical: category (by name), keypoints, box, iscrowd."""
    return (cat_names.get(ann.get("category_id")), tuple(ann.get("keypoints") or ()),
            tuple(ann.get("bbox") or ()), ann.get("iscrowd", 0))


def merge(sources: list[tuple[Path, dict]], image_dirs: list[Path] | None = None,
          prefer: str = "last") -> tuple[dict, MergeReport]:
    if len(sources) < 2:
        raise HoofenvError("merge needs two or more exports", hint="hoofenv data merge A.json B.json -o merged.json",
                           code="usage", exit_code=2)
    if image_dirs and len(image_dirs) not in (1, len(sources)):
        raise HoofenvError(f"{len(image_dirs)} --images folders for {len(sources)} exports",
                           hint="give --images once (shared folder) or once per export, in order",
                           code="usage", exit_code=2)
    _same_schema(sources)
    merger = _Merger(sources[0][1])
    for n, (path, data) in enumerate(sources):
        folder = (image_dirs[n] if len(image_dirs) > 1 else image_dirs[0]) if image_dirs else None
        merger.add(n, path, data, folder)
    return merger.result(prefer)


def _same_schema(sources: list[tuple[Path, dict]]) -> None:
    schemas = {str(p): _schema_key(p, d) for p, d in sources}
    first_path = sources[0][0]
    for path, key in schemas.items():
        if key != schemas[str(first_path)]:
            mine, theirs = key[0], schemas[str(first_path)][0]
            raise HoofenvError(
                f"{path} has a different keypoint schema from {first_path}: refusing to merge",
                causes=[f"{first_path}: {list(theirs)}", f"{path}: {list(mine)}"]
                + (["same names, different skeleton edges"] if mine == theirs else []),
                hint="re-export both tasks with the same skeleton in CVAT",
                code="schema",
            )


class _Merger:
    """Exports added one by one (keyed by their position, so the same path twice stays two inputs): categories
    matched by name, images kept once (by name, or content when the folders are given), annotations collected
    per kept image and export; `result` settles each image and proves the counts."""

    def __init__(self, first: dict) -> None:
        self.out = {k: v for k, v in first.items() if k not in ("images", "annotations", "categories")}
        self.cats = [dict(c) for c in first["categories"] if isinstance(c, dict)]
        self.images: list[dict] = []
        self.by_name: dict[str, int] = {}
        self.by_hash: dict[str, int] = {}
        self.owner: dict[int, tuple[str, int]] = {}
        self.hash_of: dict[int, str] = {}
        self.per_image: dict[int, dict[int, list[tuple[int, dict]]]] = {}  # image -> input -> [(position, ann)]
        self.labels: list[str] = []
        self.report = MergeReport(output="")

    def add(self, n: int, path: Path, data: dict, folder: Path | None) -> None:
        src = str(path)
        self.labels.append(src)
        self.report.inputs.append(InputCount(src, len(data["images"]), len(data["annotations"])))
        cat_map = {}
        for c in data["categories"]:
            match = next((o for o in self.cats if o.get("name") == c.get("name")), None)
            if match is None:
                match = dict(c, id=max((o.get("id", 0) for o in self.cats), default=0) + 1)
                self.cats.append(match)
            cat_map[c.get("id")] = match["id"]
        img_map = {img["id"]: self._image(img, src, path, folder) for img in data["images"]}
        orphans = [a.get("id") for a in data["annotations"] if a["image_id"] not in img_map]
        if orphans:
            raise HoofenvError(f"{path}: {len(orphans)} annotations point at images that do not exist",
                               causes=[f"annotation ids {orphans[:10]}"],
                               hint=f"hoofenv data check {path}", code="annotation-missing-image")
        for pos, a in enumerate(data["annotations"]):
            new = dict(a, image_id=img_map[a["image_id"]], category_id=cat_map.get(a["category_id"],
                                                                                   a["category_id"]))
            self.per_image[new["image_id"]].setdefault(n, []).append((pos, new))

    def _image(self, img: dict, src: str, path: Path, folder: Path | None) -> int:
        """The merged id of this export's image: an existing one when it is a duplicate, else a new one."""
        name = img.get("file_name")
        digest = None
        if folder is not None:
            from hoofenv.data.imagefiles import inside

            picture = inside(folder, name)
            if picture is None:
                raise HoofenvError(f"{path}: image {img['id']}: file_name {name!r} leaves the images folder",
                                   hint=f"hoofenv data check {path}", code="unsafe-path")
            if not picture.is_file():
                raise HoofenvError(f"{picture} is missing: cannot compare image content",
                                   hint=f"hoofenv data check {path} --images {folder}", code="image-file-missing")
            digest = _sha256(picture)
        kept = self.by_name.get(name)
        reason = "same file name"
        if kept is not None:
            self._refuse_namesake(kept, name, img, src, digest)
            if digest and self.hash_of.get(kept) == digest:
                reason = "same file name and content"
        if kept is None and digest is not None and digest in self.by_hash:
            kept, reason = self.by_hash[digest], "same content"
        if kept is not None:
            self.report.duplicate_images.append(
                DuplicateImage(str(name), reason, src, img["id"], self.owner[kept][0], self.owner[kept][1]))
            return kept
        kept = len(self.images) + 1
        self.images.append(dict(img, id=kept))
        self.owner[kept] = (src, img["id"])
        self.by_name.setdefault(name, kept)
        if digest:
            self.by_hash.setdefault(digest, kept)
            self.hash_of[kept] = digest
        self.per_image[kept] = {}
        return kept

    def _refuse_namesake(self, kept: int, name, img: dict, src: str, digest: str | None) -> None:
        """Two different pictures under one file name are a conflict, not a duplicate."""
        if digest and self.hash_of.get(kept) and self.hash_of[kept] != digest:
            raise HoofenvError(
                f"two different pictures are both called {name!r}",
                causes=[f"{self.owner[kept][0]} and {src}: same file name, different content"],
                hint="rename one in CVAT (file names keep the task's folders) and re-export", code="conflict")
        o = self.images[kept - 1]
        if digest is None and (o.get("width"), o.get("height")) != (img.get("width"), img.get("height")):
            raise HoofenvError(
                f"two different pictures are both called {name!r}",
                causes=[f"{self.owner[kept][0]}: {o.get('width')}x{o.get('height')}, "
                        f"{src}: {img.get('width')}x{img.get('height')}"],
                hint="pass --images to compare content, or rename one and re-export", code="conflict")

    def result(self, prefer: str) -> tuple[dict, MergeReport]:
        """Each image's annotations from one export, each input annotation's fate in the ledger, ids from 1, and
        the count proof; nothing is returned when it fails."""
        names = {c["id"]: c.get("name") for c in self.cats}
        anns: list[dict] = []
        ledger: dict[tuple[int, int], str | int] = {}  # (input, position) -> new id, "duplicate" or "superseded"
        for iid, by_src in self.per_image.items():
            order = sorted(by_src)
            if not order:
                continue
            winner = order[-1] if prefer == "last" else order[0]
            kept: dict[tuple, int] = {}
            for pos, a in by_src[winner]:
                sig = _signature(a, names)
                if sig in kept:
                    ledger[(winner, pos)] = "duplicate"
                    self._note_duplicate(winner, a, iid, kept[sig])
                    continue
                new_id = len(anns) + 1
                kept[sig] = new_id
                anns.append(dict(a, id=new_id))
                ledger[(winner, pos)] = new_id
            for other in order:
                if other != winner:
                    self._settle_other(iid, other, winner, by_src, kept, names, ledger)
        self.report.counts = self._prove(anns, ledger, names)
        return {**self.out, "categories": self.cats, "images": self.images, "annotations": anns}, self.report

    def _note_duplicate(self, n: int, ann: dict, iid: int, same_as: int) -> None:
        self.report.duplicate_annotations.append({
            "source": self.labels[n], "annotation_id": ann.get("id"),
            "file_name": str(self.images[iid - 1].get("file_name")), "same_as": same_as})

    def _settle_other(self, iid: int, other: int, winner: int, by_src: dict, kept: dict, names: dict,
                      ledger: dict) -> None:
        """Another export's annotations of a kept image: identical to a kept one, or superseded by the winner's."""
        dropped = []
        for pos, a in by_src[other]:
            same_as = kept.get(_signature(a, names))
            if same_as is not None:
                ledger[(other, pos)] = "duplicate"
                self._note_duplicate(other, a, iid, same_as)
            else:
                ledger[(other, pos)] = "superseded"
                dropped.append(a.get("id"))
        if dropped:
            self.report.conflicts.append(Conflict(
                str(self.images[iid - 1].get("file_name")), iid, self.labels[winner], len(by_src[winner]),
                self.labels[other], len(dropped), dropped))

    def _prove(self, anns: list[dict], ledger: dict, names: dict) -> dict:
        fates = list(ledger.values())
        counts = {
            "images_in": sum(i.images for i in self.report.inputs), "images_out": len(self.images),
            "duplicate_images": len(self.report.duplicate_images),
            "annotations_in": sum(i.annotations for i in self.report.inputs), "annotations_out": len(anns),
            "duplicate_annotations": fates.count("duplicate"), "superseded_annotations": fates.count("superseded"),
        }
        kept_ids = sorted(f for f in fates if isinstance(f, int))
        per_input = [sum(1 for (n, _) in ledger if n == k) for k in range(len(self.report.inputs))]
        identical = len(anns) - len({(a["image_id"], _signature(a, names)) for a in anns})
        problems = []
        if counts["images_in"] != counts["images_out"] + counts["duplicate_images"]:
            problems.append("images in != out + duplicates")
        if counts["annotations_in"] != len(ledger) or per_input != [i.annotations for i in self.report.inputs]:
            problems.append("an input annotation has no fate, or two")
        if kept_ids != list(range(1, len(anns) + 1)) or [a["id"] for a in anns] != kept_ids:
            problems.append("the kept annotations and the output differ")
        if counts["annotations_in"] != (counts["annotations_out"] + counts["duplicate_annotations"]
                                        + counts["superseded_annotations"]):
            problems.append("annotations in != out + duplicates + superseded")
        if identical:
            problems.append(f"{identical} output annotations are identical to another on the same image")
        if problems:
            raise HoofenvError("merge could not prove its counts; nothing was written", causes=problems + [
                f"counts: {counts}"], hint="report this with the inputs: it is a hoofenv bug", code="error")
        return counts


def merge_files(paths: list[str], output: str, images: list[str] | None = None, prefer: str = "last") -> MergeReport:
    from hoofenv.files import backup, output_problem, sha256_file

    out = Path(output)
    digests: dict[str, str] = {}
    for p in paths:
        if out.exists() and same_file(p, out):
            raise HoofenvError(f"-o {output} is one of the inputs: merge never overwrites an export",
                               hint="hoofenv data merge A.json B.json -o merged.json", code="usage", exit_code=2)
    problem = output_problem(out)
    if problem:
        raise HoofenvError(f"-o {output}: {problem}", hint="hoofenv data merge A.json B.json -o merged.json",
                           code="usage", exit_code=2)
    for p in paths:
        first = next((q for q in digests if Path(q).exists() and same_file(p, q)), None)
        if first is not None:
            raise HoofenvError(f"{p} is given twice: merging an export with itself would double every annotation",
                               hint="hoofenv data merge A.json B.json -o merged.json  (each export once)",
                               code="same-input", exit_code=2)
        digest = sha256_file(p) if Path(p).is_file() else ""
        twin = next((q for q, d in digests.items() if d and d == digest), None)
        if twin is not None:
            raise HoofenvError(f"{p} has the same content as {twin}: merging adds nothing",
                               hint="leave one of them out", code="same-input", exit_code=2)
        digests[p] = digest
    sources = [(Path(p), load_export(p)) for p in paths]
    data, report = merge(sources, [Path(d) for d in images] if images else None, prefer=prefer)
    text = dump(data, out)
    if out.exists() and out.read_bytes() != text.encode("utf-8"):
        report.backup = str(backup(out))
    write_atomic(out, text)
    report.output = str(output)
    return report
