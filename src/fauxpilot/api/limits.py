"""A bound on request bodies, enforced before anything parses them."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fauxpilot.api.config import DEFAULT_MAX_BODY_BYTES
from fauxpilot.api.errors import error_body, send_error


class BodySizeLimit:
    """Answers 413 in OpenAI's error shape when a body is larger than `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        # Read the whole (bounded) body first: parsers would turn an error raised while they
        # read it into a generic 400.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], None, receive), send)

    async def _refuse(self, send: Send) -> None:
        body = error_body(
            f"The request body is larger than {self.max_bytes} bytes.",
            "invalid_request_error",
            code="request_too_large",
        )
        await send_error(send, 413, body)


def _replay(messages: list[Message], last: Message | None, receive: Receive) -> Receive:
    """A `receive` that first hands out `messages` (and `last`), then the real one."""
    queue = [*messages, *([last] if last is not None else [])]

    async def replayed() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replayed
