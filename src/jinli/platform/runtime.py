"""The runtime every edge receives: settings, engine, unit-of-work factory, clock, counters.

Built once by ``jinli.app.bootstrap``; nothing here is created at import time.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from jinli.kernel.clock import Clock
from jinli.platform.counters import CounterStore
from jinli.platform.db.uow import UnitOfWork, make_sessionmaker
from jinli.platform.settings import Settings

_READS_KEY = "platform.reads_sessionmaker"
_CLOSERS_KEY = "platform.closers"


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    counters: CounterStore
    secret: bytes
    redis: Redis | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def uow(self, *, brand_id: uuid.UUID | None = None, system: bool = False) -> UnitOfWork:
        """A new unit of work; use as ``async with runtime.uow() as uow``."""
        return UnitOfWork(
            self.sessionmaker, self.clock, brand_id=brand_id, system=system, dialect=self.dialect
        )

    def reads(self, *, brand_id: uuid.UUID | None = None, system: bool = False) -> UnitOfWork:
        """A unit of work for reads only, outside any transaction: on PostgreSQL each
        statement runs on its own (autocommit), which saves the BEGIN and ROLLBACK round trips
        of a read that needs no snapshot across statements (the claim lane's lookups).
        Nothing it writes is kept."""
        maker = self.extras.get(_READS_KEY)
        if maker is None:
            bind = self.engine
            if self.dialect == "postgresql":
                bind = self.engine.execution_options(isolation_level="AUTOCOMMIT")
            maker = make_sessionmaker(bind, readonly=True)
            self.extras[_READS_KEY] = maker
        return UnitOfWork(maker, self.clock, brand_id=brand_id, system=system, dialect=self.dialect)

    def on_close(self, close: Callable[[], Awaitable[None]]) -> None:
        """Run ``close`` first when the runtime closes (a store finishing its work in flight
        before the connections it needs go)."""
        self.extras.setdefault(_CLOSERS_KEY, []).append(close)

    async def aclose(self) -> None:
        for close in reversed(self.extras.pop(_CLOSERS_KEY, [])):
            await close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()
