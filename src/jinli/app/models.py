"""Imports every table so that ``Base.metadata`` is complete (Alembic, schema tests)."""

from __future__ import annotations

from jinli.accounts import models as accounts_models
from jinli.analytics import models as analytics_models
from jinli.campaigns import models as campaigns_models
from jinli.codes import models as codes_models
from jinli.ledger import models as ledger_models
from jinli.payouts import models as payouts_models
from jinli.platform.counters import RateCounter
from jinli.platform.db import idempotency, outbox
from jinli.platform.db.base import Base
from jinli.reconciliation import models as reconciliation_models
from jinli.scans import models as scans_models

__all__ = [
    "Base",
    "RateCounter",
    "accounts_models",
    "analytics_models",
    "campaigns_models",
    "codes_models",
    "idempotency",
    "ledger_models",
    "outbox",
    "payouts_models",
    "reconciliation_models",
    "scans_models",
]

metadata = Base.metadata
