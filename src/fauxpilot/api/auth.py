"""API keys: `Authorization: Bearer KEY` (or `token KEY`, as Copilot agents send) or `api-key`."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from contextvars import ContextVar

from starlette.types import ASGIApp, Receive, Scope, Send

from fauxpilot.api.errors import error_body, send_error
from fauxpilot.completion.types import CompletionJob
from fauxpilot.web.routes import is_page_path

# Paths anyone may call: load balancers and orchestrators probe health without a key.
OPEN_PATHS = frozenset({"/health"})
KEY_SCOPE_ENTRY = "fauxpilot.key"
ANONYMOUS = "anonymous"
# The label of the key the request being served came with (ANONYMOUS with keys off): the
# token counts per key are made where the tokens are, far from the request's scope.
current_key_label: ContextVar[str] = ContextVar("current_key_label", default=ANONYMOUS)


def presented_key(headers: dict[bytes, bytes]) -> str | None:
    """The key a request carries, from `Authorization` (Bearer or token) or `api-key`."""
    authorization = headers.get(b"authorization", b"").decode("latin-1").strip()
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() in ("bearer", "token") and credentials.strip():
        return credentials.strip()
    api_key = headers.get(b"api-key", b"").decode("latin-1").strip()
    return api_key or None


def key_label(key: str | None) -> str:
    """A name for a key that is safe to log and to use as a metric label."""
    if key is None:
        return ANONYMOUS
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]


def scope_key_label(scope: Scope) -> str:
    """The label of the key a request came with (ANONYMOUS with keys off or on an open path)."""
    key = scope.get(KEY_SCOPE_ENTRY)
    return key_label(key if isinstance(key, str) else None)


class KeyChecker:
    """Compares a presented key against every configured key in constant time."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._digests = [hashlib.sha256(key.encode()).digest() for key in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def accepts(self, key: str | None) -> bool:
        if key is None:
            return False
        presented = hashlib.sha256(key.encode()).digest()
        matched = False
        for digest in self._digests:  # no early exit: timing does not tell which key matched
            matched |= hmac.compare_digest(presented, digest)
        return matched


class ApiKeyAuth:
    """Answers 401 in OpenAI's error shape unless the request carries a configured key.

    Records the key's label in the scope for the limits and metrics further in.
    """

    def __init__(self, app: ASGIApp, keys: tuple[str, ...] = ()) -> None:
        self.app = app
        self.checker = KeyChecker(keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = presented_key(dict(scope.get("headers", [])))
        if self.checker.enabled and not _open_path(scope["path"]):
            if not self.checker.accepts(key):
                await _refuse(send, key is None)
                return
            scope[KEY_SCOPE_ENTRY] = key
        scope.setdefault(KEY_SCOPE_ENTRY, None)
        label = current_key_label.set(scope_key_label(scope))
        try:
            await self.app(scope, receive, send)
        finally:
            current_key_label.reset(label)


def _open_path(path: str) -> bool:
    return path in OPEN_PATHS or is_page_path(path)


async def _refuse(send: Send, missing: bool) -> None:
    message = (
        "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'."
        if missing
        else "Incorrect API key provided."
    )
    body = error_body(message, "invalid_request_error", code="invalid_api_key")
    await send_error(send, 401, body, [(b"www-authenticate", b'Bearer realm="fauxpilot"')])


def with_cache_scope(job: CompletionJob, scope: Scope, per_key: bool = True) -> CompletionJob:
    """The job, limited to the caches of the key it came with (when keys are on)."""
    key = scope.get(KEY_SCOPE_ENTRY)
    if not per_key or key is None:
        return job
    return dataclasses.replace(job, cache_scope=key_label(key))
