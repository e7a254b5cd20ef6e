"""facts + plan + what an environment holds -> a list of checks, flutter-doctor style.

Nothing here imports the training stack: the environment is read from its site-packages folder, so
doctor answers even when that environment is too broken to start.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from hoofenv.inenv.protocol import FAIL, OK, OPENCV_FLAVOURS, WARN
from hoofenv.machine import ownership
from hoofenv.machine.environment import Environment, canonical
from hoofenv.machine.facts import Facts
from hoofenv.stack.plan import Plan
# rough installed sizes, for the free-disk check
STACK_GIB = {"cpu": 2.0, "cuda": 8.0}


@dataclass
class Check:
    id: str
    status: str
    summary: str
    details: list[str] = field(default_factory=list)
    hint: str | None = None


@dataclass
class Report:
    checks: list[Check]
    facts: dict
    plan: dict
    env: str | None

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "env": self.env, "checks": [asdict(c) for c in self.checks],
                "facts": self.facts, "plan": self.plan}


def diagnose(facts: Facts, plan: Plan, env: Environment | None, current: bool = False) -> Report:
    """`current`: `env` is the running env (doctor --current), which install reaches only with --current."""
    checks = [_os(facts), _python(facts, plan), _nvidia(facts), _tools(facts, plan), _disk(facts, plan),
              _plan(plan)]
    checks.append(_environment(env, plan, current))
    return Report(checks, facts.to_dict(), plan.to_dict(), str(env.path) if env else None)


def _os(facts: Facts) -> Check:
    o = facts.os
    text = f"{o.distro or o.system} {o.distro_version or ''} {o.arch}".replace("  ", " ") + (" (WSL2)" if o.wsl else "")
    if o.system != "Linux" or o.arch != "x86_64":
        return Check("os", FAIL, f"OS {text}", ["training needs Linux x86_64 (mmcv has no compiled ops elsewhere)"],
                     "use a Linux x86_64 machine, or WSL2 on Windows")
    return Check("os", OK, f"OS {text}")


def _python(facts: Facts, plan: Plan) -> Check:
    p = facts.python
    others = ", ".join(v for v in p.available if v != p.version)
    summary = f"Python {p.version} ({p.executable})" + (f"; also {others}" if others else "")
    if plan.python_source and plan.python_source.how != "path":
        return Check("python", WARN, summary, [f"the plan needs Python {plan.python}, which is not here"],
                     plan.python_source.command)
    return Check("python", OK, summary)


def _nvidia(facts: Facts) -> Check:
    nv = facts.nvidia
    if nv is None:
        return Check("nvidia", WARN, "NVIDIA GPU: none found (CPU training is slow)")
    gpus = [f"{g.name} (sm_{(g.compute_capability or '?').replace('.', '')}, "
            f"{g.memory_mib or '?'} MiB)" for g in nv.gpus]
    if nv.error_code:
        hints = {
            "driver-mismatch": "reboot to load the upgraded driver: `sudo reboot`",
            "no-driver": "install a driver: `sudo ubuntu-drivers install`, then reboot",
        }
        return Check("nvidia", FAIL, f"NVIDIA driver: {nv.error_code}", [nv.error or "", *gpus],
                     hints.get(nv.error_code, "run `nvidia-smi` and fix what it reports"))
    summary = f"NVIDIA driver {nv.driver_version} (CUDA <= {nv.cuda_driver_version or '?'}, via {nv.source})"
    return Check("nvidia", OK, summary, gpus)


def _tools(facts: Facts, plan: Plan) -> Check:
    t = facts.tools
    have = [f"{name} {getattr(t, name)}" for name in ("uv", "conda", "nvcc", "gcc", "ninja") if getattr(t, name)]
    summary = "Tools: " + (", ".join(have) or "none of uv, conda, nvcc, gcc, ninja")
    details, status, hint = [], OK, None
    if not t.uv:
        details.append("uv not found: installs use pip (several times slower)")
        status, hint = WARN, "pip install uv"
    if plan.mmcv and plan.mmcv.build and plan.mmcv.build.missing:
        details.append("building mmcv needs: " + ", ".join(plan.mmcv.build.missing))
        status = FAIL
        hint = next((p.hint for p in plan.problems if p.code.startswith("build-needs")), hint)
    return Check("tools", status, summary, details, hint)


def _disk(facts: Facts, plan: Plan) -> Check:
    need = STACK_GIB["cpu" if plan.cuda in (None, "cpu") else "cuda"]
    free = facts.disk_free_gib
    if free is None:
        return Check("disk", WARN, "Disk: free space unknown")
    if free < need:
        return Check("disk", FAIL, f"Disk: {free} GiB free", [f"the planned stack needs about {need} GiB"],
                     "free some space, or install elsewhere: `hoofenv install --env /bigdisk/hoofenv-env`")
    return Check("disk", OK, f"Disk: {free} GiB free (the stack needs about {need} GiB)")


def _plan(plan: Plan) -> Check:
    errors = [p for p in plan.problems if p.severity == "error"]
    if not plan.resolved:
        first = errors[0] if errors else None
        return Check("plan", FAIL, "Plan: refused", [p.message for p in errors], first.hint if first else None)
    mmcv = f"mmcv {plan.mmcv.version} ({plan.mmcv.source})" if plan.mmcv else "mmcv ?"
    return Check("plan", OK, f"Plan: Python {plan.python}, torch {plan.torch}+{plan.cuda}, {mmcv}, "
                             f"mmpose {plan.mmpose}")


def install_hint(env: Environment | None, current: bool = False) -> tuple[str, ownership.Verdict | None]:
    """The install command that would (re)make `env`, from the same check install makes: never `--env PATH` for
    a path install would refuse (then the verdict's fix instead)."""
    if env is None:
        return "hoofenv install", None
    if current:
        verdict = ownership.judge_current(env.path)
        if env.is_system:
            return ("python3 -m venv ~/hoof && . ~/hoof/bin/activate && hoofenv install --current   (hoofenv never "
                    "installs into a system Python)"), verdict
        return (verdict.fix if not verdict.ok else "hoofenv install --current"), verdict
    verdict = ownership.judge(env.path)
    if not verdict.ok:
        return verdict.fix, verdict
    default = Environment.default().path
    return "hoofenv install" + ("" if env.path == default else f" --env {shlex.quote(str(env.path))}"), verdict


def _environment(env: Environment | None, plan: Plan, current: bool = False) -> Check:
    hint, verdict = install_hint(env, current)
    if env is None or not env.exists:
        where = env.path if env else ".hoofenv/env"
        if verdict is not None and not verdict.ok:
            return Check("env", FAIL, f"Environment {where}: not an env hoofenv can make there",
                         [verdict.reason, *verdict.causes], hint)
        return Check("env", WARN, f"Environment {where}: not created yet", hint=hint)
    installed = env.installed()
    wanted = _wanted(plan)
    details, status = [], OK

    def bad(text: str, level: str = FAIL) -> None:
        nonlocal status
        details.append(text)
        if level == FAIL or status == OK:
            status = level

    for name, spec in wanted.items():
        have = installed.get(canonical(name))
        if have is None:
            bad(f"{name} is missing (plan: {spec or 'any'})")
        elif spec and not _satisfies(have, spec):
            bad(f"{name} {have} differs from the plan ({spec})")
    if "mmcv-lite" in installed:
        bad(f"mmcv-lite {installed['mmcv-lite']} is installed: it has no mmcv._ext (compiled ops)")
    flavours = [n for n in OPENCV_FLAVOURS if n in installed]
    if len(flavours) > 1:
        bad(f"{len(flavours)} opencv flavours share one cv2 folder: {', '.join(flavours)}")
    if "chumpy" in installed:
        bad("chumpy is installed: mmpose 1.3 never imports it and it breaks on Python 3.11", WARN)
    summary = f"Environment {env.path} (Python {env.python_version() or '?'}, {len(installed)} packages)"
    if status == FAIL and verdict is not None and not verdict.ok:
        details.append(f"hoofenv will not replace it: {verdict.causes[0] if verdict.causes else verdict.reason}")
    return Check("env", status, summary, details, hint if status == FAIL else None)


def _wanted(plan: Plan) -> dict[str, str]:
    if not plan.resolved:
        return {}
    out = {name: f"=={getattr(plan, name)}" for name in ("torch", "torchvision", "mmengine", "mmdet", "mmpose")}
    out["mmcv"] = f"=={plan.mmcv.version}"
    for name, spec in plan.pins.items():
        out[name] = spec if spec[:1] in "<>=!~" else f"=={spec}"
    return out


def _satisfies(version: str, spec: str) -> bool:
    try:
        v = Version(version)
    except InvalidVersion:
        return False
    base = Version(v.base_version)  # 2.1.2+cu121 satisfies ==2.1.2
    return base in SpecifierSet(spec) or v in SpecifierSet(spec)
