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


def add_offline(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--offline", action="store_true",
                        help="do not ask the network which package sources answer (local ones are still looked at)")


def plan_from(args: argparse.Namespace, env_dir: str = ".", fresh_sources: bool = False):
    """(facts, plan) for this machine or the recorded one, with the command line's overrides. Probed facts get
    the machine's package sources (cached a few minutes unless `fresh_sources`); recorded facts keep theirs."""
    from hoofenv.machine.facts import load_facts_override
    from hoofenv.stack import matrix
    from hoofenv.stack.resolve import resolve

    recorded = load_facts_override(getattr(args, "facts", None))
    facts = recorded or facts_from(args, env_dir)
    m = matrix.load(getattr(args, "matrix", None))
    o = overrides_from(args)
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
