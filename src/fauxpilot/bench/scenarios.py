"""The benchmark scenarios: each runs against one server URL and returns its figures."""

from __future__ import annotations

import logging
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from fauxpilot.bench.client import BenchClient
from fauxpilot.bench.workload import (
    SOURCE_MODULES,
    Keystroke,
    cold_request,
    random_line_session,
    stdlib_source,
    typing_session,
)

log = logging.getLogger(__name__)

DECODE_PROMPT = "# The first 200 prime numbers\nPRIMES = [\n    2,\n    3,\n    5,\n    7,\n"


@dataclass(frozen=True)
class BenchConfig:
    keystrokes: int = 30
    editors: int = 4
    editor_keystrokes: int = 12
    max_tokens: int = 24
    stop: tuple[str, ...] = ()  # of the keystroke requests
    decode_tokens: int = 128
    decode_runs: int = 3


@dataclass
class ScenarioResult:
    name: str
    latencies: list[float] = field(default_factory=list)
    first_tokens: list[float] = field(default_factory=list)  # of streamed requests
    completion_tokens: int = 0
    wall_seconds: float = 0.0
    tokens_per_second: float = 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.latencies) if self.latencies else 0.0

    @property
    def first_token_median(self) -> float | None:
        return statistics.median(self.first_tokens) if self.first_tokens else None

    @property
    def first(self) -> float:
        return self.latencies[0] if self.latencies else 0.0

    @property
    def p90(self) -> float:
        if len(self.latencies) < 2:
            return self.median
        return statistics.quantiles(self.latencies, n=10)[-1]


def run_typing(client: BenchClient, config: BenchConfig) -> ScenarioResult:
    session = typing_session(stdlib_source(SOURCE_MODULES[0]), config.keystrokes)
    return _run_session("typing", client, session, config.max_tokens)


def run_unpredictable(client: BenchClient, config: BenchConfig) -> ScenarioResult:
    """Streamed, so that the time to the first token shows the model's work before decoding
    the suggestion (reading the keystroke's prompt); the rest of a keystroke is decoding."""
    session = random_line_session(stdlib_source(SOURCE_MODULES[1]), config.keystrokes)
    return _run_session("unpredictable line", client, session, config.max_tokens, streamed=True)


def _run_session(
    name: str,
    client: BenchClient,
    session: list[Keystroke],
    max_tokens: int,
    streamed: bool = False,
) -> ScenarioResult:
    result = ScenarioResult(name)
    started = time.perf_counter()
    for keystroke in session:
        if streamed:
            timing = client.complete_streamed(keystroke, max_tokens)
        else:
            timing = client.complete(keystroke, max_tokens)
        result.latencies.append(timing.seconds)
        if timing.first_token_seconds is not None:
            result.first_tokens.append(timing.first_token_seconds)
        result.completion_tokens += timing.completion_tokens
    result.wall_seconds = time.perf_counter() - started
    log.info("%s: median %.3f s over %d requests", name, result.median, len(session))
    return result


def run_concurrent_editors(client: BenchClient, config: BenchConfig) -> ScenarioResult:
    """Several editors retyping their own files at once."""
    sessions = [
        typing_session(stdlib_source(module), config.editor_keystrokes, start_fraction=0.4)
        for module in SOURCE_MODULES[: config.editors]
    ]
    return _run_editors(f"{config.editors} concurrent editors", client, sessions, config)


def run_unpredictable_editors(client: BenchClient, config: BenchConfig) -> ScenarioResult:
    """Several editors at once, each writing a line the model cannot predict in its file."""
    sessions = [
        random_line_session(stdlib_source(module), config.editor_keystrokes, seed=index)
        for index, module in enumerate(SOURCE_MODULES[: config.editors])
    ]
    return _run_editors(f"{config.editors} editors, unpredictable lines", client, sessions, config)


def _run_editors(
    name: str, client: BenchClient, sessions: list[list[Keystroke]], config: BenchConfig
) -> ScenarioResult:
    result = ScenarioResult(name)

    def type_session(index: int) -> list[tuple[float, int]]:
        return [
            (timing.seconds, timing.completion_tokens)
            for timing in (client.complete(k, config.max_tokens) for k in sessions[index])
        ]

    started = time.perf_counter()
    with ThreadPoolExecutor(len(sessions)) as pool:
        per_editor = list(pool.map(type_session, range(len(sessions))))
    result.wall_seconds = time.perf_counter() - started
    for timings in per_editor:
        result.latencies.extend(seconds for seconds, _ in timings)
        result.completion_tokens += sum(tokens for _, tokens in timings)
    result.tokens_per_second = result.completion_tokens / result.wall_seconds
    log.info("%s: median %.3f s", result.name, result.median)
    return result


def run_decode(client: BenchClient, config: BenchConfig) -> ScenarioResult:
    """Best of several streamed runs: tokens after the first, over the time after the first."""
    result = ScenarioResult(f"raw decode, {config.decode_tokens} tokens")
    rates = []
    for _ in range(config.decode_runs):
        timing = client.stream(DECODE_PROMPT, config.decode_tokens)
        result.latencies.append(timing.total_seconds)
        result.completion_tokens += timing.completion_tokens
        decode_seconds = timing.total_seconds - timing.first_token_seconds
        if timing.chunks > 1 and decode_seconds > 0:
            rates.append((timing.chunks - 1) / decode_seconds)
    result.tokens_per_second = max(rates, default=0.0)
    log.info("%s: %.1f tokens/s", result.name, result.tokens_per_second)
    return result


def run_cold(client: BenchClient, config: BenchConfig) -> ScenarioResult:
    keystroke = cold_request(stdlib_source(SOURCE_MODULES[2]), uuid.uuid4().hex)
    timing = client.complete(keystroke, config.max_tokens)
    result = ScenarioResult("cold 1,200-token FIM request", [timing.seconds])
    result.completion_tokens = timing.completion_tokens
    log.info("%s: %.3f s", result.name, timing.seconds)
    return result


SCENARIOS = {
    "decode": run_decode,
    "typing": run_typing,
    "unpredictable": run_unpredictable,
    "concurrent": run_concurrent_editors,
    "unpredictable-editors": run_unpredictable_editors,
    "cold": run_cold,
}
