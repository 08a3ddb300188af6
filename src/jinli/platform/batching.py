"""Coalesce the lookups of one event-loop turn into one query.

Under load many requests ask the same kind of question at once (is this code genuine, of
which batch?). Asked one by one each costs a round trip and a statement; asked together they
cost one. ``TurnBatcher`` collects the keys asked for during one turn of the event loop and
answers them all from one call of ``fetch``; a lone request waits for nothing but the next
turn (``call_soon``), so at low load it costs what a direct call costs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TurnBatcher(Generic[K, V]):
    """``await get(key)`` → ``fetch([keys of this turn…])[key]`` (``None`` when absent).

    ``fetch`` must answer every key it found and may leave out the ones it did not. If it
    raises, every caller of that batch gets the exception. Batches above ``max_batch`` keys
    are split, and batches of different turns may run concurrently."""

    def __init__(
        self, fetch: Callable[[Sequence[K]], Awaitable[dict[K, V]]], *, max_batch: int = 500
    ) -> None:
        self._fetch = fetch
        self._max_batch = max_batch
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        self._scheduled = False
        self._running: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V | None] = loop.create_future()
        self._waiting.setdefault(key, []).append(future)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        waiting, self._waiting = self._waiting, {}
        keys = list(waiting)
        for start in range(0, len(keys), self._max_batch):
            batch = {k: waiting[k] for k in keys[start : start + self._max_batch]}
            task = asyncio.get_running_loop().create_task(self._answer(batch))
            self._running.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(self._running.discard)

    async def _answer(self, waiting: dict[K, list[asyncio.Future[V | None]]]) -> None:
        try:
            found = await self._fetch(list(waiting))
        except asyncio.CancelledError:
            for future in _all(waiting):
                future.cancel()
            raise
        except Exception as exc:
            for future in _all(waiting):
                if not future.done():
                    future.set_exception(exc)
            return
        for key, futures in waiting.items():
            value = found.get(key)
            for future in futures:
                if not future.done():
                    future.set_result(value)


def _all(waiting: dict[K, list[asyncio.Future[V | None]]]) -> list[asyncio.Future[V | None]]:
    return [future for futures in waiting.values() for future in futures]
