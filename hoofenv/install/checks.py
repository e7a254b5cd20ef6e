"""Checks an install makes before and after its steps: is there anything to do, is there room, did it work."""

from __future__ import annotations

import shutil
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.inenv.protocol import OPENCV_FLAVOURS
from hoofenv.install import lock as lockmod
from hoofenv.install.recipe import expected_versions
from hoofenv.machine.environment import Environment, canonical
from hoofenv.stack.plan import Plan


def _strip_local(v: str) -> str:
    return v.split("+")[0]


def env_is_good(env: Path, plan: Plan) -> list[str]:
    """What is wrong with `env` for `plan` (empty: nothing, a re-run has nothing to do)."""
    problems: list[str] = []
    if not Environment(env).exists:
        return [f"{env} has no python"]
    pf = Environment(env).plan_file
    if not pf.exists():
        return [f"{pf} is missing (not a finished hoofenv install)"]
    try:
        if lockmod.stack_of(Plan.load(pf)) != lockmod.stack_of(plan):
            problems.append(f"{pf} records another plan")
    except HoofenvError:  # damaged or hand-edited: not a finished install of this plan
        problems.append(f"{pf} is unreadable")
    return problems + package_problems(env, plan)


def package_problems(env: Path, plan: Plan) -> list[str]:
    """The packages of `env` against the plan: versions, one opencv flavour, no chumpy."""
    problems: list[str] = []
    have = Environment(env).installed()
    for name, version in expected_versions(plan).items():
        got = have.get(canonical(name))
        if got is None:
            problems.append(f"{name} is not installed")
        elif _strip_local(got) != _strip_local(version):
            problems.append(f"{name} {got} installed, the plan says {version}")
    flavours = [f for f in OPENCV_FLAVOURS if f in have]
    if len(flavours) > 1:
        problems.append("more than one opencv flavour: " + ", ".join(flavours))
    if "chumpy" in have:
        problems.append("chumpy is installed (it never imports on Python >= 3.11)")
    return problems


def check_disk(paths: list[Path], need_gib: float) -> None:
    for path in paths:
        probe = path
        while not probe.exists():
            probe = probe.parent
        free = shutil.disk_usage(probe).free / 2**30
        if free < need_gib:
            raise HoofenvError(f"not enough free disk at {probe}: {free:.1f} GiB free, the install needs about "
                               f"{need_gib:.1f} GiB", ["nothing was changed"],
                               hint="free space (`du -sh ~/.cache/uv ~/.cache/pip`), or install elsewhere: "
                                    "`hoofenv install --env /bigdisk/hoof-env`", code="disk-full")


def needed_gib(plan: Plan, building: bool) -> float:
    base = 3.0 if plan.cuda == "cpu" else 9.0
    return base + (2.0 if building else 0.0)
