"""`data check`: everything MMPose or xtcocotools would crash on, silently drop, or score wrongly.

The file is read one record at a time (hoofenv.data.stream): categories, then images, then each annotation is
checked as it is parsed and dropped, so memory is the text plus the id sets, not the 1.4 GB that `json.load`
builds for an 800,000-annotation export. An export that lists annotations before images (CVAT never does) keeps
them until the images are known. `check(data)` on a dict in memory writes it out and reads it the same way, so
both give the same findings.

The hot path is one function per annotation with the checks inlined; visibility patterns (a tuple of the `v`
values) are classified once per distinct pattern and counted, which also gives the per-keypoint statistics.
"""

from __future__ import annotations

import gc
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.data import checkfast, stream
from hoofenv.data.coco import TOP_LEVEL, not_an_object, parse, read_text, skeleton_base
from hoofenv.data.findings import Finding, make
from hoofenv.data.records import LIMIT, bad_numbers, describe, key, record_problems
from hoofenv.data.stats import KeypointCount, Stats, size_guidance

MAX_DETAILS = 5
MISSING = object()
NUMS = frozenset((int, float))
CROWD = frozenset((int, bool, float))
PATTERN_CACHE_MAX = 4096
# fields whose range the checks below test themselves; any other field is searched for non-finite numbers
CHECKED = frozenset(("keypoints", "bbox", "area", "id", "image_id", "category_id", "iscrowd", "num_keypoints"))
IMAGE_CHECKED = frozenset(("id", "width", "height", "file_name"))
CHECKED_ALL = CHECKED | IMAGE_CHECKED


@dataclass
class Report:
    ok: bool
    path: str
    findings: list[Finding] = field(default_factory=list)
    stats: Stats | None = None

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")


def check_file(path: str | Path, images_dir: str | Path | None = None, schema=None) -> Report:
    """Read and check; a file that does not parse is a finding (with line and column), not an exception."""
    try:
        text = read_text(path)
    except HoofenvError as err:
        if err.code != "invalid-json":
            raise
        return _unparsed(err, path)
    report = check_text(text, str(path), images_dir=images_dir, schema=schema)
    from hoofenv.data.split import check_findings

    extra = [make(code, [Path(path).name], str(path), details=[detail], hint=hint)
             for code, detail, hint in check_findings(path)]
    if extra:
        report.findings = sorted(report.findings + extra, key=lambda f: (f.severity != "error", f.code))
        report.ok = report.ok and not any(f.severity == "error" for f in extra)
    return report


def check(data: dict, path: str, images_dir: str | Path | None = None, schema=None) -> Report:
    """Check a parsed export: written out and read back the way `check_file` reads, for the same findings."""
    return check_text(json.dumps(data), path, images_dir=images_dir, schema=schema)


def check_text(text: str, path: str, images_dir: str | Path | None = None, schema=None) -> Report:
    if images_dir is not None and not Path(images_dir).is_dir():
        raise HoofenvError(f"--images {images_dir} is not a folder",
                           hint="pass the export's images folder, e.g. --images images/default",
                           code="usage", exit_code=2)
    checker = _Checker(path, schema)
    collecting = gc.isenabled()
    gc.disable()  # millions of short-lived records and no cycles: the collector would only rescan the id sets
    try:
        top, outside = stream.walk(text, checker.batch, checker.section_end, checker.splitter)
    except stream.Fallback:
        try:
            data, non_finite = parse(text, path)
        except HoofenvError as err:
            return _unparsed(err, path)
        if not isinstance(data, dict):
            return _unparsed(not_an_object(path, data), path)
        checker = _Checker(path, schema)
        top, outside = checker.feed(data, non_finite)
    finally:
        if collecting:
            gc.enable()
    return checker.finish(top, outside, Path(images_dir) if images_dir is not None else None)


def _unparsed(err: HoofenvError, path) -> Report:
    finding = make(err.code, [], str(path), details=[err.message, *err.causes])
    return Report(ok=False, path=str(path), findings=[finding], stats=None)


class _Checker:
    """Collects findings record by record; see the module docstring for the order it needs."""

    def __init__(self, path: str, schema) -> None:
        self.path = path
        self.schema = schema
        self.ids: dict[str, list] = {}
        self.details: dict[str, list[str]] = {}
        self.sections: set[str] = set()
        self.cats: list[dict] = []
        self.images_seen = 0
        self.image_count: Counter = Counter()  # image id -> how often it occurs
        self.size: dict = {}  # image id -> (width, height)
        self.names: dict[str, object] = {}  # file_name -> first image id
        self.name_dups: dict[str, list] = {}
        self.files: list[tuple] = []  # (image id, file_name, width, height)
        self.pending: list[tuple] = []  # annotations met before the images and categories were complete
        self.ann_seen: set = set()
        self.ann_dups: dict = {}
        self.per_image: Counter = Counter()  # image id -> instances
        self.instances = 0
        self.patterns: Counter = Counter()  # visibility pattern -> instances (stats)
        self.cache: dict[tuple, tuple] = {}
        self.cat_info: dict = {}
        self.k_schema: int | None = None
        self.kp_names: list[str] = []
        self.any_kp_cat = False
        self.good_cats: set = set()  # keypoint categories with the schema's count: the fast path's

    def add(self, code: str, ident, detail: str | None = None) -> None:
        ids = self.ids.get(code)
        if ids is None:
            ids = self.ids[code] = []
            self.details[code] = []
        ids.append(ident)
        if detail and len(self.details[code]) < MAX_DETAILS:
            self.details[code].append(detail)

    def add_many(self, code: str, idents: list) -> None:
        if code not in self.ids:
            self.ids[code], self.details[code] = [], []
        self.ids[code].extend(idents)

    # -- feeding

    def feed(self, data: dict, non_finite: int) -> tuple[dict, int]:
        """The same callbacks as the streaming walk, from a dict (the fallback for unusual files)."""
        top = {}
        for key_, value in data.items():
            if key_ in stream.SECTIONS and isinstance(value, list):
                self.batch(key_, value, 0, bool(non_finite))
                self.section_end(key_)
            else:
                top[key_] = value
        return top, non_finite

    def batch(self, section: str, values: list, start: int, non_finite: bool) -> None:
        if section == "annotations":
            if "images" in self.sections and "categories" in self.sections:
                self._annotations(values, start, non_finite)
            else:
                self.pending.append((values, start, non_finite))
        elif section == "images":
            if non_finite or checkfast.images(self, values) is None:
                for n, img in enumerate(values):
                    self.image(img, start + n, non_finite)
        else:
            for n, cat in enumerate(values):
                self.category(cat, start + n, non_finite)

    def _annotations(self, values: list, start: int, non_finite: bool) -> None:
        """The column-wise path for the plain ones, the per-record path for the rest, findings in file order."""
        routed = None if non_finite else checkfast.annotations(self, values)
        if routed is None:
            for n, ann in enumerate(values):
                self.annotation(ann, start + n, non_finite)
            return
        slow, outside = routed
        if outside:
            self.add_many("outside-coords-kept", [values[n]["id"] for n in outside])
        for n in slow:
            self.annotation(values[n], start + n, False)

    def splitter(self, section: str):
        """A second process may take the second half of the annotations once images and categories are known."""
        if section == "annotations" and "images" in self.sections and "categories" in self.sections:
            return _Half(self)
        return None

    def section_end(self, section: str) -> None:
        self.sections.add(section)
        if section == "categories":
            self._categories_done()

    def finish(self, top: dict, outside: int, images_dir: Path | None) -> Report:
        for k in TOP_LEVEL:
            if k not in self.sections:
                self.add("missing-field", k, f"top-level {k!r} missing or not a list")
        if "categories" not in self.sections:
            self._categories_done()
        self.sections.update(TOP_LEVEL)
        for values, start, non_finite in self.pending:
            self._annotations(values, start, non_finite)
        self.pending = []
        for where in bad_numbers(top, integers=False):
            self.add("non-finite", where.split(" = ")[0], where)
        self._image_totals()
        if images_dir is not None:
            from hoofenv.data.imagefiles import check_files

            check_files(self.files, images_dir, self.add)
        findings = [make(code, _unique(ids), self.path, self.details.get(code)) for code, ids in self.ids.items()]
        order = {"error": 0, "warning": 1}
        findings.sort(key=lambda f: (order[f.severity], f.code))
        return Report(ok=not any(f.severity == "error" for f in findings), path=self.path, findings=findings,
                      stats=self._stats())

    # -- categories and images

    def category(self, cat, index: int, non_finite: bool) -> None:
        ident = _ident(cat.get("id")) if type(cat) is dict and "id" in cat else f"categories[{index}]"
        for code, detail in record_problems("categories", cat, index):
            self.add(code, ident, detail)
        if type(cat) is dict:
            self.cats.append(cat)

    def _categories_done(self) -> None:
        kp_cats = [c for c in self.cats if type(c.get("keypoints")) is list and c["keypoints"]]
        if self.schema is not None:
            self.k_schema, self.kp_names = len(self.schema.keypoints), list(self.schema.keypoints)
        elif kp_cats:
            self.kp_names = [str(n) for n in kp_cats[0]["keypoints"]]
            self.k_schema = len(self.kp_names)
        for cat in self.cats:
            kps = cat.get("keypoints")
            self.cat_info[key(cat.get("id"))] = (cat, len(kps) if type(kps) is list else 0)
        self.any_kp_cat = bool(kp_cats)
        self.good_cats = {c.get("id") for c, n in self.cat_info.values()
                          if n and n == self.k_schema and type(c.get("id")) is int}
        _check_categories(self.cats, kp_cats, self.add)

    def image(self, img, index: int, non_finite: bool) -> None:
        self.images_seen += 1
        if type(img) is not dict:
            self.add("wrong-type", f"images[{index}]", f"images[{index}] is {describe(img)}, not an object")
            return
        iid = img.get("id", MISSING)
        if iid is MISSING:
            self.add("missing-field", f"images[{index}]", f"images[{index}] has no 'id'")
            return
        if type(iid) is not int:
            self.add("wrong-type", _ident(iid), f"images[{index}].id = {describe(iid)} is not an integer")
        ik = key(iid)
        self.image_count[ik] = self.image_count.get(ik, 0) + 1
        w, h, fname = img.get("width"), img.get("height"), img.get("file_name")
        for name, val in (("width", w), ("height", h), ("file_name", fname)):
            if val is None:
                self.add("missing-field", _ident(iid), f"image {_ident(iid)} has no {name!r}")
        ok_w = w is None or (type(w) in NUMS and 0 < w <= LIMIT)
        ok_h = h is None or (type(h) in NUMS and 0 < h <= LIMIT)
        if not (ok_w and ok_h):
            self.add("wrong-type", _ident(iid),
                     f"image {_ident(iid)}: width/height {describe(w)}x{describe(h)} are not positive numbers")
        elif w is not None and h is not None:
            self.size[ik] = (w, h)
        if fname is not None and (type(fname) is not str or not fname):
            self.add("wrong-type", _ident(iid), f"image {_ident(iid)}: file_name {describe(fname)} is not a name")
        elif fname:
            self._file_name(fname, iid, w, h)
        if (non_finite or not (ok_w and ok_h) or type(iid) is not int or not -LIMIT <= iid <= LIMIT
                or any(True for k in img.keys() - IMAGE_CHECKED for _ in bad_numbers(img[k], integers=False))):
            self._non_finite(img, f"image {_ident(iid)}", _ident(iid))

    def _file_name(self, fname: str, iid, w, h) -> None:
        if fname in self.names:
            self.name_dups.setdefault(fname, [self.names[fname]]).append(iid)
        else:
            self.names[fname] = iid
        if ".." in fname or fname[0] in "/\\" or fname[1:2] == ":" or "\x00" in fname:
            from hoofenv.data.imagefiles import unsafe_reason

            reason = unsafe_reason(fname)
            if reason:
                self.add("image-path-outside", _ident(iid), f"image {_ident(iid)}: {fname!r} {reason}")
                return
        self.files.append((iid, fname, w, h))

    def _image_totals(self) -> None:
        for ik, n in self.image_count.items():
            if n > 1:
                self.add("duplicate-image-id", ik, f"image id {ik} occurs {n} times")
        for fname, iids in self.name_dups.items():
            for iid in iids:
                self.add("duplicate-file-name", iid, f"{fname}: image ids {iids}")
        for ik in self.image_count:
            if ik not in self.per_image:
                self.add("image-without-annotations", ik)
        for ak, n in self.ann_dups.items():
            self.add("duplicate-annotation-id", ak, f"annotation id {ak} occurs {n} times")

    def _non_finite(self, record, where: str, ident) -> None:
        found = [p for k, v in record.items() for p in bad_numbers(v, str(k), integers=k in CHECKED_ALL)]
        if found:
            self.add("non-finite", ident, f"{where}: {', '.join(found[:3])}" + (" ..." if len(found) > 3 else ""))

    # -- annotations: the hot path

    def annotation(self, ann, index: int, non_finite: bool) -> None:
        if type(ann) is not dict:
            self.add("wrong-type", f"annotations[{index}]", f"annotations[{index}] is {describe(ann)}, not an object")
            return
        self.instances += 1
        add = self.add
        aid, ik, cat, bad = self._references(ann, index)
        k_expected = cat[1] if cat is not None and cat[1] else self.k_schema
        kps = ann.get("keypoints")
        labelled = None
        if kps is None:
            add("missing-field", aid, f"annotation {aid} has no 'keypoints' (MMPose skips it)")
        elif type(kps) is not list or not set(map(type, kps)) <= NUMS:
            add("wrong-type", aid, f"annotation {aid}: keypoints is not a list of numbers")
        elif kps and not (-LIMIT <= min(kps) and max(kps) <= LIMIT):
            bad = True
        elif not kps or len(kps) % 3 or (k_expected is not None and len(kps) != 3 * k_expected):
            want = f"3 x {k_expected} = {3 * k_expected}" if k_expected is not None else "a multiple of 3"
            add("keypoints-length", aid, f"annotation {aid}: {len(kps)} values, expected {want}")
        else:
            labelled, placed = self._visibility(kps, aid)
        nk = ann.get("num_keypoints")
        if labelled is not None and (type(nk) is not int or nk != labelled):
            add("num-keypoints-wrong", aid, f"annotation {aid}: num_keypoints {describe(nk)}, labelled {labelled}")
        crowd = ann.get("iscrowd", MISSING)
        if crowd is MISSING:
            add("iscrowd-missing", aid)
        elif type(crowd) not in CROWD or crowd not in (0, 1):
            add("wrong-type", aid, f"annotation {aid}: iscrowd {describe(crowd)} is not 0 or 1")
        elif crowd:
            add("crowd-instance", aid)
        size = self.size.get(ik)
        box_ok, bad_box = _check_bbox(ann.get("bbox", MISSING), aid, add, size)
        area = ann.get("area")
        if type(area) not in NUMS or not area > 0:
            add("area-missing", aid, f"annotation {aid}: area {describe(area)}")
        for value in (area, nk, crowd):
            if type(value) in NUMS and not -LIMIT <= value <= LIMIT:
                bad = True
        if labelled:
            _check_points_placed(kps, placed, ann["bbox"] if box_ok else None, size, aid, add)
        if not bad and ann.keys() - CHECKED:
            bad = any(True for k in ann.keys() - CHECKED for _ in bad_numbers(ann[k], integers=False))
        if bad or bad_box or non_finite:
            self._non_finite(ann, f"annotation {aid}", aid)

    def _references(self, ann: dict, index: int) -> tuple:
        """(id for findings, image key, (category, its keypoint count) or None, any id out of range)."""
        add = self.add
        get = ann.get
        bad = False
        aid = get("id", MISSING)
        if aid is MISSING:
            aid = f"annotations[{index}]"
            add("missing-field", aid, f"annotation {aid} has no 'id'")
        else:
            if type(aid) is not int:
                add("wrong-type", _ident(aid), f"annotations[{index}].id = {describe(aid)} is not an integer")
                aid = _ident(aid)
            elif not -LIMIT <= aid <= LIMIT:
                bad = True
            ak = key(aid)
            if ak in self.ann_seen:
                self.ann_dups[ak] = self.ann_dups.get(ak, 1) + 1
            else:
                self.ann_seen.add(ak)
        iid = get("image_id", MISSING)
        ik = None
        if iid is MISSING:
            add("missing-field", aid, f"annotation {aid} has no 'image_id'")
        else:
            ik = key(iid)
            if ik in self.image_count:
                self.per_image[ik] = self.per_image.get(ik, 0) + 1
            else:
                add("annotation-missing-image", aid, f"annotation {aid}: image_id {describe(iid)}")
            if type(iid) is not int:
                add("wrong-type", aid, f"annotation {aid}: image_id {describe(iid)} is not an integer")
        cid = get("category_id", MISSING)
        cat = None
        if cid is MISSING:
            add("missing-field", aid, f"annotation {aid} has no 'category_id'")
        else:
            cat = self.cat_info.get(key(cid))
            if cat is None:
                add("unknown-category", aid, f"annotation {aid}: category_id {describe(cid)}")
            elif not cat[1] and self.any_kp_cat:
                c = cat[0]
                add("rectangle-category", aid,
                    f"annotation {aid}: category {describe(c.get('id'))} {describe(c.get('name'))} has no keypoints")
            elif cat[1] and self.k_schema is not None and cat[1] != self.k_schema:
                add("keypoint-count-mismatch", aid,
                    f"annotation {aid}: category {describe(cat[0].get('id'))} has {cat[1]} keypoints, "
                    f"schema {self.k_schema}")
        for value in (get("id"), iid, cid):
            if type(value) in NUMS and not -LIMIT <= value <= LIMIT:
                bad = True
        return aid, ik, cat, bad

    def _visibility(self, kps: list, aid) -> tuple[int, list[int]]:
        """(labelled points (v > 0), their indices); visibility and outside-coordinate findings; per-keypoint
        counts."""
        vis = tuple(kps[2::3])
        info = self.cache.get(vis) or self.pattern(vis)
        labelled, bad_v, zeros, placed = info[:4]
        if bad_v:
            self.add("visibility-invalid", aid, f"annotation {aid}: visibilities {list(vis)}")
        if zeros and any(kps[3 * j] or kps[3 * j + 1] for j in zeros):
            self.add("outside-coords-kept", aid)
        if not labelled:
            self.add("no-visible-keypoints", aid)
        if self.k_schema is not None and len(vis) == self.k_schema:
            self.patterns[vis] += 1
        return labelled, placed

    def pattern(self, vis: tuple) -> tuple:
        info = checkfast.pattern(vis)
        if len(self.cache) >= PATTERN_CACHE_MAX:
            self.cache = {}
        self.cache[vis] = info
        return info

    def _stats(self) -> Stats:
        k = self.k_schema or 0
        labelled, visible = [0] * k, [0] * k
        for vis, n in self.patterns.items():
            for j, v in enumerate(vis):
                if v > 0:
                    labelled[j] += n
                    if v == 2:
                        visible[j] += n
        names = self.kp_names if len(self.kp_names) == k else [f"kp{j}" for j in range(k)]
        label, text = size_guidance(len(self.per_image))
        return Stats(images=self.images_seen, annotated_images=len(self.per_image), instances=self.instances,
                     keypoints=[KeypointCount(n, labelled[j], visible[j]) for j, n in enumerate(names)],
                     instances_per_image_max=max(self.per_image.values(), default=0), size_class=label,
                     guidance=text)


class _Half:
    """The checker's side of a section shared by two processes (stream._split_section). The forked child, holding
    the images and categories, settles the plain annotations of its half column-wise and sends back their counts
    and id sets with every other record; the parent adds those counts to its own (duplicates are counts, so the
    order does not matter) and checks the other records with the per-record path, in file order -- the findings
    and their details come out as if one process had read the file."""

    def __init__(self, ck: _Checker) -> None:
        self.ck = ck
        self.sent: list[tuple] = []  # (start, non_finite, ids with outside coordinates or None, records)

    def child_batch(self, section: str, values: list, start: int, non_finite: bool) -> None:
        ck = self.ck
        if not self.sent and not ck.instances:
            ck.ann_seen, ck.ann_dups, ck.per_image, ck.patterns = set(), {}, Counter(), Counter()
        routed = None if non_finite else checkfast.annotations(ck, values)
        if routed is None:
            self.sent.append((start, non_finite, None, list(enumerate(values))))
        else:
            slow, outside = routed
            self.sent.append((start, False, [values[n]["id"] for n in outside], [(n, values[n]) for n in slow]))

    def child_result(self) -> tuple:
        ck = self.ck
        return self.sent, ck.instances, ck.ann_seen, ck.ann_dups, ck.per_image, ck.patterns

    def merge(self, result: tuple, offset: int) -> None:
        sent, instances, seen, dups, per_image, patterns = result
        ck = self.ck
        both = seen & ck.ann_seen
        for ak, n in dups.items():
            if ak not in both:
                ck.ann_dups[ak] = n
        for ak in sorted(both) if all(type(a) is int for a in both) else both:
            ck.ann_dups[ak] = ck.ann_dups.get(ak, 1) + dups.get(ak, 1)
        ck.ann_seen |= seen
        ck.instances += instances
        ck.per_image.update(per_image)
        ck.patterns.update(patterns)
        for start, non_finite, outside, records in sent:
            if outside:
                ck.add_many("outside-coords-kept", outside)
            for n, ann in records:
                ck.annotation(ann, offset + start + n, non_finite)


def _ident(value):
    """An id as findings list it: the value itself when it is a number or string, else its text."""
    return value if type(value) in (int, float, str) else describe(value)


def _check_categories(cats: list[dict], kp_cats: list[dict], add) -> None:
    if not kp_cats:
        if not cats:
            add("no-keypoint-names", "categories", "the 'categories' list is empty")
        for cat in cats:
            add("no-keypoint-names", _ident(cat.get("id")),
                f"category {describe(cat.get('id'))} {describe(cat.get('name'))}: 'keypoints': []")
    for cat in kp_cats:
        k = len(cat["keypoints"])
        base = skeleton_base(cat)
        edges = cat.get("skeleton") or []
        cid = _ident(cat.get("id"))
        if base == 1:
            add("skeleton-one-based", cid, f"category {cid} {describe(cat.get('name'))}: {edges[:4]}")
        for e in edges if type(edges) is list else [edges]:
            ok = type(e) is list and len(e) == 2 and all(type(i) is int for i in e)
            if not ok or not all(0 <= i - (base or 0) < k for i in e):
                add("skeleton-invalid", cid, f"category {cid}: edge {describe(e)} with {k} keypoints")


def _check_bbox(bbox, aid, add, size: tuple | None) -> tuple[bool, bool]:
    """(whether the box is a usable [x, y, w, h], whether it holds a number out of range)."""
    if bbox is MISSING or bbox is None:
        add("bbox-missing", aid)
        return False, False
    if type(bbox) is not list or len(bbox) != 4 or not set(map(type, bbox)) <= NUMS:
        add("wrong-type", aid, f"annotation {aid}: bbox {describe(bbox)} is not [x, y, w, h]")
        return False, False
    x, y, w, h = bbox
    if not (-LIMIT <= min(bbox) and max(bbox) <= LIMIT):
        return False, True
    if w <= 0 or h <= 0:
        add("bbox-degenerate", aid, f"annotation {aid}: bbox {bbox}")
        return False, False
    if size:
        # MMPose clips the box to [0, width - 1] x [0, height - 1] and drops what has no area left.
        if min(x + w, size[0] - 1) <= max(x, 0) or min(y + h, size[1] - 1) <= max(y, 0):
            add("bbox-outside-image", aid, f"annotation {aid}: bbox {bbox} on a {size[0]}x{size[1]} image")
        elif x < 0 or y < 0 or x + w > size[0] or y + h > size[1]:
            add("bbox-exceeds-image", aid, f"annotation {aid}: bbox {bbox} on a {size[0]}x{size[1]} image")
    return True, False


def _check_points_placed(kps: list, labelled: list[int], bbox: list | None, size: tuple | None, aid, add) -> None:
    if len(labelled) * 3 == len(kps):
        xs, ys = kps[0::3], kps[1::3]
    else:
        xs = [kps[3 * j] for j in labelled]
        ys = [kps[3 * j + 1] for j in labelled]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if bbox and (x0 < bbox[0] - 1 or x1 > bbox[0] + bbox[2] + 1 or y0 < bbox[1] - 1 or y1 > bbox[1] + bbox[3] + 1):
        add("keypoint-outside-bbox", aid)
    if size and (x0 < 0 or x1 > size[0] or y0 < 0 or y1 > size[1]):
        add("keypoint-outside-image", aid)


def _unique(ids: list) -> list:
    """Each id once; ascending when they are all integers (the fast and the per-record path meet in any order)."""
    if all(type(i) is int for i in ids):
        return sorted(set(ids))
    seen: set = set()
    out = []
    for i in ids:
        k = (type(i).__name__, i) if isinstance(i, (int, str)) else repr(i)
        if k not in seen:
            seen.add(k)
            out.append(i)
    return out
