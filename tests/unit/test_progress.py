"""Progress bars: drawn on a terminal (a real pseudo-terminal here), absent in a pipe."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from fauxpilot import progress
from tests.terminal import bar_lines, run_on_terminal

BAR_MARK = "file/s]"  # tqdm's rate with the unit `file`


def _tree(root: Path) -> Path:
    root.mkdir()
    for index in range(12):
        (root / f"module_{index}.py").write_text(f"def f{index}(x):\n    return x + {index}\n")
    return root


def _dataset_command(root: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "fauxpilot", "finetune", "dataset", str(root), "-o", str(out)]


def test_dataset_building_draws_a_bar_on_a_terminal_only(tmp_path: Path) -> None:
    root = _tree(tmp_path / "src")
    status, shown = run_on_terminal(_dataset_command(root, tmp_path / "tty.jsonl"))
    assert status == 0, shown
    bars = bar_lines(shown, BAR_MARK)
    assert bars and "reading files: 100%" in bars[-1] and "12/12" in bars[-1]

    piped = subprocess.run(
        _dataset_command(root, tmp_path / "pipe.jsonl"), capture_output=True, text=True
    )
    assert piped.returncode == 0, piped.stderr
    assert BAR_MARK not in piped.stderr + piped.stdout
    assert "kept:" in piped.stdout


def test_steps_draw_the_running_step_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    with progress.Steps("converting", ["reading", "writing"]) as steps:
        steps.begin("reading")
        steps.begin("writing")
        drawn = bar_lines(capsys.readouterr().err, "converting")
        assert drawn and "1/2" in drawn[-1] and "writing" in drawn[-1]
    drawn = bar_lines(capsys.readouterr().err, "converting")
    assert drawn and "2/2" in drawn[-1] and "done" in drawn[-1]


def test_steps_are_log_lines_off_a_terminal_and_a_failure_is_not_done(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(progress, "on_terminal", lambda: False)
    caplog.set_level(logging.INFO, logger="fauxpilot.progress")
    with pytest.raises(RuntimeError), progress.Steps("converting", ["reading", "writing"]) as s:
        s.begin("reading")
        raise RuntimeError("the checkpoint is broken")
    assert [r.getMessage() for r in caplog.records] == ["converting: reading (step 1 of 2)"]
    assert "converting" not in capsys.readouterr().err
