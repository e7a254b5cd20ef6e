"""`hoofenv data`: check, fix, merge, split, stats, preview, schema and import (commands/data_import.py) for CVAT
COCO-keypoint exports.

Only argparse and hoofenv.errors at the top: the library is imported inside each function.
"""

from __future__ import annotations

import argparse

from hoofenv.errors import UsageError

MMPOSE_DOES = {
    "drop": "drops them silently",
    "drop-keypoints": "keeps the instance but loses those points (outside the crop)",
    "crash": "crashes (MMPose or xtcocotools)",
    "wrong-metric": "loads them, but the metric is wrong",
    "none": "no effect on training",
}
IDS_SHOWN = 10


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("data", help="check, fix, merge, split and preview a CVAT 'COCO Keypoints 1.0' export",
                              description="Check, repair, merge, split and preview CVAT 'COCO Keypoints 1.0' exports "
                                          "so MMPose loads every instance.")
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: _usage(p))

    def cmd(name: str, help: str, func):
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("--json", action="store_true", help="print one JSON object for scripts")
        sp.set_defaults(func=func)
        return sp

    sp = cmd("check", "report everything MMPose would crash on, silently drop or score wrongly; exit 1 on errors",
             _check)
    sp.add_argument("ann", metavar="ANN.json")
    sp.add_argument("--images", metavar="DIR", help="images folder: check files exist and their sizes (headers only)")
    sp.add_argument("--schema", metavar="PRESET", help="expected keypoint schema: hoof-side or four-hooves")
    sp.add_argument("-v", "--verbose", action="store_true", help="list every id and example")

    sp = cmd("fix", "repair what can be repaired deterministically and list every change", _fix)
    sp.add_argument("ann", metavar="ANN.json")
    out = sp.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", metavar="OUT.json")
    out.add_argument("--in-place", action="store_true", help="overwrite ANN.json, keeping ANN.json.bak")
    sp.add_argument("--schema", metavar="PRESET", help="fill empty keypoint names from hoof-side or four-hooves")
    sp.add_argument("--dry-run", action="store_true", help="list the changes, write nothing")

    sp = cmd("merge", "merge exports: remap ids, de-duplicate images, report conflicts, prove counts", _merge)
    sp.add_argument("anns", metavar="ANN.json", nargs="+")
    sp.add_argument("-o", "--output", metavar="OUT.json", required=True)
    sp.add_argument("--images", metavar="DIR", action="append",
                    help="images folder of each export, in order (once for a shared folder): de-duplicate by content")
    sp.add_argument("--prefer", choices=["last", "first"], default="last",
                    help="whose annotations win when two exports annotate the same image differently (default: last)")

    sp = cmd("split", "reproducible train/val split by image, optionally grouped (horse, video)", _split)
    sp.add_argument("ann", metavar="ANN.json")
    sp.add_argument("--val", type=float, default=0.2, help="fraction of images for validation (default 0.2)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--group-by", metavar="KEY",
                    help="keep groups together: 'dir' (file_name's folder), an image field (e.g. video), "
                         "or 're:PATTERN' (first group of a regex over file_name)")
    sp.add_argument("-o", "--output-dir", metavar="DIR", help="where to write <stem>_train.json and <stem>_val.json")
    sp.add_argument("--names", metavar="TRAIN.json,VAL.json",
                    help="the two file names (default <stem>_train.json,<stem>_val.json); train.json,val.json makes "
                         "the layout `hoofenv train` reads")

    sp = cmd("stats", "images, instances, labelled and visible count per keypoint, dataset size guidance", _stats)
    sp.add_argument("ann", metavar="ANN.json")

    sp = cmd("preview", "draw boxes, keypoints and skeleton to PNGs plus one contact sheet (needs Pillow)", _preview)
    sp.add_argument("ann", metavar="ANN.json")
    sp.add_argument("--images", metavar="DIR", required=True)
    sp.add_argument("-o", "--output-dir", metavar="DIR", required=True)
    sp.add_argument("--limit", type=_positive, default=100, help="at most this many images (default 100)")

    sp = cmd("schema", "write the keypoint schema as MMPose dataset metainfo (a .py file for the config)", _schema)
    src = sp.add_mutually_exclusive_group(required=True)
    src.add_argument("ann", metavar="ANN.json", nargs="?")
    src.add_argument("--preset", metavar="NAME", help="hoof-side or four-hooves")
    sp.add_argument("-o", "--output", metavar="METAINFO.py", required=True)
    sp.add_argument("--category-id", type=int, help="the keypoint category, when the export has several")

    from hoofenv.commands import data_import

    data_import.add_parser(cmd)


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is not a positive number")
    return n


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _emit(obj) -> None:
    from hoofenv.commands.output import emit_json

    emit_json(obj)


def _schema_arg(name: str | None):
    if not name:
        return None
    from hoofenv.data.schema import get_preset
    return get_preset(name)


def _check(args) -> int:
    from dataclasses import asdict
    from hoofenv.data.check import check_file

    report = check_file(args.ann, images_dir=args.images, schema=_schema_arg(args.schema))
    if args.json:
        _emit({"ok": report.ok, "findings": [asdict(f) for f in report.findings],
               "stats": asdict(report.stats) if report.stats else None})
        return 0 if report.ok else 1
    from hoofenv.commands.output import line, styled

    line(f"hoofenv data check {args.ann}")
    if report.stats:
        s = report.stats
        names = ", ".join(k.name for k in s.keypoints)
        line(f"[✓] parsed: {s.images} images, {s.instances} instances, {len(s.keypoints)} keypoints ({names})")
    for f in report.findings:
        error = f.severity == "error"
        styled([("[✗]" if error else "[!]", "red" if error else "yellow"), (f" {f.code}: {f.message}", None)])
        if f.ids:
            shown = f.ids if args.verbose else f.ids[:IDS_SHOWN]
            more = "" if len(shown) == len(f.ids) else f", ... ({len(f.ids) - len(shown)} more; -v lists all)"
            line(f"    ids: {', '.join(str(i) for i in shown)}{more}")
        for d in f.details if args.verbose else f.details[:2]:
            line(f"    {d}")
        line(f"    MMPose: {MMPOSE_DOES[f.mmpose]}")
        line(f"    Fix: {f.hint}")
    if report.stats:
        _print_stats(report.stats)
    errors = sum(1 for f in report.findings if f.severity == "error")
    warnings = len(report.findings) - errors
    if errors:
        styled([("✗", "red"), (f" {errors} error kinds, {warnings} warning kinds in {args.ann}", None)])
    elif warnings:
        styled([("!", "yellow"), (f" no errors, {warnings} warning kinds in {args.ann}", None)])
    else:
        styled([("✓", "green"), (f" no problems in {args.ann}", None)])
    return 0 if report.ok else 1


def _print_stats(s) -> None:
    from rich.table import Table
    from rich.text import Text

    from hoofenv.commands.output import console, line

    if s.keypoints:
        table = Table(title=None, show_edge=False, pad_edge=False)
        table.add_column("keypoint")
        table.add_column("labelled", justify="right")
        table.add_column("visible", justify="right")
        table.add_column("of instances", justify="right")
        for k in s.keypoints:
            share = f"{100 * k.labelled / s.instances:.0f}%" if s.instances else "-"
            table.add_row(Text(k.name), str(k.labelled), str(k.visible), share)
        console().print(table)
    line(f"    {s.annotated_images} of {s.images} images annotated, {s.instances} instances; {s.guidance}")


def _stats(args) -> int:
    from dataclasses import asdict
    from hoofenv.data.check import check_file
    from hoofenv.errors import HoofenvError

    report = check_file(args.ann)
    if report.stats is None:
        f = report.findings[0]
        raise HoofenvError(f.details[0] if f.details else f.message, causes=f.details[1:], hint=f.hint, code=f.code)
    if args.json:
        _emit({"ok": True, "stats": asdict(report.stats)})
        return 0
    from hoofenv.commands.output import line

    line(f"hoofenv data stats {args.ann}")
    _print_stats(report.stats)
    return 0


def _fix(args) -> int:
    from dataclasses import asdict
    from hoofenv.data.fix import fix_file

    result = fix_file(args.ann, output=args.output, in_place=args.in_place, schema=_schema_arg(args.schema),
                      dry_run=args.dry_run)
    code = 1 if result.unfixable else 0
    if args.json:
        _emit({"ok": not result.unfixable, **asdict(result)})
        return code
    from hoofenv.commands.output import line

    if not result.changes:
        line(f"[✓] nothing to repair in {args.ann}")
    for ch in result.changes:
        ids = ", ".join(str(i) for i in ch.ids[:IDS_SHOWN]) + (", ..." if len(ch.ids) > IDS_SHOWN else "")
        line(f"[~] {ch.code}: {ch.message}" + (f"\n    ids: {ids}" if ch.ids else ""))
    for note in result.unfixable:
        line(f"[!] not repaired: {note}")
    if result.backup:
        line(f"    backup of the file replaced: {result.backup}")
    if result.written:
        line(f"✓ wrote {result.written} ({result.annotations} annotations, {result.images} images)")
        line(f"  next: hoofenv data check {result.written}")
    elif args.dry_run:
        line("dry run: nothing written")
    return code


def _merge(args) -> int:
    from dataclasses import asdict
    from hoofenv.data.merge import merge_files

    report = merge_files(args.anns, args.output, images=args.images, prefer=args.prefer)
    if args.json:
        _emit({"ok": True, **asdict(report)})
        return 0
    from hoofenv.commands.output import line

    for src in report.inputs:
        line(f"[✓] {src.path}: {src.images} images, {src.annotations} annotations")
    for d in report.duplicate_images:
        line(f"[=] duplicate image {d.file_name} ({d.reason}): {d.source} image {d.image_id} "
                  f"= {d.kept_source} image {d.kept_image_id}")
    for cf in report.conflicts:
        line(f"[!] conflict on {cf.file_name}: {cf.kept_source} kept {cf.kept} annotations, "
                  f"{cf.dropped_source} had {cf.dropped} different ones (--prefer {args.prefer})")
    for d in report.duplicate_annotations[:IDS_SHOWN]:
        line(f"[=] duplicate annotation {d['annotation_id']} of {d['source']} on {d['file_name']} "
             f"(identical to merged annotation {d['same_as']})")
    if len(report.duplicate_annotations) > IDS_SHOWN:
        line(f"    ... {len(report.duplicate_annotations) - IDS_SHOWN} more duplicate annotations (--json lists all)")
    c = report.counts
    line(f"images: {c['images_in']} in = {c['images_out']} out + {c['duplicate_images']} duplicates")
    line(f"annotations: {c['annotations_in']} in = {c['annotations_out']} out + "
              f"{c['duplicate_annotations']} duplicates + {c['superseded_annotations']} superseded")
    if report.backup:
        line(f"    backup of the file replaced: {report.backup}")
    line(f"✓ wrote {report.output}")
    line(f"  next: hoofenv data check {report.output}")
    return 0


def _split(args) -> int:
    from dataclasses import asdict
    from hoofenv.data.split import split_file

    if not 0 < args.val < 1:
        raise UsageError(f"--val {args.val} is not a fraction between 0 and 1", hint="hoofenv data split ANN --val 0.2")
    report = split_file(args.ann, val=args.val, seed=args.seed, group_by=args.group_by, output_dir=args.output_dir,
                        names=args.names)
    if args.json:
        _emit({"ok": True, **asdict(report)})
        return 0
    from hoofenv.commands.output import line

    for part in (report.train, report.val):
        line(f"[✓] {part.name}: {part.images} images, {part.annotations} annotations, {part.groups} groups "
             f"-> {part.path}")
    line(f"    seed {report.seed}, group by {report.group_by or 'image'}; no group in both parts")
    line(f"    manifest: {report.manifest} (the pair and the source's sha256; check and train verify it)")
    for b in report.backups:
        line(f"    backup of the file replaced: {b}")
    return 0


def _preview(args) -> int:
    from dataclasses import asdict
    from hoofenv.data.preview import preview_file

    report = preview_file(args.ann, args.images, args.output_dir, limit=args.limit)
    if args.json:
        _emit({"ok": True, **asdict(report)})
        return 0
    from hoofenv.commands.output import line

    line(f"[✓] drew {len(report.pictures)} images -> {report.output_dir}")
    for miss in report.missing[:IDS_SHOWN]:
        line(f"[!] missing image: {miss}")
    for why in report.skipped[:IDS_SHOWN]:
        line(f"[!] not drawn: {why}")
    if len(report.skipped) > IDS_SHOWN:
        line(f"    ... {len(report.skipped) - IDS_SHOWN} more not drawn (--json lists all)")
    line(f"    contact sheet: {report.contact_sheet}")
    return 0


def _schema(args) -> int:
    from hoofenv.data.coco import load_export
    from hoofenv.data.schema import Schema, get_preset, write_metainfo

    schema = get_preset(args.preset) if args.preset else Schema.from_coco(load_export(args.ann), args.category_id)
    path = write_metainfo(schema, args.output)
    if args.json:
        _emit({"ok": True, "path": str(path), "metainfo": schema.to_metainfo()})
        return 0
    from hoofenv.commands.output import line

    line(f"✓ wrote {path}: {len(schema.keypoints)} keypoints ({', '.join(schema.keypoints)}), "
          f"{len(schema.skeleton)} skeleton links, {len(schema.swaps) // 2} flip pairs")
    line(f"  config: metainfo=dict(from_file='{path}')  (train, val and test dataloaders)")
    return 0

