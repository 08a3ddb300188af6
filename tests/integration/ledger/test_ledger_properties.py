"""INV-BUDGET and INV-LEDGER, property-tested against the real ledger service and database.

Random sequences of units of work (each one to three operations: fund, set_cap, reserve, post,
void, refund, withdraw; valid and invalid alike, some from another brand) run through
``jinli.ledger.service``, side by side with a pure-Python model of the book. After every
operation the balances seen inside the unit of work equal the model's; after every unit,
``verify_book`` passes in a fresh unit of work, the holds and the transaction log equal the
model's, and a refused operation has changed nothing — even though its unit is committed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Uuid, bindparam, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import TextClause

from jinli.app.bootstrap import bootstrap
from jinli.kernel.clock import FrozenClock
from jinli.kernel.errors import JinliError
from jinli.kernel.money import Fen
from jinli.ledger import service as ledger
from jinli.ledger.domain import MAX_AMOUNT_FEN, Balances, HoldStatus
from jinli.ledger.errors import LedgerInvariantBroken
from jinli.ledger.models import LedgerHold, LedgerTransaction
from jinli.platform.db.uow import UnitOfWork
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS, T0, make_settings
from tests.factories import BrandFixture, create_brand

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

EXAMPLES = {"sqlite": 80, "postgresql": 50}
"""Examples per backend: ~15 s on SQLite, ~10 s on PostgreSQL on the 2-core machine."""

SETTLE = ("post", "void", "refund")
REFS = tuple(f"payout-{i}" for i in range(6))
"""Few refs, so retried and conflicting reservations (same ref, other amount) are common."""

# --- operations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One ledger call: ``name`` is a service function; ``pick`` chooses an existing hold
    (modulo the number of holds), ``None`` a hold id that does not exist."""

    name: str
    amount: int = 0
    ref: str = ""
    pick: int | None = None

    def __repr__(self) -> str:
        if self.name in SETTLE:
            return f"{self.name}(hold #{self.pick})"
        if self.name == "reserve":
            return f"reserve({self.amount}, {self.ref!r})"
        return f"{self.name}({self.amount})"


@dataclass(frozen=True)
class Unit:
    """Operations run in one unit of work, committed at the end even after refusals.
    ``foreign``: run by another brand, which must not see or touch the book at all."""

    ops: tuple[Op, ...]
    foreign: bool = False


def _weighted(weights: dict[str, int], strategies: dict[str, st.SearchStrategy[Any]]) -> Any:
    """Choose a strategy by weight (``sampled_from`` with repeats), then draw from it."""
    names = [name for name, weight in weights.items() for _ in range(weight)]
    return st.sampled_from(names).flatmap(lambda name: strategies[name])


INVALID = st.sampled_from([0, -1, MAX_AMOUNT_FEN, MAX_AMOUNT_FEN + 1, 2**63])
AMOUNTS = _weighted(
    {"small": 6, "large": 2, "odd": 1},
    {"small": st.integers(1, 400), "large": st.integers(1, 6_000), "odd": INVALID},
)
"""Mostly amounts the budget can cover; sometimes too much; now and then invalid."""
CAPS = _weighted(
    {"valid": 4, "odd": 1},
    {"valid": st.integers(0, 12_000), "odd": st.sampled_from([-1, MAX_AMOUNT_FEN + 1])},
)
PICKS = st.integers(-1, 5).map(lambda i: None if i < 0 else i)
"""Mostly one of the first few holds, so repeated and conflicting settlements are common;
``None`` is a hold id that does not exist."""
OPS = _weighted(
    {"fund": 2, "withdraw": 1, "set_cap": 1, "reserve": 4, "settle": 6},
    {
        "fund": st.builds(Op, name=st.just("fund"), amount=AMOUNTS),
        "withdraw": st.builds(Op, name=st.just("withdraw"), amount=AMOUNTS),
        "set_cap": st.builds(Op, name=st.just("set_cap"), amount=CAPS),
        "reserve": st.builds(
            Op, name=st.just("reserve"), amount=AMOUNTS, ref=st.sampled_from(REFS)
        ),
        "settle": st.builds(Op, name=st.sampled_from(SETTLE), pick=PICKS),
    },
)
"""Reservations and settlements weigh most: they are where holds change state."""
UNITS = st.lists(
    st.builds(
        Unit,
        ops=st.lists(OPS, min_size=1, max_size=3).map(tuple),
        foreign=st.sampled_from([False, False, False, False, True]),
    ),
    min_size=4,
    max_size=20,
)

# --- the model -----------------------------------------------------------------------------


def _valid_amount(amount: int) -> bool:
    return 1 <= amount <= MAX_AMOUNT_FEN


@dataclass
class ModelHold:
    amount: int
    status: HoldStatus
    id: uuid.UUID | None = None


@dataclass
class Model:
    """What the book must contain: plain integers and a list, no database."""

    cap: int
    funded: int = 0
    available: int = 0
    reserved: int = 0
    paid: int = 0
    returned: int = 0
    holds: dict[str, ModelHold] = field(default_factory=dict)
    log: list[tuple[str, int]] = field(default_factory=list)
    """(kind, amount) of every committed transaction, in order."""

    def balances(self) -> Balances:
        return Balances(
            Fen(self.funded),
            Fen(self.available),
            Fen(self.reserved),
            Fen(self.paid),
            Fen(self.returned),
            Fen(self.cap),
        )

    def target(self, op: Op) -> str | None:
        """The ref of the hold ``op`` settles, or ``None`` for an unknown hold."""
        if op.pick is None or not self.holds:
            return None
        return sorted(self.holds)[op.pick % len(self.holds)]

    def apply(self, op: Op) -> str | None:
        """Apply ``op`` if it is allowed; return the error code it must fail with otherwise."""
        a = op.amount
        if op.name == "fund":
            if not _valid_amount(a):
                return "invalid_amount"
            if self.funded + a > self.cap:
                return "budget_cap_exceeded"
            self.funded += a
            self.available += a
        elif op.name == "withdraw":
            if not _valid_amount(a):
                return "invalid_amount"
            if a > self.available:
                return "budget_exhausted"
            self.available -= a
            self.returned += a
        elif op.name == "set_cap":
            if not 0 <= a <= MAX_AMOUNT_FEN:
                return "invalid_amount"
            if a < self.funded:
                return "budget_cap_below_funded"
            self.cap = a
            return None
        elif op.name == "reserve":
            if not _valid_amount(a):
                return "invalid_amount"
            existing = self.holds.get(op.ref)
            if existing is not None:
                return None if existing.amount == a else "ledger_hold_ref_mismatch"
            if a > self.available:
                return "budget_exhausted"
            self.holds[op.ref] = ModelHold(a, HoldStatus.pending)
            self.available -= a
            self.reserved += a
        else:
            return self._settle(op)
        self.log.append((op.name, a))
        return None

    def _settle(self, op: Op) -> str | None:
        ref = self.target(op)
        if ref is None:
            return "ledger_hold_not_found"
        hold = self.holds[ref]
        target, source = {
            "post": (HoldStatus.posted, HoldStatus.pending),
            "void": (HoldStatus.voided, HoldStatus.pending),
            "refund": (HoldStatus.refunded, HoldStatus.posted),
        }[op.name]
        if hold.status == target:
            return None  # a repeated callback: already done, nothing moves
        if hold.status != source:
            return "ledger_hold_state_conflict"
        hold.status = target
        if op.name == "post":
            self.reserved -= hold.amount
            self.paid += hold.amount
        elif op.name == "void":
            self.reserved -= hold.amount
            self.available += hold.amount
        else:
            self.paid -= hold.amount
            self.available += hold.amount
        self.log.append((op.name, hold.amount))
        return None

    def foreign_code(self, op: Op) -> str:
        """Another brand sees no book and no hold: it only ever gets "not found"."""
        if op.name in SETTLE:
            return "ledger_hold_not_found"
        if op.name == "set_cap":
            return "invalid_amount" if not 0 <= op.amount <= MAX_AMOUNT_FEN else _BOOK_NOT_FOUND
        return "invalid_amount" if not _valid_amount(op.amount) else _BOOK_NOT_FOUND


_BOOK_NOT_FOUND = "ledger_book_not_found"

# --- the harness ---------------------------------------------------------------------------


@dataclass
class Harness:
    runtime: Runtime
    brand: BrandFixture
    stranger: BrandFixture
    examples: int = 0
    operations: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    """How often each (operation, outcome) ran: shows what the examples exercised."""

    async def run(self, cap: int, units: list[Unit]) -> None:
        self.examples += 1
        book = uuid.uuid4()  # a fresh book per example, all in one database
        model = Model(cap=cap)
        async with self.runtime.uow(brand_id=self.brand.brand_id) as uow:
            await ledger.open_book(uow, book, cap_fen=Fen(cap))
            await uow.commit()
        for unit in units:
            owner = self.stranger if unit.foreign else self.brand
            async with self.runtime.uow(brand_id=owner.brand_id) as uow:
                for op in unit.ops:
                    self.operations += 1
                    await self._step(uow, book, model, op, foreign=unit.foreign)
                await uow.commit()
            await self._check_book(book, model)

    async def _step(
        self, uow: UnitOfWork, book: uuid.UUID, model: Model, op: Op, *, foreign: bool
    ) -> None:
        ref = model.target(op)  # a real hold of the book, even for the other brand
        hold_id = uuid.uuid4()
        if ref is not None:
            known = model.holds[ref].id
            assert known is not None
            hold_id = known
        expected = model.foreign_code(op) if foreign else model.apply(op)
        code: str | None = None
        try:
            result = await _call(uow, book, op, hold_id)
        except JinliError as exc:
            code, result = exc.code, None
        assert code == expected, f"{op!r} gave {code or 'success'}, model says {expected}"
        self.outcomes[f"{op.name}:{code or 'ok'}"] += 1
        if isinstance(result, LedgerHold):
            _check_hold(model, op, ref, result)
        if not foreign:
            # Inside the same unit of work, after successes and refusals alike.
            assert await ledger.balances(uow, book) == model.balances(), f"after {op!r}"

    async def _check_book(self, book: uuid.UUID, model: Model) -> None:
        async with self.runtime.uow(brand_id=self.brand.brand_id) as uow:
            assert await ledger.verify_book(uow, book) == model.balances()
            holds = await uow.session.scalars(select(LedgerHold).where(LedgerHold.book_id == book))
            assert {h.ref: (h.amount_fen, h.status) for h in holds} == {
                ref: (h.amount, h.status) for ref, h in model.holds.items()
            }
            log = await uow.session.scalars(
                select(LedgerTransaction)
                .where(LedgerTransaction.book_id == book)
                .order_by(LedgerTransaction.id)
            )
            assert [(str(tx.kind), tx.amount_fen) for tx in log] == model.log


async def _call(uow: UnitOfWork, book: uuid.UUID, op: Op, hold_id: uuid.UUID) -> object:
    amount = Fen(op.amount)
    if op.name == "fund":
        return await ledger.fund(uow, book, amount)
    if op.name == "withdraw":
        return await ledger.withdraw(uow, book, amount)
    if op.name == "set_cap":
        return await ledger.set_cap(uow, book, amount)
    if op.name == "reserve":
        return await ledger.reserve(uow, book, amount, ref=op.ref)
    settle = {"post": ledger.post, "void": ledger.void, "refund": ledger.refund}[op.name]
    return await settle(uow, hold_id)


def _check_hold(model: Model, op: Op, ref: str | None, hold: LedgerHold) -> None:
    key = op.ref if op.name == "reserve" else ref
    assert key is not None
    expected = model.holds[key]
    if expected.id is None:
        expected.id = hold.id  # first reservation under this ref
    assert hold.id == expected.id, "a retried reservation must return the first hold"
    assert (hold.ref, hold.amount_fen, hold.status) == (key, expected.amount, expected.status)


@pytest.fixture
def harness(db_url: str, tmp_path: Path) -> Iterator[tuple[asyncio.AbstractEventLoop, Harness]]:
    """A runtime on its own event loop (Hypothesis drives the examples synchronously)."""
    loop = asyncio.new_event_loop()
    runtime = bootstrap(make_settings(db_url, tmp_path), clock=FrozenClock(T0))

    async def brands() -> Harness:
        return Harness(runtime, await create_brand(runtime), await create_brand(runtime, "Other"))

    try:
        yield loop, loop.run_until_complete(brands())
    finally:
        loop.run_until_complete(runtime.aclose())
        loop.close()


def test_ledger_matches_a_pure_model_after_every_step(
    harness: tuple[asyncio.AbstractEventLoop, Harness], backend: str
) -> None:
    """Random fund/cap/reserve/post/void/refund/withdraw sequences, refused ones included,
    keep INV-BUDGET and INV-LEDGER and leave exactly the balances a pure model predicts."""
    loop, h = harness

    @settings(
        max_examples=EXAMPLES[backend],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(cap=st.integers(0, 12_000), funding=st.integers(0, 12_000), units=UNITS)
    def check(cap: int, funding: int, units: list[Unit]) -> None:
        if min(funding, cap) > 0:  # most examples start with money to reserve
            units = [Unit((Op("fund", min(funding, cap)),)), *units]
        loop.run_until_complete(h.run(cap, units))

    check()
    assert h.examples >= EXAMPLES[backend] // 2
    # The figures for the reliability report (visible with -s).
    print(f"\n[{backend}] {h.examples} examples, {h.operations} ledger operations")  # noqa: T201
    print(dict(sorted(h.outcomes.items())))  # noqa: T201


# --- the append-only tables ----------------------------------------------------------------


def _sql(statement: str) -> TextClause:
    """Raw SQL past the service and the ORM, with ``:book`` bound as a UUID."""
    return text(statement).bindparams(bindparam("book", type_=Uuid()))


async def _funded_book(runtime: Runtime) -> uuid.UUID:
    brand = await create_brand(runtime)
    book = uuid.uuid4()
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        await ledger.open_book(uow, book, cap_fen=Fen(1_000))
        await ledger.fund(uow, book, Fen(600))
        await ledger.reserve(uow, book, Fen(100), ref="payout-1")
        await uow.commit()
    return book


@pytest.mark.parametrize("table", ["ledger_entries", "ledger_transactions"])
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {table} SET amount_fen = amount_fen + 1 WHERE book_id = :book",
        "DELETE FROM {table} WHERE book_id = :book",
    ],
    ids=["update", "delete"],
)
async def test_ledger_rows_cannot_be_updated_or_deleted(
    runtime: Runtime, table: str, statement: str
) -> None:
    """A trigger makes ledger_entries and ledger_transactions append-only: UPDATE and DELETE
    raise, even for a cross-brand system session, and the rows stay as they were."""
    book = await _funded_book(runtime)
    sql = _sql(statement.format(table=table))
    count = _sql(f"SELECT count(*), sum(amount_fen) FROM {table} WHERE book_id = :book")  # noqa: S608
    async with runtime.uow(system=True) as uow:
        before = (await uow.session.execute(count, {"book": book})).one()
    async with runtime.uow(system=True) as uow:
        with pytest.raises(DBAPIError, match="append-only"):
            await uow.session.execute(sql, {"book": book})
    async with runtime.uow(system=True) as uow:
        assert (await uow.session.execute(count, {"book": book})).one() == before
    assert before[0] > 0


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        (
            "UPDATE ledger_balances SET balance_fen = -1"
            " WHERE book_id = :book AND account = 'available'",
            "balance_in_range",
        ),
        (
            "UPDATE ledger_balances SET balance_fen = -1001"
            " WHERE book_id = :book AND account = 'funding'",
            "balance_in_range",
        ),
        (
            "UPDATE ledger_balances SET balance_fen = 1"
            " WHERE book_id = :book AND account = 'funding'",
            "balance_in_range",
        ),
        (
            "UPDATE ledger_balances SET cap_fen = 599"
            " WHERE book_id = :book AND account = 'funding'",
            "balance_in_range",
        ),
    ],
    ids=["negative-available", "funded-beyond-cap", "positive-funding", "cap-below-funded"],
)
async def test_the_database_refuses_impossible_balances(
    runtime: Runtime, statement: str, constraint: str
) -> None:
    """Even a statement that bypasses the service cannot make a balance negative or fund
    beyond the cap: the CHECK constraint refuses it."""
    book = await _funded_book(runtime)
    async with runtime.uow(system=True) as uow:
        with pytest.raises(DBAPIError, match=constraint):
            await uow.session.execute(_sql(statement), {"book": book})


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO ledger_transactions (book_id, kind, amount_fen, memo, at, brand_id)"
        " SELECT book_id, 'fund', 0, '', at, brand_id FROM ledger_transactions"
        " WHERE book_id = :book LIMIT 1",
        "INSERT INTO ledger_entries (transaction_id, book_id, account, amount_fen, brand_id)"
        " SELECT transaction_id, book_id, account, 0, brand_id FROM ledger_entries"
        " WHERE book_id = :book LIMIT 1",
        "UPDATE ledger_holds SET amount_fen = -100 WHERE book_id = :book",
    ],
    ids=["zero-transaction", "zero-entry", "negative-hold"],
)
async def test_the_database_refuses_non_positive_ledger_amounts(
    runtime: Runtime, statement: str
) -> None:
    """The migrated schema carries the models' CHECKs: no zero transaction or entry, no
    negative hold, whatever writes the row."""
    book = await _funded_book(runtime)
    async with runtime.uow(system=True) as uow:
        with pytest.raises(DBAPIError):
            await uow.session.execute(_sql(statement), {"book": book})


@pytest.mark.parametrize(
    ("statements", "why"),
    [
        (
            [
                "UPDATE ledger_balances SET balance_fen = balance_fen + 1"
                " WHERE book_id = :book AND account = 'available'"
            ],
            "!= recomputed",
        ),
        (
            [
                "INSERT INTO ledger_entries (transaction_id, book_id, account, amount_fen,"
                " brand_id) SELECT transaction_id, book_id, 'available', 5, brand_id"
                " FROM ledger_entries WHERE book_id = :book LIMIT 1",
                "UPDATE ledger_balances SET balance_fen = balance_fen + 5"
                " WHERE book_id = :book AND account = 'available'",
            ],
            "do not sum to zero",
        ),
        (
            ["UPDATE ledger_holds SET status = 'voided' WHERE book_id = :book"],
            "pending holds",
        ),
        (
            ["UPDATE ledger_holds SET amount_fen = 99 WHERE book_id = :book"],
            "pending holds",
        ),
    ],
    ids=["cached-balance", "unbalanced-transaction", "hold-status", "hold-amount"],
)
async def test_verify_book_detects_a_tampered_book(
    runtime: Runtime, statements: list[str], why: str
) -> None:
    """verify_book, which every property check relies on, fails on a cached balance that
    differs from the entries, an unbalanced transaction, or holds that do not account for
    the reserved money."""
    book = await _funded_book(runtime)
    async with runtime.uow(system=True) as uow:
        brand_id = await uow.session.scalar(
            _sql("SELECT brand_id FROM ledger_books WHERE id = :book"), {"book": book}
        )
        for statement in statements:
            await uow.session.execute(_sql(statement), {"book": book})
        await uow.commit()
    async with runtime.uow(brand_id=uuid.UUID(str(brand_id))) as uow:
        with pytest.raises(LedgerInvariantBroken, match=why):
            await ledger.verify_book(uow, book)
