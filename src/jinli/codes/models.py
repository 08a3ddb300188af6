"""Tables of the codes capability: batches, and one row per code holding only its keyed hash."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Uuid,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from jinli.codes.domain import HASH_BYTES, BatchStatus
from jinli.kernel.ids import new_id
from jinli.platform.db.base import Base, BrandOwned


class CodeBatch(BrandOwned, Base):
    """A print run of codes for one campaign (一批码), activated when it ships."""

    __tablename__ = "code_batches"
    __table_args__ = (
        CheckConstraint("size >= 1", name="size_positive"),
        CheckConstraint(
            "status <> 'active' OR (region IS NOT NULL AND distributor IS NOT NULL"
            " AND activated_at IS NOT NULL)",
            name="active_is_bound",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="RESTRICT"), index=True
    )
    label: Mapped[str] = mapped_column(String(100), default="")
    """The operator's name for the run, e.g. "Line 3 caps, Nov" (printed in the export)."""
    size: Mapped[int] = mapped_column(BigInteger)
    """How many codes the batch holds (all generated in the same transaction as the row)."""
    status: Mapped[BatchStatus] = mapped_column(
        Enum(BatchStatus, native_enum=False, length=20), index=True
    )
    short_codes: Mapped[bool] = mapped_column(Boolean, default=False)
    """Whether every code also has a 15-character short form for typing."""
    qr_sheets: Mapped[bool] = mapped_column(Boolean, default=False)
    """Whether the export holds SVG QR print sheets (small batches only)."""
    region: Mapped[str | None] = mapped_column(String(64))
    """Where the batch shipped (set at activation); scans far from it are 串货 (cross-region)."""
    distributor: Mapped[str | None] = mapped_column(String(100))
    """Who the batch shipped to (经销商), set at activation."""
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(200))
    activated_at: Mapped[datetime | None] = mapped_column()
    activated_by: Mapped[str | None] = mapped_column(String(200))
    voided_at: Mapped[datetime | None] = mapped_column()
    voided_by: Mapped[str | None] = mapped_column(String(200))
    export_name: Mapped[str | None] = mapped_column(String(200))
    """File name of the printer's zip under the data dir; ``None`` once purged."""
    export_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    export_sha256: Mapped[str] = mapped_column(String(64), default="")
    """Checksum of the zip, so the printer can confirm it received it intact."""
    export_purged_at: Mapped[datetime | None] = mapped_column()
    """When the plaintext export was deleted: from then on the codes exist only on print."""
    export_downloads: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def export_available(self) -> bool:
        return self.export_name is not None


class Code(BrandOwned, Base):
    """One printed code. Never its plaintext: only the keyed hashes of its two forms.

    ``brand_id`` repeats the batch's so the tenancy guard scopes every query; it carries no
    index or foreign key of its own (the batch's key does), which keeps inserts of millions
    of rows cheap.
    """

    __tablename__ = "codes"
    __table_args__ = (
        CheckConstraint("serial >= 1", name="serial_positive"),
        CheckConstraint("scans >= 0", name="scans_unsigned"),
    )

    @declared_attr
    def brand_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid())

    code_hash: Mapped[bytes] = mapped_column(LargeBinary(HASH_BYTES), primary_key=True)
    """HMAC-SHA256(lookup key, code) truncated to 128 bits: finds the row, reveals nothing."""
    short_hash: Mapped[bytes | None] = mapped_column(LargeBinary(HASH_BYTES), unique=True)
    """The same for the short form, when the batch has one."""
    batch_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("code_batches.id", ondelete="CASCADE"), index=True
    )
    serial: Mapped[int] = mapped_column(BigInteger)
    """Position in the batch (1…size) as printed: lets a damaged roll be traced."""
    scans: Mapped[int] = mapped_column(Integer, default=0)
    """How many times the code was scanned (the anti-counterfeit answer on a re-scan)."""
    claimed_at: Mapped[datetime | None] = mapped_column()
    """When the code's one reward was claimed; set exactly once by the scan."""
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    """The openid that claimed it."""
    first_scanned_at: Mapped[datetime | None] = mapped_column()
    first_scan_region: Mapped[str | None] = mapped_column(String(64))
