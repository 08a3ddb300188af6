"""The consumer's scan pages through HTTP: WeChat OAuth (simulated), the one-tap claim, the
prize and anti-counterfeit pages, and forged codes refused without a single SQL statement."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from jinli.platform.db.outbox import OutboxMessage
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.edges.h5._h5 import claim, phone, sign_in, statements, through_oauth, wire
from tests.integration.scans._world import SURE_WIN, make_world

FORGED = "7ZZZZZZZZZZZZZZZZZZZZZZZ"  # the right shape, a tag that fails


class TestJourney:
    async def test_a_consumer_passes_oauth_taps_once_and_sees_the_prize(
        self, runtime: Runtime
    ) -> None:
        world = await make_world(runtime, rule=SURE_WIN)
        app = wire(runtime)
        code = world.codes[0]
        async with phone(app) as http:
            page = await through_oauth(http, f"/s/{code}")
            assert page.status_code == 200
            assert "正品验证通过" in page.text
            assert "最高 ¥1.88" in page.text
            assert await world.payouts() == [], "opening the link pays nothing"

            tapped = await claim(http, code, page)
            assert tapped.status_code == 303
            prize = await http.get(tapped.headers["location"])
            assert prize.status_code == 200
            assert 'data-testid="amount">¥1.88<' in prize.text
            assert "感谢支持" in prize.text
            assert "红包发放中" in prize.text
            (payout,) = await world.payouts()
            assert payout.openid == "o_demo_jinli_consumer_0001"  # the simulator's consumer
            print(f"\nresult page: {len(prize.content)} bytes")  # noqa: T201 - page size figure

            again = await http.get(f"/s/{code}")
            assert again.status_code == 200
            assert re.search(r"此码已被扫描 2 次，首次扫描于 2026-11-23 12:00（杭州）", again.text)
            replay = await http.post(f"/s/{code}", data={"csrf": "x"})
            assert replay.status_code == 403
        assert len(await world.payouts()) == 1

    async def test_a_scan_from_far_away_alerts_the_brand(self, runtime: Runtime) -> None:
        world = await make_world(runtime, rule=SURE_WIN)
        app = wire(runtime)
        async with phone(app, ip="203.0.113.7") as http:  # 深圳 in the demo region map
            sign_in(http, runtime, "o_far_away_01")
            await claim(http, world.codes[0], await http.get(f"/s/{world.codes[0]}"))
        async with runtime.uow(system=True) as uow:
            rows = (
                await uow.session.execute(
                    select(OutboxMessage.payload, OutboxMessage.brand_id).where(
                        OutboxMessage.topic == "alert.cross_region"
                    )
                )
            ).all()
        assert [(json.loads(p)["scan_region"], b) for p, b in rows] == [
            ("广东/深圳", world.brand.brand_id)
        ]


class TestGetNeverPays:
    async def test_only_a_post_with_the_session_token_claims(self, runtime: Runtime) -> None:
        world = await make_world(runtime, rule=SURE_WIN)
        app = wire(runtime)
        code = world.codes[0]
        async with phone(app) as http:
            anonymous = await http.post(f"/s/{code}", data={"csrf": "x"})
            assert (anonymous.status_code, anonymous.headers["location"]) == (303, f"/s/{code}")
            sign_in(http, runtime, "o_prefetch_01")
            for _ in range(3):
                assert (await http.get(f"/s/{code}")).status_code == 200
            forged = await http.post(f"/s/{code}", data={"csrf": "not-the-token"})
            missing = await http.post(f"/s/{code}")
            assert (forged.status_code, missing.status_code) == (403, 403)
        assert await world.payouts() == []
        assert await world.draws() == []


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
class TestNoDatabaseForForgeries:
    async def test_forged_and_malformed_codes_cost_no_sql(self, runtime: Runtime) -> None:
        """Shape and tag are checked before any I/O. On SQLite (in-process counters) not one
        statement runs; on PostgreSQL without Redis the only statements are the guess counters'
        (``rate_counters``) — none reads a code, a batch or anything else."""
        world = await make_world(runtime, rule=SURE_WIN)
        app = wire(runtime)
        async with phone(app) as http:
            sign_in(http, runtime, "o_forger_0001")
            with statements(runtime) as seen:
                answers = [
                    (await http.get(f"/s/{FORGED}")).status_code,
                    (await http.post(f"/s/{FORGED}", data={"csrf": "x"})).status_code,
                    (await http.get("/s/NOT-A-CODE")).status_code,
                    (await http.get("/s/" + "A" * 5000)).status_code,
                ]
        assert answers == [404, 404, 400, 400]
        other = [s for s in seen if "rate_counters" not in s]
        assert other == []
        if runtime.dialect == "sqlite":
            assert seen == []
        assert await world.draws() == []

    async def test_a_blocked_client_is_refused_before_any_lookup(self, runtime: Runtime) -> None:
        world = await make_world(runtime, rule=SURE_WIN)
        app = wire(runtime)
        limit = runtime.settings.scans.guess_openid.per_window
        async with phone(app) as http:
            sign_in(http, runtime, "o_guesser_001")
            answers = [(await http.get(f"/s/{FORGED}")).status_code for _ in range(limit)]
            assert answers == [404] * limit
            with statements(runtime) as seen:
                blocked = await http.get(f"/s/{world.codes[0]}")  # even a genuine code
                tapped = await http.post(f"/s/{world.codes[0]}", data={"csrf": "x"})
        assert (blocked.status_code, tapped.status_code) == (429, 429)
        assert "尝试次数过多" in blocked.text
        assert [s for s in seen if "rate_counters" not in s] == []
        assert await world.payouts() == []
