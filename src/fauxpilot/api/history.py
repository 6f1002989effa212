"""The last hour of the server's metrics, one snapshot a minute, for the dashboard's charts.

Every figure is read from the Prometheus registry `/metrics` serves, so the two never
disagree: a chart's point is the difference of two readings of the same counters, and its
percentiles are interpolated in the histogram's buckets as Prometheus' histogram_quantile does.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import pairwise

from prometheus_client import CollectorRegistry
from prometheus_client.samples import Sample

from fauxpilot.api.metrics import GENERATION_ROUTES

Buckets = tuple[tuple[float, float], ...]  # (upper bound, requests at or below it), +Inf last
KEEP_SECONDS = 3600.0
STEP_SECONDS = 60.0


@dataclass(frozen=True)
class Snapshot:
    """The counters at one moment (totals since the server started)."""

    time: float
    requests: float  # to the generation routes
    statuses: dict[str, float] = field(default_factory=dict)  # their status codes
    latency: Buckets = ()  # their duration, to the last byte
    ttft: Buckets = ()  # time to a sequence's first token
    prompt_tokens: float = 0.0
    cached_tokens: float = 0.0
    completion_tokens: float = 0.0
    typeahead_hits: float = 0.0


def read_samples(registry: CollectorRegistry) -> list[Sample]:
    return [sample for family in registry.collect() for sample in family.samples]


def take_snapshot(samples: Iterable[Sample], now: float) -> Snapshot:
    samples = list(samples)

    def total(name: str) -> float:
        return sum(sample.value for sample in samples if sample.name == name)

    generation = [sample for sample in samples if sample.labels.get("route") in GENERATION_ROUTES]
    statuses: dict[str, float] = {}
    for sample in generation:
        if sample.name == "fauxpilot_http_requests_total":
            status = sample.labels["status"]
            statuses[status] = statuses.get(status, 0.0) + sample.value
    return Snapshot(
        time=now,
        requests=sum(statuses.values()),
        statuses=statuses,
        latency=_buckets(generation, "fauxpilot_http_request_duration_seconds_bucket"),
        ttft=_buckets(samples, "fauxpilot_time_to_first_token_seconds_bucket"),
        prompt_tokens=total("fauxpilot_prompt_tokens_total"),
        cached_tokens=total("fauxpilot_cached_prompt_tokens_total"),
        completion_tokens=total("fauxpilot_completion_tokens_total"),
        typeahead_hits=total("fauxpilot_typeahead_hits_total"),
    )


def _buckets(samples: Iterable[Sample], name: str) -> Buckets:
    """A histogram's buckets, summed over its other labels (the routes)."""
    counts: dict[float, float] = {}
    for sample in samples:
        if sample.name == name:
            bound = float(sample.labels["le"])
            counts[bound] = counts.get(bound, 0.0) + sample.value
    return tuple(sorted(counts.items()))


def quantile(q: float, later: Buckets, earlier: Buckets = ()) -> float | None:
    """The q-quantile of what was observed between two readings of a histogram, or None
    when nothing was; within a bucket linearly interpolated, capped at the last finite bound."""
    before = dict(earlier)
    counts = [(bound, count - before.get(bound, 0.0)) for bound, count in later]
    if not counts or counts[-1][1] <= 0:
        return None
    rank = q * counts[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in counts:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 1.0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound


def interval(earlier: Snapshot, later: Snapshot) -> dict[str, float | None]:
    """What happened between two snapshots: rates, refusals and latency percentiles."""
    seconds = max(later.time - earlier.time, 1e-9)

    def delta(status: str) -> float:
        return later.statuses.get(status, 0.0) - earlier.statuses.get(status, 0.0)

    prompt = later.prompt_tokens - earlier.prompt_tokens
    cached = later.cached_tokens - earlier.cached_tokens
    return {
        "start": earlier.time,
        "end": later.time,
        "requests": later.requests - earlier.requests,
        "requests_per_minute": (later.requests - earlier.requests) * 60.0 / seconds,
        "tokens_per_second": (later.completion_tokens - earlier.completion_tokens) / seconds,
        "refused_429": delta("429"),
        "refused_503": delta("503"),
        "cache_hit_ratio": cached / prompt if prompt else None,
        "typeahead_hits": later.typeahead_hits - earlier.typeahead_hits,
        "ttft_p50": quantile(0.5, later.ttft, earlier.ttft),
        "ttft_p90": quantile(0.9, later.ttft, earlier.ttft),
        "latency_p50": quantile(0.5, later.latency, earlier.latency),
        "latency_p90": quantile(0.9, later.latency, earlier.latency),
    }


class MetricsHistory:
    """Snapshots of the registry a minute apart, the last hour of them."""

    def __init__(
        self,
        registry: CollectorRegistry,
        clock: Callable[[], float] = time.time,
        keep_seconds: float = KEEP_SECONDS,
        step_seconds: float = STEP_SECONDS,
    ) -> None:
        self._registry = registry
        self.clock = clock
        self._keep = keep_seconds
        self._step = step_seconds
        self._snapshots: deque[Snapshot] = deque()

    def now(self) -> Snapshot:
        return take_snapshot(read_samples(self._registry), self.clock())

    def record(self) -> Snapshot:
        snapshot = self.now()
        self._snapshots.append(snapshot)
        while self._snapshots and snapshot.time - self._snapshots[0].time > self._keep:
            self._snapshots.popleft()
        return snapshot

    def series(self, current: Snapshot) -> list[dict[str, float | None]]:
        """One point per step of the last hour, the step still running last."""
        points = [*self._snapshots, current]
        return [interval(a, b) for a, b in pairwise(points)]

    def over_the_hour(self, current: Snapshot) -> dict[str, float | None]:
        """The whole last hour (since the server started, if that was sooner) as one interval."""
        first = self._snapshots[0] if self._snapshots else Snapshot(current.time, 0.0)
        return interval(first, current)

    async def run(self) -> None:
        """Record a snapshot now and then at every step's boundary, until cancelled."""
        self.record()
        while True:
            await asyncio.sleep(self._step - self.clock() % self._step)
            self.record()
