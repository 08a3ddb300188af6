"""Races on one budget (I6, INV-BUDGET, R1-style): many processes, then many coroutines.

Eight worker processes (spawn), each with its own runtime and connection pool, are released
together by a barrier. They reserve 1–50 fen against one 10,000 fen budget until refused, then
all reserve the same ref at once, then all post and/or void the same holds at once. The budget
must never be over-reserved, every committed hold must be in the ledger exactly once, and each
hold must move its money exactly once. The processes are spawned once per backend (a module
fixture) and the book is read back right after, so the tests below only judge the figures.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import random
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from jinli.app.bootstrap import bootstrap
from jinli.kernel.clock import FrozenClock
from jinli.kernel.errors import JinliError
from jinli.kernel.money import Fen
from jinli.ledger import service as ledger
from jinli.ledger.domain import Balances, HoldStatus
from jinli.ledger.errors import InsufficientBudget
from jinli.ledger.models import LedgerHold, LedgerTransaction
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS, T0, make_settings
from tests.factories import create_brand
from tests.integration.ledger._race_worker import WorkerSpec, run

pytestmark = pytest.mark.slow

WORKERS = 8
BUDGET_FEN = 10_000
MAX_RESERVE_FEN = 50
HOLD_FEN = 500
SHARED_REF, SHARED_FEN = "shared-payout", 300
COROUTINES = 16


@dataclass(frozen=True)
class HoldRow:
    id: uuid.UUID
    ref: str
    amount_fen: int
    status: HoldStatus


@dataclass
class BookState:
    """A book as read back after the race: plain values, judged by the tests."""

    balances: Balances | None
    verify_error: str | None
    holds: dict[str, HoldRow]
    moves: dict[uuid.UUID, Counter[str]]
    """Per hold id: how many ledger transactions of each kind name it."""


@dataclass
class Race:
    backend: str
    reports: dict[int, dict[str, Any]]
    seconds: float
    reserve_book: BookState
    contend_book: BookState
    targets: list[HoldRow]
    """The pending holds the contention rounds settle, in round order."""
    rounds: tuple[tuple[str, str, int], ...] = field(default=())


def _spawn(specs: list[WorkerSpec]) -> tuple[dict[int, dict[str, Any]], float]:
    """Start one process per spec, collect every report (a crash fails the test)."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(specs))
    results: Any = ctx.Queue()
    processes = [ctx.Process(target=run, args=(spec, barrier, results)) for spec in specs]
    started = time.perf_counter()
    for process in processes:
        process.start()
    reports: dict[int, dict[str, Any]] = {}
    try:
        while len(reports) < len(specs):
            worker, report = results.get(timeout=240)
            reports[worker] = report
    except queue.Empty:
        pytest.fail(f"only {len(reports)} of {len(specs)} workers reported")
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    crashes = [r["crash"] for r in reports.values() if "crash" in r]
    assert not crashes, "a worker crashed:\n" + "\n".join(crashes)
    assert [p.exitcode for p in processes] == [0] * len(specs)
    return reports, time.perf_counter() - started


async def _read_book(runtime: Runtime, brand_id: uuid.UUID, book: uuid.UUID) -> BookState:
    async with runtime.uow(brand_id=brand_id) as uow:
        try:
            balances: Balances | None = await ledger.verify_book(uow, book)
            error = None
        except JinliError as exc:
            balances, error = None, exc.detail
        holds = {
            h.ref: HoldRow(h.id, h.ref, h.amount_fen, h.status)
            for h in await uow.session.scalars(select(LedgerHold).where(LedgerHold.book_id == book))
        }
        moves: dict[uuid.UUID, Counter[str]] = {}
        txs = await uow.session.execute(
            select(LedgerTransaction.hold_id, LedgerTransaction.kind).where(
                LedgerTransaction.book_id == book
            )
        )
        for hold_id, kind in txs.all():
            if hold_id is not None:
                moves.setdefault(hold_id, Counter())[str(kind)] += 1
    return BookState(balances, error, holds, moves)


async def _prepare(runtime: Runtime) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, list[HoldRow]]:
    brand = await create_brand(runtime)
    books = uuid.uuid4(), uuid.uuid4()
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        for book in books:
            await ledger.open_book(uow, book, cap_fen=Fen(BUDGET_FEN))
            await ledger.fund(uow, book, Fen(BUDGET_FEN))
        for i in range(4):
            await ledger.reserve(uow, books[1], Fen(HOLD_FEN), ref=f"payout-{i}")
        await uow.commit()
    state = await _read_book(runtime, brand.brand_id, books[1])
    return brand.brand_id, books[0], books[1], sorted(state.holds.values(), key=lambda h: h.ref)


@pytest.fixture(scope="module", params=BACKENDS)
def race(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Race:
    """Spawn the workers once per backend, run every scenario, read both books back."""
    backend = str(request.param)
    data_dir = tmp_path_factory.mktemp(f"race-{backend}")
    if backend == "postgresql":
        db_url: str = request.getfixturevalue("pg_database")
    else:
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, data_dir / "jinli.db")
        db_url = f"sqlite+aiosqlite:///{data_dir / 'jinli.db'}"

    async def main() -> Race:
        runtime = bootstrap(make_settings(db_url, data_dir), clock=FrozenClock(T0))
        try:
            brand_id, reserve_book, contend_book, targets = await _prepare(runtime)
            rounds = (
                ("reserve", SHARED_REF, SHARED_FEN),
                ("post", str(targets[0].id), 0),
                ("void", str(targets[1].id), 0),
                ("mixed", str(targets[2].id), 0),
                ("mixed", str(targets[3].id), 0),
            )
            specs = [
                WorkerSpec(
                    db_url,
                    str(data_dir),
                    brand_id,
                    worker=w,
                    seed=1_000 + w,
                    reserve_book=reserve_book,
                    contend_book=contend_book,
                    rounds=rounds,
                    max_amount_fen=MAX_RESERVE_FEN,
                )
                for w in range(WORKERS)
            ]
            reports, seconds = await asyncio.to_thread(_spawn, specs)
            return Race(
                backend,
                reports,
                seconds,
                await _read_book(runtime, brand_id, reserve_book),
                await _read_book(runtime, brand_id, contend_book),
                targets,
                rounds,
            )
        finally:
            await runtime.aclose()

    return asyncio.run(main())


def test_processes_never_over_reserve_one_budget(race: Race) -> None:
    """8 processes reserving 1–50 fen until refused never reserve more than was funded, and
    the 10,000 fen budget ends exactly exhausted with the book verified (INV-BUDGET)."""
    book = race.reserve_book
    assert book.verify_error is None, book.verify_error
    assert book.balances is not None
    b = book.balances
    assert b.funded == BUDGET_FEN
    assert b.reserved <= b.funded
    assert (b.reserved, b.available, b.paid, b.returned) == (BUDGET_FEN, 0, 0, 0)
    assert b.available + b.reserved + b.paid + b.returned == b.funded
    reports = [r["reserve"] for r in race.reports.values()]
    assert all(r["refused"] == 2 for r in reports), "each worker stops only when refused"
    successes = [amount for r in reports for amount in r["successes"]]
    attempts = sum(r["attempts"] for r in reports)
    per_worker = [len(r["successes"]) for r in reports]
    racing = max(r["seconds"] for r in reports)
    print(  # noqa: T201 - the figures for the reliability report (visible with -s)
        f"\n[{race.backend}] reserve race: {WORKERS} processes, {attempts} attempts, "
        f"{len(successes)} holds {per_worker}, Σ {sum(successes)} fen == reserved "
        f"{b.reserved} / funded {b.funded}; racing {racing:.1f} s, with spawn {race.seconds:.1f} s"
    )


def test_every_committed_reservation_is_in_the_ledger_exactly_once(race: Race) -> None:
    """Σ of the holds the workers saw committed == the ledger's reserved, hold for hold,
    each with exactly one reserve transaction and nothing else."""
    book = race.reserve_book
    assert book.balances is not None
    successes = [a for r in race.reports.values() for a in r["reserve"]["successes"]]
    assert sum(successes) == book.balances.reserved
    assert sorted(h.amount_fen for h in book.holds.values()) == sorted(successes)
    assert {h.status for h in book.holds.values()} == {HoldStatus.pending}
    assert {hold.id: book.moves.get(hold.id) for hold in book.holds.values()} == {
        hold.id: Counter(reserve=1) for hold in book.holds.values()
    }


def _round(race: Race, index: int) -> list[dict[str, str]]:
    return [race.reports[w]["contend"][index] for w in sorted(race.reports)]


def test_processes_reserving_the_same_ref_get_one_hold(race: Race) -> None:
    """8 processes reserving the same ref at once all get the same hold; the money is
    reserved once (I2: a retried reservation never reserves twice)."""
    outcomes = _round(race, 0)
    assert all("hold" in o for o in outcomes), outcomes
    assert len({o["hold"] for o in outcomes}) == 1
    shared = race.contend_book.holds[SHARED_REF]
    assert (str(shared.id), shared.amount_fen) == (outcomes[0]["hold"], SHARED_FEN)
    assert race.contend_book.moves[shared.id] == Counter(reserve=1)


def test_processes_settling_the_same_hold_move_its_money_once(race: Race) -> None:
    """Posting and/or voiding one hold from 8 processes at once moves its money exactly once;
    repeats of the winning action succeed, the other action gets a state conflict."""
    book = race.contend_book
    paid = 0
    for index, target in enumerate(race.targets, start=1):
        outcomes = _round(race, index)
        won = {o["status"] for o in outcomes if "status" in o}
        assert len(won) == 1, outcomes
        status = HoldStatus(won.pop())
        winner = "post" if status == HoldStatus.posted else "void"
        for outcome in outcomes:
            if outcome["action"] == winner:
                assert outcome.get("status") == status, outcomes
            else:
                assert outcome.get("code") == "ledger_hold_state_conflict", outcomes
        assert book.holds[target.ref].status == status
        assert book.moves[target.id] == Counter({"reserve": 1, winner: 1})
        paid += HOLD_FEN if status == HoldStatus.posted else 0
    assert book.holds[race.targets[0].ref].status == HoldStatus.posted
    assert book.holds[race.targets[1].ref].status == HoldStatus.voided
    assert book.verify_error is None, book.verify_error
    assert book.balances == Balances(
        Fen(BUDGET_FEN),
        Fen(BUDGET_FEN - SHARED_FEN - paid),
        Fen(SHARED_FEN),
        Fen(paid),
        Fen(0),
        Fen(BUDGET_FEN),
    )
    calls = sum(len(r["contend"]) for r in race.reports.values())
    print(  # noqa: T201 - the figures for the reliability report (visible with -s)
        f"\n[{race.backend}] settle race: {WORKERS} processes × {len(race.rounds)} rounds = "
        f"{calls} calls; 1 hold for the shared ref; 1 move per hold; paid {paid} fen"
    )


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_coroutines_in_one_process_never_over_reserve_and_settle_once(
    runtime: Runtime, backend: str
) -> None:
    """16 coroutines, each in its own units of work, reserve until refused: the budget ends
    exactly exhausted with Σ committed holds == reserved; then all 16 settle one hold at once
    (half post, half void) and its money moves once."""
    brand = await create_brand(runtime)
    book = uuid.uuid4()
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        await ledger.open_book(uow, book, cap_fen=Fen(BUDGET_FEN))
        await ledger.fund(uow, book, Fen(BUDGET_FEN))
        await uow.commit()

    async def reserver(worker: int) -> list[int]:
        rng = random.Random(worker)
        won: list[int] = []
        for phase_max in (MAX_RESERVE_FEN * 4, 1):
            while True:
                amount = rng.randint(1, phase_max)
                async with runtime.uow(brand_id=brand.brand_id) as uow:
                    try:
                        await ledger.reserve(uow, book, Fen(amount), ref=f"c{worker}-{len(won)}")
                    except InsufficientBudget:
                        break
                    await uow.commit()
                won.append(amount)
        return won

    won = [
        a for amounts in await asyncio.gather(*map(reserver, range(COROUTINES))) for a in amounts
    ]
    state = await _read_book(runtime, brand.brand_id, book)
    assert state.verify_error is None, state.verify_error
    assert state.balances is not None
    assert sum(won) == state.balances.reserved == BUDGET_FEN
    assert sorted(h.amount_fen for h in state.holds.values()) == sorted(won)

    hold = min(state.holds.values(), key=lambda h: h.ref)

    async def settler(worker: int) -> str:
        settle = ledger.post if worker % 2 == 0 else ledger.void
        async with runtime.uow(brand_id=brand.brand_id) as uow:
            try:
                settled = await settle(uow, hold.id)
            except JinliError as exc:
                return exc.code
            await uow.commit()
            return str(settled.status)

    outcomes = Counter(await asyncio.gather(*map(settler, range(COROUTINES))))
    assert set(outcomes) - {"ledger_hold_state_conflict"} in ({"posted"}, {"voided"}), outcomes
    assert outcomes["ledger_hold_state_conflict"] == COROUTINES // 2
    after = await _read_book(runtime, brand.brand_id, book)
    assert after.verify_error is None, after.verify_error
    assert sum(after.moves[hold.id].values()) == 2  # the reserve, then one post or void
