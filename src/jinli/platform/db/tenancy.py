"""The tenancy guard: every ORM statement is scoped to the acting brand, structurally (I8).

A session carries its scope in ``session.info``:
- ``brand_id``: the acting brand; every SELECT/UPDATE/DELETE touching a ``BrandOwned`` table
  gets ``brand_id = :brand`` added, and flushing a row of another brand raises;
- ``system``: a cross-brand session (worker relays, migrations, the demo seeder), opened
  explicitly with ``UnitOfWork(system=True)``;
- neither: any statement touching a ``BrandOwned`` table raises ``TenancyViolation``.

"Touching" is decided by walking the whole statement, not only its result columns: a brand table
inside a subquery, an EXISTS, a UNION or a ``select_from`` (the paging ``count(*)`` over a
subquery) is scoped too. A brand table named only through Core (``Model.__table__``), which the
ORM criteria cannot reach, is refused in a brand scope. Raw ``text()`` SQL is outside the guard;
repositories never write it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, with_loader_criteria
from sqlalchemy.sql import visitors
from sqlalchemy.sql.expression import ColumnClause, TableClause

from jinli.platform.db.base import Base, BrandOwned


class TenancyViolation(RuntimeError):
    """A programming error: a query or write escaped its brand scope. Never shown to users."""


def _scope(session: Session) -> tuple[uuid.UUID | None, bool]:
    return session.info.get("brand_id"), bool(session.info.get("system"))


_BRAND_TABLES: dict[int, frozenset[str]] = {}
"""The brand tables, keyed by how many mappers were registered when they were listed."""


def _brand_table_names() -> frozenset[str]:
    """Names of the tables mapped by ``BrandOwned`` classes (mappers registered so far)."""
    mappers = Base.registry.mappers
    cached = _BRAND_TABLES.get(len(mappers))
    if cached is None:
        cached = frozenset(
            table.name
            for mapper in mappers
            if issubclass(mapper.class_, BrandOwned)
            for table in mapper.tables
        )
        _BRAND_TABLES.clear()
        _BRAND_TABLES[len(mappers)] = cached
    return cached


def _brand_tables_in(statement: Any) -> tuple[set[str], set[str]]:
    """The brand tables a statement reads or writes anywhere (subqueries included), and those
    of them that appear only through Core objects, where the ORM criteria cannot reach."""
    names = _brand_table_names()
    seen: set[str] = set()
    via_orm: set[str] = set()
    for element in visitors.iterate(statement):
        entity = getattr(element, "_annotations", {}).get("parententity")
        if entity is not None:  # a mapped class or an alias of one: the criteria reach it
            via_orm.update(t.name for t in entity.mapper.tables if t.name in names)
        if isinstance(element, TableClause) and element.name in names:
            seen.add(element.name)
        elif (
            isinstance(element, ColumnClause)
            and isinstance(element.table, TableClause)
            and element.table.name in names
        ):
            seen.add(element.table.name)
    return seen, seen - via_orm


def _add_brand_criteria(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the parent row was already scoped
    brand_id, system = _scope(state.session)
    if system:
        return
    touched, core_only = _brand_tables_in(state.statement)
    if not touched:
        return
    if brand_id is None:
        raise TenancyViolation("query on brand-owned rows outside any brand scope")
    if core_only:
        raise TenancyViolation(
            f"query on {', '.join(sorted(core_only))} through Core tables cannot be brand-scoped;"
            " use the mapped class"
        )
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
