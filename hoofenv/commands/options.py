"""Options shared by the commands that need facts and a plan (doctor, plan, install, verify)."""

from __future__ import annotations

import argparse
import os

TORCH_INDEX_ENV = "HOOFENV_TORCH_INDEX_URL"
MMCV_BASE_ENV = "HOOFENV_MMCV_BASE_URL"


# -- argparse types: a bad value is argparse's usage error (exit 2) naming the flag, before anything runs ---------

def count(minimum: int = 1, maximum: int | None = None):
    """An integer in [minimum, maximum]."""
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            limits = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
            raise argparse.ArgumentTypeError(f"must be {limits}, got {value}")
        return value
    parse.__name__ = "count"
    return parse


def number(above: float = 0.0, inclusive: bool = False):
    """A finite float above `above` (or equal to it when inclusive)."""
    def parse(text: str) -> float:
        import math

        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or value < above or (value == above and not inclusive):
            bound = f"at least {above:g}" if inclusive else f"above {above:g}"
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text}")
        return value
    parse.__name__ = "number"
    return parse


def auto_or_count(minimum: int = 1):
    """`auto`, or an integer of at least `minimum` (kept as text: the library reads `auto`)."""
    whole = count(minimum)

    def parse(text: str) -> str:
        if text.strip().lower() == "auto":
            return "auto"
        return str(whole(text))
    parse.__name__ = "auto_or_count"
    return parse


def override(name: str):
    """A stack override (python, torch, cuda, torch_index_url, mmcv_base_url), checked as the resolver reads it."""
    def parse(text: str) -> str:
        from hoofenv.stack.resolve import OVERRIDE_HINTS, override_problem

        problem = override_problem(name, text)
        if problem:
            raise argparse.ArgumentTypeError(f"{text}: {problem} ({OVERRIDE_HINTS[name]})")
        return text
    parse.__name__ = name
    return parse


def index(text: str) -> str:
    """An index as pip and uv take it: an http(s):// or file:// URL, or a folder laid out like one."""
    from hoofenv.machine.sources import location_problem

    problem = location_problem(text, "index")
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r} is {problem}")
    return text


def links(text: str) -> str:
    """--find-links: a page's URL, a folder of wheels, or a file."""
    from hoofenv.machine.sources import location_problem

    problem = location_problem(text, "links")
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r} is {problem}")
    return text


def host(text: str) -> str:
    """A host name or address (torchrun's --master_addr)."""
    import re

    name = r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}"
    ipv6 = r"\[?[0-9A-Fa-f]*:[0-9A-Fa-f:.]*(%\w+)?\]?"
    if not re.fullmatch(f"{name}|{ipv6}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a host name or IP address")
    return text


def device(text: str) -> str:
    """A torch device for inference: cpu, cuda, cuda:N."""
    import re

    if not re.fullmatch(r"cpu|cuda(:\d{1,3})?", text):
        raise argparse.ArgumentTypeError(f"{text!r}: cpu, cuda or cuda:N")
    return text


def existing_file(text: str) -> str:
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a folder; name a file")
    return text


def existing_dir(text: str) -> str:
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text}: no such folder")
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a file; name a folder")
    return text


def file_to_write(text: str) -> str:
    """A file hoofenv will write: not a folder, and every folder above it is a folder (or does not exist yet)."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a folder; name a file inside it")
    _parents_are_folders(text)
    return text


def dir_to_write(text: str) -> str:
    """A folder hoofenv will create or fill: not a file, nor below one."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path")
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a file; name a folder")
    _parents_are_folders(text)
    return text


def _parents_are_folders(text: str) -> None:
    parent = os.path.dirname(os.path.abspath(text))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent) if os.path.dirname(parent) != parent else ""
    if parent and not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"{text}: {parent} is a file, not a folder")


def env_override(variable: str, name: str) -> str | None:
    """A stack override from the environment, checked like its flag; a bad one names the variable."""
    value = os.environ.get(variable)
    if not value:
        return None
    from hoofenv.errors import UsageError
    from hoofenv.stack.resolve import OVERRIDE_HINTS, override_problem

    problem = override_problem(name, value)
    if problem:
        raise UsageError(f"${variable}={value}: {problem}",
                         hint=f"{OVERRIDE_HINTS[name]}; or unset it: `unset {variable}`")
    return value


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")


def add_facts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--facts", metavar="FILE", type=existing_file,
                        help="use recorded machine facts instead of probing (also $HOOFENV_FACTS)")
    parser.add_argument("--matrix", metavar="FILE", type=existing_file,
                        help="another compat_matrix.yaml (also $HOOFENV_MATRIX)")


def add_overrides(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("overrides (refused with the reason when they cannot work)")
    g.add_argument("--python", metavar="X.Y", type=override("python"), help="Python version for the stack, e.g. 3.11")
    g.add_argument("--torch", metavar="VERSION", type=override("torch"), help="torch release, e.g. 2.1.2 (or 2.1)")
    g.add_argument("--cuda", metavar="TAG", type=override("cuda"),
                   help="cpu, cu118, cu121, ... (the PyTorch wheel variant)")
    g.add_argument("--allow-build", action="store_true",
                   help="consider stacks whose mmcv is compiled from source when they are newer")
    g.add_argument("--mmcv-source", choices=["wheel", "build"], help="force a prebuilt mmcv wheel or a source build")
    g.add_argument("--torch-index-url", metavar="URL", type=override("torch_index_url"),
                   help=f"mirror of the PyTorch index; `{{cuda}}` is replaced by the tag; `none`: torch from PyPI "
                        f"and its mirrors (also ${TORCH_INDEX_ENV})")
    g.add_argument("--mmcv-base-url", metavar="URL", type=override("mmcv_base_url"),
                   help=f"mirror of https://download.openmmlab.com (also ${MMCV_BASE_ENV})")
    g.add_argument("--gpu", metavar="INDEX[,INDEX]",
                   help="plan for these GPUs only (nvidia-smi's indices), e.g. on a box whose cards no single torch "
                        "build serves; default: those CUDA_VISIBLE_DEVICES leaves visible")
    g.add_argument("--nvcc", metavar="PATH|pypi",
                   help="the nvcc that compiles mmcv's CUDA ops (same CUDA major.minor as torch); `pypi`: NVIDIA's "
                        "from PyPI (CUDA 13) even when this machine has one")
    g.add_argument("--ptx", action="store_true", help="the mmcv build also carries PTX for the newest GPU")


def facts_from(args: argparse.Namespace, env_dir: str = "."):
    from hoofenv.machine.facts import load_facts_override

    facts = load_facts_override(getattr(args, "facts", None))
    if facts is None:
        from hoofenv.machine.probe import probe

        facts = probe(env_dir)
    return facts


def parse_gpus(text: str | None) -> list[int] | None:
    """`--gpu 0,2` -> [0, 2]."""
    if text is None:
        return None
    from hoofenv.errors import UsageError

    parts = [p.strip() for p in str(text).split(",")]
    if not parts or not all(p.isdigit() and len(p) < 4 for p in parts):
        raise UsageError(f"--gpu {text!r} is not a list of GPU indices", hint="write it as nvidia-smi numbers the "
                         "cards, e.g. `--gpu 0` or `--gpu 0,1` (`nvidia-smi -L` lists them)")
    return [int(p) for p in parts]


def nvcc_from(path: str | None):
    """(path, CUDA release, CUDA home) of `--nvcc PATH`, run once here so the plan can check it against torch."""
    if path is None or path == "pypi":
        return path, None, None
    import os

    from hoofenv.errors import UsageError
    from hoofenv.machine.probe import probe_nvcc

    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(full) or not os.access(full, os.X_OK):
        raise UsageError(f"--nvcc {path}: no executable file there",
                         hint="give the path of nvcc itself, e.g. `--nvcc /usr/local/cuda-12.8/bin/nvcc`, or "
                              "`--nvcc pypi` (CUDA 13)")
    found = probe_nvcc(full)
    if found is None:
        raise UsageError(f"--nvcc {path}: `{full} --version` does not report a CUDA release",
                         hint="give the path of NVIDIA's nvcc, e.g. `--nvcc /usr/local/cuda-12.8/bin/nvcc`")
    return full, found.version, found.home


def overrides_from(args: argparse.Namespace):
    from hoofenv.stack.resolve import Overrides

    nvcc, nvcc_version, nvcc_home = nvcc_from(getattr(args, "nvcc", None))
    return Overrides(
        gpus=parse_gpus(getattr(args, "gpu", None)),
        nvcc=nvcc,
        nvcc_version=nvcc_version,
        nvcc_home=nvcc_home,
        ptx=getattr(args, "ptx", False),
        python=getattr(args, "python", None),
        torch=getattr(args, "torch", None),
        cuda=getattr(args, "cuda", None),
        allow_build=getattr(args, "allow_build", False),
        mmcv_source=getattr(args, "mmcv_source", None),
        torch_index_url=getattr(args, "torch_index_url", None) or env_override(TORCH_INDEX_ENV, "torch_index_url"),
        mmcv_base_url=getattr(args, "mmcv_base_url", None) or env_override(MMCV_BASE_ENV, "mmcv_base_url"),
    )


def add_offline(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--offline", action="store_true",
                        help="do not ask the network which package sources answer (local ones are still looked at)")


def plan_from(args: argparse.Namespace, env_dir: str = ".", fresh_sources: bool = False):
    """(facts, plan) for this machine or the recorded one, with the command line's overrides. Probed facts get
    the machine's package sources (cached a few minutes unless `fresh_sources`); recorded facts keep theirs."""
    from hoofenv.machine.facts import load_facts_override

    recorded = load_facts_override(getattr(args, "facts", None))
    probing = None
    if recorded is None:
        from hoofenv.machine.probe import start_probe

        probing = start_probe(env_dir)  # its commands run while the stack modules are imported here
    try:
        from hoofenv.stack import matrix
        from hoofenv.stack.resolve import resolve

        m = matrix.load(getattr(args, "matrix", None))
        o = overrides_from(args)
    finally:
        if probing is not None:
            probing.join()  # a bad matrix or flag: the probe still ends (and saves its caches) before we do
    facts = recorded or probing.result()
    if recorded is None:
        facts.sources = sources_from(args, facts, m, o, fresh_sources)
    return facts, resolve(facts, m, o)


def sources_from(args: argparse.Namespace, facts, m, o, fresh: bool = False):
    """What pip and uv are configured with here (and install's source flags), and which of those and of the
    plan's candidate indexes answer."""
    from hoofenv.machine.sources import configured_targets, probe_sources, read_configured
    from hoofenv.stack.sources import probe_targets

    offline = getattr(args, "offline", False)
    wheelhouse = getattr(args, "wheelhouse", None)
    if offline and wheelhouse:  # as the install will: the wheelhouse only
        c = read_configured(use_pip_config=False, wheelhouse=wheelhouse)
    else:
        c = read_configured(index_url=getattr(args, "index_url", None),
                            extra_index_urls=getattr(args, "extra_index_url", None),
                            find_links=getattr(args, "find_links", None),
                            use_pip_config=not getattr(args, "no_pip_config", False), wheelhouse=wheelhouse)
    targets = configured_targets(c) + probe_targets(facts, m, o.torch_index_url, o.mmcv_base_url, o.cuda)
    return probe_sources(targets, c, offline=offline, use_cache=not fresh)
