"""Before a run: the env's python, the dataset folder and its data check, `hoofenv verify` of the stack, the
pretrained backbone, and the numbers the user may give as text (batch size)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

from hoofenv.errors import HoofenvError, UsageError
from hoofenv.machine.environment import Environment
from hoofenv.train import config as trainconfig
from hoofenv.train.options import TrainOptions


def stack_python(opts: TrainOptions) -> Path:
    if opts.python:
        path = Path(opts.python).expanduser()
        if not path.exists():
            raise UsageError(f"--python {opts.python} does not exist")
        return _runnable(path.absolute(), f"--python {opts.python}")
    env = Environment.default(opts.env)
    if not env.exists:
        raise HoofenvError(f"no training environment at {env.path}",
                           causes=["hoofenv train runs MMEngine in the env that `hoofenv install` made"],
                           hint="hoofenv install   (or: hoofenv train --env PATH / --python PATH)", code="no-env")
    return _runnable(env.python if env.python.exists() else env.path / "bin" / "python3", f"the env {env.path}")


def _runnable(python: Path, what: str) -> Path:
    """A python that exists but cannot be run fails here, named, not as a PermissionError from subprocess."""
    if os.access(python, os.X_OK):
        return python
    raise HoofenvError(f"{what}: {python} is not executable",
                       causes=["a copied env or a mount with noexec loses the x bit"],
                       hint=f"chmod +x {python.resolve()}   (or re-create the env: `hoofenv install`)",
                       code="env-python")


def data_paths(data: str) -> tuple[Path, Path, Path, Path]:
    root = Path(data).expanduser().resolve()
    ann = root / "annotations"
    train, val, images = ann / "train.json", ann / "val.json", root / "images"
    missing = [str(p) for p in (train, val, images) if not p.exists()]
    if missing:
        raise HoofenvError(f"{root} is not a hoofenv dataset folder", causes=[f"missing: {m}" for m in missing],
                           hint="expected DIR/annotations/{train,val}.json and DIR/images/ "
                                "(hoofenv data import EXPORT.zip -o DIR makes them from a CVAT export)",
                           code="data-layout")
    return root, train, val, images


def data_check(train: Path, val: Path, images: Path):
    """hoofenv data check on both splits; refuses with the findings on errors. Returns the train stats.
    A pair that a `data split` manifest names must be the pair it wrote (hoofenv.data.split.verify_pair)."""
    from hoofenv.data.check import check_file
    from hoofenv.data.split import verify_pair

    verify_pair(train, val)

    errors, stats, missing = [], None, []
    for path in (train, val):
        report = check_file(path, images_dir=images)
        if path == train:
            stats = report.stats
        missing += [f for f in report.findings if f.code == "image-file-missing"]
        for f in report.findings:
            if f.severity == "error":
                errors.append(f"{path.name}: {f.code}: {f.message.format(n=f.count) if '{n}' in f.message else f.message}"
                              f" (fix: {f.hint})")
    if errors:
        hint = f"hoofenv data check {train} --images {images}"
        nested = _pictures_in_subset_folders(images, [d for f in missing for d in f.details])
        if nested:
            errors.append(f"the pictures are there, under {images}/{nested}/: a CVAT export whose annotation "
                          "files were renamed by hand")
            hint = "give hoofenv the export as CVAT wrote it: hoofenv train --data EXPORT.zip (or its folder), " \
                   "or hoofenv data import EXPORT -o DIR"
        raise HoofenvError("the data check found errors; training would crash, drop samples or score wrongly",
                           causes=errors, hint=hint, code="data-check")
    return stats


def _pictures_in_subset_folders(images: Path, missing: list[str]) -> str | None:
    """The subset folder (images/<subset>/, as CVAT exports) that holds the pictures data check could not find."""
    if not missing or not images.is_dir():
        return None
    names = [Path(m).relative_to(images) for m in missing if Path(m).is_relative_to(images)]
    subs = sorted(p for p in images.iterdir() if p.is_dir())
    found = [next((s.name for s in subs if (s / n).is_file()), None) for n in names]
    return "{" + ",".join(sorted(set(found))) + "}" if found and None not in found else None


def verify_preflight(opts: TrainOptions, python: Path, emit: Callable[[dict], None]) -> None:
    """`hoofenv verify` of the env that will train, with the config it will train."""
    if opts.skip_verify:
        return
    from hoofenv.verify.run import verify

    env_dir = python.parent.parent
    emit({"event": "preflight", "what": "verify", "env": str(env_dir)})
    environment = Environment(env_dir)
    plan = None
    if environment.plan_file.exists():
        from hoofenv.stack.plan import Plan

        plan = Plan.load(environment.plan_file).to_dict()
    report = verify(python, env_label=str(env_dir), plan=plan)
    if not report.ok:
        failed = [f"{c.id}: {c.detail}" for c in report.checks if not c.ok and c.required]
        target = f"--python {python}" if opts.python else f"--env {env_dir}"
        raise HoofenvError(f"hoofenv verify failed for {env_dir}", causes=failed[:8],
                           hint=f"hoofenv verify {target}   (or --skip-verify)", code="verify")


def resolve_pretrained(choice: str, size: str, emit: Callable[[dict], None] = lambda e: None) -> str | None:
    """'none' -> None; a path -> that path; 'default' -> the official CSPNeXt file in torch's hub cache,
    downloaded there when absent."""
    if choice == "none":
        return None
    if choice != "default":
        path = Path(choice).expanduser().resolve()
        if not path.is_file():
            raise UsageError(f"--pretrained {choice}: no such file", hint="--pretrained PATH or --pretrained none")
        return str(path)
    url = trainconfig.PRETRAINED_URLS[size]
    cached = trainconfig.pretrained_cache_path(size)
    if cached.is_file():
        return str(cached)
    emit({"event": "notice", "text": f"downloading the pretrained CSPNeXt-{size} backbone to {cached} ..."})
    tmp = cached.with_name(cached.name + ".part")
    try:
        import urllib.request

        cached.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=30) as resp, open(tmp, "wb") as fh:
            shutil.copyfileobj(resp, fh)
        os.replace(tmp, cached)
    except Exception as exc:  # noqa: BLE001 -- any network failure gets the same advice
        tmp.unlink(missing_ok=True)
        raise HoofenvError(
            f"the pretrained backbone could not be downloaded ({url})",
            causes=[f"{type(exc).__name__}: {exc}",
                    f"hoofenv looks for it in torch's hub cache: {cached}"],
            hint=f"download it elsewhere and copy it to {cached}, or pass --pretrained PATH; "
                 "--pretrained none trains from scratch (much lower accuracy on small data sets)",
            code="pretrained-unavailable") from None
    return str(cached)


def parse_batch(value: str) -> int | None:
    if value == "auto":
        return None
    try:
        n = int(value)
    except ValueError:
        raise UsageError(f"--batch-size {value!r}: auto or a positive number") from None
    if n < 1:
        raise UsageError(f"--batch-size {value!r}: auto or a positive number")
    return n


def train_instances(ann_file: Path) -> int:
    """Instances MMPose's top-down dataset yields per epoch: annotations with a visible keypoint."""
    try:
        anns = json.loads(ann_file.read_text()).get("annotations", [])
    except (OSError, ValueError, AttributeError):
        return 1
    return max(1, sum(1 for a in anns if isinstance(a, dict) and any(a.get("keypoints", [])[2::3])))


