"""One request's events, carried from an engine's own thread to the asyncio side."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from fauxpilot.engine.base import EngineError, EngineEvent

# How a worker hands one request an event, or the error that ends it, from any thread.
Emit = Callable[[EngineEvent | BaseException], None]


class EventBridge:
    """Made inside the request's coroutine; `emit` may be called from any thread."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[EngineEvent | BaseException] = asyncio.Queue()

    def emit(self, event: EngineEvent | BaseException) -> None:
        # RuntimeError: the loop is gone, so nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    async def next(self) -> EngineEvent:
        """The next event; an error the engine thread delivered is raised as EngineError."""
        event = await self._queue.get()
        if isinstance(event, EngineError):
            raise event  # keeps its kind: overloaded, crashed, ...
        if isinstance(event, BaseException):
            raise EngineError(str(event)) from event
        return event
