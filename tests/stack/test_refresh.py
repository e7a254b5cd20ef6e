"""`hoofenv matrix refresh` against local index servers (real HTTP): PyPI's JSON API, the PyTorch index, the
OpenMMLab pages. The proposed diff must apply to the matrix and load; the matrix itself is never written."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from hoofenv.stack import matrix as matrix_mod
from tests.conftest import REPO, run_cli
from tests.fakeindex import Server

MATRIX = REPO / "compat_matrix.yaml"


def _files(name: str, version: str, cps: list[int], day: str, abi3: bool = False) -> list[dict]:
    if abi3:
        return [{"filename": f"{name}-{version}-py3-none-manylinux_2_28_x86_64.whl", "upload_time": f"{day}T10:00:00"}]
    return [{"filename": f"{name}-{version}-cp3{c}-cp3{c}-manylinux_2_28_x86_64.whl", "upload_time": f"{day}T10:00:00"}
            for c in cps] + [{"filename": f"{name}-{version}-cp313-cp313-win_amd64.whl", "upload_time": f"{day}T10:00:00"}]


def _pypi(root: Path, name: str, version: str, releases: dict, requires: list[str] = ()) -> None:
    d = root / "pypi" / name
    d.mkdir(parents=True)
    (d / "json").write_text(json.dumps({"info": {"version": version, "requires_dist": list(requires)},
                                        "releases": releases}))


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    _pypi(root, "torch", "2.16.0", {
        "2.14.1": _files("torch", "2.14.1", [10, 11, 12, 13, 14], "2026-09-30"),
        "2.15.0": _files("torch", "2.15.0", [11, 12, 13, 14, 15], "2026-10-28"),
        "2.16.0rc1": _files("torch", "2.16.0rc1", [11, 12], "2027-01-02"),
        "2.16.0": _files("torch", "2.16.0", [11, 12, 13, 14, 15], "2027-01-20"),
    }, ['cuda-toolkit[cublas,cudart]==13.2.2; platform_system == "Linux"'])
    _pypi(root, "torchvision", "0.30.0", {
        "0.29.1": _files("torchvision", "0.29.1", [10, 11], "2026-09-30"),
        "0.29.2": _files("torchvision", "0.29.2", [], "2026-10-28", abi3=True),
        "0.30.0": _files("torchvision", "0.30.0", [], "2027-01-21", abi3=True),
    })
    _pypi(root, "mmcv", "2.2.0", {"2.2.0": _files("mmcv", "2.2.0", [11], "2024-04-24")})
    _pypi(root, "mmdet", "3.3.0", {"3.3.0": _files("mmdet", "3.3.0", [], "2024-01-05", abi3=True)})
    _pypi(root, "mmpose", "1.3.2", {"1.3.2": _files("mmpose", "1.3.2", [], "2024-07-12", abi3=True)})
    _pypi(root, "mmengine", "0.10.8", {"0.10.8": _files("mmengine", "0.10.8", [], "2027-01-10", abi3=True)})
    _pypi(root, "cuda-toolkit", "13.4.0", {v: _files("cuda_toolkit", v, [], "2026-10-01", abi3=True)
                                           for v in ("13.0.3", "13.2.2", "13.4.0")})
    whl = root / "whl" / "torch"
    whl.mkdir(parents=True)
    names = [f"torch-{v}%2B{t}-cp312-cp312-manylinux_2_28_x86_64.whl" for v, t in [
        ("2.15.0", "cu132"), ("2.15.0", "cpu"), ("2.16.0", "cu132"), ("2.16.0", "cpu"),
        ("2.14.1", "cu126"), ("2.14.1", "cu128"), ("2.14.1", "cu130"), ("2.14.1", "cpu")]]
    (whl / "index.html").write_text("".join(f'<a href="/whl/{n}">{n}</a><br>\n' for n in names))
    page = root / "mmcv" / "dist" / "cu121" / "torch2.1.0"
    page.mkdir(parents=True)
    (page / "index.html").write_text('<a href="mmcv-2.1.0-cp311-cp311-manylinux1_x86_64.whl">x</a>'
                                     '<a href="mmcv-2.3.0-cp311-cp311-manylinux1_x86_64.whl">y</a>')
    server = Server(root)
    yield server
    server.stop()


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _refresh(tmp_path, url: str, torch_index: str | None = None, *extra: str):
    return run_cli("matrix", "refresh", "--pypi-url", url, "--torch-index", torch_index or f"{url}/whl",
                   "--mmcv-base-url", url, "--out", str(tmp_path / "refresh.diff"), "--timeout", "5", *extra, "--json",
                   cwd=tmp_path)


def test_refresh_finds_releases_variants_and_wheels_and_proposes_a_diff_that_applies(sources, tmp_path):
    before = hashlib.sha256(MATRIX.read_bytes()).hexdigest()
    proc = _refresh(tmp_path, sources.url)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out["sources"].values()) == {"ok"}, out["sources"]
    text = {f["kind"]: [] for f in out["findings"]}
    for f in out["findings"]:
        text[f["kind"]].append((f["text"], f["proposed"]))
    new = [t for t, ok in text["new-torch"] if "2.16.0" in t]
    assert new and "Python 3.11-3.15" in new[0] and "torchvision 0.30.0" in new[0] and "cu132" in new[0]
    assert not any("rc1" in t for t, _ in text["new-torch"])
    assert any("2.15.0+cu130" in t and "no such wheel" in t for t, _ in text["torch-variants"])
    assert ("the PyTorch index has torch 2.14.1+cu128, the matrix does not", True) in text["torch-variants"]
    assert any("mmcv 2.3.0" in t and "torch 2.1" in t for t, _ in text["mmcv-wheels"])
    assert any("mmengine 0.10.8" in t for t, _ in text["package"]) and any("mmdet 3.3.0" in t for t, _ in text["package"])
    assert hashlib.sha256(MATRIX.read_bytes()).hexdigest() == before, "refresh must never write the matrix"
    # the diff is for review: applied to a copy, the matrix still validates and holds the new rows
    work = tmp_path / "repo"
    work.mkdir()
    shutil.copy(MATRIX, work / "compat_matrix.yaml")
    applied = subprocess.run(["git", "apply", "--unsafe-paths", "-p1", str(tmp_path / "refresh.diff")], cwd=work,
                             capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr + (tmp_path / "refresh.diff").read_text()
    m = matrix_mod.load(work / "compat_matrix.yaml")
    row = m.torch_row("2.16.0")
    assert row and row.torchvision == "0.30.0" and row.confidence == "inferred"
    assert {str(t) for t in row.builds} == {"cu132", "cpu"} and "pypi-json" in row.source
    assert any(str(r.mmcv) == "2.3.0" and r.torch_minor == "2.1" for r in m.mmcv_wheels)
    assert m.torch_row("2.14.1").builds[next(t for t in m.torch_row("2.14.1").builds if str(t) == "cu128")].name \
        == "cu128-2.11"


def test_an_unreachable_index_is_named_and_the_rest_still_runs(sources, tmp_path):
    dead = _closed_port()
    proc = _refresh(tmp_path, sources.url, f"{dead}/whl")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["sources"]["pytorch index"].startswith("unreachable")
    assert out["sources"]["pypi: torch"] == "ok"
    assert any(f["kind"] == "new-torch" and "2.16.0" in f["text"] for f in out["findings"])
    assert not any(f["kind"] == "torch-variants" for f in out["findings"])


def test_everything_unreachable_is_reported_without_a_traceback(tmp_path):
    dead = _closed_port()
    proc = run_cli("matrix", "refresh", "--pypi-url", dead, "--torch-index", dead, "--mmcv-base-url", dead,
                   "--out", str(tmp_path / "d.diff"), "--timeout", "3", cwd=tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert "unreachable" in proc.stdout + proc.stderr and "nothing to propose" in proc.stdout
    assert not (tmp_path / "d.diff").exists()


def test_refresh_never_replaces_a_file_it_did_not_write(sources, tmp_path):
    mine = tmp_path / "refresh.diff"
    mine.write_text("my notes\n")
    proc = _refresh(tmp_path, sources.url)
    assert proc.returncode == 1 and json.loads(proc.stdout)["error"]["code"] == "refused"
    assert mine.read_text() == "my notes\n"
    bad = run_cli("matrix", "refresh", "--timeout", "nan", cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_check_exits_1_when_the_matrix_differs(sources, tmp_path):
    assert _refresh(tmp_path, sources.url, None, "--check").returncode == 1
