"""Answering a non-streamed request only while its client still waits for the answer.

Editors abandon requests on every keystroke (llama.vim, the Copilot plugins): the work of an
abandoned one is cancelled, which frees its sequences and KV slots at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request

T = TypeVar("T")

CLIENT_CLOSED = 499  # nginx's "client closed request": nobody reads it, the logs do
_POLL_SECONDS = 0.1


class ClientDisconnected(Exception):
    pass


async def until_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it (and so freeing its sequences) if the client goes away."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=_POLL_SECONDS)
            if done:
                return task.result()
            if await request.is_disconnected():
                raise ClientDisconnected
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
