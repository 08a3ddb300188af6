"""The prize page on the scan hot path: a win the relay has not written yet shows "正在入账…"
(refreshing itself) to its winner, never "not found"; anyone else, or a forged link, still
gets 404; once the relay has run, the usual prize page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from jinli.app.bootstrap import wire_hot_store
from jinli.platform.runtime import Runtime
from jinli.scans import service
from tests.edges.h5._h5 import claim, phone, sign_in, wire
from tests.integration.scans._world import SURE_WIN, make_world
from tests.unit.scans.hot_fake import MemoryHotStore


async def test_a_win_not_recorded_yet_shows_recording_to_its_winner_only(
    runtime: Runtime,
) -> None:
    store = MemoryHotStore()
    wire_hot_store(runtime, store)
    world = await make_world(runtime, rule=SURE_WIN, funding_fen=10_000)
    app = wire(runtime)
    async with phone(app) as winner:
        sign_in(winner, runtime, "o_hot_winner")
        tapped = await claim(winner, world.codes[0], await winner.get(f"/s/{world.codes[0]}"))
        assert tapped.status_code == 303
        location = tapped.headers["location"]
        assert location.startswith("/h5/prize/")
        assert "w" in parse_qs(urlsplit(location).query)
        recording = await winner.get(location)
        bare = await winner.get(urlsplit(location).path)
        forged = await winner.get(location[:-3] + "xyz")
    assert recording.status_code == 200
    assert "正在入账" in recording.text
    assert 'http-equiv="refresh"' in recording.text
    assert "¥1.88" in recording.text
    assert [bare.status_code, forged.status_code] == [404, 404]
    async with phone(app) as other:
        sign_in(other, runtime, "o_not_winner")
        stolen = await other.get(location)
    assert stolen.status_code == 404

    assert await service.relay_grabs(runtime, store, limit=10, stale_seconds=30) == 1
    async with phone(app) as winner:
        sign_in(winner, runtime, "o_hot_winner")
        recorded = await winner.get(location)
    assert recorded.status_code == 200
    assert "正在入账" not in recorded.text
    assert 'data-testid="payout-stage"' in recorded.text
    assert "¥1.88" in recorded.text or "1.88" in recorded.text
