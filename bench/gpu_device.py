"""The steps of bench/gpu_device.sh on a GPU machine (H200, driver 580, Python 3.12 with torch 2.11.0+cu130, nvcc
13.0, no network): each writes what it found under OUT and never stops the ones after it.

    python bench/gpu_device.py probe OUT            real NVML facts -> OUT/facts-gpu.json, the plan -> OUT/plan.json
    python bench/gpu_device.py build OUT ENV WHL    mmcv 2.1.0's CUDA ops for the GPUs here, through hoofenv's own
                                                    build steps (sdist from WHL, the machine's nvcc), into ENV
    python bench/gpu_device.py summary OUT          OUT/*.json -> OUT/PERFORMANCE-gpu.md (for docs/PERFORMANCE.md)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def probe(out: Path) -> int:
    from hoofenv.machine.probe import probe as run_probe
    from hoofenv.stack import matrix
    from hoofenv.stack.resolve import resolve

    facts = run_probe(".")
    (out / "facts-gpu.json").write_text(facts.to_json())
    plan = resolve(facts, matrix.load())
    (out / "plan.json").write_text(plan.to_json())
    nv = facts.nvidia
    print(f"probe: driver {nv and nv.driver_version}, CUDA {nv and nv.cuda_driver_version}, GPUs "
          f"{[(g.name, g.compute_capability, g.memory_mib) for g in (nv.gpus if nv else [])]}; nvccs "
          f"{[(n.version, n.path) for n in facts.tools.nvccs]}; plan {plan.status} torch {plan.torch}+{plan.cuda}")
    return 0


def build(out: Path, env: Path, wheels: Path) -> int:
    """hoofenv's build-source and build-mmcv steps for torch 2.11.0+cu130 (what the machine's python holds), run
    with the env's python (it sees the machine's torch: --system-site-packages) instead of a fresh build venv,
    which would need torch from the network."""
    from hoofenv.install import mmcv_build
    from hoofenv.install.build_log import BuildProgress
    from hoofenv.install.installers import Installer
    from hoofenv.install.runner import Progress, run_steps
    from hoofenv.install.sources import Sources
    from hoofenv.machine.probe import probe as run_probe
    from hoofenv.stack import matrix
    from hoofenv.stack.resolve import Overrides, resolve

    class Printer(Progress):
        last = 0.0

        def note(self, text, level="info"):
            print(text, flush=True)

        def step_output(self, label, line, elapsed):
            if line.startswith("compiled ") and time.monotonic() - self.last > 15:
                self.last = time.monotonic()
                print(f"  {label}: {line} ({elapsed:.0f} s)", flush=True)

    facts = run_probe(".")
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    plan = resolve(facts, matrix.load(), Overrides(torch="2.11.0", cuda="cu130", python=py, mmcv_source="build"))
    (out / "build-plan.json").write_text(plan.to_json())
    if not plan.ok:
        print("build: the plan is not ok:", [p.message for p in plan.problems])
        return 1
    where = out.parent / "mmcv-build"
    shutil.rmtree(where, ignore_errors=True)
    (where / "sdist").mkdir(parents=True)
    (where / "out").mkdir()
    shutil.copy2(next(wheels.glob("mmcv-2.1.0.tar.gz")), where / "sdist")
    (where / mmcv_build.PATCHES).write_text(json.dumps(plan.mmcv.build.patches))
    steps = mmcv_build.build_steps(plan, Installer("pip", Sources()), sys.executable, where / "venv", where / "out",
                                   where / "constraints.txt")
    steps = [s for s in steps if s.name in ("build-source", "build-mmcv")]
    steps[-1].argv[0] = str(env / "bin" / "python")
    b = plan.mmcv.build
    print(f"build: mmcv {plan.mmcv.version} for TORCH_CUDA_ARCH_LIST={b.cuda_arch_list}, MAX_JOBS={b.max_jobs}, nvcc "
          f"{b.toolchain.how} {b.toolchain.nvcc} (CUDA_HOME={steps[-1].env.get('CUDA_HOME')})", flush=True)
    t0 = time.monotonic()
    try:
        run_steps(steps, BuildProgress(Printer()), where / "logs", None, "mmcv build")
        mmcv_build.check_built(where / "out", plan)
    except Exception as exc:  # noqa: BLE001 - reported, and the steps after this one still run
        from hoofenv.install.build_log import explain

        err = explain(exc, where / "logs") if hasattr(exc, "code") else exc
        print(f"build failed after {time.monotonic() - t0:.0f} s:\n{err}")
        for log in sorted((where / "logs").glob("*.log")):
            shutil.copy2(log, out / f"build-{log.name}")
        return 1
    seconds = time.monotonic() - t0
    wheel = next((where / "out").glob("mmcv-*.whl"))
    subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True)
    (out / "build.json").write_text(json.dumps({"seconds": round(seconds, 1), "arch": b.cuda_arch_list,
                                                "max_jobs": b.max_jobs, "nvcc": b.toolchain.nvcc,
                                                "wheel": wheel.name, "wheel_mib": round(wheel.stat().st_size / 2**20, 1)}))
    print(f"build: {wheel.name} in {seconds:.0f} s", flush=True)
    return 0


def summary(out: Path) -> int:
    lines = ["## GPU (bench/gpu_device.sh)", ""]
    facts = json.loads((out / "facts-gpu.json").read_text()) if (out / "facts-gpu.json").exists() else {}
    nv = facts.get("nvidia") or {}
    gpus = ", ".join(f"{g['name']} (sm {g['compute_capability']}, {g['memory_mib']} MiB)" for g in nv.get("gpus", []))
    lines.append(f"Machine: {gpus or '?'}, driver {nv.get('driver_version')}, {facts.get('cpu_count')} cores; "
                 f"{time.strftime('%Y-%m-%d')}.")
    if (out / "build.json").exists():
        b = json.loads((out / "build.json").read_text())
        lines.append(f"mmcv 2.1.0 CUDA build (TORCH_CUDA_ARCH_LIST={b['arch']}, MAX_JOBS={b['max_jobs']}, nvcc "
                     f"{b['nvcc']}): {b['seconds']:.0f} s, wheel {b['wheel_mib']} MiB.")
    if (out / "verify.json").exists():
        v = json.loads((out / "verify.json").read_text())
        checks = v.get("checks") or v.get("result", {}).get("checks") or []
        lines.append("verify: " + ", ".join(f"{c.get('id')} {c.get('status')}" for c in checks))
    if (out / "train.json").exists():
        lines += ["", "| model | amp | batch | hoofenv s/iter | bare s/iter | ratio | images/s | data_time |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in json.loads((out / "train.json").read_text()):
            lines.append(f"| {r['model']} | {'on' if r['amp'] else 'off'} | {r['batch']} | {r['hoofenv_s_iter']:.4f} | "
                         f"{r['bare_s_iter']:.4f} | {r['ratio']:.3f} | {r['images_per_s']:.0f} | "
                         f"{r['data_time_share']:.0%} |")
    (out / "PERFORMANCE-gpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("probe", "build", "summary"):
        print(__doc__)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    if argv[0] == "probe":
        return probe(out)
    if argv[0] == "build":
        return build(out, Path(argv[2]), Path(argv[3]))
    return summary(out)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
