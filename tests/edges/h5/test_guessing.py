"""S3 at CI size: a code-guessing storm from many openids and IPs through HTTP gets no valid
hit, every client is blocked at its configured attempt without any lookup after the block,
and the storm alarm fires once (log + a system-wide ``alert.guessing``)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from jinli.app.bootstrap import bootstrap
from jinli.codes import domain as codes_domain
from jinli.codes import service as codes_service
from jinli.kernel.clock import FrozenClock
from jinli.platform.db.outbox import OutboxMessage
from jinli.platform.runtime import Runtime
from jinli.scans import domain
from tests.conftest import T0, make_settings
from tests.edges.h5._h5 import phone, sign_in, statements, wire
from tests.integration.scans._world import SURE_WIN, make_world

OPENIDS = 40
IPS = 10
ATTEMPTS = 8
PER_OPENID = 5
STORM = 60


@pytest.fixture
async def guarded(db_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    """A runtime whose IP limit is loose, so that the openid/device limit is what blocks."""
    settings = make_settings(
        db_url,
        tmp_path,
        scans={
            "guess_openid": {"per_window": PER_OPENID, "per_day": 20},
            "guess_device": {"per_window": PER_OPENID, "per_day": 20},
            "guess_ip": {"per_window": 1_000, "per_day": 5_000},
            "storm_per_minute": STORM,
        },
    )
    runtime = bootstrap(settings, clock=FrozenClock(T0))
    yield runtime
    await runtime.aclose()


def _guesses(runtime: Runtime, count: int) -> list[str]:
    """Random codes: most fail the tag; every fourth carries a valid tag (minted with the real
    key, as if it had leaked) but was never issued, so it reaches the lookup."""
    keys = codes_service.env_for(runtime).keys
    minted = codes_domain.generate_codes(count, keys, os.urandom)
    random_text = codes_domain.crockford_records(os.urandom(15 * count), 15, count)
    forged = [random_text[i * 24 : (i + 1) * 24] for i in range(count)]
    return [minted[i] if i % 4 == 3 else forged[i] for i in range(count)]


async def test_a_guessing_storm_wins_nothing_is_blocked_and_raises_the_alarm(
    guarded: Runtime,
) -> None:
    runtime = guarded
    world = await make_world(runtime, rule=SURE_WIN, codes=50)
    app = wire(runtime)
    guesses = iter(_guesses(runtime, OPENIDS * ATTEMPTS))
    first_block: dict[str, int] = {}
    statuses: dict[int, int] = {}
    after_block: list[str] = []
    for n in range(OPENIDS):
        openid = f"o_farm_{n:06d}"
        async with phone(app, ip=f"198.51.100.{n % IPS + 1}") as http:
            sign_in(http, runtime, openid)
            for attempt in range(1, ATTEMPTS + 1):
                code = next(guesses)
                if openid in first_block:
                    with statements(runtime) as seen:
                        page = await http.get(f"/s/{code}")
                    after_block += seen
                else:
                    page = await http.get(f"/s/{code}")
                statuses[page.status_code] = statuses.get(page.status_code, 0) + 1
                if page.status_code == 429 and openid not in first_block:
                    first_block[openid] = attempt
                    assert "尝试次数过多" in page.text

    assert set(statuses) == {404, 429}, "every guess is not-genuine or blocked; none is valid"
    assert await world.draws() == []
    assert await world.payouts() == []
    assert set(first_block.values()) == {PER_OPENID + 1}, first_block
    assert len(first_block) == OPENIDS
    assert after_block == [], "no lookup (no statement at all) once a client is blocked"

    invalid = OPENIDS * PER_OPENID
    hour = await runtime.counters.peek(domain.invalid_hour_key(runtime.clock.now()))
    assert hour == invalid
    async with runtime.uow(system=True) as uow:
        alarms = (
            await uow.session.execute(
                select(OutboxMessage.payload, OutboxMessage.brand_id).where(
                    OutboxMessage.topic == "alert.guessing"
                )
            )
        ).all()
    assert [(json.loads(p), b) for p, b in alarms] == [
        ({"count": STORM + 1, "window_seconds": 60}, None)
    ]
    expected = codes_domain.expected_hits(invalid, 50, codes_domain.CodeForm.long)
    print(  # noqa: T201 - S3 figures (visible with -s)
        f"\nS3: {OPENIDS} openids × {ATTEMPTS} attempts from {IPS} IPs = "
        f"{OPENIDS * ATTEMPTS} requests; {statuses}; valid hits 0 (expected {expected:.1e}); "
        f"first block at attempt {PER_OPENID + 1} for every openid; 0 statements after block; "
        f"1 alarm at {STORM + 1} invalid/min"
    )


async def test_one_ip_is_blocked_at_its_own_limit_across_openids(runtime: Runtime) -> None:
    """Bounty hunters rotating openids behind one address are stopped by the IP limit."""
    world = await make_world(runtime, rule=SURE_WIN)
    app = wire(runtime)
    limit = runtime.settings.scans.guess_ip.per_window
    answers = []
    for n, code in enumerate(_guesses(runtime, limit + 3)):
        async with phone(app, ip="198.51.100.77") as http:
            sign_in(http, runtime, f"o_rotate_{n:05d}")
            answers.append((await http.get(f"/s/{code}")).status_code)
    assert answers == [404] * limit + [429] * 3
    async with phone(app, ip="198.51.100.78") as http:  # a neighbour is not punished
        sign_in(http, runtime, "o_neighbour_01")
        assert (await http.get(f"/s/{world.codes[0]}")).status_code == 200


async def test_the_block_lifts_after_the_window(runtime: Runtime) -> None:
    world = await make_world(runtime, rule=SURE_WIN)
    app = wire(runtime)
    limit = runtime.settings.scans.guess_openid.per_window
    async with phone(app) as http:
        sign_in(http, runtime, "o_clumsy_0001")
        for code in _guesses(runtime, limit):
            await http.get(f"/s/{code}")
        assert (await http.get(f"/s/{world.codes[0]}")).status_code == 429
        runtime.clock.advance(timedelta(seconds=runtime.settings.scans.guess_window_seconds))  # type: ignore[attr-defined]
        assert (await http.get(f"/s/{world.codes[0]}")).status_code == 200
