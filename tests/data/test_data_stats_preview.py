"""`data stats` and `data preview`, and the rule that `hoofenv.commands.data` imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hoofenv.data.stats import size_guidance
from tests.conftest import REPO
from tests.data.helpers import cvat_export, data_cli, data_json, write_export


def test_stats_counts_per_keypoint(tmp_path):
    data = cvat_export(n_images=3, per_image=2)
    data["annotations"][0]["keypoints"][2] = 0
    data["annotations"][0]["num_keypoints"] = 3
    data["images"].append(dict(data["images"][0], id=4, file_name="task/empty.png"))
    code, out = data_json("stats", str(write_export(tmp_path, data)))
    assert code == 0
    s = out["stats"]
    assert (s["images"], s["annotated_images"], s["instances"]) == (4, 3, 6)
    assert [(k["name"], k["labelled"], k["visible"]) for k in s["keypoints"]] == [
        ("toe", 5, 5), ("heel", 6, 6), ("hoof_pastern_junction", 6, 0), ("pastern_axis", 6, 6)]
    assert s["size_class"] == "too-few"


@pytest.mark.parametrize("n,label", [(10, "too-few"), (50, "proof-of-concept"), (149, "proof-of-concept"),
                                     (150, "reasonable"), (300, "reasonable"), (500, "stable")])
def test_size_guidance(n, label):
    assert size_guidance(n)[0] == label


def test_stats_human_table(tmp_path):
    proc = data_cli("stats", str(write_export(tmp_path, cvat_export())))
    assert proc.returncode == 0
    assert "hoof_pastern_junction" in proc.stdout and "3 annotated images" in proc.stdout


def test_preview_draws_every_image_and_a_contact_sheet(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image

    data = cvat_export(n_images=3, width=96, height=64)
    src = write_export(tmp_path, data, pictures=True)
    code, out = data_json("preview", str(src), "--images", str(tmp_path / "images"), "-o", str(tmp_path / "prev"))
    assert code == 0, out
    assert len(out["pictures"]) == 3 and out["missing"] == []
    plain = Image.open(tmp_path / "images" / data["images"][0]["file_name"]).convert("RGB")
    drawn = Image.open(out["pictures"][0]).convert("RGB")
    assert drawn.size == plain.size
    toe = data["annotations"][0]["keypoints"][:2]
    assert drawn.getpixel(tuple(int(v) for v in toe)) != plain.getpixel(tuple(int(v) for v in toe))
    assert Image.open(out["contact_sheet"]).size[0] > 0


def test_preview_real_samples(realdata, tmp_path):
    pytest.importorskip("PIL")
    code, out = data_json("preview", str(realdata / "ap10k/test_ap10k.json"), "--images", str(realdata / "ap10k"),
                          "-o", str(tmp_path / "prev"))
    assert code == 0 and len(out["pictures"]) == 2


def test_preview_without_pillow_says_how_to_install(tmp_path):
    src = write_export(tmp_path, cvat_export(), pictures=False)
    (tmp_path / "images").mkdir()
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "PIL").mkdir()
    (blocker / "PIL" / "__init__.py").write_text("raise ImportError('blocked for the test')\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from hoofenv.data.preview import preview_file\n"
            "from hoofenv.errors import HoofenvError\n"
            "try:\n    preview_file(sys.argv[2], sys.argv[3], sys.argv[4])\n"
            "except HoofenvError as e:\n    print(e.render())\n")
    proc = subprocess.run([sys.executable, "-c", code, str(blocker), str(src), str(tmp_path / "images"),
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO)
    assert "pip install 'hoofenv[pictures]'" in proc.stdout, proc.stderr


def test_command_module_imports_nothing_heavy():
    code = ("import sys, hoofenv.commands.data\n"
            "print(sorted(m for m in sys.modules if m.startswith(('hoofenv.data', 'rich', 'PIL', 'json'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
