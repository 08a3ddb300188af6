"""What the scan needs from outside, as Protocols: where a client is, and the atomic claim step.

``ClaimStore`` is the seam for the production hot path. The SQL implementation
(``repository.SqlClaimStore``) claims the code with one conditional UPDATE and takes a pool share
with another, in the caller's transaction. A Redis implementation (a Lua script doing claim +
share + outbox append in one step, a relay settling into the database) plugs in here without
the service changing: see ``service.ScanEnv.claims`` and ``service.settle_claim``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from jinli.scans.domain import Claim, ClaimTicket

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
