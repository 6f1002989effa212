"""Parity: the server's own FIM (`prompt` + `suffix`) scores at least what the model's raw FIM
prompt scores through the same server, with the cursor where editors put it (issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fauxpilot.evaluation.client import CompletionClient, RequestSettings
from fauxpilot.evaluation.judges import LineMatchJudge, ProgramJudge
from fauxpilot.evaluation.line_tasks import load_line_tasks
from fauxpilot.evaluation.runner import RunConfig, run_evaluation
from fauxpilot.evaluation.sandbox import Sandbox
from fauxpilot.evaluation.sandbox_limits import Limits
from fauxpilot.evaluation.tasks import as_editor_sends, load_infilling, move_cursor

from .conftest import Server

pytestmark = [pytest.mark.integration, pytest.mark.default_model]

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared/eval/humaneval-infilling"
LINE_NOISE = 2  # tasks that flip between two runs of one configuration (EVAL.md, Rust lines)
QWEN_FIM = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")


def solved(server: Server, cursor: str, raw: bool) -> int:
    tasks = load_infilling(DATA / "HumanEval-SingleLineInfilling.jsonl.gz")[::40]
    moved = [move_cursor(as_editor_sends(task), cursor) for task in tasks]
    settings = RequestSettings(max_tokens=48, stop=(), raw_fim=QWEN_FIM if raw else None)
    with CompletionClient(server.url, settings) as client:
        judge = ProgramJudge(Sandbox.detect(Limits(timeout=10)))
        outcome = run_evaluation(moved, client, judge, RunConfig())
    assert not outcome.failures and len(outcome.results) == len(moved)
    return sum(any(result.passed) for result in outcome.results)


@pytest.mark.skipif(not DATA.is_dir(), reason=f"the infilling data is not at {DATA}")
def test_suffix_scores_at_least_the_raw_fim_prompt_when_the_cursor_ends_a_line(
    default_server: Server,
) -> None:
    raw = solved(default_server, "line-end", raw=True)
    ours = solved(default_server, "line-end", raw=False)
    assert ours >= raw, (ours, raw)
    assert ours > 0


def lines_solved(server: Server, cursor: str, raw: bool) -> int:
    """Lines of this project's own shell scripts: another language, with its own rules."""
    tasks = load_line_tasks([ROOT / "scripts"])
    moved = [move_cursor(as_editor_sends(task), cursor) for task in tasks]
    stop = () if cursor == "line-end" else ("\n",)
    settings = RequestSettings(max_tokens=48, stop=stop, raw_fim=QWEN_FIM if raw else None)
    with CompletionClient(server.url, settings) as client:
        outcome = run_evaluation(moved, client, LineMatchJudge(), RunConfig())
    assert not outcome.failures and len(outcome.results) == len(moved) > 20
    return sum(any(result.passed) for result in outcome.results)


# mid-line first: after the line-end run, typeahead would answer mid-line requests from its
# suggestions (the typed half line is their start), which is not what is measured here.
@pytest.mark.parametrize("cursor", ["mid-line", "line-end"])
def test_in_shell_too_suffix_scores_at_least_the_raw_fim_prompt(
    default_server: Server, cursor: str
) -> None:
    raw = lines_solved(default_server, cursor, raw=True)
    ours = lines_solved(default_server, cursor, raw=False)
    # Never below raw FIM by more than noise: batching under concurrency flips near-ties,
    # 2 tasks between two runs of one configuration (EVAL.md); the bug this guards against
    # cost 14 points.
    assert ours >= raw - LINE_NOISE, (ours, raw)
    if cursor == "mid-line":  # the next shell line after a finished one: both may get none
        assert ours > 0
