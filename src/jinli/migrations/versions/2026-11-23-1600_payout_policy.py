"""Payout policy: a campaign's payout mode and automatic reissue policy, carried by its payouts.

Existing campaigns get the defaults (merchant transfer, no automatic reissue, at most 1);
existing payouts get no automatic reissue (finance decides, as before).

Revision ID: 0004_payout_policy
Revises: 0003_reconciliation
Create Date: 2026-11-23 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_payout_policy"
down_revision = "0003_reconciliation"
branch_labels = None
depends_on = None

PAYOUT_MODES = ("transfer", "brand_red_packet", "red_packet")


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "payout_mode",
                sa.Enum(*PAYOUT_MODES, name="payoutmode", native_enum=False, length=20),
                server_default="transfer",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column(
                "reissue_policy",
                sa.Enum(
                    "off",
                    "same_mode",
                    "as_transfer",
                    "as_brand_red_packet",
                    name="reissuepolicy",
                    native_enum=False,
                    length=20,
                ),
                server_default="off",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("max_auto_reissues", sa.BigInteger(), server_default="1", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_campaigns_max_auto_reissues"),
            "max_auto_reissues >= 0 AND max_auto_reissues <= 5",
        )

    with op.batch_alter_table("payout_orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "reissue_as",
                sa.Enum(*PAYOUT_MODES, name="payoutmode", native_enum=False, length=20),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("auto_reissues_left", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "auto_reissue_blocked",
                sa.Enum(
                    "not_reissuable",
                    "none_left",
                    "budget_exhausted",
                    "campaign_settled",
                    name="autoreissueblock",
                    native_enum=False,
                    length=20,
                ),
                nullable=True,
            )
        )
        batch_op.create_check_constraint(
            op.f("ck_payout_orders_auto_reissues_left"), "auto_reissues_left >= 0"
        )


def downgrade() -> None:
    with op.batch_alter_table("payout_orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payout_orders_auto_reissues_left"), type_="check")
        batch_op.drop_column("auto_reissue_blocked")
        batch_op.drop_column("auto_reissues_left")
        batch_op.drop_column("reissue_as")

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_campaigns_max_auto_reissues"), type_="check")
        batch_op.drop_column("max_auto_reissues")
        batch_op.drop_column("reissue_policy")
        batch_op.drop_column("payout_mode")
