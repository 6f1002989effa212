"""Line-completion tasks from source code of any language, judged by exact match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fauxpilot.evaluation.cli import default_line_stops
from fauxpilot.evaluation.judges import LineMatchJudge
from fauxpilot.evaluation.line_tasks import SourceText, load_line_tasks, tasks_from_text
from fauxpilot.evaluation.tasks import DataError, as_editor_sends, move_cursor

RUST = """// Sums the numbers.
fn total(numbers: &[i64]) -> i64 {
    let mut sum = 0;
    for n in numbers {
        sum += n;
    }
    sum
}
"""


def test_each_line_of_code_becomes_a_task_with_the_file_around_it() -> None:
    tasks = tasks_from_text(SourceText("sum.rs", RUST))
    hidden = [task.canonical_solution.strip() for task in tasks]
    # the comment, the lone brackets and `sum` (too short to be a guess) are not hidden
    assert hidden == [
        "fn total(numbers: &[i64]) -> i64 {",
        "let mut sum = 0;",
        "for n in numbers {",
        "sum += n;",
    ]
    third = tasks[2]
    assert third.prompt + third.canonical_solution + (third.suffix or "") == RUST
    assert third.task_id == "sum.rs:4" and third.prompt.endswith("= 0;\n")


def test_only_a_problem_s_solution_lines_are_hidden(tmp_path: Path) -> None:
    problem = {
        "task_id": "Rust/1",
        "prompt": "fn double(x: i32) -> i32 {",
        "canonical_solution": "\n    let twice = x * 2;\n    twice\n}",
    }
    data = tmp_path / "problems.jsonl"
    data.write_text(json.dumps(problem) + "\n\n", encoding="utf-8")
    tasks = load_line_tasks([data])
    assert [task.canonical_solution for task in tasks] == ["    let twice = x * 2;\n"]
    assert tasks[0].prompt == "fn double(x: i32) -> i32 {\n"


def test_a_folder_is_searched_for_source_files(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "sum.rs").write_text(RUST, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("a text file, not searched\n", encoding="utf-8")
    (tmp_path / "bad.js").write_bytes(b"\xff\xfe not utf-8\n")
    tasks = load_line_tasks([tmp_path])
    assert {task.entry_point for task in tasks} == {"src/sum.rs"}
    assert load_line_tasks([tmp_path / "notes.txt"])  # named, it is read whatever its name
    (tmp_path / "empty.rs").write_text("// nothing\n}\n", encoding="utf-8")
    with pytest.raises(DataError, match="no line to hide"):
        load_line_tasks([tmp_path / "empty.rs"])


@pytest.mark.parametrize(
    ("cursor", "completion", "right"),
    [
        ("line-start", "    let mut sum = 0;", True),
        ("line-start", "    let mut sum = 0;   \n    more", True),
        ("line-start", "    let mut sum = 1;", False),
        ("line-end", "\n    let mut sum = 0;\n    for", True),
        ("line-end", "\n", False),
        ("line-end", " // a comment on the same line", False),
        ("after-indent", "let mut sum = 0;", True),
        ("mid-line", "sum = 0;", True),
        ("mid-line", "let mut sum = 0;", False),
        ("mid-line", "sum = 0; }", False),
    ],
)
def test_a_suggestion_is_right_when_it_writes_the_hidden_line(
    cursor: str, completion: str, right: bool
) -> None:
    task = move_cursor(as_editor_sends(tasks_from_text(SourceText("sum.rs", RUST))[1]), cursor)
    verdict = LineMatchJudge().judge(task, completion)
    assert verdict.passed is right, (task.prompt[-20:], task.canonical_solution)
    assert task.prompt + task.canonical_solution + (task.suffix or "") == RUST


def test_editors_one_line_stop_except_when_the_cursor_ends_a_line() -> None:
    assert default_line_stops("mid-line") == ("\n",)
    assert default_line_stops("line-end") == ()
