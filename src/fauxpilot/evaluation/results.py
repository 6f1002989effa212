"""Per-task results as JSON lines: written as tasks finish, read back to resume a run."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskResult:
    """One task: its completions and, per completion, whether it passed and why not."""

    task_id: str
    completions: tuple[str, ...]
    passed: tuple[bool, ...]
    statuses: tuple[str, ...]
    errors: tuple[str | None, ...]
    seconds: float
    generation_seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(
            {
                "task_id": self.task_id,
                "completions": list(self.completions),
                "passed": list(self.passed),
                "statuses": list(self.statuses),
                "errors": list(self.errors),
                "seconds": round(self.seconds, 3),
                "generation_seconds": round(self.generation_seconds, 3),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, row: Any) -> TaskResult:
        passed = tuple(bool(value) for value in row["passed"])
        statuses = row.get("statuses") or ["passed" if ok else "failed" for ok in passed]
        errors = row.get("errors") or [None] * len(passed)
        if not passed or len(row["completions"]) != len(passed):
            raise ValueError("needs one 'passed' value per completion, and at least one")
        return cls(
            task_id=str(row["task_id"]),
            completions=tuple(str(text) for text in row["completions"]),
            passed=passed,
            statuses=tuple(str(status) for status in statuses),
            errors=tuple(None if error is None else str(error) for error in errors),
            seconds=float(row.get("seconds", 0.0)),
            generation_seconds=float(row.get("generation_seconds", 0.0)),
        )


def load_results(path: Path) -> dict[str, TaskResult]:
    """The results already in `path` by task id; unreadable lines (a run killed mid-write)
    are skipped with a warning, so those tasks run again."""
    results: dict[str, TaskResult] = {}
    if not path.exists():
        return results
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                result = TaskResult.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError) as error:
                log.warning("%s, line %d: skipped, not a result (%s)", path, number, error)
                continue
            results[result.task_id] = result
    return results


class ResultWriter:
    """Appends one line per result and flushes it, so an interrupted run loses nothing."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def __enter__(self) -> ResultWriter:
        if self.path is not None:
            needs_newline = self.path.exists() and not _ends_with_newline(self.path)
            self._file = self.path.open("a", encoding="utf-8")
            if needs_newline:
                self._file.write("\n")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()

    def write(self, result: TaskResult) -> None:
        if self._file is not None:
            self._file.write(result.to_json() + "\n")
            self._file.flush()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as file:
        size = file.seek(0, 2)
        if size == 0:
            return True
        file.seek(size - 1)
        return file.read(1) == b"\n"
