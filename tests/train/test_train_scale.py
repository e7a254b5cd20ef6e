"""Beyond one process, for real on the CPU: torchrun with the gloo backend runs DistributedDataParallel of the tiny
demo (2 processes), the SLURM job script hoofenv writes is executed with a stand-in `srun` that starts its tasks
here (two torchrun agents, one rank each, c10d rendezvous), and --track's TensorBoard and MLflow records are read
back by tensorboard's EventAccumulator and mlflow's client.

Kept small for the shared 2-core machine: 8 images at 64x64, batch 2 per process, no loader workers, 1-2 epochs.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hoofenv.inenv import protocol
from tests.conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.stack]

TINY = ["--pretrained", "none", "--batch-size", "2", "--input-size", "64x64", "--val-interval", "1",
        "--workers", "0", "--skip-verify", "--deterministic"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    from hoofenv.data.synthetic import generate

    return generate(tmp_path_factory.mktemp("data") / "hooves", n_train=8, n_val=4, seed=3, image_size=(96, 96))


def train(python, data, work_dir, *extra, epochs=2):
    return run_cli("train", "--data", str(data), "--python", str(python), "--work-dir", str(work_dir),
                   "--epochs", str(epochs), *TINY, *extra)


def events(text: str, kind: str | None = None) -> list[dict]:
    found = [protocol.parse(line) for line in text.splitlines()]
    return [e for e in found if e and (kind is None or e["event"] == kind)]


def log_of(work: Path) -> str:
    return (work / "train.log").read_text()


# ----------------------------------------------------------------------------------------------- 2 processes
def test_two_process_gloo_run_is_one_run_and_resumes(stack_python, tiny_data, tmp_path):
    """torchrun --standalone, 2 ranks, gloo: interrupted after epoch 1, then --resume: both ranks step to the same
    iteration with identical weights; rank 0 alone reports and writes."""
    work = tmp_path / "ddp"
    first = train(stack_python, tiny_data, work, "--nproc", "2", "--stop-after-epoch", "1")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "on 2 processes (gloo): batch 2 per process, global batch 4" in first.stdout
    start = events(log_of(work), "start")
    assert len(start) == 1, start  # one progress stream: rank 0's
    per_epoch = start[0]["iterations"]
    assert per_epoch == 2  # 8 images / global batch 4
    stopped = events(log_of(work), "rank")
    assert sorted(e["rank"] for e in stopped) == [0, 1] and {e["iter"] for e in stopped} == {per_epoch}

    again = run_cli("train", "--data", str(tiny_data), "--python", str(stack_python), "--work-dir", str(work),
                    "--resume", "--skip-verify", "--nproc", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "starting at epoch 2" in again.stdout
    assert again.stdout.count("val epoch 2") == 1 and "ranks: 2 finished at iteration 4; final weights identical" \
        in again.stdout
    log = log_of(work)
    ranks = [e for e in events(log, "rank") if e["epoch"] == 2]
    assert sorted(e["rank"] for e in ranks) == [0, 1], ranks
    assert {e["iter"] for e in ranks} == {2 * per_epoch}  # what an uninterrupted run reaches
    assert {e["world_size"] for e in ranks} == {2} and {e["backend"] for e in ranks} == {"gloo"}
    assert len({e["weights_sha256"] for e in ranks}) == 1, "the ranks' final weights differ"
    # rank 0's alone, once per epoch (the interruption came before epoch 1's validation)
    assert [e["epoch"] for e in events(log, "epoch")] == [1, 2] and [e["epoch"] for e in events(log, "val")] == [2]

    # one set of outputs, written by rank 0
    epochs = json.loads((work / "metrics.json").read_text())["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2] and "coco/AP" in epochs[1]["metrics"]
    assert (work / "last.pth").resolve().name == "epoch_2.pth"
    assert sorted(p.name for p in work.glob("*.pth")) == sorted(["best.pth", "last.pth", "epoch_2.pth",
                                                                  (work / "best.pth").resolve().name])
    assert not (work / ".dist_test").exists() and not list(work.rglob("*rank1*"))
    for stamp in (p for p in work.iterdir() if p.is_dir()):
        assert len(list(stamp.glob("*.log"))) == 1, sorted(stamp.iterdir())  # rank 0's log only
    info = json.loads((work / "run_info.json").read_text())
    assert info["world_size"] == 2 and info["backend"] == "gloo"
    report = (work / "report.md").read_text()
    assert "2 processes (gloo): batch 2 per process, global batch 4" in report
    assert "lr 0.0005 = 0.004 x sqrt(4/256)" in report and "final weights on the 2 ranks: identical" in report
    assert "world_size = 2" in (work / "config.py").read_text()


# ------------------------------------------------------------------------------------------------------ SLURM
STUB_SRUN = '''#!{python}
"""Stand-in for SLURM's srun: starts one task per node of the job here, with the variables srun sets."""
import json, os, subprocess, sys
args = sys.argv[1:]
while args and args[0].startswith("-"):
    args.pop(0)
nodes = int(os.environ["SLURM_NNODES"])
tasks = []
for i in range(nodes):
    env = dict(os.environ, SLURM_PROCID=str(i), SLURM_NODEID=str(i), SLURM_LOCALID="0", SLURM_NTASKS=str(nodes),
               SLURM_STEPID="0")
    with open(os.path.join(os.environ["STUB_RECORD"], f"task{{i}}.json"), "w") as fh:
        json.dump({{"argv": args, "env": {{k: v for k, v in env.items() if k.startswith("SLURM")}}}}, fh)
    tasks.append(subprocess.Popen(args, env=env))
sys.exit(max(t.wait() for t in tasks))
'''


def free_port(low: int, high: int) -> int:
    for port in random.sample(range(low, high), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def test_slurm_script_runs_two_nodes_through_srun(stack_python, tiny_data, tmp_path):
    """The job script hoofenv writes, executed as sbatch would (SLURM's variables) with a stand-in srun that starts
    both 'nodes' here: two torchrun agents meet at the c10d rendezvous the script takes from SLURM_JOB_ID and
    SLURMD_NODENAME, and train as ranks 0 and 1."""
    work = tmp_path / "slurm"
    bare_path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                if not (Path(p) / "sbatch").exists())
    proc = run_cli("train", "--data", str(tiny_data), "--python", str(stack_python), "--work-dir", str(work),
                   "--epochs", "1", *TINY, "--slurm", "--submit", "--nnodes", "2", "--nproc", "1",
                   env={"PATH": bare_path})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    script = work / "slurm_train.sh"
    assert f"sbatch is not on this machine: on the cluster's login node run  sbatch {script}" in proc.stdout
    assert not (work / "metrics.json").exists()  # nothing trained here
    text = script.read_text()
    assert "#SBATCH --nodes=2" in text and "#SBATCH --ntasks-per-node=1" in text

    stub, record = tmp_path / "bin", tmp_path / "record"
    stub.mkdir()
    record.mkdir()
    (stub / "srun").write_text(STUB_SRUN.format(python=sys.executable))
    (stub / "srun").chmod(0o755)
    port = free_port(20000, 40000)
    job = str(port - 20000)
    env = {**os.environ, "PATH": f"{stub}{os.pathsep}{bare_path}", "STUB_RECORD": str(record),
           "SLURM_JOB_ID": job, "SLURM_NNODES": "2", "SLURMD_NODENAME": "localhost", "SLURM_JOB_NODELIST": "localhost"}
    run = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]

    tasks = [json.loads((record / f"task{i}.json").read_text()) for i in range(2)]
    for i, task in enumerate(tasks):
        argv = task["argv"]
        assert argv[0] == str(stack_python) and argv[1:3] == ["-m", "torch.distributed.run"]
        assert "--nnodes=2" in argv and "--nproc_per_node=1" in argv and "--rdzv_backend=c10d" in argv
        assert f"--rdzv_endpoint=localhost:{port}" in argv and f"--rdzv_id=hoofenv-{job}" in argv
        assert task["env"]["SLURM_PROCID"] == str(i) and task["env"]["SLURM_JOB_ID"] == job
    ranks = events(run.stdout, "rank")
    assert sorted((e["rank"], e["world_size"], e["local_rank"]) for e in ranks) == [(0, 2, 0), (1, 2, 0)]
    assert sorted(e["node"] for e in ranks) == [0, 1]  # two agents: one rank on each 'node'
    assert len({e["weights_sha256"] for e in ranks}) == 1 and {e["backend"] for e in ranks} == {"gloo"}
    assert [e["epoch"] for e in json.loads((work / "metrics.json").read_text())["epochs"]] == [1]
    assert (work / "last.pth").exists() and "global batch 4" in (work / "report.md").read_text()


# --------------------------------------------------------------------------------------------------- tracking
@pytest.fixture(scope="session")
def tracking_python(stack_python, tmp_path_factory) -> Path:
    """A venv layered on the stack: its site-packages holds a .pth naming the stack's, and tensorboard and
    mlflow-skinny (the matrix's pins) are installed into it alone, by the stack's pip under the stack's constraints
    (numpy stays 1.26). The shared stack env is never changed: pip does not uninstall outside the venv."""
    from hoofenv.stack.matrix import load

    root = tmp_path_factory.mktemp("tracking") / "venv"
    ask = ("import json, sys, sysconfig; print(json.dumps([getattr(sys, '_base_executable', sys.executable), "
           "sysconfig.get_paths()['purelib']]))")
    base, site = json.loads(subprocess.run([str(stack_python), "-c", ask], capture_output=True, text=True,
                                           check=True).stdout)
    subprocess.run([base, "-m", "venv", "--without-pip", str(root)], check=True, timeout=300)
    python = root / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "_hoofenv_stack.pth").write_text(site + "\n")
    constraints = stack_python.parent.parent / "hoofenv-constraints.txt"
    if not constraints.exists():
        constraints = root / "constraints.txt"
        constraints.write_text("numpy<2\n")
    rows = load().tracking
    pins = [*rows["tensorboard"].packages, *rows["mlflow"].packages]
    proc = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar",
                           "off", "--constraint", str(constraints), *pins], capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    check = subprocess.run([str(python), "-c", "import numpy, mlflow, tensorboard; print(numpy.__version__)"],
                           capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.startswith("1."), check.stdout + check.stderr
    return python


READ_BACK = r'''
import glob, json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from mlflow.tracking import MlflowClient
work = sys.argv[1]
tb = {}
for folder in sorted(glob.glob(work + "/*/vis_data")):
    acc = EventAccumulator(folder)
    acc.Reload()
    for tag in acc.Tags()["scalars"]:
        tb.setdefault(tag, []).extend([e.step, e.value] for e in acc.Scalars(tag))
client = MlflowClient(tracking_uri="sqlite:///" + work + "/mlflow.db")
exp = client.get_experiment_by_name("hoofenv")
runs = client.search_runs([exp.experiment_id])
ml = {}
for run in runs:
    for key in run.data.metrics:
        ml.setdefault(key, []).extend([m.step, m.value] for m in client.get_metric_history(run.info.run_id, key))
artifacts = [a.path for a in client.list_artifacts(runs[0].info.run_id)]
print(json.dumps({"tb": tb, "mlflow": ml, "runs": [r.info.status for r in runs], "artifacts": artifacts,
                  "params": runs[0].data.params.get("train_dataloader.batch_size")}))
'''


def test_track_tensorboard_and_mlflow_hold_metrics_json(tracking_python, tiny_data, tmp_path):
    work = tmp_path / "tracked"
    proc = train(tracking_python, tiny_data, work, "--track", "tensorboard", "--track", "mlflow")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "installing" not in proc.stdout  # the packages were there: nothing installed
    read = subprocess.run([str(tracking_python), "-c", READ_BACK, str(work)], capture_output=True, text=True,
                          timeout=300)
    assert read.returncode == 0, read.stderr[-3000:]
    got = json.loads(read.stdout.strip().splitlines()[-1])
    assert got["runs"] == ["FINISHED"] and "config.py" in got["artifacts"] and got["params"] == "2"
    epochs = json.loads((work / "metrics.json").read_text())["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    for e in epochs:
        expected = {"hoofenv/loss": e["loss"], "hoofenv/lr": e["lr"], "hoofenv/seconds": e["seconds"],
                    **{k: e["metrics"][k] for k in ("coco/AP", "PCK")}}
        for tag, value in expected.items():
            assert [e["epoch"], value] in got["mlflow"][tag], (tag, got["mlflow"].get(tag))  # float64: exact
            tb = dict(got["tb"][tag])
            assert tb[e["epoch"]] == pytest.approx(value, rel=1e-6, abs=1e-9), (tag, tb)  # float32 in the file
    assert len(got["tb"]["hoofenv/loss"]) == len(epochs) == len(got["mlflow"]["hoofenv/loss"])
    assert "coco/AP (M)" in got["tb"] and "coco/AP M" in got["mlflow"]  # MLflow refuses parentheses in names
