"""What campaigns needs from capabilities above it, as Protocols the app layer fills in."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from jinli.kernel.errors import Unavailable

if TYPE_CHECKING:
    from jinli.accounts.domain import Actor
    from jinli.platform.db.uow import UnitOfWork

SETTLEMENT_GATE = "campaigns.settlement_gate"
"""The key under which the app layer puts the real ``SettlementGate`` in ``Runtime.extras``."""


class SettlementGate(Protocol):
    """Why a campaign may not be settled yet, in words for finance; an empty list means it may.

    Reconciliation sits above campaigns, so campaigns cannot ask it directly: the app layer
    passes ``reconciliation.service.settlement_blockers`` in. It runs in the caller's unit of
    work (brand scope) and never writes.
    """

    async def __call__(self, uow: UnitOfWork, campaign_id: uuid.UUID, /) -> list[str]: ...


def settlement_gate(extras: Mapping[str, Any]) -> SettlementGate | None:
    """The gate the app layer wired into ``Runtime.extras``, if any (edges pass it on)."""
    gate: SettlementGate | None = extras.get(SETTLEMENT_GATE)
    return gate


PUBLISH_PREPARATION = "campaigns.publish_preparation"
"""The key under which the app layer puts the real ``PublishPreparation`` in ``Runtime.extras``."""


class PublishPreparation(Protocol):
    """What a campaign whose rule pays needs before it goes out: the reward budget checked
    against the expected cost of the planned draws, and a lucky-split pool pre-split.

    Scans sits above campaigns, so the app layer passes ``scans.service.prepare_publish`` in.
    It runs in the publish's own unit of work (brand scope) before the status changes, so a
    refusal (a ``JinliError`` such as ``reward_budget_too_small``) leaves the campaign a draft
    with nothing written. What it returns is not used.
    """

    async def __call__(
        self, uow: UnitOfWork, actor: Actor, campaign_id: uuid.UUID, /
    ) -> object: ...


async def refuse_unprepared(uow: UnitOfWork, actor: Actor, campaign_id: uuid.UUID, /) -> None:
    """The preparation of a process that wired none: a paying campaign is refused (fail
    closed, like settling without the reconciliation check), never published unchecked."""
    raise Unavailable(
        "the publish check (reward budget and pool split) is not available in this process, "
        "so a campaign that pays rewards cannot be published now"
    )


def publish_preparation(extras: Mapping[str, Any]) -> PublishPreparation:
    """The preparation the app layer wired into ``Runtime.extras``, else ``refuse_unprepared``:
    every edge passes this on, so an edge can never publish a paying rule unchecked."""
    prepare: PublishPreparation | None = extras.get(PUBLISH_PREPARATION)
    return prepare or refuse_unprepared
