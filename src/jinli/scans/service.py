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
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
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
from jinli.scans import domain
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
from jinli.scans.models import ScanDraw, ScanPool
from jinli.scans.ports import ClaimStore, RegionResolver
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


ENV_KEY = "scans.env"
CLAIM_STORE_KEY = "scans.claim_store"
"""A runtime may carry its own ``ClaimStore`` here (the Redis hot path); the SQL one otherwise."""
REGION_RESOLVER_KEY = "scans.region_resolver"
"""A runtime may carry its own ``RegionResolver`` here; the settings' CIDR map otherwise."""


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
    campaign = await campaigns_service.get(uow, _actor(lookup.brand_id), lookup.campaign_id)
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


def _refusal(scan: _Scan, now: datetime) -> ScanRefused | None:
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
    refusal = _refusal(scan, uow.clock.now())
    if refusal is not None:
        return await _refuse(uow, scan, refusal)
    return _view(scan, ScanState.ready)


async def claim(uow: UnitOfWork, env: ScanEnv, text: str, client: Client) -> ScanView:
    """The one tap (POST): claim the code for ``client.openid`` and pay its prize, all in the
    caller's transaction (see the module docstring). Exactly one claim per code wins, whatever
    the concurrency; the others get the anti-counterfeit answer."""
    if not client.openid:
        raise ValueError("a claim needs the consumer's openid")
    scan = await _open(uow, env, text, client)
    if scan.lookup.claimed_at is not None:
        return await _repeat(uow, scan)
    refusal = _refusal(scan, uow.clock.now())
    if refusal is not None:
        return await _refuse(uow, scan, refusal)
    claimed = await env.counters.hit(domain.claim_key(client.openid), domain.DAY_SECONDS)
    if claimed > env.claims_per_day:
        return await _refuse(uow, scan, ClaimsThrottled())

    plan = domain.reward_plan(scan.campaign.reward_rule)
    pool = await prepare_pool(uow, scan.campaign, plan)
    ticket = ClaimTicket(
        code_hash=scan.parsed.lookup_hash,
        short=scan.short,
        brand_id=scan.lookup.brand_id,
        campaign_id=scan.lookup.campaign_id,
        batch_id=scan.lookup.batch_id,
        openid=client.openid,
        at=uow.clock.now(),
        batch_region=scan.lookup.region,
        scan_region=scan.scan_region,
        draw=_predraw(plan, scan, env.rng),
        pool=pool,
    )
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


def _draw_row(ticket: ClaimTicket, draw: DrawRecord) -> ScanDraw:
    return ScanDraw(
        id=uuid.uuid4(),
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
    uow: UnitOfWork, ticket: ClaimTicket, draw: DrawRecord, campaign: Campaign
) -> ScanDraw:
    """Record a claimed code's draw and pay it: the payout (with the campaign's payout terms;
    the ledger reserves the amount or raises ``InsufficientBudget``) and ``scan.claimed``.
    A 0-fen draw creates no payout. The payout's cause ``scan:<code hash>`` is unique per
    brand, a second wall behind the claim (I2).

    The SQL path calls this inside the claim's transaction; a store that claims elsewhere
    (Redis) calls it from the relay that moves its claims into the database."""
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
    row = _draw_row(ticket, draw)
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
    uow: UnitOfWork, actor: Actor, campaign_id: uuid.UUID
) -> BudgetCheck | None:
    """Everything a scan-to-win campaign needs at publish time: the budget check, then the
    pool split (so the first claim does not pay for it). For the publish action's hook."""
    actor.require(Permission.campaigns_publish)
    check = await budget_check(uow, actor, campaign_id)
    campaign = await campaigns_service.get(uow, actor, campaign_id)
    await prepare_pool(uow, campaign, domain.reward_plan(campaign.reward_rule))
    return check


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
