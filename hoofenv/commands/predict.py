"""`hoofenv predict`: keypoints on images with a trained checkpoint, or with an exported model and no torch (--onnx);
COCO results JSON + drawn PNGs, and on request the hoof angles, a CVAT pre-annotation file and a review list."""

from __future__ import annotations

import argparse

from hoofenv.commands import options as _common
from hoofenv.errors import UsageError

SHOWN = 10


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="top-down keypoint inference with a hoofenv checkpoint or an ONNX export",
                       description="Predict keypoints on whole images (one box each) or on the boxes of --bboxes; "
                                   "writes OUT/predictions.json (COCO results) and OUT/NAME.png. "
                                   "`hoofenv predict --onnx MODEL.onnx IMAGES... -o OUT` runs an exported model "
                                   "with onnxruntime, numpy and Pillow only.")
    p.add_argument("ckpt", metavar="CKPT", nargs="?", type=_common.existing_file,
                   help="a checkpoint from hoofenv train (WORK_DIR/best.pth); absent with --onnx")
    p.add_argument("images", metavar="IMAGES", nargs="*", type=_common.existing_file)
    p.add_argument("-o", "--out", required=True, metavar="DIR", type=_common.dir_to_write)
    p.add_argument("--bboxes", metavar="FILE", type=_common.existing_file,
                   help="COCO JSON (images+annotations) or a list of {file_name, bbox: [x, y, w, h]}")
    p.add_argument("--config", metavar="FILE", type=_common.existing_file, help="default: config.py beside CKPT")
    p.add_argument("--device", default="cpu", type=_common.device, help="cpu, cuda or cuda:N")
    p.add_argument("--export", choices=["onnx"], help="also write OUT/model.onnx (as hoofenv export --onnx does)")
    p.add_argument("--env", metavar="PATH")
    p.add_argument("--python", metavar="PATH", type=_common.existing_file,
                   help="the training env's python; with --onnx, a python with numpy, onnxruntime and Pillow")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="load CKPT with weights_only=False: it can run code, for files you trust only")
    g = p.add_argument_group("after training (docs/angles.md, docs/labelling.md)")
    g.add_argument("--onnx", metavar="MODEL.onnx", type=_common.existing_file,
                   help="run this exported model instead of a checkpoint: no torch")
    g.add_argument("--threads", type=_common.count(0), default=0, metavar="N",
                   help="with --onnx: onnxruntime threads (0: its default)")
    g.add_argument("--angles", action="store_true",
                   help="hoof and pastern angles and the HPA class: OUT/angles.csv, OUT/angles.json, drawn")
    g.add_argument("--angle-points", metavar="SPEC",
                   help="which keypoints the angles use: hoof-side, hpa-points, a JSON file {role: name}, or "
                        "toe=NAME,heel=NAME,hoof_top=NAME,pastern_low=NAME,pastern_high=NAME (default: by name)")
    g.add_argument("--cvat", metavar="OUT.zip", type=_common.file_to_write,
                   help="the predictions as a CVAT 'COCO Keypoints 1.0' file (.zip or .json) to import as "
                        "pre-annotations; plus OUT/review.csv")
    g.add_argument("--visible-score", type=_common.number(0.0), default=0.3, metavar="S",
                   help="with --cvat: points scored below S are marked occluded (to check), default 0.3")
    p.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    p.set_defaults(func=run)


def _inputs(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    positional = ([args.ckpt] if args.ckpt else []) + list(args.images)
    if args.onnx:
        if args.export or args.config or args.trust_checkpoint or args.env:
            raise UsageError("--onnx runs an exported model: --export, --config, --env and --trust-checkpoint "
                             "belong to a checkpoint", hint="hoofenv predict --onnx MODEL.onnx IMAGES... -o DIR")
        if not positional:
            raise UsageError("--onnx needs IMAGES", hint="hoofenv predict --onnx MODEL.onnx IMAGES... -o DIR")
        return None, positional
    if len(positional) < 2:
        raise UsageError("give a checkpoint and at least one image",
                         hint="hoofenv predict CKPT IMAGES... -o DIR   (or: --onnx MODEL.onnx IMAGES...)")
    return positional[0], positional[1:]


def _angle_mapping(args: argparse.Namespace):
    from hoofenv.inenv import angles

    if args.angle_points and not args.angles:
        raise UsageError("--angle-points without --angles", hint="add --angles")
    try:
        return angles.parse_spec(args.angle_points)
    except angles.AngleSpecError as exc:
        raise UsageError(f"--angle-points: {exc}", code="angles-unfit") from None


def _predict_torch(args, ckpt: str, images: list[str], angles_arg: str | None, emit):
    from pathlib import Path

    from hoofenv.errors import HoofenvError
    from hoofenv.export.onnx import ensure_onnx
    from hoofenv.train.options import TrainOptions
    from hoofenv.train.predict import PredictRun, predict
    from hoofenv.train.preflight import stack_python

    run = PredictRun(Path(args.out).resolve())
    if args.export:
        ensure_onnx(stack_python(TrainOptions(data="", env=args.env, python=args.python)), emit)
    try:
        predict(ckpt, images, args.out, bboxes=args.bboxes, config=args.config, env=args.env, python=args.python,
                device=args.device, export=args.export, trust_checkpoint=args.trust_checkpoint,
                emit=run.collect(emit), angles=angles_arg)
    except HoofenvError:
        if run.unfit:
            raise UsageError(f"--angle-points: {run.unfit}", code="angles-unfit") from None
        if run.bad_input:
            raise UsageError(run.bad_input) from None
        raise
    return run


def run(args: argparse.Namespace) -> int:
    import json

    from hoofenv.export import outputs
    from hoofenv.export.onnx import predict_onnx

    ckpt, images = _inputs(args)
    mapping = _angle_mapping(args)
    angles_arg = None if not args.angles else ("auto" if mapping is None else json.dumps(mapping))
    emit = (lambda e: None) if args.json else render_event
    if args.onnx:
        result = predict_onnx(args.onnx, images, args.out, bboxes=args.bboxes, python=args.python, angles=angles_arg,
                              threads=args.threads, emit=emit)
    else:
        result = _predict_torch(args, ckpt, images, angles_arg, emit)
    preds = outputs.load_predictions(result)
    summary = {"ok": True, "out": str(result.out), "backend": result.backend, "images": len(result.images),
               "instances": len(preds), "seconds_per_image": result.seconds_per_image}
    if args.angles:
        csv_path, json_path, rows = outputs.write_angles(result, preds, mapping)
        summary["angles"] = {"csv": str(csv_path), "json": str(json_path), "instances": rows}
    if args.cvat:
        summary["cvat"] = str(outputs.write_cvat(result, preds, args.cvat, args.visible_score))
        review, rows = outputs.write_review(result, preds)
        summary["review"] = {"csv": str(review), "first": rows[:SHOWN]}
    if args.json:
        from hoofenv.commands.output import emit_json

        emit_json(summary)
    else:
        render_summary(summary)
    return 0


def render_summary(summary: dict) -> None:
    from hoofenv.commands.output import line

    if "angles" in summary:
        line(f"angles -> {summary['angles']['csv']}, {summary['angles']['json']}")
        for r in summary["angles"]["instances"][:SHOWN]:
            fmt = lambda v: "n/a" if v is None else f"{v:.1f}°"  # noqa: E731
            line(f"  {r['file_name']} #{r['instance']}: hoof {fmt(r['hoof_deg'])}, pastern {fmt(r['pastern_deg'])}, "
                 f"HPA {r['hpa'] or 'n/a'} (ground: {r['ground']})")
        more = len(summary["angles"]["instances"]) - SHOWN
        if more > 0:
            line(f"  ... and {more} more in the CSV")
    if "cvat" in summary:
        line(f"cvat -> {summary['cvat']}  (CVAT: Actions > Upload annotations > COCO Keypoints 1.0; docs/labelling.md)")
        line(f"review -> {summary['review']['csv']}  (lowest keypoint score first)")
        for r in summary["review"]["first"][:5]:
            score = "no instance" if r["min_score"] is None else f"{r['min_score']:.3f} at {r['weakest_keypoint']}"
            line(f"  {r['rank']}. {r['file_name']}: {score}")


def render_event(event: dict) -> None:
    from hoofenv.commands.output import line

    kind = event["event"]
    if kind == "predicted":
        warm = f", {event['seconds_per_image'] * 1000:.0f} ms per image" if event.get("seconds_per_image") else ""
        line(f"predicted {event['instances']} instances in {event['images']} images -> {event['out']} "
             f"({event.get('backend', 'torch')}{warm})")
    elif kind == "onnx":
        n, c, h, w = event["input"]
        line(f"onnx {event['path']} (input {n}x{c}x{h}x{w} normalised RGB crops; outputs SimCC logits; "
             "preprocessing in its metadata)")
    elif kind == "unreadable":
        line(f"unreadable {event['image']}")
    elif kind in ("installing", "installed"):
        line(f"{kind} {event['what']} {'into' if kind == 'installing' else 'in'} {event['into']}", stderr=True)
