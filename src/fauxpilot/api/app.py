"""The FastAPI application factory; the engine is passed in, nothing is global."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fauxpilot import __version__
from fauxpilot.api import chat, editors, llamacpp, openai
from fauxpilot.api.errors import install_error_handlers
from fauxpilot.api.limits import DEFAULT_MAX_BODY_BYTES, BodySizeLimit
from fauxpilot.api.state import AppState
from fauxpilot.completion.service import CompletionService
from fauxpilot.completion.types import CompletionOptions
from fauxpilot.engine.base import Engine

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

        await self.app(scope, receive, send_with_headers)


def create_app(
    engine: Engine,
    model_name: str,
    options: CompletionOptions | None = None,
    *,
    load_in_background: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """The HTTP app around an engine; the lifespan loads the model and closes it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.create_task(asyncio.to_thread(_start_engine, engine))
        if not load_in_background:
            await loading
        try:
            yield
        finally:
            await asyncio.gather(loading, return_exceptions=True)
            await asyncio.to_thread(engine.close)

    app = FastAPI(title="FauxPilot", version=__version__, lifespan=lifespan)
    app.state.fauxpilot = AppState(engine, CompletionService(engine, options), model_name)
    install_error_handlers(app)
    app.include_router(openai.router)
    app.include_router(editors.router)
    app.include_router(llamacpp.router)
    app.include_router(chat.router)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app


def _start_engine(engine: Engine) -> None:
    try:
        engine.start()
    except Exception:
        log.exception("loading the model failed")
