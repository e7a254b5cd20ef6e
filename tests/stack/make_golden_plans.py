"""Regenerate tests/fixtures/plans: the plans of the facts fixtures that carry no sources section. Run after a
deliberate change to compat_matrix.yaml or the resolver, then read the diff: `python -m tests.stack.make_golden_plans`."""

from __future__ import annotations

from hoofenv.machine.facts import Facts
from hoofenv.stack import matrix as matrix_mod
from hoofenv.stack.resolve import Overrides, resolve
from tests.conftest import FIXTURES

VARIANTS = [("nogpu-debian12", {"torch": "2.14.1", "cuda": "cpu"}), ("h100-580-ubuntu22.04", {"allow_build": True})]


def main() -> None:
    m = matrix_mod.load()
    out = FIXTURES / "plans"
    for path in sorted((FIXTURES / "facts").glob("*.json")):
        facts = Facts.load(path)
        if facts.sources is None:
            (out / path.name).write_text(resolve(facts, m).to_json() + "\n")
    for name, over in VARIANTS:
        plan = resolve(Facts.load(FIXTURES / "facts" / f"{name}.json"), m, Overrides(**over))
        (out / (name + "@" + "-".join(f"{k}={v}" for k, v in over.items()) + ".json")).write_text(plan.to_json() + "\n")


if __name__ == "__main__":
    main()
