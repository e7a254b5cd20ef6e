"""The pure parts of hoofenv's checkpoint policy (no torch): the manifest of saved checkpoints, telling a checkpoint
from other files, the allow-lists' contents, torch's refusal reduced to its line, and the messages hoofenv prints."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from hoofenv.inenv import checkpoint as ck
from hoofenv.inenv import protocol
from hoofenv.train.checkpoints import checkpoint_error
from hoofenv.train.launch import resumed_checkpoint, runner_argv
from hoofenv.train.options import TrainOptions


def torch_zip(path: Path, extra: dict | None = None) -> Path:
    """The layout torch.save writes (ARCHIVE/data.pkl, ARCHIVE/data/0, ...); contents do not matter here."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        zf.writestr("archive/version", b"3\n")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


# ----------------------------------------------------------------------------------------------- the manifest
def test_record_then_recorded(tmp_path):
    a = torch_zip(tmp_path / "epoch_1.pth")
    assert not ck.recorded(a)
    ck.record(a)
    assert ck.recorded(a)
    data = json.loads((tmp_path / ck.MANIFEST).read_text())
    assert data["format"] == 1 and data["checkpoints"]["epoch_1.pth"]["bytes"] == a.stat().st_size
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_changed_file_is_no_longer_recorded(tmp_path):
    a = torch_zip(tmp_path / "epoch_1.pth")
    ck.record(a)
    torch_zip(a, {"archive/data/0": b"x" * 10})  # replaced, other size
    assert not ck.recorded(a)
    ck.record(a)
    b = a.read_bytes()
    a.write_bytes(b[:-1] + bytes([b[-1] ^ 1]))  # same size, other bytes
    assert not ck.recorded(a)


def test_the_manifest_keeps_only_files_that_exist(tmp_path):
    a, b = torch_zip(tmp_path / "epoch_1.pth"), torch_zip(tmp_path / "epoch_2.pth")
    ck.record(a)
    ck.record(b)
    assert set(ck.read_manifest(tmp_path)) == {"epoch_1.pth", "epoch_2.pth"}
    a.unlink()  # MMEngine's max_keep_ckpts removed it
    c = torch_zip(tmp_path / "best_coco_AP_epoch_2.pth")
    ck.record(c)
    assert set(ck.read_manifest(tmp_path)) == {"epoch_2.pth", "best_coco_AP_epoch_2.pth"}


def test_a_link_is_judged_by_the_file_behind_it_and_its_folder(tmp_path):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    target = torch_zip(work / "best_coco_AP_epoch_3.pth")
    ck.record(target)
    (work / "best.pth").symlink_to(target.name)
    assert ck.recorded(work / "best.pth")
    (elsewhere / "best.pth").symlink_to(target)  # a link from elsewhere to a recorded file: still that file
    assert ck.recorded(elsewhere / "best.pth")
    copy = elsewhere / "best_coco_AP_epoch_3.pth"
    copy.write_bytes(target.read_bytes())  # the same bytes in a folder whose manifest does not name them
    assert not ck.recorded(copy)


@pytest.mark.parametrize("text", [
    "not json", "[]", '{"format": 2, "checkpoints": {}}', '{"format": 1, "checkpoints": []}',
    '{"format": 1, "checkpoints": {"x.pth": {"sha256": 1, "bytes": 1}}}',
    '{"format": 1, "checkpoints": {"../x.pth": {"sha256": "a", "bytes": 1}}}',
])
def test_a_manifest_that_is_not_ours_records_nothing(tmp_path, text):
    (tmp_path / ck.MANIFEST).write_text(text)
    assert ck.read_manifest(tmp_path) == {}
    a = torch_zip(tmp_path / "x.pth")
    assert not ck.recorded(a)
    ck.record(a)  # and is replaced by a good one
    assert ck.recorded(a)


# ------------------------------------------------------------------------------------------------ sniffing
def test_checkpoints_are_recognised(tmp_path):
    assert ck.sniff(torch_zip(tmp_path / "a.pth")) is None
    legacy = tmp_path / "legacy.pth"
    legacy.write_bytes(ck.LEGACY_MAGIC + b"\x80\x02}q\x00.")
    assert ck.sniff(legacy) is None


def test_files_that_are_not_checkpoints_say_what_they_are(tmp_path):
    (tmp_path / "text.pth").write_text("model: see the shared drive\n")
    assert ck.sniff(tmp_path / "text.pth") == \
        "a text file (starts with 'model: see the shared drive'), not a torch checkpoint"
    (tmp_path / "empty.pth").write_bytes(b"")
    assert ck.sniff(tmp_path / "empty.pth") == "an empty file"
    (tmp_path / "image.pth").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    assert "starts with 89 50 4e 47" in ck.sniff(tmp_path / "image.pth")
    whole = torch_zip(tmp_path / "whole.pth", {"archive/data/0": os.urandom(4096)}).read_bytes()
    (tmp_path / "half.pth").write_bytes(whole[: len(whole) // 2])
    assert ck.sniff(tmp_path / "half.pth").startswith("a zip archive that cannot be read (truncated or damaged")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("readme.txt", "hi")
    assert ck.sniff(tmp_path / "other.zip") == "a zip archive without data.pkl: not written by torch.save"
    script = torch_zip(tmp_path / "script.pt", {"archive/constants.pkl": b"", "archive/code/__torch__.py": b""})
    assert ck.sniff(script) == "a TorchScript archive (torch.jit.save), not a checkpoint of weights"


# ---------------------------------------------------------------------------------------------- allow-lists
def test_the_allow_lists_hold_data_types_only():
    names = {f"{m}.{q}" for m, q in ck.HOOFENV_GLOBALS + ck.NUMPY_GLOBALS}
    assert not names & ck.NEVER_ALLOWED
    assert not any(n.startswith(("builtins.", "os.", "posix.", "subprocess.", "functools.", "operator."))
                   for n in names)
    assert {f"{m}.{q}" for m, q in ck.NUMPY_GLOBALS} < {f"{m}.{q}" for m, q in ck.HOOFENV_GLOBALS}
    assert set(ck.HOOFENV_GLOBALS) - set(ck.NUMPY_GLOBALS) == {("mmengine.logging.history_buffer", "HistoryBuffer")}


def test_torch_refusals_reduced_to_the_line_that_names_the_object():
    wo = ("Weights only load failed. This file can still be loaded, to do so you have two options, do those steps "
          "only if you trust the source of the checkpoint.\n\t(1) ...\n\t(2) ...\n WeightsUnpickler error: "
          "Unsupported global: GLOBAL getattr was not an allowed global by default. Please use ...\n\nCheck the "
          "documentation of torch.load to learn more about types accepted by default with weights_only https://x.")
    assert ck._torch_reason(Exception(wo)) == "Unsupported global: GLOBAL getattr was not an allowed global by default"
    blocked = ("Weights only load failed. In PyTorch 2.6, we changed the default ...\n\n\nTrying to load unsupported "
               "GLOBAL posix.system whose module posix is blocked.\n\nCheck the documentation of torch.load ...")
    assert ck._torch_reason(Exception(blocked)) == \
        "Trying to load unsupported GLOBAL posix.system whose module posix is blocked"


# ---------------------------------------------------------------------------------------- hoofenv's side
def test_refusal_message_for_a_foreign_file():
    err = checkpoint_error(protocol.EXIT_CHECKPOINT_REFUSED,
                           {"event": "checkpoint-refused", "path": "/x/evil.pth", "globals": ["builtins.getattr"],
                            "why": "Unsupported global: GLOBAL getattr", "recorded": False},
                           "hoofenv predict /x/evil.pth IMAGES... -o out --trust-checkpoint")
    assert err.code == "checkpoint-refused" and err.exit_code == 1
    assert err.message == "refused to load /x/evil.pth: unpickling it could run code"
    text = err.render()
    assert "it holds builtins.getattr" in text and "hoofenv did not write it" in text
    assert err.hint.startswith("hoofenv predict /x/evil.pth IMAGES... -o out --trust-checkpoint")


def test_refusal_message_for_a_recorded_file_and_without_an_event():
    err = checkpoint_error(protocol.EXIT_CHECKPOINT_REFUSED, {"path": "/w/epoch_3.pth", "recorded": True}, "H")
    assert "in the manifest beside it" in err.render()
    bare = checkpoint_error(protocol.EXIT_CHECKPOINT_REFUSED, None, "H")
    assert bare.message == "refused to load a checkpoint: unpickling it could run code"


def test_not_a_checkpoint_message_does_not_suggest_trusting_it():
    err = checkpoint_error(protocol.EXIT_NOT_A_CHECKPOINT,
                           {"event": "not-a-checkpoint", "path": "/x/notes.pth", "why": "an empty file"}, "H")
    assert err.code == "not-a-checkpoint" and err.message == "/x/notes.pth is not a checkpoint"
    assert err.causes == ["an empty file"] and "trust" not in err.render()
    assert checkpoint_error(protocol.EXIT_FAILED, None, "H") is None


def test_resume_with_trust_vouches_for_the_last_checkpoint(tmp_path):
    (tmp_path / "last_checkpoint").write_text(f"{tmp_path}/epoch_2.pth\n")
    assert resumed_checkpoint(tmp_path) == f"{tmp_path}/epoch_2.pth"
    opts = TrainOptions(data="d", resume=True, trust_checkpoint=True)
    argv = runner_argv(Path("/py"), tmp_path / "config.py", tmp_path, opts)
    assert argv[argv.index("--trust-checkpoint") + 1] == f"{tmp_path}/epoch_2.pth"
    opts.trust_checkpoint = False
    assert "--trust-checkpoint" not in runner_argv(Path("/py"), tmp_path / "config.py", tmp_path, opts)
    assert resumed_checkpoint(tmp_path / "nowhere") is None


def test_train_names_the_flag_to_vouch_with(tmp_path):
    from hoofenv.train.run import Setup, _trust_hint

    setup = Setup("t", tmp_path / "w", 4, False, 1, None)
    given = tmp_path / "zoo" / "model.pth"
    opts = TrainOptions(data="d", from_ckpt=str(given))
    assert _trust_hint(opts, setup, str(given)) == \
        f"hoofenv train --data d --work-dir {tmp_path / 'w'} --from {given} --trust-checkpoint (and your other options)"
    opts = TrainOptions(data="d", pretrained=str(given))
    assert f"--pretrained {given} --trust-checkpoint" in _trust_hint(opts, setup, str(given))
    assert _trust_hint(TrainOptions(data="d", resume=True), setup, None).endswith("--resume --trust-checkpoint")
