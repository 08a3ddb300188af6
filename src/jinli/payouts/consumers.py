"""Outbox consumers of payouts: the automatic reissue policy, on ``payout.failed``.

Each runs inside the relay's unit of work, in the same transaction as its delivery record, so
a payout is judged exactly once however many workers relay (see ``platform.db.relay``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from jinli.payouts import service
from jinli.platform.db.relay import Consumer, RelayedEvent
from jinli.platform.db.uow import UnitOfWork

AUTO_REISSUE = "payouts.auto_reissue"
"""The consumer's name: its deliveries are recorded under it (never rename it: a new name
would see every past ``payout.failed`` event as new)."""

SettledCheck = Callable[[UnitOfWork, uuid.UUID], Awaitable[bool]]
"""Whether a campaign's books are closed (``campaigns.service.is_settled``): payouts and
campaigns are peers, so whoever registers the consumer passes it in."""


def auto_reissue_consumer(campaign_settled: SettledCheck | None = None) -> Consumer:
    """The ``payout.failed`` consumer that reissues by policy (``service.auto_reissue``).

    Without ``campaign_settled`` a settled campaign is still never paid from (its budget was
    handed back, so the reservation is refused); the check only names the reason precisely.
    """

    async def handle(uow: UnitOfWork, event: RelayedEvent) -> None:
        if event.brand_id is None:
            return
        payout_id = uuid.UUID(str(event.payload["payout_id"]))
        campaign_id = uuid.UUID(str(event.payload["campaign_id"]))
        with uow.acting_for(uuid.UUID(str(event.brand_id))):
            settled = campaign_settled is not None and await campaign_settled(uow, campaign_id)
            await service.auto_reissue(uow, payout_id, campaign_settled=settled)

    return Consumer(name=AUTO_REISSUE, handle=handle, topics=frozenset({"payout.failed"}))
