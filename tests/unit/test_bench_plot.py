"""`fauxpilot bench --plot` and `--from-json`: a real PNG drawn by matplotlib."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fauxpilot.bench.plot import plot_latencies
from fauxpilot.bench.scenarios import ScenarioResult
from fauxpilot.cli import main
from fauxpilot.plotting import PlotUnavailableError, load_pyplot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def two_servers() -> dict[str, dict[str, ScenarioResult]]:
    ours = {
        "decode": ScenarioResult("raw decode", [1.0], tokens_per_second=40.0),
        "unpredictable": ScenarioResult("unpredictable line", [0.7, 0.8, 0.75, 9.0]),
    }
    theirs = {"unpredictable": ScenarioResult("unpredictable line", [3.9, 4.1, 4.0])}
    return {"fauxpilot": ours, "llama-cpp-python server": theirs}


def test_plot_draws_a_png_with_one_panel_per_latency_scenario(tmp_path: Path) -> None:
    path = tmp_path / "latency.png"
    plot_latencies(two_servers(), path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > 5_000, "a drawn figure, not an empty canvas"


def test_plot_refuses_runs_without_latencies(tmp_path: Path) -> None:
    decode_only = {"fauxpilot": {"decode": ScenarioResult("raw decode", [1.0])}}
    with pytest.raises(ValueError, match="no scenario"):
        plot_latencies(decode_only, tmp_path / "x.png")


def test_missing_matplotlib_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(PlotUnavailableError, match=r"\.\[plot\]"):
        load_pyplot()


def test_bench_reports_and_plots_an_earlier_json_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "run.json"
    columns = {
        name: {"results": {key: vars(result) for key, result in results.items()}}
        for name, results in two_servers().items()
    }
    saved.write_text(json.dumps(columns))
    picture = tmp_path / "run.png"
    assert main(["bench", "--from-json", str(saved), "--plot", str(picture)]) == 0
    table = capsys.readouterr().out
    assert "| unpredictable line | median latency s | 0.775 | 4.000 | 0.19x |" in table
    assert picture.read_bytes()[:8] == PNG_SIGNATURE


def test_bench_from_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["bench", "--from-json", str(tmp_path / "none.json")]) == 2
