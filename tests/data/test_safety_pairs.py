"""`data split` writes its pair as one unit: a manifest names the pair, its sha256 and the source's; `check` and
`train` refuse a pair the manifest does not vouch for; whatever a split replaces is backed up. Real SIGKILLs
during split and fix on a large generated export never leave a mixed pair that passes, half a file, or a temp
file that the next run does not remove."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hoofenv.data.split import verify_pair
from hoofenv.errors import HoofenvError
from tests.conftest import REPO
from tests.data.helpers import cvat_export, write_export
from tests.data.hostile import run


def videos(n: int = 40) -> dict:
    d = cvat_export(n_images=n, per_image=1)
    for img in d["images"]:
        img["file_name"] = f"horse_{img['id'] % 8}/frame_{img['id']:05d}.png"
    return d


def names_in(path: Path) -> set[str]:
    return {i["file_name"] for i in json.loads(path.read_text())["images"]}


def pair_state(folder: Path, train="train.json", val="val.json", check: bool = True) -> str:
    """"ok" (vouched for, and no image in both) or "refused" (by train's preflight and, with CHECK, by `data
    check` of the train part); anything else fails the test."""
    t, v = folder / train, folder / val
    try:
        verify_pair(t, v)
    except HoofenvError as err:
        assert err.code == "split-mismatch" and "hoofenv data split" in err.hint
        if check:
            code, out, _ = run("data", "check", str(t), "--json")
            assert code == 1 and "split-mismatch" in out
        return "refused"
    assert not names_in(t) & names_in(v), "a pair that passes never shares an image"
    return "ok"


def test_split_writes_a_manifest_that_check_and_train_verify(tmp_path):
    src = write_export(tmp_path, videos(), "hooves.json")
    out = tmp_path / "ds" / "annotations"
    code, stdout, err = run("data", "split", str(src), "-o", str(out), "--names", "train.json,val.json", "--json")
    assert code == 0, err
    report = json.loads(stdout)
    manifest = json.loads(Path(report["manifest"]).read_text())
    assert manifest["source"]["path"] == str(src.resolve()) and len(manifest["source"]["sha256"]) == 64
    assert set(manifest["files"]) == {"train", "val"} and "--names train.json,val.json" in manifest["command"]
    assert pair_state(out) == "ok"
    code, stdout, _ = run("data", "check", str(out / "val.json"), "--json")
    assert code == 0, stdout


def test_a_new_train_beside_an_old_val_is_refused_by_check_and_train(tmp_path):
    src = write_export(tmp_path, videos(200), "hooves.json")
    out = tmp_path / "ds" / "annotations"
    (tmp_path / "ds" / "images").mkdir(parents=True)
    assert run("data", "split", str(src), "-o", str(out), "--names", "train.json,val.json", "--seed", "1")[0] == 0
    old_val = (out / "val.json").read_bytes()
    assert run("data", "split", str(src), "-o", str(out), "--names", "train.json,val.json", "--seed", "2")[0] == 0
    (out / "val.json").write_bytes(old_val)  # what an interrupted split without a manifest used to leave
    assert names_in(out / "train.json") & names_in(out / "val.json"), "the mix really overlaps"
    assert pair_state(out) == "refused"
    proc = subprocess.run([sys.executable, "-m", "hoofenv", "train", "--data", str(tmp_path / "ds"), "--python",
                           sys.executable], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 1 and "not the pair `hoofenv data split` wrote together" in proc.stderr
    assert "hint: hoofenv data split" in proc.stderr and "--seed 2" in proc.stderr


def test_split_backs_up_what_it_replaces_and_the_source_change_is_noticed(tmp_path):
    src = write_export(tmp_path, videos(), "hooves.json")
    (tmp_path / "hooves_train.json").write_text("my own notes\n")
    code, stdout, err = run("data", "split", str(src), "--json")
    assert code == 0, err
    [bak] = json.loads(stdout)["backups"]
    assert Path(bak).read_text() == "my own notes\n"
    code, stdout, err = run("data", "split", str(src), "--json")  # the same split again: nothing to back up
    assert json.loads(stdout)["backups"] == []
    data = videos()
    data["images"][0]["width"] = 65
    src.write_text(json.dumps(data))
    code, stdout, _ = run("data", "check", str(tmp_path / "hooves_train.json"), "--json")
    assert "split-source-changed" in stdout and code == 0


def test_files_from_two_splits_are_not_a_pair(tmp_path):
    src = write_export(tmp_path, videos(), "hooves.json")
    for seed, names in ((1, "a_train.json,a_val.json"), (2, "b_train.json,b_val.json")):
        assert run("data", "split", str(src), "--seed", str(seed), "--names", names)[0] == 0
    assert pair_state(tmp_path, "a_train.json", "a_val.json") == "ok"
    # each file is the one its own split wrote, so `check` of either passes; only the pair is wrong
    assert pair_state(tmp_path, "a_train.json", "b_val.json", check=False) == "refused"


def test_fix_in_place_of_a_part_keeps_the_pair_vouched_for(tmp_path):
    data = videos()
    for a in data["annotations"][::4]:
        a["bbox"][3] = 0.0
    src = write_export(tmp_path, data, "hooves.json")
    assert run("data", "split", str(src), "--names", "train.json,val.json")[0] == 0
    code, out, err = run("data", "fix", str(tmp_path / "train.json"), "--in-place")
    assert code == 0, err
    assert pair_state(tmp_path) == "ok"
    manifest = json.loads((tmp_path / "train.split.json").read_text())
    assert manifest["edited"][0]["file"] == "train.json"


# -- real SIGKILLs ------------------------------------------------------------------------------------------------

STALL = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
calls = {"n": 0}
real = os.replace
def replace(a, b):
    calls["n"] += 1
    if calls["n"] == int(sys.argv[2]):
        print("stalled", flush=True)
        time.sleep(600)
    return real(a, b)
os.replace = replace
from hoofenv.data.split import split_file
split_file(sys.argv[3], 0.2, int(sys.argv[4]), output_dir=sys.argv[5], names="train.json,val.json")
"""


@pytest.mark.parametrize("at", [1, 2, 3])
def test_a_split_killed_between_its_renames_is_refused_until_rerun(tmp_path, at):
    """os.replace stalls at call AT (1: the manifest's own rename, 2: before train's, 3: between train's and
    val's -- the issue's new-train-beside-old-val), then the process is SIGKILLed."""
    src = write_export(tmp_path, videos(300), "hooves.json")
    out = tmp_path / "annotations"
    assert run("data", "split", str(src), "-o", str(out), "--names", "train.json,val.json", "--seed", "1")[0] == 0
    before = {p: (out / p).read_bytes() for p in ("train.json", "val.json")}
    proc = subprocess.Popen([sys.executable, "-c", STALL, str(REPO), str(at), str(src), "2", str(out)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "stalled"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = pair_state(out)
    if at == 1:
        assert state == "ok" and {p: (out / p).read_bytes() for p in before} == before
    else:
        assert state == "refused"
    assert run("data", "split", str(src), "-o", str(out), "--names", "train.json,val.json", "--seed", "2")[0] == 0
    assert pair_state(out) == "ok"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")], "the rerun swept the killed run's temps"


def big_export(path: Path, n_images: int) -> Path:
    data = cvat_export(n_images=n_images, per_image=2, width=640, height=480)
    for img in data["images"]:
        img["file_name"] = f"horse_{img['id'] % 97}/frame_{img['id']:06d}.png"
    for a in data["annotations"][::5]:
        a["bbox"][3] = 0.0
    path.write_text(json.dumps(data))
    return path


def kill_after(argv: list[str], delay: float) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "hoofenv", *argv], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_split_killed_at_any_moment_on_a_large_export(tmp_path):
    src = big_export(tmp_path / "big.json", 30_000)
    out = tmp_path / "annotations"
    argv = ["data", "split", str(src), "-o", str(out), "--names", "train.json,val.json"]
    started = time.monotonic()
    assert run(*argv, "--seed", "1")[0] == 0
    took = time.monotonic() - started
    pairs = {1: {p: (out / p).read_bytes() for p in ("train.json", "val.json")}}
    states = []
    for n, frac in enumerate((0.5, 0.7, 0.8, 0.9, 0.95, 1.0, 1.1)):
        kill_after([*argv, "--seed", str(n + 2)], took * frac + 0.3)  # + interpreter start
        states.append(pair_state(out))
        for p in ("train.json", "val.json"):
            json.loads((out / p).read_text())  # never half a file
    assert run(*argv, "--seed", "9")[0] == 0 and pair_state(out) == "ok"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert pairs  # the states met are reported on failure
    print("states after each kill:", states)


@pytest.mark.slow
def test_fix_in_place_killed_at_any_moment_on_a_large_export(tmp_path):
    ann = big_export(tmp_path / "big.json", 30_000)
    original = ann.read_bytes()
    started = time.monotonic()
    code, _, err = run("data", "fix", str(ann), "-o", str(tmp_path / "reference.json"))
    assert code == 0, err
    fixed = (tmp_path / "reference.json").read_bytes()
    took = time.monotonic() - started
    for frac in (0.3, 0.6, 0.8, 0.9, 1.0, 1.2):
        kill_after(["data", "fix", str(ann), "--in-place"], took * frac + 0.3)
        assert ann.read_bytes() in (original, fixed), "the export is the old one or the fixed one, whole"
        for bak in tmp_path.glob("big.json.bak*"):
            assert bak.read_bytes() == original, "a backup is whole"
        if ann.read_bytes() == fixed:
            break
    code, _, err = run("data", "fix", str(ann), "--in-place")
    assert code in (0, 1) and ann.read_bytes() == fixed
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "the next run swept the temps"
