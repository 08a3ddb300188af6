"""The repository base: every query of a brand-owned table starts from ``select()``.

The tenancy guard already scopes every ORM statement to the acting brand; repositories add
the domain's vocabulary on top and are the only place that writes queries (C7).
"""

from __future__ import annotations

import uuid
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jinli.kernel.pagination import Page, PageRequest
from jinli.platform.db.base import Base
from jinli.platform.db.uow import UnitOfWork

M = TypeVar("M", bound=Base)


class Repository(Generic[M]):
    model: type[M]

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    @property
    def session(self) -> AsyncSession:
        return self.uow.session

    def select(self) -> Select[M]:
        """Every query starts here; the session guard adds the brand condition."""
        return select(self.model)

    async def get(self, id_: uuid.UUID, *, for_update: bool = False) -> M | None:
        stmt = self.select().where(self.model.id == id_)  # type: ignore[attr-defined]
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).first()

    def add(self, obj: M) -> M:
        self.session.add(obj)
        return obj

    async def page(self, stmt: Select[M], request: PageRequest) -> Page[M]:
        total = await self.session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = await self.session.scalars(stmt.limit(request.limit).offset(request.offset))
        return Page(
            items=list(rows), total=int(total or 0), limit=request.limit, offset=request.offset
        )

    async def flush(self) -> None:
        await self.session.flush()

    async def scalar(self, stmt: Any) -> Any:
        return await self.session.scalar(stmt)
