"""What the routers share: the engine, the completion service and the served model's name."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import Request

from fauxpilot.api.auth import scope_key_label, with_cache_scope
from fauxpilot.api.history import MetricsHistory
from fauxpilot.api.metrics import Metrics
from fauxpilot.api.recent import PromptExplanations, RecentCompletions
from fauxpilot.completion.explain import explain
from fauxpilot.completion.languages import rules_for
from fauxpilot.completion.service import CompletionService, PreparedJob
from fauxpilot.completion.types import CompletionJob
from fauxpilot.engine.base import Engine, EngineNotReady


@dataclass
class AppState:
    engine: Engine
    service: CompletionService
    model_name: str
    metrics: Metrics
    cache_per_key: bool = True  # keys on: each key reuses only its own caches
    # Off (None) unless the server may show callers the prompts it built (--explain-prompts).
    explanations: PromptExplanations | None = None
    recent: RecentCompletions = field(default_factory=RecentCompletions)
    history: MetricsHistory | None = None
    # Prompts tokenized at once, off the event loop: a few large ones must not stall every
    # client, nor all compete for the CPU together.
    _preparing: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))

    async def prepare(self, job: CompletionJob) -> PreparedJob:
        """The job's token prompts (CompletionService.prepare), computed in a worker thread."""
        async with self._preparing:
            return await asyncio.to_thread(self.service.prepare, job)

    def remember(self, prepared: PreparedJob, request: Request) -> None:
        """Note a served job's language for its events, and its prompt when allowed."""
        job = prepared.job
        self.recent.remember(job.request_id, rules_for(job.language, job.path).id)
        if self.explanations is not None:
            explanation = explain(
                prepared, self.engine.model, self.engine.tokenizer, self.service.options
            )
            self.explanations.keep(scope_key_label(request.scope), explanation)

    def scoped(self, job: CompletionJob, request: Request) -> CompletionJob:
        return with_cache_scope(job, request.scope, self.cache_per_key)

    def require_ready(self) -> None:
        health = self.engine.health()
        if not health.ready:
            raise EngineNotReady(f"the model is not ready ({health.status}) {health.detail}")


def app_state(request: Request) -> AppState:
    state = request.app.state.fauxpilot
    assert isinstance(state, AppState)
    return state
