"""Machine -> Facts. Every step has a timeout and returns None on failure; nothing here decides anything.

Parsers of real command output are plain functions over text, tested against recorded outputs; the
functions that touch the machine only read a file or run a command and hand the text to a parser.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from hoofenv.errors import HoofenvError, UsageError
from hoofenv.files import atomic_write_text
from hoofenv.machine.cuda import ComputeCapability, DriverVersion
from hoofenv.machine.facts import GPU, Facts, Interpreter, Nvcc, NvidiaFacts, OSFacts, PythonFacts, ToolFacts
from hoofenv.paths import cache_root

DRIVER_ENV = "HOOFENV_CUDA_DRIVER_VERSION"
ARCH_ENV = "HOOFENV_CUDA_ARCH"
VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"
ORDER_ENV = "CUDA_DEVICE_ORDER"
NVCC_GLOBS = ["/usr/local/cuda/bin/nvcc", "/usr/local/cuda-*/bin/nvcc", "/opt/cuda/bin/nvcc"]
TIMEOUT = 5.0
PYTHON_NAMES = ["python3", "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14"]
MANAGED_PYTHONS = ["~/.pyenv/versions/*/bin/python3", "~/.local/share/uv/python/*/bin/python3"]


def which(name: str) -> str | None:
    """Beside the running interpreter first (the uv that hoofenv's own install brings), then on PATH."""
    return shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)


def find_uv() -> str | None:
    return which("uv")


def run(cmd: list[str], timeout: float = TIMEOUT) -> str | None:
    """stdout of `cmd`, or None when it is missing, fails, or hangs."""
    exe = which(cmd[0])
    if not exe:
        return None
    cmd = [exe, *cmd[1:]]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def run_any(cmd: list[str], timeout: float = TIMEOUT) -> tuple[int, str] | None:
    """(exit code, stdout+stderr) of `cmd`, for tools whose failure text is the fact (nvidia-smi)."""
    if not shutil.which(cmd[0]):
        return None
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.returncode, proc.stdout + proc.stderr


def read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return None


# ---------------------------------------------------------------- parsers (pure)

def parse_os_release(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            out[key.strip()] = value.strip().strip('"').strip("'")
    return out


def wsl_version(proc_version: str | None) -> int | None:
    """2 for WSL2 (a real Linux kernel, `-microsoft-standard`), 1 for WSL1 (`-Microsoft`, no GPU), else None."""
    text = (proc_version or "").lower()
    if "microsoft-standard" in text or "wsl2" in text:
        return 2
    return 1 if "microsoft" in text else None


def parse_proc_driver_version(text: str) -> str | None:
    """`NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.183.01  Sun May 12 ...` -> '535.183.01'."""
    m = re.search(r"NVRM version:.*?Kernel Module\s+(?:for \S+\s+)?(\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else None


def parse_smi_table(text: str) -> tuple[str | None, str | None]:
    """(driver version, highest CUDA) from the default nvidia-smi table header."""
    driver = re.search(r"Driver Version:\s*(\d+\.\d+(?:\.\d+)?)", text)
    cuda = re.search(r"CUDA Version:\s*(\d+\.\d+)", text)
    return (driver.group(1) if driver else None, cuda.group(1) if cuda else None)


def parse_smi_query(text: str) -> list[GPU]:
    """`nvidia-smi --query-gpu=... --format=csv` (with its header line; columns in any order, units allowed)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines or "," not in lines[0] and not re.match(r"^[a-z_.]+( \[.*\])?$", lines[0].strip()):
        return []
    header = [re.sub(r"\s*\[.*\]$", "", h.strip()) for h in lines[0].split(",")]
    gpus = []
    for n, line in enumerate(lines[1:]):
        row = dict(zip(header, (c.strip() for c in line.split(","))))
        name = row.get("name")
        if not name:
            continue
        cc = row.get("compute_cap", "")
        mem = re.match(r"\d+", row.get("memory.total", ""))
        index = row.get("index", "")
        uuid = row.get("uuid", "")
        gpus.append(GPU(
            name=name,
            compute_capability=cc if re.fullmatch(r"\d+\.\d+", cc) else None,
            memory_mib=int(mem.group(0)) if mem else None,
            index=int(index) if index.isdigit() else n,
            uuid=uuid if uuid.startswith("GPU-") else None,
        ))
    return gpus


def visible_indices(value: str | None, gpus: list[GPU], order: str | None = None) -> tuple[list[int] | None, str | None]:
    """The nvidia-smi indices that CUDA_VISIBLE_DEVICES leaves visible, and a note when the reading is uncertain.

    CUDA reads the list up to the first entry it cannot match (an index out of range, an unknown UUID), so the
    rest is ignored; an empty value hides every GPU. Integers are CUDA's own numbering, which is nvidia-smi's
    (PCI bus order) only with CUDA_DEVICE_ORDER=PCI_BUS_ID or when the GPUs are alike; otherwise CUDA numbers the
    fastest first, which hoofenv does not guess: it says so."""
    if value is None:
        return None, None
    chosen: list[int] = []
    by_index = {g.index: g for g in gpus}
    for token in (t.strip() for t in value.split(",")):
        if re.fullmatch(r"\d+", token) and int(token) in by_index:
            found = by_index[int(token)]
        elif token.upper().startswith("GPU-"):
            found = next((g for g in gpus if g.uuid and g.uuid.lower().startswith(token.lower())), None)
        else:
            found = None
        if found is None or found.index in chosen:
            break
        chosen.append(found.index)
    note = None
    alike = len({g.name for g in gpus}) <= 1
    if any(re.fullmatch(r"\d+", t.strip()) for t in value.split(",")) and not alike and order != "PCI_BUS_ID":
        note = (f"{VISIBLE_ENV}={value} read as nvidia-smi indices; CUDA numbers unlike GPUs fastest first unless "
                f"{ORDER_ENV}=PCI_BUS_ID: set that (or use GPU UUIDs) so both agree")
    return chosen, note


def parse_nvml_library_version(text: str) -> str | None:
    """`NVML library version: 550.144` as nvidia-smi prints it beside a driver/library mismatch."""
    m = re.search(r"NVML library version:\s*(\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else None


def parse_lspci(text: str) -> list[GPU]:
    """NVIDIA display controllers on the PCI bus (vendor 10de), named as lspci names them."""
    gpus = []
    for line in text.splitlines():
        if "[10de:" not in line.lower() and "nvidia" not in line.lower():
            continue
        if not re.search(r"VGA compatible controller|3D controller|Display controller", line):
            continue
        _, _, desc = line.partition(": ")
        bracket = re.search(r"\[(?!10de:)(?!\d{4}\])([^\]]*(?:GeForce|Quadro|Tesla|RTX|TITAN|GTX|[A-Z]\d{2,3})[^\]]*)\]", desc)
        name = bracket.group(1) if bracket else re.sub(r"\s*\[[0-9a-f]{4}:[0-9a-f]{4}\].*$", "", desc).strip()
        gpus.append(GPU(name=name, index=len(gpus)))
    return gpus


def parse_nvcc_version(text: str) -> str | None:
    m = re.search(r"release (\d+\.\d+)", text)
    return m.group(1) if m else None


def parse_first_version(text: str | None) -> str | None:
    if not text:
        return None
    m = re.search(r"(\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else None


def cuda_int_to_version(value: int) -> str:
    """NVML's 12020 -> '12.2' (nvidia-smi's 'CUDA Version')."""
    return f"{value // 1000}.{(value % 1000) // 10}"


# ---------------------------------------------------------------- NVIDIA

# Where an NVIDIA driver leaves a trace (WSL2 through /dev/dxg); without any, importing nvidia-ml-py (~0.1 s with
# ctypes) is wasted, and a CPU build of torch is what fits.
DRIVER_TRACES = ["/proc/driver/nvidia", "/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg",
                 "/usr/lib/wsl/lib/libnvidia-ml.so.1"]
GPU_MEMORY_ENV = "HOOFENV_GPU_MEMORY_GIB"  # tests / odd machines: pretend this much GPU memory ("0" = no GPU)


def driver_present() -> bool:
    return any(os.path.exists(p) for p in DRIVER_TRACES)


def probe_nvml() -> NvidiaFacts | None:
    """NVML through nvidia-ml-py; None when the library is absent (no driver installed)."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        code = getattr(exc, "value", None)
        if code in (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, pynvml.NVML_ERROR_DRIVER_NOT_LOADED):
            return None
        mismatch = code == getattr(pynvml, "NVML_ERROR_LIB_RM_VERSION_MISMATCH", -1)
        return NvidiaFacts(
            error=f"NVML failed to initialise: {exc}",
            error_code="driver-mismatch" if mismatch else "nvml-failed",
            source="nvml",
        )
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else driver
        cuda = cuda_int_to_version(pynvml.nvmlSystemGetCudaDriverVersion_v2())
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else name
            try:
                major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
                cc = f"{major}.{minor}"
            except pynvml.NVMLError:
                cc = None
            try:
                mem = pynvml.nvmlDeviceGetMemoryInfo(handle).total // (1024 * 1024)
            except pynvml.NVMLError:
                mem = None
            try:
                uuid = pynvml.nvmlDeviceGetUUID(handle)
                uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
            except pynvml.NVMLError:
                uuid = None
            gpus.append(GPU(name=name, compute_capability=cc, memory_mib=mem, index=i, uuid=uuid))
        return NvidiaFacts(driver_version=driver, cuda_driver_version=cuda, gpus=gpus, source="nvml")
    except pynvml.NVMLError as exc:
        return NvidiaFacts(error=f"NVML query failed: {exc}", error_code="nvml-failed", source="nvml")
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001 - shutdown failure changes no fact
            pass


def probe_smi() -> NvidiaFacts | None:
    """nvidia-smi, when NVML through Python failed or is missing."""
    table = run_any(["nvidia-smi"])
    if table is None:
        return None
    code, text = table
    if code != 0:
        lowered = text.lower()
        if "version mismatch" in lowered:
            return NvidiaFacts(driver_version=None, error=text.strip(), error_code="driver-mismatch",
                               source="nvidia-smi")
        if "couldn't communicate" in lowered or "driver" in lowered:
            return NvidiaFacts(error=text.strip(), error_code="no-driver", source="nvidia-smi")
        return NvidiaFacts(error=text.strip(), error_code="nvml-failed", source="nvidia-smi")
    driver, cuda = parse_smi_table(text)
    query = run(["nvidia-smi", "--query-gpu=index,name,compute_cap,memory.total,uuid", "--format=csv"])
    if query is None:  # drivers before ~510 answer: Field "compute_cap" is not a valid field to query.
        query = run(["nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv"])
    gpus = parse_smi_query(query or "")
    return NvidiaFacts(driver_version=driver, cuda_driver_version=cuda, gpus=gpus, source="nvidia-smi")


def _checked_env(name: str, parse, what: str) -> str | None:
    """A variable that stands in for what the driver would say, parsed as the resolver will parse it."""
    value = os.environ.get(name)
    if not value:
        return None
    try:
        parse(value)
    except HoofenvError:
        raise UsageError(f"${name}={value!r} does not parse",
                         hint=f"set it to {what}, or unset it: `unset {name}`") from None
    return value.strip()


def probe_nvidia() -> NvidiaFacts | None:
    """None: no NVIDIA GPU at all. Otherwise what the first working source says, with fallbacks, and which of its
    GPUs CUDA_VISIBLE_DEVICES leaves visible."""
    facts = _probe_nvidia()
    if facts is not None and os.environ.get(VISIBLE_ENV) is not None:
        facts.visible_env = os.environ[VISIBLE_ENV]
        facts.visible, _ = visible_indices(facts.visible_env, facts.gpus, os.environ.get(ORDER_ENV))
    return facts


def _probe_nvidia() -> NvidiaFacts | None:
    override = _checked_env(DRIVER_ENV, DriverVersion.parse, "the driver version as nvidia-smi prints it, "
                                                               "e.g. 535.183.01")
    if override:
        arch = _checked_env(ARCH_ENV, ComputeCapability.parse, "the GPU's compute capability, e.g. 8.6")
        gpus = [GPU(name=f"(from ${ARCH_ENV})", compute_capability=arch)] if arch else []
        return NvidiaFacts(driver_version=override, gpus=gpus, source=f"${DRIVER_ENV}")

    facts = probe_nvml() if driver_present() else None
    if facts is None or facts.error_code:
        facts = probe_smi() or facts
    kernel = parse_proc_driver_version(read("/proc/driver/nvidia/version") or "")
    kernel = kernel or (read("/sys/module/nvidia/version") or "").strip() or None
    if facts is not None and facts.error_code == "driver-mismatch" and kernel:
        library = parse_nvml_library_version(facts.error or "")
        facts.error = (f"{facts.error}; the loaded kernel module is {kernel}, the user-space library "
                       f"{library or 'differs'} (the driver was upgraded without a reboot)")
        facts.driver_version = facts.driver_version or kernel
    if facts is not None and not facts.error_code:
        return facts
    if facts is None and kernel:
        return NvidiaFacts(driver_version=kernel, source="/proc/driver/nvidia/version",
                           error="the kernel module is loaded but neither NVML nor nvidia-smi answered",
                           error_code="nvml-failed")
    on_bus = parse_lspci(run(["lspci", "-nn"]) or "")
    if facts is None and on_bus:
        return NvidiaFacts(gpus=on_bus, source="lspci", error_code="no-driver",
                           error="an NVIDIA GPU is on the PCI bus but no NVIDIA driver is loaded")
    if facts is not None and on_bus and not facts.gpus:
        facts.gpus = on_bus
    return facts


def gpu_memory_gib() -> float | None:
    """The smallest GPU's memory (what a batch must fit on), or None for no usable GPU; ${GPU_MEMORY_ENV} wins."""
    value = os.environ.get(GPU_MEMORY_ENV)
    if value is not None:
        try:
            gib = float(value)
        except ValueError:
            gib = math.nan
        if not math.isfinite(gib) or gib < 0:
            raise UsageError(f"${GPU_MEMORY_ENV}={value!r} is not a size in GiB",
                             hint=f"set it to the GPU's memory in GiB, e.g. `{GPU_MEMORY_ENV}=8` (0: no GPU), "
                                  f"or unset it: `unset {GPU_MEMORY_ENV}`")
        return gib or None
    if not driver_present():
        return None
    nv = probe_nvidia()
    mib = [g.memory_mib for g in nv.gpus if g.memory_mib] if nv and not nv.error_code else []
    return min(mib) / 1024 if mib else None


# ---------------------------------------------------------------- the rest

def probe_os() -> OSFacts:
    info = parse_os_release(read("/etc/os-release") or "")
    uname = os.uname()  # what platform.system(), machine() and release() return, without importing platform
    return OSFacts(
        system=uname.sysname,
        arch=uname.machine,
        distro=info.get("ID"),
        distro_version=info.get("VERSION_ID"),
        wsl=wsl_version(read("/proc/version")) is not None,
        wsl_version=wsl_version(read("/proc/version")),
        kernel=uname.release,
    )


_VERSION_SNIPPET = "import sys; print('.'.join(map(str, sys.version_info[:3])), sys.executable)"


def interpreter_candidates() -> list[str]:
    """Pythons on PATH, plus pyenv's and uv's managed ones; pyenv shims are skipped (each costs a
    bash start-up and fails for versions not selected), their targets are found directly."""
    import glob

    found = []
    for name in PYTHON_NAMES:
        path = shutil.which(name)
        if path and "/.pyenv/shims/" not in path:
            found.append(path)
    for pattern in MANAGED_PYTHONS:
        found += sorted(glob.glob(os.path.expanduser(pattern)))
    unique, seen = [], set()
    for path in found:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            unique.append(path)
    return unique


def probe_interpreter(name: str) -> Interpreter | None:
    out = run([name, "-I", "-S", "-c", _VERSION_SNIPPET], timeout=TIMEOUT)
    if not out:
        return None
    version, _, path = out.strip().partition(" ")
    return Interpreter(version=version, path=path)


def _stat_key(path: str) -> str | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{os.path.realpath(path)}:{st.st_mtime_ns}:{st.st_size}"


def _cached_dict(path: Path) -> dict:
    """A cache file's JSON object; a missing or damaged cache is only slower, so it reads as empty."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return entries if isinstance(entries, dict) else {}


class InterpreterCache:
    """Interpreter versions keyed by the binary's real path, mtime and size (as uv caches them): starting
    eight interpreters to ask their version costs more than everything else `plan` does."""

    def __init__(self, path: Path | None = None):
        self.path = path or cache_root() / "interpreters.json"
        self.entries = _cached_dict(self.path)
        self.dirty = False

    def get(self, name: str) -> Interpreter | None:
        key = _stat_key(name)
        hit = self.entries.get(key) if key else None
        if isinstance(hit, dict) and isinstance(hit.get("path"), str) and \
                re.fullmatch(r"\d+\.\d+\.\d+", str(hit.get("version"))):
            return Interpreter(hit["version"], hit["path"])
        found = probe_interpreter(name)
        if found and key:
            self.entries[key] = {"version": found.version, "path": found.path}
            self.dirty = True
        return found

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            atomic_write_text(self.path, json.dumps(self.entries, indent=1))
        except OSError:
            pass  # a read-only home only costs the next run its speed


def _ask(cmd: list[str], stderr: bool = False) -> tuple[int | None, str | None]:
    """(exit code, stdout [+ stderr]) of `cmd`; (None, None) when it cannot start or hangs."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None, None
    return proc.returncode, proc.stdout + (proc.stderr if stderr else "")


def _compiled(path: str) -> bool:
    """An ELF executable: what it says about its own version is fixed by its bytes (a script such as conda's
    reports the package installed under it, which can change while the script does not)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


class ToolCache:
    """The output of compiled tools' version commands (uv, gcc, g++, ninja, nvcc), keyed by the command line and
    the binary's real path, mtime and size, like InterpreterCache: on a warm `plan` no tool is started. Scripts,
    failures and anything not a version question (nvidia-smi, lspci: the hardware's state) are asked on every
    run, but once per run: the nvcc on PATH is both a tool and a compiler candidate."""

    def __init__(self, path: Path | None = None):
        self.path = path or cache_root() / "tools.json"
        self.entries = _cached_dict(self.path)
        self.dirty = False
        self.asked: dict[tuple, tuple[int | None, str | None]] = {}  # this run's answers
        self.locks: dict[tuple, threading.Lock] = {}
        self.lock = threading.Lock()

    def run(self, cmd: list[str], stderr: bool = False, also: list[str] = (), keep=None) -> str | None:
        """stdout (and with `stderr` stderr too) of `cmd` when it succeeds, as `run` gives it; `also`: files whose
        change also makes the kept answer stale; `keep`: the part of the output to keep (and return)."""
        exe = which(cmd[0])
        if not exe:
            return None
        stamps = [_stat_key(exe), *(_stat_key(p) or f"{p}:absent" for p in also)]
        key = "\0".join([exe, *cmd[1:], *map(str, stamps)]) if stamps[0] and _compiled(exe) else None
        hit = self.entries.get(key) if key else None
        if isinstance(hit, str):
            return hit
        asked = (exe, *cmd[1:], stderr, keep is None)
        with self.lock:
            once = self.locks.setdefault(asked, threading.Lock())
        with once:  # the same command from two threads: the second waits for the first's answer
            if asked not in self.asked:
                code, out = _ask([exe, *cmd[1:]], stderr)
                self.asked[asked] = code, keep(out) if keep and out is not None else out
            code, out = self.asked[asked]
        if code == 0 and key:
            self.entries[key] = out
            self.dirty = True
        return out if code == 0 or stderr else None

    save = InterpreterCache.save


def probe_python(interpreters: list[Interpreter]) -> PythonFacts:
    here = Interpreter(".".join(map(str, sys.version_info[:3])), sys.executable)
    seen, unique = set(), []
    for interp in [here, *interpreters]:
        key = os.path.realpath(interp.path)
        if key not in seen:
            seen.add(key)
            unique.append(interp)
    import importlib.util

    return PythonFacts(
        version=here.version,
        executable=here.path,
        available=sorted({i.version for i in unique}, key=lambda v: tuple(int(p) for p in v.split("."))),
        interpreters=unique,
        venv=sys.prefix != sys.base_prefix,
        conda=bool(os.environ.get("CONDA_PREFIX")) or (Path(sys.prefix) / "conda-meta").is_dir(),
        pip=importlib.util.find_spec("pip") is not None,
    )


def disk_free_gib(path: str | os.PathLike) -> float | None:
    path = Path(path).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return round(shutil.disk_usage(path).free / 2**30, 1)
    except OSError:
        return None


def memory_gib() -> float | None:
    text = read("/proc/meminfo") or ""
    m = re.search(r"MemTotal:\s+(\d+) kB", text)
    return round(int(m.group(1)) / 2**20, 1) if m else None


def nvcc_candidates() -> list[str]:
    """CUDA compilers on this machine: on PATH, under $CUDA_HOME / $CUDA_PATH, and the usual toolkit folders (a
    fresh NVIDIA apt install leaves /usr/local/cuda-X.Y/bin off PATH). One entry per real file."""
    import glob

    found = [shutil.which("nvcc")]
    found += [os.path.join(os.environ[v], "bin", "nvcc") for v in ("CUDA_HOME", "CUDA_PATH") if os.environ.get(v)]
    for pattern in NVCC_GLOBS:
        found += sorted(glob.glob(pattern))
    unique, seen = [], set()
    for path in found:
        if path and os.path.isfile(path) and os.path.realpath(path) not in seen:
            seen.add(os.path.realpath(path))
            unique.append(path)
    return unique


def parse_nvcc_home(dryrun: str) -> str | None:
    """`#$ _HERE_=/usr/local/cuda-13.0/bin` in `nvcc --dryrun` output -> /usr/local/cuda-13.0."""
    m = re.search(r"^#\$ _HERE_=(.+)$", dryrun, re.M)
    return os.path.dirname(m.group(1).strip().rstrip("/")) if m else None


def probe_nvcc(path: str, cache: ToolCache | None = None) -> Nvcc | None:
    """An nvcc's release and its CUDA home; None when it does not run. With `cache`, both answers are kept for as
    long as the nvcc binary and the nvcc.profile beside it (which sets the folders it reports) are unchanged."""
    cache = cache or ToolCache(path=Path(os.devnull))  # an empty one that keeps nothing
    version = parse_nvcc_version(cache.run([path, "--version"]) or "")
    if not version:
        return None
    profile = os.path.join(os.path.dirname(os.path.realpath(path)), "nvcc.profile")
    dryrun = cache.run([path, "--dryrun", "-E", "-x", "cu", os.devnull], stderr=True, also=[profile],
                       keep=lambda out: "\n".join(line for line in out.splitlines() if line.startswith("#$ _HERE_=")))
    return Nvcc(version, os.path.abspath(path), parse_nvcc_home(dryrun or ""))


class _Task(threading.Thread):
    """`fn(*args)` in a thread of its own, started now; `result()` waits and returns or raises what it did
    (concurrent.futures would cost `plan` the import of logging)."""

    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self.fn, self.args, self.value, self.error = fn, args, None, None
        self.start()

    def run(self) -> None:
        try:
            self.value = self.fn(*self.args)
        except BaseException as exc:  # noqa: BLE001 - re-raised by result()
            self.error = exc

    def result(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


def start_probe(env_dir: str | os.PathLike = ".") -> _Task:
    """`probe(env_dir)` in a thread, started now: its commands run on another core while the caller goes on
    (`plan` imports and loads the matrix meanwhile); `.result()` waits for the Facts."""
    return _Task(probe, env_dir)


def probe(env_dir: str | os.PathLike = ".") -> Facts:
    """Everything at once; the slow parts (subprocesses) run side by side."""
    tool_cmds = {
        "uv": ["uv", "--version"],
        "conda": ["conda", "--version"],
        "mamba": ["mamba", "--version"],
        "nvcc": ["nvcc", "--version"],
        "gcc": ["gcc", "-dumpfullversion"],
        "gxx": ["g++", "-dumpfullversion"],
        "ninja": ["ninja", "--version"],
    }
    cache, tool_cache = InterpreterCache(), ToolCache()
    nvidia = _Task(probe_nvidia)
    interps = [_Task(cache.get, n) for n in interpreter_candidates()]
    tools = {k: _Task(tool_cache.run, cmd) for k, cmd in tool_cmds.items()}
    nvccs = [_Task(probe_nvcc, p, tool_cache) for p in nvcc_candidates()]
    os_facts = probe_os()
    tool_out = {k: f.result() for k, f in tools.items()}
    found = [i for f in interps if (i := f.result())]
    nv = nvidia.result()
    compilers = [n for f in nvccs if (n := f.result())]
    cache.save()
    tool_cache.save()
    notes = []
    if nv is not None and nv.visible_env is not None:
        notes += [n for n in [visible_indices(nv.visible_env, nv.gpus, os.environ.get(ORDER_ENV))[1]] if n]
    return Facts(
        os=os_facts,
        python=probe_python(found),
        nvidia=nv,
        tools=ToolFacts(
            uv=parse_first_version(tool_out["uv"]),
            conda=parse_first_version(tool_out["conda"]),
            mamba=parse_first_version(tool_out["mamba"]),
            nvcc=parse_nvcc_version(tool_out["nvcc"] or ""),
            gcc=parse_first_version(tool_out["gcc"]),
            ninja=parse_first_version(tool_out["ninja"]),
            gxx=parse_first_version(tool_out["gxx"]),
            gxx_missing=tool_out["gxx"] is None and which("g++") is None,
            nvccs=compilers,
        ),
        disk_free_gib=disk_free_gib(env_dir),
        cpu_count=os.cpu_count(),
        memory_gib=memory_gib(),
        probe_notes=notes,
    )
