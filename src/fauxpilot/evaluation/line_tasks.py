"""Line-completion tasks cut from any source code, in any language, scored by exact match.

Each task hides one line of a file: the code before it is the prompt, the code after it the
suffix, and a suggestion is right when its first line is that line (trailing spaces aside).
No program runs, so this works for languages the sandbox cannot run and for a team's own
code. Sources are files, folders (searched for the extensions below) or JSON-lines files of
HumanEval-style problems (`prompt` + `canonical_solution`: only the solution's lines are
hidden, as in HumanEval-SingleLineInfilling).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fauxpilot.evaluation.tasks import DataError, Task

log = logging.getLogger(__name__)

SOURCE_EXTENSIONS = frozenset(
    {".c", ".cc", ".cpp", ".cs", ".go", ".h", ".hpp", ".java", ".js", ".jsx", ".kt", ".lua",
     ".php", ".py", ".rb", ".rs", ".scala", ".sh", ".swift", ".ts", ".tsx"}
)  # fmt: skip
COMMENT_STARTS = ("//", "#", "/*", "*", "--", '"""', "'''")
MIN_LINE_CHARS = 6


@dataclass(frozen=True)
class SourceText:
    """A file's text and the offset from which its lines may be hidden."""

    name: str
    text: str
    holes_from: int = 0


def load_line_tasks(sources: Sequence[Path]) -> list[Task]:
    """Every line worth guessing in the sources, in file order."""
    tasks = [task for text in _source_texts(sources) for task in tasks_from_text(text)]
    if not tasks:
        raise DataError(f"no line to hide in {', '.join(map(str, sources))}")
    return tasks


def tasks_from_text(source: SourceText) -> list[Task]:
    """One task per line of code (not blank, not a comment, not mere brackets)."""
    tasks = []
    start = 0
    lines = source.text.splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        end = start + len(line)
        if start >= source.holes_from and line.endswith("\n") and is_worth_guessing(line):
            tasks.append(
                Task(
                    task_id=f"{source.name}:{number}",
                    prompt=source.text[:start],
                    canonical_solution=line,
                    suffix=source.text[end:],
                    test="",
                    entry_point=source.name,  # keeps a file's tasks on one worker, in order
                )
            )
        start = end
    return tasks


def is_worth_guessing(line: str) -> bool:
    code = line.strip()
    if len(code) < MIN_LINE_CHARS or code.startswith(COMMENT_STARTS):
        return False
    return any(character.isalnum() for character in code)


def first_lines_match(task: Task, completion: str) -> bool:
    """The suggestion writes the hidden text: as many lines as it has (two when the cursor
    ended the line before), trailing spaces aside, whatever the suggestion writes after."""
    expected = task.canonical_solution.rstrip("\n").split("\n")
    written = completion.split("\n")[: len(expected)]
    return [line.rstrip() for line in written] == [line.rstrip() for line in expected]


def _source_texts(sources: Sequence[Path]) -> Iterable[SourceText]:
    for source in sources:
        if source.is_dir():
            for path in sorted(source.rglob("*")):
                if path.suffix in SOURCE_EXTENSIONS and path.is_file():
                    try:
                        yield SourceText(str(path.relative_to(source)), _read(path))
                    except DataError as error:
                        log.warning("skipped: %s", error)
        elif source.name.endswith(".jsonl"):
            yield from _problems(source)
        else:
            yield SourceText(source.name, _read(source))


def _problems(path: Path) -> Iterable[SourceText]:
    for number, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            prompt, solution = str(row["prompt"]), str(row["canonical_solution"])
            name = str(row.get("task_id", f"{path.name}:{number}"))
        except (ValueError, TypeError, KeyError) as error:
            raise DataError(f"{path}, line {number}: not a problem ({error})") from error
        text = prompt + solution if solution.endswith("\n") else prompt + solution + "\n"
        yield SourceText(name, text, holes_from=_next_line_start(text, len(prompt)))


def _next_line_start(text: str, offset: int) -> int:
    """The start of the first whole line at or after `offset`."""
    if offset == 0 or text[offset - 1] == "\n":
        return offset
    newline = text.find("\n", offset)
    return len(text) if newline < 0 else newline + 1


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read {path}: {error}") from error
