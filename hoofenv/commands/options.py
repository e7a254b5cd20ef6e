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


def facts_from(args: argparse.Namespace, env_dir: str = "."):
    from hoofenv.machine.facts import load_facts_override

    facts = load_facts_override(getattr(args, "facts", None))
    if facts is None:
        from hoofenv.machine.probe import probe

        facts = probe(env_dir)
    return facts


def overrides_from(args: argparse.Namespace):
    from hoofenv.stack.resolve import Overrides

    return Overrides(
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
