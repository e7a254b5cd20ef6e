"""`hoofenv data import EXPORT... -o DIR`, and the summary `hoofenv train --data EXPORT` prints for it.

Only argparse at the top: the library is imported inside the functions.
"""

from __future__ import annotations

import argparse

from hoofenv.commands.options import count, dir_to_write


def fraction(value: str) -> float:
    try:
        f = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: a fraction between 0 and 1, e.g. 0.2") from None
    if not 0 < f < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: a fraction between 0 and 1, e.g. 0.2")
    return f


def export_path(text: str) -> str:
    """An export (or, for train --data, also a dataset folder): an existing folder, or a zip."""
    import os
    import zipfile

    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    if os.path.isfile(text) and not zipfile.is_zipfile(text):
        raise argparse.ArgumentTypeError(f"{text} is a file but not a zip: give a CVAT export's zip or its folder")
    return text


def add_parser(cmd) -> None:
    """Registered by commands/data.py through its `cmd(name, help, func)`."""
    sp = cmd("import", "CVAT exports as exported (zip or folder; several: oldest first) -> a checked, repaired, "
                       "split dataset folder that `hoofenv train --data DIR` takes", run)
    sp.add_argument("exports", metavar="EXPORT", nargs="+", type=export_path,
                    help="a CVAT 'COCO Keypoints 1.0' zip or its unzipped folder; later exports win on conflicts")
    sp.add_argument("-o", "--output", metavar="DIR", required=True, type=dir_to_write,
                    help="the dataset folder to write")
    sp.add_argument("--val", type=fraction, default=0.2,
                    help="fraction of pictures for validation when the export has one subset (default 0.2)")
    sp.add_argument("--seed", type=count(0, 2**32 - 1), default=0, metavar="N", help="seed of that split (default 0)")
    sp.add_argument("--group-by", metavar="KEY",
                    help="keep groups together in the split: 'dir', an image field, or 're:PATTERN' (file names "
                         "start with the subset folder, e.g. default/)")
    sp.add_argument("--schema", metavar="PRESET", help="fill lost keypoint names from hoof-side or four-hooves")
    sp.add_argument("--force", action="store_true", help="import again even when the exports did not change")


def run(args) -> int:
    from dataclasses import asdict

    from hoofenv.data.imports import ImportOptions, import_exports

    options = ImportOptions(val=args.val, seed=args.seed, group_by=args.group_by, schema=args.schema)
    report = import_exports(args.exports, args.output, options, reuse=not args.force)
    if args.json:
        from hoofenv.commands.output import emit_json

        emit_json({"ok": True, **asdict(report)})
        return 0
    from hoofenv.commands.output import line

    line(f"hoofenv data import {' '.join(args.exports)} -o {args.output}")
    render(asdict(report))
    line(f"  next: hoofenv train --data {report.output}")
    return 0


def render(report: dict) -> None:
    """The summary: what was found, what was repaired, how it was split and where the dataset is."""
    from hoofenv.commands.output import line, styled

    def mark(symbol: str, colour: str | None, text: str) -> None:
        styled([(symbol, colour), (" " + text, None)])

    if report.get("reused"):
        mark("✓", "green", f"unchanged since the last import: {report['output']}")
    for src in report["sources"]:
        parts = ", ".join(f"{name}: {c['images']} images, {c['annotations']} annotations"
                          for name, c in src["subsets"].items())
        mark("✓", "green", f"{src['path']} ({src['kind']}): {parts}")
    for severity in ("error", "warning"):
        kinds = [f"{f['code']} x{f['count']}" for f in report["found"] if f["severity"] == severity]
        if kinds:
            line(f"    found before repair: {len(kinds)} {severity} kinds: {', '.join(kinds)}")
    for ch in report["repaired"]:
        mark("~", "cyan", f"repaired {ch['code']}: {ch['message']}")
    for m in report["merged"]:
        c = m["counts"]
        mark("=", None, f"merged {m['subset']} of {len(m['exports'])} exports: {c['images_out']} images "
                        f"({c['duplicate_images']} shared), {c['annotations_out']} annotations "
                        f"({m['conflicts']} pictures re-annotated: the later export kept)")
    for f in report["remaining"]:
        mark("!", "yellow", f"{f['code']}: {f['message']}")
    _render_split(report["split"], mark)
    images = report.get("images") or {}
    files = report.get("files") or {}
    written = ", ".join(f"annotations/{k}.json" for k in ("train", "val", "test") if k in files)
    mark("✓", "green", f"prepared {report['output']}: {written}, metainfo.py, images/ "
                       f"({images.get('pictures', '?')} pictures, {_size(images.get('bytes', 0))})"
                       + (f"; {images['unreferenced']} pictures no annotation file names were left out"
                          if images.get("unreferenced") else ""))


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _render_split(split: dict, mark) -> None:
    counts = split.get("counts", {})
    sizes = ", ".join(f"{k} {v['images']} images / {v['annotations']} annotations" for k, v in counts.items())
    if split.get("how") == "subsets":
        joined = split["subsets"]["train"][1:]
        mark("✓", "green", f"CVAT's own subsets: {sizes}" + (f" ({', '.join(joined)} joined train)" if joined else ""))
    elif split:
        by = f"groups by {split['group_by']}" if split.get("group_by") else "by picture"
        mark("✓", "green", f"split {sizes} (seed {split['seed']}, val {split['val_fraction']}, {by}; "
                           f"subsets {', '.join(split['subsets'])})")
