"""Progress bars for long jobs, drawn only when the output is a terminal.

When stderr is not a terminal (CI, a log file, a pipe) the bars are off and each job keeps
its plain log lines; `bar.disable` tells a caller which of the two it is writing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


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
