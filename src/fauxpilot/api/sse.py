"""Server-sent events as the OpenAI streaming API sends them."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fauxpilot.api.errors import api_error_for

log = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"


def event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


async def with_done(chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    """Encode chunks; an error mid-stream becomes one error event; always end with [DONE]."""
    try:
        async for chunk in chunks:
            yield event(chunk)
    except Exception as error:  # the status line is sent already: report in-band
        yield event(api_error_for(error).body())
    yield DONE
