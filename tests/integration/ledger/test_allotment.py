"""The ``allotted`` account (预拨额度) against the real ledger and database: allot and unallot
move money available ⇄ allotted, never below zero, idempotently per memo for unallot; any
sequence of fund/allot/unallot/reserve/post/void keeps INV-BUDGET; migration 0008 gives
existing books their allotted row."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from jinli.app.bootstrap import bootstrap
from jinli.kernel.clock import FrozenClock
from jinli.kernel.money import Fen
from jinli.ledger import service as ledger
from jinli.ledger.domain import Account, Balances, TransactionKind
from jinli.ledger.errors import InsufficientBudget, LedgerInvariantBroken
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS, T0, make_settings
from tests.factories import BrandFixture, create_brand

ON_BOTH = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

EXAMPLES = {"sqlite": 40, "postgresql": 30}
CAP = 1_000_000


async def _book(runtime: Runtime, brand: BrandFixture, funding: int = 0) -> uuid.UUID:
    book = uuid.uuid4()
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        await ledger.open_book(uow, book, cap_fen=Fen(CAP))
        if funding:
            await ledger.fund(uow, book, Fen(funding))
        await uow.commit()
    return book


@ON_BOTH
async def test_allot_and_unallot_move_between_available_and_allotted(runtime: Runtime) -> None:
    brand = await create_brand(runtime)
    book = await _book(runtime, brand, funding=1_000)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        await ledger.allot(uow, book, Fen(700), memo="allot:t1")
        assert await ledger.unallot(uow, book, Fen(200), memo="release:1")
        await uow.commit()
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        verified = await ledger.verify_book(uow, book)
        assert verified.available == 500
        assert verified.allotted == 500
        assert verified.funded == 1_000
        with pytest.raises(InsufficientBudget):
            await ledger.allot(uow, book, Fen(501), memo="allot:too-much")
        with pytest.raises(InsufficientBudget):
            await ledger.unallot(uow, book, Fen(501), memo="grab:too-much")
        assert await ledger.balances(uow, book) == verified  # refused: nothing moved
        allots = await ledger.latest_allotments(uow, book, limit=5)
        assert [(a.memo, a.amount_fen) for a in allots] == [("allot:t1", 700)]
        assert await ledger.allotted_books(uow) == [(brand.brand_id, book, 500)]


@ON_BOTH
async def test_unallot_is_idempotent_per_memo(runtime: Runtime) -> None:
    brand = await create_brand(runtime)
    book = await _book(runtime, brand, funding=1_000)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        await ledger.allot(uow, book, Fen(1_000), memo="allot:t1")
        assert await ledger.unallot(uow, book, Fen(100), memo="grab:a")
        await uow.commit()
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        assert not await ledger.unallot(uow, book, Fen(100), memo="grab:a")
        assert await ledger.unallot(uow, book, Fen(100), memo="grab:b")
        await uow.commit()
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        book_now = await ledger.verify_book(uow, book)
        assert (book_now.allotted, book_now.available) == (800, 200)
        count = ledger.count_transactions
        assert await count(uow, book, TransactionKind.unallot, memo_prefix="grab:") == 2


@ON_BOTH
async def test_concurrent_twins_unallot_once(runtime: Runtime, backend: str) -> None:
    """Two relays settling the same grab at once: the second sees the first's transaction
    after the allotted row's lock and moves nothing."""
    brand = await create_brand(runtime)
    book = await _book(runtime, brand, funding=1_000)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        await ledger.allot(uow, book, Fen(1_000), memo="allot:t1")
        await uow.commit()

    async def twin() -> bool:
        async with runtime.uow(brand_id=brand.brand_id) as uow:
            moved = await ledger.unallot(uow, book, Fen(300), memo="grab:twin")
            await asyncio.sleep(0.05)  # hold the row lock a moment
            await uow.commit()
            return moved

    results = await asyncio.gather(twin(), twin())
    assert sorted(results) == [False, True]
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        assert (await ledger.verify_book(uow, book)).allotted == 700


@ON_BOTH
async def test_verify_book_counts_allotted(runtime: Runtime, backend: str) -> None:
    brand = await create_brand(runtime)
    book = await _book(runtime, brand, funding=1_000)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        await ledger.allot(uow, book, Fen(400), memo="allot:t1")
        await uow.commit()
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        await uow.session.execute(
            text(
                "UPDATE ledger_balances SET balance_fen = balance_fen + 1 "
                "WHERE account = 'allotted' AND brand_id = :brand"
            ),
            {"brand": brand.brand_id if backend == "postgresql" else brand.brand_id.hex},
        )
        await uow.commit()
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        with pytest.raises(LedgerInvariantBroken):
            await ledger.verify_book(uow, book)


# --- the property ------------------------------------------------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["fund", "allot", "unallot", "reserve", "post", "void"]),
        st.integers(1, 3_000),
        st.integers(0, 20),
    ),
    min_size=1,
    max_size=25,
)


@dataclass
class Model:
    accounts: dict[Account, int] = field(default_factory=dict)
    pending: list[tuple[uuid.UUID, int]] = field(default_factory=list)

    def take(self, source: Account, target: Account, amount: int) -> bool:
        if self.accounts.get(source, 0) < amount:
            return False
        self.accounts[source] = self.accounts.get(source, 0) - amount
        self.accounts[target] = self.accounts.get(target, 0) + amount
        return True

    def balances(self) -> Balances:
        funded = self.accounts.get(Account.funding, 0)
        return Balances.from_accounts({**self.accounts, Account.funding: -funded}, CAP)


@dataclass
class Harness:
    runtime: Runtime
    brand: BrandFixture
    examples: int = 0

    async def run(self, ops: list[tuple[str, int, int]]) -> None:
        self.examples += 1
        book = await _book(self.runtime, self.brand)
        model = Model()
        for i, (name, amount, pick) in enumerate(ops):
            async with self.runtime.uow(brand_id=self.brand.brand_id) as uow:
                ok = await self._apply(uow, book, model, name, amount, pick, i)
                await uow.commit()
            async with self.runtime.uow(brand_id=self.brand.brand_id) as uow:
                verified = await ledger.verify_book(uow, book)  # INV-BUDGET, entries, holds
            expected = model.balances()
            assert verified.available == expected.available, (name, ok)
            assert verified.allotted == expected.allotted
            assert verified.reserved == expected.reserved
            assert verified.paid == expected.paid
            assert verified.funded == expected.funded
            assert min(verified.available, verified.allotted, verified.reserved) >= 0

    async def _apply(
        self,
        uow: object,
        book: uuid.UUID,
        model: Model,
        name: str,
        amount: int,
        pick: int,
        step: int,
    ) -> bool:
        from jinli.platform.db.uow import UnitOfWork

        assert isinstance(uow, UnitOfWork)
        a = Account
        if name == "fund":
            await ledger.fund(uow, book, Fen(amount))
            model.accounts[a.funding] = model.accounts.get(a.funding, 0) + amount
            model.accounts[a.available] = model.accounts.get(a.available, 0) + amount
            return True
        if name in ("allot", "unallot", "reserve"):
            source, target = {
                "allot": (a.available, a.allotted),
                "unallot": (a.allotted, a.available),
                "reserve": (a.available, a.reserved),
            }[name]
            expect = model.accounts.get(source, 0) >= amount
            try:
                if name == "allot":
                    await ledger.allot(uow, book, Fen(amount), memo=f"allot:{step}")
                elif name == "unallot":
                    assert await ledger.unallot(uow, book, Fen(amount), memo=f"grab:{step}")
                else:
                    hold = await ledger.reserve(uow, book, Fen(amount), ref=f"payout:{step}")
                    model.pending.append((hold.id, amount))
            except InsufficientBudget:
                assert not expect, f"{name} {amount} refused with {model.accounts}"
                return False
            assert expect, f"{name} {amount} allowed with {model.accounts}"
            model.take(source, target, amount)
            return True
        if not model.pending:
            return False
        hold_id, held = model.pending.pop(pick % len(model.pending))
        if name == "post":
            await ledger.post(uow, hold_id)
            model.take(a.reserved, a.paid, held)
        else:
            await ledger.void(uow, hold_id)
            model.take(a.reserved, a.available, held)
        return True


@pytest.fixture
def harness(db_url: str, tmp_path: Path) -> Iterator[tuple[asyncio.AbstractEventLoop, Harness]]:
    loop = asyncio.new_event_loop()
    runtime = bootstrap(make_settings(db_url, tmp_path), clock=FrozenClock(T0))
    try:
        brand = loop.run_until_complete(create_brand(runtime))
        yield loop, Harness(runtime, brand)
    finally:
        loop.run_until_complete(runtime.aclose())
        loop.close()


@ON_BOTH
def test_any_sequence_keeps_the_invariant_and_never_goes_negative(
    harness: tuple[asyncio.AbstractEventLoop, Harness], backend: str
) -> None:
    """Random fund/allot/unallot/reserve/post/void sequences: every operation succeeds
    exactly when its source account covers it, every balance equals a pure model's, none is
    negative and ``verify_book`` (available + allotted + reserved + paid + returned ==
    funded, entries == balances, holds == reserved/paid) holds after every step."""
    loop, h = harness

    @settings(
        max_examples=EXAMPLES[backend],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(ops=OPS)
    def check(ops: list[tuple[str, int, int]]) -> None:
        loop.run_until_complete(h.run(ops))

    check()
    assert h.examples >= EXAMPLES[backend] // 2


# --- the migration ---------------------------------------------------------------------------


def test_migration_gives_existing_books_an_allotted_row(tmp_path: Path) -> None:
    from jinli.migrations.runner import upgrade

    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0007_live_stats")
    brand, book = uuid.uuid4().hex, uuid.uuid4().hex
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO brands (id, name, created_at) VALUES (?, 'b', '2026-11-01')", (brand,)
        )
        db.execute(
            "INSERT INTO ledger_books (id, created_at, brand_id) VALUES (?, '2026-11-01', ?)",
            (book, brand),
        )
        for account in ("funding", "available", "reserved", "paid", "returned"):
            db.execute(
                "INSERT INTO ledger_balances (book_id, account, balance_fen, cap_fen, brand_id)"
                " VALUES (?, ?, 0, ?, ?)",
                (book, account, 100 if account == "funding" else None, brand),
            )
        with pytest.raises(sqlite3.IntegrityError):  # the old CHECK refuses the new account
            db.execute(
                "INSERT INTO ledger_balances (book_id, account, balance_fen, brand_id)"
                " VALUES (?, 'allotted', 0, ?)",
                (uuid.uuid4().hex, brand),
            )
    upgrade(url, "0008_ledger_allotted")
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT account, balance_fen FROM ledger_balances WHERE book_id = ? ORDER BY account",
            (book,),
        ).fetchall()
        assert ("allotted", 0) in rows
        assert len(rows) == 6
        with pytest.raises(sqlite3.IntegrityError):  # the new CHECK still refuses nonsense
            db.execute(
                "INSERT INTO ledger_balances (book_id, account, balance_fen, brand_id)"
                " VALUES (?, 'bogus', 0, ?)",
                (book, brand),
            )


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_opposite_moves_on_one_book_never_deadlock(runtime: Runtime) -> None:
    """``allot`` (available → allotted) and ``unallot`` (allotted → available) racing on one
    book, several per transaction like the relay: every move locks the book's rows in one
    order, so PostgreSQL never has to break a deadlock (it would raise in one of them)."""
    brand = await create_brand(runtime)
    book = await _book(runtime, brand, funding=100_000)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        await ledger.allot(uow, book, Fen(50_000), memo="allot:seed")
        await uow.commit()

    async def moves(kind: str, round_: int) -> None:
        async with runtime.uow(brand_id=brand.brand_id) as uow:
            for step in range(4):
                memo = f"{kind}:{round_}:{step}"
                if kind == "allot":
                    await ledger.allot(uow, book, Fen(10), memo=memo)
                else:
                    await ledger.unallot(uow, book, Fen(10), memo=memo)
                await asyncio.sleep(0)
            await uow.commit()

    for round_ in range(15):
        await asyncio.gather(
            *(moves(k, round_ * 4 + i) for i in range(2) for k in ("allot", "unallot"))
        )
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        verified = await ledger.verify_book(uow, book)
    assert verified.allotted == 50_000
    assert verified.available == 50_000
