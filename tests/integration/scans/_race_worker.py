"""Worker processes for the scan races (spawned, so everything here is importable).

Each worker bootstraps its own runtime (own connection pool, own counters), waits at a shared
barrier, then scans every code of the list in the same order as the other workers, with its
own openids, from ``coroutines`` concurrent tasks: each code is scanned by every worker at
about the same moment. It reports what each scan answered, through a queue.

A race on a hot path (``hot``) builds the runtime with the same hot-path settings as the
test's (``_hot_race.HotSetup``): the workers only grab; the test's process runs the relay.
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

from tests.integration.scans._hot_race import HotSetup

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
    hot: HotSetup | None = None
    """The hot path's settings (``None``: the SQL path)."""


@dataclass
class Round:
    """One round of one worker: the codes left to scan and what each scan answered."""

    name: str
    todo: list[tuple[int, str]]
    answers: dict[int, tuple[str, int, str | None, str | None]] = field(default_factory=dict)
    """index → (state, amount shown, refusal reason, draw id shown)."""
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
        draw_id = None if view.draw_id is None else str(view.draw_id)
        job.answers[index] = (str(view.state), view.amount_fen, reason, draw_id)  # committed


async def _scan_all(spec: WorkerSpec, barrier: Barrier) -> dict[str, Any]:
    from jinli.app.bootstrap import bootstrap
    from jinli.kernel.clock import FrozenClock
    from jinli.scans import service, tasks
    from tests.conftest import T0, make_settings
    from tests.integration.scans._hot_race import settings_for

    settings = make_settings(spec.db_url, Path(spec.data_dir), **settings_for(spec.hot))
    runtime = bootstrap(settings, clock=FrozenClock(T0))
    env = service.env_for(runtime)
    if spec.hot is not None and env.hot is None:
        raise RuntimeError(f"hot path {spec.hot.path!r} asked for, the runtime has none")
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
        closing = getattr(tasks.hot_store(runtime), "aclose", None)
        if closing is not None:  # the grabs in flight (all answered by now)
            await closing()
        await runtime.aclose()
    return report
