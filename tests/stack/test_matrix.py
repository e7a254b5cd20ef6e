"""compat_matrix.yaml validation: the shipped file loads, and each kind of bad row is named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hoofenv.stack import matrix as matrix_mod
from hoofenv.machine.cuda import ComputeCapability, CudaTag, DriverVersion
from hoofenv.errors import HoofenvError

from tests.conftest import REPO

SHIPPED = REPO / "compat_matrix.yaml"


def test_shipped_matrix_loads_and_every_row_cites_a_known_source():
    m = matrix_mod.load(SHIPPED)
    assert m.torch and m.cuda and m.mmcv_wheels and m.mmcv_build
    for row in [*m.cuda, *m.torch, *m.mmcv_wheels, *m.mmcv_build, *m.arch_sets.values()]:
        assert row.source and all(s in m.sources for s in row.source)


def test_every_torch_with_mmcv_wheels_is_covered_and_newer_ones_build():
    m = matrix_mod.load(SHIPPED)
    wheel_minors = {r.torch_minor for r in m.mmcv_wheels}
    assert {"2.0", "2.1", "2.2", "2.3", "2.4"} <= wheel_minors
    for row in m.torch:
        if row.minor not in wheel_minors:
            assert any(b.builds_for(row.version) for b in m.mmcv_build), row.id


def write(tmp_path, mutate) -> Path:
    data = yaml.safe_load(SHIPPED.read_text())
    mutate(data)
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d["torch"][1].update(source=["nowhere"]), "torch[1] (2.1.2).source"),
    (lambda d: d["torch"][1]["builds"].update(cu121="cu999-set"), "torch[1] (2.1.2).builds.cu121"),
    (lambda d: d["torch"][1].pop("torchvision"), "torch[1] (2.1.2)"),
    (lambda d: d["torch"][1].update(python=["3.8"]), "torch[1] (2.1.2).python"),
    (lambda d: d["cuda"][2]["min_driver"].update(linux="five-hundred"), "cuda[2].min_driver.linux"),
    (lambda d: d["cuda"][2].update(tag="cuda12"), "cuda[2].tag"),
    (lambda d: d["mmcv_wheels"][0].update(python=["py3"]), "mmcv_wheels[0].python"),
    (lambda d: d["mmcv_wheels"][0].update(cuda=["cu555"]), "mmcv_wheels[0].cuda"),
    (lambda d: d["pins"]["numpy"].update(spec="==one"), "pins.numpy.spec"),
    (lambda d: d["packages"].pop("mmdet"), "packages"),
    (lambda d: d["arch_sets"]["cu126"].update(arch=["sm_x"]), "arch_sets.cu126.arch"),
    (lambda d: d["torch"][0].update(confidence="maybe"), "torch[0] (2.0.1).confidence"),
    (lambda d: d.update(schema=2), "schema"),
    (lambda d: d["mmcv_build"][0]["unity"][0].update(folder="../up"), "mmcv_build[0].unity[0].folder"),
    (lambda d: d["mmcv_build"][0]["unity"][0].update(units=0), "mmcv_build[0].unity[0].units"),
    (lambda d: d["mmcv_build"][0]["unity"][0].update(units="2"), "mmcv_build[0].unity[0].units"),
    (lambda d: d["mmcv_build"][0]["unity"][0].update(exclude=["a/b.cpp"]), "mmcv_build[0].unity[0].exclude"),
    (lambda d: d["mmcv_build"][0]["unity"][0].pop("why"), "mmcv_build[0].unity[0]"),
])
def test_bad_rows_are_named(tmp_path, mutate, where):
    with pytest.raises(HoofenvError) as info:
        matrix_mod.load(write(tmp_path, mutate))
    assert f": {where}" in info.value.message, info.value.message
    assert info.value.hint


def test_yaml_syntax_error_names_line(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("schema: 1\ncuda: [\n")
    with pytest.raises(HoofenvError) as info:
        matrix_mod.load(path)
    assert "not valid YAML" in info.value.message and "line" in info.value.causes[0]


def test_value_types_order_and_parse():
    assert CudaTag.parse("cu121") > CudaTag.parse("cu118") > CudaTag.parse("cpu")
    assert str(CudaTag.parse("cu130")) == "cu130" and CudaTag.parse("cu130").version == "13.0"
    assert DriverVersion.parse("535.183.01") > DriverVersion.parse("525.60.13")
    assert DriverVersion.parse("580") < DriverVersion.parse("580.65.06")
    assert str(DriverVersion.parse("535.183.01")) == "535.183.01"
    sm89 = ComputeCapability.parse("8.9")
    assert sm89.runs_code_for(ComputeCapability.parse("sm_86"))
    assert not ComputeCapability.parse("6.1").runs_code_for(ComputeCapability.parse("7.0"))
    assert ComputeCapability.parse("12.0").runs_code_for(ComputeCapability.parse("9.0"), ptx=True)
    assert not ComputeCapability.parse("12.0").runs_code_for(ComputeCapability.parse("9.0"))
    for bad, parse in (("cuda12", CudaTag.parse), ("x.y", DriverVersion.parse), ("eight", ComputeCapability.parse)):
        with pytest.raises(HoofenvError):
            parse(bad)


def test_parsed_cache_follows_the_content_and_validation_always_runs(tmp_path, monkeypatch):
    """The shipped matrix's parsed form is kept in the cache by content: an edit of the same length with the old
    mtime put back is still seen, and whatever the cache holds is validated again."""
    import json
    import os

    shipped = tmp_path / "compat_matrix.yaml"
    shipped.write_bytes((REPO / "compat_matrix.yaml").read_bytes())
    monkeypatch.setattr(matrix_mod, "resource", lambda name: shipped if name == "compat_matrix.yaml" else None)
    monkeypatch.setenv("HOOFENV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HOOFENV_MATRIX", raising=False)
    kept = tmp_path / "cache" / matrix_mod.PARSED_CACHE

    assert matrix_mod.load().pins["numpy"].spec == "==1.26.4"
    assert json.loads(kept.read_text())["data"] == yaml.safe_load(shipped.read_text())

    stamp = shipped.stat()
    shipped.write_text(shipped.read_text().replace('spec: "==1.26.4"', 'spec: "==1.26.3"'))
    os.utime(shipped, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # same size, same mtime: only the content moved
    assert shipped.stat().st_size == stamp.st_size
    assert matrix_mod.load().pins["numpy"].spec == "==1.26.3"
    assert json.loads(kept.read_text())["data"]["pins"]["numpy"]["spec"] == "==1.26.3"

    # a cache entry under the right key is still checked: bad data in it is refused like a bad YAML
    entry = json.loads(kept.read_text())
    entry["data"]["pins"]["numpy"]["spec"] = "==not a version"
    kept.write_text(json.dumps(entry))
    with pytest.raises(HoofenvError) as err:
        matrix_mod.load()
    assert err.value.code == "matrix-invalid" and "pins.numpy.spec" in err.value.message
