"""``TurnBatcher``: the keys asked for in one event-loop turn are fetched together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from jinli.platform.batching import TurnBatcher


class Source:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[int]] = []
        self.fail = fail

    async def fetch(self, keys: Sequence[int]) -> dict[int, str]:
        self.calls.append(list(keys))
        await asyncio.sleep(0)
        if self.fail:
            raise LookupError("database down")
        return {k: f"v{k}" for k in keys if k % 2 == 0}  # odd keys do not exist


async def test_one_turn_is_one_fetch_and_each_caller_gets_its_answer() -> None:
    source = Source()
    batcher: TurnBatcher[int, str] = TurnBatcher(source.fetch)
    answers = await asyncio.gather(*[batcher.get(k) for k in [2, 3, 4, 2]])
    assert answers == ["v2", None, "v4", "v2"]
    assert source.calls == [[2, 3, 4]]  # one fetch, a repeated key asked once


async def test_later_turns_fetch_again_and_large_turns_are_split() -> None:
    source = Source()
    batcher: TurnBatcher[int, str] = TurnBatcher(source.fetch, max_batch=3)
    assert await batcher.get(8) == "v8"
    assert await asyncio.gather(*[batcher.get(k) for k in range(10, 17)]) == [
        "v10",
        None,
        "v12",
        None,
        "v14",
        None,
        "v16",
    ]
    assert source.calls == [[8], [10, 11, 12], [13, 14, 15], [16]]


async def test_a_failed_fetch_fails_every_caller_of_its_batch_only() -> None:
    source = Source(fail=True)
    batcher: TurnBatcher[int, str] = TurnBatcher(source.fetch)
    results = await asyncio.gather(batcher.get(1), batcher.get(2), return_exceptions=True)
    assert [type(r) for r in results] == [LookupError, LookupError]
    source.fail = False
    assert await batcher.get(2) == "v2"


async def test_a_cancelled_fetch_cancels_its_callers() -> None:
    started = asyncio.Event()

    async def hang(keys: Sequence[int]) -> dict[int, str]:
        started.set()
        await asyncio.sleep(3600)
        return {}

    batcher: TurnBatcher[int, str] = TurnBatcher(hang)
    waiter = asyncio.ensure_future(batcher.get(1))
    await started.wait()
    for task in list(batcher._running):
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
