"""`hoofenv train --config FILE` with a full MMPose config of the user's own (no hoofenv parameter block), and the
config check every run gets.

An own config is checked first (`hoofenv config check`, with --data substituted), then rendered -- inside the env,
by MMEngine's Config, so `_base_` chains are flattened -- into WORK_DIR/config.py with absolute paths, --data in
every loader and evaluator, and the flags the user gave explicitly (--epochs, --batch-size N, --workers N,
--val-interval, --lr, --amp, --seed, --deterministic, --pretrained PATH|none). Everything else stays the config's own:
its model, schedule, hooks and batch size (so no automatic batch halving). The user's file is only read.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from hoofenv.errors import HoofenvError
from hoofenv.files import atomic_write_text
from hoofenv.train import config as trainconfig
from hoofenv.train.options import TrainOptions
from hoofenv.verify.config_check import ConfigReport, Job, check_configs

Emit = Callable[[dict], None]


def is_own_config(path: str | None) -> bool:
    """A config without the hoofenv parameter block: the user's own, trained as it is."""
    if not path:
        return False
    p = Path(path).expanduser()
    if not p.is_file():
        raise HoofenvError(f"--config {path}: no such file", hint="hoofenv train --config path/to/config.py",
                           code="usage", exit_code=2)
    return trainconfig.BEGIN not in p.read_text(errors="replace")


def overrides(opts: TrainOptions, batch: int | None, pretrained: str | None) -> dict:
    """The flags given explicitly, as MMEngine dotted keys (applied only where the config has the parent)."""
    out: dict = {}
    if "epochs" in opts.explicit:
        out["train_cfg.max_epochs"] = int(opts.epochs)
    if batch:
        out["train_dataloader.batch_size"] = int(batch)
    if opts.workers != "auto":
        for split in ("train", "val", "test"):
            out[f"{split}_dataloader.num_workers"] = int(opts.workers)
            if int(opts.workers) == 0:
                out[f"{split}_dataloader.persistent_workers"] = False
    if opts.val_interval:
        out["train_cfg.val_interval"] = int(opts.val_interval)
    if opts.lr is not None:
        out["optim_wrapper.optimizer.lr"] = float(opts.lr)
    if opts.amp:
        out["optim_wrapper.type"] = "AmpOptimWrapper"
    if "seed" in opts.explicit:
        out["randomness.seed"] = int(opts.seed)
    if opts.deterministic:
        out["randomness.deterministic"] = True
    if opts.pretrained == "none":
        out["model.backbone.init_cfg"] = None
    elif pretrained:
        out["model.backbone.init_cfg"] = dict(type="Pretrained", prefix="backbone.", checkpoint=pretrained)
    return out


def refuse_on_errors(report: ConfigReport, command: str) -> None:
    if report.ok:
        return
    causes = [f"{f.code}: {f.key}: {f.message} -- fix: {f.hint}" for f in report.errors[:12]]
    raise HoofenvError(f"the config check found {len(report.errors)} error(s) in {report.config}; nothing was trained",
                       causes=causes, hint=command, code="config-check")


def emit_check(report: ConfigReport, emit: Emit) -> None:
    emit({"event": "config-check", "config": report.config, "ok": report.ok,
          "findings": [asdict(f) for f in report.findings]})


def render(opts: TrainOptions, python: Path, config_out: Path, data_root: Path | None, batch: int | None,
           pretrained: str | None, emit: Emit) -> dict:
    """Check the user's config as it will train, and write the rendered copy to CONFIG_OUT; returns the overrides."""
    source = str(Path(opts.config).expanduser().absolute())
    tmp = config_out.with_name(f".{config_out.name}.rendering.py")
    wanted = overrides(opts, batch, pretrained)
    job = Job(source, data=str(data_root) if data_root else None, overrides=wanted, absolute=True,
              render_to=str(tmp), training=True)
    try:
        report = check_configs(python, [job])[0]
        emit_check(report, emit)
        refuse_on_errors(report, f"hoofenv config check {opts.config}"
                         + (f" --data {data_root}" if data_root else ""))
        header = (f"# Rendered by hoofenv train on {time.strftime('%Y-%m-%d %H:%M:%S')} from\n#   {source}\n"
                  "# (unchanged): _base_ flattened, paths absolute, --data and explicit flags applied.\n")
        atomic_write_text(config_out, header + tmp.read_text())
    finally:
        tmp.unlink(missing_ok=True)
    emit({"event": "user-config", "path": str(config_out), "source": source, "overrides": wanted})
    return wanted


def check_rendered(python: Path, config: Path, emit: Emit) -> ConfigReport:
    """hoofenv's own rendered template held to the same check (preflight)."""
    report = check_configs(python, [Job(str(config), training=True)])[0]
    emit_check(report, emit)
    refuse_on_errors(report, f"hoofenv config check {config}")
    return report
