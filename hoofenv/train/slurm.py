"""`hoofenv train --slurm`: a job script that runs one torchrun per node with `srun`, the c10d rendezvous on the
job's first node taken from SLURM's environment; `--submit` hands it to `sbatch`. The script is the whole run:
the same file a cluster runs is what the tests run (with a stand-in `srun` that starts the tasks locally)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.files import atomic_write_text
from hoofenv.train.options import TrainOptions

SCRIPT = "slurm_train.sh"
# the rendezvous port: from the job id, so two jobs sharing a node do not collide (20000-39999)
PORT_BASE, PORT_SPAN = 20000, 20000


def sbatch_lines(opts: TrainOptions, work_dir: Path) -> list[str]:
    lines = [f"#SBATCH --job-name=hoofenv-{work_dir.name}", f"#SBATCH --nodes={str(opts.nnodes).replace(':', '-')}",
             "#SBATCH --ntasks-per-node=1", f"#SBATCH --output={work_dir}/slurm-%j.out"]
    if opts.gpus:
        lines.append(f"#SBATCH --gpus-per-node={opts.gpus}")
    if opts.slurm_partition:
        lines.append(f"#SBATCH --partition={opts.slurm_partition}")
    if opts.slurm_time:
        lines.append(f"#SBATCH --time={opts.slurm_time}")
    lines += [f"#SBATCH {arg}" for arg in opts.sbatch_args]
    return lines


def script_text(opts: TrainOptions, python: Path, runner_args: list[str], work_dir: Path,
                launcher: Path, hoofenv_python: str | None = None) -> str:
    """bash: #SBATCH lines, then `srun` one torchrun per node; rank 0's node hosts the c10d store."""
    q = shlex.quote
    port = str(opts.master_port) if opts.master_port else f"$(( {PORT_BASE} + SLURM_JOB_ID % {PORT_SPAN} ))"
    torchrun = [q(str(python)), "-m", "torch.distributed.run", '--nnodes="$SLURM_NNODES"',
                f"--nproc_per_node={opts.procs}", "--rdzv_backend=c10d", '--rdzv_endpoint="$rdzv_host:$rdzv_port"',
                '--rdzv_id="hoofenv-$SLURM_JOB_ID"', f"--max_restarts={opts.max_restarts}", q(str(launcher)),
                "train", *map(q, runner_args), "--launcher", "pytorch"]
    report = hoofenv_python or sys.executable
    return "\n".join([
        "#!/bin/bash",
        f"# written by hoofenv train --slurm for {work_dir}",
        f"# submit: sbatch {q(str(work_dir / SCRIPT))}   (docs/scaling.md)",
        *sbatch_lines(opts, work_dir),
        "set -euo pipefail",
        "# the batch step runs on the job's first node: its torchrun agent hosts the rendezvous",
        'rdzv_host="${SLURMD_NODENAME:?run this script with sbatch, it reads the SLURM environment}"',
        ': "${SLURM_NNODES:?run this script with sbatch}" "${SLURM_JOB_ID:?run this script with sbatch}"',
        f'rdzv_port="{port}"',
        f"cd {q(str(work_dir))}",
        'echo "hoofenv: $SLURM_NNODES node(s) x ' + str(opts.procs) + ' process(es), rendezvous $rdzv_host:$rdzv_port"',
        "srun --ntasks-per-node=1 --kill-on-bad-exit=1 \\",
        "  " + " \\\n    ".join(_chunks(torchrun)),
        "# report.md from metrics.json: hoofenv's own step, where this node reaches the hoofenv that wrote the script",
        f"if [ -x {q(report)} ]; then",
        f"  {q(report)} -m hoofenv.train.report {q(str(work_dir))} || echo 'hoofenv: report.md not written'",
        "fi",
        "",
    ])


def _chunks(words: list[str], width: int = 100) -> list[str]:
    out, cur = [], ""
    for word in words:
        if cur and len(cur) + len(word) + 1 > width:
            out.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    return out + ([cur] if cur else [])


def write(text: str, work_dir: Path) -> Path:
    path = atomic_write_text(work_dir / SCRIPT, text)
    os.chmod(path, 0o755)
    return path


def submit(script: Path) -> str | None:
    """`sbatch --parsable SCRIPT` -> the job id; None where sbatch is not on PATH (the script stays for later)."""
    sbatch = shutil.which("sbatch")
    if not sbatch:
        return None
    proc = subprocess.run([sbatch, "--parsable", str(script)], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise HoofenvError(f"sbatch refused {script} (exit {proc.returncode})",
                           output=(proc.stdout + proc.stderr).strip().splitlines()[-10:],
                           hint=f"edit the #SBATCH lines of {script} (partition, time, GPUs) and run: sbatch {script}",
                           code="slurm-submit")
    return proc.stdout.strip().split(";")[0] or None
