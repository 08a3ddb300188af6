"""Use cases of scan-to-win. None of them commits: the H5 edge does (C4).

The scan of a genuine code is ONE transaction: verify the code, check its batch and its
campaign, claim it (``ClaimStore``: a conditional UPDATE), draw the prize (CSPRNG), log the
draw, create the payout with the campaign's payout terms (the ledger reserves the budget in
the same transaction) and emit the events. The claim, the draw log and the payout run inside
a savepoint: when the budget (or the pool) cannot pay, the savepoint is rolled back, so the
code stays unclaimed (a re-scan after a top-up can still win), and the refused draw is logged
as ``budget_exhausted`` in the outer transaction.

Invalid codes never reach the database when their tag fails (``parse``); every invalid scan
is counted per openid, device and IP (``record_guess``) and a client over its limit is refused
before anything else (``guard``), without any lookup.

With a hot store (``ScanEnv.hot``, see ``scans.hot``) the claim only *grabs*: the same checks,
then one atomic store step (claim + pool share + allowance + outbox entry); the worker's
``relay_grabs`` writes the draw and the payout later. The allowance is topped up from the
ledger (``ensure_allowance``: available → allotted, then the store) and handed back when the
campaign stops (``release_allowance``); ``restore_allowances`` repairs a crash between the
two halves of a top-up.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import structlog

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import Actor, Permission
from jinli.campaigns import service as campaigns_service
from jinli.codes import domain as codes_domain
from jinli.codes import service as codes_service
from jinli.codes.domain import BatchStatus, CodeForm, CodeLookup, ParsedCode
from jinli.codes.service import CodeEnv
from jinli.kernel.events import DomainEvent
from jinli.kernel.money import Fen
from jinli.ledger import service as ledger
from jinli.ledger.domain import TransactionKind
from jinli.ledger.errors import InsufficientBudget
from jinli.payouts import service as payouts_service
from jinli.payouts.domain import PayoutMode, PayoutState
from jinli.platform.counters import CounterStore
from jinli.platform.db.uow import UnitOfWork
from jinli.platform.runtime import Runtime
from jinli.rewards.domain import (
    SYSTEM_RANDOM,
    BudgetCheck,
    DrawOutcome,
    RandomSource,
    draw_prize,
    presplit,
    require_budget,
)
from jinli.rewards.errors import BudgetTooSmall
from jinli.scans import domain, hot
from jinli.scans.domain import (
    Claim,
    ClaimStatus,
    ClaimTicket,
    Client,
    DrawRecord,
    FixedPlan,
    GuessPolicy,
    Limit,
    NoPlan,
    PoolPlan,
    PoolRef,
    ResultPage,
    RewardPlan,
    ScanTally,
    TierPlan,
)
from jinli.scans.errors import (
    CampaignNotLive,
    ClaimsThrottled,
    CodeInactive,
    GuessThrottled,
    PrizeNotFound,
    PrizesExhausted,
    ScanRefused,
)
from jinli.scans.hot import Grabbed
from jinli.scans.models import ScanDraw, ScanPool
from jinli.scans.ports import ClaimStore, HotClaimStore, RegionResolver
from jinli.scans.repository import DrawRepository, PoolRepository, SqlClaimStore

if TYPE_CHECKING:
    from jinli.campaigns.models import Campaign

log = structlog.get_logger()

ACTOR_NAME = "h5.scan"
"""The system actor scans act as inside the code's brand (audit and service permission)."""
ACTIVITY = "扫码赢红包"
"""The payout's activity name (WeChat shows it with a transfer or red packet)."""

# --- the environment ------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanEnv:
    """What the scan use cases need from the runtime, built once per runtime (``env_for``)."""

    codes: CodeEnv
    counters: CounterStore
    policy: GuessPolicy
    regions: RegionResolver
    claims: ClaimStore
    rng: RandomSource
    claims_per_day: int
    hot: HotClaimStore | None = None
    """The hot store (``scans.hot``); ``None``: the claim is one database transaction."""
    tranche_fen: int = 100_000
    """The allowance added to the hot store at a time (``ensure_allowance``)."""
    new_uow: Callable[..., UnitOfWork] | None = None
    """Opens a unit of work of its own (``Runtime.uow``): the allowance top-up commits apart
    from the request."""
    hot_state: HotState = field(default_factory=lambda: HotState())


@dataclass
class HotState:
    """Per-process state of the hot path: one top-up at a time per campaign, and the pools
    this process has loaded into the store."""

    topping_up: dict[uuid.UUID, asyncio.Lock] = field(default_factory=dict)
    loaded_pools: set[uuid.UUID] = field(default_factory=set)
    pools: dict[uuid.UUID, PoolRef] = field(default_factory=dict)
    """The loaded pool of each campaign (the quick claim grabs from these only)."""

    def lock(self, campaign_id: uuid.UUID) -> asyncio.Lock:
        return self.topping_up.setdefault(campaign_id, asyncio.Lock())


ENV_KEY = "scans.env"
CLAIM_STORE_KEY = "scans.claim_store"
"""A runtime may carry its own ``ClaimStore`` here (the Redis hot path); the SQL one otherwise."""
REGION_RESOLVER_KEY = "scans.region_resolver"
"""A runtime may carry its own ``RegionResolver`` here; the settings' CIDR map otherwise."""
HOT_STORE_KEY = "scans.hot_store"
"""The runtime's ``HotClaimStore`` (the app layer puts it here when ``scans.hot_path`` is not
``sql``); without it claims take the SQL path."""


def env_for(runtime: Runtime) -> ScanEnv:
    env = runtime.extras.get(ENV_KEY)
    if isinstance(env, ScanEnv):
        return env
    settings = runtime.settings.scans

    def limit(value: Any) -> Limit:
        return Limit(per_window=value.per_window, per_day=value.per_day)

    env = ScanEnv(
        codes=codes_service.env_for(runtime),
        counters=runtime.counters,
        policy=GuessPolicy(
            window_seconds=settings.guess_window_seconds,
            openid=limit(settings.guess_openid),
            device=limit(settings.guess_device),
            ip=limit(settings.guess_ip),
            storm_per_minute=settings.storm_per_minute,
        ),
        regions=runtime.extras.get(REGION_RESOLVER_KEY)
        or domain.CidrRegionResolver(settings.region_map),
        claims=runtime.extras.get(CLAIM_STORE_KEY) or SqlClaimStore(),
        rng=SYSTEM_RANDOM,
        claims_per_day=settings.claims_per_openid_per_day,
        hot=runtime.extras.get(HOT_STORE_KEY),
        tranche_fen=settings.allowance_tranche_fen,
        new_uow=runtime.uow,
    )
    runtime.extras[ENV_KEY] = env
    return env


def _actor(brand_id: uuid.UUID) -> Actor:
    return accounts_service.system_actor(brand_id, ACTOR_NAME)


# --- before any database work: the code's shape and tag, the guess throttle -----------------


def parse(env: ScanEnv, text: str) -> ParsedCode:
    """Check a scanned code without any I/O (``CodeMalformed`` / ``CodeNotGenuine``)."""
    return codes_domain.parse(text, env.codes.keys)


async def guard(env: ScanEnv, client: Client) -> None:
    """Refuse a client that has used up its invalid scans (``GuessThrottled``), before the code
    is even parsed: a blocked guesser costs a few counter reads and no database lookup."""
    for key in domain.guess_keys(env.policy, client):
        if await env.counters.peek(key.key) >= key.limit:
            raise GuessThrottled()


@dataclass(frozen=True, slots=True)
class GuessingAlarm:
    """A guessing storm: ``count`` invalid scans (all clients) within ``window_seconds``."""

    count: int
    window_seconds: int
    at: datetime


async def record_guess(env: ScanEnv, client: Client, now: datetime) -> GuessingAlarm | None:
    """Count an invalid scan (forged, mistyped or unknown code) against the client's openid,
    device and IP, and in the hourly total the live page reads (``scans:invalid:YYYYMMDDHH``,
    Beijing hour, kept 48 h). Returns the alarm when this scan pushed the minute's total over
    the storm threshold (exactly once per minute): the edge then logs it in a transaction of
    its own (``raise_guessing_alarm``)."""
    for key in domain.guess_keys(env.policy, client):
        await env.counters.hit(key.key, key.window_seconds)
    await env.counters.hit(domain.invalid_hour_key(now), domain.INVALID_HOUR_WINDOW_SECONDS)
    count = await env.counters.hit(domain.storm_key(now), 2 * domain.STORM_WINDOW_SECONDS)
    if count != env.policy.storm_per_minute + 1:
        return None
    log.warning(
        "scan.guessing.alarm",
        count=count,
        window_seconds=domain.STORM_WINDOW_SECONDS,
        ip=client.ip,
        openid=client.openid,
    )
    return GuessingAlarm(count, domain.STORM_WINDOW_SECONDS, now)


def raise_guessing_alarm(uow: UnitOfWork, alarm: GuessingAlarm) -> None:
    """Record the storm alarm as a system-wide ``alert.guessing`` event (no brand: a forged
    code names none). System unit of work."""
    uow.emit(
        DomainEvent(
            "alert.guessing",
            "scans",
            {"count": alarm.count, "window_seconds": alarm.window_seconds},
            brand_id=None,
        )
    )


# --- what the consumer is shown --------------------------------------------------------------


class ScanState(StrEnum):
    ready = "ready"
    """A genuine, claimable code: the page offers the one tap that claims it (GET never pays)."""
    won = "won"
    """Claimed now, with money: the payout exists."""
    no_prize = "no_prize"
    """Claimed now, nothing to pay ("谢谢参与", or a campaign that pays nothing)."""
    repeated = "repeated"
    """Claimed before: the anti-counterfeit answer, never a second reward."""
    refused = "refused"
    """Genuine but not payable now (``error`` says why)."""


@dataclass(frozen=True)
class ScanView:
    state: ScanState
    campaign_name: str
    headline: str
    page: ResultPage
    tally: ScanTally | None = None
    draw_id: uuid.UUID | None = None
    amount_fen: int = 0
    tier_label: str = ""
    error: ScanRefused | None = None
    cross_region: bool = False
    recording: bool = False
    """Won through the hot path: the relay writes the draw (and its payout) in a moment, so
    the prize page may not find it yet."""


# --- the scan ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scan:
    """A genuine code found in the database, in its brand's scope."""

    parsed: ParsedCode
    lookup: CodeLookup
    campaign: Campaign
    client: Client
    scan_region: str | None

    @property
    def short(self) -> bool:
        return self.parsed.form == CodeForm.short


async def _open(uow: UnitOfWork, env: ScanEnv, text: str, client: Client) -> _Scan:
    parsed = parse(env, text)
    lookup = await codes_service.verify(uow, env.codes, text)  # CodeNotFound: a guess
    uow.scope_to(lookup.brand_id)
    return open_scan(env, parsed, lookup, await campaign_of(uow, lookup), client)


async def campaign_of(uow: UnitOfWork, lookup: CodeLookup) -> Campaign:
    """The campaign of a genuine code, read as the scans system actor of its brand."""
    return await campaigns_service.get(uow, _actor(lookup.brand_id), lookup.campaign_id)


async def campaign_copy(uow: UnitOfWork, lookup: CodeLookup) -> Campaign:
    """``campaign_of``, detached from the session so that it outlives the transaction (the
    quick claim keeps it for a moment); its loaded attributes stay readable."""
    campaign = await campaign_of(uow, lookup)
    uow.session.expunge(campaign)
    return campaign


def open_scan(
    env: ScanEnv, parsed: ParsedCode, lookup: CodeLookup, campaign: Campaign, client: Client
) -> _Scan:
    return _Scan(parsed, lookup, campaign, client, env.regions.region_of(client.ip))


def _view(scan: _Scan, state: ScanState, **fields: Any) -> ScanView:
    plan = domain.reward_plan(scan.campaign.reward_rule)
    return ScanView(
        state=state,
        campaign_name=scan.campaign.name,
        headline=domain.headline(plan),
        page=domain.result_page(scan.campaign.reward_rule),
        cross_region=domain.is_cross_region(scan.lookup.region, scan.scan_region),
        **fields,
    )


def _emit(uow: UnitOfWork, scan: _Scan, topic: str, **payload: Any) -> None:
    body = {"campaign_id": str(scan.lookup.campaign_id), "batch_id": str(scan.lookup.batch_id)}
    uow.emit(
        DomainEvent(
            topic, str(scan.lookup.campaign_id), {**body, **payload}, brand_id=scan.lookup.brand_id
        )
    )


def _alert_if_cross_region(uow: UnitOfWork, scan: _Scan) -> None:
    if domain.is_cross_region(scan.lookup.region, scan.scan_region):
        _emit(
            uow,
            scan,
            "alert.cross_region",
            batch_region=scan.lookup.region,
            scan_region=scan.scan_region,
        )
        log.info(
            "scan.cross_region",
            campaign_id=str(scan.lookup.campaign_id),
            batch_region=scan.lookup.region,
            scan_region=scan.scan_region,
        )


def refusal_of(scan: _Scan, now: datetime) -> ScanRefused | None:
    if scan.lookup.batch_status != BatchStatus.active:
        return CodeInactive()
    campaign = scan.campaign
    if not domain.campaign_open(str(campaign.status), campaign.starts_at, campaign.ends_at, now):
        return CampaignNotLive()
    return None


async def _count(uow: UnitOfWork, scan: _Scan) -> ScanTally:
    counted = await codes_service.count_scan(
        uow, scan.parsed.lookup_hash, short=scan.short, region=scan.scan_region
    )
    return ScanTally(counted.scans, counted.first_scanned_at, counted.first_scan_region)


async def _repeat(uow: UnitOfWork, scan: _Scan) -> ScanView:
    """A re-scan: count it, answer with the code's history, never pay again."""
    tally = await _count(uow, scan)
    _emit(uow, scan, "scan.repeated", scans=tally.scans, scan_region=scan.scan_region)
    _alert_if_cross_region(uow, scan)
    return _view(scan, ScanState.repeated, tally=tally)


async def _refuse(uow: UnitOfWork, scan: _Scan, error: ScanRefused) -> ScanView:
    """A genuine code that cannot pay now: the scan is counted and ``scan.refused`` emitted."""
    tally = await _count(uow, scan)
    _emit(uow, scan, "scan.refused", reason=error.reason)
    _alert_if_cross_region(uow, scan)
    return _view(scan, ScanState.refused, tally=tally, error=error)


async def inspect(uow: UnitOfWork, env: ScanEnv, text: str, client: Client) -> ScanView:
    """What the scan link (GET) shows a signed-in consumer: a claimable code offers the claim
    (nothing written); a claimed code gets the anti-counterfeit answer (the re-scan is
    counted); a code that cannot pay gets its reason (counted, ``scan.refused``).

    Raises ``CodeMalformed``/``CodeNotGenuine`` (no I/O) or ``CodeNotFound`` (one lookup): the
    edge counts those as guesses."""
    scan = await _open(uow, env, text, client)
    if scan.lookup.claimed_at is not None:
        return await _repeat(uow, scan)
    refusal = refusal_of(scan, uow.clock.now())
    if refusal is not None:
        return await _refuse(uow, scan, refusal)
    return _view(scan, ScanState.ready)


async def claim(
    uow: UnitOfWork, env: ScanEnv, text: str, client: Client, *, counted: bool = False
) -> ScanView:
    """The one tap (POST): claim the code for ``client.openid`` and pay its prize, all in the
    caller's transaction (see the module docstring). Exactly one claim per code wins, whatever
    the concurrency; the others get the anti-counterfeit answer. ``counted``: this tap was
    already counted against the consumer's daily claims (the quick claim, ``scans.lane``,
    handed it on)."""
    if not client.openid:
        raise ValueError("a claim needs the consumer's openid")
    scan = await _open(uow, env, text, client)
    if scan.lookup.claimed_at is not None:
        return await _repeat(uow, scan)
    refusal = refusal_of(scan, uow.clock.now())
    if refusal is not None:
        return await _refuse(uow, scan, refusal)
    # The counters may take a connection of their own (PostgreSQL without Redis): hand this
    # one back first (nothing is written yet), so a request never holds two at once; with
    # both held, as many concurrent claims as the pool has connections would deadlock.
    await uow.commit()
    if await over_daily_claims(env, client.openid, counted=counted):
        return await _refuse(uow, scan, ClaimsThrottled())

    plan = domain.reward_plan(scan.campaign.reward_rule)
    if env.hot is not None:
        return await _grab(uow, env, env.hot, scan, plan)
    pool = await prepare_pool(uow, scan.campaign, plan)
    ticket = claim_ticket(uow.clock.now(), env, scan, plan, pool)
    result: Claim | None = None
    row: ScanDraw | None = None
    try:
        # The savepoint undoes the claim (and the pool share) when the budget cannot pay.
        async with uow.session.begin_nested():
            result = await env.claims.claim(uow, ticket)
            if result.status == ClaimStatus.exhausted:
                raise _Unpaid(_empty_pool_draw(ticket))
            if result.status == ClaimStatus.claimed and result.draw is not None:
                try:
                    row = await settle_claim(uow, ticket, result.draw, scan.campaign)
                except InsufficientBudget:
                    raise _Unpaid(result.draw.unpaid()) from None
    except _Unpaid as unpaid:
        await _log_unpaid(uow, ticket, unpaid.draw)
        return await _refuse(uow, scan, PrizesExhausted())
    if result.status == ClaimStatus.taken or row is None:
        return await _repeat(uow, scan)  # another scan claimed it a moment ago
    _alert_if_cross_region(uow, scan)
    state = ScanState.won if row.amount_fen > 0 else ScanState.no_prize
    return _view(
        scan,
        state,
        draw_id=row.id,
        amount_fen=row.amount_fen,
        tier_label=row.tier_label,
    )


async def over_daily_claims(env: ScanEnv, openid: str, *, counted: bool = False) -> bool:
    """Count a claim against the consumer's daily limit (once per tap: ``counted`` says it
    was) and say whether it is over."""
    key = domain.claim_key(openid)
    if counted:
        claimed = await env.counters.peek(key)
    else:
        claimed = await env.counters.hit(key, domain.DAY_SECONDS)
    return claimed > env.claims_per_day


def claim_ticket(
    now: datetime, env: ScanEnv, scan: _Scan, plan: RewardPlan, pool: PoolRef | None
) -> ClaimTicket:
    return ClaimTicket(
        # Keyed by the code itself, not by the form scanned: a hot store that sees the short
        # and the full form of one code sees one claim.
        code_hash=scan.lookup.code_hash,
        short=False,
        brand_id=scan.lookup.brand_id,
        campaign_id=scan.lookup.campaign_id,
        batch_id=scan.lookup.batch_id,
        openid=scan.client.openid or "",
        at=now,
        batch_region=scan.lookup.region,
        scan_region=scan.scan_region,
        draw=_predraw(plan, scan, env.rng),
        pool=pool,
    )


class _Unpaid(Exception):
    """Raised inside the claim's savepoint to undo the claim when its prize cannot be paid
    (the budget is short, or the pool has no share left); carries the draw to log."""

    def __init__(self, draw: DrawRecord) -> None:
        super().__init__(draw.tier_label)
        self.draw = draw


def _empty_pool_draw(ticket: ClaimTicket) -> DrawRecord:
    if ticket.pool is None:
        raise RuntimeError("the claim store found an empty pool for a claim without one")
    return domain.exhausted_record(ticket.pool.plan, ticket.pool.rule_hash, ticket.batch_region)


def _predraw(plan: RewardPlan, scan: _Scan, rng: RandomSource) -> DrawRecord | None:
    """The reward decided before the claim: a tier drawn with the CSPRNG (by the batch's
    region), a fixed amount, or nothing; a pool's share is taken by the claim itself."""
    region = scan.lookup.region
    stored = scan.campaign.reward_rule
    if isinstance(plan, TierPlan):
        return domain.tier_record(draw_prize(plan.rule, region, rng))
    if isinstance(plan, FixedPlan):
        rule_hash = domain.plain_rule_hash(domain.DrawKind.fixed, stored)
        return domain.fixed_record(plan.amount_fen, rule_hash, region)
    if isinstance(plan, NoPlan):
        return domain.none_record(domain.plain_rule_hash(domain.DrawKind.none, stored), region)
    return None


def _draw_row(ticket: ClaimTicket, draw: DrawRecord, draw_id: uuid.UUID | None = None) -> ScanDraw:
    return ScanDraw(
        id=draw_id or uuid.uuid4(),
        brand_id=ticket.brand_id,
        campaign_id=ticket.campaign_id,
        batch_id=ticket.batch_id,
        code_hash=ticket.code_hash,
        openid=ticket.openid,
        kind=draw.kind,
        algorithm=draw.algorithm,
        rule_hash=draw.rule_hash,
        region=draw.region,
        table_region=draw.table_region,
        scan_region=ticket.scan_region,
        random_value=draw.random_value,
        share_no=draw.share_no,
        tier_index=draw.tier_index,
        tier_label=draw.tier_label,
        drawn_fen=draw.drawn_fen,
        amount_fen=draw.amount_fen,
        outcome=draw.outcome,
        drawn_at=ticket.at,
    )


async def _log_unpaid(uow: UnitOfWork, ticket: ClaimTicket, draw: DrawRecord) -> None:
    """Log a draw the budget or the pool could not pay (the claim itself was rolled back)."""
    DrawRepository(uow).add(_draw_row(ticket, draw))
    await uow.session.flush()
    log.info(
        "scan.prizes_exhausted",
        campaign_id=str(ticket.campaign_id),
        drawn_fen=draw.drawn_fen,
        tier=draw.tier_label,
    )


async def settle_claim(
    uow: UnitOfWork,
    ticket: ClaimTicket,
    draw: DrawRecord,
    campaign: Campaign,
    *,
    draw_id: uuid.UUID | None = None,
) -> ScanDraw:
    """Record a claimed code's draw and pay it: the payout (with the campaign's payout terms;
    the ledger reserves the amount or raises ``InsufficientBudget``) and ``scan.claimed``.
    A 0-fen draw creates no payout. The payout's cause ``scan:<code hash>`` is unique per
    brand, a second wall behind the claim (I2).

    The SQL path calls this inside the claim's transaction; a store that claims elsewhere
    (Redis) calls it from the relay that moves its claims into the database, with the
    ``draw_id`` the consumer was shown (a new id otherwise)."""
    payout_id: uuid.UUID | None = None
    if draw.amount_fen > 0:
        terms = campaigns_service.payout_terms(campaign)
        payout = await payouts_service.create_payout(
            uow,
            campaign_id=ticket.campaign_id,
            amount_fen=Fen(draw.amount_fen),
            openid=ticket.openid,
            mode=PayoutMode(terms.mode),
            cause=f"scan:{ticket.code_hash.hex()}",
            remark=f"{campaign.name} {draw.tier_label}",
            activity=ACTIVITY,
            reissue_as=None if terms.reissue_as is None else PayoutMode(terms.reissue_as),
            auto_reissues=terms.auto_reissues,
        )
        payout_id = payout.id
    row = _draw_row(ticket, draw, draw_id)
    row.payout_id = payout_id
    DrawRepository(uow).add(row)
    await uow.session.flush()
    uow.emit(
        DomainEvent(
            "scan.claimed",
            str(ticket.campaign_id),
            {
                "campaign_id": str(ticket.campaign_id),
                "batch_id": str(ticket.batch_id),
                "region": ticket.batch_region,
                "scan_region": ticket.scan_region,
                "tier": draw.tier_label,
                "amount_fen": draw.amount_fen,
                "payout_id": None if payout_id is None else str(payout_id),
            },
            brand_id=ticket.brand_id,
        )
    )
    return row


# --- pools -------------------------------------------------------------------------------


async def prepare_pool(uow: UnitOfWork, campaign: Campaign, plan: RewardPlan) -> PoolRef | None:
    """The campaign's pool, split and shuffled with the CSPRNG on first need (``presplit``:
    Σ == total, checked) and stored share by share; ``None`` for plans without a pool.

    Idempotent and safe under concurrency: the pool row is inserted with ON CONFLICT DO
    NOTHING, so of two first claims one splits and the other uses its pool."""
    if not isinstance(plan, PoolPlan):
        return None
    pools = PoolRepository(uow)
    existing = await pools.for_campaign(campaign.id)
    if existing is None:
        shares = presplit(plan.pool) if plan.stores_shares else ()
        rule_hash = (
            domain.pool_hash(plan.pool, shares)
            if plan.stores_shares
            else domain.fixed_pool_hash(plan.pool)  # type: ignore[arg-type]
        )
        pool = ScanPool(
            id=uuid.uuid4(),
            brand_id=campaign.brand_id,
            campaign_id=campaign.id,
            kind=plan.kind,
            rule=plan.pool.to_dict(),
            rule_hash=rule_hash,
            shares=plan.pool.shares,
            total_fen=plan.pool.total_fen,
            taken=0,
            taken_fen=0,
            created_at=uow.clock.now(),
        )
        if await pools.insert(pool):
            if shares:
                await pools.insert_shares(campaign.brand_id, pool.id, shares)
            log.info(
                "scan.pool.split",
                campaign_id=str(campaign.id),
                shares=pool.shares,
                total_fen=pool.total_fen,
            )
        existing = await pools.for_campaign(campaign.id)
        if existing is None:  # pragma: no cover - the insert or the conflicting one holds it
            raise RuntimeError("the pool vanished")
    return PoolRef(existing.id, plan, existing.rule_hash)


async def budget_check(uow: UnitOfWork, actor: Actor, campaign_id: uuid.UUID) -> BudgetCheck | None:
    """The publish-time check of a scan-to-win campaign's budget (``reward_budget_too_small``
    when short): prize tiers by the expected cost of the codes its batches hold (per batch
    region, plus margin and 3 σ, ``rewards.domain.require_budget``); a pool or an unlimited
    fixed amount by its total. ``None`` when the rule pays nothing."""
    actor.require(Permission.campaigns_read)
    campaign = await campaigns_service.get(uow, actor, campaign_id)
    plan = domain.reward_plan(campaign.reward_rule)
    budget = await campaigns_service.budget(uow, actor, campaign.id)
    available = int(budget.available)
    if isinstance(plan, TierPlan):
        planned = await codes_service.planned_codes(uow, campaign.id)
        return require_budget(plan.rule, planned, available)
    if isinstance(plan, PoolPlan | FixedPlan):
        if isinstance(plan, PoolPlan):
            required = int(plan.pool.total_fen)
            draws = plan.pool.shares
        else:
            draws = sum((await codes_service.planned_codes(uow, campaign.id)).values())
            required = draws * int(plan.amount_fen)
        check = BudgetCheck(
            planned_draws=draws,
            budget_fen=available,
            expected_fen=required,
            margin_fen=0,
            luck_fen=0,
            required_fen=required,
            max_prize_fen=required,
        )
        if not check.ok:
            raise BudgetTooSmall(
                f"the prizes need {required} fen; the available budget is {available} fen",
                required_fen=required,
                budget_fen=available,
                expected_fen=required,
            )
        return check
    return None


async def prepare_publish(
    uow: UnitOfWork,
    actor: Actor,
    campaign_id: uuid.UUID,
    *,
    hot: HotClaimStore | None = None,
    tranche_fen: int = 0,
) -> BudgetCheck | None:
    """Everything a scan-to-win campaign needs at publish time: the budget check, then the
    pool split (so the first claim does not pay for it). For the publish action's hook.

    With a hot store, the pool's shares are loaded into it too, and a first tranche of
    allowance (``tranche_fen``, at most what is available) is allotted in the publish's
    transaction. The store gets that tranche only once the publish has committed, from the
    first top-up or ``restore_allowances`` (both re-apply recent tranches): a store must
    never hold allowance the ledger might not have set aside."""
    actor.require(Permission.campaigns_publish)
    check = await budget_check(uow, actor, campaign_id)
    campaign = await campaigns_service.get(uow, actor, campaign_id)
    plan = domain.reward_plan(campaign.reward_rule)
    pool = await prepare_pool(uow, campaign, plan)
    if hot is not None:
        if pool is not None:
            await hot.load_pool(pool, await _pool_shares(uow, pool))
        if not isinstance(plan, NoPlan) and tranche_fen > 0:
            available = int((await ledger.balances(uow, campaign.id)).available)
            fen = min(available, tranche_fen)
            if fen > 0:
                await ledger.allot(uow, campaign.id, Fen(fen), memo=_tranche_id(campaign.id))
    return check


def _tranche_id(campaign_id: uuid.UUID) -> str:
    """A fresh tranche id (``scans.hot.tranche_id``)."""
    return hot.tranche_id(campaign_id)


async def _pool_shares(uow: UnitOfWork, pool: PoolRef) -> list[int]:
    """A pool's share vector in position order (a fixed pool: its amount, ``shares`` times)."""
    if pool.plan.stores_shares:
        return await PoolRepository(uow).shares(pool.id)
    return [int(pool.plan.pool.min_fen)] * pool.plan.pool.shares


# --- the hot path (``scans.hot``) -------------------------------------------------------------

RECENT_TRANCHES = 3
TOP_UP_ATTEMPTS = 8
"""Top-ups one short grab may ask for before it is refused while the ledger still has budget
(each one allots a tranche or waits for a concurrent one)."""
"""Tranches a top-up re-applies before it allots a new one: the publish's first tranche, or
one a crash kept from the store (idempotent per tranche id)."""


async def _grab(
    uow: UnitOfWork, env: ScanEnv, store: HotClaimStore, scan: _Scan, plan: RewardPlan
) -> ScanView:
    """The claim through the hot store: one atomic grab; the relay writes the draw and the
    payout later. The request's own transaction is committed before the store is called
    (C5: no transaction open across a network round trip, and on SQLite the top-up's
    transaction could not start while the request held the write lock). It holds reads
    only, and the pool row if this claim split it; what the answer writes (a re-scan's
    count, a refusal, a 串货 alert) goes in a new transaction the edge commits."""
    pool = await prepare_pool(uow, scan.campaign, plan)
    shares: list[int] | None = None
    if pool is not None and pool.id not in env.hot_state.loaded_pools:
        shares = await _pool_shares(uow, pool)
    ticket = claim_ticket(uow.clock.now(), env, scan, plan, pool)
    await uow.commit()
    if pool is not None and shares is not None:
        await store.load_pool(pool, shares)
        env.hot_state.loaded_pools.add(pool.id)
        env.hot_state.pools[scan.campaign.id] = pool
    draw_id = uuid.uuid4()
    result = await grab_topping_up(env, store, ticket, draw_id, scan.campaign)
    if result.status in (ClaimStatus.short, ClaimStatus.exhausted):
        unpaid = ticket.draw.unpaid() if ticket.draw is not None else _empty_pool_draw(ticket)
        await _log_unpaid(uow, ticket, unpaid)
        return await _refuse(uow, scan, PrizesExhausted())
    if result.status == ClaimStatus.taken:
        return await _repeat(uow, scan)
    if result.draw is None:  # pragma: no cover - the contract: a claimed grab has its draw
        raise RuntimeError("the hot store claimed without a draw")
    log.debug("scan.hot.grabbed", campaign_id=str(ticket.campaign_id), draw_id=str(draw_id))
    _alert_if_cross_region(uow, scan)
    draw = result.draw
    return _view(
        scan,
        ScanState.won if draw.amount_fen > 0 else ScanState.no_prize,
        draw_id=draw_id,
        amount_fen=int(draw.amount_fen),
        tier_label=draw.tier_label,
        recording=True,
    )


async def grab_topping_up(
    env: ScanEnv,
    store: HotClaimStore,
    ticket: ClaimTicket,
    draw_id: uuid.UUID,
    campaign: Campaign,
) -> Claim:
    """The hot store's grab; when the allowance is short, top it up and grab again.
    Concurrent grabs may eat a fresh tranche before this one retries, so only a ledger with
    nothing left to allot ends the attempts (bounded anyway)."""
    result = await store.grab(ticket, draw_id)
    need = 0 if ticket.draw is None else int(ticket.draw.amount_fen)
    for _ in range(TOP_UP_ATTEMPTS):
        if result.status != ClaimStatus.short:
            break
        more = await ensure_allowance(env, store, campaign, need)
        result = await store.grab(ticket, draw_id)
        if not more:
            break
    return result


async def ensure_allowance(
    env: ScanEnv, store: HotClaimStore, campaign: Campaign, need_fen: int
) -> bool:
    """Top the store's allowance for ``campaign`` up after a ``short`` grab; returns whether
    it may have grown (a tranche added or re-applied here, or a concurrent top-up waited
    for): false only when the ledger had nothing left to allot.

    First the campaign's latest tranches are re-applied (idempotent: the publish's tranche,
    or one a crash kept from the store). Otherwise one tranche of ``min(available,
    max(need, tranche_fen))`` is allotted in the ledger in a transaction of its own and
    committed (memo: the tranche id), then added to the store. A crash between the two
    leaves the tranche allotted but not in the store until ``restore_allowances``.

    Concurrency: one top-up per campaign at a time in a process (an ``asyncio.Lock``); a
    request that waited on it finds the allowance already topped up and only retries. Across
    processes each may add a tranche at once, so at most one tranche per process is
    allotted beyond what is needed; the ledger's conditional UPDATE keeps the sum within
    what is available."""
    if env.new_uow is None:
        raise RuntimeError("the hot path needs ScanEnv.new_uow for the allowance top-up")
    lock = env.hot_state.lock(campaign.id)
    waited = lock.locked()
    async with lock:
        if waited:
            return True  # the holder topped up (or found nothing available): just retry
        restored = await _reapply_tranches(env.new_uow, store, campaign, RECENT_TRANCHES)
        if restored and await store.allowance(campaign.id) >= max(need_fen, 1):
            return True
        for _ in range(2):  # another process may allot between our read and our allot
            tranche = _tranche_id(campaign.id)
            async with env.new_uow(brand_id=campaign.brand_id) as uow:
                available = int((await ledger.balances(uow, campaign.id)).available)
                fen = min(available, max(need_fen, env.tranche_fen))
                if fen <= 0:
                    return restored > 0
                try:
                    await ledger.allot(uow, campaign.id, Fen(fen), memo=tranche)
                except InsufficientBudget:
                    continue
                await uow.commit()
            await store.add_allowance(campaign.id, tranche, fen)
            log.info(
                "scan.hot.allowance_added",
                campaign_id=str(campaign.id),
                tranche=tranche,
                amount_fen=fen,
            )
            return True
        return restored > 0


async def _reapply_tranches(
    new_uow: Callable[..., UnitOfWork], store: HotClaimStore, campaign: Campaign, limit: int
) -> int:
    async with new_uow(brand_id=campaign.brand_id) as uow:
        latest = await ledger.latest_allotments(uow, campaign.id, limit=limit)
    added = 0
    for allotment in latest:
        if await store.add_allowance(campaign.id, allotment.memo, int(allotment.amount_fen)):
            added += int(allotment.amount_fen)
    return added


async def restore_allowances(runtime: Runtime, store: HotClaimStore, *, days: int) -> int:
    """Re-apply every tranche allotted in the last ``days`` days to the store (a periodic
    task). The store adds each tranche id at most once, so this only repairs a top-up that
    crashed between the ledger's commit and the store, or the publish's first tranche.
    Returns the number of tranches added now."""
    since = runtime.clock.now() - timedelta(days=days)
    async with runtime.uow(system=True) as uow:
        allotments = await ledger.allotments(uow, since=since)
    added = 0
    for allotment in allotments:
        if not allotment.memo.startswith("allot:"):
            continue
        if await store.add_allowance(allotment.book_id, allotment.memo, int(allotment.amount_fen)):
            added += 1
            log.info(
                "scan.hot.tranche_restored",
                campaign_id=str(allotment.book_id),
                tranche=allotment.memo,
                amount_fen=int(allotment.amount_fen),
            )
    return added


async def release_allowance(
    new_uow: Callable[..., UnitOfWork],
    store: HotClaimStore,
    brand_id: uuid.UUID,
    campaign_id: uuid.UUID,
) -> int:
    """Take a stopped campaign's unspent allowance out of the store and give it back to the
    budget (allotted → available); returns the fen given back (0 while the campaign is open
    for claims, or when the store holds nothing).

    The release id comes from the ledger: ``release:<campaign>:<a>:<n>``, ``a`` the
    allotments so far and ``n`` the releases recorded + 1. A retry after a crash between the
    store and the ledger's commit has the same id, and the store answers a repeated id with
    the same figure, so the release is recorded exactly once. An id the store answered with
    0 stays spent, but the next tranche (``a`` + 1) or release (``n`` + 1) names a new one.
    (A crash, then the campaign resumed *and* topped up before the retry, would leave that
    release's fen allotted for good: settlement refuses while anything is allotted, so it
    shows.) Grabs still waiting for the relay are not touched: their fen stay allotted until
    the relay settles them."""
    async with new_uow(brand_id=brand_id) as uow:
        campaign = await campaigns_service.get(uow, _actor(brand_id), campaign_id)
        now = uow.clock.now()
        if domain.campaign_open(str(campaign.status), campaign.starts_at, campaign.ends_at, now):
            return 0
        allots = await ledger.count_transactions(uow, campaign_id, TransactionKind.allot)
        released = await ledger.count_transactions(
            uow, campaign_id, TransactionKind.unallot, memo_prefix=release_prefix(campaign_id)
        )
    release = f"{release_prefix(campaign_id)}{allots}:{released + 1}"
    fen = await store.release_allowance(campaign_id, release)
    if fen <= 0:
        return 0
    async with new_uow(brand_id=brand_id) as uow:
        moved = await ledger.unallot(uow, campaign_id, Fen(fen), memo=release)
        await uow.commit()
    if moved:
        log.info(
            "scan.hot.allowance_released",
            campaign_id=str(campaign_id),
            release=release,
            amount_fen=fen,
        )
    return fen if moved else 0


def release_prefix(campaign_id: uuid.UUID) -> str:
    """What every release id of a campaign starts with."""
    return f"release:{campaign_id}:"


async def release_allowances(runtime: Runtime, store: HotClaimStore) -> int:
    """``release_allowance`` for every campaign with budget allotted (a periodic task);
    returns the fen given back. Run after ``restore_allowances``."""
    async with runtime.uow(system=True) as uow:
        books = await ledger.allotted_books(uow)
    total = 0
    for brand_id, book_id, _ in books:
        try:
            total += await release_allowance(runtime.uow, store, brand_id, book_id)
        except Exception:  # one campaign's trouble must not stop the others
            log.exception("scan.hot.release_failed", campaign_id=str(book_id))
    return total


class RelayOutcome(StrEnum):
    settled = "settled"
    """The draw (and its payout) written now."""
    duplicate = "duplicate"
    """Settled before (a re-delivered entry): nothing written."""
    conflict = "conflict"
    """The code is held by someone else in the database: the fen went back, nothing else."""


async def relay_grabs(
    runtime: Runtime, store: HotClaimStore, *, limit: int = 200, stale_seconds: float = 30.0
) -> int:
    """Settle up to ``limit`` grabs from the store's outbox into the database, in ONE
    transaction with a savepoint per grab (a bad entry is skipped, the others settle), then
    acknowledge them (``settled``). Returns the number acknowledged.

    Each grab: skipped when its draw row exists (settled before: a crash after the commit
    re-delivers it); the code is marked claimed for its openid (``mark_claimed``); its fen
    move allotted → available → reserved in one go (``unallot`` memo ``grab:<draw id>``,
    then the payout's reservation) and the draw row gets the id the consumer was shown. A
    0-fen draw moves no money. A code someone else holds (claimed through the SQL path)
    gets its fen back to the budget and an error log, and nothing else.

    Entries are settled in (campaign, draw) order, so concurrent relays lock the ledger's
    balance rows in one order."""
    pending = await store.pending(limit=limit, stale_seconds=stale_seconds)
    if not pending:
        return 0
    pending.sort(key=lambda p: (p.grabbed.campaign_id.bytes, p.grabbed.draw_id.bytes))
    done: list[str] = []
    async with runtime.uow(system=True) as uow:
        for item in pending:
            grabbed = item.grabbed
            try:
                with uow.acting_for(grabbed.brand_id):
                    async with uow.session.begin_nested():
                        outcome = await _settle_grab(uow, grabbed)
            except Exception:
                log.exception(
                    "scan.hot.relay_failed",
                    draw_id=str(grabbed.draw_id),
                    campaign_id=str(grabbed.campaign_id),
                )
                continue
            if outcome == RelayOutcome.conflict:
                log.error(
                    "scan.hot.code_held_elsewhere",
                    draw_id=str(grabbed.draw_id),
                    campaign_id=str(grabbed.campaign_id),
                    amount_fen=int(grabbed.draw.amount_fen),
                )
            done.append(item.entry_id)
        await uow.commit()
    if done:
        await store.settled(done)
    return len(done)


async def _settle_grab(uow: UnitOfWork, grabbed: Grabbed) -> RelayOutcome:
    if await DrawRepository(uow).get(grabbed.draw_id) is not None:
        return RelayOutcome.duplicate
    campaign = await campaigns_service.get(uow, _actor(grabbed.brand_id), grabbed.campaign_id)
    amount = int(grabbed.draw.amount_fen)
    memo = f"grab:{grabbed.draw_id}"
    mine = await codes_service.mark_claimed(
        uow,
        grabbed.code_hash,
        short=grabbed.short,
        openid=grabbed.openid,
        at=grabbed.at,
        region=grabbed.scan_region,
    )
    if not mine:
        if amount > 0 and not await ledger.unallot(
            uow, grabbed.campaign_id, Fen(amount), memo=memo
        ):
            return RelayOutcome.duplicate
        return RelayOutcome.conflict
    if amount > 0 and not await ledger.unallot(uow, grabbed.campaign_id, Fen(amount), memo=memo):
        return RelayOutcome.duplicate  # a concurrent relay settled it a moment ago
    await settle_claim(uow, grabbed.ticket(), grabbed.draw, campaign, draw_id=grabbed.draw_id)
    return RelayOutcome.settled


# --- the prize page ------------------------------------------------------------------------


class PayoutStage(StrEnum):
    """Where the consumer's money is, in their words (the payout states folded)."""

    pending = "pending"
    """Not sent to WeChat yet (or being sent)."""
    confirm = "confirm"
    """Waiting for the consumer: confirm the transfer / open the red packet."""
    paid = "paid"
    failed = "failed"
    """Not paid; being reissued or handled by the brand."""


@dataclass(frozen=True)
class PrizeView:
    draw_id: uuid.UUID
    campaign_name: str
    tier_label: str
    amount_fen: int
    page: ResultPage
    stage: PayoutStage | None
    mode: str | None
    package_info: str | None


_STAGES = {
    PayoutState.pending: PayoutStage.pending,
    PayoutState.sending: PayoutStage.pending,
    PayoutState.unknown: PayoutStage.pending,
    PayoutState.accepted: PayoutStage.pending,
    PayoutState.review: PayoutStage.pending,
    PayoutState.awaiting_user: PayoutStage.confirm,
    PayoutState.succeeded: PayoutStage.paid,
    PayoutState.failed: PayoutStage.failed,
}


async def prize(uow: UnitOfWork, draw_id: uuid.UUID, openid: str) -> PrizeView:
    """A consumer's prize and where its money is; only the openid that won it may see it
    (anyone else gets ``PrizeNotFound``, as for an unknown id)."""
    with uow.unscoped():
        row = await DrawRepository(uow).get(draw_id)
    if row is None or row.openid != openid or row.outcome == DrawOutcome.budget_exhausted:
        raise PrizeNotFound()
    uow.scope_to(row.brand_id)
    actor = _actor(row.brand_id)
    campaign = await campaigns_service.get(uow, actor, row.campaign_id)
    stage = mode = package = None
    if row.payout_id is not None:
        payout = await payouts_service.get(uow, actor, row.payout_id)
        for _ in range(10):  # a failed payout reissued: follow it to the live one
            if payout.reissued_by is None:
                break
            payout = await payouts_service.get(uow, actor, payout.reissued_by)
        stage, mode, package = _STAGES[payout.state], str(payout.mode), payout.package_info
    return PrizeView(
        draw_id=row.id,
        campaign_name=campaign.name,
        tier_label=row.tier_label,
        amount_fen=row.amount_fen,
        page=domain.result_page(campaign.reward_rule),
        stage=stage,
        mode=mode,
        package_info=package,
    )
