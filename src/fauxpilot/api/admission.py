"""Admitting generation requests: bounds in flight (429 per key, 503 in all) and deadlines."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fauxpilot.api.auth import KEY_SCOPE_ENTRY, key_label
from fauxpilot.api.errors import error_body, send_error

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
# Refusal reasons, as the metrics count them.
REFUSED_PER_KEY = "per_key_limit"
REFUSED_TOTAL = "total_limit"
REFUSED_DEADLINE = "deadline"


def is_generation(scope: Scope) -> bool:
    """Every POST route generates text; GETs (models, health, metrics) are cheap."""
    return scope["type"] == "http" and str(scope["method"]) == "POST"


class Admission:
    """Bounds generation requests in flight, and cancels any that outlive the deadline.

    Requests past a bound are refused at once with `Retry-After`, so a burst never piles up
    unbounded work: 429 when one key has too many in flight, 503 when the server has.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_total: int,
        max_per_key: int,
        timeout_seconds: float,
        on_refused: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self.app = app
        self.max_total = max_total
        self.max_per_key = max_per_key
        self.timeout_seconds = timeout_seconds
        self.on_refused = on_refused
        self.in_flight: Counter[str] = Counter()

    @property
    def total_in_flight(self) -> int:
        return sum(self.in_flight.values())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_generation(scope):
            await self.app(scope, receive, send)
            return
        key = key_label(scope.get(KEY_SCOPE_ENTRY))
        refusal = self._refusal(key)
        if refusal is not None:
            status, reason, body = refusal
            self.on_refused(reason)
            retry = [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
            await send_error(send, status, body, retry)
            return
        self.in_flight[key] += 1
        try:
            await self._run_with_deadline(scope, receive, send)
        finally:
            self.in_flight[key] -= 1
            if not self.in_flight[key]:
                del self.in_flight[key]

    def _refusal(self, key: str) -> tuple[int, str, dict[str, object]] | None:
        if self.in_flight[key] >= self.max_per_key:
            message = (
                f"Too many requests in flight for this API key (at most {self.max_per_key}). "
                "Retry after the ones running have finished."
            )
            return 429, REFUSED_PER_KEY, error_body(message, "requests", code="rate_limit_exceeded")
        if self.total_in_flight >= self.max_total:
            message = (
                f"The server is at its limit of {self.max_total} requests in flight. "
                "Retry in a moment."
            )
            return 503, REFUSED_TOTAL, error_body(message, "server_error", code="overloaded")
        return None

    async def _run_with_deadline(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.timeout_seconds <= 0:
            await self.app(scope, receive, send)
            return
        response = _ResponseTracker(send)
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await self.app(scope, receive, response.send)
        except TimeoutError:
            # Leaving the app cancelled its work; the engine frees the sequence on cancel.
            self.on_refused(REFUSED_DEADLINE)
            log.warning("request cancelled after its %.0f s deadline", self.timeout_seconds)
            await response.end_with_timeout(self.timeout_seconds)


class _ResponseTracker:
    """Remembers how far a response got, so a deadline can end it in the right way."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.finished = False
        self.streaming = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            headers = dict(message.get("headers", []))
            self.streaming = headers.get(b"content-type", b"").startswith(b"text/event-stream")
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.finished = True
        await self._send(message)

    async def end_with_timeout(self, seconds: float) -> None:
        message = f"The request did not finish within the server's deadline of {seconds:g} s."
        body = error_body(message, "server_error", code="timeout")
        if not self.started:
            await send_error(self._send, 504, body)
        elif not self.finished:
            # A stream already answered 200: say why it ends, in the stream, then end it.
            tail = f"data: {json.dumps(body)}\n\n".encode() if self.streaming else b""
            await self._send({"type": "http.response.body", "body": tail, "more_body": False})
