"""`hoofenv train`: RTMPose on a hoofenv dataset folder with MMEngine's Runner in the managed env."""

from __future__ import annotations

import argparse

from hoofenv.commands import options as _common
from hoofenv.commands.data_import import export_path, fraction


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
        "train", help="train RTMPose on a dataset folder or CVAT exports (zip or folder), or your own config",
        description="Prepare CVAT exports given as --data (data import into WORK_DIR/data), preflight (data check, "
                    "verify), render the bundled config -- or your own full MMPose config (--config) -- with absolute "
                    "paths into the work dir, hold it to `hoofenv config check`, and train with MMEngine's Runner in "
                    "the managed env. Writes best.pth, last.pth, config.py, metrics.json, loss.png, metrics.png and "
                    "report.md. Exit 0 ok, 1 refused or failed.")
    p.add_argument("--data", nargs="+", metavar="DIR|EXPORT", type=export_path,
                   help="a dataset folder (annotations/{train,val}.json, images/), or CVAT 'COCO Keypoints 1.0' "
                        "exports as exported: zips or folders, several oldest first; optional with an own --config")
    p.add_argument("--config", metavar="FILE", type=_common.existing_file,
                   help="your own full MMPose config (checked, rendered, trained as it is), or a template with the "
                        "hoofenv parameter block (default: configs/rtmpose_hoof.py)")
    p.add_argument("--epochs", type=_common.count(1), default=None, metavar="N",
                   help="default 60 (an own config: its max_epochs)")
    p.add_argument("--batch-size", default="auto", metavar="auto|N", type=_common.auto_or_count(1),
                   help="auto: from GPU memory (8 on CPU), halved and retried on CUDA out of memory")
    p.add_argument("--model", dest="model_size", default="auto", choices=["auto", "t", "s", "m"],
                   help="RTMPose size; auto: by GPU memory (<8 GiB t, <16 GiB s, else m; CPU t)")
    p.add_argument("--input-size", type=_size, default=(256, 256), metavar="WxH", help="default 256x256")
    p.add_argument("--workers", default="auto", metavar="auto|N", type=_common.auto_or_count(0),
                   help="data loader workers (auto: cores - 1, max 8; on the CPU 0 up to 2 cores; 0: load in the "
                        "training process)")
    p.add_argument("--val-interval", type=_common.count(1), metavar="N", help="validate and checkpoint every N epochs")
    p.add_argument("--lr", type=_common.number(0), default=None, metavar="LR",
                   help="base learning rate (AdamW); default 4e-3 x sqrt(batch/256), RTMPose's rate scaled to the batch")
    p.add_argument("--stage2-epochs", type=_common.count(0), default=None, metavar="N",
                   help="the last N epochs train with RTMPose's milder stage-2 augmentation (rotation factor 30 not 60 deg, "
                        "scale 0.75-1.25, no shift or colour jitter); N >= --epochs: from the first epoch (the demo); "
                        "default 7%% of the epochs, as RTMPose's 30 of 420 (the bundled template only)")
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
    g.add_argument("--trust-config", action="store_true",
                   help="with --resume: run the work dir's config.py and metainfo.py although hoofenv has no matching "
                        "record of writing them (edited by you, or from an earlier hoofenv): they run as Python")
    g.add_argument("--seed", type=_common.count(0, SEED_MAX), default=None, metavar="N",
                   help="default 21 (an own config: its randomness.seed)")
    g.add_argument("--deterministic", action="store_true", help="deterministic algorithms (slower)")
    g.add_argument("--stop-after-epoch", type=_common.count(1), help=argparse.SUPPRESS)
    d = p.add_argument_group("hardware")
    d.add_argument("--amp", action="store_true", help="mixed precision (CUDA GPUs with tensor cores benefit)")
    _add_scaling(p)
    x = p.add_argument_group("CVAT exports as --data (see hoofenv data import)")
    x.add_argument("--val-fraction", type=fraction, default=0.2, metavar="F",
                   help="validation share when the export has one subset (default 0.2)")
    x.add_argument("--group-by", metavar="KEY", help="keep groups together in that split: dir, a field, re:PATTERN")
    x.add_argument("--split-seed", type=_common.count(0, SEED_MAX), default=0, metavar="N",
                   help="seed of that split (default 0)")
    x.add_argument("--schema", metavar="PRESET", help="fill lost keypoint names: hoof-side or four-hooves")
    p.add_argument("--skip-verify", action="store_true",
                   help="skip the env preflights: `hoofenv verify`, and the config check of hoofenv's own template "
                        "(an own --config is always checked)")
    p.add_argument("-v", "--verbose", action="store_true", help="show MMEngine's full log")
    p.set_defaults(func=run)


def _add_scaling(p) -> None:
    """Processes, nodes, clusters and tracking: one group (docs/scaling.md)."""
    s = p.add_argument_group("scaling out (docs/scaling.md)")
    s.add_argument("--nproc", type=_common.count(1), metavar="N",
                   help="processes per node through torchrun (nccl with CUDA, gloo on the CPU); the batch size is "
                        "per process, the lr is scaled to the global batch")
    s.add_argument("--gpus", type=_common.count(1), metavar="N", help="--nproc N, one GPU each (with --slurm: GPUs per node)")
    s.add_argument("--nnodes", default="1", type=_nnodes_text, metavar="N|MIN:MAX", help="nodes (MIN:MAX: elastic, needs --rdzv)")
    s.add_argument("--node-rank", type=_common.count(0), default=0, metavar="N", help="this node's rank (static rendezvous)")
    s.add_argument("--master-addr", default="127.0.0.1", type=_common.host, metavar="HOST", help="node 0's address (static rendezvous)")
    s.add_argument("--master-port", type=_common.count(1, 65535), default=None, metavar="PORT",
                   help="node 0's port (default: a free port on one node, 29500 on several)")
    s.add_argument("--rdzv", metavar="HOST[:PORT]", help="torchrun's c10d rendezvous at HOST (elastic multi-node)")
    s.add_argument("--rdzv-id", metavar="ID", help="the run's rendezvous id (default: from the work dir)")
    s.add_argument("--max-restarts", type=_common.count(0), default=0, metavar="N",
                   help="torchrun restarts of the workers; a restart resumes from the last checkpoint")
    s.add_argument("--slurm", action="store_true",
                   help="write WORK_DIR/slurm_train.sh (srun + torchrun per node) instead of training here")
    s.add_argument("--submit", action="store_true", help="with --slurm: submit it with sbatch")
    s.add_argument("--slurm-partition", metavar="NAME")
    s.add_argument("--slurm-time", metavar="D-HH:MM:SS")
    s.add_argument("--sbatch-arg", dest="sbatch_args", action="append", default=[], metavar="ARG",
                   help="an extra #SBATCH line, e.g. --sbatch-arg=--account=horses (repeatable)")
    s.add_argument("--track", action="append", default=[], choices=["tensorboard", "mlflow", "wandb"],
                   help="experiment tracking through MMEngine's vis backend (repeatable); installed on demand")
    s.add_argument("--tracking-uri", metavar="URI", help="MLflow store or server (default: sqlite:///WORK_DIR/mlflow.db, local)")


def _nnodes_text(value: str) -> str:
    """N, or MIN:MAX (elastic), with 1 <= MIN <= MAX."""
    parts = value.split(":")
    if len(parts) in (1, 2) and all(p.isdigit() and int(p) >= 1 for p in parts) and int(parts[0]) <= int(parts[-1]):
        return value
    raise argparse.ArgumentTypeError(f"{value!r}: a number of nodes N >= 1, or MIN:MAX for an elastic run")


def _nnodes(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def run(args: argparse.Namespace) -> int:
    from hoofenv.errors import UsageError
    from hoofenv.train.options import TrainOptions
    from hoofenv.train.run import train

    nnodes = _nnodes(args.nnodes)
    if isinstance(nnodes, int) and args.node_rank >= nnodes:
        raise UsageError(f"--node-rank {args.node_rank} with --nnodes {nnodes}: ranks run from 0 to "
                         f"{nnodes - 1}", hint="give each node its own --node-rank below --nnodes")

    data = (args.data[0] if len(args.data) == 1 else args.data) if args.data else None
    opts = TrainOptions(
        data=data, work_dir=args.work_dir, config=args.config, batch_size=args.batch_size,
        epochs=args.epochs if args.epochs is not None else 60, seed=args.seed if args.seed is not None else 21,
        explicit=tuple(n for n in ("epochs", "seed") if getattr(args, n) is not None),
        val_fraction=args.val_fraction, group_by=args.group_by, split_seed=args.split_seed, schema=args.schema,
        model_size=args.model_size, input_size=args.input_size, workers=args.workers,
        val_interval=args.val_interval, env=args.env, python=args.python, resume=args.resume,
        from_ckpt=args.from_ckpt, pretrained=args.pretrained, trust_checkpoint=args.trust_checkpoint,
        trust_config=args.trust_config,
        gpus=args.gpus, nnodes=_nnodes(args.nnodes), node_rank=args.node_rank, master_addr=args.master_addr,
        master_port=args.master_port, amp=args.amp, skip_verify=args.skip_verify,
        deterministic=args.deterministic, verbose=args.verbose, stop_after_epoch=args.stop_after_epoch, lr=args.lr,
        stage2_epochs=args.stage2_epochs,
        nproc=args.nproc, rdzv=args.rdzv, rdzv_id=args.rdzv_id, max_restarts=args.max_restarts, slurm=args.slurm,
        submit=args.submit, slurm_partition=args.slurm_partition, slurm_time=args.slurm_time,
        sbatch_args=args.sbatch_args, track=args.track, tracking_uri=args.tracking_uri,
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
                        f"(starting at epoch {e['start_epoch']})" + _world(e)),
    "tracking-install": lambda e: f"installing {' '.join(e['packages'])} into {e['env']} (--track)",
    "slurm": lambda e: _slurm_text(e),
    "ranks": lambda e: _ranks_text(e["ranks"]),
    "epoch": lambda e: (f"epoch {e['epoch']}/{e['max_epochs']}  loss {e['loss']}  {e['seconds']:.1f} s/epoch  "
                        f"{e['s_per_iter']} s/iter  ETA {_hms(e['eta_seconds'])}"),
    "val": lambda e: f"val epoch {e['epoch']}  {_metrics(e['metrics'])}",
    "stopped": lambda e: f"stopped after epoch {e['epoch']} (--stop-after-epoch)",
    "oom": lambda e: f"oom batch_size={e['batch_size']}",
    "retry": lambda e: f"CUDA out of memory at batch {e['batch']}; retrying with batch {e['new_batch']}",
    "checkpoint-refused": lambda e: f"checkpoint refused by torch's weights_only load: {e.get('path')}",
    "user-config": lambda e: (f"config: {e['path']}  (rendered from {e['source']}"
                              + (f"; set {', '.join(f'{k}={v!r}' for k, v in e['overrides'].items())}"
                                 if e["overrides"] else "") + ")"),
    "not-a-checkpoint": lambda e: f"not a checkpoint: {e.get('path')}",
    "done": lambda e: f"done: {e['work_dir']}",
    "report": lambda e: f"report: {e['path']}",
}


def _world(e: dict) -> str:
    if (e.get("world_size") or 1) <= 1:
        return ""
    return (f" on {e['world_size']} processes ({e.get('backend')}): batch {e['batch_per_process']} per process, "
            f"global batch {e['global_batch']}")


def _ranks_text(ranks: list[dict]) -> str:
    digests = {r.get("weights_sha256") for r in ranks}
    state = "identical" if len(digests) == 1 else f"DIFFERENT on {len(digests)} of them"
    return f"ranks: {len(ranks)} finished at iteration {max(r.get('iter', 0) for r in ranks)}; final weights {state}"


def _slurm_text(e: dict) -> str:
    head = f"slurm: {e['script']}  ({e['nodes']} node(s) x {e['procs']} process(es))"
    if e.get("job"):
        return f"{head}\nsubmitted: job {e['job']} (log: slurm-{e['job']}.out in the work dir)"
    if e["submit"] and not e["sbatch"]:
        return f"{head}\nsbatch is not on this machine: on the cluster's login node run  sbatch {e['script']}"
    return f"{head}\nsubmit it with  sbatch {e['script']}"


def render_event(event: dict, verbose: bool) -> None:
    """One progress event of `hoofenv train` (the library's and the runner's) as a line on stdout."""
    from hoofenv.commands.output import line
    from hoofenv.train.launch import HOOK_PRIORITY_NOTE

    kind = event["event"]
    if kind == "log":
        line(event["line"])
    elif kind == "hook-note":
        line(HOOK_PRIORITY_NOTE if verbose else HOOK_PRIORITY_SHORT)
    elif kind == "data-import":
        from hoofenv.commands import data_import

        data_import.render(event["report"])
    elif kind == "config-check":
        _render_check(event)
    elif kind in TEXT:
        line(TEXT[kind](event))


def _render_check(event: dict) -> None:
    """The config check before training: errors stop the run (and are rendered as its error); here the rest."""
    from hoofenv.commands.output import line

    findings = [f for f in event["findings"] if f["severity"] != "error"]
    counts = {s: sum(1 for f in findings if f["severity"] == s) for s in ("warning", "info")}
    line(f"config check: {'ok' if event['ok'] else 'errors'}, {counts['warning']} warnings, {counts['info']} notes")
    for f in findings:
        if f["severity"] == "warning":
            line(f"  [!] {f['code']}: {f['key']}: {f['message']}")
