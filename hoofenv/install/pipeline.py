"""`hoofenv install`: a plan -> a working env, staged and switched so that a failure never breaks a working one
(staging.py says how). `install()` refuses an env path hoofenv may not touch (machine/ownership.py) before any
change, then holds the env's install lock; the sections of `_install()`: 1. nothing to do?  2. where it goes, and
what earlier installs left  3. where mmcv comes from  4. clear stale stages, room, mark the stage  5. the steps
6. one opencv flavour, no chumpy  7. record, lock, switch."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.files import atomic_write_text
from hoofenv.inenv.protocol import OPENCV_FLAVOURS
from hoofenv.install import lock as lockmod
from hoofenv.install import mmcv_build
from hoofenv.install import recipe
from hoofenv.install.checks import check_disk, env_is_good, needed_gib, package_problems
from hoofenv.install.download import download
from hoofenv.install.installers import Installer
from hoofenv.install.recipe import Step
from hoofenv.install.runner import FAULT_ENV, Progress, read_state, run_steps
from hoofenv.install.sources import Sources
from hoofenv.install.staging import (STATE, base_python, checked_env, choose_stage, claim, clear_half_venv,
                                     current_env, install_lock, remove_previous, stack_id, stage_root, stale, sweep,
                                     switch)
from hoofenv.machine.environment import Environment
from hoofenv.machine.ownership import LOGS_DIR, PIP_CONF_HEADER
from hoofenv.paths import cache_root
from hoofenv.stack.plan import Plan

PIP_CONF = (PIP_CONF_HEADER + ": pip (and `mim install`, which runs pip) in this env keeps the plan's pins\n"
            "[global]\nconstraint = {constraints}\n")


@dataclass
class Options:
    env: str | None = None
    current: bool = False
    installer: str | None = None
    sources: Sources = field(default_factory=Sources)
    lock_path: Path = Path("hoofenv.lock")
    locked: bool = False
    dry_run: bool = False
    download_to: str | None = None
    mmcv_wheel: str | None = None
    min_free_gib: float | None = None


@dataclass
class Target:
    """Where this install goes: the env path, what it points at now, the stage, its files."""

    env: Path
    live: Path | None
    stage: Path
    current: bool

    @property
    def constraints(self) -> Path:
        return self.stage / "hoofenv-constraints.txt"

    @property
    def state_file(self) -> Path | None:
        return None if self.current else self.stage / STATE


@dataclass
class Mmcv:
    """Where mmcv comes from: a wheel file (cached, given, or to be built by `build_steps`), or the index."""

    wheel: str | None = None
    build_steps: list[Step] = field(default_factory=list)
    cached: mmcv_build.CachedWheel | None = None


def install(plan: Plan, facts, opts: Options, progress: Progress | None = None) -> dict:
    progress = progress or Progress()
    plan, locked = _effective_plan(plan, opts)
    if opts.download_to:
        installer = Installer.choose(opts.installer, opts.sources)
        return download(plan, installer, Path(opts.download_to), progress, dry_run=opts.dry_run,
                        mmcv_wheel=opts.mmcv_wheel)
    env = current_env() if opts.current else checked_env(opts.env)  # refused before any change, dry-run included
    installer = Installer.choose(opts.installer, opts.sources)
    if opts.dry_run:
        return _install(plan, facts, opts, locked, installer, env, progress)
    with install_lock(env, lambda text: progress.note(text, "warn")):
        if not opts.current:
            checked_env(str(env))  # again: an install we waited for may have changed it
        return _install(plan, facts, opts, locked, installer, env, progress)


def _install(plan: Plan, facts, opts: Options, locked: dict | None, installer: Installer, env: Path,
             progress: Progress) -> dict:
    live = env if opts.current else (env.resolve() if env.exists() else None)
    result: dict = {"ok": True, "installer": installer.kind, "changed": False, "steps": [], "env": str(env)}
    # 1. nothing to do?
    if live is not None and not opts.dry_run and _already_done(env, live, plan, facts, opts, locked, installer,
                                                               progress):
        return result | {"noop": True, "lock": str(opts.lock_path)}
    # 2. where it goes; what is left of earlier installs
    sid = stack_id(plan, installer, locked)
    target = _target(env, live, sid, plan, locked, opts, progress)
    old, foreign = ([], []) if opts.current else stale(env, [p for p in (live, target.stage) if p])
    logs = (cache_root() / "logs" / sid) if opts.current else target.stage / LOGS_DIR
    # 3. mmcv
    mmcv = _mmcv_source(plan, opts, locked, installer, progress)
    py, py_steps, py_how = base_python(plan, installer)
    for s in mmcv.build_steps:
        s.argv = [a.replace("{python}", py) for a in s.argv]
    venv_steps = [] if opts.current or (target.stage / "bin" / "python").exists() else \
        [Step("venv", f"venv at {target.stage} ({py_how})", installer.venv_cmd(py, target.stage))]
    if opts.dry_run:
        main = _main_steps(plan, installer, target, mmcv, locked)
        return result | {"dry_run": True, "python": py_how, "stage": str(target.stage), "lock": str(opts.lock_path),
                         "steps": [s.to_dict() for s in py_steps + mmcv.build_steps + venv_steps + main],
                         "constraints": recipe.constraints_text(plan), "would_remove": [str(p) for p, _ in old]}
    # 4. room, once the stale stages are gone; the stage, marked before its first step
    result["removed"] = _clean(env, old, foreign, progress)
    if opts.min_free_gib is not None or not opts.current:
        need = opts.min_free_gib if opts.min_free_gib is not None else needed_gib(plan, bool(mmcv.build_steps))
        check_disk([target.stage.parent if not opts.current else target.stage, cache_root()], need)
    if not opts.current:
        claim(target.stage, env, sid)
    progress.note(f"Installing into {env} ({'in place' if opts.current else 'staged in ' + str(target.stage)}) with "
                  f"{installer.kind}; {py_how}")
    t0 = time.monotonic()
    # 5. the steps
    if py_steps:
        result["steps"] += run_steps(py_steps, progress, logs, None, "python")
    if mmcv.build_steps:
        result["steps"] += mmcv_build.build(plan, mmcv.build_steps, mmcv.cached, progress)
        mmcv.wheel = str(mmcv.cached.wheel)
    if venv_steps:
        clear_half_venv(target.stage)  # a venv killed while being made
        result["steps"] += run_steps(venv_steps, progress, logs, None, "venv")
    result["steps"] += _run_main(plan, installer, target, mmcv, locked, progress, logs)
    # 6. one opencv flavour, no chumpy
    result["steps"] += _dedupe(plan, installer, target.stage, progress, logs)
    # 7. record, lock, switch
    changed_lock, replaced = _finish(plan, facts, installer, target, opts, locked)
    result["removed"] = result.get("removed", []) + ([replaced] if replaced else [])
    result.update(changed=True, lock=str(opts.lock_path), lock_changed=changed_lock, stage=str(target.stage),
                  seconds=round(time.monotonic() - t0, 1))
    progress.note(f"installed in {time.monotonic() - t0:.1f}s: {env}"
                  + ("" if opts.current else f" -> {target.stage}") + f"; lock: {opts.lock_path}"
                  + (f"; removed the stage it replaced ({human_size(replaced['bytes'])})" if replaced else ""), "ok")
    return result


def _target(env: Path, live: Path | None, sid: str, plan: Plan, locked: dict | None, opts: Options,
            progress: Progress) -> Target:
    if opts.current:
        return Target(env, live, env, True)

    def good(stage: Path) -> bool:
        return not env_is_good(stage, plan) and (locked is None or lockmod.matches_env(locked, stage))

    stage, how = choose_stage(env, sid, live, good)
    if how == "finished" and not opts.dry_run:
        progress.note(f"{stage} finished earlier but was never switched in, and it matches the plan: using it")
    return Target(env, live, stage, False)


def _clean(env: Path, old: list[tuple[Path, str]], foreign: list[Path], progress: Progress) -> list[dict]:
    """Remove hoofenv's stale stages of `env` (stale() chose them; nothing else is touched) and say so."""
    removed = sweep(old)
    if removed:
        progress.note(f"removed {len(removed)} stale stage{'s' if len(removed) > 1 else ''} of {env}, freeing "
                      f"{human_size(sum(r['bytes'] for r in removed))}: "
                      + "; ".join(f"{Path(r['path']).name} ({r['why']}, {human_size(r['bytes'])})" for r in removed))
    if foreign:
        progress.note(f"left alone in {stage_root(env)} (hoofenv did not make them): "
                      + ", ".join(p.name for p in foreign), "warn")
    return removed


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _effective_plan(plan: Plan, opts: Options) -> tuple[Plan, dict | None]:
    """The plan to install (the lock's own with --locked, after a drift check) and the lock, if any."""
    if not plan.ok:
        raise HoofenvError("the plan is refused; nothing to install",
                           [p.message for p in plan.problems if p.severity == "error"],
                           hint=next((p.hint for p in plan.problems if p.hint), "hoofenv plan"), code="plan-refused")
    if not opts.locked:
        return plan, None
    locked = lockmod.read(opts.lock_path)
    diff = lockmod.drift(locked["plan"], plan)
    if diff:
        raise HoofenvError(f"--locked: the plan computed now differs from {opts.lock_path}", diff,
                           hint="update the lock on purpose with `hoofenv install` (without --locked), or run "
                                "with the lock's facts/overrides", code="lock-drift")
    locked_plan = Plan.from_dict(locked["plan"])
    locked_plan.python_source = plan.python_source
    return locked_plan, locked


def _already_done(env: Path, live: Path, plan: Plan, facts, opts: Options, locked: dict | None,
                  installer: Installer, progress: Progress) -> bool:
    if env_is_good(live, plan) or (locked is not None and not lockmod.matches_env(locked, live)):
        return False
    lock_changed = False
    if not opts.locked and not opts.lock_path.exists():
        lock_changed = lockmod.write(opts.lock_path, lockmod.for_env(live, plan, facts, installer))
    progress.note(f"{env} already matches the plan (torch {plan.torch}, mmcv {plan.mmcv.version}, mmpose "
                  f"{plan.mmpose}): nothing to do" + ("; lock written" if lock_changed else ""), "ok")
    return True


def _mmcv_source(plan: Plan, opts: Options, locked: dict | None, installer: Installer,
                 progress: Progress) -> Mmcv:
    if locked:
        return Mmcv()
    if opts.mmcv_wheel:
        given = Path(opts.mmcv_wheel).absolute()
        if not given.is_file():
            raise HoofenvError(f"--mmcv-wheel {given}: no such file", hint="give the path of an mmcv-*.whl",
                               code="no-mmcv-wheel", exit_code=2)
        if plan.mmcv.source == "build" and not opts.dry_run:  # keep it for the next install with this key
            given = mmcv_build.seed(plan, given)
            progress.note(f"mmcv {plan.mmcv.version}: {opts.mmcv_wheel} cached as {given}")
        return Mmcv(wheel=str(given))
    if plan.mmcv.source != "build":
        return Mmcv()
    cached = mmcv_build.lookup(plan)
    if cached.wheel:
        progress.note(f"mmcv {plan.mmcv.version}: cached wheel {cached.wheel} (key {cached.key})")
        return Mmcv(wheel=str(cached.wheel))
    where = mmcv_build.build_dir(cached)
    steps = mmcv_build.build_steps(plan, installer, "{python}", where / "venv", where / "out",
                                   where / "constraints.txt")
    return Mmcv(wheel=str(cached.folder / f"mmcv-{plan.mmcv.version}-<built>.whl"), build_steps=steps,
                cached=cached)


def _main_steps(plan: Plan, installer: Installer, target: Target, mmcv: Mmcv, locked: dict | None) -> list[Step]:
    if locked:
        return lockmod.locked_steps(locked, installer, target.stage, plan)
    return recipe.install_steps(plan, installer, target.stage, target.constraints, mmcv_wheel=mmcv.wheel,
                                has_pip=(target.stage / "bin" / "pip").exists() or installer.kind == "uv")


def _run_main(plan: Plan, installer: Installer, target: Target, mmcv: Mmcv, locked: dict | None,
              progress: Progress, logs: Path) -> list[dict]:
    """The constraints file and the env's pip.conf, then the recipe's steps (resumed where a killed run stopped)."""
    stage = target.stage
    atomic_write_text(target.constraints, recipe.constraints_text(plan))
    if not target.current:  # the env's own pip.conf: a later `pip install` / `mim install` in it keeps the pins
        atomic_write_text(stage / "pip.conf", PIP_CONF.format(constraints=target.constraints))
    if locked:
        atomic_write_text(stage / "hoofenv-locked-requirements.txt", lockmod.requirements_text(locked)[0])

    def hold(_step=None) -> None:
        """Hold setuptools at what the bootstrap installed: openmim's deps (opendatalab) would otherwise pull
        setuptools 60 (inside `<81`), below what torch >= 2.14 requires (measured here)."""
        have = Environment(stage).installed()
        if "setuptools" in have and (_step is None or _step.name == "bootstrap"):
            text = recipe.constraints_text(plan) + f"setuptools=={have['setuptools']}  # held: bootstrap's\n"
            atomic_write_text(target.constraints, text)

    if "bootstrap" in read_state(target.state_file).get("done", []):
        hold()
    steps = _main_steps(plan, installer, target, mmcv, locked)
    return run_steps(steps, progress, logs, target.state_file, str(stage), after=hold)


def _dedupe(plan: Plan, installer: Installer, stage: Path, progress: Progress, logs: Path) -> list[dict]:
    have = Environment(stage).installed()
    extra = [f for f in OPENCV_FLAVOURS[1:] if f in have] + (["chumpy"] if "chumpy" in have else [])
    results = []
    if extra:
        results = run_steps([Step("dedupe", "remove " + ", ".join(extra), installer.uninstall_cmd(
            stage / "bin" / "python", extra))], progress, logs, None, "dedupe")
    problems = package_problems(stage, plan)
    if problems:
        raise HoofenvError("the install finished but the env does not match the plan", problems,
                           hint=f"see the logs in {logs}; the env in use was not changed", code="mismatch")
    return results


def _finish(plan: Plan, facts, installer: Installer, target: Target, opts: Options,
            locked: dict | None) -> tuple[bool, dict | None]:
    """Record the plan in the stage, write the lock, switch the env to the stage and remove the stage it replaced
    (only when that is hoofenv's). Returns whether the lock changed, and what was removed."""
    stage, env = target.stage, target.env
    atomic_write_text(Environment(stage).plan_file, plan.to_json())
    data = lockmod.for_env(stage, plan, facts, installer)
    if locked:
        data["packages"] = locked["packages"] if lockmod.matches_env(locked, stage) else data["packages"]
    changed = lockmod.write(opts.lock_path, data) if not locked else False
    if target.current:
        return changed, None
    if os.environ.get(FAULT_ENV) == "kill-before:switch":  # test seam: a stage finished but never switched in
        os.kill(os.getpid(), signal.SIGKILL)
    previous = switch(env, stage)
    (stage / STATE).unlink(missing_ok=True)
    return changed, remove_previous(env, previous, stage)
