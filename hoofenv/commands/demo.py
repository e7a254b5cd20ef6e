"""`hoofenv demo`: a synthetic hoof dataset, then install (if needed), verify, train briefly, predict."""

from __future__ import annotations

import argparse

from hoofenv.commands import options as _common


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo", help="synthetic hoof dataset -> install if needed -> verify -> train -> predict",
        description="Generate a small procedural side-view hoof dataset (CVAT COCO Keypoints 1.0, deterministic by "
                    "seed) into data/demo, then install the stack if the environment is missing, verify it, train "
                    "RTMPose briefly from scratch, predict a few validation pictures and say where they are. "
                    "Exit 0 ok; a failing step stops the demo with its exit code.")
    p.add_argument("--json", action="store_true", help="one JSON summary on stdout (progress goes to stderr)")
    p.add_argument("--generate-only", action="store_true", help="only write the synthetic dataset")
    p.add_argument("--out", metavar="DIR", default=None, type=_common.dir_to_write,
                   help="dataset folder (default data/demo)")
    p.add_argument("--seed", type=_common.count(0, 2**32 - 1), default=0, metavar="N", help="dataset seed (default 0)")
    p.add_argument("--facing", choices=["right", "left", "both"], default="right",
                   help="hoof facing in the synthetic pictures (default right; both needs more training)")
    p.add_argument("--n-train", type=_common.count(1), default=None, metavar="N",
                   help="training pictures (default 240)")
    p.add_argument("--n-val", type=_common.count(1), default=None, metavar="N", help="validation pictures (default 60)")
    p.add_argument("--image-size", type=_common.count(64, 4096), default=256, metavar="PX",
                   help="square picture side, 64 to 4096 (default 256)")
    p.add_argument("--env", metavar="PATH", help="training environment (default .hoofenv/env, or $HOOFENV_ENV)")
    p.add_argument("--epochs", type=_common.count(1), default=None, metavar="N", help="training epochs (default 40)")
    p.add_argument("--batch-size", metavar="auto|N", type=_common.auto_or_count(1),
                   help="passed to hoofenv train (default 8; the demo trains at a 128x128 input)")
    p.add_argument("--skip-verify", action="store_true",
                   help="skip the verify step and train's verify preflight (when verify wrongly fails a working stack)")
    p.add_argument("--work-dir", metavar="DIR", default=None, type=_common.dir_to_write,
                   help="training output (default work_dirs/demo)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from hoofenv.commands import demo_flow as demo

    try:
        result = demo.run(
            out=args.out or demo.DEFAULT_OUT, seed=args.seed,
            n_train=args.n_train or demo.DEFAULT_N_TRAIN, n_val=args.n_val or demo.DEFAULT_N_VAL,
            image_size=(args.image_size, args.image_size), generate_only=args.generate_only, env=args.env,
            epochs=args.epochs or demo.DEFAULT_EPOCHS, work_dir=args.work_dir or demo.DEFAULT_WORK_DIR,
            batch_size=args.batch_size or demo.DEFAULT_BATCH_SIZE, quiet=False, skip_verify=args.skip_verify,
            facing=args.facing,
        )
    except demo.DemoStepFailed as failed:
        if args.json:
            print(json.dumps({**failed.result.to_dict(), "ok": False, "error": failed.error.to_dict()}, indent=2))
        else:
            print(demo.render(failed.result), file=sys.stderr)
            print(failed.error.render(), file=sys.stderr)
        return failed.error.exit_code
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(demo.render(result))
    return 0 if result.ok else 1
