"""A work dir's own files read back after a run or for --resume, damaged or hand-edited: metrics.json and
run_info.json of any shape, a config.py whose parameter block holds anything. The report is still written (the
damaged figures left out, with a note), the demo's summary still renders, --resume never meets a TypeError."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from hoofenv.commands import demo_flow
from hoofenv.train import config as trainconfig
from hoofenv.train.report import write_report
from hoofenv.train.run import resumed_batch
from tests.hostile import NASTY_TEXT, few, json_values, mutated

METRICS = {"max_epochs": 3, "epochs": [
    {"epoch": 1, "loss": 0.9, "seconds": 10.0, "s_per_iter": 0.2, "data_time": 0.01},
    {"epoch": 2, "loss": 0.5, "seconds": 11.0, "s_per_iter": 0.2, "data_time": 0.01,
     "metrics": {"coco/AP": 0.4, "PCK": 0.8}}]}
RUN_INFO = {"machine": "x86_64", "cpus": 2, "gpus": [{"name": "GTX 1660", "memory_gib": 6}], "python": "3.11",
            "torch": "2.1.2"}
CONFIG = f"x = 1\n{trainconfig.BEGIN}\ntrain_batch_size = 8\ninput_size = (256, 256)\n{trainconfig.END}\n"
# values a parameter line may hold: literals, expressions, nonsense
PARAMS = st.sampled_from(["8", "'8'", "None", "[1, 2", "(" * 300 + ")" * 300, "1/0", "__import__('os')", "8  # x",
                          "{'a': [1, {2: 3}]}", "1e400", "-1", "True", '"[bold]x[/]"', "\\x00"] + NASTY_TEXT)


@few(20)
@given(metrics=st.one_of(mutated(METRICS), json_values), info=st.one_of(mutated(RUN_INFO), json_values),
       param=PARAMS)
def test_the_report_is_written_from_any_work_dir(tmp_path_factory, metrics, info, param):
    work = tmp_path_factory.mktemp("w")
    (work / "metrics.json").write_text(json.dumps(metrics))
    (work / "run_info.json").write_text(json.dumps(info))
    config = CONFIG.replace("train_batch_size = 8", f"train_batch_size = {param}")
    (work / "config.py").write_bytes(config.encode("utf-8", "surrogateescape"))
    text = write_report(work, None, "t", 12.0).read_text()
    assert "# Training report: RTMPose-t" in text
    demo_flow.render(demo_flow.DemoResult(data_dir=str(work), metrics=demo_flow.read_metrics(work)))
    batch = resumed_batch((work / "config.py").read_text(errors="replace"))
    assert batch is None or (type(batch) is int and batch >= 1)


def test_damaged_files_are_noted_not_fatal(tmp_path):
    (tmp_path / "metrics.json").write_bytes(b"{" + b"[" * 100_000)
    (tmp_path / "run_info.json").write_text("[1, 2]")
    (tmp_path / "config.py").write_bytes(b"\xff\xfe")
    text = write_report(tmp_path, None, "s", 1.0).read_text()
    assert "metrics.json could not be read" in text and "run_info.json is not a JSON object" in text
    assert demo_flow.read_metrics(tmp_path) == {}
    (tmp_path / "metrics.json").write_text(json.dumps({"epochs": [{"epoch": 1, "metrics": {"PCK": "high"}}]}))
    assert demo_flow.read_metrics(tmp_path) == {"epoch": 1, "PCK@0.1": None, "AP": None}
