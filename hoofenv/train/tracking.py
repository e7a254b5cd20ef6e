"""`hoofenv train --track tensorboard|mlflow|wandb`: MMEngine's own vis backends added to the rendered config, and
the packages they import installed into the managed env on demand (pinned in compat_matrix.yaml `tracking`,
under the env's hoofenv-constraints.txt so numpy stays < 2). Without --track nothing changes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

from hoofenv.errors import HoofenvError, UsageError
from hoofenv.inenv.protocol import MLFLOW_BACKEND
from hoofenv.machine.ownership import CONSTRAINTS_FILE, made_env
from hoofenv.stack.matrix import TrackingRow
from hoofenv.stack.matrix import load as load_matrix

NAMES = ("tensorboard", "mlflow", "wandb")
EXPERIMENT = "hoofenv"
# what MLflowVisBackend copies from the work dir as artifacts when the run ends (its default adds `yaml`, which
# would copy the file store's own meta.yaml files when the store is inside the work dir)
MLFLOW_ARTIFACTS = (".json", ".log", ".py")


def rows(names: list[str]) -> list[TrackingRow]:
    table = load_matrix().tracking
    unknown = [n for n in names if n not in table]
    if unknown:
        raise UsageError(f"--track {unknown[0]}: one of {', '.join(sorted(table)) or '(none in the matrix)'}")
    return [table[n] for n in dict.fromkeys(names)]


def wandb_mode(environ: dict | None = None, home: Path | None = None) -> tuple[str | None, str]:
    """(mode for wandb.init, why): offline unless logged in (WANDB_API_KEY, or `wandb login`'s ~/.netrc entry);
    a WANDB_MODE the user set is left to wandb."""
    env = os.environ if environ is None else environ
    if env.get("WANDB_MODE"):
        return None, f"WANDB_MODE={env['WANDB_MODE']} (yours)"
    if env.get("WANDB_API_KEY"):
        return "online", "WANDB_API_KEY is set"
    netrc = (home or Path.home()) / ".netrc"
    try:
        if "api.wandb.ai" in netrc.read_text(errors="replace"):
            return "online", f"logged in ({netrc} has api.wandb.ai)"
    except OSError:
        pass
    return "offline", "not logged in (no WANDB_API_KEY, no `wandb login`): `wandb sync` uploads the run later"


def mlflow_store(work_dir: Path) -> str:
    """MLflow's local store in the work dir: a SQLite file. MLflow 3 refuses its ./mlruns file store unless
    MLFLOW_ALLOW_FILE_STORE=true (maintenance mode, no further updates) and points new users at sqlite."""
    return f"sqlite:///{work_dir / 'mlflow.db'}"


def backends(names: list[str], work_dir: Path, tracking_uri: str | None = None) -> list[dict]:
    """The vis_backends entries, with everything a run writes inside the work dir unless told otherwise."""
    out = []
    for row in rows(names):
        cfg: dict = {"type": row.backend}
        if row.name == "mlflow":
            cfg["type"] = MLFLOW_BACKEND  # the matrix's MLflowVisBackend, with metric names MLflow accepts
            cfg.update(exp_name=EXPERIMENT, run_name=work_dir.name, tracking_uri=tracking_uri or mlflow_store(work_dir),
                       artifact_suffix=MLFLOW_ARTIFACTS)
            if not tracking_uri:
                cfg["artifact_location"] = str(work_dir / "mlartifacts")
        elif row.name == "wandb":
            mode, _ = wandb_mode()
            cfg["init_kwargs"] = dict(project=EXPERIMENT, name=work_dir.name, dir=str(work_dir),
                                      **({"mode": mode} if mode else {}))
        out.append(cfg)
    return out


def config_block(entries: list[dict]) -> str:
    """Appended to the rendered config: the template's visualizer keeps its backends and gains these."""
    if not entries:
        return ""
    items = ",\n    ".join(repr(e) for e in entries)
    return ("\n# experiment tracking (hoofenv train --track): MMEngine's vis backends beside the template's\n"
            "visualizer = dict(visualizer, vis_backends=list(visualizer.get('vis_backends', [])) + [\n"
            f"    {items},\n])\n")


PROBE = ("import importlib.util, json, sys\n"
         "print(json.dumps({'python': '%d.%d' % sys.version_info[:2],\n"
         "                  'missing': [m for m in sys.argv[1:] if importlib.util.find_spec(m) is None],\n"
         "                  'pip': importlib.util.find_spec('pip') is not None}))\n")


def probe(python: Path, modules: list[str]) -> dict:
    proc = subprocess.run([str(python), "-c", PROBE, *modules], capture_output=True, text=True, timeout=300)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise HoofenvError(f"{python} did not answer which tracking packages it has (exit {proc.returncode})",
                           output=proc.stderr.strip().splitlines()[-10:], code="tracking-install") from exc


def install_argv(python: Path, env_dir: Path, packages: list[str], has_pip: bool) -> list[str]:
    """The env's pip (it reads the env's pip.conf: the sources the stack came from), else uv."""
    constraints = ["--constraint", str(env_dir / CONSTRAINTS_FILE)]
    if has_pip:
        return [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off",
                *constraints, *packages]
    uv = shutil.which("uv")
    if not uv:
        raise HoofenvError(f"no pip in {env_dir} and no uv on PATH to install {' '.join(packages)}",
                           hint="pip install uv", code="tracking-install")
    return [uv, "pip", "install", "--python", str(python), *constraints, *packages]


def ensure(names: list[str], python: Path, managed_env: Path | None, emit: Callable[[dict], None]) -> None:
    """Every tracking package importable in the env that trains; missing ones are installed into a hoofenv-made
    managed env, and refused (with the command) for an env given by --python, which hoofenv does not change."""
    wanted = rows(names)
    if not wanted:
        return
    found = probe(python, [r.module for r in wanted])
    for row in wanted:
        if found["python"] not in row.python:
            raise HoofenvError(f"--track {row.name} needs Python {row.python}; the training env has {found['python']}",
                               causes=[f"{', '.join(row.packages)} [compat_matrix.yaml {row.id}]"],
                               hint="hoofenv install --python 3.11   (a newer env), or drop --track " + row.name,
                               code="tracking-python")
    missing = [r for r in wanted if r.module in found["missing"]]
    if not missing:
        return
    packages = [p for r in missing for p in r.packages]
    if managed_env is None or made_env(managed_env) is None or not (managed_env / CONSTRAINTS_FILE).exists():
        raise HoofenvError(f"--track {', '.join(r.name for r in missing)}: {' '.join(packages)} missing in {python}",
                           causes=["hoofenv installs tracking packages only into an env it made (`hoofenv install`); "
                                   "an env given by --python is yours and stays unchanged"],
                           hint=f"{python} -m pip install {' '.join(packages)}", code="tracking-missing")
    argv = install_argv(python, managed_env, packages, found["pip"])
    emit({"event": "tracking-install", "packages": packages, "env": str(managed_env)})
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise HoofenvError(f"installing {' '.join(packages)} into {managed_env} failed (exit {proc.returncode})",
                           causes=[f"command: {' '.join(argv)}", "the stack's pins held (hoofenv-constraints.txt)"],
                           output=(proc.stdout + proc.stderr).strip().splitlines()[-12:],
                           hint=f"hoofenv doctor --env {managed_env}", code="tracking-install")
    still = probe(python, [r.module for r in missing])["missing"]
    if still:
        raise HoofenvError(f"{', '.join(still)} still not importable in {managed_env} after the install",
                           hint=f"{python} -c 'import {still[0]}'", code="tracking-install")
