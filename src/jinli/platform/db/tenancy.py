"""The tenancy guard: every ORM statement is scoped to the acting brand, structurally (I8).

A session carries its scope in ``session.info``:
- ``brand_id``: the acting brand; every SELECT/UPDATE/DELETE touching a ``BrandOwned`` table
  gets ``brand_id = :brand`` added, and flushing a row of another brand raises;
- ``system``: a cross-brand session (worker relays, migrations, the demo seeder), opened
  explicitly with ``UnitOfWork(system=True)``;
- neither: any statement touching a ``BrandOwned`` table raises ``TenancyViolation``.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, with_loader_criteria

from jinli.platform.db.base import BrandOwned


class TenancyViolation(RuntimeError):
    """A programming error: a query or write escaped its brand scope. Never shown to users."""


def _scope(session: Session) -> tuple[uuid.UUID | None, bool]:
    return session.info.get("brand_id"), bool(session.info.get("system"))


def _touches_brand_rows(state: ORMExecuteState) -> bool:
    return any(issubclass(m.class_, BrandOwned) for m in state.all_mappers)


def _add_brand_criteria(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the parent row was already scoped
    brand_id, system = _scope(state.session)
    if system:
        return
    if not _touches_brand_rows(state):
        return
    if brand_id is None:
        raise TenancyViolation("query on brand-owned rows outside any brand scope")
    state.statement = state.statement.options(
        with_loader_criteria(
            BrandOwned,
            lambda cls: cls.brand_id == brand_id,
            include_aliases=True,
            track_closure_variables=False,
        )
    )


def _check_flush(session: Session, _tx: UOWTransaction, _instances: Any) -> None:
    brand_id, system = _scope(session)
    if system:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, BrandOwned):
            continue
        if brand_id is None or obj.brand_id != brand_id:
            raise TenancyViolation(f"write of {type(obj).__name__} outside the acting brand")


def install_tenancy_guard(session_class: type[Session]) -> None:
    """Attach the guard to a Session class (done once, for the class behind every UoW)."""
    if event.contains(session_class, "do_orm_execute", _add_brand_criteria):
        return
    event.listen(session_class, "do_orm_execute", _add_brand_criteria)
    event.listen(session_class, "before_flush", _check_flush)
