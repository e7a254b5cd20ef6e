"""What `-g0` saves in an mmcv compile: the build's own g++ commands (from its build.ninja), once as Python's CFLAGS
leave them (-g: debug info) and once with hoofenv's CPPFLAGS=-g0 appended, interleaved per round (A B A B), per file.

    python bench/bench_mmcv_flags.py BUILD_DIR/build.ninja [--files pybind.cpp,nms.cpp] [--rounds 2]

CPU seconds (user+sys of the compiler and its children, from wait4) do not depend on what else the machine runs,
unlike wall time on this shared 2-core machine; peak RSS is the largest process's. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import tempfile
from pathlib import Path


def commands(ninja: Path) -> dict[str, list[str]]:
    """source file name -> its compile command, with ninja's variables filled in."""
    text = ninja.read_text()
    var = dict(re.findall(r"^(\w+) = (.*)$", text, re.M))
    rule = re.search(r"^rule compile\n  command = (.*)$", text, re.M).group(1)
    out = {}
    for target, src in re.findall(r"^build (\S+\.o): compile (\S+)$", text, re.M):
        cmd = rule.replace("$in", src).replace("$out", target)
        cmd = re.sub(r"\$(\w+)", lambda m: var.get(m.group(1), ""), cmd)
        out[Path(src).name] = shlex.split(cmd)
    return out


def run(cmd: list[str], flag: str, obj: Path) -> tuple[float, float, float]:
    """(cpu s, wall s, peak MiB) of one compile with `flag` as the last debug option."""
    argv, skip = [], False
    for a in cmd:  # drop ninja's dependency-file options (-MMD, -MF FILE) and the debug flags
        if skip or a in ("-MMD", "-g", "-g0"):
            skip = False
            continue
        if a == "-MF":
            skip = True
            continue
        argv.append(a)
    argv.append(flag)
    argv[argv.index("-o") + 1] = str(obj)
    import time

    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"compile failed ({flag}): {' '.join(argv)[:300]}")
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("ninja", type=Path)
    ap.add_argument("--files", default="pybind.cpp,nms.cpp")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    cmds = commands(args.ninja)
    tmp = Path(tempfile.mkdtemp(prefix="bench_flags."))
    rows = {}
    for r in range(args.rounds):
        for name in args.files.split(","):
            for flag in ("-g", "-g0"):
                rows.setdefault((name, flag), []).append(run(cmds[name], flag, tmp / f"{name}{flag}.o"))
                cpu, wall, mib = rows[(name, flag)][-1]
                print(f"round {r + 1} {name} {flag}: {cpu:.1f} s CPU, {wall:.1f} s wall, {mib:.0f} MiB", flush=True)
    print("\n| file | -g CPU s | -g0 CPU s | ratio -g0/-g (per round) | -g peak MiB | -g0 peak MiB |")
    print("|---|---:|---:|---|---:|---:|")
    for name in args.files.split(","):
        a, b = rows[(name, "-g")], rows[(name, "-g0")]
        ratios = [y[0] / x[0] for x, y in zip(a, b)]
        print(f"| {name} | {statistics.median(x[0] for x in a):.1f} | {statistics.median(x[0] for x in b):.1f} | "
              f"{statistics.median(ratios):.2f} ({', '.join(f'{x:.2f}' for x in ratios)}) | "
              f"{max(x[2] for x in a):.0f} | {max(x[2] for x in b):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
