"""`fauxpilot bench --plot`: each scenario's latency distribution, servers side by side."""

from __future__ import annotations

from pathlib import Path

from fauxpilot.bench.scenarios import ScenarioResult
from fauxpilot.plotting import load_pyplot


def latency_scenarios(columns: dict[str, dict[str, ScenarioResult]]) -> list[str]:
    """The scenario keys with per-request latencies, in the order they ran."""
    keys: list[str] = []
    for results in columns.values():
        for key, result in results.items():
            if key != "decode" and result.latencies and key not in keys:
                keys.append(key)
    return keys


def plot_latencies(columns: dict[str, dict[str, ScenarioResult]], path: Path) -> None:
    """One panel per scenario: a box per server over its requests' latencies, each request
    a dot, on a log scale (typeahead answers in milliseconds, a cold prompt in seconds)."""
    pyplot = load_pyplot()
    keys = latency_scenarios(columns)
    if not keys:
        raise ValueError("no scenario with per-request latencies to plot")
    servers = list(columns)
    figure, axes = pyplot.subplots(1, len(keys), figsize=(3.2 * len(keys) + 1, 4.2), squeeze=False)
    for axis, key in zip(axes[0], keys, strict=True):
        present = [server for server in servers if key in columns[server]]
        samples = [columns[server][key].latencies for server in present]
        axis.boxplot(samples, showfliers=False)
        for position, latencies in enumerate(samples, start=1):
            axis.plot([position] * len(latencies), latencies, ".", alpha=0.45, markersize=4)
        axis.set_xticks(range(1, len(present) + 1), [_short(name) for name in present])
        axis.set_yscale("log")
        axis.set_title(columns[present[0]][key].name, fontsize=10)
        axis.grid(axis="y", which="both", alpha=0.3)
    axes[0][0].set_ylabel("seconds per request (log scale)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def _short(server: str) -> str:
    return server.replace(" server", "\nserver")
