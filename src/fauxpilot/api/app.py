"""The FastAPI application factory; the engine is passed in, nothing is global."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fauxpilot import __version__
from fauxpilot.api import (
    chat,
    dashboard,
    editors,
    events,
    explain,
    llama_server,
    openai,
    operations,
)
from fauxpilot.api.admission import Admission
from fauxpilot.api.auth import ApiKeyAuth
from fauxpilot.api.config import ApiConfig
from fauxpilot.api.errors import install_error_handlers
from fauxpilot.api.history import MetricsHistory
from fauxpilot.api.hosts import HostCheck
from fauxpilot.api.limits import BodySizeLimit
from fauxpilot.api.metrics import MeteredEngine, Metrics, MetricsMiddleware
from fauxpilot.api.recent import PromptExplanations
from fauxpilot.api.state import AppState
from fauxpilot.completion.service import CompletionService
from fauxpilot.completion.types import CompletionOptions
from fauxpilot.engine.base import Engine
from fauxpilot.logs import request_id_var
from fauxpilot.web.routes import install_pages

log = logging.getLogger(__name__)


class RequestIdMiddleware:
    """Adds `x-request-id` (the client's, or a new one) and `openai-processing-ms`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"")
        request_id = (
            incoming[:128] if incoming.isascii() and incoming else uuid.uuid4().hex.encode()
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed_ms = int((time.perf_counter() - started) * 1000)
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id))
                headers.append((b"openai-processing-ms", str(elapsed_ms).encode()))
                message["headers"] = headers
            await send(message)

        token = request_id_var.set(request_id.decode())
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            request_id_var.reset(token)


def create_app(
    engine: Engine,
    model_name: str,
    options: CompletionOptions | None = None,
    *,
    config: ApiConfig | None = None,
    load_in_background: bool = True,
    on_start_failure: Callable[[BaseException], None] | None = None,
) -> FastAPI:
    """The HTTP app around an engine; the lifespan loads the model and closes it.

    A model that fails to load (or to decode its first token) leaves `/health` at `failed`,
    and `on_start_failure`, when given, is told why (the server then stops itself).
    """
    config = config or ApiConfig()
    metrics = Metrics()
    metrics.watch_engine(engine)
    metered = MeteredEngine(engine, metrics)
    history = MetricsHistory(metrics.registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.create_task(asyncio.to_thread(_start_engine, engine, on_start_failure))
        recording = asyncio.create_task(history.run())
        if not load_in_background:
            await loading
        try:
            yield
        finally:
            recording.cancel()
            await asyncio.gather(loading, recording, return_exceptions=True)
            await asyncio.to_thread(engine.close)

    # FastAPI's own /docs loads Swagger UI from a CDN (blank when air-gapped): web/ serves it.
    app = FastAPI(
        title="FauxPilot", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    service = CompletionService(metered, options)
    metrics.watch_typeahead(lambda: service.typeahead_hits)
    app.state.fauxpilot = AppState(
        metered,
        service,
        model_name,
        metrics,
        history,
        config.cache_per_key,
        explanations=PromptExplanations() if config.explain_prompts else None,
    )
    install_error_handlers(app)
    for module in (openai, editors, llama_server, chat, operations, events, explain, dashboard):
        app.include_router(module.router)
    install_pages(app)
    # Added innermost first: a request meets them in the reverse order.
    app.add_middleware(
        Admission,
        max_total=config.max_concurrent_requests,
        max_per_key=config.max_concurrent_per_key,
        timeout_seconds=config.request_timeout_seconds,
        on_refused=metrics.count_refusal,
    )
    app.add_middleware(BodySizeLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(ApiKeyAuth, keys=config.api_keys)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(HostCheck, allowed=config.allowed_hosts)
    app.add_middleware(RequestIdMiddleware)
    return app


def _start_engine(engine: Engine, on_failure: Callable[[BaseException], None] | None) -> None:
    try:
        engine.start()
    except Exception as error:
        log.exception("loading the model failed")
        if on_failure is not None:
            on_failure(error)
