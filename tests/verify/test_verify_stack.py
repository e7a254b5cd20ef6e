"""hoofenv verify against the real CPU training stack and deliberately broken copies of it.

Every variant must flip exactly its own root check(s), with the right hint; everything else that fails must say
which root it is blocked by. One verify run per environment, shared by the assertions (module-scoped).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import REPO, run_json
from tests.verify.variants import build_variant

pytestmark = [pytest.mark.slow, pytest.mark.stack]
CONFIG = REPO / "configs" / "rtmpose_hoof.py"  # the bundled training config


def roots(report: dict) -> set[str]:
    return {c["id"] for c in report["checks"] if not c["ok"] and c["required"] and not c["blocked_by"]}


def by_id(report: dict) -> dict[str, dict]:
    return {c["id"]: c for c in report["checks"]}


def assert_blocked_only_by(report: dict, allowed: set[str]) -> None:
    for c in report["checks"]:
        if not c["ok"] and c["blocked_by"]:
            assert c["blocked_by"] in allowed, c


@pytest.fixture(scope="session")
def variants_root(tmp_path_factory) -> Path:
    keep = os.environ.get("HOOFENV_VERIFY_VARIANTS")
    return Path(keep) if keep else tmp_path_factory.mktemp("verify-variants")


@pytest.fixture(scope="module")
def base_report(stack_python) -> tuple[int, dict]:
    return run_json("verify", "--python", str(stack_python), "--config", str(CONFIG))


def variant_report(stack_python, variants_root, name: str) -> tuple[int, dict]:
    python = build_variant(Path(stack_python).parent.parent.resolve(), name, variants_root)  # env may be a staged link
    return run_json("verify", "--python", str(python), "--config", str(CONFIG))


def test_real_stack_passes_every_check(base_report):
    code, report = base_report
    failed = [c for c in report["checks"] if not c["ok"]]
    assert code == 0 and report["ok"], failed
    ids = [c["id"] for c in report["checks"]]
    for check_id in ("python.version", "pip.check", "torch.import", "torch.device", "torch.arch", "torch.matmul",
                     "torchvision.import", "mmcv.ext", "mmcv.version", "mmcv.ops", "mmcv.abi", "mm.imports",
                     "registry.types", "numpy.version", "opencv.flavour", "xtcocotools.abi", "setuptools.version",
                     "checkpoint.roundtrip", "mim.list"):
        assert check_id in ids
    for c in report["checks"]:
        assert set(c) >= {"id", "ok", "required", "seconds", "detail", "hint"}
    checks = by_id(report)
    assert "cpu" in checks["mmcv.ops"]["detail"]
    assert checks["mim.list"]["required"] is False
    assert checks["mim.list"]["detail"] == "mim lists mmcv, mmdet, mmengine, mmpose", checks["mim.list"]
    assert "resolve" in checks["registry.types"]["detail"]


def test_checkpoint_roundtrip_shows_the_weights_only_failure_and_the_remedy(base_report):
    detail = by_id(base_report[1])["checkpoint.roundtrip"]["detail"]
    assert "plain torch.load refuses it under torch 2.14" in detail
    assert "resumes model, optimizer and message hub" in detail
    assert "no callables" in detail and "refuses the same file from elsewhere" in detail


def test_numpy2_flips_numpy_version(stack_python, variants_root):
    code, report = variant_report(stack_python, variants_root, "numpy2")
    assert code == 1
    checks = by_id(report)
    assert "numpy.version" in roots(report)
    assert roots(report) <= {"numpy.version", "pip.check"}
    assert "numpy<2" in checks["numpy.version"]["hint"] or "numpy==1" in checks["numpy.version"]["hint"]
    assert checks["torch.import"]["ok"] and checks["setuptools.version"]["ok"]
    assert_blocked_only_by(report, {"numpy.version"})


def test_mmcv_lite_flips_mmcv_ext(stack_python, variants_root):
    code, report = variant_report(stack_python, variants_root, "mmcv-lite")
    assert code == 1
    assert roots(report) == {"mmcv.ext"}
    checks = by_id(report)
    assert "mmcv-lite" in checks["mmcv.ext"]["detail"]
    assert "pip uninstall -y mmcv-lite" in checks["mmcv.ext"]["hint"]
    assert checks["mm.imports"]["blocked_by"] == "mmcv.ext"
    assert_blocked_only_by(report, {"mmcv.ext"})


def test_missing_mmdet_flips_mm_imports_and_registry_shows_the_hidden_error(stack_python, variants_root):
    code, report = variant_report(stack_python, variants_root, "no-mmdet")
    assert code == 1
    assert roots(report) == {"mm.imports"}
    checks = by_id(report)
    assert "mmdet" in checks["mm.imports"]["detail"] and "pip install 'mmdet" in checks["mm.imports"]["hint"]
    reg = checks["registry.types"]
    assert not reg["ok"] and reg["blocked_by"] == "mm.imports"
    assert "CSPNeXt" in reg["detail"] and "hidden import failure" in reg["detail"]


def test_setuptools81_flips_setuptools_version(stack_python, variants_root):
    code, report = variant_report(stack_python, variants_root, "setuptools81")
    assert code == 1
    assert "setuptools.version" in roots(report)
    assert roots(report) <= {"setuptools.version", "pip.check"}
    assert "setuptools<81" in by_id(report)["setuptools.version"]["hint"]
    assert_blocked_only_by(report, {"setuptools.version"})


def test_cuda_torchvision_beside_cpu_torch_flips_torchvision_import(stack_python, variants_root):
    # Without a plan the mismatch itself is the root. An env made by `hoofenv install` carries its plan (torch
    # 2.14.1), and then torch.import is the root instead: that case is the next test's, so drop the copy's plan.
    python = build_variant(Path(stack_python).parent.parent.resolve(), "cpu-torch", variants_root)
    (python.parent.parent / "hoofenv-plan.json").unlink(missing_ok=True)  # a hardlink copy: the base keeps its own
    code, report = variant_report(stack_python, variants_root, "cpu-torch")
    assert code == 1
    checks = by_id(report)
    tv = checks["torchvision.import"]
    assert not tv["ok"] and "torchvision::nms does not exist" in tv["detail"]
    assert "torchvision" in tv["hint"]
    assert checks["torch.import"]["ok"] and "2.13.0+cpu" in checks["torch.import"]["detail"]
    # pip check names the mismatch too; mmcv built for torch 2.14.1 may or may not load under 2.13.0
    assert roots(report) <= {"torchvision.import", "pip.check", "mmcv.abi"}
    # PoseLocalVisualizer (mmpose.visualization imports torchvision): blocked, with the error mmengine hid
    reg = checks["registry.types"]
    assert not reg["ok"] and reg["blocked_by"] == "torchvision.import" and "torchvision::nms" in reg["detail"]
    if not checks["mmcv.abi"]["ok"]:
        assert "rebuild or reinstall mmcv for torch 2.13.0" in checks["mmcv.abi"]["hint"]


def test_a_plan_that_wants_another_torch_flips_torch_import(stack_python, tmp_path):
    import json

    plan = {"status": "ok", "python": "3.11", "torch": "2.1.2", "torchvision": "0.16.2", "cuda": "cpu",
            "mmcv": {"version": "2.1.0", "source": "wheel"}, "mmengine": "0.10.7", "mmdet": "3.2.0",
            "mmpose": "1.3.2", "pins": {"numpy": "1.26.4", "setuptools": "<81"}}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    code, report = run_json("verify", "--python", str(stack_python), "--plan", str(path),
                            "--only", "python.version,numpy.version,torch.import,mmcv.version")
    checks = by_id(report)
    assert code == 1 and roots(report) == {"torch.import"}
    assert "the plan wants torch 2.1.2" in checks["torch.import"]["detail"]
    assert "torch==2.1.2" in checks["torch.import"]["hint"]
    assert "(plan: 3.11)" in checks["python.version"]["detail"] and "plan: 1.26.4" in checks["numpy.version"]["detail"]
    assert report["plan"] == str(path)
