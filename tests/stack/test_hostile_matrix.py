"""compat_matrix.yaml as a mirror operator or a hand edit may leave it: any row's field of another type or value, a
regex that does not compile, an index template with an unknown placeholder. The validator names the row; a matrix
it accepts never makes the resolver raise anything but a HoofenvError, for any machine profile and override."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from hoofenv.errors import HoofenvError
from hoofenv.machine.facts import Facts
from hoofenv.stack import matrix as matrix_mod
from hoofenv.stack.plan import Plan
from hoofenv.stack.resolve import Overrides, resolve
from tests.conftest import FIXTURES, REPO
from tests.hostile import assert_refused, cli, few, json_values, mutated, texts

RAW = yaml.safe_load((REPO / "compat_matrix.yaml").read_text())
PROFILE = FIXTURES / "facts" / "gtx1660s-535-ubuntu22.04.json"


def _facts() -> list[Facts]:
    named = [Facts.load(FIXTURES / "facts" / f"{n}.json")
             for n in ("gtx1660s-535-ubuntu22.04", "nogpu-debian12", "h100-580-ubuntu22.04")]
    by_name = json.loads(PROFILE.read_text())  # a GPU known only by its name: the gpu_families patterns decide
    by_name["nvidia"]["gpus"][0]["compute_capability"] = None
    return named + [Facts.from_dict(by_name)]


FACTS = _facts()
OVERRIDES = [Overrides(), Overrides(allow_build=True), Overrides(cuda="cpu", mmcv_source="build"),
             Overrides(torch="2.1", torch_index_url="https://m.example/whl/{cuda}", mmcv_base_url="https://m.example")]
# regex fragments that compile, and some that do not
REGEX = st.lists(st.sampled_from(["RTX", " ", "\\d", "(", ")", "[", "]", "*", "+", "?", "|", "{2}", "{", "\\",
                                  "(?P<x>", "(?", "^", "$", ".", "\\b"]), max_size=6).map("".join)
TEMPLATE = st.lists(st.sampled_from(["https://m/", "{cuda}", "{base}", "{torch_minor}", "{CUDA}", "{0}", "{}", "{",
                                     "}", "{{", "}}", "{cuda!r}", "{cuda:>4}", "{cuda.x}", "{cuda[0]}", "whl", " "]),
                    max_size=5).map("".join)


def resolves_or_refuses(m: matrix_mod.Matrix, facts: Facts, o: Overrides) -> None:
    try:
        plan = resolve(facts, m, o)
    except HoofenvError:
        return
    Plan.from_dict(json.loads(plan.to_json()))


def validates_or_names(doc) -> matrix_mod.Matrix | None:
    try:
        return matrix_mod.from_data(doc, "m.yaml")
    except HoofenvError as err:
        assert err.code == "matrix-invalid" and err.message.startswith("invalid compatibility matrix m.yaml: ")
        assert err.hint and "correct `" in err.hint
        return None


@few(80)
@given(doc=mutated(RAW, values=json_values), facts=st.sampled_from(FACTS), o=st.sampled_from(OVERRIDES))
def test_any_matrix_that_validates_resolves_or_refuses_cleanly(doc, facts, o):
    m = validates_or_names(doc)
    if m is not None:
        resolves_or_refuses(m, facts, o)


@few(25)
@given(pattern=st.one_of(REGEX, texts), row=st.integers(0, len(RAW["gpu_families"]) - 1))
def test_gpu_family_patterns(pattern, row):
    doc = copy.deepcopy(RAW)
    doc["gpu_families"][row]["pattern"] = pattern
    try:
        m = matrix_mod.from_data(doc, "m.yaml")
    except HoofenvError as err:
        assert f"gpu_families[{row}].pattern" in err.message
        return
    resolves_or_refuses(m, FACTS[-1], OVERRIDES[0])


@few(25)
@given(template=TEMPLATE, key=st.sampled_from(sorted(matrix_mod.TEMPLATE_FIELDS)), facts=st.sampled_from(FACTS))
def test_index_templates(template, key, facts):
    doc = copy.deepcopy(RAW)
    doc["indexes"][key] = template
    try:
        m = matrix_mod.from_data(doc, "m.yaml")
    except HoofenvError as err:
        assert f"indexes.{key}" in err.message
        return
    resolves_or_refuses(m, facts, OVERRIDES[0])


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d["gpu_families"][0].update(pattern="RTX (50"), "gpu_families[0].pattern"),
    (lambda d: d["indexes"].update(torch="https://m/whl/{CUDA}"), "indexes.torch"),
    (lambda d: d["indexes"].update(mmcv="{base}/{cuda}/{torch}"), "indexes.mmcv"),
    (lambda d: d["mmcv_build"][0].update(peak_memory_gib=0), "mmcv_build[0].peak_memory_gib"),
    (lambda d: d["mmcv_build"][0]["minutes"].pop("cuda"), "mmcv_build[0].minutes"),
    (lambda d: d["mmcv_build"][0].update(needs=[["gcc"]]), "mmcv_build[0].needs[0]"),
    (lambda d: d["packages"]["mmpose"]["requires"].pop("mmcv"), "packages.mmpose.requires"),
    (lambda d: d["torch"][0].update(source=[["x"]]), "torch[0] (2.0.1).source"),
    (lambda d: d["torch"][0].update(confidence=["x"]), "torch[0] (2.0.1).confidence"),
    (lambda d: d["platforms"]["train"].update(system="Linux"), "platforms.train.system"),
    (lambda d: d.update(cuda=[]), "cuda"),
    (lambda d: d["mmcv_wheels"][0].update(torch="two"), "mmcv_wheels[0].torch"),
])
def test_values_later_code_parses_are_checked_with_the_rows_place(mutate, where):
    doc = copy.deepcopy(RAW)
    mutate(doc)
    with pytest.raises(HoofenvError) as info:
        matrix_mod.from_data(doc, "m.yaml")
    assert f": {where}" in info.value.message, info.value.message


def test_a_users_bad_matrix_file_is_a_usage_error(tmp_path):
    path = tmp_path / "m.yaml"
    doc = copy.deepcopy(RAW)
    doc["gpu_families"][2]["pattern"] = "H100|(H200"
    path.write_text(yaml.safe_dump(doc))
    rc, out, err = cli(["plan", "--facts", str(PROFILE), "--matrix", str(path), "--json"])
    assert_refused(rc, out, err, 2, "gpu_families[2].pattern", json_mode=True)
    rc, out, err = cli(["plan", "--facts", str(PROFILE)], env={"HOOFENV_MATRIX": str(path)})
    assert_refused(rc, out, err, 2, "gpu_families[2].pattern")
    path.write_bytes(b"schema: 1\n" + b"a: " + b"[" * 50_000)
    rc, out, err = cli(["plan", "--facts", str(PROFILE), "--matrix", str(path)])
    assert_refused(rc, out, err, 2, str(path))
