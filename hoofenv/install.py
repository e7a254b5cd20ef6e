"""`hoofenv install`: a plan -> a working env, staged and switched so a failure never breaks a working one.

Layout for an env path E (default .hoofenv/env): E is a symlink to `.E.d/<id>` (a venv); a new install is built in
another `.E.d/<id>` and E is switched to it (atomic rename of a symlink) only when every step has passed. An
interrupted install (Ctrl-C, network loss, kill -9) leaves E untouched and its stage with a record of the finished
steps; the next run with the same plan resumes there. `--current` installs into the running venv/conda env in
place (there is nothing to stage), and never into a system Python.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from hoofenv import lock as lockmod
from hoofenv import steps as stepsmod
from hoofenv import wheelcache
from hoofenv.environment import Environment, canonical
from hoofenv.errors import HoofenvError
from hoofenv.fsutil import atomic_write_text
from hoofenv.installer import Installer, Sources, find_uv
from hoofenv.plan import Plan
from hoofenv.steps import Step

STATE = ".hoofenv-state.json"
PLAN_FILE = "hoofenv-plan.json"
PIP_CONF = ("# written by hoofenv install: pip (and `mim install`, which runs pip) in this env keeps the plan's pins\n"
            "[global]\nconstraint = {constraints}\n")
FAULT_ENV = "HOOFENV_FAULT"  # test seam: "kill-after:STEP" sends SIGKILL to this process after STEP


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
    verify: bool = True
    min_free_gib: float | None = None


class UI:
    """Per-step progress with elapsed time: a live line on a terminal, plain lines otherwise, nothing with --json."""

    def __init__(self, quiet: bool = False) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)

    def say(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text)

    def run(self, step: Step, log: Path, index: int, total: int) -> tuple[int, float, list[str]]:
        label = f"[{index}/{total}] {step.title}"
        start = time.monotonic()
        tail: deque[str] = deque(maxlen=25)
        log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **step.env}
        with log.open("w") as fh:
            fh.write("$ " + step.shell() + "\n")
            fh.flush()
            proc = subprocess.Popen(step.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                    bufsize=1)
            status = None
            if not self.quiet and self.console.is_terminal:
                status = self.console.status(label)
                status.start()
            try:
                last_print = start
                for line in proc.stdout:
                    fh.write(line)
                    fh.flush()
                    tail.append(line.rstrip())
                    now = time.monotonic()
                    if status:
                        status.update(f"{label}  {now - start:5.1f}s  [dim]{line.strip()[:70]}[/dim]")
                    elif not self.quiet and now - last_print > 60:  # long steps (the mmcv build) in a log
                        self.console.print(f"    ... {label}: {now - start:.0f}s elapsed")
                        last_print = now
                rc = proc.wait()
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            finally:
                if status:
                    status.stop()
        seconds = time.monotonic() - start
        if not self.quiet:
            mark = "[green]✓[/green]" if rc == 0 else "[red]✗[/red]"
            self.console.print(f"{mark} {label}  [dim]{seconds:.1f}s[/dim]")
        return rc, seconds, list(tail)


# -- where -----------------------------------------------------------------------------------------------------

def is_system_python(prefix: Path) -> bool:
    return not ((prefix / "pyvenv.cfg").exists() or (prefix / "conda-meta").is_dir())


def current_env() -> Path:
    prefix = Path(os.environ.get("CONDA_PREFIX") or sys.prefix) if not (Path(sys.prefix) / "pyvenv.cfg").exists() \
        else Path(sys.prefix)
    if is_system_python(prefix):
        raise HoofenvError(f"--current: {sys.executable} is a system Python ({prefix}); hoofenv never installs there",
                           hint="use a dedicated env: `hoofenv install` (creates .hoofenv/env), or activate a venv "
                                "first: `python3 -m venv ~/hoof && . ~/hoof/bin/activate && hoofenv install --current`",
                           code="system-python")
    return prefix


def stage_root(env: Path) -> Path:
    return env.parent / f".{env.name}.d"


def stack_id(plan: Plan, installer: Installer, locked: dict | None) -> str:
    key = {"stack": lockmod.stack_of(plan), "installer": installer.kind,
           "locked": hashlib.sha256(json.dumps(locked["packages"]).encode()).hexdigest() if locked else None}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


# -- the python that makes the env ---------------------------------------------------------------------------

def base_python(plan: Plan, installer: Installer, ui: UI, dry_run: bool) -> tuple[str, list[Step], str]:
    """(python for `venv`, steps that obtain it, how) as the plan says: on PATH, `uv python install`, or conda."""
    src = plan.python_source
    if src is None or src.how == "path":
        path = src.path if src and src.path else f"python{plan.python}"
        return path, [], f"Python {plan.python} from {path} (on this machine)"
    if src.how == "uv":
        uv = installer.uv or (wheelcache.shutil.which("uv"))
        if not uv:
            raise HoofenvError(f"Python {plan.python} is not here and uv is missing to fetch it",
                               hint="pip install uv  (then re-run hoofenv install)", code="no-python")
        steps = [Step("python", f"Python {plan.python} (uv python install)", [uv, "python", "install", plan.python])]
        return plan.python, steps, f"Python {plan.python} via `uv python install {plan.python}`"
    if src.how == "conda":
        prefix = Path(".hoofenv/python").absolute()
        tool = src.command.split()[0] if src.command else "conda"
        steps = [Step("python", f"Python {plan.python} (conda)",
                      [tool, "create", "-y", "-p", str(prefix), f"python={plan.python}"])]
        return str(prefix / "bin" / "python"), steps, f"Python {plan.python} via {tool} into {prefix}"
    raise HoofenvError(f"no way to obtain Python {plan.python}", hint=src.command or "install it", code="no-python")


# -- checks --------------------------------------------------------------------------------------------------

def _strip_local(v: str) -> str:
    return v.split("+")[0]


def env_is_good(env: Path, plan: Plan) -> list[str]:
    """What is wrong with `env` for `plan` (empty: nothing, a re-run has nothing to do)."""
    problems: list[str] = []
    if not Environment(env).exists:
        return [f"{env} has no python"]
    pf = env / PLAN_FILE
    if not pf.exists():
        return [f"{pf} is missing (not a finished hoofenv install)"]
    try:
        if lockmod.stack_of(json.loads(pf.read_text())) != lockmod.stack_of(plan):
            problems.append(f"{pf} records another plan")
    except (OSError, json.JSONDecodeError):
        problems.append(f"{pf} is unreadable")
    have = Environment(env).installed()
    for name, version in stepsmod.expected_versions(plan).items():
        got = have.get(canonical(name))
        if got is None:
            problems.append(f"{name} is not installed")
        elif _strip_local(got) != _strip_local(version):
            problems.append(f"{name} {got} installed, the plan says {version}")
    flavours = [f for f in stepsmod.OPENCV_FLAVOURS if f in have]
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
                               f"{need_gib:.1f} GiB", [f"nothing was changed"],
                               hint=f"free space (`du -sh ~/.cache/uv ~/.cache/pip`), or install elsewhere: "
                                    f"`hoofenv install --env /bigdisk/hoof-env`", code="disk-full")


def needed_gib(plan: Plan, building: bool) -> float:
    base = 3.0 if plan.cuda == "cpu" else 9.0
    return base + (2.0 if building else 0.0)


# -- running -------------------------------------------------------------------------------------------------

HINTS = {
    "torch": "the torch index may be unreachable: set a mirror with --torch-index-url URL (or "
             "HOOFENV_TORCH_INDEX_URL), or install from a wheelhouse: `hoofenv install --wheelhouse DIR --offline`",
    "mmcv": "mmcv is installed from a wheel only; none fits this torch/CUDA/Python on the index. Build one "
            "(minutes, cached): `hoofenv install --mmcv-source build`, or give one: `--mmcv-wheel FILE`",
    "locked": "a locked file is unavailable or its sha256 differs from hoofenv.lock (the lock names each file's "
              "URL): restore that source, or re-lock on purpose with `hoofenv install` (without --locked)",
    "build-mmcv": "the mmcv compile failed: read the full log; a compiler is needed (`sudo apt-get install -y "
                  "build-essential`), and ~3 GB of RAM per job (lower MAX_JOBS with `--max-jobs 1`)",
}


def hint_for(step: Step, tail: list[str]) -> str:
    """The step's hint; uv's one-resolution `stack` step gets the hint of the part its error names."""
    name = step.name
    if name == "stack":
        text = "\n".join(tail)
        if re.search(r"mmcv.*\b(wheels?|sdist)\b|\b(wheels?|sdist)\b.*mmcv", text):
            name = "mmcv"
        elif re.search(r"\btorch(vision)?\b|pytorch", text):
            name = "torch"
    return HINTS.get(name, "fix the cause above and re-run `hoofenv install` (finished steps are kept)")


def run_steps(steps: list[Step], ui: UI, logs: Path, state_file: Path | None, label: str,
              after=None) -> list[dict]:
    state = _read_state(state_file)
    done = set(state.get("done", []))
    results = []
    fault = os.environ.get(FAULT_ENV, "")
    todo = [s for s in steps if s.name not in done]
    if done and todo and state_file:
        ui.say(f"[yellow]resuming[/yellow] {label}: {len(steps) - len(todo)} of {len(steps)} steps already done")
    for i, step in enumerate(steps, 1):
        if step.name in done:
            results.append({"name": step.name, "status": "resumed", "seconds": 0.0})
            continue
        try:
            rc, seconds, tail = ui.run(step, logs / f"{i:02d}-{step.name}.log", i, len(steps))
        except KeyboardInterrupt:
            raise HoofenvError(f"interrupted during `{step.title}`",
                               ["the env in use was not changed; finished steps are kept in the stage"],
                               hint="re-run the same `hoofenv install` command: it resumes", code="interrupted",
                               exit_code=130) from None
        results.append({"name": step.name, "status": "ok" if rc == 0 else "failed", "seconds": round(seconds, 2),
                        "command": step.shell()})
        if rc != 0:
            raise HoofenvError(
                f"step `{step.title}` failed (exit {rc})",
                [f"command: {step.shell()}", *[f"| {line}" for line in tail[-12:]],
                 f"full log: {logs / f'{i:02d}-{step.name}.log'}",
                 "the env in use was not changed"],
                hint=hint_for(step, tail),
                code=f"step-failed:{step.name}")
        if after:
            after(step)
        if state_file:
            done.add(step.name)
            atomic_write_text(state_file, json.dumps({"done": sorted(done)}))
        if fault == f"kill-after:{step.name}":
            os.kill(os.getpid(), signal.SIGKILL)
    return results


def _read_state(path: Path | None) -> dict:
    if not path or not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def switch(env: Path, target: Path) -> Path | None:
    """Point `env` at `target` atomically; returns what `env` held before (a stage dir, or a moved-aside dir)."""
    previous = None
    if env.is_symlink():
        previous = env.resolve()
    elif env.exists():  # a real env from elsewhere: move it aside, then link (two renames)
        previous = stage_root(env) / f"previous-{int(time.time())}"
        os.replace(env, previous)
    tmp = env.with_name(f".{env.name}.link{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, env.parent), tmp)
    os.replace(tmp, env)
    return previous


# -- the command ---------------------------------------------------------------------------------------------

def install(plan: Plan, facts, opts: Options, ui: UI) -> dict:
    if not plan.ok:
        raise HoofenvError("the plan is refused; nothing to install",
                           [p.message for p in plan.problems if p.severity == "error"],
                           hint=next((p.hint for p in plan.problems if p.hint), "hoofenv plan"), code="plan-refused")
    installer = Installer.choose(opts.installer, opts.sources)
    locked = lockmod.read(opts.lock_path) if opts.locked else None
    if locked:
        diff = lockmod.drift(locked["plan"], plan)
        if diff:
            raise HoofenvError(f"--locked: the plan computed now differs from {opts.lock_path}", diff,
                               hint="update the lock on purpose with `hoofenv install` (without --locked), or run "
                                    "with the lock's facts/overrides", code="lock-drift")
        locked_plan = Plan.from_dict(locked["plan"])
        locked_plan.python_source = plan.python_source
        plan = locked_plan
    if opts.download_to:
        return download(plan, installer, Path(opts.download_to), ui, opts)

    result: dict = {"ok": True, "installer": installer.kind, "changed": False, "steps": []}
    if opts.current:
        env = current_env()
        live = env
    else:
        env = Environment.default(opts.env).path
        live = env.resolve() if env.exists() else None
    result["env"] = str(env)

    # 1. nothing to do?
    if live is not None and not opts.dry_run:
        problems = env_is_good(live, plan)
        lock_ok = locked is None or lockmod.matches_env(locked, live)
        if not problems and lock_ok:
            lock_changed = False
            if not opts.locked and not opts.lock_path.exists():
                lock_changed = lockmod.write(opts.lock_path, build_lock(live, plan, facts, installer))
            ui.say(f"[green]✓[/green] {env} already matches the plan (torch {plan.torch}, mmcv {plan.mmcv.version}, "
                   f"mmpose {plan.mmpose}): nothing to do" + ("; lock written" if lock_changed else ""))
            result.update(noop=True, lock=str(opts.lock_path))
            return result

    # 2. where it goes
    sid = stack_id(plan, installer, locked)
    if opts.current:
        stage = env
    else:
        root = stage_root(env)
        n = 0
        while (root / f"{sid}-{n}") == live or ((root / f"{sid}-{n}" / PLAN_FILE).exists()):
            n += 1  # never write into the env in use, nor into a finished stage
        stage = root / f"{sid}-{n}"
    constraints = stage / "hoofenv-constraints.txt"
    state_file = None if opts.current else stage / STATE
    logs = (wheelcache.cache_root() / "logs" / sid) if opts.current else stage / ".hoofenv-logs"

    # 3. mmcv: a wheel from the index, the cache, a given file, or a build
    build_steps: list[Step] = []
    mmcv_wheel: str | None = None
    cached = None
    if opts.mmcv_wheel and not locked:
        given = Path(opts.mmcv_wheel).absolute()
        if not given.is_file():
            raise HoofenvError(f"--mmcv-wheel {given}: no such file", hint="give the path of an mmcv-*.whl",
                               code="no-mmcv-wheel", exit_code=2)
        if plan.mmcv.source == "build" and not opts.dry_run:  # keep it for the next install with this key
            given = wheelcache.seed(plan, given)
            ui.say(f"mmcv {plan.mmcv.version}: {opts.mmcv_wheel} cached as {given}")
        mmcv_wheel = str(given)
    elif plan.mmcv.source == "build" and not locked:
        cached = wheelcache.lookup(plan)
        if cached.wheel:
            mmcv_wheel = str(cached.wheel)
            ui.say(f"mmcv {plan.mmcv.version}: cached wheel {cached.wheel} (key {cached.key})")
        else:
            build_dir = wheelcache.cache_root() / "build" / cached.key
            mmcv_wheel = str(cached.folder / f"mmcv-{plan.mmcv.version}-<built>.whl")
            build_steps = wheelcache.build_steps(plan, installer, "{python}", build_dir / "venv", build_dir / "out",
                                                 build_dir / "constraints.txt")

    py, py_steps, py_how = base_python(plan, installer, ui, opts.dry_run)
    for s in build_steps:
        s.argv = [a.replace("{python}", py) for a in s.argv]
    venv_steps = [] if opts.current or (stage / "bin" / "python").exists() else \
        [Step("venv", f"venv at {stage} ({py_how})", installer.venv_cmd(py, stage))]
    if locked:
        main_steps = locked_steps(locked, installer, stage, plan)
    else:
        main_steps = stepsmod.install_steps(plan, installer, stage, constraints, mmcv_wheel=mmcv_wheel,
                                            has_pip=(stage / "bin" / "pip").exists() or installer.kind == "uv")
    if opts.dry_run:
        all_steps = py_steps + build_steps + venv_steps + main_steps
        result.update(dry_run=True, python=py_how, stage=str(stage),
                      steps=[s.to_dict() for s in all_steps], constraints=stepsmod.constraints_text(plan))
        if not ui.quiet:
            print(f"# {py_how}; installer: {installer.kind}; env: {env} (staged in {stage})")
            print(f"# {constraints} holds:\n" + "".join(f"#   {line}\n" for line in
                                                       stepsmod.constraints_text(plan).splitlines()[1:]))
            for s in all_steps:
                print(f"# {s.title}\n{s.shell()}")
            switch_text = "" if opts.current else f"; switch {env} -> {stage}"
            print(f"# then: write {stage / PLAN_FILE}, {opts.lock_path}{switch_text}; hoofenv verify")
        return result

    # 4. room
    if opts.min_free_gib is not None or not opts.current:
        need = opts.min_free_gib if opts.min_free_gib is not None else needed_gib(plan, bool(build_steps))
        check_disk([stage.parent if not opts.current else stage, wheelcache.cache_root()], need)

    ui.say(f"Installing into {env} ({'in place' if opts.current else 'staged in ' + str(stage)}) with "
           f"{installer.kind}; {py_how}")
    t0 = time.monotonic()
    if py_steps:
        result["steps"] += run_steps(py_steps, ui, logs, None, "python")
    if build_steps:
        result["steps"] += build_mmcv(plan, build_steps, cached, ui)
        mmcv_wheel = str(cached.wheel)
        main_steps = stepsmod.install_steps(plan, installer, stage, constraints, mmcv_wheel=mmcv_wheel,
                                            has_pip=(stage / "bin" / "pip").exists() or installer.kind == "uv")
    if venv_steps:
        if stage.exists() and not (stage / "bin" / "python").exists():
            shutil.rmtree(stage)  # a venv killed while being made
        result["steps"] += run_steps(venv_steps, ui, logs, None, "venv")
    constraints.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(constraints, stepsmod.constraints_text(plan))
    if not opts.current:  # the env's own pip.conf: a later `pip install` / `mim install` in it keeps the pins
        atomic_write_text(stage / "pip.conf", PIP_CONF.format(constraints=constraints))
    if locked:
        atomic_write_text(stage / "hoofenv-locked-requirements.txt", lockmod.requirements_text(locked)[0])
    def hold(_step=None) -> None:
        """Hold setuptools at what the bootstrap installed: openmim's deps (opendatalab) would otherwise pull
        setuptools 60 (inside `<81`), below what torch >= 2.14 requires (measured here)."""
        have = Environment(stage).installed()
        if "setuptools" in have and (_step is None or _step.name == "bootstrap"):
            text = stepsmod.constraints_text(plan) + f"setuptools=={have['setuptools']}  # held: bootstrap's\n"
            atomic_write_text(constraints, text)

    if "bootstrap" in _read_state(state_file).get("done", []):
        hold()
    result["steps"] += run_steps(main_steps, ui, logs, state_file, str(stage), after=hold)

    # 5. one opencv flavour, no chumpy
    have = Environment(stage).installed()
    extra = [f for f in stepsmod.OPENCV_FLAVOURS[1:] if f in have] + (["chumpy"] if "chumpy" in have else [])
    if extra:
        result["steps"] += run_steps([Step("dedupe", "remove " + ", ".join(extra), installer.uninstall_cmd(
            stage / "bin" / "python", extra))], ui, logs, None, "dedupe")
    problems = env_is_good_packages(stage, plan)
    if problems:
        raise HoofenvError("the install finished but the env does not match the plan", problems,
                           hint=f"see the logs in {logs}; the env in use was not changed", code="mismatch")

    # 6. record, lock, switch
    atomic_write_text(stage / PLAN_FILE, plan.to_json())
    data = build_lock(stage, plan, facts, installer)
    if locked:
        data["packages"] = locked["packages"] if lockmod.matches_env(locked, stage) else data["packages"]
    changed_lock = lockmod.write(opts.lock_path, data) if not locked else False
    if not opts.current:
        previous = switch(env, stage)
        if previous and previous != stage.resolve() and previous.parent == stage_root(env):
            shutil.rmtree(previous, ignore_errors=True)
        (stage / STATE).unlink(missing_ok=True)
        for other in stage_root(env).iterdir():  # abandoned stages of other plans
            if other != stage and other.is_dir() and not (other / PLAN_FILE).exists() and other.name != "previous":
                shutil.rmtree(other, ignore_errors=True)
    result.update(changed=True, lock=str(opts.lock_path), lock_changed=changed_lock, stage=str(stage),
                  seconds=round(time.monotonic() - t0, 1))
    ui.say(f"[green]✓[/green] installed in {time.monotonic() - t0:.1f}s: {env}"
           + ("" if opts.current else f" -> {stage}") + f"; lock: {opts.lock_path}")
    return result


def build_lock(env: Path, plan: Plan, facts, installer: Installer) -> dict:
    """The lock, with uv naming each file through the same sources the steps used. uv reads the same indexes
    pip did, so it names pip's files too; without uv each index is asked per dist (slower, 6-7 s here)."""
    uv = installer.uv or find_uv()
    args = Installer("uv", installer.sources, uv).source_args(
        plan.indexes.get("torch"), [plan.indexes["mmcv"]] if plan.indexes.get("mmcv") else []) if uv else None
    return lockmod.build(env, plan, facts, installer.kind, installer.sources, uv=uv, source_args=args)


def env_is_good_packages(env: Path, plan: Plan) -> list[str]:
    return [p for p in env_is_good(env, plan) if PLAN_FILE not in p]


def locked_steps(lock: dict, installer: Installer, stage: Path, plan: Plan) -> list[Step]:
    _, hashed = lockmod.requirements_text(lock)
    reqs = stage / "hoofenv-locked-requirements.txt"
    py = stage / "bin" / "python"
    # every line is `name==version --hash`: pip config's constraint files add nothing, and a range in one
    # (`torch<=2.14.1` here) stops --require-hashes ("all requirements must have their versions pinned")
    exact = Installer(installer.kind, dataclasses.replace(installer.sources, constraints=[]), installer.uv)
    cmd = exact.install_cmd(py, [], no_deps=True, requirement_file=reqs, require_hashes=hashed,
                            extra_index=plan.indexes.get("torch"))
    if not installer.sources.offline:
        for link in lock.get("sources", {}).get("find_links", []):
            if link not in cmd:
                cmd += ["--find-links", link]
    return [Step("locked", f"exactly the {len(lock['packages'])} locked files (hash-checked)", cmd)]


def build_mmcv(plan: Plan, steps: list[Step], cached, ui: UI) -> list[dict]:
    b = plan.mmcv.build
    ui.say(f"mmcv {plan.mmcv.version}: no cached wheel for {cached.key}; building it (about {b.minutes} min, "
           f"MAX_JOBS={b.max_jobs}); cached for next time in {cached.folder}")
    build_dir = cached.folder.parent.parent / "build" / cached.key
    shutil.rmtree(build_dir, ignore_errors=True)
    (build_dir / "out").mkdir(parents=True)
    atomic_write_text(build_dir / "constraints.txt", wheelcache.build_constraints(plan))
    t0 = time.monotonic()
    results = run_steps(steps, ui, build_dir / "logs", None, "mmcv build")
    wheel = wheelcache.store(cached, build_dir / "out", plan, time.monotonic() - t0)
    shutil.rmtree(build_dir, ignore_errors=True)
    ui.say(f"mmcv wheel built in {time.monotonic() - t0:.0f}s and cached: {wheel}")
    return results


def download(plan: Plan, installer: Installer, dest: Path, ui: UI, opts: Options) -> dict:
    """Fill a wheelhouse for `--wheelhouse DIR --offline` on an air-gapped machine (same plan/facts)."""
    dest = dest.absolute()
    dest.mkdir(parents=True, exist_ok=True)
    py, py_steps, _ = base_python(plan, installer, ui, opts.dry_run)
    tmp = Path(tempfile.mkdtemp(prefix="hoofenv-dl-"))
    constraints = tmp / "constraints.txt"
    constraints.write_text(stepsmod.constraints_text(plan))
    dl_env = tmp / "venv"
    pip = Installer("pip", installer.sources)
    mmcv: list[str] = []
    steps = [Step("venv", "a throwaway venv with pip for `pip download`", [py, "-m", "venv", str(dl_env)])]
    dpy = dl_env / "bin" / "python"
    req = plan.requirement
    runtime = [req(n) for n in plan.mmpose_runtime if n != "chumpy"]
    if plan.mmcv.source == "build":
        cached = wheelcache.lookup(plan)
        if opts.mmcv_wheel:
            mmcv = [str(Path(opts.mmcv_wheel).absolute())]
        elif cached.wheel:
            mmcv = [str(cached.wheel)]
        else:
            raise HoofenvError(f"no cached mmcv wheel for {cached.key} to put in the wheelhouse",
                               hint="build it here first: `hoofenv install` (or pass --mmcv-wheel FILE)",
                               code="no-mmcv-wheel")
        mmcv_reqs: list[str] = []
    else:
        mmcv_reqs = [req("mmcv")]
    all_reqs = ["pip", req("setuptools"), "wheel", req("torch"), req("torchvision"), req("numpy"), *mmcv_reqs,
                req("mmengine"), req("mmdet"), *runtime, req("opencv-python"), req("openmim")]
    steps.append(Step("download", f"download every wheel of the stack into {dest}",
                      pip.download_cmd(dpy, [r for r in all_reqs], dest, constraints=[constraints],
                                       extra_index=plan.indexes.get("torch"),
                                       find_links=[plan.indexes["mmcv"]] if plan.indexes.get("mmcv") else [])))
    steps.append(Step("download-mmpose", "mmpose (--no-deps)",
                      pip.download_cmd(dpy, [req("mmpose")], dest, constraints=[constraints], no_deps=True)))
    if opts.dry_run:
        for s in steps:
            print(f"# {s.title}\n{s.shell()}")
        return {"ok": True, "dry_run": True, "steps": [s.to_dict() for s in steps]}
    try:
        results = run_steps(steps, ui, tmp / "logs", None, "download")
    finally:
        pass
    for m in mmcv:
        shutil.copy2(m, dest / Path(m).name)
    atomic_write_text(dest / PLAN_FILE, plan.to_json())
    shutil.rmtree(tmp, ignore_errors=True)
    n = len(list(dest.glob("*.whl")))
    ui.say(f"[green]✓[/green] wheelhouse {dest}: {n} wheels. On the offline machine: "
           f"`hoofenv install --wheelhouse {dest} --offline`")
    return {"ok": True, "wheelhouse": str(dest), "wheels": n, "steps": results}


def run_verify(env: Path, ui: UI, json_mode: bool) -> dict:
    from hoofenv.cli import COMMANDS

    if "verify" not in COMMANDS:
        ui.say("verify is not available in this hoofenv (no `verify` command): skipped")
        return {"ran": False, "reason": "verify command not available"}
    cmd = [sys.executable, "-m", "hoofenv", "verify", "--env", str(env)] + (["--json"] if json_mode else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if not json_mode:
        sys.stderr.write(proc.stdout + proc.stderr)
    out: dict = {"ran": True, "exit_code": proc.returncode}
    if json_mode:
        try:
            out["result"] = json.loads(proc.stdout)
        except json.JSONDecodeError:
            out["output"] = proc.stdout[-2000:]
    return out
