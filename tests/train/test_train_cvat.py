"""From a CVAT zip to a trained model in one command, and the user's own MMPose config trained as it is -- real
MMEngine training on the CPU (tiny: 96 px pictures, 64x64 input, 1-2 epochs)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.data.exports import write_export

pytestmark = [pytest.mark.slow, pytest.mark.stack]

TINY = ["--pretrained", "none", "--batch-size", "4", "--val-interval", "1", "--workers", "0", "--deterministic"]


@pytest.fixture(scope="module")
def export_zip(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cvat")
    return write_export(root / "task", {"default": 10}, seed=2, zip_to=root / "task_export.zip")


@pytest.fixture(scope="module")
def trained(export_zip, stack_python, tmp_path_factory) -> tuple[Path, object]:
    work = tmp_path_factory.mktemp("run") / "w"
    proc = run_cli("train", "--data", str(export_zip), "--python", str(stack_python), "--work-dir", str(work),
                   "--epochs", "2", "--input-size", "64x64", "--skip-verify", *TINY)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work, proc


def test_a_cvat_zip_trains_in_one_command(trained, export_zip):
    work, proc = trained
    for name in ("best.pth", "last.pth", "config.py", "metrics.json", "report.md", "data/hoofenv-import.json",
                 "data/annotations/train.json", "data/annotations/val.json", "data/metainfo.py"):
        assert (work / name).exists(), name
    out = proc.stdout
    assert f"{export_zip} (zip): default: 10 images" in out
    assert "repaired bbox-from-keypoints" in out and "split train" in out and f"prepared {work / 'data'}" in out
    assert f"data_root = '{work / 'data'}/'" in (work / "config.py").read_text()
    assert [e["epoch"] for e in json.loads((work / "metrics.json").read_text())["epochs"]] == [1, 2]
    train = json.loads((work / "data/annotations/train.json").read_text())
    assert all(a["bbox"][3] > 0 for a in train["annotations"])  # what MMPose would have dropped was repaired


def test_the_rendered_template_passes_the_config_check(trained, stack_python):
    work, _ = trained
    proc = run_cli("config", "check", str(work / "config.py"), "--python", str(stack_python), "--json")
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["ok"], report
    assert {f["severity"] for f in report["findings"]} <= {"info"}, report["findings"]


def test_resume_needs_the_same_export(trained, export_zip, stack_python, tmp_path):
    work, _ = trained
    changed = write_export(tmp_path / "other", {"default": 10}, seed=5, zip_to=tmp_path / "other.zip")
    proc = run_cli("train", "--data", str(changed), "--python", str(stack_python), "--work-dir", str(work),
                   "--resume", "--skip-verify")
    assert proc.returncode == 1 and "differ from those" in proc.stderr, proc.stderr
    again = run_cli("train", "--data", str(export_zip), "--python", str(stack_python), "--work-dir", str(work),
                    "--skip-verify")
    assert again.returncode == 1 and "already holds a run" in again.stderr
    assert json.loads((work / "data/hoofenv-import.json").read_text())["inputs"][0]["path"] == str(export_zip)


OWN = """_base_ = ['./runtime.py']
# An RTMPose-t config of one's own: relative paths, its own schedule and batch.
data_root = 'data/'
codec = dict(type='SimCCLabel', input_size=(64, 64), sigma=(1.42, 1.42), simcc_split_ratio=2.0, normalize=False,
             use_dark=False)
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True),
    backbone=dict(_scope_='mmdet', type='CSPNeXt', arch='P5', expand_ratio=0.5, deepen_factor=0.167,
                  widen_factor=0.375, out_indices=(4, ), channel_attention=True, norm_cfg=dict(type='BN'),
                  act_cfg=dict(type='SiLU')),
    head=dict(type='RTMCCHead', in_channels=384, out_channels=4, input_size=codec['input_size'],
              in_featuremap_size=(2, 2), simcc_split_ratio=codec['simcc_split_ratio'], final_layer_kernel_size=7,
              gau_cfg=dict(hidden_dims=256, s=128, expansion_factor=2, dropout_rate=0., drop_path=0., act_fn='SiLU',
                           use_rel_bias=False, pos_enc=False),
              loss=dict(type='KLDiscretLoss', use_target_weight=True, beta=10., label_softmax=True), decoder=codec),
    test_cfg=dict(flip_test=False))
metainfo = dict(from_file='metainfo.py')
train_pipeline = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
                  dict(type='TopdownAffine', input_size=codec['input_size']),
                  dict(type='GenerateTarget', encoder=codec), dict(type='PackPoseInputs')]
val_pipeline = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
                dict(type='TopdownAffine', input_size=codec['input_size']), dict(type='PackPoseInputs')]
train_dataloader = dict(batch_size=4, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset=dict(type='CocoDataset', data_root=data_root, data_mode='topdown', metainfo=metainfo,
                                     ann_file='annotations/train.json', data_prefix=dict(img='images/'),
                                     pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                      dataset=dict(type='CocoDataset', data_root=data_root, data_mode='topdown', metainfo=metainfo,
                                   ann_file='annotations/val.json', data_prefix=dict(img='images/'), test_mode=True,
                                   pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/val.json')
test_evaluator = val_evaluator
train_cfg = dict(by_epoch=True, max_epochs=5, val_interval=1)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4)]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, save_best='coco/AP', rule='greater',
                                     max_keep_ckpts=1))
"""
RUNTIME = """default_scope = 'mmpose'
default_hooks = dict(timer=dict(type='IterTimerHook'), logger=dict(type='LoggerHook', interval=1),
                     param_scheduler=dict(type='ParamSchedulerHook'), sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='PoseLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_level = 'INFO'
load_from = None
resume = False
"""


@pytest.fixture(scope="module")
def own_config(trained, tmp_path_factory) -> Path:
    """The config in a project folder of its own, with its relative data/ (the prepared dataset) and metainfo."""
    import shutil

    work, _ = trained
    project = tmp_path_factory.mktemp("project")
    shutil.copytree(work / "data", project / "data")
    shutil.copy(work / "data/metainfo.py", project / "metainfo.py")
    (project / "runtime.py").write_text(RUNTIME)
    (project / "own.py").write_text(OWN)
    return project / "own.py"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_own_config_is_checked_rendered_and_trained(own_config, stack_python, tmp_path):
    project = own_config.parent
    before = {p.name: digest(p) for p in project.glob("*.py")}
    work = tmp_path / "own"
    proc = run_cli("train", "--config", str(own_config), "--python", str(stack_python), "--work-dir", str(work),
                   "--epochs", "1", "--skip-verify", cwd=project)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert {p.name: digest(p) for p in project.glob("*.py")} == before  # the user's files are only read
    rendered = (work / "config.py").read_text()
    assert rendered.startswith("# Rendered by hoofenv train") and str(own_config) in rendered.splitlines()[1]
    assert f"data_root='{project}/data/'" in rendered.replace(" ", "") or f"'{project}/data/'" in rendered
    body = "\n".join(line for line in rendered.splitlines() if not line.startswith("#"))
    assert "_base_" not in body and "max_epochs=1" in body.replace(" ", "")
    assert f"from_file='{project}/metainfo.py'" in rendered.replace(" ", "")
    assert "config check: ok" in proc.stdout and "rendered from" in proc.stdout
    assert [e["epoch"] for e in json.loads((work / "metrics.json").read_text())["epochs"]] == [1]
    assert (work / "best.pth").exists() and "own.py (own config)" in (work / "report.md").read_text()
    elsewhere = run_cli("config", "check", str(work / "config.py"), "--python", str(stack_python), "--json",
                        cwd=tmp_path)
    assert elsewhere.returncode == 0, elsewhere.stdout  # absolute paths: valid from any folder


def test_own_config_with_data_substituted(own_config, trained, stack_python, tmp_path):
    work, _ = trained
    run = tmp_path / "sub"
    args = ["train", "--config", str(own_config), "--data", str(work / "data"), "--python", str(stack_python),
            "--work-dir", str(run), "--epochs", "1", "--skip-verify"]
    elsewhere = run_cli(*args, cwd=tmp_path)  # its metainfo path is relative to the project folder
    assert elsewhere.returncode == 1 and f"{tmp_path}/metainfo.py does not exist" in elsewhere.stderr
    proc = run_cli(*args, cwd=own_config.parent)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rendered = (run / "config.py").read_text().replace(" ", "")
    assert f"ann_file='{work / 'data/annotations/val.json'}'" in rendered  # the evaluator too


def test_own_config_with_errors_is_refused_before_training(own_config, stack_python, tmp_path):
    bad = own_config.parent / "bad.py"
    bad.write_text(own_config.read_text() + "\ntest_dataloader = dict(val_dataloader, dataset=dict("
                   "val_dataloader['dataset'], metainfo=None))\n")
    work = tmp_path / "bad"
    proc = run_cli("train", "--config", str(bad), "--python", str(stack_python), "--work-dir", str(work),
                   "--skip-verify", cwd=own_config.parent)
    assert proc.returncode == 1
    assert "config check found 1 error" in proc.stderr and "metainfo-missing" in proc.stderr
    assert not (work / "config.py").exists() and not list(work.glob("*.pth"))
