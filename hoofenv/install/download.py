"""`hoofenv install --download-to DIR`: every wheel of the plan into a folder, for an air-gapped machine that then
runs `hoofenv install --wheelhouse DIR --offline` with the same plan."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.files import atomic_write_text
from hoofenv.install import mmcv_build
from hoofenv.install.installers import Installer
from hoofenv.install.recipe import Step, constraints_text
from hoofenv.install.runner import Progress, run_steps
from hoofenv.install.staging import base_python
from hoofenv.machine.environment import PLAN_FILE
from hoofenv.stack.plan import Plan


def _mmcv(plan: Plan, mmcv_wheel: str | None) -> tuple[list[str], list[str]]:
    """(files to copy, requirements to download) for mmcv: a built one is copied from the cache."""
    if plan.mmcv.source != "build":
        return [], [plan.requirement("mmcv")]
    if mmcv_wheel:
        return [str(Path(mmcv_wheel).absolute())], []
    cached = mmcv_build.lookup(plan)
    if cached.wheel:
        return [str(cached.wheel)], []
    raise HoofenvError(f"no cached mmcv wheel for {cached.key} to put in the wheelhouse",
                       hint="build it here first: `hoofenv install` (or pass --mmcv-wheel FILE)",
                       code="no-mmcv-wheel")


def steps_for(plan: Plan, installer: Installer, dest: Path, tmp: Path, mmcv_reqs: list[str]) -> list[Step]:
    py, _, _ = base_python(plan, installer)
    dl_env = tmp / "venv"
    pip = Installer("pip", installer.sources)
    dpy = dl_env / "bin" / "python"
    req = plan.requirement
    constraints = tmp / "constraints.txt"
    runtime = [req(n) for n in plan.mmpose_runtime if n != "chumpy"]
    all_reqs = ["pip", req("setuptools"), "wheel", req("torch"), req("torchvision"), req("numpy"), *mmcv_reqs,
                req("mmengine"), req("mmdet"), *runtime, req("opencv-python"), req("openmim")]
    return [
        Step("venv", "a throwaway venv with pip for `pip download`", [py, "-m", "venv", str(dl_env)]),
        Step("download", f"download every wheel of the stack into {dest}",
             pip.download_cmd(dpy, all_reqs, dest, constraints=[constraints], extra_index=plan.indexes.get("torch"),
                              find_links=[plan.indexes["mmcv"]] if plan.indexes.get("mmcv") else [])),
        Step("download-mmpose", "mmpose (--no-deps)",
             pip.download_cmd(dpy, [req("mmpose")], dest, constraints=[constraints], no_deps=True)),
    ]


def download(plan: Plan, installer: Installer, dest: Path, progress: Progress, *, dry_run: bool = False,
             mmcv_wheel: str | None = None) -> dict:
    dest = dest.absolute()
    copies, mmcv_reqs = _mmcv(plan, mmcv_wheel)
    tmp = Path(tempfile.mkdtemp(prefix="hoofenv-dl-"))
    try:
        steps = steps_for(plan, installer, dest, tmp, mmcv_reqs)
        if dry_run:
            return {"ok": True, "dry_run": True, "steps": [s.to_dict() for s in steps]}
        dest.mkdir(parents=True, exist_ok=True)
        (tmp / "constraints.txt").write_text(constraints_text(plan))
        results = run_steps(steps, progress, tmp / "logs", None, "download")
        for m in copies:
            shutil.copy2(m, dest / Path(m).name)
        atomic_write_text(dest / PLAN_FILE, plan.to_json())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = len(list(dest.glob("*.whl")))
    progress.note(f"wheelhouse {dest}: {n} wheels. On the offline machine: "
                  f"`hoofenv install --wheelhouse {dest} --offline`", "ok")
    return {"ok": True, "wheelhouse": str(dest), "wheels": n, "steps": results}
