"""Admitting generation requests: bounds on sequences in flight (429 per key, 503 in all)
and deadlines.

A request holds one unit of the bounds from the moment it arrives; once its body says how
many sequences it runs (prompts times `n` or `best_of`), `Admitted.count_sequences` widens
its hold to that many, so one key cannot fill the shared queue with a few wide requests.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fauxpilot.api.auth import KEY_SCOPE_ENTRY, key_label
from fauxpilot.api.errors import APIError, error_body, send_error

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
# Refusal reasons, as the metrics count them.
REFUSED_PER_KEY = "per_key_limit"
REFUSED_TOTAL = "total_limit"
REFUSED_DEADLINE = "deadline"
# Where a request's Admitted lives in its ASGI scope.
ADMITTED_SCOPE_ENTRY = "fauxpilot.admitted"


class LimitRefused(APIError):
    """A request past a bound: 429 (its key) or 503 (the server), retry after a moment."""

    def __init__(self, status: int, reason: str, message: str, type_: str, code: str) -> None:
        super().__init__(status, message, type_, code=code)
        self.reason = reason  # as the metrics count refusals
        self.headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}


def is_generation(scope: Scope) -> bool:
    """Every POST route generates text; GETs (models, health, metrics) are cheap."""
    return scope["type"] == "http" and str(scope["method"]) == "POST"


class Admission:
    """Bounds generation sequences in flight, and cancels requests that outlive the deadline.

    Requests past a bound are refused at once with `Retry-After`, so a burst never piles up
    unbounded work: 429 when one key has too many in flight, 503 when the server has. A
    request wider than a bound on its own can never run: a 400 naming `n`.
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
            self.on_refused(refusal.reason)
            retry = [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
            await send_error(send, refusal.status, refusal.body(), retry)
            return
        admitted = Admitted(self, key)
        self.in_flight[key] += 1
        scope[ADMITTED_SCOPE_ENTRY] = admitted
        try:
            await self._run_with_deadline(scope, receive, send)
        finally:
            self.in_flight[key] -= admitted.units
            if not self.in_flight[key]:
                del self.in_flight[key]

    def widen(self, admitted: Admitted, sequences: int) -> None:
        """Let `admitted` hold `sequences` units, or raise LimitRefused / APIError (400)."""
        bound = min(self.max_per_key, self.max_total)
        if sequences > bound:
            message = (
                f"This request runs {sequences} sequences (prompts times n or best_of); the "
                f"server runs at most {bound} at once for one API key. Send fewer."
            )
            raise APIError(400, message, param="n", code="limit_exceeded")
        extra = sequences - admitted.units
        if extra <= 0:
            return
        refusal = self._refusal(admitted.key, extra)
        if refusal is not None:
            self.on_refused(refusal.reason)
            raise refusal
        self.in_flight[admitted.key] += extra
        admitted.units = sequences

    def _refusal(self, key: str, units: int = 1) -> LimitRefused | None:
        if self.in_flight[key] + units > self.max_per_key:
            message = (
                f"Too many sequences in flight for this API key (at most {self.max_per_key}; "
                "each request counts its prompts times n). "
                "Retry after the ones running have finished."
            )
            return LimitRefused(429, REFUSED_PER_KEY, message, "requests", "rate_limit_exceeded")
        if self.total_in_flight + units > self.max_total:
            message = (
                f"The server is at its limit of {self.max_total} sequences in flight. "
                "Retry in a moment."
            )
            return LimitRefused(503, REFUSED_TOTAL, message, "server_error", "overloaded")
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


@dataclass
class Admitted:
    """One admitted request's hold on the bounds: a unit for each sequence it runs."""

    admission: Admission
    key: str
    units: int = 1

    def count_sequences(self, sequences: int) -> None:
        """Hold `sequences` units (LimitRefused when the bounds have no room for them)."""
        self.admission.widen(self, sequences)


def admitted_of(scope: Scope) -> Admitted | None:
    """The request's Admitted (None outside the Admission middleware, as in unit tests)."""
    admitted = scope.get(ADMITTED_SCOPE_ENTRY)
    return admitted if isinstance(admitted, Admitted) else None


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
