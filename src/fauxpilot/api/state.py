"""What the routers share: the engine, the completion service and the served model's name."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import Request

from fauxpilot.api.auth import scope_key_label, with_cache_scope
from fauxpilot.api.history import MetricsHistory
from fauxpilot.api.metrics import Metrics
from fauxpilot.api.recent import PromptExplanations, RecentCompletions
from fauxpilot.completion.explain import PromptExplanation, explain
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
    history: MetricsHistory  # the last hour of `metrics`, for the dashboard
    cache_per_key: bool = True  # keys on: each key reuses only its own caches
    # Off (None) unless the server may show callers the prompts it built (--explain-prompts).
    explanations: PromptExplanations | None = None
    recent: RecentCompletions = field(default_factory=RecentCompletions)
    # Prompts tokenized at once, off the event loop: a few large ones must not stall every
    # client, nor all compete for the CPU together.
    _preparing: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))

    async def prepare(self, job: CompletionJob, request: Request) -> PreparedJob:
        """The job's token prompts (CompletionService.prepare), computed in a worker thread
        with its explanation when allowed, and remembered for the pages: the language for
        its events, the explanation for the caller's key."""
        async with self._preparing:
            prepared, explanation = await asyncio.to_thread(self._prepare_and_explain, job)
        self.recent.remember(job.request_id, rules_for(job.language, job.path).id)
        if self.explanations is not None and explanation is not None:
            self.explanations.keep(scope_key_label(request.scope), explanation)
        return prepared

    def _prepare_and_explain(
        self, job: CompletionJob
    ) -> tuple[PreparedJob, PromptExplanation | None]:
        prepared = self.service.prepare(job)
        if self.explanations is None:
            return prepared, None
        model, tokenizer = self.engine.model, self.engine.tokenizer
        return prepared, explain(prepared, model, tokenizer, self.service.options)

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
