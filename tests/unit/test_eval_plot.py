"""`fauxpilot eval plot`: pass@1 by set and configuration, drawn by matplotlib."""

from __future__ import annotations

from pathlib import Path

import pytest

from fauxpilot.cli import main
from fauxpilot.evaluation.plot import parse_run, pass_rate
from fauxpilot.evaluation.results import TaskResult


def write_run(path: Path, passed: list[bool]) -> Path:
    rows = [
        TaskResult(f"task/{index}", ("x",), (ok,), ("passed" if ok else "failed",), (None,), 0.1)
        for index, ok in enumerate(passed)
    ]
    path.write_text("".join(row.to_json() + "\n" for row in rows))
    return path


def test_pass_rate_is_pass_at_1_over_the_files_tasks(tmp_path: Path) -> None:
    run = write_run(tmp_path / "a.jsonl", [True, False, False, True, True])
    assert pass_rate(run) == (pytest.approx(0.6), 5)


def test_run_spec_names_set_configuration_and_file() -> None:
    run = parse_run("single-line/anchors off=/tmp/sl.jsonl")
    assert (run.task_set, run.configuration, run.path) == (
        "single-line",
        "anchors off",
        Path("/tmp/sl.jsonl"),
    )
    with pytest.raises(ValueError, match="SET/CONFIGURATION"):
        parse_run("sl.jsonl")


def test_eval_plot_draws_grouped_bars(tmp_path: Path) -> None:
    one = write_run(tmp_path / "one.jsonl", [True, False])
    two = write_run(tmp_path / "two.jsonl", [True, True, False])
    three = write_run(tmp_path / "three.jsonl", [False, False, True])
    picture = tmp_path / "rates.png"
    specs = [f"single-line/defaults={one}", f"single-line/off={two}", f"random-span/off={three}"]
    assert main(["eval", "plot", *specs, "--out", str(picture)]) == 0
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 5_000


def test_eval_plot_of_an_empty_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["eval", "plot", f"a/b={empty}", "--out", str(tmp_path / "x.png")]) == 2
