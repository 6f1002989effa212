"""Prometheus metrics: one registry per app, fed by a middleware and an engine wrapper."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fauxpilot.api.auth import current_key_label, scope_key_label
from fauxpilot.engine.base import (
    Engine,
    EngineEvent,
    GenerationRequest,
    Health,
    ModelInfo,
    PromptEvent,
    TokenEvent,
    Tokenizer,
)

# The routes that run the model: the dashboard's request rate and latency, and per-key usage.
GENERATION_ROUTES = frozenset(
    {
        "/v1/completions",
        "/v1/engines/{engine}/completions",
        "/v1/chat/completions",
        "/infill",
        "/completion",
    }
)
COMPLETION_EVENTS = ("view", "select", "dismiss")
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
UNMATCHED_ROUTE = "unmatched"  # fuzzers and scanners must not grow the label set


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "fauxpilot_http_requests",
            "HTTP requests by route, method and status code",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "fauxpilot_http_request_duration_seconds",
            "Time from request to the end of the response (streams included)",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.refused = Counter(
            "fauxpilot_requests_refused",
            "Generation requests refused or cut short by a limit, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.time_to_first_token = Histogram(
            "fauxpilot_time_to_first_token_seconds",
            "Time from a sequence's submission to its first generated token",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.prompt_tokens = Counter(
            "fauxpilot_prompt_tokens", "Prompt tokens read", registry=self.registry
        )
        self.cached_prompt_tokens = Counter(
            "fauxpilot_cached_prompt_tokens",
            "Prompt tokens taken from a KV slot's cache instead of computed",
            registry=self.registry,
        )
        self.completion_tokens = Counter(
            "fauxpilot_completion_tokens", "Tokens generated", registry=self.registry
        )

        # By a label derived from the key (auth.key_label), never the key itself; the keys
        # are the configured ones, so the label set stays small.
        self.key_requests = Counter(
            "fauxpilot_key_requests",
            "Generation requests by API key label",
            ["key"],
            registry=self.registry,
        )
        self.key_tokens = Counter(
            "fauxpilot_key_tokens",
            "Prompt and completion tokens by API key label",
            ["key", "kind"],
            registry=self.registry,
        )
        self.completion_events = Counter(
            "fauxpilot_completion_events",
            "Suggestions shown (view), accepted (select) or dismissed, as clients report them",
            ["event", "language", "key"],
            registry=self.registry,
        )
        self.registry.register(_AcceptanceCollector(self.completion_events))

        # Running sums for the hit ratio (prometheus counters do not expose their values).
        self._prompt_total = 0
        self._cached_total = 0

    def record_prompt(self, prompt_tokens: int, cached_tokens: int) -> None:
        self.prompt_tokens.inc(prompt_tokens)
        self.cached_prompt_tokens.inc(cached_tokens)
        self.key_tokens.labels(current_key_label.get(), "prompt").inc(prompt_tokens)
        self._prompt_total += prompt_tokens
        self._cached_total += cached_tokens

    @property
    def cache_hit_ratio(self) -> float:
        return self._cached_total / self._prompt_total if self._prompt_total else 0.0

    def record_completion_token(self) -> None:
        self.completion_tokens.inc()
        self.key_tokens.labels(current_key_label.get(), "completion").inc()

    def count_event(self, event: str, language: str, key: str) -> None:
        self.completion_events.labels(event, language, key).inc()

    def watch_typeahead(self, hits: Callable[[], int]) -> None:
        """Expose the completion service's typeahead hits, read at every scrape."""
        self.registry.register(_TypeaheadCollector(hits))

    def watch_engine(self, engine: Engine) -> None:
        """Expose the engine's queue and slots, read at every scrape."""
        self.registry.register(_EngineCollector(engine, self))

    def count_refusal(self, reason: str) -> None:
        self.refused.labels(reason=reason).inc()


class _EngineCollector(Collector):
    def __init__(self, engine: Engine, metrics: Metrics) -> None:
        self._engine = engine
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        health: Health = self._engine.health()
        gauges = {
            "fauxpilot_queue_depth": ("Requests waiting for a slot", health.waiting_requests),
            "fauxpilot_active_sequences": ("Sequences holding a slot", health.active_requests),
            "fauxpilot_free_slots": ("KV slots free", health.free_slots),
            "fauxpilot_slots": ("KV slots in all", health.total_slots),
            "fauxpilot_model_ready": ("1 when the model is loaded", int(health.ready)),
        }
        for name, (documentation, value) in gauges.items():
            yield GaugeMetricFamily(name, documentation, value=value)
        yield CounterMetricFamily(
            "fauxpilot_engine_restarts",
            "Times the engine process died and was started again",
            value=health.restarts,
        )
        yield from _upstream_metrics(health)
        yield GaugeMetricFamily(
            "fauxpilot_kv_cache_hit_ratio",
            "Share of all prompt tokens so far that came from a slot's cache",
            value=self._metrics.cache_hit_ratio,
        )


class _TypeaheadCollector(Collector):
    def __init__(self, hits: Callable[[], int]) -> None:
        self._hits = hits

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "fauxpilot_typeahead_hits",
            "Requests answered from the last suggestion because the user typed its start",
            value=self._hits(),
        )


class _AcceptanceCollector(Collector):
    """Accepted share of the suggestions shown, by language and by key, from the events."""

    def __init__(self, events: Counter) -> None:
        self._events = events

    def collect(self) -> Iterator[Metric]:
        counts = event_counts(
            sample for family in self._events.collect() for sample in family.samples
        )
        for label in ("language", "key"):
            ratio = GaugeMetricFamily(
                f"fauxpilot_acceptance_ratio_by_{label}",
                f"Suggestions selected per suggestion viewed, by {label}",
                labels=[label],
            )
            for name, events in sorted(group_events(counts, label).items()):
                accepted = acceptance_ratio(events)
                if accepted is not None:
                    ratio.add_metric([name], accepted)
            yield ratio


EventCounts = dict[tuple[str, str, str], float]  # (event, language, key) -> count


def event_counts(samples: Iterable[Sample]) -> EventCounts:
    """The completion-event counter's values among a registry's samples."""
    counts: EventCounts = {}
    for sample in samples:
        if sample.name == "fauxpilot_completion_events_total":
            labels = sample.labels
            counts[(labels["event"], labels["language"], labels["key"])] = sample.value
    return counts


def group_events(counts: EventCounts, by: str) -> dict[str, dict[str, float]]:
    """Event totals per language or per key: {name: {"view": n, "select": n, ...}}."""
    position = {"language": 1, "key": 2}[by]
    grouped: dict[str, dict[str, float]] = {}
    for labels, value in counts.items():
        events = grouped.setdefault(labels[position], {})
        events[labels[0]] = events.get(labels[0], 0) + value
    return grouped


def acceptance_ratio(events: dict[str, float]) -> float | None:
    """Suggestions selected per suggestion viewed; None before any was viewed."""
    views = events.get("view", 0.0)
    return events.get("select", 0.0) / views if views else None


def _upstream_metrics(health: Health) -> Iterator[Metric]:
    upstream = health.upstream
    if upstream is None:
        return
    yield CounterMetricFamily(
        "fauxpilot_upstream_retries",
        "Requests sent to the upstream again after a replica failed them before a token",
        value=upstream.retries,
    )
    if upstream.replicas is not None:
        replicas = GaugeMetricFamily(
            "fauxpilot_upstream_replicas", "Replicas behind the upstream's router", labels=["state"]
        )
        healthy = upstream.healthy_replicas or 0
        replicas.add_metric(["healthy"], healthy)
        replicas.add_metric(["unhealthy"], upstream.replicas - healthy)
        yield replicas


class MetricsMiddleware:
    """Counts every HTTP request by route template and status, and times it to its last byte."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before responding

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = _route_template(scope)
            self.metrics.requests.labels(route, _method_label(scope), str(status)).inc()
            if route in GENERATION_ROUTES:
                self.metrics.key_requests.labels(scope_key_label(scope)).inc()
            self.metrics.request_seconds.labels(route).observe(time.perf_counter() - started)


# The methods HTTP defines; uvicorn accepts any token as a method, and each new label value
# would add a series for good, unauthenticated.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method_label(scope: Scope) -> str:
    method = str(scope.get("method", ""))
    return method if method in _KNOWN_METHODS else "other"


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    if isinstance(route, BaseRoute):
        return str(getattr(route, "path", UNMATCHED_ROUTE))
    return UNMATCHED_ROUTE


class MeteredEngine:
    """An Engine that counts tokens and times the first token of every sequence it runs."""

    def __init__(self, engine: Engine, metrics: Metrics) -> None:
        self._engine = engine
        self._metrics = metrics

    @property
    def model(self) -> ModelInfo:
        return self._engine.model

    @property
    def tokenizer(self) -> Tokenizer:
        return self._engine.tokenizer

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[EngineEvent, None]:
        started = time.perf_counter()
        first_token_seen = False
        generator = self._engine.generate(request)
        try:
            async for event in generator:
                if isinstance(event, PromptEvent):
                    self._metrics.record_prompt(event.prompt_tokens, event.cached_tokens)
                elif isinstance(event, TokenEvent) and not event.is_prompt:
                    if not first_token_seen:
                        first_token_seen = True
                        self._metrics.time_to_first_token.observe(time.perf_counter() - started)
                    self._metrics.record_completion_token()
                yield event
        finally:
            await generator.aclose()

    async def abort(self, request_id: str) -> None:
        await self._engine.abort(request_id)

    def health(self) -> Health:
        return self._engine.health()

    def start(self) -> None:
        self._engine.start()

    def close(self) -> None:
        self._engine.close()
