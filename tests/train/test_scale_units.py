"""What hoofenv decides before a run leaves one process (docs/scaling.md): torchrun's command line, the checks of
the flags, the lr scaled to the global batch, the SLURM script's text, --track's config block and W&B's mode.
The runs themselves are in test_train_scale.py (real gloo DDP, the script under a stand-in srun)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hoofenv.errors import HoofenvError, UsageError
from hoofenv.train import config as trainconfig
from hoofenv.train import scale, slurm, tracking
from hoofenv.train.launch import launch_env, rdzv_id_for, runner_argv, torchrun_argv
from hoofenv.train.options import TrainOptions
from tests.conftest import run_cli


def argv_for(tmp_path, **kw) -> list[str]:
    return runner_argv(tmp_path / "py", tmp_path / "config.py", tmp_path / "w", TrainOptions(data="d", **kw))


def test_one_node_uses_standalone_rendezvous(tmp_path):
    argv = argv_for(tmp_path, nproc=2)
    assert argv[1:5] == ["-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"]
    assert not [a for a in argv if a.startswith(("--master_port", "--rdzv"))]  # torchrun picks a free port
    assert argv[-2:] == ["--launcher", "pytorch"]
    assert argv_for(tmp_path, gpus=2) == argv  # --gpus is the GPU spelling of --nproc
    assert "torch.distributed.run" not in argv_for(tmp_path)


def test_static_and_c10d_rendezvous(tmp_path):
    static = argv_for(tmp_path, nproc=4, nnodes=2, node_rank=1, master_addr="10.0.0.1")
    assert "--master_addr=10.0.0.1" in static and "--master_port=29500" in static and "--node_rank=1" in static
    elastic = argv_for(tmp_path, nproc=2, nnodes="1:4", rdzv="head.cluster", max_restarts=3)
    for flag in ("--nnodes=1:4", "--rdzv_backend=c10d", "--rdzv_endpoint=head.cluster:29500", "--max_restarts=3",
                 f"--rdzv_id={rdzv_id_for(tmp_path / 'w')}"):
        assert flag in elastic, flag
    assert not [a for a in elastic if a.startswith(("--node_rank", "--master"))]
    assert "--rdzv_id=mine" in argv_for(tmp_path, nproc=1, nnodes=2, rdzv="h:1234", rdzv_id="mine")
    with pytest.raises(ValueError):
        torchrun_argv("py", [], 0)


def test_cpu_processes_share_the_cores(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    opts = TrainOptions(data="d", nproc=2)
    assert launch_env(opts, gpu=True) == {}
    assert int(launch_env(opts, gpu=False)["OMP_NUM_THREADS"]) >= 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert launch_env(opts, gpu=False) == {}  # the user's setting stands


@pytest.mark.parametrize("kw, words", [
    (dict(nproc=2, gpus=4), "disagree"),
    (dict(nnodes="2:1", rdzv="h"), "MIN <= MAX"),
    (dict(nnodes="1:4"), "needs the c10d rendezvous"),
    (dict(nnodes="x"), "--nnodes x"),
    (dict(nnodes=2, node_rank=2), "--node-rank 2"),
    (dict(submit=True), "--submit goes with --slurm"),
    (dict(slurm=True, rdzv="h"), "drop --rdzv"),
    (dict(slurm_time="1:00:00"), "go with --slurm"),
    (dict(tracking_uri="http://x"), "--tracking-uri is MLflow's"),
    (dict(rdzv="h; rm -rf /"), "HOST or HOST:PORT"),
])
def test_flag_combinations_refused(kw, words):
    with pytest.raises(UsageError) as err:
        scale.check(TrainOptions(data="d", **kw))
    assert words in err.value.message


def test_gpus_refused_where_there_are_none(monkeypatch):
    monkeypatch.delenv("HOOFENV_GPU_MEMORY_GIB", raising=False)
    monkeypatch.setattr(scale, "driver_present", lambda: False)
    with pytest.raises(HoofenvError) as err:
        scale.check(TrainOptions(data="d", gpus=2))
    assert err.value.code == "gpus-missing" and "--nproc 2" in err.value.hint
    scale.check(TrainOptions(data="d", gpus=2, slurm=True))  # the GPUs are on the cluster's nodes


def test_lr_and_warmup_follow_the_global_batch(tmp_path):
    from hoofenv.train.run import render_config, world_size

    schema = type("S", (), {"keypoints": ["a", "b"], "swaps": []})()
    (tmp_path / "annotations").mkdir()
    ann = '{"keypoints": [1, 1, 2]}'
    (tmp_path / "annotations" / "train.json").write_text('{"annotations": [' + ",".join([ann] * 64) + "]}")
    one = TrainOptions(data=str(tmp_path), epochs=10)
    two = TrainOptions(data=str(tmp_path), epochs=10, nproc=2, nnodes=2)
    assert world_size(two) == 4
    p1 = trainconfig.parse_params(render_config(one, tmp_path, tmp_path / "m.py", schema, "t", 4, 0, None))
    p4 = trainconfig.parse_params(render_config(two, tmp_path, tmp_path / "m.py", schema, "t", 4, 0, None))
    assert p1["base_lr"] == trainconfig.scaled_lr(4) and "world_size" not in p1  # one process: as before
    assert p4["base_lr"] == trainconfig.scaled_lr(16) and p4["world_size"] == 4 and p4["train_batch_size"] == 4
    assert p4["warmup_iters"] == trainconfig.warmup_iters(64, 16, 10)


def test_report_states_global_batch_and_lr():
    from hoofenv.train.report import scale_lines

    lines = scale_lines({"train_batch_size": 4, "base_lr": trainconfig.scaled_lr(8), "world_size": 2},
                        {"world_size": 2, "backend": "gloo"}, [{"weights_sha256": "a"}, {"weights_sha256": "a"}])
    assert "2 processes (gloo): batch 4 per process, global batch 8" in lines[0]
    assert "x sqrt(8/256)" in lines[1] and "identical" in lines[2]
    assert "not scaled" in scale_lines({"train_batch_size": 4, "base_lr": 0.1}, {})[0]


# ------------------------------------------------------------------------------------------------------ SLURM
def test_slurm_script_is_valid_bash_with_the_cluster_lines(tmp_path):
    opts = TrainOptions(data="d", slurm=True, nnodes="2:4", gpus=8, slurm_partition="gpu", slurm_time="1-00:00:00",
                        sbatch_args=["--account=horses"])
    text = slurm.script_text(opts, Path("/envs/hoof/bin/python"), ["/w/config.py", "--work-dir", "/w"], Path("/w"),
                             Path("/h/launch.py"), "/usr/bin/python3")
    for line in ("#SBATCH --nodes=2-4", "#SBATCH --gpus-per-node=8", "#SBATCH --partition=gpu",
                 "#SBATCH --time=1-00:00:00", "#SBATCH --account=horses", "#SBATCH --output=/w/slurm-%j.out",
                 "--nproc_per_node=8", '--rdzv_endpoint="$rdzv_host:$rdzv_port"', "srun --ntasks-per-node=1"):
        assert line in text, line
    assert text.index("#SBATCH") < text.index("set -euo pipefail")  # sbatch reads #SBATCH before any command
    path = tmp_path / "job.sh"
    path.write_text(text)
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    missing = subprocess.run(["bash", str(path)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert missing.returncode != 0 and "run this script with sbatch" in missing.stderr  # no SLURM: says so


# --------------------------------------------------------------------------------------------------- tracking
def test_track_adds_backends_and_nothing_without_it(tmp_path):
    assert tracking.config_block([]) == ""
    assert "--epoch-scalars" not in argv_for(tmp_path)
    assert "--epoch-scalars" in argv_for(tmp_path, track=["tensorboard"])
    entries = tracking.backends(["tensorboard", "mlflow", "tensorboard"], tmp_path / "w")
    assert [e["type"] for e in entries] == ["TensorboardVisBackend", "HoofenvMLflowVisBackend"]
    assert entries[1]["tracking_uri"] == f"sqlite:///{tmp_path / 'w' / 'mlflow.db'}"
    assert entries[1]["artifact_location"] == str(tmp_path / "w" / "mlartifacts")
    assert tracking.backends(["mlflow"], tmp_path, "http://mlflow:5000")[0]["tracking_uri"] == "http://mlflow:5000"
    params = trainconfig.TrainParams(data_root=str(tmp_path), metainfo_file=str(tmp_path / "m.py"))
    plain = trainconfig.render(params)
    space: dict = {}
    exec(compile(plain + tracking.config_block(entries), "config.py", "exec"), space)  # plain Python, like MMEngine
    assert [b["type"] for b in space["visualizer"]["vis_backends"]] == ["LocalVisBackend", "TensorboardVisBackend",
                                                                       "HoofenvMLflowVisBackend"]
    assert space["visualizer"]["type"] == "PoseLocalVisualizer"
    with pytest.raises(UsageError):
        tracking.backends(["comet"], tmp_path)


def test_wandb_offline_unless_logged_in(tmp_path):
    assert tracking.wandb_mode({}, tmp_path)[0] == "offline"
    assert tracking.wandb_mode({"WANDB_API_KEY": "k"}, tmp_path)[0] == "online"
    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password k\n")
    assert tracking.wandb_mode({}, tmp_path)[0] == "online"
    assert tracking.wandb_mode({"WANDB_MODE": "disabled"}, tmp_path)[0] is None  # the user's choice stands


def test_track_never_installs_into_an_env_hoofenv_did_not_make(tmp_path):
    """--python names the user's env: a missing package is refused with the command, and nothing is installed."""
    with pytest.raises(HoofenvError) as err:
        tracking.ensure(["tensorboard"], Path(sys.executable), None, lambda e: pytest.fail(f"installing: {e}"))
    assert err.value.code == "tracking-missing" and "-m pip install tensorboard==" in err.value.hint
    with pytest.raises(HoofenvError) as err:  # a venv that is not hoofenv's, even when named as the env
        tracking.ensure(["tensorboard"], Path(sys.executable), Path(sys.prefix), lambda e: pytest.fail("install"))
    assert err.value.code == "tracking-missing"


def test_matrix_tracking_rows_are_exact_pins(tmp_path):
    from hoofenv.stack.matrix import load
    from hoofenv.paths import resource

    rows = load().tracking
    assert set(rows) == {"tensorboard", "mlflow", "wandb"}
    assert rows["mlflow"].packages[0].startswith("mlflow-skinny==")
    bad = resource("compat_matrix.yaml").read_text().replace('packages: ["tensorboard==2.21.0"]',
                                                             'packages: ["tensorboard>=2"]')
    (tmp_path / "m.yaml").write_text(bad)
    with pytest.raises(HoofenvError) as err:
        load(tmp_path / "m.yaml")
    assert "tracking.tensorboard.packages[0]" in err.value.message


def test_cli_refuses_bad_scaling_flags_with_one_error(tmp_path):
    proc = run_cli("train", "--data", str(tmp_path), "--nproc", "2", "--gpus", "4")
    assert proc.returncode == 2 and "disagree" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("train", "--data", str(tmp_path), "--track", "comet")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


@pytest.mark.slow
def test_track_installs_the_pins_into_a_managed_env_under_its_constraints(tmp_path, monkeypatch):
    """A hoofenv-made env without the package: --track installs the matrix's pin with uv from a local index, under
    the env's hoofenv-constraints.txt, so a dependency the stack pins (numpy 1.26.4) does not move to 2."""
    from hoofenv.machine.ownership import CONSTRAINTS_FILE, write_marker
    from hoofenv.stack.matrix import load
    from tests.fakeindex import Server, isolated_env, make_wheel, write_simple

    pin = load().tracking["tensorboard"].packages[0]
    version = pin.split("==")[1]
    build = tmp_path / "build"
    wheels = [make_wheel(build, "tensorboard", version, requires=["numpy"]),
              make_wheel(build, "tensorboard", "99.0.0", requires=["numpy"]),
              make_wheel(build, "numpy", "1.26.4"), make_wheel(build, "numpy", "2.0.0")]
    write_simple(tmp_path / "index" / "simple", wheels)
    server = Server(tmp_path / "index")
    try:
        env = tmp_path / "env"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=300)
        write_marker(env, "stage")
        (env / CONSTRAINTS_FILE).write_text("numpy==1.26.4\n")
        for key, value in isolated_env(tmp_path, server.url, tmp_path / "cache").items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("UV_DEFAULT_INDEX", f"{server.url}/simple")
        monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # uv
        seen: list[dict] = []
        tracking.ensure(["tensorboard"], env / "bin" / "python", env, seen.append)
        assert seen == [{"event": "tracking-install", "packages": [pin], "env": str(env)}]
        got = subprocess.run([str(env / "bin" / "python"), "-c", "import tensorboard, numpy; "
                              "print(tensorboard.__version__, numpy.__version__)"], capture_output=True, text=True)
        assert got.stdout.split() == [version, "1.26.4"], got.stderr
        tracking.ensure(["tensorboard"], env / "bin" / "python", env, lambda e: pytest.fail(f"again: {e}"))
    finally:
        server.stop()


def test_cpu_processes_share_the_cores_they_were_given(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert launch_env(TrainOptions(data="d", nproc=2), gpu=False) == {"OMP_NUM_THREADS": "4"}
