"""Running the several sequences of one request together: interleaved, or all to the end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Item(Generic[T]):
    value: T


@dataclass
class _Failed:
    error: Exception


class _Done:
    pass


async def merge_streams(streams: list[AsyncGenerator[T, None]]) -> AsyncIterator[T]:
    """Yield items from all streams as they come; closing this closes them all."""
    if len(streams) == 1:
        async with aclosing(streams[0]) as only:
            async for value in only:
                yield value
        return
    queue: asyncio.Queue[_Item[T] | _Failed | _Done] = asyncio.Queue()

    async def pump(stream: AsyncGenerator[T, None]) -> None:
        try:
            async with aclosing(stream) as closing:
                async for value in closing:
                    await queue.put(_Item(value))
        except Exception as error:  # handed to the consumer, who re-raises it
            await queue.put(_Failed(error))
        finally:
            await queue.put(_Done())

    tasks = [asyncio.create_task(pump(stream)) for stream in streams]
    try:
        remaining = len(tasks)
        while remaining:
            item = await queue.get()
            if isinstance(item, _Done):
                remaining -= 1
            elif isinstance(item, _Failed):
                raise item.error
            else:
                yield item.value
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def gather_or_cancel(*awaitables: Awaitable[T]) -> list[T]:
    """All results, like asyncio.gather; but when one fails, the others are cancelled (and
    so free their slots) before the error goes on: gather alone leaves them running."""
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
