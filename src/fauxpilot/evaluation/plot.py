"""`fauxpilot eval plot`: pass@1 by set and configuration, from the runs' result files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fauxpilot.evaluation.passk import mean_pass_at_k
from fauxpilot.evaluation.results import load_results
from fauxpilot.plotting import load_pyplot


@dataclass(frozen=True)
class PlottedRun:
    """One `--out` file of an eval run, placed in the chart by its set and configuration."""

    task_set: str
    configuration: str
    path: Path


def parse_run(spec: str) -> PlottedRun:
    """`SET/CONFIGURATION=RESULTS.jsonl`, e.g. `single-line/defaults=sl.jsonl`."""
    label, separator, path = spec.partition("=")
    task_set, slash, configuration = label.partition("/")
    if not separator or not slash or not task_set or not configuration or not path:
        raise ValueError(f"{spec!r}: expected SET/CONFIGURATION=RESULTS.jsonl")
    return PlottedRun(task_set.strip(), configuration.strip(), Path(path))


def pass_rate(path: Path) -> tuple[float, int]:
    """pass@1 of a results file and its number of tasks."""
    results = load_results(path)
    if not results:
        raise ValueError(f"{path}: no results in it")
    outcomes = [result.passed for result in results.values()]
    return mean_pass_at_k(outcomes, 1), len(outcomes)


def plot_pass_rates(runs: list[PlottedRun], path: Path) -> None:
    """Grouped bars: one group per set, one bar per configuration, labelled with pass@1
    and the task count."""
    pyplot = load_pyplot()
    sets = list(dict.fromkeys(run.task_set for run in runs))
    configurations = list(dict.fromkeys(run.configuration for run in runs))
    width = 0.8 / len(configurations)
    figure, axis = pyplot.subplots(figsize=(1.8 + 1.6 * len(sets) * len(configurations), 4.2))
    for index, configuration in enumerate(configurations):
        chosen = [run for run in runs if run.configuration == configuration]
        rates = [pass_rate(run.path) for run in chosen]
        positions = [sets.index(run.task_set) - 0.4 + width * (index + 0.5) for run in chosen]
        heights = [100 * rate for rate, _ in rates]
        bars = axis.bar(positions, heights, width, color=f"C{index}", label=configuration)
        labels = [f"{100 * rate:.1f} %\n({tasks})" for rate, tasks in rates]
        axis.bar_label(bars, labels, fontsize=8)
    axis.set_xticks(range(len(sets)), sets)
    axis.set_ylabel("pass@1, % (tasks)")
    axis.set_ylim(0, 105)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
