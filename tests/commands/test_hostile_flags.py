"""Every flag of doctor, plan, install, verify, train, predict and demo given a value it cannot take: numbers out of
range or not numbers, overrides and index URLs that the resolver could not use, paths of the wrong kind. Each is
argparse's usage error (exit 2) naming the flag before anything runs; with --json, stdout is one JSON object."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoofenv.commands.main import BadArguments, build_parser
from tests.conftest import REPO
from tests.hostile import NASTY_TEXT, assert_refused, cli, few

PARSER = build_parser()


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


junk = st.one_of(st.sampled_from(NASTY_TEXT), st.text(max_size=8), st.floats().map(repr))
FLOAT_TEXT = ["1.5", "-0.0", "1e3", "1e-9", "-1e400", "0x10", "1_000", "٣", "+7", " 8 ", "nan", "-inf", "inf"]


class Count:
    """What a count flag refuses: out of [minimum, maximum], or not a whole number (`auto` allowed where it is)."""

    def __init__(self, minimum: int, maximum: int | None = None, auto: bool = False):
        self.minimum, self.maximum, self.auto = minimum, maximum, auto

    def refuses(self, text: str) -> bool:
        if self.auto and text.strip().lower() == "auto":
            return False
        value = _int(text)
        return value is None or value < self.minimum or (self.maximum is not None and value > self.maximum)

    def systematic(self) -> list[str]:
        near = [self.minimum - 1, self.minimum - 2**40] + ([self.maximum + 1, 2**70] if self.maximum else [])
        return [t for t in [*map(str, near), *NASTY_TEXT, *FLOAT_TEXT] if self.refuses(t)]

    def strategy(self):
        wide = st.integers().map(str) | junk
        return wide.filter(self.refuses)


class Number:
    """What a float flag refuses: not finite, below `above` (or equal to it unless inclusive), not a number."""

    def __init__(self, above: float, inclusive: bool):
        self.above, self.inclusive = above, inclusive

    def refuses(self, text: str) -> bool:
        v = _float(text)
        return v is None or v != v or abs(v) == float("inf") or v < self.above or (v == self.above
                                                                                    and not self.inclusive)

    def systematic(self) -> list[str]:
        return [t for t in ["-1", "-1e-300", "0", "-0.0", *NASTY_TEXT, *FLOAT_TEXT] if self.refuses(t)]

    def strategy(self):
        return (st.floats().map(repr) | junk).filter(self.refuses)


def bad_overrides(name: str) -> list[str]:
    """Texts built from URL, placeholder and version pieces, and the nasty ones, that the resolver cannot use."""
    import itertools

    from hoofenv.stack.resolve import override_problem

    pieces = ["https://m/", "http://", "ftp://x/", "whl/", "{cuda}", "{CUDA}", "{base}", "{0}", "{", "}", "{{",
              " ", "cu121", "cpu", "3.11", "2.1.2", ".", "none", "[/]"]
    made = ["".join(p) for n in (1, 2) for p in itertools.product(pieces, repeat=n)]
    return [t for t in [*made, *NASTY_TEXT] if override_problem(name, t) is not None]


# (command line before the flag, the flag, what argparse must refuse, the command has --json)
NUMBERS = [
    (["train", "--data", "."], "--epochs", Count(1)),
    (["train", "--data", "."], "--batch-size", Count(1, auto=True)),
    (["train", "--data", "."], "--workers", Count(0, auto=True)),
    (["train", "--data", "."], "--val-interval", Count(1)),
    (["train", "--data", "."], "--lr", Number(0, False)),
    (["train", "--data", "."], "--stage2-epochs", Count(0)),
    (["train", "--data", "."], "--seed", Count(0, 2**32 - 1)),
    (["train", "--data", "."], "--gpus", Count(1)),
    (["train", "--data", "."], "--nnodes", Count(1)),
    (["train", "--data", "."], "--node-rank", Count(0)),
    (["train", "--data", "."], "--master-port", Count(1, 65535)),
    (["demo", "--json"], "--seed", Count(0, 2**32 - 1)),
    (["demo", "--json"], "--n-train", Count(1)),
    (["demo", "--json"], "--n-val", Count(1)),
    (["demo", "--json"], "--image-size", Count(64, 4096)),
    (["demo", "--json"], "--epochs", Count(1)),
    (["demo", "--json"], "--batch-size", Count(1, auto=True)),
    (["install", "--json"], "--min-free-gib", Number(0, True)),
    (["verify", "--json"], "--timeout", Number(0, False)),
]
OVERRIDES = [(cmd, f"--{name.replace('_', '-')}", name) for cmd in ("plan", "doctor", "install")
             for name in ("python", "torch", "cuda", "torch_index_url", "mmcv_base_url")]


def refused_by_argparse(argv: list[str], flag: str) -> str:
    with pytest.raises(BadArguments) as info:
        PARSER.parse_args(argv)
    assert flag in info.value.message, (argv, info.value.message)
    return info.value.message


@pytest.mark.parametrize("base, flag, kind", NUMBERS, ids=[f"{b[0]} {f}" for b, f, _ in NUMBERS])
def test_numbers_out_of_range_or_not_numbers(base, flag, kind):
    values = kind.systematic()
    assert len(values) > 40
    for value in values:
        refused_by_argparse([*base, f"{flag}={value}"], flag)


@few(40)
@given(st.data())
def test_numbers_random(data):
    base, flag, kind = data.draw(st.sampled_from(NUMBERS))
    refused_by_argparse([*base, f"{flag}={data.draw(kind.strategy())}"], flag)


@pytest.mark.parametrize("name", ["python", "torch", "cuda", "torch_index_url", "mmcv_base_url"])
def test_overrides_the_resolver_could_not_use(name):
    values = bad_overrides(name)
    assert len(values) > 200
    flag = f"--{name.replace('_', '-')}"
    for i, value in enumerate(values):
        refused_by_argparse([("plan", "doctor", "install")[i % 3], f"{flag}={value}"], flag)


@pytest.mark.parametrize("argv", [
    ["train", "--data", ".", "--epochs", "1", "--batch-size", "AUTO", "--workers", "0", "--lr", "1e-4", "--seed",
     str(2**32 - 1), "--master-port", "65535", "--master-addr", "[::1]", "--node-rank", "0", "--val-interval", "3"],
    ["demo", "--image-size", "64", "--n-train", "1", "--seed", "0", "--batch-size", "auto"],
    ["install", "--min-free-gib", "0", "--index-url", "https://m.example/simple", "--find-links", ".",
     "--torch-index-url", "none", "--torch", "2.1", "--python", "3.11", "--cuda", "CU121"],
    ["plan", "--torch-index-url", "file:///srv/whl/{cuda}", "--mmcv-base-url", "http://10.0.0.1:8080"],
    ["verify", "--timeout", "0.5"],
])
def test_good_values_still_parse(argv):
    PARSER.parse_args(argv)


def _paths(tmp_path):
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    return {"file": str(a_file), "dir": str(tmp_path), "missing": str(tmp_path / "nope"),
            "under-a-file": str(a_file / "x")}


# flag -> the kinds of path it refuses
PATH_FLAGS = [
    (["plan"], "--facts", ["dir", "missing"]), (["plan"], "--matrix", ["dir", "missing"]),
    (["doctor"], "--facts-out", ["dir", "under-a-file"]),
    (["install"], "--mmcv-wheel", ["dir", "missing"]), (["install"], "--wheelhouse", ["file", "missing"]),
    (["install"], "--download-to", ["file", "under-a-file"]), (["install"], "--lock", ["dir", "under-a-file"]),
    (["install"], "--find-links", ["missing"]), (["install"], "--index-url", ["file", "missing"]),
    (["verify"], "--plan", ["dir", "missing"]), (["verify"], "--config", ["dir", "missing"]),
    (["verify"], "--data", ["dir", "missing"]), (["verify"], "--python", ["dir", "missing"]),
    (["train", "--data", "."], "--config", ["dir", "missing"]), (["train"], "--data", ["file", "missing"]),
    (["train", "--data", "."], "--work-dir", ["file", "under-a-file"]),
    (["train", "--data", "."], "--python", ["dir", "missing"]),
    (["demo"], "--out", ["file", "under-a-file"]), (["demo"], "--work-dir", ["file", "under-a-file"]),
]


@pytest.mark.parametrize("base, flag, kinds", PATH_FLAGS, ids=[f"{b[0]} {f}" for b, f, _ in PATH_FLAGS])
def test_paths_of_the_wrong_kind(tmp_path, base, flag, kinds):
    paths = _paths(tmp_path)
    for kind in kinds:
        refused_by_argparse([*base, flag, paths[kind]], flag)


def test_predicts_paths_and_device(tmp_path):
    p = _paths(tmp_path)
    good = [p["file"], p["file"], "-o", str(tmp_path / "out")]
    PARSER.parse_args(["predict", *good, "--device", "cuda:1"])
    refused_by_argparse(["predict", p["missing"], p["file"], "-o", "o"], "CKPT")
    refused_by_argparse(["predict", p["file"], p["dir"], "-o", "o"], "IMAGES")
    refused_by_argparse(["predict", p["file"], p["file"], "-o", p["file"]], "--out")
    for device in ("gpu", "cuda:", "cuda:x", "[bold]cpu", ""):
        refused_by_argparse(["predict", *good, f"--device={device}"], "--device")


@pytest.mark.parametrize("argv, flag", [
    (["plan", "--json", "--epochs", "3"], "unrecognized arguments"),
    (["plan", "--json", "--python=3"], "--python"),
    (["install", "--json", "--min-free-gib=nan"], "--min-free-gib"),
    (["install", "--json", "--torch-index-url=https://m/whl/{CUDA}"], "--torch-index-url"),
    (["verify", "--json", "--timeout=-1"], "--timeout"),
    (["demo", "--json", "--n-train=0"], "--n-train"),
    (["doctor", "--json", "--cuda=cuda12"], "--cuda"),
])
def test_usage_errors_through_main_answer_in_json(argv, flag):
    rc, out, err = cli(argv)
    doc = assert_refused(rc, out, err, 2, flag, json_mode=True)
    assert doc["error"]["code"] == "usage" and flag in err


def test_checks_across_flags_are_usage_errors_too(tmp_path):
    rc, out, err = cli(["train", "--data", str(tmp_path), "--nnodes", "2", "--node-rank", "2"])
    assert_refused(rc, out, err, 2, "--node-rank")


def test_train_workers_abc_end_to_end():
    """The issue's own case, in a real process: argparse's message, exit 2, no traceback."""
    from tests.conftest import run_cli

    proc = run_cli("train", "--data", ".", "--workers", "abc", "--json")
    assert proc.returncode == 2 and "--workers" in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["error"]["code"] == "usage"


def test_type_functions_are_argparse_types():
    """Each flag's check raises argparse.ArgumentTypeError (so argparse names the flag), never another error."""
    from hoofenv.commands import options

    checks = [options.count(1), options.number(0), options.auto_or_count(0), options.host, options.device,
              options.index, options.links, options.existing_file, options.existing_dir, options.file_to_write,
              options.dir_to_write, *(options.override(n) for n in ("python", "torch", "cuda", "torch_index_url",
                                                                    "mmcv_base_url"))]
    for check in checks:
        for text in NASTY_TEXT:
            try:
                check(text)
            except argparse.ArgumentTypeError:
                pass


@pytest.mark.parametrize("args", [["plan", "--json", "--matrix", "{bad}"], ["plan", "--matrix", "{bad}"],
                                  ["matrix", "--help"]])
def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path, args):
    """`hoofenv ... | true`: the pipe closes before hoofenv writes; its error report or help must not raise."""
    bad = tmp_path / "m.yaml"
    bad.write_text("schema: [\n")
    cmd = " ".join(shlex.quote(a.replace("{bad}", str(bad))) for a in args)
    proc = subprocess.run(["sh", "-c", f"{shlex.quote(sys.executable)} -m hoofenv {cmd} | true"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
