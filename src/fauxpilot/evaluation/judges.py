"""What decides whether a completion is right: its program run in the sandbox, or an exact
match of the line it was meant to write."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fauxpilot.evaluation.line_tasks import first_lines_match
from fauxpilot.evaluation.sandbox import ExecutionResult, Sandbox
from fauxpilot.evaluation.tasks import Task, program_for


class Judge(Protocol):
    @property
    def description(self) -> str: ...

    def judge(self, task: Task, completion: str) -> ExecutionResult: ...


@dataclass(frozen=True)
class ProgramJudge:
    """Runs the task's test program with the completion in it."""

    sandbox: Sandbox

    @property
    def description(self) -> str:
        return f"sandbox: {self.sandbox.isolation.description}"

    def judge(self, task: Task, completion: str) -> ExecutionResult:
        return self.sandbox.run(program_for(task, completion))


@dataclass(frozen=True)
class LineMatchJudge:
    """Compares the suggestion with the hidden line; nothing is run."""

    @property
    def description(self) -> str:
        return "judged by exact match of the hidden line (no program runs)"

    def judge(self, task: Task, completion: str) -> ExecutionResult:
        if first_lines_match(task, completion):
            return ExecutionResult("passed")
        return ExecutionResult("failed", f"wrote {completion.split(chr(10), 1)[0][:80]!r}")
