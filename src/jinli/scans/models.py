"""Tables of scan-to-win: every draw (the audit log of who won what, and why), the
pre-split reward pools with their shares, and the PostgreSQL hot store's allowance and grab
outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from jinli.kernel.ids import new_id
from jinli.platform.db.base import Base, BigIntPK, BrandOwned
from jinli.rewards.domain import DrawOutcome
from jinli.scans.domain import DrawKind

_CLAIMED = "outcome <> 'budget_exhausted'"


class ScanDraw(BrandOwned, Base):
    """One draw of a scan: what decided it (rule hash, random value or share), what it gave,
    to whom, for which code. Written in the claim's transaction; never updated except to link
    the payout created in that same transaction."""

    __tablename__ = "scan_draws"
    __table_args__ = (
        CheckConstraint("drawn_fen >= 0", name="drawn_fen"),
        CheckConstraint("amount_fen >= 0 AND amount_fen <= drawn_fen", name="amount_fen"),
        CheckConstraint("(outcome = 'won') = (amount_fen > 0)", name="won_pays"),
        # I2's second wall: a code has at most one draw that claimed it (draws the budget could
        # not pay left the code unclaimed and may repeat).
        Index(
            "uq_scan_draws_claimed_code",
            "code_hash",
            unique=True,
            sqlite_where=text(_CLAIMED),
            postgresql_where=text(_CLAIMED),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id"), index=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("code_batches.id"), index=True)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(16))
    """The code's keyed lookup hash (never the code itself)."""
    openid: Mapped[str] = mapped_column(String(64))
    kind: Mapped[DrawKind] = mapped_column(Enum(DrawKind, native_enum=False, length=20))
    algorithm: Mapped[str] = mapped_column(String(40))
    rule_hash: Mapped[str] = mapped_column(String(64))
    """``PrizeRule.rule_hash`` for tiers; the pool's hash (rule + share vector) for a pool."""
    region: Mapped[str | None] = mapped_column(String(64))
    """The batch's region: what picked the regional table."""
    table_region: Mapped[str | None] = mapped_column(String(64))
    scan_region: Mapped[str | None] = mapped_column(String(64))
    """Where the scan came from (the client IP's region), if known."""
    random_value: Mapped[int | None] = mapped_column(BigInteger)
    """The CSPRNG value in [0, 10⁶) of a tier draw."""
    share_no: Mapped[int | None] = mapped_column(BigInteger)
    """The pool position taken (1-based) of a pool draw."""
    tier_index: Mapped[int | None] = mapped_column(Integer)
    tier_label: Mapped[str] = mapped_column(String(32))
    drawn_fen: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    """What was awarded (and reserved for the payout): ``drawn_fen``, or 0 when not paid."""
    outcome: Mapped[DrawOutcome] = mapped_column(Enum(DrawOutcome, native_enum=False, length=20))
    payout_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payout_orders.id"))
    drawn_at: Mapped[datetime] = mapped_column()


class ScanPool(BrandOwned, Base):
    """A campaign's pool of shares (拼手气 lucky split, or ``max_winners`` fixed amounts),
    split and shuffled once, then taken one per claim by position."""

    __tablename__ = "scan_pools"
    __table_args__ = (
        CheckConstraint("shares >= 1", name="shares"),
        CheckConstraint("total_fen >= 1", name="total_fen"),
        CheckConstraint("taken >= 0 AND taken <= shares", name="taken"),
        CheckConstraint("taken_fen >= 0 AND taken_fen <= total_fen", name="taken_fen"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id"), unique=True)
    kind: Mapped[DrawKind] = mapped_column(Enum(DrawKind, native_enum=False, length=20))
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The pool rule as split (``LuckySplit.to_dict`` / ``FixedPool.to_dict``)."""
    rule_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the rule and the share vector (``domain.pool_hash``)."""
    shares: Mapped[int] = mapped_column(BigInteger)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    taken: Mapped[int] = mapped_column(BigInteger, default=0)
    """Shares taken: positions 1…taken are gone. Raised by one conditional UPDATE per claim."""
    taken_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column()


class ScanPoolShare(BrandOwned, Base):
    """One share of a lucky-split pool, in shuffled order. Immutable after the split.

    ``brand_id`` repeats the pool's so the tenancy guard scopes every query; it has no index or
    foreign key of its own (the pool's has), which keeps a million-share insert cheap."""

    __tablename__ = "scan_pool_shares"
    __table_args__ = (
        CheckConstraint("position >= 1", name="position"),
        CheckConstraint("amount_fen >= 1", name="amount_fen"),
    )

    @declared_attr
    def brand_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid())

    pool_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scan_pools.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)


# --- the PostgreSQL hot store (``scans.adapters.pg_store``): allowance and grab outbox --------


class ScanAllowance(BrandOwned, Base):
    """A campaign's allowance (额度) in the PostgreSQL hot store: fen the ledger has set
    aside (``allotted``) that grabs may take without asking the ledger. One row per campaign;
    the store locks it after the codes and the pool (see ``SqlClaimStore``'s lock order).

    Every fen is accounted for by the last CHECK: what came in by tranches is what is left,
    plus what grabs took, plus what releases gave back to the ledger."""

    __tablename__ = "scan_allowances"
    __table_args__ = (
        CheckConstraint("fen >= 0", name="fen"),
        CheckConstraint(
            "granted_fen >= 0 AND grabbed_fen >= 0 AND released_fen >= 0", name="totals"
        ),
        CheckConstraint("granted_fen = fen + grabbed_fen + released_fen", name="conserved"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    fen: Mapped[int] = mapped_column(BigInteger, default=0)
    """What grabs may still take."""
    granted_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    """Σ of the tranches added."""
    grabbed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    """Σ of the prizes grabs took."""
    released_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    """Σ of what releases took back out (for the ledger to return to the budget)."""
    updated_at: Mapped[datetime] = mapped_column()


class ScanAllowanceMove(BrandOwned, Base):
    """One tranche added to an allowance, or one release of what was left: the row of its
    unique id makes both idempotent (a repeat finds it and changes nothing; a repeated
    release answers the figure stored here)."""

    __tablename__ = "scan_allowance_moves"
    __table_args__ = (
        CheckConstraint("fen >= 0", name="fen"),
        CheckConstraint("kind IN ('tranche', 'release')", name="kind"),
    )

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    """The tranche id (``hot.tranche_id``) or the release id."""
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    fen: Mapped[int] = mapped_column(BigInteger)
    """The tranche's fen, or what the release took out."""
    created_at: Mapped[datetime] = mapped_column()


class ScanGrab(BrandOwned, Base):
    """The PostgreSQL hot store's outbox: one ``hot.Grabbed`` entry per successful grab,
    written in the grab's transaction, handed to the relay by ``pending`` and deleted by
    ``settled``. The entry id the relay sees is ``str(id)``.

    A queue table that is written at the grab rate: ``brand_id`` and ``campaign_id`` carry
    no foreign key or index (each would cost a lookup or an index insert per grab; the rows
    are transient and the entry repeats both)."""

    __tablename__ = "scan_grabs"

    @declared_attr
    def brand_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid())

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    entry: Mapped[str] = mapped_column(Text)
    """``hot.encode`` of the ``Grabbed`` entry (JSON)."""
    created_at: Mapped[datetime] = mapped_column()
    handed_out_at: Mapped[datetime | None] = mapped_column()
    """When ``pending`` last handed the entry to a relay (``None``: never)."""
