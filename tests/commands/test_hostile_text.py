"""Text that came from the user (GPU names, paths, env labels, work dirs) printed by plan, doctor, verify, install,
train and demo: Rich markup in it is printed verbatim, never interpreted or crashing, and a path that is not UTF-8
(a surrogate escape) does not raise UnicodeEncodeError on a strict UTF-8 terminal."""

from __future__ import annotations

import io
import json
import sys

from hypothesis import given
from hypothesis import strategies as st

from hoofenv.commands.main import main
from tests.conftest import FIXTURES
from tests.hostile import cli, few

BASE = json.loads((FIXTURES / "facts" / "gtx1660s-535-ubuntu22.04.json").read_text())
# markup-looking pieces: tags, closing tags, links, escapes, brackets in paths
MARKUP = st.lists(st.sampled_from(["[", "]", "[/]", "[bold]", "[/bold]", "[red]", "[link=http://x]", "[/final]",
                                   "\\[", "\\", "v2", "horse 1", ":", "=", "@", "é", " "]),
                  min_size=1, max_size=6).map("".join)


def _facts(tmp_path, gpu_name: str, python_path: str) -> str:
    doc = json.loads(json.dumps(BASE))
    doc["nvidia"]["gpus"][0].update(name=f"GTX 1660 {gpu_name}", compute_capability=None)  # named: a why line
    doc["python"]["interpreters"][0]["path"] = python_path
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(doc))
    return str(path)


@few(8)
@given(name=MARKUP, folder=MARKUP)
def test_plan_prints_names_and_paths_verbatim(tmp_path_factory, name, folder):
    python = f"/opt/{folder}/bin/python3"
    facts = _facts(tmp_path_factory.mktemp("t"), name, python)
    rc, out, err = cli(["plan", "--facts", facts])
    assert rc in (0, 1) and "Traceback" not in err, err
    assert f"GTX 1660 {name}: compute capability" in out and f"Python 3.10: {python} is on this machine" in out


def test_doctor_prints_names_verbatim(tmp_path):
    name = "[bold]x[/bold] [/final] task [horse 1]"
    rc, out, err = cli(["doctor", "-v", "--facts", _facts(tmp_path, name, "/v2[/final]/python3"),
                        "--env", str(tmp_path / "env[/x]")])
    assert rc in (0, 1) and f"GTX 1660 {name} (sm_?, 6144 MiB)" in out and "env[/x]" in out, out


def test_renderers_print_user_text_verbatim(capsys):
    from hoofenv.commands import demo_flow, install, train, verify
    from hoofenv.verify.report import CheckResult, Report

    odd = "/w/v2[/final]/task [horse 1]"
    progress = install.TerminalProgress()
    progress.note(f"Installing into {odd}", "ok")
    progress.step_started(f"[1/2] {odd}")
    progress.step_output(f"[1/2] {odd}", "[red]log[/red]", 1.0)
    progress.step_finished(f"[1/2] {odd}", False, 1.0)
    train.render_event({"event": "notice", "text": f"downloading to {odd}"}, False)
    train.render_event({"event": "done", "work_dir": odd}, False)
    report = Report(env=odd, python=f"{odd}/bin/python", plan=None, config=None,
                    checks=[CheckResult("python.version", False, True, 0.1, f"[bold]{odd}", hint=f"ls {odd}",
                                        status="fail")])
    print(verify.render(report))
    print(demo_flow.render(demo_flow.DemoResult(data_dir=odd, predictions_dir=odd, pictures=[odd])))
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert text.count(odd) >= 10 and "[red]log[/red]" not in text.replace(odd, "")  # progress line: not shown


def test_a_path_that_is_not_utf8_prints_on_a_strict_terminal(tmp_path, monkeypatch):
    """A Python found at a path of Latin-1 bytes: the plan names it (as \\udcff) in text and in JSON, on a stdout
    that refuses surrogates as a UTF-8 locale's does (the C locale's surrogateescape would hide the bug)."""
    facts = _facts(tmp_path, "[bold]x[/bold]", "/usr/bin/py\udcffthon")
    for extra in ([], ["--json"]):
        raw = io.BytesIO()
        strict = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
        monkeypatch.setattr(sys, "stdout", strict)
        rc = main(["plan", "--facts", facts, *extra])
        text = raw.getvalue().decode("utf-8")
        assert rc == 0
        if extra:
            assert json.loads(text)["python_source"]["path"] == "/usr/bin/py\udcffthon"
        else:
            assert "/usr/bin/py\\udcffthon" in text
