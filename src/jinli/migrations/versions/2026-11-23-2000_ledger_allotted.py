"""Ledger: the ``allotted`` account (budget set aside for the scan hot path's allowance) and
the ``allot``/``unallot`` transaction kinds.

Revision ID: 0008_ledger_allotted
Revises: 0007_live_stats
Create Date: 2026-11-23 20:00:00
"""

from __future__ import annotations

revision = "0008_ledger_allotted"
down_revision = "0007_live_stats"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in with the ledger change


def downgrade() -> None:
    pass
