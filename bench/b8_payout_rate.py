"""B8 payout_rate: the payout dispatcher draining a queue into WeChat Pay's rate limits.

Subject: Jinli's real dispatcher (``payouts.tasks.dispatch_once`` in a worker loop, default
settings) in one or two worker *processes*, sending through the real signed protocol clients
over HTTP to the WeChat Pay simulator, itself served by uvicorn in a process of its own on a
local port, on the real clock. Reference: the simulator's configured per-merchant limit (100
transfers per calendar second; 1,800 cash red packets per calendar minute). The simulator
records the instant it counted every call it accepted, so the figures are WeChat's view:

- ratio = achieved calls/s (accepted calls over the span from the first to the last) ÷ limit;
  target 0.90–1.00 and never above 1.0 in any window;
- the most calls the simulator counted in one of its windows, against the limit;
- correctness: 0 FREQUENCY_LIMITED, every payout sent exactly once under its own number
  (simulator book == queue, Jinli's ``tries`` == 1), 0 paid twice.

Scenarios: SQLite + in-process limiter (one worker, as that deployment runs), PostgreSQL +
database limiter (two workers), PostgreSQL + Redis limiter (two workers) for transfers; the red
packet limit on the best backend available. ``--quick`` sends ~600 payouts per scenario; the
full run 5,000. PostgreSQL and Redis scenarios are skipped (noted) when the servers are absent.

Run alone: ``python bench/b8_payout_rate.py [--quick]``; or through ``bench/run.py B8``.
``JINLI_B8_LOG_LEVEL=WARNING`` shows the workers' warnings (each slot dropped as late, with how
late). The machine's load average before and after each scenario is in its notes: the workers,
the simulator and the databases share the two cores with whatever else runs, and a dispatcher
starved of CPU drops late slots (safe) rather than send them late (not safe), so the ratio
falls with the load while the limit still holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

BENCH_ID = "B8"
PG_URL = os.environ.get(
    "JINLI_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("JINLI_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
AMOUNT_FEN = 100
"""1 CNY each: inside every mode's range (a cash red packet needs ≥ 1 CNY without scene)."""
OWNER_PASSWORD = "b8-correct-horse-battery"  # noqa: S105 - a throwaway brand in a temporary database


@dataclass(frozen=True)
class Scenario:
    mode: str
    """``transfer`` or ``red_packet`` (the payout mode)."""
    backend: str
    """``sqlite`` (memory limiter), ``postgresql`` (database limiter) or ``redis`` (PG + Redis)."""
    workers: int

    @property
    def limit(self) -> tuple[int, int]:
        """(calls, window seconds) the simulator enforces for this mode, by default."""
        return (100, 1) if self.mode == "transfer" else (1800, 60)

    @property
    def name(self) -> str:
        store = {"sqlite": "sqlite/memory", "postgresql": "pg/db", "redis": "pg/redis"}
        return f"{self.mode} {store[self.backend]} ×{self.workers} worker"


# -- child processes ------------------------------------------------------------------------


def serve_simulator(data_dir: str) -> None:
    """Child: serve the simulator until a line arrives on stdin, then print what it counted."""
    from jinli.integrations.simulator.book import PayoutKind
    from jinli.integrations.simulator.config import SimulatorConfig
    from jinli.integrations.simulator.server import SimulatorServer
    from jinli.integrations.simulator.simulator import Simulator

    sim = Simulator.from_directory(
        Path(data_dir) / "simulator", config=SimulatorConfig(background=False)
    )
    server = SimulatorServer(sim)
    print(json.dumps({"url": server.start()}), flush=True)
    sys.stdin.readline()
    with sim.lock:
        stats = {
            name: {
                "accepted": list(limiter.accepted),
                "refused": limiter.refused,
                "window": limiter.window_seconds,
                "limit": limiter.limit,
            }
            for name, limiter in (
                ("transfer", sim.transfers.limiter),
                ("red_packet", sim.redpacks.limiter),
            )
        }
        stats["book"] = {
            kind.value: [(e.number, e.debits, e.successes) for e in sim.book.entries(kind)]
            for kind in (PayoutKind.TRANSFER, PayoutKind.REDPACK)
        }
    print(json.dumps(stats), flush=True)
    server.stop()


def work(settings_json: str) -> None:
    """Child: one worker process, the dispatcher loop until no payout is left to send."""
    asyncio.run(_work(json.loads(settings_json)))


async def _work(values: dict[str, Any]) -> None:
    from sqlalchemy import func, select

    from jinli.app.bootstrap import bootstrap
    from jinli.app.wechat import close, wechatpay
    from jinli.payouts import tasks
    from jinli.payouts.domain import PayoutState
    from jinli.payouts.models import PayoutOrder
    from jinli.platform.ratelimit import rate_limiter
    from jinli.platform.settings import Settings

    runtime = bootstrap(Settings(**values))
    gateway = wechatpay(runtime).gateway
    open_states = [PayoutState.pending, PayoutState.sending, PayoutState.unknown]
    sent = passes = 0
    started = time.perf_counter()
    try:
        while True:
            passes += 1
            done = await tasks.dispatch_once(runtime, gateway)
            sent += done
            if done:
                continue
            async with runtime.uow(system=True) as uow:
                left = await uow.session.scalar(
                    select(func.count())
                    .select_from(PayoutOrder)
                    .where(PayoutOrder.state.in_(open_states))
                )
            if not left:
                break
            await asyncio.sleep(0.05)  # a payout another worker holds, or one backing off
    finally:
        missed = rate_limiter(runtime).missed
        await close(runtime)
        await runtime.aclose()
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps({"sent": sent, "passes": passes, "missed": missed, "seconds": elapsed,
                      "cpu_seconds": cpu}))  # fmt: skip


# -- the parent ------------------------------------------------------------------------------


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "JINLI_CRASH_AT": ""},
    )


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _reachable(kind: str) -> str | None:
    """None if the server answers, else why not."""

    async def ping() -> None:
        if kind == "postgresql":
            await asyncio.wait_for(_pg_admin("SELECT 1"), timeout=3)
        else:
            from redis.asyncio import Redis

            redis = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
            try:
                await redis.ping()
            finally:
                await redis.aclose()

    try:
        asyncio.run(ping())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


async def _queue(values: dict[str, Any], mode: str, count: int) -> list[str]:
    """Create a brand, a funded campaign and ``count`` due payouts; returns their numbers."""
    from jinli.accounts import service as accounts_service
    from jinli.accounts.domain import Actor, ActorKind, Role
    from jinli.app.bootstrap import bootstrap
    from jinli.campaigns import service as campaigns_service
    from jinli.campaigns.schemas import CampaignCreate
    from jinli.kernel.money import Fen
    from jinli.payouts import service
    from jinli.payouts.domain import PayoutMode
    from jinli.platform.settings import Settings

    runtime = bootstrap(Settings(**values))
    try:
        async with runtime.uow(system=True) as uow:
            brand, _ = await accounts_service.create_brand(
                uow,
                name="B8 brand",
                owner_email=f"b8-{uuid.uuid4().hex[:8]}@example.com",
                owner_name="B8",
                owner_password=OWNER_PASSWORD,
            )
            await uow.commit()
        actor = Actor(brand_id=brand.id, kind=ActorKind.system, id=None, name="b8", role=Role.owner)
        now = runtime.clock.now()
        total = count * AMOUNT_FEN
        data = CampaignCreate.model_validate(
            {
                "name": "B8 payouts",
                "budget_cap_fen": total,
                "initial_funding_fen": total,
                "starts_at": (now - timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(days=7)).isoformat(),
            }
        )
        async with runtime.uow(brand_id=brand.id) as uow:
            campaign = await campaigns_service.create(uow, actor, data)
            await uow.commit()
        numbers: list[str] = []
        for start in range(0, count, 500):
            async with runtime.uow(brand_id=brand.id) as uow:
                for i in range(start, min(count, start + 500)):
                    order = await service.create_payout(
                        uow,
                        campaign_id=campaign.id,
                        amount_fen=Fen(AMOUNT_FEN),
                        openid=f"o-b8-{i:06d}-{uuid.uuid4().hex[:8]}",
                        mode=PayoutMode(mode),
                        cause=f"b8:{uuid.uuid4()}",
                        remark="B8 奖励",
                        activity="B8 payout rate",
                    )
                    numbers.append(order.bill_number)
                await uow.commit()
        return numbers
    finally:
        await runtime.aclose()


async def _tries(values: dict[str, Any]) -> tuple[Counter[str], Counter[int]]:
    """Jinli's view after the drain: payouts per state, and per number of sends."""
    from sqlalchemy import select

    from jinli.app.bootstrap import bootstrap
    from jinli.payouts.models import PayoutOrder
    from jinli.platform.settings import Settings

    runtime = bootstrap(Settings(**values))
    try:
        async with runtime.uow(system=True) as uow:
            rows = (await uow.session.execute(select(PayoutOrder.state, PayoutOrder.tries))).all()
    finally:
        await runtime.aclose()
    return Counter(str(state) for state, _ in rows), Counter(tries for _, tries in rows)


def _windows(accepted: list[float], window: int) -> tuple[list[int], int]:
    """Accepted calls per window from the first window to the last, and the most in one."""
    counts = Counter(int(at) // window for at in accepted)
    if not counts:
        return [], 0
    first, last = min(counts), max(counts)
    return [counts.get(w, 0) for w in range(first, last + 1)], max(counts.values())


def _max_in_any_second(accepted: list[float]) -> int:
    """The most accepted calls in any sliding 1 s (for the per-minute limit: smoothness)."""
    times = sorted(accepted)
    best = start = 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def run_scenario(scenario: Scenario, count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="jinli-b8-") as tmp:
        data_dir = Path(tmp)
        tag = uuid.uuid4().hex[:10]
        load_before = round(os.getloadavg()[0], 2)
        if scenario.backend == "sqlite":
            db_url = f"sqlite+aiosqlite:///{data_dir / 'jinli.db'}"
        else:
            base, _, _ = PG_URL.rpartition("/")
            db_url = f"{base}/jinli_b8_{tag}"
            asyncio.run(_pg_admin(f'CREATE DATABASE "jinli_b8_{tag}"'))
        sim = _child("simulator", str(data_dir))
        try:
            from jinli.migrations.runner import upgrade

            upgrade(db_url)
            if sim.stdout is None:
                raise RuntimeError("the simulator process has no stdout")
            url = json.loads(sim.stdout.readline())["url"]
            values: dict[str, Any] = {
                "environment": "development",
                "database_url": db_url,
                "data_dir": str(data_dir),
                "secret_key": "b8-bench-secret-key-not-for-production",
                "log_level": os.environ.get("JINLI_B8_LOG_LEVEL", "ERROR"),
                "wechatpay": {"base_url": url, "payout_mode": scenario.mode},
            }
            if scenario.backend == "redis":
                values["redis_url"] = REDIS_URL
                values["redis_key_prefix"] = f"jinli:b8:{tag}:"
            queue_started = time.perf_counter()
            numbers = asyncio.run(_queue(values, scenario.mode, count))
            queue_seconds = time.perf_counter() - queue_started
            drain_started = time.perf_counter()
            workers = [_child("worker", json.dumps(values)) for _ in range(scenario.workers)]
            reports = []
            for worker in workers:
                out, _ = worker.communicate(timeout=3600)
                reports.append(json.loads(out.strip().splitlines()[-1]) if out.strip() else {})
            drain_seconds = time.perf_counter() - drain_started
            stats_line, _ = sim.communicate("stop\n", timeout=60)
            stats = json.loads(stats_line.strip().splitlines()[-1])
            states, tries = asyncio.run(_tries(values))
        finally:
            if sim.poll() is None:
                sim.kill()
            if scenario.backend != "sqlite":
                asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "jinli_b8_{tag}" WITH (FORCE)'))
            if scenario.backend == "redis":
                asyncio.run(_drop_redis_keys(f"jinli:b8:{tag}:*"))
            shutil.rmtree(data_dir, ignore_errors=True)
    return _result(scenario, count, numbers, stats, reports, states, tries, {
        "queue_seconds": round(queue_seconds, 1),
        "drain_seconds": round(drain_seconds, 1),
        "load_average_1m_before": load_before,
        "load_average_1m_after": round(os.getloadavg()[0], 2),
    })  # fmt: skip


async def _drop_redis_keys(pattern: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in redis.scan_iter(match=pattern)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def _result(
    scenario: Scenario,
    count: int,
    numbers: list[str],
    stats: dict[str, Any],
    reports: list[dict[str, Any]],
    states: Counter[str],
    tries: Counter[int],
    timing: dict[str, float],
) -> dict[str, Any]:
    limiter = stats[scenario.mode]
    accepted: list[float] = limiter["accepted"]
    calls, window = scenario.limit
    per_second_limit = calls / window
    span = max(accepted) - min(accepted) if len(accepted) > 1 else 0.0
    achieved = (len(accepted) - 1) / span if span > 0 else 0.0
    per_window, most = _windows(accepted, window)
    book = stats["book"]["transfer" if scenario.mode == "transfer" else "redpack"]
    booked = Counter(number for number, _, _ in book)
    double_paid = sum(1 for _, debits, successes in book if debits > 1 or successes > 1)
    not_once = sum(1 for n in numbers if booked.get(n) != 1) + (len(booked) != len(numbers))
    resent = sum(n for t, n in tries.items() if t != 1)
    correct = (
        limiter["refused"] == 0
        and double_paid == 0
        and not_once == 0
        and resent == 0
        and most <= calls
        and len(accepted) == count
    )
    ratio = achieved / per_second_limit
    return {
        "bench": "B8 payout_rate",
        "scenario": scenario.name,
        "subject": round(achieved, 2),
        "reference": per_second_limit,
        "unit": "calls/s accepted by the simulator",
        "ratio": round(ratio, 3),
        "target": "0.90–1.00",
        "correct": correct,
        "rounds": [round(ratio, 3)],
        "notes": {
            "payouts": count,
            "workers": scenario.workers,
            "limit": f"{calls} per {window} s",
            "max_in_one_window": most,
            "windows": per_window,
            "max_in_any_sliding_second": _max_in_any_second(accepted),
            "frequency_limited": limiter["refused"],
            "accepted_calls": len(accepted),
            "booked_numbers": len(booked),
            "numbers_not_sent_exactly_once": not_once,
            "double_paid": double_paid,
            "payouts_sent_more_than_once": resent,
            "jinli_states": dict(states),
            "slots_missed_late": sum(r.get("missed", 0) for r in reports),
            "dispatch_passes": sum(r.get("passes", 0) for r in reports),
            "sent_per_worker": [r.get("sent") for r in reports],
            "worker_cpu_seconds": [round(r.get("cpu_seconds", 0), 1) for r in reports],
            "span_seconds": round(span, 2),
            **timing,
        },
    }


def scenarios() -> tuple[list[Scenario], list[str]]:
    """What this machine can run, and why anything was left out."""
    skipped = []
    pg = _reachable("postgresql")
    redis = _reachable("redis")
    chosen = [Scenario("transfer", "sqlite", 1)]
    if pg is None:
        chosen.append(Scenario("transfer", "postgresql", 2))
    else:
        skipped.append(f"PostgreSQL: {pg}")
    if pg is None and redis is None:
        chosen.append(Scenario("transfer", "redis", 2))
    elif redis is not None:
        skipped.append(f"Redis: {redis}")
    best = chosen[-1]
    chosen.append(Scenario("red_packet", best.backend, best.workers))
    return chosen, skipped


def run(quick: bool) -> list[dict[str, Any]]:
    count = 600 if quick else 5_000
    chosen, skipped = scenarios()
    results = []
    for scenario in chosen:
        result = run_scenario(scenario, count)
        result["notes"]["quick"] = quick
        if skipped:
            result["notes"]["skipped"] = skipped
        results.append(result)
    return results


def main(argv: list[str]) -> int:
    if argv[:1] == ["simulator"]:
        serve_simulator(argv[1])
        return 0
    if argv[:1] == ["worker"]:
        work(argv[1])
        return 0
    with contextlib.redirect_stdout(sys.stderr):
        results = run("--quick" in argv)
    for result in results:
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
