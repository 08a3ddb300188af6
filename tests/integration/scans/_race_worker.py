"""Worker processes for the scan races (spawned, so everything here is importable).

Each worker bootstraps its own runtime (own connection pool, own counters), waits at a shared
barrier, then scans every code of the list in the same order as the other workers, with its
own openids, from ``coroutines`` concurrent tasks: each code is scanned by every worker at
about the same moment. It reports what each scan answered, through a queue.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

BARRIER_TIMEOUT_S = 180.0
LOCK_RETRIES = 3


@dataclass(frozen=True)
class WorkerSpec:
    db_url: str
    data_dir: str
    worker: int
    rounds: tuple[tuple[str, tuple[str, ...]], ...]
    """(name, codes) per round; every worker scans the same codes in the same order."""
    coroutines: int = 4


@dataclass
class Round:
    """One round of one worker: the codes left to scan and what each scan answered."""

    name: str
    todo: list[tuple[int, str]]
    answers: dict[int, tuple[str, int, str | None]] = field(default_factory=dict)
    lock_retries: int = 0


def run(spec: WorkerSpec, barrier: Barrier, results: Queue[Any]) -> None:
    try:
        report: dict[str, Any] = asyncio.run(_scan_all(spec, barrier))
    except BaseException:
        report = {"crash": traceback.format_exc()}
    results.put((spec.worker, report))


async def _scanner(runtime: Any, env: Any, spec: WorkerSpec, job: Round) -> None:
    from sqlalchemy.exc import OperationalError

    from jinli.scans import service
    from jinli.scans.domain import Client

    while job.todo:
        index, code = job.todo.pop()
        who = Client(f"o_w{spec.worker}_{job.name}_{index:05d}", f"d{spec.worker}", None)
        for attempt in range(LOCK_RETRIES + 1):
            try:
                async with runtime.uow() as uow:
                    view = await service.claim(uow, env, code, who)
                    await uow.commit()
                break
            except OperationalError as exc:
                # SQLite's busy handler is not fair: under many writers one can wait out the
                # 30 s busy timeout. Its transaction never began (BEGIN IMMEDIATE failed), so
                # the consumer simply tries again.
                if "database is locked" not in str(exc) or attempt == LOCK_RETRIES:
                    raise
                job.lock_retries += 1
        reason = view.error.reason if view.error is not None else None
        job.answers[index] = (str(view.state), view.amount_fen, reason)  # after the commit


async def _scan_all(spec: WorkerSpec, barrier: Barrier) -> dict[str, Any]:
    from jinli.app.bootstrap import bootstrap
    from jinli.kernel.clock import FrozenClock
    from jinli.platform.settings import Settings
    from jinli.scans import service
    from tests.conftest import T0

    settings = Settings(
        environment="test",
        database_url=spec.db_url,
        data_dir=Path(spec.data_dir),
        secret_key="test-secret-key-not-for-production",
        log_level="WARNING",
    )
    runtime = bootstrap(settings, clock=FrozenClock(T0))
    env = service.env_for(runtime)
    report: dict[str, Any] = {}
    try:
        for name, codes in spec.rounds:
            # popped from the end: reversed, so every worker goes through the codes in order
            job = Round(name, list(reversed(list(enumerate(codes)))))
            barrier.wait(BARRIER_TIMEOUT_S)
            started = time.perf_counter()
            await asyncio.gather(
                *(_scanner(runtime, env, spec, job) for _ in range(spec.coroutines))
            )
            report[name] = {
                "answers": job.answers,
                "seconds": time.perf_counter() - started,
                "lock_retries": job.lock_retries,
            }
    finally:
        await runtime.aclose()
    return report
