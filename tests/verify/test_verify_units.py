"""Pure parts of verify: type collection from a config, registry inference, blocked_by, plan comparison."""

from __future__ import annotations

import runpy
import sys

from hoofenv.inenv import verify_probe as probe
from hoofenv.inenv.checkpoint import needs_remedy
from hoofenv.verify.host_checks import mim_rows
from hoofenv.verify.run import RTMPOSE_TYPES
from hoofenv.verify.supervisor import run_probe

from tests.conftest import FIXTURES

CONFIG = FIXTURES / "verify" / "rtmpose_hoof.py"


def fixture_types():
    cfg = {k: v for k, v in runpy.run_path(str(CONFIG)).items() if not k.startswith("__")}
    return probe.collect_types(cfg)


def test_collect_types_finds_scoped_types_and_skips_albumentations_own():
    types = fixture_types()
    names = {t for _, t, _ in types}
    assert {"CSPNeXt", "mmdet.PipelineSwitchHook", "mmdet.YOLOXHSVRandomAug", "RTMCCHead", "SimCCLabel",
            "KLDiscretLoss", "CocoMetric", "PCKAccuracy", "EMAHook", "Albumentation"} <= names
    assert not names & {"Blur", "MedianBlur", "CoarseDropout"}  # albumentations' types, not registry entries
    assert ("model.backbone", "CSPNeXt", "mmdet") in types
    assert ("model.backbone.norm_cfg", "SyncBN", "mmdet") in types  # _scope_ applies to the subtree


def test_every_fixture_type_gets_a_registry():
    where = {(path, t): probe._registries_for(path) for path, t, _ in fixture_types()}
    assert all(where.values()), [k for k, v in where.items() if not v]
    assert where[("model.head.decoder", "SimCCLabel")] == ["KEYPOINT_CODECS"]
    assert where[("train_pipeline[7].encoder", "SimCCLabel")] == ["KEYPOINT_CODECS"]
    assert where[("custom_hooks[1].switch_pipeline[0]", "LoadImage")] == ["TRANSFORMS"]
    assert where[("custom_hooks[1]", "mmdet.PipelineSwitchHook")] == ["HOOKS"]
    assert where[("model.backbone.init_cfg", "Pretrained")] == ["WEIGHT_INITIALIZERS"]
    assert all(probe._registries_for(p) for p, _, _ in RTMPOSE_TYPES)


def test_version_tuples():
    assert probe._vtuple("2.0.0rc4") < probe._vtuple("2.0.0") < probe._vtuple("2.1.0") < probe._vtuple("2.2.0")
    assert probe._vtuple("2.14.1+cu130") == probe._vtuple("2.14.1")
    assert probe._vtuple("81.0.0") >= probe._vtuple("81")


def test_weights_only_default_from_torch_2_6():
    assert not needs_remedy("2.5.1+cu121") and needs_remedy("2.6.0") and needs_remedy("2.14.1+cu130")


def test_python_version_against_a_plan():
    res = run_probe(sys.executable, ["python.version"],
                    {"plan": {"python": "3.8"}, "env": "ENV", "default_types": []}, 30)
    check = res["python.version"]
    assert not check.ok and "the plan wants 3.8" in check.detail and "--python 3.8" in check.hint


def test_mim_rows_skip_the_pkg_resources_warnings():
    """`mim list` in the real stack (setuptools 80.10.2), stdout then stderr as verify reads them."""
    out = (FIXTURES / "verify" / "mim_list_setuptools80.txt").read_text()
    assert mim_rows(out) == ["mmcv", "mmdet", "mmengine", "mmpose"]
