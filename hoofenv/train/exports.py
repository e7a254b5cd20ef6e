"""`hoofenv train --data EXPORT...`: CVAT exports (zips or folders, as exported) prepared by `data import` into
WORK_DIR/data before the run; a hoofenv dataset folder passes through unchanged.

The prepared folder belongs to the run: it is made before training starts (never while a run is in the work dir),
reused as is when the exports did not change, and on --resume the exports must be the ones the run started from.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Callable

from hoofenv.errors import HoofenvError
from hoofenv.train.options import TrainOptions


def is_dataset_folder(path: str) -> bool:
    root = Path(path).expanduser()
    return all((root / p).exists() for p in ("annotations/train.json", "annotations/val.json", "images"))


def inputs_of(opts: TrainOptions) -> list[str]:
    return list(opts.data) if isinstance(opts.data, (list, tuple)) else [opts.data]


def prepare(opts: TrainOptions, work_dir: Path, emit: Callable[[dict], None]) -> str:
    """The dataset folder to train on: --data itself, or the exports imported into WORK_DIR/data."""
    from hoofenv.data.cvat_export import is_export
    from hoofenv.data.imports import ImportOptions, import_exports, read_manifest

    inputs = inputs_of(opts)
    if len(inputs) == 1 and is_dataset_folder(inputs[0]):
        return inputs[0]
    neither = [p for p in inputs if not is_export(p)]
    if neither:
        raise HoofenvError(f"{neither[0]} is neither a hoofenv dataset folder nor a CVAT export",
                           causes=["a dataset folder holds annotations/{train,val}.json and images/",
                                   "a CVAT 'COCO Keypoints 1.0' export is a zip, or a folder with "
                                   "annotations/person_keypoints_<subset>.json and images/<subset>/"]
                           + ([f"several --data values must all be exports: {', '.join(neither)}"]
                              if len(inputs) > 1 else []),
                           hint="hoofenv data import EXPORT.zip -o data/hooves, then hoofenv train --data data/hooves",
                           code="data-layout")
    target = work_dir / "data"
    if opts.resume and read_manifest(target) is None:
        raise HoofenvError(f"the run in {work_dir} was not prepared from CVAT exports",
                           hint=f"hoofenv train --resume --work-dir {work_dir} --data {target}", code="no-resume")
    if not opts.resume and (work_dir / "last_checkpoint").exists():
        raise HoofenvError(f"{work_dir} already holds a run",
                           hint="--resume continues it; --work-dir NEW starts another", code="work-dir-used")
    options = ImportOptions(val=opts.val_fraction, seed=opts.split_seed, group_by=opts.group_by, schema=opts.schema)
    report = import_exports(inputs, target, options, require_unchanged=opts.resume)
    emit({"event": "data-import", "report": asdict(report)})
    return str(target)
