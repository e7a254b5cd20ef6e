"""`hoofenv predict`: keypoints on images with a trained checkpoint (COCO results JSON + drawn PNGs)."""

from __future__ import annotations

import argparse

from hoofenv.commands import options as _common


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="top-down keypoint inference with a hoofenv checkpoint",
                       description="Predict keypoints on whole images (one box each) or on the boxes of --bboxes; "
                                   "writes OUT/predictions.json (COCO results) and OUT/NAME.png.")
    p.add_argument("ckpt", metavar="CKPT", type=_common.existing_file,
                   help="a checkpoint from hoofenv train (WORK_DIR/best.pth)")
    p.add_argument("images", metavar="IMAGES", nargs="+", type=_common.existing_file)
    p.add_argument("-o", "--out", required=True, metavar="DIR", type=_common.dir_to_write)
    p.add_argument("--bboxes", metavar="FILE", type=_common.existing_file,
                   help="COCO JSON (images+annotations) or a list of "
                                                    "{file_name, bbox: [x, y, w, h]}")
    p.add_argument("--config", metavar="FILE", type=_common.existing_file, help="default: config.py beside CKPT")
    p.add_argument("--device", default="cpu", type=_common.device, help="cpu, cuda or cuda:N")
    p.add_argument("--export", choices=["onnx"], help="also write OUT/model.onnx through torch.onnx")
    p.add_argument("--env", metavar="PATH")
    p.add_argument("--python", metavar="PATH", type=_common.existing_file)
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="load CKPT with weights_only=False: it can run code, for files you trust only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hoofenv.train.predict import predict

    predict(args.ckpt, args.images, args.out, bboxes=args.bboxes, config=args.config, env=args.env,
            python=args.python, device=args.device, export=args.export, trust_checkpoint=args.trust_checkpoint,
            emit=render_event)
    return 0


def render_event(event: dict) -> None:
    from hoofenv.commands.output import line

    kind = event["event"]
    if kind == "predicted":
        line(f"predicted {event['instances']} instances in {event['images']} images -> {event['out']}")
    elif kind == "onnx":
        n, c, h, w = event["input"]
        line(f"onnx {event['path']} (input {n}x{c}x{h}x{w} normalised BGR->RGB; outputs SimCC logits)")
    elif kind == "unreadable":
        line(f"unreadable {event['image']}")
