"""`hoofenv export`: a trained checkpoint as an ONNX model that `hoofenv predict --onnx` runs without torch."""

from __future__ import annotations

import argparse

from hoofenv.commands import options as _common


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write a checkpoint as ONNX (runs later without torch or mmcv)",
                       description="Export a hoofenv checkpoint to ONNX with its metadata (keypoints, skeleton, "
                                   "input size, normalisation, box padding), for `hoofenv predict --onnx`. Runs in "
                                   "the training env; installs the pinned `onnx` package there when it is missing.")
    p.add_argument("ckpt", metavar="CKPT", type=_common.existing_file,
                   help="a checkpoint from hoofenv train (WORK_DIR/best.pth)")
    p.add_argument("--onnx", metavar="MODEL.onnx", required=True, type=_common.file_to_write,
                   help="where to write the model")
    p.add_argument("--config", metavar="FILE", type=_common.existing_file, help="default: config.py beside CKPT")
    p.add_argument("--env", metavar="PATH")
    p.add_argument("--python", metavar="PATH", type=_common.existing_file, help="the training env's python")
    p.add_argument("--no-install", action="store_true", help="refuse instead of installing onnx into the env")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="load CKPT with weights_only=False: it can run code, for files you trust only")
    p.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hoofenv.commands.output import emit_json, line
    from hoofenv.export.onnx import export

    events: list[dict] = []

    def on_event(event: dict) -> None:
        events.append(event)
        if not args.json:
            render_event(event)

    path = export(args.ckpt, args.onnx, config=args.config, env=args.env, python=args.python,
                  trust_checkpoint=args.trust_checkpoint, install=not args.no_install, emit=on_event)
    done = next((e for e in events if e["event"] == "onnx"), {})
    if args.json:
        emit_json({"ok": True, "onnx": str(path), "bytes": path.stat().st_size, "input": done.get("input"),
                   "keypoints": done.get("keypoints"), "installed": [e["what"] for e in events
                                                                      if e["event"] == "installed"]})
    else:
        line(f"run it without torch: hoofenv predict --onnx {path} IMAGES... -o DIR [--angles]")
    return 0


def render_event(event: dict) -> None:
    from hoofenv.commands.output import line

    kind = event["event"]
    if kind == "installing":
        line(f"installing {event['what']} into {event['into']} ...", stderr=True)
    elif kind == "installed":
        line(f"installed {event['what']}", stderr=True)
    elif kind == "onnx":
        n, c, h, w = event["input"]
        line(f"onnx {event['path']} ({event['bytes'] / 1e6:.1f} MB; input {n}x{c}x{h}x{w}, keypoints "
             f"{', '.join(event['keypoints'])}; preprocessing in its metadata)")
