"""Real MMEngine training on the CPU with the bundled config: tiny synthetic data, 64x64 input, a few iterations.

Needs the real stack (`stack_python`); each run is a subprocess of `hoofenv train`, ~10-30 s on 2 cores.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hoofenv.train import rendered
from tests.conftest import run_cli
from tests.inenv.payloads import build

pytestmark = [pytest.mark.slow, pytest.mark.stack]

TINY = ["--pretrained", "none", "--batch-size", "4", "--input-size", "64x64", "--val-interval", "1",
        "--skip-verify", "--deterministic"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    from hoofenv.data.synthetic import generate

    return generate(tmp_path_factory.mktemp("data") / "hooves", n_train=8, n_val=4, seed=3, image_size=(96, 96))


def train(stack_python, data, work_dir, *extra, epochs=2, workers="1"):
    return run_cli("train", "--data", str(data), "--python", str(stack_python), "--work-dir", str(work_dir),
                   "--epochs", str(epochs), "--workers", workers, *TINY, *extra)


@pytest.fixture(scope="module")
def trained(stack_python, tiny_data, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("run") / "w"
    proc = train(stack_python, tiny_data, work, epochs=3)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return work


def state(stack_python, ckpt: Path) -> dict:
    """meta epoch/iter and a digest of every tensor of state_dict, read in the stack (our own file: trusted)."""
    code = (
        "import sys, json, hashlib, torch\n"
        "c = torch.load(sys.argv[1], map_location='cpu', weights_only=False)\n"
        "sd = c['state_dict']\n"
        "out = {k: hashlib.sha1(v.detach().contiguous().numpy().tobytes()).hexdigest() for k, v in sd.items()}\n"
        "print(json.dumps({'epoch': c['meta']['epoch'], 'iter': c['meta']['iter'], 'tensors': out,\n"
        "  'ema': sorted(c.get('ema_state_dict', {}))[:3]}))\n"
    )
    proc = subprocess.run([str(stack_python), "-c", code, str(ckpt)], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def test_real_training_writes_every_output(trained: Path):
    for name in ("best.pth", "last.pth", "config.py", "metainfo.py", "metrics.json", "loss.png", "metrics.png",
                 "report.md", "train.log", "run_info.json"):
        assert (trained / name).exists(), name
    assert (trained / "best.pth").resolve().name.startswith("best_coco_AP_epoch_")
    from hoofenv.inenv import checkpoint

    # every checkpoint MMEngine kept is recorded (those it removed are not), best.pth and last.pth through the files
    kept = sorted(p.name for p in trained.glob("*.pth") if not p.is_symlink())
    assert sorted(checkpoint.read_manifest(trained)) == kept
    assert checkpoint.recorded(trained / "best.pth") and checkpoint.recorded(trained / "last.pth")
    epochs = json.loads((trained / "metrics.json").read_text())["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    for e in epochs:
        assert e["loss"] > 0 and e["s_per_iter"] > 0 and e["iter"] == 2 * e["epoch"]
        assert 0 <= e["metrics"]["coco/AP"] <= 1 and 0 <= e["metrics"]["PCK"] <= 1
    config = (trained / "config.py").read_text()
    assert "data_root = '/" in config and "metainfo_file = '/" in config
    report = (trained / "report.md").read_text()
    for word in ("best coco/AP", "s per epoch", "torch", "mmpose", "train images", "CPU"):
        assert word in report, word
    log = (trained / "train.log").read_text()
    assert "execution ORDER" in log  # the hook-priority table explained once, under it
    assert log.count("execution ORDER") == 1
    assert (trained / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_validation_reports_angle_errors(trained: Path):
    """Degrees beside AP and PCK: in metrics.json per validation, angles.png, report.md (docs/angles.md)."""
    epochs = json.loads((trained / "metrics.json").read_text())["epochs"]
    last = epochs[-1]["metrics"]
    for key in ("angle/pastern_mae", "angle/pastern_p90", "angle/pastern_n"):
        assert key in last, sorted(last)
    assert last["angle/pastern_n"] >= 1 and 0 <= last["angle/pastern_mae"] <= 90
    assert (trained / "angles.png").read_bytes()[:4] == b"\x89PNG"
    assert "angle error at epoch" in (trained / "report.md").read_text()
    assert "HoofAngleMetric" in (trained / "config.py").read_text()


def test_mim_train_runs_the_rendered_config(stack_python, trained: Path, tmp_path):
    """The seed's users train with `mim train mmpose CONFIG`: openmim is installed held to the pins, and the config
    hoofenv renders is a plain MMEngine config that mim's path (mmpose's packaged tools/train.py) runs as is."""
    work = tmp_path / "mim"
    proc = subprocess.run([str(stack_python), "-m", "mim", "train", "mmpose", str(trained / "config.py"), "--gpus",
                           "0", "--work-dir", str(work)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "Training finished successfully" in proc.stdout + proc.stderr
    assert (work / "epoch_3.pth").exists() and (work / "last_checkpoint").exists(), sorted(work.iterdir())


def test_interrupted_run_resumes_to_the_same_state(stack_python, tiny_data, trained, tmp_path):
    work = tmp_path / "w"
    first = train(stack_python, tiny_data, work, "--stop-after-epoch", "1", epochs=3)
    assert first.returncode == 0, first.stdout + first.stderr
    assert state(stack_python, Path((work / "last_checkpoint").read_text().strip()))["epoch"] == 1
    again = run_cli("train", "--data", str(tiny_data), "--python", str(stack_python), "--work-dir", str(work),
                    "--resume", "--skip-verify")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "starting at epoch 2" in again.stdout
    a = state(stack_python, (trained / "last.pth").resolve())
    b = state(stack_python, (work / "last.pth").resolve())
    assert (a["epoch"], a["iter"]) == (b["epoch"], b["iter"]) == (3, 6)
    differ = [k for k in a["tensors"] if a["tensors"][k] != b["tensors"][k]]
    assert not differ, f"{len(differ)} of {len(a['tensors'])} tensors differ, e.g. {differ[:3]}"
    epochs = json.loads((work / "metrics.json").read_text())["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]


def test_a_run_loading_in_its_own_process_resumes_to_the_same_state(stack_python, tiny_data, tmp_path):
    """--workers 0 (the default on the CPU with 2 cores): the augmentations draw from the training process's own
    generators, which hoofenv seeds before every epoch, so a resumed run draws what the whole run drew."""
    whole, part = tmp_path / "whole", tmp_path / "part"
    proc = train(stack_python, tiny_data, whole, epochs=2, workers="0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = train(stack_python, tiny_data, part, "--stop-after-epoch", "1", epochs=2, workers="0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    again = run_cli("train", "--data", str(tiny_data), "--python", str(stack_python), "--work-dir", str(part),
                    "--resume", "--skip-verify")
    assert again.returncode == 0 and "starting at epoch 2" in again.stdout, again.stdout + again.stderr
    a, b = (state(stack_python, (w / "last.pth").resolve()) for w in (whole, part))
    assert (a["epoch"], a["iter"]) == (b["epoch"], b["iter"]) == (2, 4)
    differ = [k for k in a["tensors"] if a["tensors"][k] != b["tensors"][k]]
    assert not differ, f"{len(differ)} of {len(a['tensors'])} tensors differ, e.g. {differ[:3]}"


def test_resume_refused_without_a_run(stack_python, tiny_data, tmp_path):
    proc = run_cli("train", "--data", str(tiny_data), "--python", str(stack_python), "--work-dir",
                   str(tmp_path / "empty"), "--resume", "--skip-verify")
    assert proc.returncode == 1 and "nothing to resume" in proc.stderr


def test_incremental_from_checkpoint(stack_python, tiny_data, trained, tmp_path):
    """hoofenv's own checkpoint from another work dir loads without --trust-checkpoint: its sha256 is in the manifest
    of the folder it lives in (best.pth is a link: the file behind it is checked)."""
    work = tmp_path / "inc"
    proc = train(stack_python, tiny_data, work, "--from", str(trained / "best.pth"), epochs=1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = (work / "train.log").read_text()
    assert "Load checkpoint from" in log and str((trained / "best.pth").resolve()) in log
    assert json.loads((work / "metrics.json").read_text())["epochs"][0]["epoch"] == 1  # a new run
    # a used work dir is not silently overwritten
    again = train(stack_python, tiny_data, work, "--from", str(trained / "best.pth"), epochs=1)
    assert again.returncode == 1 and "already holds a run" in again.stderr


def test_foreign_checkpoint_keeps_weights_only(stack_python, tiny_data, trained, tmp_path):
    """A checkpoint from elsewhere holding an arbitrary object is refused unless --trust-checkpoint."""
    foreign = tmp_path / "foreign.pth"
    code = ("import sys, argparse, torch\n"
            "c = torch.load(sys.argv[1], map_location='cpu', weights_only=False)\n"
            "torch.save({'state_dict': c['state_dict'], 'meta': {'note': argparse.Namespace(a=1)}}, sys.argv[2])\n")
    subprocess.run([str(stack_python), "-c", code, str((trained / "best.pth").resolve()), str(foreign)], check=True)
    refused = train(stack_python, tiny_data, tmp_path / "r", "--from", str(foreign), epochs=1)
    assert refused.returncode == 1
    assert "weights_only" in refused.stderr and "--trust-checkpoint" in refused.stderr
    trusted = train(stack_python, tiny_data, tmp_path / "t", "--from", str(foreign), "--trust-checkpoint",
                    epochs=1)
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr


# ------------------------------------------------------------------------------------ crafted checkpoints, CLI
# Every route of tests/inenv/payloads.py is refused in one stack process by tests/inenv/test_checkpoint.py (foreign
# and with a forged manifest). Here each way in of the CLI gets a route of its own (a run costs 20-60 s on the
# shared 2-core machine); numpy-tofile goes through the in-process test only.
def assert_refused(proc, path: Path, marker: Path) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert f"refused to load {path}" in proc.stderr and "could run code" in proc.stderr, out
    assert "Traceback" not in out
    assert not marker.exists(), "the payload ran"


@pytest.fixture(scope="module")
def payloads(stack_python, trained, tmp_path_factory):
    folder = tmp_path_factory.mktemp("payloads")
    marker = folder / "PWNED"
    return build(stack_python, folder / "files", marker, (trained / "best.pth").resolve()), marker


def test_predict_refuses_crafted_checkpoints(stack_python, trained, tiny_data, payloads, tmp_path):
    files, marker = payloads
    route = "getattr-eval"
    image = sorted((tiny_data / "images").glob("val_*"))[0]
    proc = run_cli("predict", str(files[route]), str(image), "-o", str(tmp_path / "o"), "--config",
                   str(trained / "config.py"), "--python", str(stack_python))
    assert_refused(proc, files[route], marker)
    assert f"hoofenv predict {files[route]}" in proc.stderr and "--trust-checkpoint" in proc.stderr


@pytest.mark.parametrize("flag, route", [("--from", "reduce-system"), ("--pretrained", "rebuild-exec")])
def test_train_refuses_crafted_checkpoints(stack_python, tiny_data, payloads, flag, route, tmp_path):
    files, marker = payloads
    args = [a for a in TINY if a not in ("--pretrained", "none")] if flag == "--pretrained" else TINY
    proc = run_cli("train", "--data", str(tiny_data), "--python", str(stack_python), "--work-dir",
                   str(tmp_path / "w"), "--epochs", "1", "--workers", "0", *args, flag, str(files[route]))
    assert_refused(proc, files[route], marker)


def test_resume_refuses_a_replaced_checkpoint_with_a_forged_manifest(stack_python, tiny_data, trained, payloads,
                                                                      tmp_path):
    """Someone else wrote into the work dir: the last checkpoint replaced by a crafted one (HistoryBuffer carrying
    eval reached through getattr), last_checkpoint pointing at it, and a manifest naming its sha256 exactly as hoofenv
    writes one. The manifest earns it HistoryBuffer, never getattr."""
    from hoofenv.inenv import checkpoint

    files, marker = payloads
    work = tmp_path / "w"
    work.mkdir()
    for name in ("config.py", "metainfo.py"):
        shutil.copy(trained / name, work / name)
    rendered.record(work)  # the config stays hoofenv's: only the checkpoint was replaced
    evil = work / "epoch_3.pth"
    shutil.copy(files["history-buffer"], evil)
    (work / "last_checkpoint").write_text(str(evil))
    checkpoint.record(evil)
    assert checkpoint.recorded(evil)
    proc = run_cli("train", "--data", str(tiny_data), "--python", str(stack_python), "--work-dir", str(work),
                   "--resume", "--skip-verify")
    assert_refused(proc, evil, marker)
    assert "in the manifest beside it" in proc.stderr and "builtins.getattr" in proc.stderr
    assert f"--work-dir {work} --resume --trust-checkpoint" in proc.stderr


def test_resume_refuses_a_config_someone_else_wrote(stack_python, tiny_data, trained, tmp_path):
    """MMEngine runs config.py and metainfo.py as Python: a work dir whose config was replaced after hoofenv wrote it
    (a payload first, then the original text) is refused before anything runs it, with the way on (--from)."""
    marker = tmp_path / "PWNED"
    work = tmp_path / "w"
    work.mkdir()
    for name in ("config.py", "metainfo.py"):
        shutil.copy(trained / name, work / name)
    rendered.record(work)
    last = (trained / "last.pth").resolve()
    for file in (last, trained / ".hoofenv-checkpoints.json"):
        shutil.copy(file, work / file.name)
    (work / "last_checkpoint").write_text(str(work / last.name))
    text = (work / "config.py").read_text()
    (work / "config.py").write_text(f"import pathlib; pathlib.Path({str(marker)!r}).write_text('ran')\n{text}")
    proc = run_cli("train", "--data", str(tiny_data), "--python", str(stack_python), "--work-dir", str(work),
                   "--resume", "--skip-verify")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and f"refused to resume {work}" in proc.stderr, out
    # the copy has no last.pth link: the way on names the checkpoint that is there
    assert "config.py differ" in proc.stderr and f"--from {work / last.name}" in proc.stderr, out
    assert f"--work-dir {work} --resume --trust-config" in proc.stderr, out
    assert "Traceback" not in out and not marker.exists()


def test_trust_config_resumes_a_work_dir_hoofenv_has_no_record_of(stack_python, tiny_data, trained, tmp_path):
    """A work dir from an earlier hoofenv (no record): refused, then resumed with --trust-config, which records it,
    so the next --resume needs no flag."""
    work = tmp_path / "w"
    shutil.copytree(trained, work, symlinks=True)
    (work / "last_checkpoint").write_text(str(work / (trained / "last.pth").resolve().name))
    args = ["train", "--data", str(tiny_data), "--python", str(stack_python), "--work-dir", str(work), "--resume",
            "--skip-verify"]
    refused = run_cli(*args)
    assert refused.returncode == 1 and "no record" in refused.stderr, refused.stderr
    vouched = run_cli(*args, "--trust-config")
    assert vouched.returncode == 0, (vouched.stdout + vouched.stderr)[-3000:]
    rendered.verify(work, "unused")  # recorded now
    wrong = run_cli("train", "--data", str(tiny_data), "--python", str(stack_python), "--work-dir",
                    str(tmp_path / "new"), "--trust-config", "--skip-verify")
    assert wrong.returncode == 2 and "--trust-config goes with --resume" in wrong.stderr, wrong.stderr


def test_files_that_are_not_checkpoints_are_called_that(stack_python, tiny_data, trained, tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("weights are on the other disk\n")
    image = sorted((tiny_data / "images").glob("val_*"))[0]
    proc = run_cli("predict", str(text), str(image), "-o", str(tmp_path / "o"), "--config",
                   str(trained / "config.py"), "--python", str(stack_python))
    assert proc.returncode == 1 and f"{text} is not a checkpoint" in proc.stderr, proc.stdout + proc.stderr
    assert "a text file" in proc.stderr and "--trust-checkpoint" not in proc.stderr
    truncated = tmp_path / "half.pth"
    data = (trained / "best.pth").resolve().read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    proc = train(stack_python, tiny_data, tmp_path / "w", "--from", str(truncated), epochs=1, workers="0")
    assert proc.returncode == 1 and f"{truncated} is not a checkpoint" in proc.stderr, proc.stdout + proc.stderr
    assert "truncated or damaged" in proc.stderr and "--trust-checkpoint" not in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_foreign_checkpoint_of_weights_and_numpy_loads(stack_python, tiny_data, trained, tmp_path):
    """A checkpoint from elsewhere with weights and numpy metadata only (what model zoos publish) needs no trust."""
    published = tmp_path / "zoo" / "published.pth"
    published.parent.mkdir()
    code = ("import sys, torch\n"
            "c = torch.load(sys.argv[1], map_location='cpu', weights_only=False)\n"
            "torch.save({'state_dict': c['state_dict'], 'meta': {'dataset_meta': c['meta']['dataset_meta']}}, "
            "sys.argv[2])\n")
    subprocess.run([str(stack_python), "-c", code, str((trained / "best.pth").resolve()), str(published)], check=True)
    image = sorted((tiny_data / "images").glob("val_*"))[0]
    proc = run_cli("predict", str(published), str(image), "-o", str(tmp_path / "o"), "--config",
                   str(trained / "config.py"), "--python", str(stack_python))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "o" / "predictions.json").exists()
