"""Facts files as another machine, an old hoofenv or a hand edit may write them: every field of the recorded profiles
replaced by JSON of another type or a nonsense value. A facts file either loads, and then the resolver answers with
a plan or a HoofenvError (never another exception), or it is refused once, naming the file and the field, exit 2."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoofenv.errors import HoofenvError
from hoofenv.machine.facts import Facts
from hoofenv.stack import matrix as matrix_mod
from hoofenv.stack.plan import Plan
from hoofenv.stack.resolve import Overrides, resolve
from tests.conftest import FIXTURES
from tests.hostile import assert_refused, cli, few, json_values, mutated

PROFILES = {p.stem: json.loads(p.read_text()) for p in sorted((FIXTURES / "facts").glob("*.json"))}
MATRIX = matrix_mod.load()
OVERRIDES = [Overrides(), Overrides(allow_build=True), Overrides(mmcv_source="build", cuda="cpu")]
# the values the resolver parses, each given a plausible-looking wrong value
VALUE_FIELDS = [("python", "version"), ("python", "available", 0), ("python", "interpreters", 0, "version"),
                ("nvidia", "driver_version"), ("nvidia", "cuda_driver_version"),
                ("nvidia", "gpus", 0, "compute_capability"), ("nvidia", "gpus", 0, "memory_mib"),
                ("disk_free_gib",), ("memory_gib",), ("cpu_count",), ("os", "wsl_version")]
WRONG = st.sampled_from(["banana", "", "3", "12", "x.y", "-1", "1.2.3.4.5", "sm_x", "535.", "3.11.", "\x00",
                         "[bold]1[/]", -5, -0.5, float("nan"), float("inf"), 0, True, [], {}])


def resolves_or_refuses(facts: Facts, o: Overrides) -> None:
    try:
        plan = resolve(facts, MATRIX, o)
    except HoofenvError:
        return
    # what the resolver writes, `install` and `verify` read back: it must pass the plan's own checks
    assert Plan.from_dict(json.loads(plan.to_json())).to_json() == plan.to_json()


@few(100)
@given(st.data())
def test_any_facts_that_load_resolve_or_refuse_cleanly(data):
    name = data.draw(st.sampled_from(sorted(PROFILES)))
    doc = data.draw(mutated(PROFILES[name]))
    try:
        facts = Facts.from_dict(doc, "f.json")
    except HoofenvError as err:
        assert err.code == "facts-invalid" and err.exit_code == 2 and "f.json" in err.message
        assert "field `" in err.message and err.hint
        return
    resolves_or_refuses(facts, data.draw(st.sampled_from(OVERRIDES)))


@few(40)
@given(st.data())
def test_a_wrong_value_is_named_by_its_field(data):
    doc = json.loads(json.dumps(PROFILES["gtx1660s-535-ubuntu22.04"]))
    place = data.draw(st.sampled_from(VALUE_FIELDS))
    value = data.draw(WRONG)
    node = doc
    for key in place[:-1]:
        node = node[key]
    node[place[-1]] = value
    try:
        facts = Facts.from_dict(doc, "f.json")
    except HoofenvError as err:
        dotted = ".".join(str(k) for k in place).replace(".0.", "[0].").replace(".0", "[0]")
        assert f"field `{dotted}`" in err.message, err.message
        assert err.exit_code == 2
        return
    resolves_or_refuses(facts, data.draw(st.sampled_from(OVERRIDES)))  # e.g. memory_mib 0, cc "86"


@few(8)
@given(doc=json_values)
def test_facts_of_any_shape_through_the_cli(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("facts") / "facts.json"
    path.write_text(json.dumps(doc))
    rc, out, err = cli(["plan", "--facts", str(path), "--json"])
    assert_refused(rc, out, err, 2, str(path), json_mode=True)


@pytest.mark.parametrize("content, why", [
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"", "not valid JSON"),
    (b'{"os": NaN}', "field `os`"),
    (b'{"os": {"system": "Linux", "arch": "x86_64"}, "python": {"version": "3.11.9", "executable": "x"}, '
     b'"memory_gib": Infinity}', "field `memory_gib`"),
])
def test_damaged_facts_files(tmp_path, content, why):
    path = tmp_path / "facts.json"
    path.write_bytes(content)
    for json_mode in (False, True):
        rc, out, err = cli(["plan", "--facts", str(path)] + (["--json"] if json_mode else []))
        doc = assert_refused(rc, out, err, 2, str(path), json_mode)
        assert why in (doc["error"]["message"] if doc else err)


def test_a_folder_given_as_facts_is_a_usage_error(tmp_path):
    rc, out, err = cli(["plan", "--facts", str(tmp_path), "--json"])
    assert_refused(rc, out, err, 2, "--facts", json_mode=True)
    rc, out, err = cli(["plan", "--json"], env={"HOOFENV_FACTS": str(tmp_path)})
    doc = assert_refused(rc, out, err, 2, "$HOOFENV_FACTS", json_mode=True)
    assert doc["error"]["code"] == "facts-unreadable"
