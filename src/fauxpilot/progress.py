"""Progress bars for long jobs, drawn only when the output is a terminal.

When stderr is not a terminal (CI, a log file, a pipe) the bars are off and each job keeps
its plain log lines; `bar.disable` tells a caller which of the two it is writing.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")
log = logging.getLogger(__name__)


def on_terminal() -> bool:
    return sys.stderr.isatty()


def progress_bar(total: int | None, description: str, unit: str = "it") -> tqdm[Any]:
    """A bar of `total` steps of `unit`; with `unit="B"`, bytes shown as KiB/MiB and a rate."""
    return tqdm(total=total, **_bar_style(description, unit))


def with_progress(items: Sequence[T], description: str, unit: str = "it") -> Iterator[T]:
    """`items`, one by one, counted on a bar."""
    yield from tqdm(items, total=len(items), **_bar_style(description, unit))


def _bar_style(description: str, unit: str) -> dict[str, Any]:
    return {
        "desc": description,
        "unit": unit,
        "unit_scale": unit == "B",
        "unit_divisor": 1024 if unit == "B" else 1000,
        "disable": not on_terminal(),
        "dynamic_ncols": True,
        "file": sys.stderr,
    }


class Steps:
    """A bar over the named steps of a job whose library reports nothing finer (a conversion
    inside CTranslate2 or transformers): which step runs, how many are done, time so far.
    Off a terminal each step is one log line instead."""

    def __init__(self, description: str, steps: Sequence[str]) -> None:
        self._description = description
        self._steps = list(steps)
        self._bar = progress_bar(len(self._steps), description, unit="step")

    def begin(self, step: str) -> None:
        """Mark the steps before `step` done and show `step` as the one running."""
        done = self._steps.index(step)
        if self._bar.disable:
            log.info("%s: %s (step %d of %d)", self._description, step, done + 1, len(self._steps))
            return
        self._bar.set_postfix_str(step, refresh=False)
        self._bar.update(done - self._bar.n)
        self._bar.refresh()  # a step can take minutes: show it now, not at the next update

    def finish(self) -> None:
        if not self._bar.disable:
            self._bar.set_postfix_str("done", refresh=False)
            self._bar.update(len(self._steps) - self._bar.n)

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, failure: type[BaseException] | None, *rest: object) -> None:
        if failure is None:
            self.finish()
        self._bar.close()
