"""The outbox survives kill -9 of the relay: every event is consumed exactly once per consumer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jinli.analytics.models import AnalyticsEvent
from jinli.platform.db.outbox import OutboxDelivery, OutboxMessage
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.factories import create_brand, create_campaign

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

JINLI = str(Path(sys.executable).parent / "jinli")


def _worker(db_url: str, tmp_path: Path, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "JINLI_DATABASE_URL": db_url,
        "JINLI_DATA_DIR": str(tmp_path),
        "JINLI_SECRET_KEY": "outbox-test",
        "JINLI_LOG_LEVEL": "WARNING",
    }
    env.pop("JINLI_CRASH_AT", None)
    if crash_at:
        env["JINLI_CRASH_AT"] = crash_at
    return subprocess.run(
        [JINLI, "worker", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _counts(runtime: Runtime) -> tuple[int, int, dict[int, int]]:
    async with runtime.uow(system=True) as uow:
        messages = await uow.session.scalar(select(func.count()).select_from(OutboxMessage))
        done = await uow.session.scalar(
            select(func.count())
            .select_from(OutboxDelivery)
            .where(OutboxDelivery.consumer == "analytics.events", OutboxDelivery.status == "done")
        )
        rows = (
            await uow.session.execute(
                select(AnalyticsEvent.message_id, func.count()).group_by(AnalyticsEvent.message_id)
            )
        ).all()
    return int(messages or 0), int(done or 0), {int(m): int(n) for m, n in rows}


async def _make_events(runtime: Runtime) -> None:
    brand = await create_brand(runtime)
    for _ in range(3):
        await create_campaign(runtime, brand, funding_fen=100)


@pytest.mark.parametrize("crash_at", ["outbox.after_handle", "outbox.before_commit"])
async def test_kill_before_commit_redelivers_exactly_once(
    runtime: Runtime, db_url: str, tmp_path: Path, crash_at: str
) -> None:
    """Killed after handling but before committing: nothing counted; the restart consumes
    every event once."""
    await _make_events(runtime)
    messages, _, _ = await _counts(runtime)
    assert messages >= 4  # brand.created + 3 × campaign.created

    killed = _worker(db_url, tmp_path, crash_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    _, done, events = await _counts(runtime)
    assert done == 0
    assert events == {}

    restarted = _worker(db_url, tmp_path, None)
    assert restarted.returncode == 0, restarted.stderr
    _, done, events = await _counts(runtime)
    assert done == messages
    assert len(events) == messages
    assert set(events.values()) == {1}


async def test_kill_after_commit_does_not_deliver_twice(
    runtime: Runtime, db_url: str, tmp_path: Path
) -> None:
    """Killed right after committing a batch: the restart finds nothing left to deliver."""
    await _make_events(runtime)
    messages, _, _ = await _counts(runtime)
    killed = _worker(db_url, tmp_path, "outbox.after_commit")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    _, done, events = await _counts(runtime)
    assert done == messages
    assert set(events.values()) == {1}

    assert _worker(db_url, tmp_path, None).returncode == 0
    _, done_again, events_again = await _counts(runtime)
    assert done_again == messages
    assert events_again == events


async def test_events_committed_after_a_crash_are_picked_up(
    runtime: Runtime, db_url: str, tmp_path: Path
) -> None:
    """Events written while the relay is down are delivered by the next run, in order."""
    await _make_events(runtime)
    assert _worker(db_url, tmp_path, "outbox.before_commit").returncode == -signal.SIGKILL
    await _make_events(runtime)
    assert _worker(db_url, tmp_path, None).returncode == 0
    messages, done, events = await _counts(runtime)
    assert done == messages == len(events)
