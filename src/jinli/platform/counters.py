"""Expiring counters for throttles and velocity limits: Redis in production, the DB otherwise.

Both stores do the increment as one atomic step (Redis ``INCR`` in a transaction; one SQL
upsert), so concurrent requests can never both slip under a limit (I6).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from redis.asyncio import Redis
from sqlalchemy import ColumnElement, String, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from jinli.kernel.clock import Clock
from jinli.platform.db.base import Base


class RateCounter(Base):
    """A fixed-window counter for the database-backed store."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)


class CounterStore(Protocol):
    async def hit(self, key: str, window_seconds: int) -> int:
        """Add one to ``key`` and return the new count; the count resets after the window."""
        ...

    async def peek(self, key: str) -> int:
        """The current count (0 if expired or never hit)."""
        ...

    async def peek_many(self, keys: Sequence[str]) -> list[int]:
        """``peek`` of each key, in order, in one round trip where the store allows."""
        ...

    async def reset(self, key: str) -> None: ...


class RedisCounterStore:
    def __init__(self, redis: Redis, prefix: str = "jinli:ctr:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def hit(self, key: str, window_seconds: int) -> int:
        full = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(full)
            pipe.expire(full, window_seconds, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def peek(self, key: str) -> int:
        value = await self._redis.get(self._prefix + key)
        return int(value) if value is not None else 0

    async def peek_many(self, keys: Sequence[str]) -> list[int]:
        # A pipeline of GETs, not MGET: the keys may live in different cluster slots.
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(self._prefix + key)
            values = await pipe.execute()
        return [int(v) if v is not None else 0 for v in values]

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


class DbCounterStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock

    async def hit(self, key: str, window_seconds: int) -> int:
        now = self._clock.now()
        async with self._sessionmaker() as session:
            session.info["system"] = True
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            stmt = insert(RateCounter).values(
                key=key, count=1, expires_at=now + timedelta(seconds=window_seconds)
            )
            # An expired window restarts at 1; a live one adds 1. One statement, so atomic.
            upsert = stmt.on_conflict_do_update(
                index_elements=[RateCounter.key],
                set_={
                    "count": _case_expired(stmt, now, 1, RateCounter.count + 1),
                    "expires_at": _case_expired(
                        stmt, now, stmt.excluded.expires_at, RateCounter.expires_at
                    ),
                },
            ).returning(RateCounter.count)
            count = (await session.execute(upsert)).scalar_one()
            await session.commit()
        return int(count)

    async def peek(self, key: str) -> int:
        now = self._clock.now()
        async with self._sessionmaker() as session:
            session.info["system"] = True
            row = await session.scalar(
                select(RateCounter.count).where(
                    RateCounter.key == key, RateCounter.expires_at > now
                )
            )
            await session.rollback()
        return int(row or 0)

    async def peek_many(self, keys: Sequence[str]) -> list[int]:
        now = self._clock.now()
        async with self._sessionmaker() as session:
            session.info["system"] = True
            rows = await session.execute(
                select(RateCounter.key, RateCounter.count).where(
                    RateCounter.key.in_(keys), RateCounter.expires_at > now
                )
            )
            counts = {key: int(count) for key, count in rows}
            await session.rollback()
        return [counts.get(key, 0) for key in keys]

    async def reset(self, key: str) -> None:
        async with self._sessionmaker() as session:
            session.info["system"] = True
            await session.execute(delete(RateCounter).where(RateCounter.key == key))
            await session.commit()


def _case_expired(stmt: Any, now: datetime, if_expired: Any, otherwise: Any) -> ColumnElement[Any]:
    return case((RateCounter.expires_at <= now, if_expired), else_=otherwise)


class MemoryCounterStore:
    """Counters in this process's memory: the SQLite deployment is a single server process.

    (A database-backed store would need its own connection, and SQLite allows one writer, so a
    counter bumped inside an open request transaction would wait on itself.)
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._counts: dict[str, tuple[int, datetime]] = {}

    def _live(self, key: str) -> tuple[int, datetime] | None:
        entry = self._counts.get(key)
        if entry is not None and entry[1] <= self._clock.now():
            del self._counts[key]
            return None
        return entry

    async def hit(self, key: str, window_seconds: int) -> int:
        entry = self._live(key)
        if entry is None:
            entry = (0, self._clock.now() + timedelta(seconds=window_seconds))
        self._counts[key] = (entry[0] + 1, entry[1])
        if len(self._counts) > 100_000:
            self._sweep()
        return entry[0] + 1

    async def peek(self, key: str) -> int:
        entry = self._live(key)
        return entry[0] if entry else 0

    async def peek_many(self, keys: Sequence[str]) -> list[int]:
        return [await self.peek(key) for key in keys]

    async def reset(self, key: str) -> None:
        self._counts.pop(key, None)

    def _sweep(self) -> None:
        now = self._clock.now()
        for key in [k for k, (_, exp) in self._counts.items() if exp <= now]:
            del self._counts[key]
