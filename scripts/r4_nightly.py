"""R4 at nightly size: ``kill -9`` the payout worker at a random instrumented crash point, many
runs, and print the figures (reliability.md §7: lost 0, double 0, INV-NUMBER violations 0, all
terminal within 2 reconciler cycles).

    python scripts/r4_nightly.py --runs 1000 --backend sqlite
    python scripts/r4_nightly.py --runs 1000 --backend postgresql  # JINLI_TEST_POSTGRES_URL

Same harness as ``tests/integration/payouts/test_r4_kill.py`` (a simulator on a socket that
outlives every worker; ``jinli worker --once`` subprocesses killed by ``JINLI_CRASH_AT``). Each
run is a fresh campaign of ``--payouts`` orders in one database. Exits 1 if any bar is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.payouts.r4_harness import (  # noqa: E402
    CRASH_POINTS,
    R4Harness,
    RunResult,
    summarise,
)

PG_URL = os.environ.get(
    "JINLI_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _runs(db_url: str, work: Path, args: argparse.Namespace) -> list[RunResult]:
    rng = random.Random(args.seed)
    results: list[RunResult] = []
    async with R4Harness(db_url, work, seed=args.seed, pycache=work / "pycache") as harness:
        for i in range(args.runs):
            points = [rng.choice(CRASH_POINTS) for _ in range(rng.randint(1, args.max_kills))]
            result = await harness.run(points, payouts=args.payouts)
            results.append(result)
            if args.verbose or result.lost or result.double_paid or result.number_violations:
                print(f"run {i + 1}: {result}", file=sys.stderr)  # noqa: T201
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--payouts", type=int, default=20, help="payout orders per run")
    parser.add_argument("--max-kills", type=int, default=3, help="kills per run: 1..N")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    from jinli.migrations.runner import upgrade

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="jinli-r4-") as tmp:
        work = Path(tmp)
        if args.backend == "sqlite":
            db_url = f"sqlite+aiosqlite:///{work / 'jinli.db'}"
            upgrade(db_url)
            results = asyncio.run(_runs(db_url, work, args))
        else:
            name = f"jinli_r4_{uuid.uuid4().hex[:10]}"
            asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
            try:
                db_url = f"{PG_URL.rpartition('/')[0]}/{name}"
                upgrade(db_url)
                results = asyncio.run(_runs(db_url, work, args))
            finally:
                asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    figures = summarise(results)
    figures["backend"] = args.backend
    figures["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(figures))  # noqa: T201
    ok = (
        figures["lost"] == 0
        and figures["double_paid"] == 0
        and figures["inv_number_violations"] == 0
        and figures["kills_not_sigkill"] == 0
        and figures["terminal_within_2_cycles"] == figures["runs"]
        and figures["ledger_paid_fen"] == figures["book_paid_fen"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
