"""`hoofenv config check` on real configs with the real stack: hoofenv's rendered template (clean), MMPose's own
RTMPose AP-10K config with its `_base_` chain (written from the installed mmpose's .mim/configs), a 3-level `_base_`
chain, a `read_base()` config, and one variant of the template per finding, each flipping exactly its own finding.
All variants are examined by ONE probe process (module-scoped), as `hoofenv config check` would examine each."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hoofenv.data.schema import Schema, get_preset, write_metainfo
from hoofenv.train import config as trainconfig
from hoofenv.verify.config_check import CODES, Job, check_configs
from tests.conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.stack]

URL = ("https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/"
       "cspnext-tiny_udp-aic-coco_210e-256x192-cbed682d_20230130.pth")
SIDES = Schema("sides", ["left_toe", "right_toe", "left_heel", "right_heel"])

# finding -> what is appended to the clean, rendered template (later assignments and edits win in a py config)
VARIANTS = {
    "metainfo-missing": "test_dataloader = dict(val_dataloader, dataset=dict(val_dataloader['dataset'], "
                        "metainfo=None))",
    "metainfo-head": "model['head']['out_channels'] = num_keypoints + 1",
    "metainfo-annotations": "for _l in (train_dataloader, val_dataloader):\n"
                            "    _l['dataset']['metainfo'] = dict(from_file='{root}/five.py')\n"
                            "model['head']['out_channels'] = 5",
    "metainfo-sigmas": "train_dataloader['dataset']['metainfo'] = dict(from_file='{root}/three_sigmas.py')",
    "metainfo-invalid": "train_dataloader['dataset']['metainfo'] = dict(from_file='{root}/no_info.py')",
    "codec-mismatch": "train_pipeline[-2] = dict(type='GenerateTarget', encoder=dict(codec, sigma=(3.0, 3.0)))",
    "input-size-mismatch": "val_pipeline[2] = dict(type='TopdownAffine', input_size=(64, 96))",
    "flip-without-swap": "for _l in (train_dataloader, val_dataloader):\n"
                         "    _l['dataset']['metainfo'] = dict(from_file='{root}/sides.py')\n"
                         "train_pipeline.insert(2, dict(type='RandomFlip', direction='horizontal'))\n"
                         "model['test_cfg']['flip_test'] = True",
    "half-body-inert": "train_pipeline.insert(2, dict(type='RandomHalfBody'))",
    "switch-never": "custom_hooks[1]['switch_epoch'] = max_epochs",
    "stage2-unused": "custom_hooks = [custom_hooks[0]]",
    "scheduler-beyond-max-epochs": "param_scheduler[1]['end'] = max_epochs + 5",
    "best-not-saved": "default_hooks['checkpoint']['save_best'] = None",
    "relative-path": "train_dataloader['dataset']['data_root'] = 'data/'",
    "path-missing": "train_dataloader['dataset']['ann_file'] = 'annotations/nope.json'",
    "path-not-writable": "work_dir = '{root}/a_file/work'",
    "val-test-images-differ": "test_dataloader = dict(val_dataloader, dataset=dict(val_dataloader['dataset'], "
                              "data_prefix=dict(img='images_b/')))",
    "custom-import-failed": "custom_imports = dict(imports=['hoof_custom_mod'], allow_failed_imports=False)",
    "type-unresolved": "model['head']['loss']['type'] = 'KLDiscretLossX'",
    "needs-server": "vis_backends.append(dict(type='WandbVisBackend'))",
    "checkpoint-not-cached": "model['backbone']['init_cfg'] = dict(type='Pretrained', prefix='backbone.', "
                             f"checkpoint='{URL}')",
    "checkpoint-cached": "model['backbone']['init_cfg'] = dict(type='Pretrained', prefix='backbone.', "
                         "checkpoint='https://example.invalid/weights/cached-weights.pth')",
    "checkpoint-unavailable": "model['backbone']['init_cfg'] = dict(type='Pretrained', prefix='backbone.', "
                              "checkpoint='open-mmlab://no_such_model')",
    "syncbn-single-device": "model['backbone']['norm_cfg'] = dict(type='BN')",  # flips it off
}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A tiny dataset in ROOT/data, the metainfo files the variants use, and the clean rendered template."""
    from hoofenv.data.synthetic import generate

    root = tmp_path_factory.mktemp("configs")
    data = generate(root / "data", n_train=3, n_val=2, seed=1, image_size=(64, 64))
    (data / "images_b").mkdir()
    schema = get_preset("hoof-side")
    write_metainfo(schema, root / "metainfo.py")
    write_metainfo(Schema("five", schema.keypoints + ["extra"]), root / "five.py")
    write_metainfo(SIDES, root / "sides.py")
    text = (root / "metainfo.py").read_text().replace("'sigmas': [0.025, 0.025, 0.035, 0.062]",
                                                      "'sigmas': [0.025, 0.025, 0.035]")
    assert "0.035]" in text
    (root / "three_sigmas.py").write_text(text)
    (root / "no_info.py").write_text("something_else = 1\n")
    (root / "a_file").write_text("a file, not a folder\n")
    (root / "hoof_custom_mod.py").write_text("VALUE = 1\n")
    (root / "torch/hub/checkpoints").mkdir(parents=True)
    (root / "torch/hub/checkpoints/cached-weights.pth").write_bytes(b"weights")
    params = trainconfig.TrainParams(data_root=str(data), metainfo_file=str(root / "metainfo.py"), max_epochs=6,
                                     stage2_num_epochs=2, input_size=(64, 64), train_batch_size=2)
    (root / "clean.py").write_text(trainconfig.render(params))
    for code, extra in VARIANTS.items():
        (root / f"{code}.py").write_text((root / "clean.py").read_text() + "\n" + extra.format(root=root) + "\n")
    (root / "config-load.py").write_text((root / "clean.py").read_text() + "\ndef broken(:\n")
    return root


def _mim_configs(stack_python) -> Path:
    out = subprocess.run([str(stack_python), "-c", "import importlib.util, os; s = importlib.util.find_spec('mmpose');"
                          "print(os.path.join(s.submodule_search_locations[0], '.mim', 'configs'))"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _chains(world: Path, stack_python) -> dict[str, Path]:
    """MMPose's AP-10K config and its _base_, copied from the installed package; a 3-level chain; read_base()."""
    mim = _mim_configs(stack_python)
    rel = Path("animal_2d_keypoint/rtmpose/ap10k/rtmpose-m_8xb64-210e_ap10k-256x256.py")
    for part in (rel, Path("_base_/default_runtime.py")):
        (world / "mim" / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(mim / part, world / "mim" / part)
    chain = world / "chain"
    chain.mkdir(exist_ok=True)
    clean = (world / "clean.py").read_text()
    (chain / "runtime.py").write_text("default_scope = 'mmpose'\nlog_level = 'INFO'\nmax_epochs = 6\n")
    (chain / "model.py").write_text("_base_ = ['./runtime.py']\nnum_keypoints = 4\n")
    (chain / "config.py").write_text("_base_ = ['./model.py']\n" + clean)
    (chain / "lazy_base.py").write_text("max_epochs = 3\nnum_keypoints = 4\n")
    (chain / "lazy.py").write_text(
        "from mmengine.config import read_base\nwith read_base():\n    from .lazy_base import *\n"
        "from mmpose.models import RTMCCHead\n"
        "model = dict(head=dict(type=RTMCCHead, out_channels=num_keypoints))\n"
        "train_cfg = dict(max_epochs=max_epochs)\n")
    return {"ap10k": world / "mim" / rel, "chain": chain / "config.py", "lazy": chain / "lazy.py"}


@pytest.fixture(scope="module")
def reports(world, stack_python) -> dict:
    chains = _chains(world, stack_python)
    jobs = {"clean": Job(str(world / "clean.py"))}
    jobs.update({code: Job(str(world / f"{code}.py")) for code in [*VARIANTS, "config-load"]})
    jobs.update({name: Job(str(path)) for name, path in chains.items()})
    jobs["ap10k+data"] = Job(str(chains["ap10k"]), data=str(world / "data"))
    found = check_configs(stack_python, list(jobs.values()), cwd=world, env={"TORCH_HOME": str(world / "torch")})
    return dict(zip(jobs, found))


def codes(report) -> set[str]:
    return {f.code for f in report.findings}


def test_hoofenvs_rendered_template_is_clean(reports):
    clean = reports["clean"]
    assert clean.ok and [f.code for f in clean.findings] == ["syncbn-single-device"], clean.findings
    assert clean.types > 30


@pytest.mark.parametrize("code", sorted(VARIANTS))
def test_each_variant_flips_exactly_its_own_finding(reports, code):
    report = reports[code]
    assert codes(report) ^ codes(reports["clean"]) == {code}, [(f.code, f.key, f.message) for f in report.findings]
    if code != "syncbn-single-device":
        mine = [f for f in report.findings if f.code == code]
        assert all(f.severity == CODES[code][0] and f.key and f.hint for f in mine)
    assert report.ok == (CODES[code][0] != "error")


def test_findings_name_the_key_and_the_edit(reports, world):
    (missing,) = [f for f in reports["metainfo-missing"].findings if f.code == "metainfo-missing"]
    assert missing.key == "test_dataloader.dataset.metainfo"
    assert "coco.py (17 keypoints)" in missing.message and "head predicts 4" in missing.message
    assert "metainfo = dict(from_file=" in missing.hint
    (codec,) = [f for f in reports["codec-mismatch"].findings if f.code == "codec-mismatch"]
    assert codec.key == "train_dataloader.dataset.pipeline[5].encoder" and "sigma" in codec.message
    imp = next(f for f in reports["custom-import-failed"].findings if f.code == "custom-import-failed")
    assert f"imports only from {world}" in imp.message and f"PYTHONPATH={world}" in imp.hint
    flips = {f.key for f in reports["flip-without-swap"].findings if f.code == "flip-without-swap"}
    assert flips == {"train_dataloader.dataset.pipeline[2]", "model.test_cfg.flip_test"}
    unresolved = next(f for f in reports["type-unresolved"].findings if f.code == "type-unresolved")
    assert unresolved.key == "model.head.loss" and "KLDiscretLossX" in unresolved.message


def test_a_config_that_does_not_load_is_one_finding(reports):
    report = reports["config-load"]
    assert [f.code for f in report.findings] == ["config-load"] and not report.ok
    assert "SyntaxError" in report.findings[0].message


def test_mmposes_ap10k_config_with_its_base_chain(reports):
    report = reports["ap10k"]
    assert "config-load" not in codes(report) and report.types > 80
    assert "type-unresolved" not in codes(report)
    assert not [c for c in codes(report) if c.startswith("metainfo")]  # AP10KDataset's own 17 = the head's 17
    assert {"path-missing", "relative-path", "checkpoint-not-cached", "syncbn-single-device"} <= codes(report)
    assert "half-body-inert" not in codes(report)  # 17 points with upper/lower types: it fires
    with_data = reports["ap10k+data"]
    missing = [f for f in with_data.findings if f.code == "metainfo-missing"]
    assert len(missing) == 3 and all("annotations have 4" in f.message for f in missing)
    assert "out_channels = 4" in missing[0].hint
    assert "path-missing" not in codes(with_data) and "relative-path" not in codes(with_data)


def test_three_level_base_chain_and_read_base(reports):
    assert codes(reports["chain"]) == codes(reports["clean"])
    lazy = reports["lazy"]
    assert "config-load" not in codes(lazy) and "type-unresolved" not in codes(lazy), lazy.findings


def test_cli_exit_codes_and_json(world, stack_python):
    proc = run_cli("config", "check", str(world / "clean.py"), "--python", str(stack_python), "--json",
                   cwd=world)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["ok"] is True
    bad = run_cli("config", "check", str(world / "metainfo-head.py"), "--python", str(stack_python), cwd=world)
    assert bad.returncode == 1
    assert "[✗] metainfo-head: train_dataloader.dataset.metainfo:" in bad.stdout and "Fix:" in bad.stdout
    nofile = run_cli("config", "check", str(world / "nope.py"), "--python", str(stack_python))
    assert nofile.returncode == 2 and "no such file" in nofile.stderr


def test_hoofenvs_own_process_never_imports_the_stack(world, stack_python):
    """The config runs inside the env only: checking it leaves torch, mmengine and mmpose out of hoofenv's process."""
    import sys

    code = ("import sys; from hoofenv.verify.config_check import check_config;"
            "r = check_config(sys.argv[1], sys.argv[2]);"
            "print(r.ok, sorted(m for m in ('torch', 'mmengine', 'mmpose', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(stack_python), str(world / "clean.py")], cwd=world,
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "[]"], out.stdout + out.stderr
