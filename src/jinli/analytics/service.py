"""Use cases of analytics: the event store and the live campaign view (M8).

The live view is a projection: ``apply_live_event`` folds each relayed scan, payout and alert
event into per-campaign counters (exactly once), and ``live_view`` reads them back together
with the campaign's ledger book and the invalid-scan counters.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog
from redis.exceptions import RedisError

from jinli.accounts.domain import Actor
from jinli.analytics import domain
from jinli.analytics.domain import (
    ALERTS_KEPT,
    ALERTS_SHOWN,
    CounterRow,
    CrossRegion,
    CrossRegionAlert,
    Guessing,
    GuessingAlert,
    LiveSnapshot,
    MalformedEvent,
    Money,
)
from jinli.analytics.models import AnalyticsEvent, LiveAlert, LiveGuessAlert
from jinli.analytics.repository import (
    EventRepository,
    GuessAlertRepository,
    LiveAlertRepository,
    LiveCounterRepository,
)
from jinli.campaigns import service as campaigns_service
from jinli.kernel.money import Fen
from jinli.platform.counters import CounterStore
from jinli.platform.db.uow import UnitOfWork

log = structlog.get_logger()

INVALID_SCANS_KEY = "scans:invalid:{hour}"
"""The scan path's counter of forged or mistyped codes per Beijing hour (``YYYYMMDDHH``),
kept 48 h in the runtime's ``CounterStore``. Must match the scan path's key."""
INVALID_KEPT = timedelta(hours=48)


def record_event(
    uow: UnitOfWork,
    *,
    brand_id: uuid.UUID,
    message_id: int,
    topic: str,
    key: str,
    payload: dict[str, Any],
    occurred_at: datetime,
) -> None:
    campaign = payload.get("campaign_id")
    try:
        campaign_id = uuid.UUID(str(campaign)) if campaign else None
    except ValueError:
        campaign_id = None
    EventRepository(uow).add(
        AnalyticsEvent(
            brand_id=brand_id,
            message_id=message_id,
            topic=topic,
            key=key,
            payload=payload,
            occurred_at=occurred_at,
            campaign_id=campaign_id,
        )
    )


async def count_by_topic(uow: UnitOfWork) -> dict[str, int]:
    """Events per topic for the acting brand."""
    return await EventRepository(uow).count_by_topic()


# --- the live projection --------------------------------------------------------------------


def occurred_at_of(payload: Mapping[str, Any], fallback: datetime) -> datetime:
    """When the fact happened: the payload's ``occurred_at`` (ISO 8601, aware) if it has one,
    else when the event was written to the outbox."""
    raw = payload.get("occurred_at")
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return fallback
        if parsed.tzinfo is not None:
            return parsed
    return fallback


def event_key(message_id: int, payload: Mapping[str, Any]) -> str:
    """What makes two deliveries "the same event": the producer's ``event_id`` when it gives
    one (a path that may write one fact to the outbox twice), else the outbox message."""
    event_id = payload.get("event_id")
    if isinstance(event_id, str) and event_id:
        return f"event:{event_id}"
    return f"outbox:{message_id}"


async def apply_live_event(
    uow: UnitOfWork,
    *,
    message_id: int,
    topic: str,
    brand_id: uuid.UUID | None,
    payload: Mapping[str, Any],
    occurred_at: datetime,
) -> bool:
    """Fold one relayed event into the live counters; ``True`` if it changed anything.

    Exactly once: the event's key is recorded in the same transaction as its counters, so a
    second delivery (or a replay) changes nothing. Each counter moves by one atomic upsert.
    A payload without the documented shape is logged and skipped: retrying cannot fix it,
    and it must not hold up the events behind it.
    """
    occurred_at = occurred_at_of(payload, occurred_at)
    try:
        change = domain.change_for(topic, payload, occurred_at)
    except MalformedEvent as exc:
        log.warning("analytics.live.malformed", message_id=message_id, topic=topic, error=str(exc))
        return False
    if change is None:
        return False
    if change.campaign_id is not None and brand_id is None:
        log.warning("analytics.live.no_brand", message_id=message_id, topic=topic)
        return False
    counters = LiveCounterRepository(uow)
    await counters.lock_live_writers()
    if not await counters.mark_applied(event_key(message_id, payload), uow.clock.now()):
        return False
    if change.campaign_id is not None and brand_id is not None:
        for bump in domain.merge(change.bumps):
            await counters.bump(brand_id, change.campaign_id, bump)
    await _keep_alert(uow, brand_id, change.campaign_id, change.alert, occurred_at)
    return True


async def _keep_alert(
    uow: UnitOfWork,
    brand_id: uuid.UUID | None,
    campaign_id: uuid.UUID | None,
    alert: CrossRegion | Guessing | None,
    occurred_at: datetime,
) -> None:
    if isinstance(alert, CrossRegion) and brand_id is not None and campaign_id is not None:
        alerts = LiveAlertRepository(uow)
        alerts.add(
            LiveAlert(
                brand_id=brand_id,
                campaign_id=campaign_id,
                kind="cross_region",
                batch_id=alert.batch_id,
                batch_region=alert.batch_region,
                scan_region=alert.scan_region,
                occurred_at=occurred_at,
            )
        )
        await alerts.flush()
        await alerts.keep_latest(campaign_id, ALERTS_KEPT)
    elif isinstance(alert, Guessing):
        guesses = GuessAlertRepository(uow)
        guesses.add(
            LiveGuessAlert(
                count=alert.count, window_seconds=alert.window_seconds, occurred_at=occurred_at
            )
        )
        await guesses.flush()
        await guesses.keep_latest(ALERTS_KEPT)


# --- the live view --------------------------------------------------------------------------


async def live_view(
    uow: UnitOfWork,
    actor: Actor,
    campaign_id: uuid.UUID,
    now: datetime,
    *,
    counters: CounterStore | None = None,
) -> LiveSnapshot:
    """The live picture of one campaign as of ``now``: scans (valid, re-scans, refused by
    reason, invalid), winners by tier, payout states, money from the ledger (paid, reserved,
    remaining), budget burn against the time left, scans by hour and region, 串货 and
    guessing alerts. Anyone who can read the campaign may see it.

    ``counters`` is the runtime's counter store, for the invalid scans by hour (all brands:
    a forged code names none); without it they are reported as unknown (``None``).
    """
    campaign = await campaigns_service.get(uow, actor, campaign_id)
    balances = await campaigns_service.budget(uow, actor, campaign.id)
    rows = await LiveCounterRepository(uow).for_campaign(campaign.id)
    alerts = await LiveAlertRepository(uow).latest(campaign.id, ALERTS_SHOWN)
    guesses = await GuessAlertRepository(uow).latest(
        campaign.starts_at, campaign.ends_at, ALERTS_SHOWN
    )
    hours = domain.shown_hours(campaign.starts_at, campaign.ends_at, now)
    return domain.snapshot(
        campaign_id=campaign.id,
        name=campaign.name,
        status=str(campaign.status.value),
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        now=now,
        counters=[CounterRow(r.metric, r.dim, r.count, Fen(r.amount_fen)) for r in rows],
        money=Money(
            cap_fen=balances.cap,
            funded_fen=balances.funded,
            paid_fen=balances.paid,
            reserved_fen=balances.reserved,
            available_fen=balances.available,
            returned_fen=balances.returned,
            allotted_fen=balances.allotted,
        ),
        invalid_by_hour=await _invalid_by_hour(counters, hours, now),
        cross_region_alerts=[
            CrossRegionAlert(a.occurred_at, a.batch_id, a.batch_region, a.scan_region)
            for a in alerts
        ],
        guessing_alerts=[GuessingAlert(g.occurred_at, g.count, g.window_seconds) for g in guesses],
    )


async def _invalid_by_hour(
    counters: CounterStore | None, hours: list[str], now: datetime
) -> dict[str, int] | None:
    """Invalid scans per shown hour still inside the counters' 48 h window."""
    if counters is None:
        return None
    found: dict[str, int] = {}
    try:
        for hour in hours:
            if domain.hour_start(hour) > now - INVALID_KEPT:
                found[hour] = await counters.peek(INVALID_SCANS_KEY.format(hour=hour))
    except (RedisError, OSError) as exc:
        # The counters are a side view: without Redis the page still shows the rest.
        log.warning("analytics.live.counters_unavailable", error=str(exc))
        return None
    return found
