"""The hot path of a scan (抢, "grab"): what a fast store decides in ONE atomic step, and the
entry it leaves for the relay that settles it into the database (拆, "open").

On SQLite the scan is one database transaction (``repository.SqlClaimStore``). In production
the request only *grabs*: a ``ports.HotClaimStore`` (a Lua script on Redis; a group-committed
batch on PostgreSQL) claims the code, takes the pool share if any, takes the prize's fen from
the campaign's **allowance** and appends a ``Grabbed`` entry to its outbox — all or nothing.
The relay (``service.relay_grabs``) later writes the draw record and the payout (the ledger
reserves the fen the allowance stood for) and acknowledges the entry; settling is idempotent
by ``draw_id``, so an entry delivered twice is settled once.

The allowance (额度) is budget the ledger has already set aside for the hot store
(``ledger`` account ``allotted``) in tranches with unique ids, so however many grabs run at
once the store can never promise more fen than the ledger holds: the budget cannot be
exceeded by construction (I7). Pure module: no I/O.
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Final

from jinli.kernel.money import Fen
from jinli.rewards.domain import DrawOutcome
from jinli.scans.domain import ClaimTicket, DrawKind, DrawRecord

ENTRY_VERSION: Final = "1"


@dataclass(frozen=True, slots=True)
class Grabbed:
    """One successful grab, as the store's outbox keeps it until the relay has settled it."""

    draw_id: uuid.UUID
    """The ``scan_draws`` row the relay writes; the consumer is shown it at once."""
    code_hash: bytes
    short: bool
    brand_id: uuid.UUID
    campaign_id: uuid.UUID
    batch_id: uuid.UUID
    openid: str
    at: datetime
    batch_region: str | None
    scan_region: str | None
    pool_id: uuid.UUID | None
    draw: DrawRecord
    """The reward to settle: the pre-drawn one, or the pool share the grab took."""

    @classmethod
    def of(cls, ticket: ClaimTicket, draw_id: uuid.UUID, draw: DrawRecord) -> Grabbed:
        return cls(
            draw_id=draw_id,
            code_hash=ticket.code_hash,
            short=ticket.short,
            brand_id=ticket.brand_id,
            campaign_id=ticket.campaign_id,
            batch_id=ticket.batch_id,
            openid=ticket.openid,
            at=ticket.at,
            batch_region=ticket.batch_region,
            scan_region=ticket.scan_region,
            pool_id=None if ticket.pool is None else ticket.pool.id,
            draw=draw,
        )

    def ticket(self) -> ClaimTicket:
        """The claim ticket the settlement needs (the pool plan is not carried: settled)."""
        return ClaimTicket(
            code_hash=self.code_hash,
            short=self.short,
            brand_id=self.brand_id,
            campaign_id=self.campaign_id,
            batch_id=self.batch_id,
            openid=self.openid,
            at=self.at,
            batch_region=self.batch_region,
            scan_region=self.scan_region,
            draw=self.draw,
            pool=None,
        )


_DRAW_FIELDS: Final = tuple(f.name for f in fields(DrawRecord))


@functools.lru_cache(maxsize=4096)
def _draw_json(draw: DrawRecord) -> str:
    """A draw's JSON, cached: a fixed prize's draw is the same for every grab of a campaign."""
    body = {name: getattr(draw, name) for name in _DRAW_FIELDS}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def encode(entry: Grabbed) -> str:
    """The entry as one compact JSON string (a stream field, a table column). Once per grab
    on the hot path: no ``asdict`` deep copy, the draw's part cached."""
    head = json.dumps(
        {
            "v": ENTRY_VERSION,
            "draw_id": str(entry.draw_id),
            "code_hash": entry.code_hash.hex(),
            "short": entry.short,
            "brand_id": str(entry.brand_id),
            "campaign_id": str(entry.campaign_id),
            "batch_id": str(entry.batch_id),
            "openid": entry.openid,
            "at": entry.at.isoformat(),
            "batch_region": entry.batch_region,
            "scan_region": entry.scan_region,
            "pool_id": None if entry.pool_id is None else str(entry.pool_id),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return f'{head[:-1]},"draw":{_draw_json(entry.draw)}}}'


def decode(text: str | bytes) -> Grabbed:
    """The entry ``encode`` wrote (``ValueError`` for anything else)."""
    body = json.loads(text)
    if not isinstance(body, dict) or body.get("v") != ENTRY_VERSION:
        raise ValueError("not a grab entry of this version")
    d = body["draw"]
    draw = DrawRecord(
        kind=DrawKind(d["kind"]),
        algorithm=str(d["algorithm"]),
        rule_hash=str(d["rule_hash"]),
        region=d["region"],
        tier_label=str(d["tier_label"]),
        drawn_fen=Fen(int(d["drawn_fen"])),
        amount_fen=Fen(int(d["amount_fen"])),
        outcome=DrawOutcome(d["outcome"]),
        table_region=d["table_region"],
        random_value=d["random_value"],
        share_no=d["share_no"],
        tier_index=d["tier_index"],
    )
    return Grabbed(
        draw_id=uuid.UUID(body["draw_id"]),
        code_hash=bytes.fromhex(body["code_hash"]),
        short=bool(body["short"]),
        brand_id=uuid.UUID(body["brand_id"]),
        campaign_id=uuid.UUID(body["campaign_id"]),
        batch_id=uuid.UUID(body["batch_id"]),
        openid=str(body["openid"]),
        at=datetime.fromisoformat(body["at"]),
        batch_region=body["batch_region"],
        scan_region=body["scan_region"],
        pool_id=None if body["pool_id"] is None else uuid.UUID(body["pool_id"]),
        draw=draw,
    )


@dataclass(frozen=True, slots=True)
class Pending:
    """An entry handed to the relay: ``entry_id`` is the store's own id (a stream id, a row
    id), passed back to ``HotClaimStore.settled`` once the database has it."""

    entry_id: str
    grabbed: Grabbed


def tranche_id(campaign_id: uuid.UUID) -> str:
    """A fresh id for one tranche of allowance (the ledger transaction's memo and the
    store's idempotency key)."""
    return f"allot:{campaign_id}:{uuid.uuid4().hex}"
