"""Queries of the codes capability: batches through the brand-scoped base, and the bulk insert
and lookup of code rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    DateTime,
    LargeBinary,
    Select,
    String,
    Table,
    Update,
    any_,
    bindparam,
    case,
    column,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from jinli.codes.domain import BatchStatus, CodeChunk
from jinli.codes.models import Code, CodeBatch
from jinli.platform.db.repository import Repository


class CodeFacts(NamedTuple):
    """One row of ``CodeRepository.lookups``."""

    lookup_hash: bytes
    serial: int
    code_hash: bytes
    scans: int
    claimed_at: datetime | None
    first_scanned_at: datetime | None
    first_scan_region: str | None
    batch_id: uuid.UUID
    brand_id: uuid.UUID
    campaign_id: uuid.UUID
    batch_status: str
    region: str | None
    distributor: str | None


def _lookup_statement(column: InstrumentedAttribute[Any]) -> Select[Any]:
    return (
        select(
            column,
            Code.serial,
            Code.code_hash,
            Code.scans,
            Code.claimed_at,
            Code.first_scanned_at,
            Code.first_scan_region,
            CodeBatch.id,
            CodeBatch.brand_id,
            CodeBatch.campaign_id,
            CodeBatch.status,
            CodeBatch.region,
            CodeBatch.distributor,
        )
        .join(CodeBatch, CodeBatch.id == Code.batch_id)
        .where(column.in_(bindparam("hashes", expanding=True)))
    )


_LOOKUPS = {False: _lookup_statement(Code.code_hash), True: _lookup_statement(Code.short_hash)}
"""``CodeRepository.lookups`` by form (short?), built once."""


class BatchRepository(Repository[CodeBatch]):
    model = CodeBatch

    def listing(
        self, *, campaign_id: uuid.UUID | None = None, status: BatchStatus | None = None
    ) -> Select[CodeBatch]:
        stmt = self.select().order_by(CodeBatch.created_at.desc(), CodeBatch.id)
        if campaign_id is not None:
            stmt = stmt.where(CodeBatch.campaign_id == campaign_id)
        if status is not None:
            stmt = stmt.where(CodeBatch.status == status)
        return stmt

    async def by_ids(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, CodeBatch]:
        """Batches by id; used unscoped by the scan, which learns the brand from the batch."""
        if not ids:
            return {}
        rows = await self.session.scalars(self.select().where(CodeBatch.id.in_(ids)))
        return {b.id: b for b in rows}


class CodeRepository(Repository[Code]):
    model = Code

    async def insert_chunk(
        self, batch: CodeBatch, serials: Sequence[int], chunk: CodeChunk
    ) -> set[bytes] | None:
        """Insert a chunk of codes in bulk (one multi-row statement per few thousand rows, no
        ORM objects, so memory stays flat). A hash already taken, by 80 random bits colliding
        (≈ 4 × 10⁻⁷ expected duplicates among 10⁹ codes) is skipped, not an error.

        Returns ``None`` when every row went in (the usual case), else the code hashes that
        did, so the caller replaces the others with fresh codes."""
        table = cast(Table, Code.__table__)
        shorts = chunk.short_hashes
        rows = [
            {
                "code_hash": code_hash,
                "short_hash": shorts[i] if shorts is not None else None,
                "brand_id": batch.brand_id,
                "batch_id": batch.id,
                "serial": serials[i],
                "scans": 0,
            }
            for i, code_hash in enumerate(chunk.code_hashes)
        ]
        dialect_insert = postgresql.insert if self.uow.is_postgres else sqlite.insert
        stmt = dialect_insert(table).on_conflict_do_nothing().returning(table.c.code_hash)
        inserted = list((await self.session.execute(stmt, rows)).scalars())
        if len(inserted) == len(rows):
            return None
        return set(inserted)

    async def by_hash(self, lookup_hash: bytes, *, short: bool) -> Code | None:
        column = Code.short_hash if short else Code.code_hash
        return (await self.session.scalars(self.select().where(column == lookup_hash))).first()

    async def lookups(self, hashes: Sequence[bytes], *, short: bool) -> list[CodeFacts]:
        """What the scan needs of each code with one of these lookup hashes and of its batch,
        in ONE statement (the quick claim asks for all codes scanned in a loop turn at once).
        Unscoped by design: the scan learns the brand from the batch. The statement is built
        once and run on the session's connection, so the hot path pays no ORM compilation."""
        connection = await self.session.connection()
        rows = await connection.execute(_LOOKUPS[short], {"hashes": list(hashes)})
        return [CodeFacts._make(row) for row in rows]

    async def count_in_batch(self, batch_id: uuid.UUID) -> int:
        stmt = select(func.count()).select_from(
            self.select().where(Code.batch_id == batch_id).subquery()
        )
        return int(await self.session.scalar(stmt) or 0)

    async def scan_totals(self, batch_id: uuid.UUID) -> tuple[int, int]:
        """(codes scanned at least once, codes claimed) of a batch."""
        stmt = self.select().with_only_columns(
            func.count(Code.first_scanned_at), func.count(Code.claimed_at)
        )
        row = (await self.session.execute(stmt.where(Code.batch_id == batch_id))).one()
        return int(row[0]), int(row[1])

    # --- the scan (scan-to-win writes through these two statements only) --------------------

    async def claim(
        self, lookup_hash: bytes, *, short: bool, openid: str, at: datetime, region: str | None
    ) -> int | None:
        """Claim an unclaimed code for ``openid`` and count the scan, in ONE conditional UPDATE
        (``… WHERE claimed_at IS NULL``): of any number of concurrent claims exactly one
        matches the row; the others match nothing (I2, I6). Returns the code's scan count, or
        ``None`` when it was already claimed."""
        column = Code.short_hash if short else Code.code_hash
        stmt = (
            update(Code)
            .where(column == lookup_hash, Code.claimed_at.is_(None))
            .values(
                claimed_at=at,
                claimed_by=openid,
                scans=Code.scans + 1,
                first_scanned_at=func.coalesce(Code.first_scanned_at, at),
                first_scan_region=case(
                    (Code.first_scanned_at.is_(None), region), else_=Code.first_scan_region
                ),
            )
            .returning(Code.scans)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def claimed_by(self, lookup_hash: bytes, *, short: bool) -> str | None:
        """Who claimed the code (``None``: unclaimed, or no such code)."""
        column = Code.short_hash if short else Code.code_hash
        stmt = select(Code.claimed_by).where(column == lookup_hash)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def count_scan(
        self, lookup_hash: bytes, *, short: bool, at: datetime, region: str | None
    ) -> tuple[int, datetime | None, str | None] | None:
        """Count one more scan of a code (a re-scan, or a scan that could not claim it); the
        first scan's time and region are set once. Returns (scans, first at, first region)."""
        column = Code.short_hash if short else Code.code_hash
        stmt = (
            update(Code)
            .where(column == lookup_hash)
            .values(
                scans=Code.scans + 1,
                first_scanned_at=func.coalesce(Code.first_scanned_at, at),
                first_scan_region=case(
                    (Code.first_scanned_at.is_(None), region), else_=Code.first_scan_region
                ),
            )
            .returning(Code.scans, Code.first_scanned_at, Code.first_scan_region)
            .execution_options(synchronize_session=False)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return None if row is None else (int(row[0]), row[1], row[2])

    # --- the hot store's batch claim (``scans.adapters.pg_store``: many claims, one commit) --

    async def lock_unclaimed(self, lookups: Sequence[tuple[bytes, bool]]) -> list[LockedCode]:
        """Lock the unclaimed rows of these codes, looked up by (hash, is the short form), in
        primary-key order, and write nothing. Returns each row locked, with the scan figures
        it had (``unclaim_many`` puts them back); claimed or unknown codes are absent.

        On PostgreSQL the rows are taken ``FOR UPDATE`` after an ``ORDER BY code_hash``, so
        concurrent batches lock in one order and cannot deadlock; a row another transaction
        claims while we wait is re-checked and left out. SQLite's one writer needs no lock."""
        full = [h for h, short in lookups if not short]
        shorts = [h for h, short in lookups if short]
        if self.uow.is_postgres:
            rows = await self.session.execute(_LOCK_UNCLAIMED_PG, {"full": full, "shorts": shorts})
        else:
            found = or_(Code.code_hash.in_(full), Code.short_hash.in_(shorts))
            rows = await self.session.execute(_lock_unclaimed(found))
        return [LockedCode(*row) for row in rows]

    async def claim_many(
        self, claims: Sequence[tuple[bytes, str, datetime, str | None]]
    ) -> set[bytes]:
        """Claim codes by their primary hash for (openid, at, scan region) each and count the
        scan, as ``claim`` does one: the same conditional UPDATE (``claimed_at IS NULL``),
        over all of them in ONE statement on PostgreSQL (``UPDATE … FROM unnest(…)``). Lock
        the rows first (``lock_unclaimed``) to fix the lock order. Returns the hashes claimed
        (each at most once, however often it is listed)."""
        if not claims:
            return set()
        if not self.uow.is_postgres:
            won: set[bytes] = set()
            for code_hash, openid, at, region in claims:
                if code_hash not in won and await self.claim(
                    code_hash, short=False, openid=openid, at=at, region=region
                ):
                    won.add(code_hash)
            return won
        params = {
            "hashes": [c[0] for c in claims],
            "openids": [c[1] for c in claims],
            "ats": [c[2] for c in claims],
            "regions": [c[3] for c in claims],
        }
        return set((await self.session.execute(_CLAIM_MANY_PG, params)).scalars())

    async def unclaim_many(self, rows: Sequence[LockedCode]) -> None:
        """Undo ``claim_many`` inside the same transaction: the rows get back the figures
        ``lock_unclaimed`` read (unclaimed, the scan not counted), as if never claimed."""
        for row in rows:
            stmt = (
                update(Code)
                .where(Code.code_hash == row.code_hash)
                .values(
                    claimed_at=None,
                    claimed_by=None,
                    scans=row.scans,
                    first_scanned_at=row.first_scanned_at,
                    first_scan_region=row.first_scan_region,
                )
                .execution_options(synchronize_session=False)
            )
            await self.session.execute(stmt)


class LockedCode(NamedTuple):
    """A code row ``lock_unclaimed`` locked, as it was."""

    code_hash: bytes
    short_hash: bytes | None
    brand_id: uuid.UUID
    scans: int
    first_scanned_at: datetime | None
    first_scan_region: str | None


def _lock_unclaimed(
    found: ColumnElement[bool],
) -> Select[bytes, bytes | None, uuid.UUID, int, datetime | None, str | None]:
    return (
        select(
            Code.code_hash,
            Code.short_hash,
            Code.brand_id,
            Code.scans,
            Code.first_scanned_at,
            Code.first_scan_region,
        )
        .where(found, Code.claimed_at.is_(None))
        .order_by(Code.code_hash)
        .with_for_update(of=Code)
    )


def _claim_many_pg() -> Update:
    """Core (not ORM) on purpose: the ORM's bulk-UPDATE machinery costs more than the
    statement at the hot store's rate. System scope only (the tenancy guard refuses Core
    statements on brand tables in a brand scope)."""
    table = cast(Table, Code.__table__)
    code = table.c
    claims = (
        func.unnest(
            bindparam("hashes", type_=ARRAY(LargeBinary)),
            bindparam("openids", type_=ARRAY(String)),
            bindparam("ats", type_=ARRAY(DateTime(timezone=True))),
            bindparam("regions", type_=ARRAY(String)),
        )
        .table_valued(
            column("code_hash", LargeBinary),
            column("openid", String),
            column("at", DateTime(timezone=True)),
            column("region", String),
            name="claims",
        )
        .render_derived()
    )
    return (
        update(table)
        .where(code.code_hash == claims.c.code_hash, code.claimed_at.is_(None))
        .values(
            claimed_at=claims.c.at,
            claimed_by=claims.c.openid,
            scans=code.scans + 1,
            first_scanned_at=func.coalesce(code.first_scanned_at, claims.c.at),
            first_scan_region=case(
                (code.first_scanned_at.is_(None), claims.c.region),
                else_=code.first_scan_region,
            ),
        )
        .returning(code.code_hash)
    )


# The batch claim's PostgreSQL statements, built once (and their cache keys with them).
_LOCK_UNCLAIMED_PG = _lock_unclaimed(
    or_(
        Code.code_hash == any_(bindparam("full", type_=ARRAY(LargeBinary))),
        Code.short_hash == any_(bindparam("shorts", type_=ARRAY(LargeBinary))),
    )
)
_CLAIM_MANY_PG = _claim_many_pg()
