"""Server-sent events as the OpenAI streaming API (and llama.cpp's server) send them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

from fauxpilot.api.errors import api_error_for

DONE = b"data: [DONE]\n\n"
# Proxies must pass each event on at once: nginx buffers a response unless told not to, and
# a cached stream would be replayed to the next client.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


async def encode_events(
    chunks: AsyncIterator[dict[str, Any]], *, done_marker: bool = True
) -> AsyncIterator[bytes]:
    """Encode chunks; an error mid-stream becomes one error event (the status line is sent
    already, so it is reported in-band); then `[DONE]`, unless the API has none."""
    try:
        async for chunk in chunks:
            yield event(chunk)
    except Exception as error:
        yield event(api_error_for(error).body())
    if done_marker:
        yield DONE


def event_stream(
    chunks: AsyncIterator[dict[str, Any]], *, done_marker: bool = True
) -> StreamingResponse:
    return StreamingResponse(
        encode_events(chunks, done_marker=done_marker),
        media_type="text/event-stream",
        headers=STREAM_HEADERS,
    )
