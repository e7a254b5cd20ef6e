"""Plan -> the ordered install steps (exact command lines). Pure: `--dry-run` prints exactly this list.

With pip, the order measured to work (../shared/reference/this-machine.md): bootstrap pip/setuptools<81/wheel,
torch + torchvision from the plan's index, the numpy pin, mmcv as a binary only, mmengine, mmdet, mmpose without
its dependencies (chumpy) plus its real runtime ones, one opencv flavour, xtcocotools after numpy, openmim. With
uv, all of that but mmpose is one resolution, then mmpose without its dependencies. Every step runs under one
constraints file holding all the plan's pins, so no later step can move an earlier one.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hoofenv.install.installers import Installer
from hoofenv.machine.environment import canonical
from hoofenv.stack.plan import Plan


@dataclass
class Step:
    name: str
    title: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    packages: list[str] = field(default_factory=list)  # canonical names this step is responsible for

    def shell(self) -> str:
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return (prefix + " " if prefix else "") + shlex.join(self.argv)

    def to_dict(self) -> dict:
        return asdict(self) | {"command": self.shell()}


def constraints_text(plan: Plan) -> str:
    """Every pin of the plan, for `--constraint`: nothing a later step (or mim) installs may move them."""
    names = ["torch", "torchvision", "numpy", "setuptools", "opencv-python", "xtcocotools", "mmcv", "mmengine",
             "mmdet", "mmpose", "openmim"]
    names += [n for n in plan.pins if n not in names]
    lines = [plan.requirement(n) for n in names if plan.requirement(n) != n]
    return "# written by hoofenv install from the plan; every install step runs under it\n" + "\n".join(lines) + "\n"


def site_packages(env: Path, python: str) -> Path:
    return env / "lib" / f"python{python}" / "site-packages"


def install_steps(plan: Plan, installer: Installer, env: Path, constraints: Path, *,
                  mmcv_wheel: str | None = None, has_pip: bool = True) -> list[Step]:
    """The ordered steps that install `plan` into the env at `env` (which exists; its python is env/bin/python)."""
    py = env / "bin" / "python"
    req = plan.requirement
    c = [constraints]
    torch_index = plan.indexes.get("torch")
    mmcv_index = plan.indexes.get("mmcv")
    steps: list[Step] = []

    def add(name: str, title: str, argv: list[str], packages: list[str], env_vars: dict | None = None) -> None:
        steps.append(Step(name, title, argv, env_vars or {}, packages))

    boot = ["pip", req("setuptools"), "wheel"]
    # mmcv: a wheel only. From the plan's mmcv index, or the wheel hoofenv built/cached; never the sdist.
    mmcv_req = [mmcv_wheel] if mmcv_wheel else [req("mmcv")]
    mmcv_links = [mmcv_index] if mmcv_index and not mmcv_wheel else []
    mmcv_title = f"mmcv {plan.mmcv.version} (binary only{', built here' if plan.mmcv.source == 'build' else ''})"
    torch_title = f"torch {plan.torch_text()} + torchvision {plan.torchvision}"
    runtime_names = [n for n in plan.mmpose_runtime if n not in ("xtcocotools", "chumpy")]
    runtime = [req(n) for n in runtime_names]
    opencv = "opencv-python"
    xtcoco = [req("xtcocotools")] if "xtcocotools" in plan.pins or "xtcocotools" in plan.mmpose_runtime else []
    if installer.kind == "uv":
        # uv resolves the whole set at once under the constraints file, so the sequence pip needs (numpy before
        # xtcocotools, mmcv before mmdet, openmim held to the pins) is one resolution here, like a raw
        # `uv pip install`: each further uv run re-reads every index, re-resolves the env and compiles its own
        # batch of bytecode (measured: 11 runs 31.5 s, 4 runs 24.2 s, raw uv 19.4 s).
        reqs = [*boot, req("torch"), req("torchvision"), req("numpy"), *mmcv_req, req("mmengine"), req("mmdet"),
                *runtime, req(opencv), *xtcoco, req("openmim")]
        names = ["pip", "setuptools", "wheel", "torch", "torchvision", "numpy", "mmcv", "mmengine", "mmdet",
                 *runtime_names, opencv, *(["xtcocotools"] if xtcoco else []), "openmim"]
        title = (f"{torch_title}, {mmcv_title}, mmengine {plan.mmengine}, mmdet {plan.mmdet}, mmpose runtime, "
                 f"pins: one resolution")
        add("stack", title, installer.install_cmd(py, reqs, constraints=c, extra_index=torch_index,
                                                 only_binary=["torch", "torchvision", "mmcv"], find_links=mmcv_links),
            [canonical_name(n) for n in names])
        add("mmpose", f"mmpose {plan.mmpose} (--no-deps: chumpy never)",
            installer.install_cmd(py, [req("mmpose")], constraints=c, no_deps=True), ["mmpose"])
        return steps
    if not has_pip:
        add("ensurepip", "pip into the env (ensurepip)", [str(py), "-m", "ensurepip", "--upgrade"], ["pip"])
    # --upgrade: `python -m venv` seeds the base Python's bundled pip/setuptools (65.5.0 for 3.11.7 here), which
    # `setuptools<81` alone would keep
    add("bootstrap", "pip, setuptools<81, wheel (upgraded)", installer.install_cmd(py, boot, constraints=c, upgrade=True),
        ["pip", "setuptools", "wheel"])
    add("torch", torch_title,
        installer.install_cmd(py, [req("torch"), req("torchvision")], constraints=c, extra_index=torch_index,
                              only_binary=["torch", "torchvision"]),
        ["torch", "torchvision"])
    add("numpy", f"numpy {plan.pins.get('numpy', '')}".strip(), installer.install_cmd(py, [req("numpy")], constraints=c),
        ["numpy"])
    add("mmcv", mmcv_title,
        installer.install_cmd(py, mmcv_req, constraints=c, only_binary=["mmcv"], find_links=mmcv_links), ["mmcv"])
    add("mmengine", f"mmengine {plan.mmengine}", installer.install_cmd(py, [req("mmengine")], constraints=c, only_binary=["mmcv"]),
        ["mmengine"])
    add("mmdet", f"mmdet {plan.mmdet}", installer.install_cmd(py, [req("mmdet")], constraints=c, only_binary=["mmcv"]),
        ["mmdet"])
    add("mmpose", f"mmpose {plan.mmpose} (--no-deps, chumpy never) + runtime deps",
        installer.install_cmd(py, [req("mmpose")], constraints=c, no_deps=True), ["mmpose"])
    add("mmpose-runtime", "mmpose runtime: " + ", ".join(runtime_names),
        installer.install_cmd(py, runtime, constraints=c, only_binary=["mmcv"]), [canonical_name(n) for n in runtime_names])
    add("opencv", f"one opencv flavour: {req(opencv)}", installer.install_cmd(py, [req(opencv)], constraints=c), [opencv])
    if xtcoco:
        add("xtcocotools", f"xtcocotools {plan.pins.get('xtcocotools', '')} (after numpy)".replace("  ", " "),
            installer.install_cmd(py, xtcoco, constraints=c), ["xtcocotools"])
    add("openmim", f"openmim {plan.pins.get('openmim', '')} held to the same pins",
        installer.install_cmd(py, [req("openmim")], constraints=c, only_binary=["mmcv"]), ["openmim"])
    return steps


def canonical_name(requirement: str) -> str:
    return canonical(re.split(r"[<>=!~;\[ @]", requirement, maxsplit=1)[0].strip())


def expected_versions(plan: Plan) -> dict[str, str]:
    """Canonical name -> exact version that a good env must hold (used by the no-op check)."""
    out = {"torch": plan.torch, "torchvision": plan.torchvision, "mmcv": plan.mmcv.version, "mmengine": plan.mmengine,
           "mmdet": plan.mmdet, "mmpose": plan.mmpose}
    for name, spec in plan.pins.items():
        if spec[:1] not in "<>=!~":
            out[name] = spec
    return {k: v for k, v in out.items() if v}
