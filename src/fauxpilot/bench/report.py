"""The benchmark table: one row per figure, one column per server, ratios at the end."""

from __future__ import annotations

from dataclasses import dataclass

from fauxpilot.bench.scenarios import ScenarioResult


@dataclass(frozen=True)
class Row:
    scenario: str
    metric: str
    values: tuple[float | None, ...]
    lower_is_better: bool


def rows_for(results: dict[str, ScenarioResult]) -> list[tuple[str, str, float, bool]]:
    """(scenario, metric, value, lower is better) for every figure a run produced."""
    figures: list[tuple[str, str, float, bool]] = []
    for key, result in results.items():
        if key == "decode":
            figures.append((result.name, "tokens/s (best)", result.tokens_per_second, False))
            continue
        figures.append((result.name, "median latency s", result.median, True))
        if key in ("typing", "unpredictable"):
            figures.append((result.name, "first request s", result.first, True))
            figures.append((result.name, "p90 latency s", result.p90, True))
        if (first_token := result.first_token_median) is not None:
            figures.append((result.name, "median time to first token s", first_token, True))
        if key in ("concurrent", "unpredictable-editors"):
            figures.append((result.name, "completion tokens/s", result.tokens_per_second, False))
    return figures


def merge(columns: list[dict[str, ScenarioResult]]) -> list[Row]:
    keyed: dict[tuple[str, str], list[float | None]] = {}
    better: dict[tuple[str, str], bool] = {}
    for index, results in enumerate(columns):
        for scenario, metric, value, lower in rows_for(results):
            values = keyed.setdefault((scenario, metric), [None] * len(columns))
            values[index] = value
            better[(scenario, metric)] = lower
    return [
        Row(scenario, metric, tuple(values), better[(scenario, metric)])
        for (scenario, metric), values in keyed.items()
    ]


def markdown(headers: list[str], rows: list[Row], extra: list[tuple[str, str]]) -> str:
    with_ratio = len(headers) == 2
    head = ["scenario", "metric", *headers] + (["ratio (first / second)"] if with_ratio else [])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        cells = [row.scenario, row.metric] + [_number(value) for value in row.values]
        if with_ratio:
            first, second = row.values
            ratio = first / second if first is not None and second else None
            cells.append(_number(ratio, digits=2, suffix="x"))
        lines.append("| " + " | ".join(cells) + " |")
    lines.extend(f"\n{label}: {value}" for label, value in extra)
    return "\n".join(lines) + "\n"


def _number(value: float | None, digits: int = 3, suffix: str = "") -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}{suffix}"
    return f"{value:.{digits}f}{suffix}"
