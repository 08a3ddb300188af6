"""Live campaign view (M8): per-campaign counters folded from the scan, payout and alert
events, the latest 串货 and guessing alerts, and the events already applied (exactly once).

Revision ID: 0007_live_stats
Revises: 0006_scans
Create Date: 2026-11-23 17:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jinli.platform.db.base

revision = "0007_live_stats"
down_revision = "0006_scans"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_applied",
        sa.Column("event_key", sa.String(length=100), nullable=False),
        sa.Column("applied_at", jinli.platform.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_key", name=op.f("pk_live_applied")),
    )
    op.create_table(
        "live_guess_alerts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("window_seconds", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", jinli.platform.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("count >= 0", name=op.f("ck_live_guess_alerts_count_not_negative")),
        sa.CheckConstraint(
            "window_seconds >= 0", name=op.f("ck_live_guess_alerts_window_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_guess_alerts")),
    )
    with op.batch_alter_table("live_guess_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_live_guess_alerts_occurred_at"), ["occurred_at"], unique=False
        )

    op.create_table(
        "live_alerts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.Column("batch_region", sa.String(length=100), nullable=False),
        sa.Column("scan_region", sa.String(length=100), nullable=False),
        sa.Column("occurred_at", jinli.platform.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_live_alerts_brand_id_brands"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_alerts")),
    )
    with op.batch_alter_table("live_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_live_alerts_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(
            "ix_live_alerts_campaign_at", ["campaign_id", "occurred_at"], unique=False
        )

    op.create_table(
        "live_counters",
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column(
            "metric",
            sa.Enum(
                "scans",
                "refused",
                "tier",
                "payout",
                "hour_claimed",
                "hour_repeated",
                "hour_refused",
                "region_claimed",
                "region_repeated",
                "region_cross",
                name="metric",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("dim", sa.String(length=100), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("amount_fen >= 0", name=op.f("ck_live_counters_amount_not_negative")),
        sa.CheckConstraint("count >= 0", name=op.f("ck_live_counters_count_not_negative")),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_live_counters_brand_id_brands"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "metric", "dim", name=op.f("pk_live_counters")),
    )
    with op.batch_alter_table("live_counters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_live_counters_brand_id"), ["brand_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("live_counters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_counters_brand_id"))

    op.drop_table("live_counters")
    with op.batch_alter_table("live_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_live_alerts_campaign_at")
        batch_op.drop_index(batch_op.f("ix_live_alerts_brand_id"))

    op.drop_table("live_alerts")
    with op.batch_alter_table("live_guess_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_guess_alerts_occurred_at"))

    op.drop_table("live_guess_alerts")
    op.drop_table("live_applied")
