"""What the scan needs from outside, as Protocols: where a client is, and the atomic claim step.

``ClaimStore`` is the seam for the production hot path. The SQL implementation
(``repository.SqlClaimStore``) claims the code with one conditional UPDATE and takes a pool share
with another, in the caller's transaction. A Redis implementation (a Lua script doing claim +
share + outbox append in one step, a relay settling into the database) plugs in here without
the service changing: see ``service.ScanEnv.claims`` and ``service.settle_claim``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from jinli.scans.domain import Claim, ClaimTicket, PoolRef
from jinli.scans.hot import Pending

if TYPE_CHECKING:
    from jinli.platform.db.uow import UnitOfWork


class RegionResolver(Protocol):
    """The region a scan comes from (``省/市`` like batch regions), or ``None`` if unknown."""

    def region_of(self, ip: str | None) -> str | None: ...


class ClaimStore(Protocol):
    """Claim a code exactly once, atomically with taking its pool share (if any).

    Contract:
    - at most one ``claim`` per code ever returns ``ClaimStatus.claimed``, whatever the
      concurrency (I2); every other returns ``taken`` and changes nothing;
    - a pool share is taken only together with a successful claim, and each share at most
      once (Σ taken == pool total exactly when the pool is exhausted);
    - ``exhausted`` means the code was claimable but the pool was empty; the caller rolls the
      claim back (the code stays unclaimed);
    - the returned ``Claim.draw`` is the record to settle (``ticket.draw`` for tiers, fixed
      and none plans; the share taken for a pool).

    It runs in the caller's unit of work; the caller owns the transaction (and the savepoint
    that undoes the claim when the budget cannot pay it).
    """

    async def claim(self, uow: UnitOfWork, ticket: ClaimTicket, /) -> Claim: ...


class HotClaimStore(Protocol):
    """The production hot path (see ``scans.hot``): a fast store that grabs in one atomic
    step and keeps an outbox of grabs for the relay. Implementations: Redis (a Lua script,
    ``scans.adapters.redis_store``) and PostgreSQL (group-committed batches,
    ``scans.adapters.pg_store``).

    Contract (each implementation has a test for every line):
    - ``grab`` is atomic: claim the code (at most one ``claimed`` per code ever, I2), take the
      pool share if ``ticket.pool`` (each share at most once; Σ taken == pool total exactly
      when the pool is exhausted), take ``draw.amount_fen`` from the campaign's allowance and
      append the ``Grabbed`` entry — all of it or nothing. ``taken``: claimed before (by
      anyone, including through the database); ``exhausted``: the pool is empty; ``short``:
      the allowance cannot cover the prize. Nothing changes on those three.
    - The returned ``Claim.draw`` is ``ticket.draw`` (pre-drawn) or the pool share taken.
    - ``allowance`` never goes below 0; ``add_allowance`` adds a tranche at most once per
      ``tranche`` id (returns whether it was added now); ``release_allowance`` takes what is
      left out of the store at most once per ``release`` id and returns the same figure on
      a repeat call (so the ledger can return it to the budget after a crash).
    - ``pending`` returns grabbed entries not yet ``settled`` (at least once: an entry handed
      out but not settled within ``stale_seconds`` is handed out again, to any relay).
    - ``load_pool`` makes the store hold a published pool's shares (idempotent; a store
      that reads them from the database may do nothing).
    - Keys on Redis are cluster-ready: every key one grab touches shares the hash tag of its
      campaign.
    """

    async def grab(self, ticket: ClaimTicket, draw_id: uuid.UUID, /) -> Claim: ...

    async def load_pool(self, pool: PoolRef, shares: Sequence[int], /) -> None: ...

    async def allowance(self, campaign_id: uuid.UUID, /) -> int: ...

    async def add_allowance(self, campaign_id: uuid.UUID, tranche: str, fen: int, /) -> bool: ...

    async def release_allowance(self, campaign_id: uuid.UUID, release: str, /) -> int: ...

    async def pending(self, *, limit: int, stale_seconds: float) -> list[Pending]: ...

    async def settled(self, entry_ids: Sequence[str], /) -> None: ...
