"""The quick claim (快速领取): the one tap of the common case on the hot path, in as little
work as the rules allow.

Most taps on a live campaign are the plain case: a signed-in consumer, a genuine code of an
active batch, not yet claimed, scanned where it was shipped, under every throttle. For that
case ``quick_claim`` does only what the rules need, and does it in bulk:

- the guess throttle's counters of every tap in one event-loop turn are read in one round
  trip (``CounterStore.peek_many``);
- the code is looked up together with every other code scanned in the same event-loop turn
  (one statement for all of them, ``TurnBatcher``);
- the campaign (status, window, reward rule) is read at most once per ``CAMPAIGN_TTL_SECONDS``
  per process: pausing or ending a campaign reaches the quick claim within that time; the
  budget needs no such care, since the hot store can only spend an allowance the ledger has
  already set aside;
- then the daily claim counter and the hot store's one atomic grab (topped up when short),
  as in ``service.claim``.

Anything else — no hot store, no session, a throttled client, a malformed, forged or unknown
code, a code already claimed or of an inactive batch, a campaign not live, a scan far from the
batch's region (串货: an alert to write), a pool not loaded yet, a grab that finds the code
taken or nothing left to pay (the allowance is topped up here as in the full claim) — is not
decided here: the answer is ``Fallback`` and the caller
runs the full claim (``service.claim``), which decides it with every page and event. Nothing
is written before the grab, and a grab that did not claim changed nothing, so the full claim
sees exactly what it would have seen; ``Fallback.counted`` tells it the daily claim counter
was already hit for this tap.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jinli.codes import service as codes_service
from jinli.codes.domain import CodeLookup, ParsedCode
from jinli.codes.errors import CodeMalformed, CodeNotGenuine
from jinli.kernel.clock import Clock
from jinli.platform.batching import TurnBatcher
from jinli.platform.db.uow import UnitOfWork
from jinli.platform.runtime import Runtime
from jinli.scans import domain, service
from jinli.scans.domain import ClaimStatus, Client, PoolPlan, RewardPlan

if TYPE_CHECKING:
    from jinli.campaigns.models import Campaign

CAMPAIGN_TTL_SECONDS = 1.0
"""How long a process trusts its copy of a campaign's status, window and rule."""


@dataclass(frozen=True, slots=True)
class QuickWin:
    """The code is claimed and its prize grabbed; the relay records the draw (as ``_grab``)."""

    draw_id: uuid.UUID
    amount_fen: int


@dataclass(frozen=True, slots=True)
class Fallback:
    """Not the plain case: run the full claim. ``counted``: the daily claim counter was hit."""

    counted: bool = False


@dataclass
class _CampaignCopy:
    campaign: Campaign
    plan: RewardPlan
    until: float


@dataclass
class Lane:
    """Per-process state of the quick claim: the lookup batcher and the campaign copies."""

    env: service.ScanEnv
    new_uow: Callable[..., UnitOfWork]
    """Opens a unit of work for reads (``Runtime.reads``): the lane writes nothing itself."""
    clock: Clock
    lookups: TurnBatcher[ParsedCode, CodeLookup] = field(init=False)
    throttles: TurnBatcher[Client, bool] = field(init=False)
    campaigns: dict[uuid.UUID, _CampaignCopy] = field(default_factory=dict)
    _reading: dict[uuid.UUID, asyncio.Future[_CampaignCopy]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lookups = TurnBatcher(self._lookup_many)
        self.throttles = TurnBatcher(self._throttled_many)

    async def _throttled_many(self, clients: Sequence[Client]) -> dict[Client, bool]:
        """Whether each client has used up its invalid scans: every counter of the turn's
        clients in one round trip (``CounterStore.peek_many``)."""
        keys = {c: domain.guess_keys(self.env.policy, c) for c in clients}
        names = sorted({k.key for ks in keys.values() for k in ks})
        counts = dict(zip(names, await self.env.counters.peek_many(names), strict=True))
        return {c: any(counts[k.key] >= k.limit for k in ks) for c, ks in keys.items()}

    async def _lookup_many(self, parsed: Sequence[ParsedCode]) -> dict[ParsedCode, CodeLookup]:
        async with self.new_uow(system=True) as uow:
            found = await codes_service.verify_many(uow, parsed)
        return {p: found[p.lookup_hash] for p in parsed if p.lookup_hash in found}

    async def campaign(self, lookup: CodeLookup) -> _CampaignCopy:
        """This process's copy of the code's campaign, read again once it is older than
        ``CAMPAIGN_TTL_SECONDS`` (by one request: the others wait for its read)."""
        copy = self.campaigns.get(lookup.campaign_id)
        if copy is not None and copy.until >= time.monotonic():
            return copy
        reading = self._reading.get(lookup.campaign_id)
        if reading is None:
            reading = asyncio.ensure_future(self._read_campaign(lookup))
            self._reading[lookup.campaign_id] = reading
            reading.add_done_callback(lambda _: self._reading.pop(lookup.campaign_id, None))
        return await asyncio.shield(reading)

    async def _read_campaign(self, lookup: CodeLookup) -> _CampaignCopy:
        async with self.new_uow(brand_id=lookup.brand_id) as uow:
            campaign = await service.campaign_copy(uow, lookup)
        plan = domain.reward_plan(campaign.reward_rule)
        copy = _CampaignCopy(campaign, plan, time.monotonic() + CAMPAIGN_TTL_SECONDS)
        self.campaigns[lookup.campaign_id] = copy
        return copy


async def quick_claim(lane: Lane, text: str, client: Client) -> QuickWin | Fallback:
    """Claim ``text`` for ``client`` if it is the plain case (module docstring), else say to
    fall back to the full claim."""
    env, store = lane.env, lane.env.hot
    if store is None or not client.openid or await lane.throttles.get(client):
        return Fallback()
    try:
        parsed = service.parse(env, text)
    except (CodeMalformed, CodeNotGenuine):
        return Fallback()
    lookup = await lane.lookups.get(parsed)
    if lookup is None or not lookup.payable:
        return Fallback()
    copy = await lane.campaign(lookup)
    scan = service.open_scan(env, parsed, lookup, copy.campaign, client)
    now = lane.clock.now()
    if service.refusal_of(scan, now) is not None or domain.is_cross_region(
        lookup.region, scan.scan_region
    ):
        return Fallback()
    pool = None
    if isinstance(copy.plan, PoolPlan):
        pool = env.hot_state.pools.get(copy.campaign.id)
        if pool is None:  # the first claim loads the pool into the store
            return Fallback()
    if await service.over_daily_claims(env, client.openid):
        return Fallback(counted=True)
    ticket = service.claim_ticket(now, env, scan, copy.plan, pool)
    draw_id = uuid.uuid4()
    result = await service.grab_topping_up(env, store, ticket, draw_id, copy.campaign)
    if result.status != ClaimStatus.claimed or result.draw is None:
        return Fallback(counted=True)
    return QuickWin(draw_id, int(result.draw.amount_fen))


LANE_KEY = "scans.lane"


def lane_for(runtime: Runtime) -> Lane | None:
    """The runtime's quick-claim lane, or ``None`` when claims take the SQL path (no hot
    store: the claim is one database transaction and there is nothing quick to take)."""
    lane = runtime.extras.get(LANE_KEY)
    if isinstance(lane, Lane):
        return lane
    env = service.env_for(runtime)
    if env.hot is None:
        return None
    lane = Lane(env, runtime.reads, runtime.clock)
    runtime.extras[LANE_KEY] = lane
    return lane
