"""An in-memory ``HotClaimStore`` for tests of the hot flow (the service, the relay, the
allowance upkeep). It honours the Protocol's contract line by line, in one process: every
method runs without an ``await`` inside, so each is atomic on the event loop.

It knows nothing of the database, so it does not see codes claimed through the SQL path
(``claim_elsewhere`` marks one as free here while the database holds it: the relay's
``mark_claimed`` false case).
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from jinli.scans.domain import Claim, ClaimStatus, ClaimTicket, PoolRef, share_record
from jinli.scans.hot import Grabbed, Pending, decode, encode


@dataclass
class _Entry:
    text: str
    handed_at: float | None = None


@dataclass
class MemoryHotStore:
    clock: Callable[[], float] = time.monotonic
    claimed: dict[bytes, str] = field(default_factory=dict)
    pools: dict[uuid.UUID, list[int]] = field(default_factory=dict)
    taken: dict[uuid.UUID, int] = field(default_factory=dict)
    allowances: dict[uuid.UUID, int] = field(default_factory=dict)
    tranches: dict[str, int] = field(default_factory=dict)
    releases: dict[str, int] = field(default_factory=dict)
    outbox: dict[str, _Entry] = field(default_factory=dict)
    grabs: int = 0
    fail_next_add: bool = False
    """Simulate a crash between the ledger's commit and the store (the next add of a new
    tranche raises)."""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def grab(self, ticket: ClaimTicket, draw_id: uuid.UUID, /) -> Claim:
        if (ticket.draw is None) == (ticket.pool is None):
            raise ValueError("a ticket carries either a pre-drawn prize or a pool")
        if ticket.code_hash in self.claimed:
            return Claim(ClaimStatus.taken)
        draw = ticket.draw
        position = None
        if ticket.pool is not None:
            shares = self.pools.get(ticket.pool.id, [])
            position = self.taken.get(ticket.pool.id, 0) + 1
            if position > len(shares):
                return Claim(ClaimStatus.exhausted)
            draw = share_record(
                ticket.pool.plan,
                ticket.pool.rule_hash,
                position,
                shares[position - 1],
                ticket.batch_region,
            )
        assert draw is not None
        allowance = self.allowances.get(ticket.campaign_id, 0)
        if draw.amount_fen > allowance:
            return Claim(ClaimStatus.short)
        # All checks passed: now every change, with no await in between (atomic).
        self.claimed[ticket.code_hash] = ticket.openid
        if ticket.pool is not None and position is not None:
            self.taken[ticket.pool.id] = position
        self.allowances[ticket.campaign_id] = allowance - int(draw.amount_fen)
        entry_id = f"{next(self._ids)}-0"
        self.outbox[entry_id] = _Entry(encode(Grabbed.of(ticket, draw_id, draw)))
        self.grabs += 1
        return Claim(ClaimStatus.claimed, draw)

    async def load_pool(self, pool: PoolRef, shares: Sequence[int], /) -> None:
        self.pools.setdefault(pool.id, list(shares))

    async def allowance(self, campaign_id: uuid.UUID, /) -> int:
        return self.allowances.get(campaign_id, 0)

    async def add_allowance(self, campaign_id: uuid.UUID, tranche: str, fen: int, /) -> bool:
        if tranche in self.tranches:
            return False
        if self.fail_next_add:
            self.fail_next_add = False
            raise ConnectionError("the store went away")
        self.tranches[tranche] = fen
        self.allowances[campaign_id] = self.allowances.get(campaign_id, 0) + fen
        return True

    async def release_allowance(self, campaign_id: uuid.UUID, release: str, /) -> int:
        if release in self.releases:
            return self.releases[release]
        fen = self.allowances.get(campaign_id, 0)
        self.allowances[campaign_id] = 0
        self.releases[release] = fen
        return fen

    async def pending(self, *, limit: int, stale_seconds: float) -> list[Pending]:
        now = self.clock()
        out: list[Pending] = []
        for entry_id, entry in self.outbox.items():
            if len(out) >= limit:
                break
            if entry.handed_at is not None and now - entry.handed_at < stale_seconds:
                continue
            entry.handed_at = now
            out.append(Pending(entry_id, decode(entry.text)))
        return out

    async def settled(self, entry_ids: Sequence[str], /) -> None:
        for entry_id in entry_ids:
            self.outbox.pop(entry_id, None)

    # --- test helpers -----------------------------------------------------------------------

    def unsettled(self) -> int:
        return len(self.outbox)

    def claim_elsewhere(self, code_hash: bytes) -> None:
        """Forget a code's claim here (as if the database holds it and the store does not)."""
        self.claimed.pop(code_hash, None)
