"""`hoofenv install`: the plan -> a staged, locked, verified env (library: hoofenv/install.py)."""

from __future__ import annotations

import argparse

from hoofenv.commands import _common


def add_parser(sub) -> None:
    p = sub.add_parser("install", help="install the plan's stack into a dedicated env (staged, locked, verified)",
                       description="Install the plan into .hoofenv/env (or --env PATH, $HOOFENV_ENV): uv where "
                                   "present, pip otherwise; mmcv from a wheel only (built once and cached when the "
                                   "plan says so); staged and switched on success; writes hoofenv.lock.")
    _common.add_facts(p)
    _common.add_overrides(p)
    _common.add_json(p)
    where = p.add_argument_group("where")
    where.add_argument("--env", metavar="PATH", help="the env to create or update (default .hoofenv/env; $HOOFENV_ENV)")
    where.add_argument("--current", action="store_true",
                       help="install into the running venv or conda env, in place (never a system Python)")
    how = p.add_argument_group("how")
    how.add_argument("--installer", choices=["uv", "pip"], help="default: uv when installed, else pip")
    how.add_argument("--dry-run", action="store_true", help="print the exact commands; run none")
    how.add_argument("--mmcv-wheel", metavar="FILE", help="use this mmcv wheel (e.g. one built elsewhere) and cache it")
    how.add_argument("--no-verify", action="store_true", help="do not run `hoofenv verify` afterwards")
    how.add_argument("--min-free-gib", type=float, metavar="N", help="free disk required before starting "
                     "(default: from the plan, ~3 GiB CPU / ~9 GiB CUDA, +2 when building mmcv)")
    src = p.add_argument_group("sources (mirrors: flags, $HOOFENV_INDEX_URL, $HOOFENV_EXTRA_INDEX_URL, "
                               "$HOOFENV_FIND_LINKS, and pip's own configuration)")
    src.add_argument("--index-url", metavar="URL", help="replace PyPI (a mirror)")
    src.add_argument("--extra-index-url", metavar="URL", action="append", default=[], help="another index (repeat)")
    src.add_argument("--find-links", metavar="DIR|URL", action="append", default=[], help="a folder/page of wheels")
    src.add_argument("--no-pip-config", action="store_true",
                     help="ignore pip's configured index-url/extra-index-url/find-links/constraint")
    src.add_argument("--wheelhouse", metavar="DIR", help="install from this folder of wheels (with --offline: only)")
    src.add_argument("--offline", action="store_true", help="no network at all (needs --wheelhouse or warm caches)")
    src.add_argument("--download-to", metavar="DIR",
                     help="fill DIR with every wheel of the plan for an air-gapped machine; installs nothing")
    lk = p.add_argument_group("lock")
    lk.add_argument("--lock", metavar="FILE", default="hoofenv.lock", help="lock file (default ./hoofenv.lock)")
    lk.add_argument("--locked", action="store_true",
                    help="install exactly the lock's files (hash-checked); refuse if the plan has drifted")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from hoofenv import install as lib
    from hoofenv.errors import UsageError
    from hoofenv.installer import sources_from

    if args.current and args.env:
        raise UsageError("--current and --env name two different envs", hint="pick one")
    if args.offline and not args.wheelhouse:
        pass  # allowed: uv's cache / pip's find-links may hold everything
    facts, plan = _common.plan_from(args)
    sources = sources_from(index_url=args.index_url, extra_index_urls=args.extra_index_url,
                           find_links=args.find_links, use_pip_config=not args.no_pip_config,
                           offline=args.offline, wheelhouse=args.wheelhouse)
    opts = lib.Options(env=args.env, current=args.current, installer=args.installer, sources=sources,
                       lock_path=Path(args.lock).absolute(), locked=args.locked, dry_run=args.dry_run,
                       download_to=args.download_to, mmcv_wheel=args.mmcv_wheel, verify=not args.no_verify,
                       min_free_gib=args.min_free_gib)
    ui = lib.UI(quiet=args.json)
    result = lib.install(plan, facts, opts, ui)
    if result.get("changed") and opts.verify and not args.dry_run:
        result["verify"] = lib.run_verify(Path(result["env"]), ui, args.json)
    if args.json:
        print(json.dumps(result, indent=2))
    return 0
