"""A deterministic day of payouts and the fund-flow bills WeChat would write for it, with
differences of every class injected at known numbers and known fen (R8).

The payouts are inserted straight into the tables (a realistic 100,000-row day would take
minutes through the payout service); the bills are written by the integration's own writer,
in WeChat's format. Everything is derived from the seed.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from jinli.integrations.wechatpay.bills import EXPENSE, INCOME, FundFlowRow, format_fund_flow_bill
from jinli.kernel.clock import SHANGHAI
from jinli.kernel.money import Fen
from jinli.ledger.domain import HoldStatus
from jinli.ledger.models import LedgerHold
from jinli.payouts.domain import PayoutMode, PayoutState, bill_number
from jinli.payouts.models import PayoutOrder
from jinli.platform.runtime import Runtime
from jinli.reconciliation.domain import DifferenceClass, day_bounds

C = DifferenceClass
S = PayoutState
INJECTED_COUNTS = {
    C.missing_on_our_side: 37,
    C.missing_on_wechat: 41,
    C.amount_mismatch: 43,
    C.status_mismatch: 47,
    C.duplicate: 53,
    C.cross_day: 59,
}
"""How many differences of each class the dirty day carries (distinct, so a mix-up shows)."""

NAMES = {
    PayoutMode.transfer: ("商家转账", "商家转账", "商家转账退回"),
    PayoutMode.red_packet: ("现金红包", "红包", "现金红包退款"),
    PayoutMode.brand_red_packet: ("品牌红包", "红包", "品牌红包退款"),
}


@dataclass
class Payout:
    payout_id: uuid.UUID
    brand_id: uuid.UUID
    campaign_id: uuid.UUID
    mode: PayoutMode
    state: PayoutState
    amount_fen: int
    created_at: datetime
    finished_at: datetime | None
    fail_reason: str | None = None
    number: str = ""

    def __post_init__(self) -> None:
        self.number = bill_number(self.payout_id, 0)


@dataclass
class Scenario:
    day: date
    payouts: list[Payout] = field(default_factory=list)
    previous_rows: list[FundFlowRow] = field(default_factory=list)
    """The bill of the day before (red packets sent then, still open at midnight)."""
    rows: list[FundFlowRow] = field(default_factory=list)
    injected: dict[DifferenceClass, set[str]] = field(
        default_factory=lambda: {cls: set() for cls in DifferenceClass}
    )
    injected_fen: dict[DifferenceClass, int] = field(
        default_factory=lambda: dict.fromkeys(DifferenceClass, 0)
    )


class _Writer:
    """Numbers and balances of the rows, as WeChat would fill them."""

    def __init__(self) -> None:
        self.seq = 0
        self.balance = 10**12

    def row(
        self, at: datetime, payout_mode: PayoutMode, direction: str, amount: int, voucher: str
    ) -> FundFlowRow:
        self.seq += 1
        name, kind, back = NAMES[payout_mode]
        self.balance += amount if direction == INCOME else -amount
        return FundFlowRow(
            booked_at=at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            wechat_business_no=f"1330{self.seq:036d}",
            flow_no=f"1900{self.seq:026d}",
            business_name=name if direction == EXPENSE else back,
            business_type=kind if direction == EXPENSE else "退款",
            direction=direction,
            amount_fen=Fen(amount),
            balance_fen=Fen(self.balance),
            applicant="system",
            remark="扫码红包",
            voucher_no=voucher,
        )

    def other(self, at: datetime, direction: str, amount: int, name: str) -> FundFlowRow:
        self.seq += 1
        self.balance += amount if direction == INCOME else -amount
        return FundFlowRow(
            booked_at=at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            wechat_business_no=f"4200{self.seq:036d}",
            flow_no=f"1900{self.seq:026d}",
            business_name=name,
            business_type=name,
            direction=direction,
            amount_fen=Fen(amount),
            balance_fen=Fen(self.balance),
            applicant="system",
        )


def build(
    seed: int,
    day: date,
    owners: list[tuple[uuid.UUID, uuid.UUID]],
    *,
    rows: int = 100_000,
    inject: bool = True,
) -> Scenario:
    """About ``rows`` bill rows for ``day`` from payouts of several brands (``owners`` are
    (brand, campaign) pairs); with ``inject``, differences of every class at known numbers."""
    rng = random.Random(seed)
    start, _ = day_bounds(day)
    yesterday = start - timedelta(days=1)
    scenario = Scenario(day)
    writer = _Writer()
    previous = _Writer()

    def new(
        mode: PayoutMode,
        state: PayoutState,
        created: datetime,
        finished: datetime | None,
        fail_reason: str | None = None,
    ) -> Payout:
        brand, campaign = rng.choice(owners)
        payout = Payout(
            uuid.UUID(int=rng.getrandbits(128)),
            brand,
            campaign,
            mode,
            state,
            rng.choice([100, 188, 288, 500, 666, 888, rng.randint(30, 20_000)]),
            created,
            finished,
            fail_reason,
        )
        scenario.payouts.append(payout)
        return payout

    def during_day() -> datetime:
        return start + timedelta(seconds=rng.randint(60, 21 * 3600))

    # The day before: red packets sent, opened or refunded today (their rows are carried).
    for _ in range(400):
        created = yesterday + timedelta(seconds=rng.randint(12 * 3600, 20 * 3600))
        refunded = rng.random() < 0.5
        if refunded:  # unopened for 24 h, refunded minutes later, we learn it at once
            finished = created + timedelta(hours=24, minutes=rng.randint(6, 30))
        else:  # opened the next morning
            finished = created + timedelta(seconds=rng.randint(12 * 3600, 23 * 3600))
        payout = new(
            PayoutMode.red_packet,
            S.failed if refunded else S.succeeded,
            created,
            finished,
            "REFUND" if refunded else None,
        )
        sent = created + timedelta(seconds=1)
        scenario.previous_rows.append(
            previous.row(sent, payout.mode, EXPENSE, payout.amount_fen, payout.number)
        )
        if refunded:
            scenario.rows.append(
                writer.row(finished - timedelta(minutes=1), payout.mode, INCOME, payout.amount_fen,
                           payout.number)
            )  # fmt: skip

    kinds = [
        ("paid transfer", 55),
        ("paid red packet", 15),
        ("paid brand", 5),
        ("failed, returned", 8),
        ("failed, never debited", 5),
        ("open", 7),
        ("pending", 2),
        ("unknown", 1),
        ("review", 1),
    ]
    names = [k for k, _ in kinds]
    weights = [w for _, w in kinds]
    paid: list[Payout] = []
    returned: list[Payout] = []
    while len(scenario.rows) < rows - 100:
        kind = rng.choices(names, weights)[0]
        created = during_day()
        settled = created + timedelta(seconds=rng.randint(2, 2 * 3600))
        sent = created + timedelta(seconds=1)
        if kind.startswith("paid"):
            mode = {
                "paid transfer": PayoutMode.transfer,
                "paid red packet": PayoutMode.red_packet,
                "paid brand": PayoutMode.brand_red_packet,
            }[kind]
            payout = new(mode, S.succeeded, created, settled)
            at = settled if mode == PayoutMode.brand_red_packet else sent
            scenario.rows.append(writer.row(at, mode, EXPENSE, payout.amount_fen, payout.number))
            paid.append(payout)
        elif kind == "failed, returned":
            payout = new(PayoutMode.transfer, S.failed, created, settled, "MCH_CANCEL")
            scenario.rows.append(
                writer.row(sent, payout.mode, EXPENSE, payout.amount_fen, payout.number)
            )
            scenario.rows.append(
                writer.row(settled, payout.mode, INCOME, payout.amount_fen, payout.number)
            )
            returned.append(payout)
        elif kind == "failed, never debited":
            new(PayoutMode.transfer, S.failed, created, sent, "INVALID_REQUEST")
        elif kind == "open":
            payout = new(PayoutMode.red_packet, S.awaiting_user, created, None)
            scenario.rows.append(
                writer.row(sent, payout.mode, EXPENSE, payout.amount_fen, payout.number)
            )
        elif kind == "pending":
            new(PayoutMode.transfer, S.pending, created, None)
        else:
            payout = new(PayoutMode.transfer, S(kind), created, None)
            if rng.random() < 0.5:  # the call may have landed: either footprint is fine
                scenario.rows.append(
                    writer.row(sent, payout.mode, EXPENSE, payout.amount_fen, payout.number)
                )
    # Rows that are not payouts: top-ups and fees (never matched, never differences).
    for _ in range(50):
        scenario.rows.append(writer.other(during_day(), INCOME, rng.randint(10**5, 10**7), "充值"))
        scenario.rows.append(writer.other(during_day(), EXPENSE, rng.randint(1, 500), "手续费"))
    if inject:
        _inject(scenario, rng, writer, paid, returned, new, start)
    scenario.rows.sort(key=lambda r: r.booked_at)
    return scenario


def _inject(
    scenario: Scenario,
    rng: random.Random,
    writer: _Writer,
    paid: list[Payout],
    returned: list[Payout],
    new: Any,
    start: datetime,
) -> None:
    expense_of = {row.voucher_no: row for row in scenario.rows if row.direction == EXPENSE}
    income_of = {row.voucher_no: row for row in scenario.rows if row.direction == INCOME}
    dropped: set[int] = set()
    replaced: dict[int, FundFlowRow] = {}
    victims = iter(rng.sample(paid, sum(INJECTED_COUNTS.values())))

    def mark(cls: DifferenceClass, number: str, fen: int) -> None:
        scenario.injected[cls].add(number)
        scenario.injected_fen[cls] += fen

    # In the bill, not ours: numbers shaped like ours, and a few foreign payouts.
    for k in range(INJECTED_COUNTS[C.missing_on_our_side]):
        number = bill_number(uuid.UUID(int=rng.getrandbits(128)), 0) if k % 6 else f"X{k:08d}"
        amount = rng.randint(30, 20_000)
        scenario.rows.append(
            writer.row(start + timedelta(hours=9, seconds=k), PayoutMode.red_packet, EXPENSE,
                       amount, number)
        )  # fmt: skip
        mark(C.missing_on_our_side, number, amount)
    # Paid by us, no expense at WeChat.
    for _ in range(INJECTED_COUNTS[C.missing_on_wechat]):
        payout = next(victims)
        dropped.add(id(expense_of[payout.number]))
        mark(C.missing_on_wechat, payout.number, -payout.amount_fen)
    # One fen off, either way.
    for k in range(INJECTED_COUNTS[C.amount_mismatch]):
        payout = next(victims)
        row = expense_of[payout.number]
        off = 1 if k % 2 else -1
        replaced[id(row)] = FundFlowRow(**{**_fields(row), "amount_fen": Fen(row.amount_fen + off)})
        mark(C.amount_mismatch, payout.number, off)
    # Status: failed by us but kept by WeChat; paid by us but returned by WeChat.
    for k in range(INJECTED_COUNTS[C.status_mismatch]):
        if k % 2:
            payout = returned.pop()
            dropped.add(id(income_of[payout.number]))
            mark(C.status_mismatch, payout.number, payout.amount_fen)
        else:
            payout = next(victims)
            at = datetime.fromisoformat(expense_of[payout.number].booked_at)
            scenario.rows.append(
                writer.row(at.replace(tzinfo=SHANGHAI) + timedelta(seconds=30), payout.mode,
                           INCOME, payout.amount_fen, payout.number)
            )  # fmt: skip
            mark(C.status_mismatch, payout.number, -payout.amount_fen)
    # WeChat paid twice.
    for _ in range(INJECTED_COUNTS[C.duplicate]):
        payout = next(victims)
        row = expense_of[payout.number]
        scenario.rows.append(FundFlowRow(**{**_fields(row), "flow_no": row.flow_no + "D"}))
        mark(C.duplicate, payout.number, payout.amount_fen)
    # Created 23:5x the day before, paid 00:1x today.
    for k in range(INJECTED_COUNTS[C.cross_day]):
        created = start - timedelta(minutes=10) + timedelta(seconds=k)
        payout = new(PayoutMode.transfer, S.succeeded, created, start + timedelta(minutes=11))
        scenario.rows.append(
            writer.row(start + timedelta(minutes=10, seconds=k), payout.mode, EXPENSE,
                       payout.amount_fen, payout.number)
        )  # fmt: skip
        mark(C.cross_day, payout.number, payout.amount_fen)
    scenario.rows = [replaced.get(id(r), r) for r in scenario.rows if id(r) not in dropped]


def _fields(row: FundFlowRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in FundFlowRow.__dataclass_fields__ if name != "line"}


def write(path: Path, rows: list[FundFlowRow]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as sink:
        sink.writelines(format_fund_flow_bill(rows))
    return path


def _chunks(items: list[dict[str, Any]], size: int = 5000) -> Iterator[list[dict[str, Any]]]:
    for begin in range(0, len(items), size):
        yield items[begin : begin + size]


HOLD_STATUS = {
    S.succeeded: HoldStatus.posted,
    S.failed: HoldStatus.voided,
}


async def insert_payouts(runtime: Runtime, payouts: list[Payout]) -> None:
    """Write the payouts (and the budget holds they reference) in one system transaction."""
    holds, orders = [], []
    for p in payouts:
        hold_id = uuid.UUID(int=p.payout_id.int ^ 1)
        holds.append(
            {
                "id": hold_id,
                "brand_id": p.brand_id,
                "book_id": p.campaign_id,
                "ref": f"payout:{p.payout_id}",
                "amount_fen": p.amount_fen,
                "status": HOLD_STATUS.get(p.state, HoldStatus.pending),
                "created_at": p.created_at,
                "settled_at": p.finished_at,
            }
        )
        orders.append(
            {
                "id": p.payout_id,
                "brand_id": p.brand_id,
                "campaign_id": p.campaign_id,
                "hold_id": hold_id,
                "mode": p.mode,
                "state": p.state,
                "amount_fen": p.amount_fen,
                "openid": "o-r8",
                "remark": "扫码红包",
                "activity": "R8",
                "cause": f"r8:{p.payout_id}",
                "attempt": 0,
                "bill_number": p.number,
                "wechat_no": None if p.state == S.pending else f"W{p.payout_id.hex[:20]}",
                "fail_reason": p.fail_reason,
                "tries": 1,
                "may_have_landed": False,
                "next_attempt_at": p.created_at,
                "created_at": p.created_at,
                "updated_at": p.finished_at or p.created_at,
                "finished_at": p.finished_at,
            }
        )
    async with runtime.uow(system=True) as uow:
        connection = await uow.session.connection()  # Core executemany: no ORM bookkeeping
        for chunk in _chunks(holds):
            await connection.execute(insert(LedgerHold.__table__), chunk)
        for chunk in _chunks(orders):
            await connection.execute(insert(PayoutOrder.__table__), chunk)
        await uow.commit()
