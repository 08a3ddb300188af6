"""R1 at CI size on SQLite and PostgreSQL, and on the two hot paths: several processes scan
2,000 distinct codes, each code scanned concurrently 4× by different openids (one per process).

- Prize tiers on a budget that runs dry part-way: exactly one reward per code, no payout
  twice, Σ(paid + reserved) ≤ budget and == Σ of the drawn prizes paid, INV-BUDGET holds
  (``verify_book``), refused codes stay unclaimed.
- A lucky-split pool smaller than the print run: exactly its number of shares is paid, and
  Σ == the pool total exactly.

The processes are spawned once per backend (a module fixture) and everything is read back
right after, so the tests only judge the figures.

Backends: ``sqlite`` and ``postgresql`` take the SQL path (the claim and the payout in one
transaction). ``postgresql+pgstore`` and ``postgresql+redis`` take the hot path
(``scans.hot``: ``JINLI_SCANS__HOT_PATH`` postgres / redis): the workers only *grab*, the
test's process runs the relay beside them (``tasks.relay_once``) and then until the store has
nothing pending (``_hot_race.drain``), and only then reads the books. The same assertions
hold for every backend; where a figure legitimately differs on a hot path it says why.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from jinli.app.bootstrap import bootstrap
from jinli.codes.models import Code
from jinli.kernel.clock import FrozenClock
from jinli.kernel.errors import JinliError
from jinli.ledger import service as ledger
from jinli.ledger.domain import Balances
from jinli.payouts.models import PayoutOrder
from jinli.platform.runtime import Runtime
from jinli.rewards.domain import DrawOutcome
from jinli.scans import tasks
from jinli.scans.models import ScanDraw, ScanPool
from jinli.scans.repository import PoolRepository
from tests.conftest import BACKENDS, RUN_ID, T0, _run, _truncate_pg, make_settings
from tests.integration.scans import _hot_race as hot
from tests.integration.scans._hot_race import HotSetup, RelayLog
from tests.integration.scans._race_worker import WorkerSpec, run
from tests.integration.scans._world import TIERS, World, make_world

pytestmark = pytest.mark.slow

WORKERS = 4
CODES = int(os.environ.get("JINLI_R1_CODES", "2000"))
"""2,000 codes per campaign at CI size (``JINLI_R1_CODES`` scales it, e.g. for a nightly run)."""
COROUTINES = {"sqlite": 1, "postgresql": 4, "postgresql+pgstore": 4, "postgresql+redis": 8}
"""Scanning tasks per process. SQLite has one writer at a time, so more tasks per process only
queue on its lock (and starve in its busy handler); PostgreSQL runs them side by side. The
PostgreSQL store group-commits the grabs of one process (batches of up to 4 here), and a
request may hold two pooled connections at once (its unit of work, and the claim counter on
PostgreSQL), plus the store's two batches in flight: 4 tasks stay well within a pool of 10 + 10.
With Redis the counters and the grab leave the pool alone, so 8 tasks (pipelines of up to 8
grabs) stay within it too."""
HOT_BACKENDS = {"postgresql+pgstore": "postgres", "postgresql+redis": "redis"}
"""The hot-path backends and their ``scans.hot_path``."""
TRANCHE_FEN = 5_000
"""The hot store's allowance tranche: far below both budgets, so the four processes top the
allowance up from the ledger again and again while they grab (12 tranches for the tiers, 20
for the pool), and the last tranches meet a budget that runs dry."""
TIER_BUDGET_FEN = 60_000
"""The tiers' expected cost is ≈ 42.7 fen a claim (≈ 85,000 fen for 2,000 codes): the budget
runs dry part-way, so refusals and rollbacks race with claims."""
POOL_SHARES = CODES * 3 // 4
POOL_TOTAL = 66 * POOL_SHARES + 7
"""1,500 shares, 99,007 fen at CI size: fewer shares than codes, so the pool runs out."""
PARAMS = [
    *BACKENDS,
    pytest.param("postgresql+pgstore", marks=pytest.mark.postgres),
    pytest.param("postgresql+redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
]
POOL = {
    "kind": "lucky_split",
    "total_fen": POOL_TOTAL,
    "shares": POOL_SHARES,
    "algorithm": "double_mean",
}


@dataclass
class Book:
    """A campaign as read back after the race: plain values, judged by the tests."""

    balances: Balances | None
    verify_error: str | None
    draws: list[tuple[bytes, str, int, int | None, str]]
    """(code hash, outcome, amount, share_no, draw id) per draw."""
    payouts: list[tuple[str, int, str]]
    """(cause, amount, openid) per payout."""
    claimed_codes: int
    pool: tuple[int, int, int, list[int]] | None = None
    """(shares, taken, taken_fen, stored shares) of the campaign's pool row."""
    allowance: int | None = None
    """Hot paths: the allowance the store holds for the campaign after the relay drained."""
    outbox: int | None = None
    """Hot paths: the campaign's grabs the store still keeps after the relay drained."""
    store_pool: tuple[int, int, int] | None = None
    """Redis: the store's own pool (shares, taken, shares still listed)."""


@dataclass
class Race:
    backend: str
    reports: dict[int, dict[str, Any]]
    seconds: float
    tiers: Book
    lucky: Book
    relay: RelayLog | None = None
    """Hot paths: what the relay did."""
    pending: int | None = None
    """Hot paths: what the store's ``pending`` still hands out at the end (stale or not)."""
    total_seconds: float = 0.0
    """The whole fixture: worlds, processes, relay drain and read-back."""

    @property
    def hot(self) -> bool:
        return self.backend in HOT_BACKENDS


def _spawn(specs: list[WorkerSpec]) -> tuple[dict[int, dict[str, Any]], float]:
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
            worker, report = results.get(timeout=900)
            reports[worker] = report
    except queue.Empty:
        pytest.fail(f"only {len(reports)} of {len(specs)} workers reported")
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    crashes = [r["crash"] for r in reports.values() if "crash" in r]
    assert not crashes, "a worker crashed:\n" + "\n".join(crashes)
    return reports, time.perf_counter() - started


async def _read(runtime: Runtime, world: World) -> Book:
    async with runtime.uow(brand_id=world.brand.brand_id) as uow:
        try:
            balances: Balances | None = await ledger.verify_book(uow, world.campaign_id)
            error = None
        except JinliError as exc:
            balances, error = None, exc.detail
        draws = [
            (bytes(h), str(o), int(a), s, str(i))
            for h, o, a, s, i in (
                await uow.session.execute(
                    select(
                        ScanDraw.code_hash,
                        ScanDraw.outcome,
                        ScanDraw.amount_fen,
                        ScanDraw.share_no,
                        ScanDraw.id,
                    ).where(ScanDraw.campaign_id == world.campaign_id)
                )
            ).all()
        ]
        payouts = [
            (c, int(a), o)
            for c, a, o in (
                await uow.session.execute(
                    select(PayoutOrder.cause, PayoutOrder.amount_fen, PayoutOrder.openid).where(
                        PayoutOrder.campaign_id == world.campaign_id
                    )
                )
            ).all()
        ]
        claimed = await uow.session.scalar(
            select(func.count())
            .select_from(Code)
            .where(Code.batch_id == world.batch_id, Code.claimed_at.is_not(None))
        )
        pool_row = (
            await uow.session.scalars(
                select(ScanPool).where(ScanPool.campaign_id == world.campaign_id)
            )
        ).first()
        pool = None
        pool_id: uuid.UUID | None = None
        if pool_row is not None:
            shares = await PoolRepository(uow).shares(pool_row.id)
            pool = (pool_row.shares, pool_row.taken, pool_row.taken_fen, shares)
            pool_id = pool_row.id
    book = Book(balances, error, draws, payouts, int(claimed or 0), pool)
    if tasks.hot_store(runtime) is not None:
        book.allowance = await hot.store_of(runtime).allowance(world.campaign_id)
        book.outbox = await hot.outbox_left(runtime, world.campaign_id)
        if runtime.settings.scans.hot_path == "redis" and pool_id is not None:
            book.store_pool = await hot.redis_pool(runtime, world.campaign_id, pool_id)
    return book


@pytest.fixture(scope="module", params=PARAMS)
def race(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Race:
    backend = str(request.param)
    data_dir = tmp_path_factory.mktemp(f"scan-race-{backend.replace('+', '-')}")
    setup: HotSetup | None = None
    if backend.startswith("postgresql"):
        db_url: str = request.getfixturevalue("pg_database")
        if backend in HOT_BACKENDS:
            # A clean database, as the per-test fixture gives: the PostgreSQL store's outbox
            # is one table, and the relay must see this race's grabs only.
            _run(lambda: _truncate_pg(db_url))
            redis_url = prefix = None
            if HOT_BACKENDS[backend] == "redis":
                redis_url = str(request.getfixturevalue("redis_url"))
                prefix = f"jinli-test-{RUN_ID}-r1-{uuid.uuid4().hex[:6]}:"
            setup = HotSetup(HOT_BACKENDS[backend], TRANCHE_FEN, redis_url, prefix)
    else:
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, data_dir / "jinli.db")
        db_url = f"sqlite+aiosqlite:///{data_dir / 'jinli.db'}"

    async def main() -> Race:
        settings = make_settings(db_url, data_dir, **hot.settings_for(setup))
        runtime = bootstrap(settings, clock=FrozenClock(T0))
        started = time.perf_counter()
        try:
            assert (tasks.hot_store(runtime) is not None) == (setup is not None)
            tiers = await make_world(runtime, rule=TIERS, funding_fen=TIER_BUDGET_FEN, codes=CODES)
            lucky = await make_world(runtime, rule=POOL, funding_fen=POOL_TOTAL, codes=CODES)
            rounds = (("tiers", tuple(tiers.codes)), ("lucky", tuple(lucky.codes)))
            specs = [
                WorkerSpec(
                    db_url, str(data_dir), w, rounds, coroutines=COROUTINES[backend], hot=setup
                )
                for w in range(WORKERS)
            ]
            relay: RelayLog | None = None
            pending: int | None = None
            if setup is None:
                reports, seconds = await asyncio.to_thread(_spawn, specs)
            else:
                relay, stop = RelayLog(), asyncio.Event()
                beside = asyncio.create_task(hot.relay_beside(runtime, stop, relay))
                try:
                    reports, seconds = await asyncio.to_thread(_spawn, specs)
                finally:
                    stop.set()
                    await beside  # a relay pass that raised fails the race here
                await hot.drain(runtime, relay)
                pending = len(await hot.store_of(runtime).pending(limit=10_000, stale_seconds=0))
            race = Race(
                backend,
                reports,
                seconds,
                await _read(runtime, tiers),
                await _read(runtime, lucky),
                relay,
                pending,
            )
            race.total_seconds = time.perf_counter() - started
            return race
        finally:
            await runtime.aclose()
            if setup is not None and setup.redis_url is not None and setup.redis_prefix:
                await hot.delete_keys(setup.redis_url, setup.redis_prefix)

    return asyncio.run(main())


def _answers(race: Race, name: str) -> list[dict[int, tuple[str, int, str | None, str | None]]]:
    return [race.reports[w][name]["answers"] for w in sorted(race.reports)]


def _figures(race: Race, name: str, book: Book) -> str:
    states = Counter(a[0] for answers in _answers(race, name) for a in answers.values())
    racing = max(race.reports[w][name]["seconds"] for w in race.reports)
    retries = sum(race.reports[w][name]["lock_retries"] for w in race.reports)
    scans = WORKERS * CODES
    figures = (
        f"[{race.backend}] {name}: {WORKERS} processes × {COROUTINES[race.backend]} tasks × "
        f"{CODES} codes = {scans} scans in {racing:.1f} s ({scans / racing:.0f}/s, "
        f"{retries} lock retries); {dict(states)}; claimed {book.claimed_codes}, "
        f"payouts {len(book.payouts)}, Σ {sum(a for _, a, _ in book.payouts)} fen"
    )
    if race.hot:
        figures += f"; store allowance {book.allowance} fen; {race.relay}"
    return figures + f"; race {race.total_seconds:.1f} s in all"


def _shown(race: Race, name: str) -> list[tuple[str, int, str]]:
    """(state, amount, draw id) of every scan that claimed its code (won or no prize)."""
    return [
        (a[0], a[1], a[3] or "")
        for answers in _answers(race, name)
        for a in answers.values()
        if a[0] in ("won", "no_prize")
    ]


def _check_hot_store(race: Race, book: Book) -> None:
    """Hot paths, once the relay has drained: nothing pending, nothing left in the outbox,
    and the ledger's ``allotted`` is exactly the allowance the store still holds (the store
    never promises fen the ledger has not set aside, and every grab's fen were moved on)."""
    if not race.hot:
        return
    assert race.pending == 0, f"{race.pending} grabs still pending in the store"
    assert book.outbox == 0, f"{book.outbox} grabs still in the store's outbox"
    assert book.balances is not None
    assert book.balances.allotted == book.allowance


def test_every_code_pays_at_most_once_and_never_beyond_the_budget(race: Race) -> None:
    """Tiers: one claim per code (claimed draws, claimed rows and winners agree), one payout
    per winning code, Σ payouts == Σ won draws == reserved + paid ≤ funded; INV-BUDGET."""
    book = race.tiers
    assert book.verify_error is None, book.verify_error
    assert book.balances is not None
    b = book.balances
    claimed_draws = [d for d in book.draws if d[1] != DrawOutcome.budget_exhausted]
    per_code = Counter(d[0] for d in claimed_draws)
    assert max(per_code.values()) == 1, "a code was claimed twice"
    assert len(per_code) == book.claimed_codes
    won = [d for d in claimed_draws if d[1] == DrawOutcome.won]
    causes = Counter(c for c, _, _ in book.payouts)
    assert max(causes.values()) == 1, "a payout was created twice"
    assert set(causes) == {f"scan:{d[0].hex()}" for d in won}
    assert len(won) == len(book.payouts)
    paid_out = sum(a for _, a, _ in book.payouts)
    assert paid_out == sum(d[2] for d in won) == b.reserved + b.paid
    # On a hot path part of the budget sits in ``allotted`` (the store's allowance, not
    # promised to anyone); on the SQL path it is 0. Every fen is in one account (verify_book
    # checks it too), and what was promised stays within what was funded.
    assert b.available + b.allotted + b.reserved + b.paid == b.funded
    assert b.reserved + b.paid <= b.funded == TIER_BUDGET_FEN
    assert any(d[1] == DrawOutcome.budget_exhausted for d in book.draws), "the budget ran dry"
    _check_hot_store(race, book)

    answers = _answers(race, "tiers")
    for index in range(CODES):
        states = Counter(a[index][0] for a in answers)
        assert states["won"] + states["no_prize"] <= 1, (index, states)
    reported = sum(a[1] for answers_ in answers for a in answers_.values() if a[0] == "won")
    # On a hot path the consumer is shown the grab before the relay writes anything: this
    # holds once the relay has drained (read back only then).
    assert reported == paid_out, "what the consumers were shown is what was reserved"
    # Every claim the consumer was shown is the draw on record, under the id they were
    # given (on a hot path: the relay wrote it with that id).
    drawn = {d[4]: (str(d[1]), d[2]) for d in claimed_draws}
    shown = _shown(race, "tiers")
    assert len(shown) == len(claimed_draws)
    assert all(drawn.get(i) == (s, a) for s, a, i in shown), "a shown claim is not on record"
    print(f"\n{_figures(race, 'tiers', book)}; budget {b}")  # noqa: T201 - R1 figures (-s)


def test_a_lucky_pool_pays_exactly_its_total_when_exhausted(race: Race) -> None:
    """Lucky split: 1,500 shares for 2,000 codes: exactly 1,500 codes win, each share once,
    Σ == the pool total exactly, the other 500 codes stay unclaimed."""
    book = race.lucky
    assert book.verify_error is None, book.verify_error
    assert book.pool is not None
    shares, taken, taken_fen, stored = book.pool
    if race.backend == "postgresql+redis":
        # The Redis store keeps the pool's counter and its untaken shares in Redis; the
        # database row is the pool as split, never written again: its own counter is run to
        # the end, every share listed was taken (and the draws below say which).
        assert (shares, taken, taken_fen, sum(stored)) == (POOL_SHARES, 0, 0, POOL_TOTAL)
        assert book.store_pool == (POOL_SHARES, POOL_SHARES, 0)
    else:
        # The SQL path and the PostgreSQL store take shares on the row itself.
        expected = (POOL_SHARES, POOL_SHARES, POOL_TOTAL, POOL_TOTAL)
        assert (shares, taken, taken_fen, sum(stored)) == expected
    won = [d for d in book.draws if d[1] == DrawOutcome.won]
    assert sorted(d[3] or 0 for d in won) == list(range(1, POOL_SHARES + 1))
    assert all(d[2] == stored[(d[3] or 0) - 1] for d in won), "a share paid a wrong amount"
    assert sum(d[2] for d in won) == POOL_TOTAL
    assert book.claimed_codes == POOL_SHARES
    assert len(won) == len(book.payouts)
    assert Counter(c for c, _, _ in book.payouts).most_common(1)[0][1] == 1
    assert sum(a for _, a, _ in book.payouts) == POOL_TOTAL
    assert book.balances is not None
    assert book.balances.reserved + book.balances.paid == POOL_TOTAL
    # The pool is exhausted and funded with exactly its total: nothing is left anywhere,
    # neither available nor allotted to a hot store's allowance (0 on the SQL path).
    assert book.balances.available + book.balances.allotted == 0
    _check_hot_store(race, book)
    shown = _shown(race, "lucky")
    assert sum(a for s, a, _ in shown if s == "won") == POOL_TOTAL
    drawn = {d[4]: d[2] for d in won}
    assert len(shown) == len(won)
    assert all(drawn.get(i) == a for _, a, i in shown), "a shown share is not on record"
    print(f"\n{_figures(race, 'lucky', book)}")  # noqa: T201 - R1 figures (-s)


def test_every_scan_got_an_answer(race: Race) -> None:
    """No scan was lost: every worker answered every code (won, no prize, re-scan, refused)."""
    for name in ("tiers", "lucky"):
        for answers in _answers(race, name):
            assert sorted(answers) == list(range(CODES))
            assert {a[0] for a in answers.values()} <= {"won", "no_prize", "repeated", "refused"}
