"""The unit of work: one transaction per use case, opened and committed at the edge (C4).

Services receive a ``UnitOfWork``, query through brand-scoped repositories, emit events and
never commit. The edge (API route, console view, CLI command, task) commits explicitly before it
answers; leaving the block without a commit rolls everything back.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from jinli.kernel.clock import Clock
from jinli.kernel.events import DomainEvent
from jinli.platform.db.outbox import OutboxMessage
from jinli.platform.db.tenancy import install_tenancy_guard


class JinliSession(Session):
    """The sync Session class behind every AsyncSession; carries the tenancy guard."""


install_tenancy_guard(JinliSession)


class UnitOfWork:
    """A transaction scoped to one brand (or explicitly to the whole system)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        brand_id: uuid.UUID | None = None,
        system: bool = False,
        dialect: str = "sqlite",
    ) -> None:
        self._sessionmaker = sessionmaker
        self.clock = clock
        self.brand_id = brand_id
        self.system = system
        self.dialect = dialect
        self._session: AsyncSession | None = None
        self.committed = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside 'async with'")
        return self._session

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    async def __aenter__(self) -> Self:
        self._session = self._sessionmaker()
        self._session.info["brand_id"] = self.brand_id
        self._session.info["system"] = self.system
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            # After a commit this is a no-op; otherwise it undoes the unfinished transaction.
            await session.rollback()
        finally:
            await session.close()
            self._session = None

    def scope_to(self, brand_id: uuid.UUID) -> None:
        """Fix the acting brand once it is known (e.g. after resolving an API key)."""
        if self.brand_id is not None and self.brand_id != brand_id:
            raise RuntimeError("a unit of work cannot change brand")
        self.brand_id = brand_id
        self.session.info["brand_id"] = brand_id

    @contextlib.contextmanager
    def acting_for(self, brand_id: uuid.UUID) -> Iterator[None]:
        """Act for one brand inside a system unit of work, e.g. an outbox consumer handling a
        batch that mixes brands: the tenancy guard checks every statement as in that brand's
        own request, and events and audit entries belong to it. The scope is restored after."""
        info = self.session.info
        saved = (self.brand_id, self.system, info.get("brand_id"), info.get("system"))
        self.brand_id, self.system = brand_id, False
        info["brand_id"], info["system"] = brand_id, False
        try:
            yield
        finally:
            self.brand_id, self.system = saved[0], saved[1]
            info["brand_id"], info["system"] = saved[2], saved[3]

    @contextlib.contextmanager
    def unscoped(self) -> Iterator[None]:
        """Run lookups across brands for a moment: resolving a session cookie or an API key,
        before the brand is known. Keep the block to the one query that needs it."""
        previous = self.session.info.get("system", False)
        self.session.info["system"] = True
        try:
            yield
        finally:
            self.session.info["system"] = previous

    def emit(self, event: DomainEvent) -> None:
        """Record ``event`` in the outbox in this transaction: it is published iff we commit."""
        self.session.add(
            OutboxMessage(
                topic=event.topic,
                key=event.key,
                brand_id=event.brand_id or self.brand_id,
                payload=event.payload_json(),
                created_at=self.clock.now(),
            )
        )

    async def commit(self) -> None:
        await self.session.commit()
        self.committed = True

    async def rollback(self) -> None:
        await self.session.rollback()


UowFactory = Callable[..., UnitOfWork]


def make_sessionmaker(
    engine: AsyncEngine, *, readonly: bool = False
) -> async_sessionmaker[AsyncSession]:
    bind = engine.execution_options(jinli_readonly=True) if readonly else engine
    return async_sessionmaker(
        bind=bind, sync_session_class=JinliSession, expire_on_commit=False, autoflush=True
    )
