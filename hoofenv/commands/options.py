"""Options shared by the commands that need facts and a plan (doctor, plan, install, verify)."""

from __future__ import annotations

import argparse
import os

TORCH_INDEX_ENV = "HOOFENV_TORCH_INDEX_URL"
MMCV_BASE_ENV = "HOOFENV_MMCV_BASE_URL"


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")


def add_facts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--facts", metavar="FILE",
                        help="use recorded machine facts instead of probing (also $HOOFENV_FACTS)")
    parser.add_argument("--matrix", metavar="FILE", help="another compat_matrix.yaml (also $HOOFENV_MATRIX)")


def add_overrides(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("overrides (refused with the reason when they cannot work)")
    g.add_argument("--python", metavar="X.Y", help="Python version for the stack, e.g. 3.11")
    g.add_argument("--torch", metavar="VERSION", help="torch release, e.g. 2.1.2 (or 2.1)")
    g.add_argument("--cuda", metavar="TAG", help="cpu, cu118, cu121, ... (the PyTorch wheel variant)")
    g.add_argument("--allow-build", action="store_true",
                   help="consider stacks whose mmcv is compiled from source when they are newer")
    g.add_argument("--mmcv-source", choices=["wheel", "build"], help="force a prebuilt mmcv wheel or a source build")
    g.add_argument("--torch-index-url", metavar="URL",
                   help=f"mirror of the PyTorch index; `{{cuda}}` is replaced by the tag (also ${TORCH_INDEX_ENV})")
    g.add_argument("--mmcv-base-url", metavar="URL",
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
        torch_index_url=getattr(args, "torch_index_url", None) or os.environ.get(TORCH_INDEX_ENV),
        mmcv_base_url=getattr(args, "mmcv_base_url", None) or os.environ.get(MMCV_BASE_ENV),
    )


def plan_from(args: argparse.Namespace, env_dir: str = "."):
    """(facts, plan) for this machine or the recorded one, with the command line's overrides."""
    from hoofenv.stack import matrix
    from hoofenv.stack.resolve import resolve

    facts = facts_from(args, env_dir)
    return facts, resolve(facts, matrix.load(getattr(args, "matrix", None)), overrides_from(args))
