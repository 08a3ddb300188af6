"""The simulator's own book: what "WeChat" paid, per merchant number, and the fund flow.

This is the ground truth tests check Jinli against (R4/R5: "0 paid twice, checked against the
simulator's own book"). Every payout WeChat accepted is one :class:`BookEntry` keyed by its
kind and merchant number (``out_bill_no``, ``mch_billno``, or a brand packet's
``out_detail_no``); WeChat's idempotency means a number is paid at most once, and the book
counts it so a test can prove it: ``successes`` and ``debits`` never exceed 1 per number.

Every movement of the merchant balance is also a :class:`FlowRecord`, the row the fund-flow
bill (资金账单) will show for that day: an expense (支出) per payout, an income (收入) per
refund or return, with 业务凭证号 = the merchant number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from jinli.integrations.wechatpay.bills import EXPENSE, INCOME, FundFlowRow
from jinli.kernel.clock import SHANGHAI
from jinli.kernel.money import Fen


class PayoutKind(StrEnum):
    """The three payout products WeChat offers Jinli."""

    TRANSFER = "transfer"
    """v3 transfer-bills (商家转账, user confirms)."""
    REDPACK = "redpack"
    """v2 cash red packet (现金红包)."""
    BRAND = "brand_redpacket"
    """v3 brand red packet (品牌红包), one entry per detail."""


BUSINESS_NAMES: dict[PayoutKind, tuple[str, str]] = {
    PayoutKind.TRANSFER: ("商家转账", "商家转账"),
    PayoutKind.REDPACK: ("现金红包", "红包"),
    PayoutKind.BRAND: ("品牌红包", "红包"),
}
"""(业务名称, 业务类型) of the expense rows. Inferred: WeChat does not publish the list."""
RETURN_NAMES: dict[PayoutKind, tuple[str, str]] = {
    PayoutKind.TRANSFER: ("商家转账退回", "退款"),
    PayoutKind.REDPACK: ("现金红包退款", "退款"),
    PayoutKind.BRAND: ("品牌红包退款", "退款"),
}
"""(业务名称, 业务类型) of the income rows (refunds and returns). Inferred."""


def beijing(at: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in Beijing time, as bills and v2 replies write times."""
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def rfc3339(at: datetime) -> str:
    """``2015-05-20T13:29:35+08:00``, as API v3 writes times."""
    return at.astimezone(SHANGHAI).replace(microsecond=0).isoformat()


@dataclass
class BookEntry:
    """One payout WeChat accepted, under one merchant number."""

    kind: PayoutKind
    number: str
    """The merchant's number: the idempotency key."""
    wechat_no: str
    """WeChat's number (transfer_bill_no, send_listid, detail_no)."""
    openid: str
    amount_fen: int
    state: str
    created_at: datetime
    updated_at: datetime
    batch_no: str | None = None
    """Brand red packets: the merchant's ``out_batch_no``."""
    successes: int = 0
    """Times the money reached the user under this number (must stay ≤ 1)."""
    debits: int = 0
    """Times the merchant balance was charged for this number (must stay ≤ 1)."""
    debited_fen: int = 0
    returned_fen: int = 0
    """Refunded (unopened red packet) or returned (failed transfer) to the balance."""
    history: list[tuple[str, str]] = field(default_factory=list)
    """(Beijing time, state) of every state change."""

    @property
    def paid(self) -> bool:
        """True when the money reached the user."""
        return self.successes > 0

    @property
    def net_paid_fen(self) -> int:
        """What this number cost the merchant in the end."""
        return self.debited_fen - self.returned_fen

    def to_json(self) -> dict[str, Any]:
        """JSON form (admin endpoint)."""
        return {
            "kind": self.kind.value,
            "number": self.number,
            "wechat_no": self.wechat_no,
            "batch_no": self.batch_no,
            "openid": self.openid,
            "amount_fen": self.amount_fen,
            "state": self.state,
            "paid": self.paid,
            "successes": self.successes,
            "debits": self.debits,
            "debited_fen": self.debited_fen,
            "returned_fen": self.returned_fen,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
            "history": [list(item) for item in self.history],
        }


@dataclass(frozen=True)
class FlowRecord:
    """One movement of the merchant balance: a row of that day's fund-flow bill."""

    booked_at: datetime
    wechat_business_no: str
    flow_no: str
    business_name: str
    business_type: str
    direction: str
    amount_fen: int
    balance_fen: int
    voucher_no: str
    remark: str = ""
    applicant: str = "system"

    def to_row(self) -> FundFlowRow:
        """The bill row (amounts unsigned; 收支类型 says which way)."""
        return FundFlowRow(
            booked_at=beijing(self.booked_at),
            wechat_business_no=self.wechat_business_no,
            flow_no=self.flow_no,
            business_name=self.business_name,
            business_type=self.business_type,
            direction=self.direction,
            amount_fen=Fen(self.amount_fen),
            balance_fen=Fen(self.balance_fen),
            applicant=self.applicant,
            remark=self.remark,
            voucher_no=self.voucher_no,
        )


class Book:
    """The ledger. Not thread-safe by itself: the simulator holds its lock around every use."""

    def __init__(self, mchid: str, balance_fen: int) -> None:
        self.mchid = mchid
        self.balance_fen = balance_fen
        self._entries: dict[tuple[PayoutKind, str, str], BookEntry] = {}
        self.flows: list[FlowRecord] = []
        self._flow_seq = 0

    def open(
        self,
        kind: PayoutKind,
        number: str,
        *,
        wechat_no: str,
        openid: str,
        amount_fen: int,
        state: str,
        at: datetime,
        batch_no: str | None = None,
    ) -> BookEntry:
        """Record a payout WeChat accepted under a number it had never seen (brand packet
        numbers are unique within their batch only, so the batch is part of the key)."""
        key = (kind, batch_no or "", number)
        if key in self._entries:
            raise AssertionError(f"{kind} {number} is already in the book")
        entry = BookEntry(
            kind=kind,
            number=number,
            wechat_no=wechat_no,
            openid=openid,
            amount_fen=amount_fen,
            state=state,
            created_at=at,
            updated_at=at,
            batch_no=batch_no,
            history=[(beijing(at), state)],
        )
        self._entries[key] = entry
        return entry

    def get(self, kind: PayoutKind, number: str, batch_no: str | None = None) -> BookEntry | None:
        """The entry for a number, if WeChat ever accepted it."""
        return self._entries.get((kind, batch_no or "", number))

    def entries(self, kind: PayoutKind | None = None) -> list[BookEntry]:
        """Every entry (of one kind), in creation order."""
        return [e for e in self._entries.values() if kind is None or e.kind is kind]

    def set_state(self, entry: BookEntry, state: str, at: datetime) -> None:
        """Record a state change."""
        entry.state = state
        entry.updated_at = at
        entry.history.append((beijing(at), state))

    def succeed(self, entry: BookEntry, state: str, at: datetime) -> None:
        """The money reached the user."""
        entry.successes += 1
        self.set_state(entry, state, at)

    def can_debit(self, amount_fen: int) -> bool:
        """True when the available balance covers ``amount_fen``."""
        return self.balance_fen >= amount_fen

    def _flow_no(self, at: datetime) -> str:
        self._flow_seq += 1
        return f"{self.mchid}{at.astimezone(SHANGHAI):%Y%m%d}{self._flow_seq:010d}"

    def debit(self, entry: BookEntry, at: datetime, *, remark: str = "") -> None:
        """Charge the merchant for ``entry`` (one expense row)."""
        name, kind = BUSINESS_NAMES[entry.kind]
        self.balance_fen -= entry.amount_fen
        entry.debits += 1
        entry.debited_fen += entry.amount_fen
        self.flows.append(
            FlowRecord(
                booked_at=at,
                wechat_business_no=entry.wechat_no,
                flow_no=self._flow_no(at),
                business_name=name,
                business_type=kind,
                direction=EXPENSE,
                amount_fen=entry.amount_fen,
                balance_fen=self.balance_fen,
                voucher_no=entry.number,
                remark=remark,
            )
        )

    def give_back(self, entry: BookEntry, at: datetime, *, remark: str = "") -> None:
        """Return what ``entry`` was charged (one income row): refund or return."""
        amount = entry.debited_fen - entry.returned_fen
        if amount <= 0:
            return
        name, kind = RETURN_NAMES[entry.kind]
        self.balance_fen += amount
        entry.returned_fen += amount
        self.flows.append(
            FlowRecord(
                booked_at=at,
                wechat_business_no=entry.wechat_no,
                flow_no=self._flow_no(at),
                business_name=name,
                business_type=kind,
                direction=INCOME,
                amount_fen=amount,
                balance_fen=self.balance_fen,
                voucher_no=entry.number,
                remark=remark,
            )
        )

    def double_paid(self) -> list[BookEntry]:
        """Entries paid or charged more than once (the invariant says: none, ever)."""
        return [e for e in self._entries.values() if e.successes > 1 or e.debits > 1]

    def summary(self) -> dict[str, Any]:
        """Totals (admin endpoint and tests)."""
        entries = list(self._entries.values())
        return {
            "balance_fen": self.balance_fen,
            "entries": len(entries),
            "paid": sum(1 for e in entries if e.paid),
            "paid_fen": sum(e.amount_fen for e in entries if e.paid),
            "debited_fen": sum(e.debited_fen for e in entries),
            "returned_fen": sum(e.returned_fen for e in entries),
            "double_paid": [e.number for e in self.double_paid()],
            "max_successes_per_number": max((e.successes for e in entries), default=0),
        }

    def to_json(self) -> dict[str, Any]:
        """The whole book (admin endpoint)."""
        return {
            "summary": self.summary(),
            "entries": [e.to_json() for e in self._entries.values()],
        }
