"""ruff and mypy are part of the suite, so style and types cannot rot silently."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_lint_and_format() -> None:
    lint = run_tool("ruff", "check", "src", "tests", "benchmarks")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    formatting = run_tool("ruff", "format", "--check", "src", "tests", "benchmarks")
    assert formatting.returncode == 0, formatting.stdout + formatting.stderr


def test_mypy_strict() -> None:
    result = run_tool("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
