"""`hoofenv matrix refresh`: a maintainer's check of compat_matrix.yaml against PyPI, the PyTorch index and the
OpenMMLab index (library: hoofenv/stack/refresh.py). It writes a diff to review; it never edits the matrix."""

from __future__ import annotations

import argparse

from hoofenv.errors import HoofenvError, UsageError

HEADER = "# hoofenv matrix refresh"


def add_parser(sub) -> None:
    p = sub.add_parser("matrix", help="maintainers: check compat_matrix.yaml against the package indexes",
                       description="Maintainer commands for compat_matrix.yaml.")
    msub = p.add_subparsers(dest="matrix_command", metavar="SUBCOMMAND")
    r = msub.add_parser("refresh", help="new releases, CUDA variants and mmcv wheels vs the matrix, as a diff",
                        description="Read PyPI's JSON API, the PyTorch index and the OpenMMLab index; list what "
                                    "differs from compat_matrix.yaml and write the proposed rows as a unified diff "
                                    "(--out) to review and `git apply`. The matrix itself is never written. Exit 0 "
                                    "when it ran (with --check: 1 when anything differs).")
    r.add_argument("--matrix", metavar="FILE", help="the matrix to compare (default: the shipped one)")
    r.add_argument("--pypi-url", metavar="URL", default=None, help="PyPI or a mirror (default https://pypi.org)")
    r.add_argument("--torch-index", metavar="URL", default=None,
                   help="the PyTorch index root (default https://download.pytorch.org/whl)")
    r.add_argument("--mmcv-base-url", metavar="URL", default=None,
                   help="the OpenMMLab download base (default https://download.openmmlab.com)")
    r.add_argument("--out", metavar="FILE", default="matrix-refresh.diff", help="where the proposed diff goes")
    r.add_argument("--timeout", type=float, default=15.0, metavar="S", help="per request (default 15 s)")
    r.add_argument("--check", action="store_true", help="exit 1 when the matrix differs from the sources")
    r.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "matrix_command", None) != "refresh":
        args.parser.print_help()
        return 2
    import time
    from pathlib import Path

    from hoofenv.commands.output import emit_json, line, marked
    from hoofenv.files import atomic_write_text
    from hoofenv.stack import matrix as matrix_mod
    from hoofenv.stack import refresh

    if not args.timeout > 0 or args.timeout > 600:
        raise UsageError(f"--timeout {args.timeout}: give seconds between 0 and 600", hint="e.g. `--timeout 15`")
    m = matrix_mod.load(args.matrix)
    report = refresh.refresh(m, Path(m.path).read_text(), args.pypi_url or refresh.PYPI,
                             args.torch_index or refresh.TORCH_INDEX, args.mmcv_base_url or refresh.MMCV_BASE,
                             refresh.Fetcher(args.timeout))
    out = Path(args.out)
    if report.diff:
        if out.exists() and not out.read_text(errors="replace").startswith(HEADER):
            raise HoofenvError(f"--out {out} exists and was not written by `hoofenv matrix refresh`",
                               hint="choose another file with --out", code="refused")
        atomic_write_text(out, f"{HEADER} {time.strftime('%Y-%m-%d')}: review each hunk, then `git apply {out}`\n"
                          + report.diff)
    if args.json:
        emit_json({"ok": True, "matrix": m.path, "out": str(out) if report.diff else None, **report.to_dict()})
    else:
        for name, state in report.sources.items():
            marked("ok" if state == "ok" else "warn", f"{name}: {state}")
        for f in report.findings:
            line(f"  {'+' if f.proposed else '-'} [{f.kind}] {f.text}")
        line(f"{len(report.findings)} finding(s); " + (f"proposed rows in {out} (review, then `git apply {out}`); "
                                                        f"{m.path} was not changed" if report.diff else
                                                        "nothing to propose"))
    return 1 if args.check and report.findings else 0
