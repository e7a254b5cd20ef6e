"""`hoofenv train`: RTMPose on a hoofenv dataset folder with MMEngine's Runner in the managed env."""

from __future__ import annotations

import argparse

from hoofenv.commands import options as _common


SEED_MAX = 2**32 - 1  # numpy's seeds are 32-bit


def _size(value: str) -> tuple[int, int]:
    try:
        w, _, h = value.lower().partition("x")
        out = (int(w), int(h or w))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: WxH, e.g. 256x256") from None
    if out[0] % 32 or out[1] % 32 or min(out) < 32:
        raise argparse.ArgumentTypeError(f"{value!r}: width and height must be multiples of 32 (CSPNeXt stride)")
    if max(out) > 4096:
        raise argparse.ArgumentTypeError(f"{value!r}: at most 4096x4096 (RTMPose trains at 256x256 to 384x288)")
    return out


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train", help="train RTMPose on DIR/annotations/{train,val}.json + DIR/images",
        description="Preflight (verify, data check), render the bundled config with absolute paths into the work "
                    "dir and train with MMEngine's Runner in the managed env. Writes best.pth, last.pth, config.py, "
                    "metrics.json, loss.png, metrics.png and report.md. Exit 0 ok, 1 refused or failed.")
    p.add_argument("--data", required=True, metavar="DIR", type=_common.existing_dir,
                   help="dataset folder: annotations/{train,val}.json, images/")
    p.add_argument("--config", metavar="FILE", type=_common.existing_file,
                   help="own template with the hoofenv parameter block "
                                                    "(default: configs/rtmpose_hoof.py)")
    p.add_argument("--epochs", type=_common.count(1), default=60, metavar="N")
    p.add_argument("--batch-size", default="auto", metavar="auto|N", type=_common.auto_or_count(1),
                   help="auto: from GPU memory (8 on CPU), halved and retried on CUDA out of memory")
    p.add_argument("--model", dest="model_size", default="auto", choices=["auto", "t", "s", "m"],
                   help="RTMPose size; auto: by GPU memory (<8 GiB t, <16 GiB s, else m; CPU t)")
    p.add_argument("--input-size", type=_size, default=(256, 256), metavar="WxH", help="default 256x256")
    p.add_argument("--workers", default="auto", metavar="auto|N", type=_common.auto_or_count(0),
                   help="data loader workers (auto: cores - 1, max 8; 0: load in the training process)")
    p.add_argument("--val-interval", type=_common.count(1), metavar="N", help="validate and checkpoint every N epochs")
    p.add_argument("--lr", type=_common.number(0), default=None, metavar="LR",
                   help="base learning rate (AdamW); default 4e-3 x sqrt(batch/256), RTMPose's rate scaled to the batch")
    p.add_argument("--work-dir", metavar="DIR", type=_common.dir_to_write, help="default work_dirs/hoof_rtmpose-SIZE")
    p.add_argument("--env", metavar="PATH", help="the managed env (default $HOOFENV_ENV or .hoofenv/env)")
    p.add_argument("--python", metavar="PATH", type=_common.existing_file,
                   help="python of a training stack (instead of --env)")
    g = p.add_argument_group("runs and checkpoints")
    g.add_argument("--resume", action="store_true", help="continue the work dir's last run exactly")
    g.add_argument("--from", dest="from_ckpt", metavar="CKPT",
                   help="start a new run from these weights (incremental training after adding annotations)")
    g.add_argument("--pretrained", default="default", metavar="PATH|none",
                   help="backbone: default = the official CSPNeXt checkpoint (torch hub cache), a file, or none")
    g.add_argument("--trust-checkpoint", action="store_true",
                   help="load the --from/--pretrained file (with --resume: the work dir's last checkpoint) with "
                        "weights_only=False: it can run code, for files you trust only")
    g.add_argument("--seed", type=_common.count(0, SEED_MAX), default=21, metavar="N")
    g.add_argument("--deterministic", action="store_true", help="deterministic algorithms (slower)")
    g.add_argument("--stop-after-epoch", type=_common.count(1), help=argparse.SUPPRESS)
    d = p.add_argument_group("hardware")
    d.add_argument("--gpus", type=_common.count(1), default=1, metavar="N",
                   help="GPUs per node; >1 launches through torchrun")
    d.add_argument("--nnodes", type=_common.count(1), default=1, metavar="N")
    d.add_argument("--node-rank", type=_common.count(0), default=0, metavar="N", help="0 to --nnodes - 1")
    d.add_argument("--master-addr", default="127.0.0.1", type=_common.host, metavar="HOST")
    d.add_argument("--master-port", type=_common.count(1, 65535), default=29500, metavar="PORT")
    d.add_argument("--amp", action="store_true", help="mixed precision (CUDA GPUs with tensor cores benefit)")
    p.add_argument("--skip-verify", action="store_true", help="skip the `hoofenv verify` preflight")
    p.add_argument("-v", "--verbose", action="store_true", help="show MMEngine's full log")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hoofenv.errors import UsageError
    from hoofenv.train.options import TrainOptions
    from hoofenv.train.run import train

    if args.node_rank >= args.nnodes:
        raise UsageError(f"--node-rank {args.node_rank} with --nnodes {args.nnodes}: ranks run from 0 to "
                         f"{args.nnodes - 1}", hint="give each node its own --node-rank below --nnodes")

    opts = TrainOptions(
        data=args.data, work_dir=args.work_dir, config=args.config, epochs=args.epochs, batch_size=args.batch_size,
        model_size=args.model_size, input_size=args.input_size, workers=args.workers,
        val_interval=args.val_interval, env=args.env, python=args.python, resume=args.resume,
        from_ckpt=args.from_ckpt, pretrained=args.pretrained, trust_checkpoint=args.trust_checkpoint,
        gpus=args.gpus, nnodes=args.nnodes, node_rank=args.node_rank, master_addr=args.master_addr,
        master_port=args.master_port, amp=args.amp, skip_verify=args.skip_verify, seed=args.seed,
        deterministic=args.deterministic, verbose=args.verbose, stop_after_epoch=args.stop_after_epoch, lr=args.lr,
    )
    train(opts, lambda event: render_event(event, args.verbose))
    return 0


HOOK_PRIORITY_SHORT = (
    "note: MMEngine's log (train.log) lists hooks with priorities VERY_HIGH ... VERY_LOW: that is the order in "
    "which they run at each stage, not their importance (docs/train.md)."
)


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _metrics(metrics: dict) -> str:
    text = "  ".join(f"{k} {float(v):.4f}" for k, v in metrics.items() if k in ("coco/AP", "coco/AP .5", "PCK"))
    degrees = [f"{name} {metrics[f'angle/{name}_mae']:.1f}°" for name in ("hoof", "pastern")
               if f"angle/{name}_mae" in metrics]
    return text + (f"  angle error {', '.join(degrees)}" if degrees else "")


TEXT = {
    "preflight": lambda e: "preflight: hoofenv verify ...",
    "notice": lambda e: f"notice: {e['text']}",
    "config": lambda e: (f"config: {e['path']}  (RTMPose-{e['size']}, {e['keypoints']} keypoints, input "
                         f"{e['input_size'][0]}x{e['input_size'][1]}, batch {e['batch']}, workers {e['workers']}, "
                         f"flip {'on' if e['flip'] else 'off (no swap pairs)'}, "
                         f"pretrained {e['pretrained'] or 'none (from scratch)'})"),
    "start": lambda e: (f"training {e['max_epochs']} epochs x {e['iterations']} iterations "
                        f"(starting at epoch {e['start_epoch']})"),
    "epoch": lambda e: (f"epoch {e['epoch']}/{e['max_epochs']}  loss {e['loss']}  {e['seconds']:.1f} s/epoch  "
                        f"{e['s_per_iter']} s/iter  ETA {_hms(e['eta_seconds'])}"),
    "val": lambda e: f"val epoch {e['epoch']}  {_metrics(e['metrics'])}",
    "stopped": lambda e: f"stopped after epoch {e['epoch']} (--stop-after-epoch)",
    "oom": lambda e: f"oom batch_size={e['batch_size']}",
    "retry": lambda e: f"CUDA out of memory at batch {e['batch']}; retrying with batch {e['new_batch']}",
    "checkpoint-refused": lambda e: f"checkpoint refused by torch's weights_only load: {e.get('path')}",
    "not-a-checkpoint": lambda e: f"not a checkpoint: {e.get('path')}",
    "done": lambda e: f"done: {e['work_dir']}",
    "report": lambda e: f"report: {e['path']}",
}


def render_event(event: dict, verbose: bool) -> None:
    """One progress event of `hoofenv train` (the library's and the runner's) as a line on stdout."""
    from hoofenv.commands.output import line
    from hoofenv.train.launch import HOOK_PRIORITY_NOTE

    kind = event["event"]
    if kind == "log":
        line(event["line"])
    elif kind == "hook-note":
        line(HOOK_PRIORITY_NOTE if verbose else HOOK_PRIORITY_SHORT)
    elif kind in TEXT:
        line(TEXT[kind](event))
