"""Worker processes for the ledger race tests (spawned, so everything here is importable).

Each worker bootstraps its own runtime from the database URL, waits at a shared barrier so
that all of them hit the same book at the same instant, and reports what it did through a
queue. One spawn serves every scenario: starting eight Python processes costs more than the
races themselves on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import random
import time
import traceback
import uuid
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

BARRIER_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class WorkerSpec:
    """What one worker process needs: plain values only (it crosses a process boundary)."""

    db_url: str
    data_dir: str
    brand_id: uuid.UUID
    worker: int
    seed: int
    reserve_book: uuid.UUID
    """Book the worker reserves against, 1…``max_amount_fen`` at a time, until refused."""
    contend_book: uuid.UUID
    rounds: tuple[tuple[str, str, int], ...]
    """Contention rounds on ``contend_book``: (action, target, amount). ``reserve`` reserves
    ``amount`` under the ref ``target``; ``post``/``void`` settle the hold id ``target``;
    ``mixed`` posts from even workers and voids from odd ones."""
    max_amount_fen: int = 50


def run(spec: WorkerSpec, barrier: Barrier, results: Queue[Any]) -> None:
    """Process entry point: put ``(worker, report)`` on the queue; a crash is reported as
    ``(worker, {"crash": traceback})`` instead of being lost with the process."""
    try:
        report: dict[str, Any] = asyncio.run(_scenarios(spec, barrier))
    except BaseException:
        report = {"crash": traceback.format_exc()}
    results.put((spec.worker, report))


async def _scenarios(spec: WorkerSpec, barrier: Barrier) -> dict[str, Any]:
    from jinli.app.bootstrap import bootstrap
    from jinli.platform.settings import Settings

    settings = Settings(
        environment="test",
        database_url=spec.db_url,
        data_dir=Path(spec.data_dir),
        secret_key="test-secret-key-not-for-production",  # type: ignore[arg-type]  # coerced
        log_level="WARNING",
    )
    runtime = bootstrap(settings)
    try:
        return {
            "reserve": await _reserve_until_exhausted(runtime, spec, barrier),
            "contend": await _contend(runtime, spec, barrier),
        }
    finally:
        await runtime.aclose()


async def _reserve_until_exhausted(runtime: Any, spec: WorkerSpec, barrier: Barrier) -> Any:
    """Reserve random amounts (1…max fen) with unique refs until refused, then 1 fen at a time
    until refused again: once every worker has stopped, the budget is exactly exhausted."""
    from jinli.kernel.money import Fen
    from jinli.ledger import service as ledger
    from jinli.ledger.errors import InsufficientBudget

    rng = random.Random(spec.seed)
    successes: list[int] = []
    attempts = refused = 0
    barrier.wait(BARRIER_TIMEOUT_S)
    released = time.perf_counter()
    for phase_max in (spec.max_amount_fen, 1):
        while True:
            amount = rng.randint(1, phase_max)
            attempts += 1
            async with runtime.uow(brand_id=spec.brand_id) as uow:
                try:
                    await ledger.reserve(
                        uow, spec.reserve_book, Fen(amount), ref=f"w{spec.worker}-{attempts}"
                    )
                except InsufficientBudget:
                    refused += 1
                    break
                await uow.commit()
            successes.append(amount)  # counted only once the commit has returned
    return {
        "attempts": attempts,
        "successes": successes,
        "refused": refused,
        "seconds": time.perf_counter() - released,
    }


async def _contend(runtime: Any, spec: WorkerSpec, barrier: Barrier) -> Any:
    """Per round, every worker fires at the same hold (or reserves the same ref) at once and
    reports ``{"action", "hold", "status"}`` on success or ``{"action", "code"}`` if refused."""
    from jinli.kernel.errors import JinliError
    from jinli.kernel.money import Fen
    from jinli.ledger import service as ledger

    outcomes: list[dict[str, str]] = []
    for planned, target, amount in spec.rounds:
        action = planned
        if planned == "mixed":
            action = "post" if spec.worker % 2 == 0 else "void"
        barrier.wait(BARRIER_TIMEOUT_S)
        async with runtime.uow(brand_id=spec.brand_id) as uow:
            try:
                if action == "reserve":
                    hold = await ledger.reserve(uow, spec.contend_book, Fen(amount), ref=target)
                else:
                    settle = ledger.post if action == "post" else ledger.void
                    hold = await settle(uow, uuid.UUID(target))
                await uow.commit()
            except JinliError as exc:
                outcomes.append({"action": action, "code": exc.code})
            else:
                outcomes.append(
                    {"action": action, "hold": str(hold.id), "status": str(hold.status)}
                )
    return outcomes
