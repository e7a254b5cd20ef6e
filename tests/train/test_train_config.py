"""The bundled config as rendered by hoofenv (pure: no torch). The config is plain Python, so exec() reads it."""

from __future__ import annotations

import json
import urllib.request

import pytest

from hoofenv.train import config as trainconfig
from hoofenv.data.schema import PRESETS, Schema
from hoofenv.errors import HoofenvError
from hoofenv.train.launch import runner_argv
from hoofenv.train.options import TrainOptions
from hoofenv.train.preflight import resolve_pretrained
from hoofenv.train.run import render_config
from tests.conftest import REPO, run_cli


def _exec(text: str) -> dict:
    ns: dict = {}
    exec(compile(text, "config.py", "exec"), ns)  # noqa: S102 -- our own template
    return ns


def _render(tmp_path, schema: Schema, **kw) -> dict:
    opts = TrainOptions(data=str(tmp_path), **kw)
    text = render_config(opts, tmp_path, tmp_path / "metainfo.py", schema, "t", 8, 1, None)
    return _exec(text)


def test_metainfo_reaches_train_val_test_and_paths_absolute(tmp_path):
    cfg = _render(tmp_path, PRESETS["hoof-side"])
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        ds = cfg[loader]["dataset"]
        assert ds["metainfo"] == dict(from_file=str(tmp_path / "metainfo.py"))
        assert ds["data_root"].startswith("/") and ds["data_root"].endswith("/")
    for ev in cfg["val_evaluator"]:
        if ev["type"] == "CocoMetric":
            assert ev["ann_file"] == f"{tmp_path}/annotations/val.json"
            assert ev["use_area"] is True
    assert {e["type"] for e in cfg["val_evaluator"]} == {"CocoMetric", "PCKAccuracy", "HoofAngleMetric"}
    assert cfg["default_hooks"]["checkpoint"]["save_best"] == "coco/AP"
    assert cfg["default_hooks"]["checkpoint"]["save_last"] is True


def test_angle_metric_only_for_keypoints_that_name_a_hoof(tmp_path):
    side = _render(tmp_path, PRESETS["hoof-side"])
    metric = next(e for e in side["val_evaluator"] if e["type"] == "HoofAngleMetric")
    assert metric["points"]["hoof_top"] == "hoof_pastern_junction" and side["hoof_angles"] == metric["points"]
    assert side["custom_imports"] == dict(imports=["hoofenv_inenv.angle_metric"], allow_failed_imports=False)
    assert side["hoofenv_inenv"].endswith("hoofenv/inenv")
    four = _render(tmp_path, PRESETS["four-hooves"])
    assert "HoofAngleMetric" not in {e["type"] for e in four["val_evaluator"]} and not four["custom_imports"]


def test_keypoint_count_no_halfbody_ema_and_switch_inside_schedule(tmp_path):
    for epochs in (1, 2, 3, 10, 60, 420):
        cfg = _render(tmp_path, PRESETS["hoof-side"], epochs=epochs)
        assert cfg["model"]["head"]["out_channels"] == 4
        types = [t["type"] for t in cfg["train_pipeline"] + cfg["train_pipeline_stage2"]]
        assert "RandomHalfBody" not in types
        hooks = {h["type"]: h for h in cfg["custom_hooks"]}
        assert "EMAHook" in hooks
        switch = hooks["mmdet.PipelineSwitchHook"]["switch_epoch"]
        assert 1 <= switch <= max(1, epochs - 1) or epochs == 1, (epochs, switch)
        assert switch < epochs or epochs == 1


def test_stage2_epochs_from_the_start_trains_with_the_mild_pipeline(tmp_path):
    """--stage2-epochs N >= --epochs (the demo): RTMPose's milder stage-2 augmentation from the first epoch."""
    default = _render(tmp_path, PRESETS["hoof-side"], epochs=40)
    assert default["stage2_num_epochs"] == 3 and default["train_dataloader"]["dataset"]["pipeline"] \
        == default["train_pipeline"]
    mild = _render(tmp_path, PRESETS["hoof-side"], epochs=40, stage2_epochs=40)
    pipeline = mild["train_dataloader"]["dataset"]["pipeline"]
    assert pipeline == mild["train_pipeline_stage2"] != mild["train_pipeline"]
    box = next(t for t in pipeline if t["type"] == "RandomBBoxTransform")
    assert box["rotate_factor"] == 30 and "mmdet.YOLOXHSVRandomAug" not in {t["type"] for t in pipeline}
    later = _render(tmp_path, PRESETS["hoof-side"], epochs=40, stage2_epochs=10)
    assert later["train_dataloader"]["dataset"]["pipeline"] == later["train_pipeline"]
    assert {h["type"]: h for h in later["custom_hooks"]}["mmdet.PipelineSwitchHook"]["switch_epoch"] == 30


def test_flip_only_with_swap_pairs(tmp_path):
    side = _render(tmp_path, PRESETS["hoof-side"])
    assert "RandomFlip" not in [t["type"] for t in side["train_pipeline"]]
    assert side["model"]["test_cfg"]["flip_test"] is False
    lr = Schema(name="lr", keypoints=["left_fore", "right_fore", "left_hind", "right_hind"],
                swaps={"left_fore": "right_fore", "right_fore": "left_fore",
                       "left_hind": "right_hind", "right_hind": "left_hind"})
    both = _render(tmp_path, lr)
    assert "RandomFlip" in [t["type"] for t in both["train_pipeline"]]
    assert both["model"]["test_cfg"]["flip_test"] is True


def test_sizes_by_gpu_memory():
    assert trainconfig.choose_size(None) == "t"
    assert trainconfig.choose_size(6.0) == "t"  # GTX 1660 SUPER
    assert trainconfig.choose_size(12.0) == "s"
    assert trainconfig.choose_size(24.0) == "m"
    b = trainconfig.auto_batch("t", 6.0)
    assert 1 <= b and b * trainconfig.MEM_PER_SAMPLE_GIB["t"] + trainconfig.MEM_OVERHEAD_GIB < 6.0 * 0.8 + 1e-9
    assert trainconfig.auto_batch("t", None) == trainconfig.CPU_BATCH
    assert trainconfig.auto_workers(1) == 0 and trainconfig.auto_workers(2) == 1 and trainconfig.auto_workers(64) == 8
    # on the CPU the model's threads take the cores: no worker process up to 2 cores, as before from 3
    assert [trainconfig.auto_workers(n, gpu=False) for n in (1, 2, 3, 64)] == [0, 0, 2, 8]


def test_model_archs(tmp_path):
    for size, ch in (("t", 384), ("s", 512), ("m", 768)):
        text = trainconfig.render(trainconfig.TrainParams(data_root=str(tmp_path), metainfo_file=str(tmp_path / "m.py"),
                                                          model_size=size))
        cfg = _exec(text)
        assert cfg["model"]["head"]["in_channels"] == ch
        assert cfg["model"]["head"]["in_featuremap_size"] == (8, 8)


def test_render_refuses_relative_paths():
    with pytest.raises(ValueError):
        trainconfig.render(trainconfig.TrainParams(data_root="data/x", metainfo_file="/m.py"))


def test_params_round_trip(tmp_path):
    p = trainconfig.TrainParams(data_root=str(tmp_path), metainfo_file=str(tmp_path / "m.py"), train_batch_size=6,
                                input_size=(64, 96))
    got = trainconfig.parse_params(trainconfig.render(p))
    assert got["train_batch_size"] == 6 and got["input_size"] == (64, 96)


def test_torchrun_argv_for_n_gpus(tmp_path):
    opts = TrainOptions(data="d", gpus=4, nnodes=2, node_rank=1, master_addr="10.0.0.1", master_port=29600)
    argv = runner_argv(tmp_path / "py", tmp_path / "config.py", tmp_path / "w", opts)
    assert argv[:3] == [str(tmp_path / "py"), "-m", "torch.distributed.run"]
    assert "--nproc_per_node=4" in argv and "--nnodes=2" in argv and "--node_rank=1" in argv
    assert "--master_addr=10.0.0.1" in argv and "--master_port=29600" in argv
    assert argv[-2:] == ["--launcher", "pytorch"]
    launcher = str(REPO / "hoofenv" / "inenv" / "launch.py")
    assert argv.index(launcher) > 3 and argv[argv.index(launcher) + 1] == "train"
    single = runner_argv(tmp_path / "py", tmp_path / "config.py", tmp_path / "w", TrainOptions(data="d"))
    assert "torch.distributed.run" not in single and "--launcher" not in single


def test_pretrained_urls_and_cache(tmp_path):
    for size, url in trainconfig.PRETRAINED_URLS.items():
        assert url.startswith("https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/cspnext-")
    path = trainconfig.pretrained_cache_path("t", {"TORCH_HOME": str(tmp_path)})
    assert path == tmp_path / "hub" / "checkpoints" / trainconfig.PRETRAINED_URLS["t"].rsplit("/", 1)[1]


def test_pretrained_not_downloadable_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def refuse(*a, **k):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    with pytest.raises(HoofenvError) as err:
        resolve_pretrained("default", "t")
    text = err.value.render()
    assert "--pretrained PATH" in text and "--pretrained none" in text and str(tmp_path) in text
    assert resolve_pretrained("none", "t") is None
    cached = trainconfig.pretrained_cache_path("s")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"x")
    assert resolve_pretrained("default", "s") == str(cached)


def test_train_refuses_bad_data_with_findings(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "images").mkdir()
    bad = {"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 0, 0], "area": 0,
                            "keypoints": [1, 1, 2] * 4, "num_keypoints": 4, "iscrowd": 0}],
           "categories": [{"id": 1, "name": "hoof", "keypoints": ["toe", "heel", "a", "b"], "skeleton": []}]}
    for split in ("train", "val"):
        (tmp_path / "annotations" / f"{split}.json").write_text(json.dumps(bad))
    proc = run_cli("train", "--data", str(tmp_path), "--python", "/bin/true", "--skip-verify",
                   "--work-dir", str(tmp_path / "w"))
    assert proc.returncode == 1, proc.stderr
    assert "data check found errors" in proc.stderr and "bbox-degenerate" in proc.stderr
    assert not (tmp_path / "w").exists()


def test_train_without_env_names_the_fix(tmp_path):
    proc = run_cli("train", "--data", str(tmp_path), "--env", str(tmp_path / "none"))
    assert proc.returncode == 1 and "hoofenv install" in proc.stderr


def test_train_with_a_non_executable_env_python_names_the_fix(tmp_path):
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text("#!/bin/sh\n")  # an env whose python lost its x bit
    proc = run_cli("train", "--data", str(tmp_path), "--env", str(env), "--skip-verify")
    assert proc.returncode == 1, proc.stderr
    assert "is not executable" in proc.stderr and "chmod +x" in proc.stderr and "Traceback" not in proc.stderr
    for name in ("x.pth", "config.py", "a.jpg"):
        (tmp_path / name).write_text("x")
    proc = run_cli("predict", "--env", str(env), "-o", str(tmp_path / "out"), str(tmp_path / "x.pth"),
                   str(tmp_path / "a.jpg"), "--config", str(tmp_path / "config.py"))
    assert proc.returncode == 1 and "is not executable" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_warmup_is_a_tenth_of_the_run_capped_at_1000():
    from hoofenv.train import config as trainconfig

    assert trainconfig.warmup_iters(240, 4, 30) == 180          # 60 it/epoch x 30 epochs
    assert trainconfig.warmup_iters(8, 4, 3) == 1                # tiny test runs still leave warm-up
    assert trainconfig.warmup_iters(150_000, 256, 420) == 1000   # RTMPose's own schedule
    text = trainconfig.render(trainconfig.TrainParams(data_root="/d", metainfo_file="/d/m.py", warmup_iters=37))
    assert "warmup_iters = 37" in text and "end=warmup_iters" in text


def test_learning_rate_scales_with_the_batch():
    from hoofenv.train import config as trainconfig

    assert trainconfig.scaled_lr(256) == 4e-3              # RTMPose's own setting
    assert trainconfig.scaled_lr(4) == 5e-4                # sqrt(4/256) = 1/8
    assert trainconfig.scaled_lr(64) == 2e-3


@pytest.mark.parametrize("version, fused", [("2.14.1+cu130", True), ("2.4.0", True), ("2.3.1", False),
                                            ("2.10.0a0+git1234", True), (None, False), ("weird", False)])
def test_adamw_is_fused_where_torch_has_it_and_one_group_without_decay(tmp_path, monkeypatch, version, fused):
    """RTMPose's paramwise_cfg only exempts norms and biases from decay, and without decay it only costs a group per
    tensor; the fused kernel comes with torch >= 2.4, read from its metadata (no import: the file is plain Python)."""
    import importlib.metadata

    def fake(name):
        if version is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return version

    monkeypatch.setattr(importlib.metadata, "version", fake)
    optim = _render(tmp_path, PRESETS["hoof-side"])["optim_wrapper"]
    assert optim["optimizer"]["weight_decay"] == 0 and "paramwise_cfg" not in optim
    assert optim["optimizer"].get("fused", False) is fused


def test_weight_decay_brings_rtmposes_norm_and_bias_exemption_back(tmp_path):
    text = render_config(TrainOptions(data=str(tmp_path)), tmp_path, tmp_path / "metainfo.py", PRESETS["hoof-side"],
                         "t", 8, 1, None)
    optim = _exec(text.replace("\nweight_decay = 0.\n", "\nweight_decay = 0.05\n"))["optim_wrapper"]
    assert optim["optimizer"]["weight_decay"] == 0.05
    assert optim["paramwise_cfg"] == dict(norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True)


def test_auto_workers_count_the_cores_this_process_was_given(monkeypatch):
    """A SLURM job or a container given 2 of a node's 64 cores trains as on 2 cores."""
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {5, 9})
    assert trainconfig.auto_workers(gpu=False) == 0 and trainconfig.auto_workers(gpu=True) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    assert trainconfig.auto_workers(gpu=False) == 8
