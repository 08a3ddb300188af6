"""R4 at CI size: ``kill -9`` the payout worker (a real ``jinli worker --once`` subprocess) at
every instrumented crash point, against the simulator served on a socket; restart; the users
confirm; reconcile. 0 lost, 0 paid twice (the simulator's own book), 0 new numbers without a
confirmed failure, INV-BUDGET, ledger paid == what the simulator paid.

10 runs × 20 payouts per backend: each crash point once and twice in a row, and two runs that
kill at every point in turn. SQLite always; PostgreSQL marked. Nightly size:
``scripts/r4_nightly.py``.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.integration.payouts.r4_harness import CRASH_POINTS, R4Harness

pytestmark = pytest.mark.slow

PAYOUTS = 20
RUNS = [
    *[pytest.param([p], id=p.removeprefix("payout.")) for p in CRASH_POINTS],
    *[pytest.param([p, p], id=p.removeprefix("payout.") + "-x2") for p in CRASH_POINTS],
    pytest.param(list(CRASH_POINTS), id="every-point"),
    pytest.param(list(reversed(CRASH_POINTS)), id="every-point-reversed"),
]
POSTGRES = pytest.mark.postgres
CASES = [
    # Every run on SQLite (≥ 10 runs: the CI size of R4) …
    *[pytest.param("sqlite", run.values[0], id=f"sqlite-{run.id}") for run in RUNS],
    # … and on PostgreSQL each crash point once plus all of them in a row, to keep CI short.
    *[
        pytest.param("postgresql", run.values[0], id=f"postgresql-{run.id}", marks=POSTGRES)
        for run in RUNS
        if not run.id.endswith(("-x2", "-reversed"))
    ],
]
IN_DOUBT = {"payout.after_call", "payout.before_record_commit"}
"""Crash points between WeChat applying a payout and Jinli recording it."""


@pytest.fixture(scope="session")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worker-pycache")


@pytest.mark.parametrize(("backend", "crash_points"), CASES, indirect=["backend"])
async def test_kill_9_loses_nothing_and_pays_nothing_twice(
    db_url: str, tmp_path: Path, pycache: Path, crash_points: list[str]
) -> None:
    async with R4Harness(db_url, tmp_path, seed=len(crash_points), pycache=pycache) as harness:
        result = await harness.run(crash_points, payouts=PAYOUTS)

    print(f"R4 {result}")  # noqa: T201 - the published figures
    assert result.kill_codes == [-signal.SIGKILL] * len(crash_points)
    if IN_DOUBT & set(crash_points):  # the dangerous window was really hit
        assert result.landed_unrecorded >= 1
    assert result.worker_errors == []
    assert result.stuck_after_recovery == 0
    assert result.lost == 0
    assert result.succeeded == PAYOUTS  # every consumer acted, so every payout was paid
    assert result.double_paid == 0
    assert result.number_violations == 0
    assert result.reconciler_cycles <= 2
    assert result.ledger_paid_fen == result.book_paid_fen > 0
