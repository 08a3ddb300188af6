"""R1 at CI size on SQLite and PostgreSQL: several processes scan 2,000 distinct codes, each
code scanned concurrently 4× by different openids (one per process).

- Prize tiers on a budget that runs dry part-way: exactly one reward per code, no payout
  twice, Σ(paid + reserved) ≤ budget and == Σ of the drawn prizes paid, INV-BUDGET holds
  (``verify_book``), refused codes stay unclaimed.
- A lucky-split pool smaller than the print run: exactly its number of shares is paid, and
  Σ == the pool total exactly.

The processes are spawned once per backend (a module fixture) and everything is read back
right after, so the tests only judge the figures.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import shutil
import time
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
from jinli.scans.models import ScanDraw, ScanPool
from jinli.scans.repository import PoolRepository
from tests.conftest import BACKENDS, T0, make_settings
from tests.integration.scans._race_worker import WorkerSpec, run
from tests.integration.scans._world import TIERS, World, make_world

pytestmark = pytest.mark.slow

WORKERS = 4
CODES = int(os.environ.get("JINLI_R1_CODES", "2000"))
"""2,000 codes per campaign at CI size (``JINLI_R1_CODES`` scales it, e.g. for a nightly run)."""
COROUTINES = {"sqlite": 1, "postgresql": 4}
"""Scanning tasks per process. SQLite has one writer at a time, so more tasks per process only
queue on its lock (and starve in its busy handler); PostgreSQL runs them side by side."""
TIER_BUDGET_FEN = 60_000
"""The tiers' expected cost is ≈ 42.7 fen a claim (≈ 85,000 fen for 2,000 codes): the budget
runs dry part-way, so refusals and rollbacks race with claims."""
POOL_SHARES = CODES * 3 // 4
POOL_TOTAL = 66 * POOL_SHARES + 7
"""1,500 shares, 99,007 fen at CI size: fewer shares than codes, so the pool runs out."""
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
    draws: list[tuple[bytes, str, int, int | None]]
    """(code hash, outcome, amount, share_no) per draw."""
    payouts: list[tuple[str, int, str]]
    """(cause, amount, openid) per payout."""
    claimed_codes: int
    pool: tuple[int, int, int, list[int]] | None = None
    """(shares, taken, taken_fen, stored shares) of the campaign's pool."""


@dataclass
class Race:
    backend: str
    reports: dict[int, dict[str, Any]]
    seconds: float
    tiers: Book
    lucky: Book


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
            (bytes(h), str(o), int(a), s)
            for h, o, a, s in (
                await uow.session.execute(
                    select(
                        ScanDraw.code_hash, ScanDraw.outcome, ScanDraw.amount_fen, ScanDraw.share_no
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
        if pool_row is not None:
            shares = await PoolRepository(uow).shares(pool_row.id)
            pool = (pool_row.shares, pool_row.taken, pool_row.taken_fen, shares)
    return Book(balances, error, draws, payouts, int(claimed or 0), pool)


@pytest.fixture(scope="module", params=BACKENDS)
def race(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Race:
    backend = str(request.param)
    data_dir = tmp_path_factory.mktemp(f"scan-race-{backend}")
    if backend == "postgresql":
        db_url: str = request.getfixturevalue("pg_database")
    else:
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, data_dir / "jinli.db")
        db_url = f"sqlite+aiosqlite:///{data_dir / 'jinli.db'}"

    async def main() -> Race:
        runtime = bootstrap(make_settings(db_url, data_dir), clock=FrozenClock(T0))
        try:
            tiers = await make_world(runtime, rule=TIERS, funding_fen=TIER_BUDGET_FEN, codes=CODES)
            lucky = await make_world(runtime, rule=POOL, funding_fen=POOL_TOTAL, codes=CODES)
            rounds = (("tiers", tuple(tiers.codes)), ("lucky", tuple(lucky.codes)))
            specs = [
                WorkerSpec(db_url, str(data_dir), w, rounds, coroutines=COROUTINES[backend])
                for w in range(WORKERS)
            ]
            reports, seconds = await asyncio.to_thread(_spawn, specs)
            return Race(
                backend,
                reports,
                seconds,
                await _read(runtime, tiers),
                await _read(runtime, lucky),
            )
        finally:
            await runtime.aclose()

    return asyncio.run(main())


def _answers(race: Race, name: str) -> list[dict[int, tuple[str, int, str | None]]]:
    return [race.reports[w][name]["answers"] for w in sorted(race.reports)]


def _figures(race: Race, name: str, book: Book) -> str:
    states = Counter(a[0] for answers in _answers(race, name) for a in answers.values())
    racing = max(race.reports[w][name]["seconds"] for w in race.reports)
    retries = sum(race.reports[w][name]["lock_retries"] for w in race.reports)
    scans = WORKERS * CODES
    return (
        f"[{race.backend}] {name}: {WORKERS} processes × {CODES} codes = {scans} scans in "
        f"{racing:.1f} s ({scans / racing:.0f}/s, {retries} lock retries); {dict(states)}; "
        f"claimed {book.claimed_codes}, payouts {len(book.payouts)}, "
        f"Σ {sum(a for _, a, _ in book.payouts)} fen"
    )


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
    paid_out = sum(a for _, a, _ in book.payouts)
    assert paid_out == sum(d[2] for d in won) == b.reserved + b.paid
    assert b.reserved + b.paid <= b.funded == TIER_BUDGET_FEN
    assert any(d[1] == DrawOutcome.budget_exhausted for d in book.draws), "the budget ran dry"

    answers = _answers(race, "tiers")
    for index in range(CODES):
        states = Counter(a[index][0] for a in answers)
        assert states["won"] + states["no_prize"] <= 1, (index, states)
    reported = sum(a[1] for answers_ in answers for a in answers_.values() if a[0] == "won")
    assert reported == paid_out, "what the consumers were shown is what was reserved"
    print(f"\n{_figures(race, 'tiers', book)}; budget {b}")  # noqa: T201 - R1 figures (-s)


def test_a_lucky_pool_pays_exactly_its_total_when_exhausted(race: Race) -> None:
    """Lucky split: 1,500 shares for 2,000 codes: exactly 1,500 codes win, each share once,
    Σ == the pool total exactly, the other 500 codes stay unclaimed."""
    book = race.lucky
    assert book.verify_error is None, book.verify_error
    assert book.pool is not None
    shares, taken, taken_fen, stored = book.pool
    expected = (POOL_SHARES, POOL_SHARES, POOL_TOTAL, POOL_TOTAL)
    assert (shares, taken, taken_fen, sum(stored)) == expected
    won = [d for d in book.draws if d[1] == DrawOutcome.won]
    assert sorted(d[3] or 0 for d in won) == list(range(1, POOL_SHARES + 1))
    assert sum(d[2] for d in won) == POOL_TOTAL
    assert book.claimed_codes == POOL_SHARES
    assert Counter(c for c, _, _ in book.payouts).most_common(1)[0][1] == 1
    assert sum(a for _, a, _ in book.payouts) == POOL_TOTAL
    assert book.balances is not None
    assert book.balances.reserved + book.balances.paid == POOL_TOTAL
    assert book.balances.available == 0
    print(f"\n{_figures(race, 'lucky', book)}")  # noqa: T201 - R1 figures (-s)


def test_every_scan_got_an_answer(race: Race) -> None:
    """No scan was lost: every worker answered every code (won, no prize, re-scan, refused)."""
    for name in ("tiers", "lucky"):
        for answers in _answers(race, name):
            assert sorted(answers) == list(range(CODES))
            assert {a[0] for a in answers.values()} <= {"won", "no_prize", "repeated", "refused"}
