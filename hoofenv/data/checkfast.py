"""The column-wise fast path of `data check`: a batch of records checked with C-level `map`s instead of a Python
loop per record.

It settles only the records it can prove to be plain -- every field of the right type and in range, the id new,
the image and a keypoint category known, the box inside its picture, the labelled points inside the box and the
picture, num_keypoints right, iscrowd 0 -- and returns the positions of all other records, which the per-record
path (`_Checker.annotation`, `_Checker.image`) checks in full. The only finding it makes itself is
`outside-coords-kept`, which CVAT writes for most instances. tests/data/test_data_check_fast.py holds the two
paths to the same findings on generated batches.
"""

from __future__ import annotations

from itertools import chain, compress, count, repeat
from operator import add, eq, ge, gt, is_, itemgetter, le, lt, not_, sub

from hoofenv.data.records import LIMIT

NUMS = frozenset((int, float))
GET = dict.get
ZERO = repeat(0)
VIS = itemgetter(slice(2, None, 3))
I0, I1, I2, I3, I4 = (itemgetter(n) for n in range(5))


def _col(batch: list, name: str, default=None) -> list:
    return list(map(GET, batch, repeat(name), repeat(default)))


def _pick(col, positions: list) -> tuple:
    return itemgetter(*positions)(col) if len(positions) > 1 else (col[positions[0]],)


def _types_ok(lists: list) -> bool:
    """Every element of every list a number, not a boolean."""
    return set(map(type, chain.from_iterable(lists))) <= NUMS


def _numbers_ok(lists: list) -> bool:
    """Every element of every list a number within +-2^53: one flat pass each for the types, min and max (a
    `max` per record costs a call per record)."""
    flat = list(chain.from_iterable(lists))
    return set(map(type, flat)) <= NUMS and -LIMIT <= min(flat) and max(flat) <= LIMIT


def _ints_ok(cols: list) -> bool:
    """Integer columns within +-2^53."""
    return all(-LIMIT <= min(c) and max(c) <= LIMIT for c in cols)


def pattern(vis: tuple) -> tuple:
    """What a visibility tuple decides: (labelled count, any v outside 0/1/2, indices with v == 0, indices with
    v > 0, plain (labelled and valid), getter of the labelled x's, of their y's, of the outside points' x and y).
    The getters always return a sequence (itemgetter of one index would return the value itself)."""
    labelled = [j for j, v in enumerate(vis) if v > 0]
    zeros = [j for j, v in enumerate(vis) if v == 0]
    bad_v = any(v not in (0, 1, 2) for v in vis)
    plain = bool(labelled) and not bad_v
    return (len(labelled), bad_v, zeros, labelled, plain,
            _getter([3 * j for j in labelled]) if plain else ORIGIN,
            _getter([3 * j + 1 for j in labelled]) if plain else ORIGIN,
            _getter([3 * j + d for j in zeros for d in (0, 1)]))


def _getter(indices: list[int]):
    if not indices:
        return EMPTY
    if len(indices) == 1:
        return itemgetter(slice(indices[0], indices[0] + 1))
    return itemgetter(*indices)


def EMPTY(_kps):
    return ()


def ORIGIN(_kps):
    """The labelled points of a pattern the fast path never settles (none labelled, or v outside 0/1/2)."""
    return (0,)


FIELDS = itemgetter("id", "image_id", "category_id", "keypoints", "bbox", "area", "iscrowd", "num_keypoints")
NAMES = ("id", "image_id", "category_id", "keypoints", "bbox", "area", "iscrowd", "num_keypoints")


# CVAT's annotation keys: a record with exactly these is fully covered by the fast path's checks
CVAT_ANNOTATION = 10
CVAT_IMAGE = frozenset(("id", "width", "height", "file_name", "license", "flickr_url", "coco_url", "date_captured"))
PLAIN_VALUES = frozenset((bool, str, type(None)))


def _columns(batch: list) -> list:
    try:
        return list(zip(*map(FIELDS, batch)))
    except KeyError:
        return [_col(batch, name) for name in NAMES]


def _rest_plain(batch: list) -> bool:
    """Every record has exactly CVAT's keys, `segmentation: []` and an `attributes` object of booleans and
    strings: nothing else in it can hold a number out of range."""
    if set(map(len, batch)) != {CVAT_ANNOTATION}:
        return False
    segs, attrs = _col(batch, "segmentation", 0), _col(batch, "attributes", 0)
    return (set(map(type, segs)) == {list} and set(map(len, segs)) == {0} and set(map(type, attrs)) == {dict}
            and set(map(type, chain.from_iterable(map(dict.values, attrs)))) <= PLAIN_VALUES)


def annotations(ck, batch: list) -> tuple[list[int], list[int]] | None:
    """Settle the plain annotations of BATCH on checker CK: (the positions left for the per-record path, the plain
    positions whose outside points keep coordinates), both in order; None leaves all of them to that path.

    Each condition is first tested on the whole batch (one `all` or `min`); only a condition that some record
    fails is evaluated record by record, to send those records to the per-record path.
    """
    k = ck.k_schema
    if k is None or not ck.good_cats or set(map(type, batch)) != {dict}:
        return None
    ids, iids, cids, kps, bbs, areas, crowds, nks = _columns(batch)
    # No range pass over the coordinates: the box must lie in its picture, the labelled points in the box, the
    # outside points' coordinates are bounded below, and v must be 0, 1 or 2.
    if (set(map(type, ids)) | set(map(type, iids)) | set(map(type, cids)) != {int}
            or set(map(type, kps)) != {list} or set(map(type, bbs)) != {list}
            or set(map(len, kps)) != {3 * k} or set(map(len, bbs)) != {4}
            or not _ints_ok([ids, iids, cids]) or not _types_ok(kps) or not _numbers_ok(bbs)
            or not _rest_plain(batch)):
        return None
    vis = list(map(tuple, map(VIS, kps)))
    infos = list(map(ck.cache.get, vis))
    if None in infos:
        for v in {v for v, info in zip(vis, infos) if info is None}:
            ck.pattern(v)
        infos = list(map(ck.cache.get, vis))
    sizes = list(map(ck.size.get, iids, repeat((0, 0))))
    x, y, w, h = (list(map(g, bbs)) for g in (I0, I1, I2, I3))
    x2, y2 = list(map(add, x, w)), list(map(add, y, h))
    iw, ih = list(map(I0, sizes)), list(map(I1, sizes))
    slow: set[int] = set()
    for flags in (
        lambda: map(ck.good_cats.__contains__, cids), lambda: map(eq, crowds, ZERO),
        lambda: map(is_, map(type, nks), INT), lambda: map(eq, nks, map(I0, infos)), lambda: map(I4, infos),
        lambda: _area_ok(areas), lambda: map(gt, w, ZERO), lambda: map(gt, h, ZERO),
        lambda: map(ge, x, ZERO), lambda: map(ge, y, ZERO), lambda: map(le, x2, iw), lambda: map(le, y2, ih),
        lambda: map(lt, x, map(sub, iw, ONE)), lambda: map(lt, y, map(sub, ih, ONE)),
    ):
        _require(flags, slow)
    outside = _points(infos, kps, (x, y, x2, y2, iw, ih), slow)
    plain = [p for p in range(len(batch)) if p not in slow] if slow else None
    _settle(ck, plain, ids, iids, vis)
    return sorted(slow), [p for p in outside if p not in slow] if slow else outside


ONE = repeat(1)
INT = repeat(int)
CALL = getattr(__import__("operator"), "call", None) or (lambda f, *a: f(*a))


def _require(flags, slow: set) -> None:
    """Add to SLOW the positions where flags() (a fresh iterator of booleans per call) is false; the whole
    batch is tested first, record by record only when something fails."""
    if not all(flags()):
        slow.update(compress(count(), map(not_, flags())))


def _area_ok(areas: list):
    typed = list(map(NUMS.__contains__, map(type, areas)))
    if not all(typed):
        areas = [a if t else 0 for a, t in zip(areas, typed)]
    return map(all, zip(map(gt, areas, ZERO), map(le, areas, repeat(LIMIT))))


def _points(infos: list, kps: list, box: tuple, slow: set) -> list[int]:
    """Add to SLOW the positions whose labelled points leave the box (+-1) or the picture, or whose outside points
    hold a number beyond +-2^53; return the positions whose outside points (v = 0) keep coordinates."""
    x, y, x2, y2, iw, ih = box
    xs = list(map(CALL, map(I5, infos), kps))
    ys = list(map(CALL, map(I6, infos), kps))
    lo_x, hi_x, lo_y, hi_y = list(map(min, xs)), list(map(max, xs)), list(map(min, ys)), list(map(max, ys))
    tests = [lambda: map(ge, lo_x, map(sub, x, ONE)), lambda: map(le, hi_x, map(add, x2, ONE)),
             lambda: map(ge, lo_y, map(sub, y, ONE)), lambda: map(le, hi_y, map(add, y2, ONE))]
    # Points within the box +-1 are within the picture when every box keeps 1 pixel from the picture's edges.
    if not (min(x) >= 1 and min(y) >= 1 and all(map(le, x2, map(sub, iw, ONE)))
            and all(map(le, y2, map(sub, ih, ONE)))):
        tests += [lambda: map(ge, lo_x, ZERO), lambda: map(ge, lo_y, ZERO), lambda: map(le, hi_x, iw),
                  lambda: map(le, hi_y, ih)]
    for flags in tests:
        _require(flags, slow)
    zs = list(map(CALL, map(I7, infos), kps))
    flat = list(chain.from_iterable(zs))
    if not flat:
        return []
    if not (-LIMIT <= min(flat) and max(flat) <= LIMIT):
        slow.update(p for p, z in enumerate(zs) if z and not (-LIMIT <= min(z) and max(z) <= LIMIT))
    return list(compress(count(), map(any, zs)))


I5, I6, I7 = itemgetter(5), itemgetter(6), itemgetter(7)


def _settle(ck, plain: list[int] | None, ids: list, iids: list, vis: list) -> None:
    """What the per-record path would record for these plain annotations (None: all of the batch)."""
    if plain is None:
        mine, their_images, patterns = ids, iids, vis
    elif not plain:
        return
    else:
        mine, their_images, patterns = _pick(ids, plain), _pick(iids, plain), _pick(vis, plain)
    ck.instances += len(mine)
    fresh = set(mine)
    if len(fresh) == len(mine) and ck.ann_seen.isdisjoint(fresh):
        ck.ann_seen |= fresh
    else:
        for aid in mine:
            if aid in ck.ann_seen:
                ck.ann_dups[aid] = ck.ann_dups.get(aid, 1) + 1
            else:
                ck.ann_seen.add(aid)
    ck.per_image.update(their_images)
    ck.patterns.update(patterns)


def images(ck, batch: list) -> list[int] | None:
    """Settle the plain images of BATCH; the positions left for the per-record path, or None for all of them."""
    if set(map(type, batch)) != {dict}:
        return None
    ids, ws, hs, names = _col(batch, "id"), _col(batch, "width"), _col(batch, "height"), _col(batch, "file_name")
    if (set(map(type, ids)) != {int} or not set(map(type, ws)) | set(map(type, hs)) <= NUMS
            or set(map(type, names)) != {str} or not _ints_ok([ids, ws, hs]) or min(ws) <= 0 or min(hs) <= 0
            or min(map(len, names)) == 0):
        return None
    if not set(chain.from_iterable(map(dict.keys, batch))) <= CVAT_IMAGE:
        return None
    rest = [_col(batch, k, 0) for k in ("license", "date_captured")]
    if not set(map(type, chain.from_iterable(rest))) <= {int} or not _ints_ok(rest) or not set(map(
            type, chain(_col(batch, "flickr_url", ""), _col(batch, "coco_url", "")))) <= {str}:
        return None
    joined = "\n".join(names)
    if ".." in joined or "\x00" in joined or "\\" in joined or ":" in joined or "\n/" in joined or joined[0] == "/":
        return None
    fresh = dict(zip(names, ids))
    if len(fresh) != len(names) or not ck.names.keys().isdisjoint(fresh):
        return None
    ck.images_seen += len(batch)
    ck.names.update(fresh)
    ck.image_count.update(ids)
    ck.size.update(zip(ids, zip(ws, hs)))
    ck.files.extend(zip(ids, names, ws, hs))
    return []

