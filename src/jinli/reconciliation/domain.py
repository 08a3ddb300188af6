"""Pure rules of reconciliation: what each payout must leave in WeChat's fund-flow bill, and
how a day's bill rows and our payouts are classified into differences. No I/O, no clock.

What the bill shows (wechat-pay.md §7, and what the simulator writes in
``integrations/simulator/book.py``): payouts appear **only** in the fund-flow bill (资金账单),
never in the trade bill. Each money movement of the merchant balance is one row, keyed to our
payout by 业务凭证号 = the payout's ``bill_number`` (``out_bill_no`` / ``mch_billno`` /
``out_detail_no``):

- an **expense** row (支出) when WeChat takes the money: a transfer when WeChat accepts the
  bill (``ACCEPTED``, before the user confirms); a v2 red packet at ``sendredpack``
  (``SENDING``); a brand red packet when its batch settles (``DETAIL_SUCCESS`` only — a
  detail that fails is never debited);
- an **income** row (收入) when WeChat gives it back: a transfer that ends ``FAIL``
  (e.g. ``OVERDUE_CLOSE`` after 24 h unconfirmed) or ``CANCELLED`` (商家转账退回); a red packet
  unopened for 24 h (``REFUND``, 现金红包退款). The income is the whole debited amount.

Inferences written down (WeChat does not publish all of this):

1. The booking precedes our record. We learn a state by a reply, a query or a callback, all of
   which report what WeChat already did, and the simulator books the row at the same instant
   as the state change. So a payout we closed (``finished_at``) by instant *t* has all its rows
   booked by *t*; a row booked after our close is an anomaly, never a timing effect.
2. The expense row of a payout is booked at or after our ``created_at`` (the row is created
   before the first call). A payout created at 23:50 may be debited at 00:10 the next day:
   that is a **cross-day** item of the later day, never "missing" on the earlier one.
3. ``failed`` covers both "never debited" (a rejected create, a brand detail that failed) and
   "debited then returned" (FAIL/CANCELLED after acceptance, REFUND). Our payout record does
   not say which, so the rule for ``failed`` is *net zero*: as many returns as debits.
4. Unopened brand red packets (``USER_RECEIVE_OVERDUE``) are treated like v2 refunds: net zero.
5. Non-payout rows of the same account (top-ups, fees, trade refunds) are not ours to match:
   a row is a payout row when its 业务凭证号 has the shape of our numbers or its 业务名称 is one
   of the payout business names (:data:`PAYOUT_BUSINESS_NAMES`). Other rows are counted and
   totalled in the run summary, never reported as differences.

How a day's run judges (``classify``). Bill day D is a Beijing day; a payout's *closure* is
where its ``finished_at`` falls relative to D (before, during, or open at the end of D):

- **row checks**, on the day the rows are booked: a payout row whose number we do not know is
  *missing on our side*; a row whose amount is not the payout's amount is an *amount
  mismatch*; a second expense for one number (same day, an earlier day, or after we closed the
  payout as paid) is a *duplicate*; an expense of a payout created on an earlier day is a
  *cross-day* item (timing only: recorded already resolved); rows for a payout we never sent
  (``pending``), or rows booked after we closed the payout, are *status mismatches*.
- **lifetime check**, once, in the run of the day the payout closed, over every row of its
  life (this day's rows plus the rows earlier runs carried forward for still-open payouts):
  a ``succeeded`` payout needs an expense (else *missing on WeChat's side*) and no return
  (else *status mismatch*); a ``failed`` one needs as many returns as expenses (else *status
  mismatch*). If a day between the payout's creation and its close has no run, its rows on
  that day are unknown: the payout is counted as *unverified*, never guessed at.

Payouts still open at the end of D (accepted, awaiting the user, unknown, in review) are not
judged yet; their rows are carried forward to the run of the day they close. Whether they ever
close is the payout reconciler's job (INV-TERMINAL, the human queue).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from jinli.kernel.clock import SHANGHAI
from jinli.payouts.domain import PayoutMode, PayoutState


class DifferenceClass(StrEnum):
    """The classes of difference between WeChat's bill and our payouts. ``amount_fen`` of a
    difference is signed: positive means WeChat moved more money out than we account for."""

    missing_on_our_side = "missing_on_our_side"
    """A payout row in the bill with no payout of ours. Fen: expenses − returns in the bill."""
    missing_on_wechat = "missing_on_wechat"
    """A payout we consider paid has no expense in any bill of its life. Fen: −amount."""
    amount_mismatch = "amount_mismatch"
    """A bill row's amount is not the payout's amount (fen exact). Fen: Σ(row − expected),
    with returns counted negative."""
    status_mismatch = "status_mismatch"
    """WeChat's rows contradict our state: paid but returned, failed but kept, never sent but
    debited, or money moved after we closed the payout. Fen: the unexpected net movement."""
    duplicate = "duplicate"
    """More than one expense for one number: WeChat paid twice. Fen: the extra expenses."""
    cross_day = "cross_day"
    """The expense was booked on a later Beijing day than the payout was created (paid 00:10
    for a payout created 23:50). Timing only: recorded resolved. Fen: the expense moved."""


BLOCKING_CLASSES = frozenset(DifferenceClass) - {DifferenceClass.cross_day}
"""Classes that stay open until finance resolves them; a cross-day item is information."""


class Closure(StrEnum):
    """Where a payout's close (``finished_at``) falls relative to the bill day."""

    before = "before"
    """Closed before the day began: any row today was booked after we closed it."""
    today = "today"
    """Closed during the day: its whole life is judged in this day's run."""
    open = "open"
    """Not closed by the end of the day (or still open now): judged later."""


class LifetimeRule(StrEnum):
    """What a payout's rows over its whole life must add up to, given our state."""

    no_rows = "no_rows"
    """Never sent (``pending``): WeChat must show nothing."""
    not_judged = "not_judged"
    """Outcome not known to us yet: any footprint is possible until the payout closes."""
    paid = "paid"
    """``succeeded``: exactly one expense, no return."""
    net_zero = "net_zero"
    """``failed``: no rows, or each expense returned (one expense + one income)."""


@dataclass(frozen=True, slots=True)
class Footprint:
    """The rows one payout leaves in the fund-flow bill, for one mode and state."""

    rule: LifetimeRule
    expense: str
    """When the expense (支出) row is booked."""
    income: str
    """When an income (收入) row is booked, if ever."""


_EXPENSE_AT = {
    PayoutMode.transfer: "when WeChat accepts the bill (ACCEPTED), before the user confirms",
    PayoutMode.red_packet: "at sendredpack (SENDING)",
    PayoutMode.brand_red_packet: "when the batch settles the detail (DETAIL_SUCCESS)",
}
_RETURN_AT = {
    PayoutMode.transfer: "商家转账退回 when the bill ends FAIL (e.g. OVERDUE_CLOSE) or CANCELLED",
    PayoutMode.red_packet: "现金红包退款 when unopened for 24 h (REFUND)",
    PayoutMode.brand_red_packet: "none for DETAIL_FAIL (never debited); a return if unclaimed",
}


def footprint(mode: PayoutMode, state: PayoutState) -> Footprint:
    """The expected bill footprint of a payout in ``state`` (the table in the module docs)."""
    expense, income = _EXPENSE_AT[mode], _RETURN_AT[mode]
    match state:
        case PayoutState.pending:
            return Footprint(LifetimeRule.no_rows, "never (not sent)", "never")
        case PayoutState.succeeded:
            return Footprint(LifetimeRule.paid, expense, "never (a return contradicts success)")
        case PayoutState.failed:
            if mode == PayoutMode.brand_red_packet:
                return Footprint(LifetimeRule.net_zero, "none, or " + expense, income)
            return Footprint(
                LifetimeRule.net_zero, "none (rejected at create), or " + expense, income
            )
        case PayoutState.accepted | PayoutState.awaiting_user:
            if mode == PayoutMode.brand_red_packet:
                return Footprint(LifetimeRule.not_judged, "not yet: " + expense, "not yet")
            return Footprint(LifetimeRule.not_judged, expense, "later, if it fails: " + income)
        case _:  # sending, unknown, review: WeChat may or may not have it
            return Footprint(LifetimeRule.not_judged, "maybe (outcome unknown)", "maybe")


FOOTPRINTS: dict[tuple[PayoutMode, PayoutState], Footprint] = {
    (mode, state): footprint(mode, state) for mode in PayoutMode for state in PayoutState
}
"""Every (mode, state) → footprint, for documentation, the console and table-driven tests."""


# ---------------------------------------------------------------------------------------------
# Which bill rows are payout rows

OUR_NUMBER_PATTERN = r"[0-9A-Z]{25}(R[0-9]{1,2})?"
"""The shape of ``payouts.domain.bill_number``: 25 base-36 characters, ``R<n>`` on reissues."""
_OUR_NUMBER = re.compile(OUR_NUMBER_PATTERN)

PAYOUT_BUSINESS_NAMES = frozenset(
    {
        "商家转账",
        "商家转账退回",
        "现金红包",
        "现金红包退款",
        "品牌红包",
        "品牌红包退款",
        "企业付款",
        "企业付款退回",
        "红包",
        "红包退款",
    }
)
"""业务名称 of payout rows (the simulator's names, which are inferred, plus the older product
names WeChat used for the same flows)."""


def is_payout_row(business_name: str, voucher_no: str) -> bool:
    """True for a fund-flow row that belongs to a payout (ours or not); top-ups, fees and
    trade refunds are not matched."""
    return business_name in PAYOUT_BUSINESS_NAMES or _OUR_NUMBER.fullmatch(voucher_no) is not None


# ---------------------------------------------------------------------------------------------
# Days


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The Beijing day ``day`` as a UTC half-open interval [start, end)."""
    start = datetime.combine(day, time(0), tzinfo=SHANGHAI)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def beijing_day(at: datetime) -> date:
    """The Beijing calendar day of an aware instant."""
    return at.astimezone(SHANGHAI).date()


def previous_day(now: datetime) -> date:
    """The Beijing day before ``now``'s: the bill WeChat publishes from 10:00."""
    return beijing_day(now) - timedelta(days=1)


BILL_READY_AT = time(10, 0)
"""WeChat Pay publishes yesterday's bills from 10:00 Beijing time."""


def fetchable_days(now: datetime, lookback_days: int) -> list[date]:
    """The Beijing days whose bill can be fetched at ``now``, oldest first: the last
    ``lookback_days`` days up to yesterday, or up to the day before before 10:00."""
    local = now.astimezone(SHANGHAI)
    latest = local.date() - timedelta(days=1 if local.time() >= BILL_READY_AT else 2)
    return [latest - timedelta(days=k) for k in reversed(range(lookback_days))]


def closure(finished_at: datetime | None, day: date) -> Closure:
    """Where a payout's close falls relative to the Beijing day ``day``."""
    start, end = day_bounds(day)
    if finished_at is None or finished_at >= end:
        return Closure.open
    return Closure.today if finished_at >= start else Closure.before


# ---------------------------------------------------------------------------------------------
# Evidence and classification


@dataclass(frozen=True, slots=True)
class Movements:
    """One number's payout rows in one stretch of bills: counts and sums, and the sums of the
    squared amounts, which tell exactly whether every row equals a given amount *a*:
    Σ(x − a)² = Σx² − 2aΣx + na² is zero iff each x is a (integers, no rounding)."""

    expense_count: int = 0
    expense_fen: int = 0
    income_count: int = 0
    income_fen: int = 0
    expense_squares: int | None = None
    """Σ of the squared expense amounts (fen²); None where not known (carried rows)."""
    income_squares: int | None = None

    @property
    def any(self) -> bool:
        return self.expense_count > 0 or self.income_count > 0

    @property
    def net_fen(self) -> int:
        """Money out minus money back."""
        return self.expense_fen - self.income_fen

    def __add__(self, other: Movements) -> Movements:
        """Counts and sums add; the squares are not needed for a sum (row checks use the
        day's own rows)."""
        return Movements(
            self.expense_count + other.expense_count,
            self.expense_fen + other.expense_fen,
            self.income_count + other.income_count,
            self.income_fen + other.income_fen,
        )

    @classmethod
    def of(cls, expenses: Sequence[int] = (), incomes: Sequence[int] = ()) -> Movements:
        """The movements of these row amounts."""
        return cls(
            len(expenses),
            sum(expenses),
            len(incomes),
            sum(incomes),
            sum(x * x for x in expenses),
            sum(x * x for x in incomes),
        )


@dataclass(frozen=True, slots=True)
class PayoutFacts:
    """What reconciliation needs to know of one payout, relative to the bill day."""

    amount_fen: int
    state: PayoutState
    created_offset_days: int
    """Beijing day of ``created_at`` minus the bill day (0: created that day; −1: the day
    before)."""
    closure: Closure
    history_complete: bool = True
    """Every day from the payout's creation to the day before the bill day has a run, so the
    rows carried from those days are all the rows there were."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything known about one number on one bill day."""

    number: str
    today: Movements
    prior: Movements
    """Rows of earlier days carried forward (the payout was open at the end of those days)."""
    payout: PayoutFacts | None


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference found for one number."""

    cls: DifferenceClass
    amount_fen: int
    detail: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a day's run concludes about one number."""

    findings: tuple[Finding, ...]
    unverified: bool = False
    """The payout closed today but its history has a gap: its lifetime was not judged."""


def _amount_off(today: Movements, amount: int) -> int:
    """Σ(row − expected) over today's rows, returns negative: 0 when every row is exact."""
    return (today.expense_fen - today.expense_count * amount) - (
        today.income_fen - today.income_count * amount
    )


def _all_equal(count: int, total: int, squares: int | None, amount: int) -> bool:
    """Every one of ``count`` rows is exactly ``amount`` (Σ(x − a)² = 0)."""
    if count == 0:
        return True
    if squares is None:
        raise ValueError("the squared amounts of today's rows are needed")
    return squares - 2 * amount * total + count * amount * amount == 0


def _rows_off(today: Movements, amount: int) -> bool:
    return not (
        _all_equal(today.expense_count, today.expense_fen, today.expense_squares, amount)
        and _all_equal(today.income_count, today.income_fen, today.income_squares, amount)
    )


def classify(ev: Evidence) -> Verdict:
    """Judge one number on one bill day (the rules of the module docstring).

    Every finding is a fact about WeChat's rows versus our state; a number can yield several
    (e.g. a duplicate whose second row also has the wrong amount), never the same class twice.
    """
    today, prior, payout = ev.today, ev.prior, ev.payout
    if payout is None:
        if not today.any:
            return Verdict(())
        return Verdict(
            (
                Finding(
                    DifferenceClass.missing_on_our_side,
                    today.net_fen,
                    f"{today.expense_count} expense and {today.income_count} income rows "
                    "for a number we never issued",
                ),
            )
        )
    amount = payout.amount_fen
    state = payout.state
    found: list[Finding] = []

    # Row checks: today's rows on their own.
    if _rows_off(today, amount):
        found.append(
            Finding(
                DifferenceClass.amount_mismatch,
                _amount_off(today, amount),
                f"{today.expense_count} expense rows of {today.expense_fen} fen and "
                f"{today.income_count} income rows of {today.income_fen} fen "
                f"for a payout of {amount} fen",
            )
        )
    closed_paid_before = payout.closure == Closure.before and state == PayoutState.succeeded
    if today.expense_count:
        extra = (
            today.expense_count
            if closed_paid_before
            else today.expense_count + prior.expense_count - 1
        )
        if extra > 0:
            where = (
                "after the payout was already paid"
                if closed_paid_before
                else f"{today.expense_count} today, {prior.expense_count} on earlier days"
            )
            found.append(Finding(DifferenceClass.duplicate, extra * amount, f"expenses {where}"))
        elif (
            payout.created_offset_days < 0
            and payout.closure != Closure.before
            and state != PayoutState.pending
        ):
            found.append(
                Finding(
                    DifferenceClass.cross_day,
                    today.expense_fen,
                    f"created {-payout.created_offset_days} day(s) before the expense",
                )
            )
    if state == PayoutState.pending and today.any:
        found.append(
            Finding(
                DifferenceClass.status_mismatch,
                today.net_fen,
                "WeChat moved money for a payout we never sent",
            )
        )
    elif payout.closure == Closure.before and today.any:
        if state == PayoutState.succeeded and today.income_count:
            found.append(
                Finding(
                    DifferenceClass.status_mismatch,
                    -today.income_fen,
                    "WeChat returned a payout we consider paid",
                )
            )
        elif state == PayoutState.failed:
            found.append(
                Finding(
                    DifferenceClass.status_mismatch,
                    today.net_fen,
                    "WeChat moved money after we closed the payout as failed",
                )
            )

    # Lifetime check: once, on the day the payout closed.
    unverified = False
    if payout.closure == Closure.today:
        if not payout.history_complete:
            unverified = True
        else:
            life = prior + today
            if state == PayoutState.succeeded:
                if life.expense_count == 0:
                    found.append(
                        Finding(
                            DifferenceClass.missing_on_wechat,
                            -amount,
                            "paid by our records, no expense in WeChat's bills",
                        )
                    )
                elif life.income_count:
                    found.append(
                        Finding(
                            DifferenceClass.status_mismatch,
                            -life.income_fen,
                            "paid by our records, returned by WeChat",
                        )
                    )
            elif state == PayoutState.failed and life.expense_count != life.income_count:
                kept = life.expense_count > life.income_count
                found.append(
                    Finding(
                        DifferenceClass.status_mismatch,
                        life.net_fen,
                        "failed by our records, but WeChat kept the money"
                        if kept
                        else "failed by our records, WeChat returned money it never took",
                    )
                )
    return Verdict(tuple(found), unverified)


def needs_carry(ev: Evidence) -> bool:
    """Rows of a payout still open at the end of the day are carried to the day it closes."""
    return ev.payout is not None and ev.payout.closure == Closure.open and ev.today.any


def history_complete(created: date, day: date, run_days: frozenset[date]) -> bool:
    """Every day in [created, day) has a run (a payout created on ``day`` needs none)."""
    current = created
    while current < day:
        if current not in run_days:
            return False
        current += timedelta(days=1)
    return True


@dataclass(frozen=True, slots=True)
class ClassTotal:
    """Count and signed fen of one class of differences in a run."""

    count: int = 0
    amount_fen: int = 0


def totals(findings: list[tuple[str, Finding]]) -> dict[DifferenceClass, ClassTotal]:
    """Per-class count and Σ fen of a run's findings (every class present, zeros included)."""
    result = {cls: ClassTotal() for cls in DifferenceClass}
    for _, finding in findings:
        current = result[finding.cls]
        result[finding.cls] = ClassTotal(current.count + 1, current.amount_fen + finding.amount_fen)
    return result


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` as a UTC half-open interval of Beijing time."""
    match = re.fullmatch(r"([0-9]{4})-([0-9]{2})", month)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"a month is written YYYY-MM, got {month!r}")
    year, mon = int(match.group(1)), int(match.group(2))
    first = date(year, mon, 1)
    following = date(year + (mon == 12), mon % 12 + 1, 1)
    return day_bounds(first)[0], day_bounds(following)[0]
