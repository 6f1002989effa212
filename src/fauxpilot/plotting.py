"""matplotlib for the pictures of `fauxpilot bench --plot` and `fauxpilot eval plot`.

matplotlib is an optional extra (`pip install -e '.[plot]'`): it is imported only when a
picture is asked for, with its file-only backend, so no display is needed.
"""

from __future__ import annotations

from typing import Any

PLOT_EXTRA_HINT = "install matplotlib with: .venv/bin/pip install -e '.[plot]'"


class PlotUnavailableError(RuntimeError):
    """matplotlib is not installed."""


def load_pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, or PlotUnavailableError saying how to get it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError as error:
        raise PlotUnavailableError(f"{error}; {PLOT_EXTRA_HINT}") from error
    return pyplot
