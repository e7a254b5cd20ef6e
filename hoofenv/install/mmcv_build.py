"""mmcv built from its sdist once, cached under a key of (mmcv, torch, CUDA tag, Python, GPU arch list), reused.

The build runs in its own build venv holding the exact torch the env runs (or the plan's `build.torch_headers`),
numpy, setuptools<81, wheel, ninja and psutil; for CUDA with nvcc from PyPI also NVIDIA's toolchain, made into a
CUDA_HOME (toolchain.py). The sdist is downloaded, unpacked and patched as the plan says (sdist.py: mmcv 2.1.0's
-std=c++17 becomes c++20 for torch >= 2.14), then
`MMCV_WITH_OPS=1 FORCE_CUDA=0|1 MAX_JOBS=N TORCH_CUDA_ARCH_LIST=.. CPPFLAGS=-g0 pip wheel -v SRC --no-build-isolation`.
Its ninja lines become progress, its failure the first compiler error (build_log.py); only a wheel that holds the
compiled ops enters the cache.

One build per key at a time: the build and every write into the key's cache folder hold `build/<key>.lock` (an
fcntl lock, gone with its process). A second install that needs the same key waits, then finds the wheel the
first one cached and builds nothing. A wheel enters the cache only complete (a temp folder, renamed into place),
and the build folder or temp folder of a killed build is reclaimed by the next holder of the lock.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.files import atomic_write_text
from hoofenv.install import build_log, mutex, toolchain
from hoofenv.install.installers import Installer
from hoofenv.install.recipe import Step
from hoofenv.install.runner import Progress, run_steps
from hoofenv.paths import cache_root
from hoofenv.stack.plan import Plan

def cache_key(plan: Plan) -> str:
    b = plan.mmcv.build
    arch = (b.cuda_arch_list or "noarch").replace(";", "_").replace(" ", "_") if b else "noarch"
    headers = f"-h{b.torch_headers}" if b and b.torch_headers and b.torch_headers != plan.torch else ""
    return f"mmcv{plan.mmcv.version}-torch{plan.torch}{headers}-{plan.cuda}-cp{plan.python.replace('.', '')}-{arch}"


@dataclass
class CachedWheel:
    key: str
    folder: Path

    @property
    def wheel(self) -> Path | None:
        found = sorted(self.folder.glob("mmcv-*.whl"))
        return found[0] if found and (self.folder / "hoofenv-build.json").exists() else None


def lookup(plan: Plan) -> CachedWheel:
    return CachedWheel(cache_key(plan), cache_root() / "wheels" / cache_key(plan))


def build_steps(plan: Plan, installer: Installer, python: str, build_env: Path, out: Path,
                constraints: Path) -> list[Step]:
    """The commands that build the mmcv wheel into `out` (pure; run by install, printed by --dry-run)."""
    b = plan.mmcv.build
    where = out.parent
    py = build_env / "bin" / "python"
    torch = plan.headers_requirement()
    env = toolchain.build_env(plan, where)
    tools = [torch, plan.requirement("numpy"), plan.requirement("setuptools"), "wheel", "ninja", "psutil"]
    source = Installer("pip", installer.sources).source_args()
    steps = [
        # a plain venv: it brings pip (ensurepip, offline), which runs the legacy sdist build
        Step("build-venv", f"build venv for mmcv ({torch})", [python, "-m", "venv", str(build_env)]),
        Step("build-tools", f"build tools: {torch}, numpy, setuptools<81, wheel, ninja, psutil",
             installer.install_cmd(py, tools, constraints=[constraints], extra_index=plan.indexes.get("torch"))),
    ]
    t = b.toolchain
    if b.force_cuda and t and t.how == "pypi":
        steps += [
            Step("build-toolchain", f"nvcc {t.cuda} from PyPI into the build venv ({', '.join(t.packages)}; no sudo)",
                 installer.install_cmd(py, [torch, *t.packages], constraints=[constraints],
                                       extra_index=plan.indexes.get("torch"))),
            Step("build-cuda-home", f"CUDA_HOME for that nvcc: {env['CUDA_HOME']}",
                 [sys.executable, "-m", "hoofenv.install.toolchain", str(build_env), t.cuda, env["CUDA_HOME"]]),
        ]
    steps += [
        Step("build-sdist", f"mmcv {plan.mmcv.version} sdist",
             [str(py), "-m", "pip", "download", "--disable-pip-version-check", "--progress-bar", "off",
              "--no-build-isolation", "--no-deps", "--no-binary", "mmcv", "-d", str(where / "sdist"), *source,
              plan.requirement("mmcv")], env),
        Step("build-source", "unpack the sdist" + (f"; patch {', '.join(p.get('file') or p['unity'] for p in b.patches)}"
                                                   if b.patches else ""),
             [sys.executable, "-m", "hoofenv.install.sdist", str(where / "sdist"), str(where / "src"),
              str(where / PATCHES)]),
        Step("build-mmcv", f"compile mmcv {plan.mmcv.version} (about {b.minutes} min, MAX_JOBS={b.max_jobs}"
             + (f", TORCH_CUDA_ARCH_LIST={b.cuda_arch_list}" if b.cuda_arch_list else "") + ")",
             [str(py), "-m", "pip", "wheel", "-v", "--disable-pip-version-check", "--progress-bar", "off",
              "--no-build-isolation", "--no-deps", "--no-index", "-w", str(out),
              str(where / "src" / f"mmcv-{plan.mmcv.version}")], env),
    ]
    return steps


PATCHES = "patches.json"  # the plan's sdist patches, written beside constraints.txt by build()


def build_constraints(plan: Plan) -> str:
    """Build-venv pins: the plan's, with torch held at the build compiled against."""
    lines = [plan.requirement(n) for n in ("numpy", "setuptools")]
    lines.append(plan.headers_requirement())
    return "\n".join(lines) + "\n"


def check_built(out: Path, plan: Plan) -> None:
    """A wheel that lacks the compiled ops (mmcv#3201) is half-built: it never enters the cache."""
    wheels = sorted(out.glob("mmcv-*.whl"))
    try:
        names = zipfile.ZipFile(wheels[0]).namelist() if wheels else []
    except (OSError, zipfile.BadZipFile) as exc:
        raise HoofenvError(f"the mmcv build wrote an unreadable wheel: {wheels[0]}", [str(exc)],
                           hint="re-run the install; the cache was not touched", code="build-no-wheel") from exc
    if wheels and not any(n.startswith("mmcv/_ext.") for n in names):
        raise HoofenvError(f"the mmcv build wrote {wheels[0].name} without its compiled ops (mmcv/_ext)",
                           ["MMCV_WITH_OPS=1 was set; the compile produced no extension", f"in {out}"],
                           hint="read the build log; the cache was not touched", code="build-no-ops")


def key_lock(cached: CachedWheel, on_wait=None):
    """Held while building or caching the wheel of this key."""
    return mutex.held(cache_root() / "build" / f"{cached.key}.lock", f"the mmcv build for {cached.key}", on_wait)


def _leftovers(cached: CachedWheel) -> list[Path]:
    """What a killed build or store of this key left: its build folder and temp folders (call with the lock)."""
    found = [build_dir(cached)] if build_dir(cached).exists() else []
    wheels = cached.folder.parent
    if wheels.is_dir():
        found += [p for p in wheels.iterdir() if p.name.startswith((f".{cached.key}.tmp", f".{cached.key}.old",
                                                                      f"{cached.key}.tmp"))]
    return found


def store(cached: CachedWheel, built: Path, plan: Plan, seconds: float) -> Path:
    """Move the built wheel into the cache atomically (a temp folder renamed into place). Call with key_lock held."""
    wheels = sorted(built.glob("mmcv-*.whl"))
    if not wheels:
        raise HoofenvError("the mmcv build finished but wrote no wheel", [f"looked in {built}"], code="build-no-wheel")
    tmp = cached.folder.with_name(f".{cached.key}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy2(wheels[0], tmp / wheels[0].name)
    atomic_write_text(tmp / "hoofenv-build.json", json.dumps(
        {"key": cached.key, "mmcv": plan.mmcv.version, "torch": plan.torch, "cuda": plan.cuda, "python": plan.python,
         "build": plan.to_dict()["mmcv"]["build"], "seconds": round(seconds, 1)}, indent=2))
    old = None
    if cached.folder.exists():
        old = cached.folder.with_name(f".{cached.key}.old{os.getpid()}")
        os.replace(cached.folder, old)
    os.replace(tmp, cached.folder)
    if old:
        shutil.rmtree(old, ignore_errors=True)
    return cached.folder / wheels[0].name


def seed(plan: Plan, wheel: Path) -> Path:
    """Put an already-built mmcv wheel (a file, or a folder holding one) into the cache under the plan's key
    (`hoofenv install --mmcv-wheel`)."""
    cached = lookup(plan)
    with key_lock(cached), tempfile.TemporaryDirectory() as tmp:
        if wheel.is_file():
            shutil.copy2(wheel, Path(tmp) / wheel.name)
        return store(cached, wheel if wheel.is_dir() else Path(tmp), plan, 0.0)


def build_dir(cached: CachedWheel) -> Path:
    return cache_root() / "build" / cached.key


def build(plan: Plan, steps: list[Step], cached: CachedWheel, progress: Progress) -> list[dict]:
    """Build the wheel and cache it, once per key: under the key's lock, a wheel that another install cached while
    this one waited is used as it is; what an earlier build left (killed, or failed: its log is kept for the error
    message) is removed first; the build folder goes once the wheel is cached, and stays with its logs when the
    build fails (the error names the log)."""
    with key_lock(cached, lambda text: progress.note(text, "warn")):
        if cached.wheel:
            progress.note(f"mmcv {plan.mmcv.version}: built meanwhile by another install; using the cached wheel "
                          f"{cached.wheel}", "ok")
            return []
        left = _leftovers(cached)
        if left:
            progress.note("removed what an earlier, unfinished mmcv build left: " + ", ".join(str(p) for p in left))
            for path in left:
                shutil.rmtree(path, ignore_errors=True)
        return _build(plan, steps, cached, progress)


def _build(plan: Plan, steps: list[Step], cached: CachedWheel, progress: Progress) -> list[dict]:
    b = plan.mmcv.build
    progress.note(f"mmcv {plan.mmcv.version}: no cached wheel for {cached.key}; building it (about {b.minutes} min, "
                  f"MAX_JOBS={b.max_jobs}); cached for next time in {cached.folder}")
    where = build_dir(cached)
    (where / "out").mkdir(parents=True)
    atomic_write_text(where / "constraints.txt", build_constraints(plan))
    atomic_write_text(where / PATCHES, json.dumps(plan.mmcv.build.patches, indent=2))
    t0 = time.monotonic()
    try:
        results = run_steps(steps, build_log.BuildProgress(progress), where / "logs", None, "mmcv build")
    except HoofenvError as exc:
        raise build_log.explain(exc, where / "logs") from None
    check_built(where / "out", plan)
    wheel = store(cached, where / "out", plan, time.monotonic() - t0)
    shutil.rmtree(where, ignore_errors=True)
    progress.note(f"mmcv wheel built in {time.monotonic() - t0:.0f}s and cached: {wheel}", "ok")
    return results
