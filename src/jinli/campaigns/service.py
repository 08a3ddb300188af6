"""Use cases of campaigns. Every function takes the caller's unit of work and actor.

None of them commits: the edge does (C4).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm.exc import StaleDataError

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import Actor, Permission
from jinli.campaigns import domain
from jinli.campaigns.domain import Action, CampaignStatus
from jinli.campaigns.errors import (
    CampaignNotFound,
    ChannelCodeTaken,
    FieldLocked,
    IllegalTransition,
    InvalidChannelCode,
    NotPublishable,
    NotReconciled,
    NotSettleable,
    SettlementCheckUnavailable,
    StaleEdit,
)
from jinli.campaigns.models import Campaign, Channel
from jinli.campaigns.ports import PublishPreparation, SettlementGate
from jinli.campaigns.repository import CampaignRepository, ChannelRepository
from jinli.campaigns.schemas import CampaignCreate, CampaignUpdate, ChannelCreate
from jinli.kernel.events import DomainEvent
from jinli.kernel.money import Fen
from jinli.kernel.pagination import Page, PageRequest
from jinli.ledger import service as ledger
from jinli.ledger.domain import Balances
from jinli.ledger.models import LedgerTransaction
from jinli.platform.db.uow import UnitOfWork
from jinli.risk import service as risk_service


def _emit(uow: UnitOfWork, topic: str, campaign: Campaign, **payload: Any) -> None:
    body = {"campaign_id": str(campaign.id), "status": str(campaign.status), **payload}
    uow.emit(DomainEvent(topic, str(campaign.id), body, brand_id=campaign.brand_id))


async def get(uow: UnitOfWork, actor: Actor, campaign_id: uuid.UUID) -> Campaign:
    actor.require(Permission.campaigns_read)
    return await _load(uow, campaign_id)


async def _load(uow: UnitOfWork, campaign_id: uuid.UUID, *, for_update: bool = False) -> Campaign:
    campaign = await CampaignRepository(uow).get(campaign_id, for_update=for_update)
    if campaign is None:
        raise CampaignNotFound()
    return campaign


async def list_(
    uow: UnitOfWork,
    actor: Actor,
    page: PageRequest,
    *,
    status: CampaignStatus | None = None,
    q: str | None = None,
) -> Page[Campaign]:
    actor.require(Permission.campaigns_read)
    repo = CampaignRepository(uow)
    return await repo.page(repo.listing(status=status, q=q), page)


async def create(uow: UnitOfWork, actor: Actor, data: CampaignCreate) -> Campaign:
    """Create a draft campaign with its ledger book; optionally fund it at once (needs
    ``budget:fund``, and the funding must fit under the cap)."""
    actor.require(Permission.campaigns_write)
    if data.initial_funding_fen:
        actor.require(Permission.budget_fund)
    domain.check_window(data.starts_at, data.ends_at)
    domain.check_payout_options(data.reissue_policy, data.max_auto_reissues)
    rule = domain.rule_from_dict(data.reward_rule.model_dump())
    now = uow.clock.now()
    campaign = CampaignRepository(uow).add(
        Campaign(
            id=uuid.uuid4(),
            brand_id=actor.brand_id,
            name=data.name,
            description=data.description,
            status=CampaignStatus.draft,
            budget_cap_fen=data.budget_cap_fen,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            reward_rule=rule.to_dict(),
            kpi=data.kpi.model_dump(exclude_none=True),
            payout_mode=data.payout_mode,
            reissue_policy=data.reissue_policy,
            max_auto_reissues=data.max_auto_reissues,
            created_at=now,
            updated_at=now,
        )
    )
    await uow.session.flush()
    await ledger.open_book(uow, campaign.id, cap_fen=Fen(data.budget_cap_fen))
    if data.initial_funding_fen:
        await ledger.fund(uow, campaign.id, Fen(data.initial_funding_fen), memo="initial funding")
    accounts_service.record_audit(
        uow,
        actor,
        "campaign.created",
        "campaign",
        campaign.id,
        name=campaign.name,
        budget_cap_fen=campaign.budget_cap_fen,
        initial_funding_fen=data.initial_funding_fen,
        payout_mode=campaign.payout_mode,
        reissue_policy=campaign.reissue_policy,
        max_auto_reissues=campaign.max_auto_reissues,
    )
    _emit(uow, "campaign.created", campaign, budget_cap_fen=campaign.budget_cap_fen)
    return campaign


async def update(
    uow: UnitOfWork, actor: Actor, campaign_id: uuid.UUID, data: CampaignUpdate
) -> Campaign:
    actor.require(Permission.campaigns_write)
    campaign = await _load(uow, campaign_id, for_update=True)
    if data.version is not None and data.version != campaign.version:
        raise StaleEdit()
    changes = data.changes()
    locked = set(changes) - domain.EDITABLE_FIELDS[campaign.status]
    if locked:
        raise FieldLocked(
            f"{', '.join(sorted(locked))} cannot change while the campaign is {campaign.status}"
        )
    starts_at = changes.get("starts_at", campaign.starts_at)
    ends_at = changes.get("ends_at", campaign.ends_at)
    domain.check_window(starts_at, ends_at)
    if "reward_rule" in changes:
        changes["reward_rule"] = domain.rule_from_dict(changes["reward_rule"]).to_dict()
    if changes.keys() & {"reissue_policy", "max_auto_reissues"}:
        domain.check_payout_options(
            changes.get("reissue_policy", campaign.reissue_policy),
            changes.get("max_auto_reissues", campaign.max_auto_reissues),
        )
    for field, value in changes.items():
        setattr(campaign, field, value)
    campaign.updated_at = uow.clock.now()
    try:
        await uow.session.flush()
    except StaleDataError:
        raise StaleEdit() from None
    accounts_service.record_audit(
        uow, actor, "campaign.updated", "campaign", campaign.id, fields=",".join(sorted(changes))
    )
    _emit(uow, "campaign.updated", campaign, fields=sorted(changes))
    return campaign


async def transition(
    uow: UnitOfWork,
    actor: Actor,
    campaign_id: uuid.UUID,
    action: Action,
    *,
    settlement_gate: SettlementGate | None = None,
    publish_preparation: PublishPreparation | None = None,
) -> Campaign:
    """Apply a lifecycle action (table-driven; illegal ones raise ``IllegalTransition``).

    ``settle`` also needs ``settlement_gate`` (the reconciliation check): without one it is
    refused (``SettlementCheckUnavailable``), never waved through.

    ``publish`` of a rule that pays runs ``publish_preparation`` (the reward budget check and
    the pool split) after the campaign's own checks and before its status changes, in this
    unit of work: when it refuses, the campaign stays a draft and the caller commits nothing.
    Edges pass ``ports.publish_preparation(extras)``, which refuses a paying rule when the app
    layer wired nothing (fail closed). ``None`` skips the preparation; it is for callers that
    publish below the edges (scripts, tests): a claim then splits the pool on first need.
    A rule that pays nothing (``none``) needs no preparation and never calls it.
    """
    actor.require(
        Permission.campaigns_publish
        if action in (Action.publish, Action.unpublish, Action.start)
        else Permission.budget_fund
        if action == Action.settle
        else Permission.campaigns_write
    )
    campaign = await _load(uow, campaign_id, for_update=True)
    target = domain.next_status(campaign.status, action)
    if action == Action.publish:
        await _check_publishable(uow, campaign)
        pays = campaign.reward_rule.get("kind") != domain.NoReward.kind
        if publish_preparation is not None and pays:
            await publish_preparation(uow, actor, campaign.id)
        campaign.published_at = uow.clock.now()
    if action == Action.settle:
        await _settle_books(uow, campaign, settlement_gate)
    await _apply(uow, actor, campaign, action, target)
    if action == Action.publish and campaign.starts_at <= uow.clock.now():
        await _apply(uow, actor, campaign, Action.start, CampaignStatus.live)
    return campaign


async def _apply(
    uow: UnitOfWork, actor: Actor, campaign: Campaign, action: Action, target: CampaignStatus
) -> None:
    previous = campaign.status
    campaign.status = target
    campaign.updated_at = uow.clock.now()
    await uow.session.flush()
    accounts_service.record_audit(
        uow,
        actor,
        domain.EVENT_NAMES[action],
        "campaign",
        campaign.id,
        from_status=previous,
        to_status=target,
    )
    _emit(uow, domain.EVENT_NAMES[action], campaign, previous=str(previous))


async def _check_publishable(uow: UnitOfWork, campaign: Campaign) -> None:
    now = uow.clock.now()
    if campaign.ends_at <= now:
        raise NotPublishable("the campaign's end time has already passed")
    findings = risk_service.check_copy(campaign.name, campaign.description)
    if findings:
        listed = "; ".join(f"“{f.excerpt}”: {f.why}" for f in findings)
        raise NotPublishable(f"the copy breaks WeChat's rules: {listed}", findings=listed)
    budget = await ledger.balances(uow, campaign.id)
    rule = domain.rule_from_dict(campaign.reward_rule)
    if rule.kind != "none" and budget.available <= 0:
        raise NotPublishable("fund the budget before publishing a campaign that pays rewards")


async def _settle_books(uow: UnitOfWork, campaign: Campaign, gate: SettlementGate | None) -> None:
    """Settled is terminal and hands the unspent budget back, so it needs both: no money in
    flight, and WeChat's bills agreeing with our payouts (or every difference resolved)."""
    budget = await ledger.balances(uow, campaign.id)
    if budget.reserved:
        raise NotSettleable(f"{budget.reserved} fen are still reserved for payouts in flight")
    if budget.allotted:
        raise NotSettleable(f"{budget.allotted} fen are still allotted to the scan hot path")
    blockers = await _gate_blockers(uow, campaign, gate)
    if blockers:
        raise NotReconciled(blockers)
    if budget.available:
        await ledger.withdraw(uow, campaign.id, budget.available, memo="settlement")


async def _gate_blockers(
    uow: UnitOfWork, campaign: Campaign, gate: SettlementGate | None
) -> list[str]:
    """Why ``campaign`` may not be settled as far as reconciliation is concerned (empty: it
    may). Fails closed: with no gate wired in, settling is refused."""
    if gate is None:
        raise SettlementCheckUnavailable()
    return list(await gate(uow, campaign.id))


async def settle_check(
    uow: UnitOfWork, actor: Actor, campaign_id: uuid.UUID, gate: SettlementGate | None
) -> list[str]:
    """What stands between an ended campaign and settlement, for the campaign page: money
    still reserved, then the reconciliation blockers. Empty when settling would succeed."""
    actor.require(Permission.campaigns_read)
    campaign = await _load(uow, campaign_id)
    budget = await ledger.balances(uow, campaign.id)
    found = []
    if budget.reserved:
        found.append(f"{budget.reserved} fen are still reserved for payouts in flight")
    if budget.allotted:
        found.append(f"{budget.allotted} fen are still allotted to the scan hot path")
    try:
        found += await _gate_blockers(uow, campaign, gate)
    except SettlementCheckUnavailable as exc:
        found.append(exc.title)
    return found


def payout_terms(campaign: Campaign, *, override_mode: str | None = None) -> domain.PayoutTerms:
    """What a payout for ``campaign`` is created with (mode, automatic reissue mode and count),
    for the capability that creates it: pass them on to ``payouts.service.create_payout``."""
    return domain.payout_terms(
        campaign.payout_mode,
        campaign.reissue_policy,
        campaign.max_auto_reissues,
        override_mode=None if override_mode is None else domain.PayoutMode(override_mode),
    )


async def is_settled(uow: UnitOfWork, campaign_id: uuid.UUID) -> bool:
    """True once the campaign's books are closed: nothing may be paid from it any more."""
    campaign = await CampaignRepository(uow).get(campaign_id)
    return campaign is not None and campaign.status == CampaignStatus.settled


async def fund(
    uow: UnitOfWork, actor: Actor, campaign_id: uuid.UUID, amount_fen: int, memo: str = ""
) -> Balances:
    """Top up a campaign's budget through the ledger; refused beyond the hard cap."""
    actor.require(Permission.budget_fund)
    campaign = await _load(uow, campaign_id)
    if campaign.status in (CampaignStatus.ended, CampaignStatus.settled):
        raise IllegalTransition(f"cannot fund a campaign that is {campaign.status}")
    await ledger.fund(uow, campaign.id, Fen(amount_fen), memo=memo or "top-up")
    accounts_service.record_audit(
        uow, actor, "campaign.funded", "campaign", campaign.id, amount_fen=amount_fen
    )
    _emit(uow, "campaign.funded", campaign, amount_fen=amount_fen)
    return await ledger.balances(uow, campaign.id)


async def set_cap(uow: UnitOfWork, actor: Actor, campaign_id: uuid.UUID, cap_fen: int) -> Campaign:
    actor.require(Permission.budget_fund)
    campaign = await _load(uow, campaign_id, for_update=True)
    if campaign.status == CampaignStatus.settled:
        raise IllegalTransition("a settled campaign's budget is closed")
    await ledger.set_cap(uow, campaign.id, Fen(cap_fen))
    previous = campaign.budget_cap_fen
    campaign.budget_cap_fen = cap_fen
    campaign.updated_at = uow.clock.now()
    accounts_service.record_audit(
        uow, actor, "campaign.cap_changed", "campaign", campaign.id, previous=previous, cap=cap_fen
    )
    return campaign


async def budget(uow: UnitOfWork, actor: Actor, campaign_id: uuid.UUID) -> Balances:
    actor.require(Permission.campaigns_read)
    campaign = await _load(uow, campaign_id)
    return await ledger.balances(uow, campaign.id)


async def brand_budget(uow: UnitOfWork, actor: Actor) -> Balances:
    """The budget picture across every campaign of the brand (dashboard totals)."""
    actor.require(Permission.dashboard_read)
    return await ledger.brand_totals(uow)


async def ledger_transactions(
    uow: UnitOfWork, actor: Actor, campaign_id: uuid.UUID, page: PageRequest
) -> Page[LedgerTransaction]:
    actor.require(Permission.ledger_read)
    campaign = await _load(uow, campaign_id)
    return await ledger.transactions(uow, campaign.id, page)


# --- channels ------------------------------------------------------------------------------


async def add_channel(
    uow: UnitOfWork, actor: Actor, campaign_id: uuid.UUID, data: ChannelCreate
) -> Channel:
    actor.require(Permission.campaigns_write)
    campaign = await _load(uow, campaign_id)
    if campaign.status == CampaignStatus.settled:
        raise IllegalTransition("a settled campaign cannot get new channels")
    code = data.code.lower()
    if not domain.CHANNEL_CODE.match(code):
        raise InvalidChannelCode()
    channels = ChannelRepository(uow)
    if await channels.code_taken(campaign.id, code):
        raise ChannelCodeTaken()
    channel = channels.add(
        Channel(
            brand_id=actor.brand_id,
            campaign_id=campaign.id,
            kind=data.kind,
            code=code,
            name=data.name,
            created_at=uow.clock.now(),
        )
    )
    await uow.session.flush()
    accounts_service.record_audit(
        uow, actor, "channel.created", "channel", channel.id, campaign_id=campaign.id, code=code
    )
    return channel


async def list_channels(uow: UnitOfWork, actor: Actor, campaign_id: uuid.UUID) -> list[Channel]:
    actor.require(Permission.campaigns_read)
    campaign = await _load(uow, campaign_id)
    return list(await uow.session.scalars(ChannelRepository(uow).for_campaign(campaign.id)))


def channel_link(base_url: str, channel: Channel) -> str:
    """The attribution link for a channel: the campaign's landing page with ``ch`` and UTM
    parameters, so every visit and claim can be counted per channel."""
    query = urlencode(
        {"ch": channel.code, "utm_source": channel.kind.value, "utm_campaign": channel.campaign_id}
    )
    return f"{base_url.rstrip('/')}/c/{channel.campaign_id}?{query}"


# --- scheduler -----------------------------------------------------------------------------


async def apply_schedule(uow: UnitOfWork, now: datetime) -> list[Campaign]:
    """Start scheduled campaigns whose window began and end those whose window closed.

    Runs in a system-scoped unit of work (all brands); each change is audited as the scheduler.
    """
    repo = CampaignRepository(uow)
    changed: list[Campaign] = []
    for campaign in await repo.due_to_start(now):
        actor = accounts_service.system_actor(campaign.brand_id, "scheduler")
        if campaign.ends_at <= now:
            await _apply(uow, actor, campaign, Action.end, CampaignStatus.ended)
        else:
            await _apply(uow, actor, campaign, Action.start, CampaignStatus.live)
        changed.append(campaign)
    for campaign in await repo.due_to_end(now):
        actor = accounts_service.system_actor(campaign.brand_id, "scheduler")
        await _apply(uow, actor, campaign, Action.end, CampaignStatus.ended)
        changed.append(campaign)
    return changed


async def status_counts(uow: UnitOfWork, actor: Actor) -> dict[CampaignStatus, int]:
    actor.require(Permission.dashboard_read)
    return await CampaignRepository(uow).count_by_status()
