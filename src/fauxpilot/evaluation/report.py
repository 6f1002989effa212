"""The closing report: tasks, pass@k, time, outcomes and how completions were judged."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from fauxpilot.evaluation.client import RequestSettings
from fauxpilot.evaluation.passk import ks_for, mean_pass_at_k
from fauxpilot.evaluation.runner import RunOutcome


@dataclass(frozen=True)
class RunDescription:
    benchmark: str
    url: str
    settings: RequestSettings
    judged_by: str  # the sandbox in force, or how else completions were judged


def pass_at_ks(outcome: RunOutcome) -> dict[int, float]:
    """pass@k for every standard k that the fewest samples of any task allow."""
    if not outcome.results:
        return {}
    outcomes = [result.passed for result in outcome.results]
    fewest = min(len(passed) for passed in outcomes)
    return {k: mean_pass_at_k(outcomes, k) for k in ks_for(fewest)}


def format_report(outcome: RunOutcome, run: RunDescription) -> str:
    settings = run.settings
    results = outcome.results
    lines = [
        f"{run.benchmark} via {run.url}: {len(results)} tasks"
        f" ({outcome.resumed} from an earlier run), {settings.samples} sample(s) per task,"
        f" temperature {settings.temperature:g}, max_tokens {settings.max_tokens},"
        f" stop {list(settings.stop)}",
    ]
    solved = sum(any(result.passed) for result in results)
    for k, score in pass_at_ks(outcome).items():
        detail = (
            f" ({solved}/{len(results)} tasks solved)" if k == 1 and settings.samples == 1 else ""
        )
        lines.append(f"pass@{k}: {100 * score:.1f}%{detail}")
    if results:
        lines.append(_time_line(outcome))
        counts = Counter(status for result in results for status in result.statuses)
        lines.append("samples: " + ", ".join(f"{n} {name}" for name, n in sorted(counts.items())))
    if outcome.failures:
        lines.append(
            f"no completion for {len(outcome.failures)} tasks (not counted above;"
            " run again with the same --out to retry them)"
        )
    lines.append(run.judged_by)
    return "\n".join(lines) + "\n"


def _time_line(outcome: RunOutcome) -> str:
    """Wall time per new task (throughput), and each task's own time (latency)."""
    results = outcome.results
    new = len(results) - outcome.resumed
    latency = sum(result.seconds for result in results) / len(results)
    generation = sum(result.generation_seconds for result in results) / len(results)
    plural = "" if new == 1 else "s"
    return (
        f"time: {outcome.seconds:.1f} s for {new} new task{plural}"
        f" ({outcome.seconds / max(new, 1):.1f} s per task);"
        f" each task took {latency:.1f} s from request to verdict"
        f" ({generation:.1f} s waiting for its completion)"
    )
