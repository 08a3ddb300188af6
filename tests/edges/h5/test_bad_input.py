"""Bad input on the consumer's pages: malformed, oversized and unknown codes, scans outside the
campaign's window or of unshipped batches, and WeChat OAuth failures and replays. Each gets its
friendly page with the right status, never a 500, and nothing is paid."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from jinli.codes import domain as codes_domain
from jinli.codes import service as codes_service
from jinli.platform.runtime import Runtime
from jinli.web.h5 import identity
from tests.conftest import T0
from tests.edges.h5._h5 import claim, local, phone, sign_in, through_oauth, wire
from tests.integration.scans._world import SURE_WIN, World, add_batch, make_world


def _kind(page: httpx.Response) -> str | None:
    marker = 'data-kind="'
    start = page.text.find(marker)
    return None if start < 0 else page.text[start + len(marker) :].split('"', 1)[0]


async def _nothing_paid(world: World) -> None:
    assert await world.payouts() == []
    assert [d for d in await world.draws() if d.amount_fen] == []


class TestCodes:
    @pytest.mark.parametrize(
        ("path", "status", "kind"),
        [
            ("/s/", 400, "malformed"),
            ("/s", 400, "malformed"),
            ("/s/123", 400, "malformed"),
            ("/s/" + "Z" * 23 + "U", 400, "malformed"),  # U is no Crockford character
            ("/s/" + "A" * 10_000, 400, "malformed"),
            ("/s/%00%01%02", 400, "malformed"),
            ("/s/红包红包红包红包红包红包红包红包红包红包红包红包", 400, "malformed"),
            ("/s/" + "0" * 24, 404, "not_genuine"),
            ("/s/" + "0" * 15, 404, "not_genuine"),
        ],
    )
    async def test_malformed_and_forged_codes(
        self, runtime: Runtime, path: str, status: int, kind: str
    ) -> None:
        world = await make_world(runtime, rule=SURE_WIN)
        async with phone(wire(runtime)) as http:
            sign_in(http, runtime, "o_typo_000001")
            page = await http.get(path)
            posted = await http.post(path, data={"csrf": "x"}) if path.count("/") > 1 else page
        assert (page.status_code, _kind(page)) == (status, kind)
        assert posted.status_code in (status, 405)
        assert "Traceback" not in page.text
        await _nothing_paid(world)

    async def test_a_genuine_looking_code_no_batch_holds(self, runtime: Runtime) -> None:
        world = await make_world(runtime, rule=SURE_WIN)
        keys = codes_service.env_for(runtime).keys
        (stranger,) = codes_domain.generate_codes(1, keys, lambda n: b"\x07" * n)
        async with phone(wire(runtime)) as http:
            sign_in(http, runtime, "o_stranger_01")
            page = await http.get(f"/s/{stranger}")
            posted = await http.post(f"/s/{stranger}", data={"csrf": "x"})
        assert (page.status_code, _kind(page)) == (404, "not_genuine")
        assert posted.status_code == 403  # the token is checked before the lookup
        await _nothing_paid(world)


class TestNotPayable:
    @pytest.mark.parametrize("when", ["ended", "not_started"])
    async def test_scans_outside_the_window(self, runtime: Runtime, when: str) -> None:
        if when == "not_started":
            world = await make_world(
                runtime,
                rule=SURE_WIN,
                starts_at=(T0 + timedelta(days=3)).isoformat(),
                ends_at=(T0 + timedelta(days=9)).isoformat(),
            )
        else:
            world = await make_world(runtime, rule=SURE_WIN)
            runtime.clock.advance(timedelta(days=30))  # type: ignore[attr-defined]
        async with phone(wire(runtime)) as http:
            sign_in(http, runtime, "o_late_000001")
            page = await http.get(f"/s/{world.codes[0]}")
            posted = await http.post(f"/s/{world.codes[0]}", data={"csrf": "x"})
        assert (page.status_code, _kind(page)) == (409, "not_live")
        assert "活动未在进行中" in page.text
        assert "感谢支持" in page.text, "the brand's message stays on the refusal page"
        assert posted.status_code == 403
        await _nothing_paid(world)

    async def test_a_code_of_a_batch_not_shipped(self, runtime: Runtime) -> None:
        world = await make_world(runtime, rule=SURE_WIN)
        _, unshipped = await add_batch(runtime, world.brand, world.campaign_id, 2, region=None)
        async with phone(wire(runtime)) as http:
            sign_in(http, runtime, "o_early_00001")
            page = await http.get(f"/s/{unshipped[0]}")
        assert (page.status_code, _kind(page)) == (409, "inactive")
        await _nothing_paid(world)

    async def test_the_budget_used_up(self, runtime: Runtime) -> None:
        world = await make_world(runtime, rule=SURE_WIN, funding_fen=188)
        app = wire(runtime)
        async with phone(app) as http:
            sign_in(http, runtime, "o_budget_0001")
            await claim(http, world.codes[0], await http.get(f"/s/{world.codes[0]}"))
            ready = await http.get(f"/s/{world.codes[1]}")
            dry = await claim(http, world.codes[1], ready)
        assert (dry.status_code, _kind(dry)) == (409, "budget_exhausted")
        assert "本活动奖金已发完" in dry.text
        assert len(await world.payouts()) == 1

    async def test_a_prize_page_of_someone_else_or_nobody(self, runtime: Runtime) -> None:
        world = await make_world(runtime, rule=SURE_WIN)
        app = wire(runtime)
        async with phone(app) as winner:
            sign_in(winner, runtime, "o_winner_0001")
            tapped = await claim(winner, world.codes[0], await winner.get(f"/s/{world.codes[0]}"))
        prize_path = tapped.headers["location"]
        async with phone(app) as other:
            sign_in(other, runtime, "o_other_00001")
            stolen = await other.get(prize_path)
            unknown = await other.get(f"/h5/prize/{uuid.uuid4()}")
            garbage = await other.get("/h5/prize/not-a-uuid")
        assert [p.status_code for p in (stolen, unknown, garbage)] == [404, 404, 404]
        async with phone(app) as anonymous:
            to_login = await anonymous.get(prize_path)
        assert to_login.status_code == 302
        assert "/connect/oauth2/authorize" in to_login.headers["location"]


class TestOAuth:
    async def test_a_replayed_callback_and_a_replayed_code_are_refused(
        self, runtime: Runtime
    ) -> None:
        world = await make_world(runtime, rule=SURE_WIN)
        app = wire(runtime)
        async with phone(app) as http:
            to_wechat = await http.get(f"/s/{world.codes[0]}")
            assert to_wechat.status_code == 302
            authorize = urlsplit(to_wechat.headers["location"])
            query = parse_qs(authorize.query)
            assert query["scope"] == ["snsapi_base"]
            assert query["redirect_uri"] == ["http://127.0.0.1:8000/h5/oauth/callback"]
            back = await http.get(local(to_wechat.headers["location"]))
            callback = local(back.headers["location"])
            first = await http.get(callback)
            assert first.status_code == 303
            replay = await http.get(callback)  # the state cookie is gone
            assert (replay.status_code, _kind(replay)) == (400, "oauth_state")

        async with phone(app) as thief:  # the same code, with a fresh state of its own
            start = await thief.get(f"/s/{world.codes[0]}")
            state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
            code = parse_qs(urlsplit(callback).query)["code"][0]
            reused = await thief.get(f"/h5/oauth/callback?code={code}&state={state}")
        assert (reused.status_code, _kind(reused)) == (401, "oauth_failed")
        await _nothing_paid(world)

    @pytest.mark.parametrize(
        "query",
        [
            "",
            "code=abc",
            "state=0123456789abcdef0123456789abcdef",
            "code=abc&state=0123456789abcdef0123456789abcdef",
        ],
    )
    async def test_a_callback_without_this_browsers_state(
        self, runtime: Runtime, query: str
    ) -> None:
        async with phone(wire(runtime)) as http:
            page = await http.get(f"/h5/oauth/callback?{query}")
        assert (page.status_code, _kind(page)) == (400, "oauth_state")
        assert identity.SESSION_COOKIE not in page.cookies

    async def test_a_declined_or_unknown_code_and_a_wechat_outage(self, runtime: Runtime) -> None:
        world = await make_world(runtime, rule=SURE_WIN)
        app = wire(runtime)
        async with phone(app) as http:
            start = await http.get(f"/s/{world.codes[0]}")
            state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
            declined = await http.get(f"/h5/oauth/callback?state={state}")
        async with phone(app) as http:
            start = await http.get(f"/s/{world.codes[0]}")
            state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
            unknown = await http.get(f"/h5/oauth/callback?code=nope&state={state}")
        runtime.extras.pop(identity.OAUTH_KEY)
        identity.oauth_client(
            runtime, transport=httpx.MockTransport(lambda _: httpx.Response(502, text="down"))
        )
        async with phone(app) as http:
            start = await http.get(f"/s/{world.codes[0]}")
            state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
            outage = await http.get(f"/h5/oauth/callback?code=abc&state={state}")
        assert [(p.status_code, _kind(p)) for p in (declined, unknown, outage)] == [
            (401, "oauth_failed"),
            (401, "oauth_failed"),
            (503, "oauth_unavailable"),
        ]
        await _nothing_paid(world)

    async def test_a_forged_session_cookie_is_ignored(self, runtime: Runtime) -> None:
        world = await make_world(runtime, rule=SURE_WIN)
        async with phone(wire(runtime)) as http:
            value = identity.session_value(runtime, "o_victim_0001")
            _, issued, sig = value.split(".")
            http.cookies.set(identity.SESSION_COOKIE, f"o_attacker_01.{issued}.{sig}")
            page = await http.get(f"/s/{world.codes[0]}")
        assert page.status_code == 302, "an altered cookie is no session: WeChat is asked again"

    async def test_a_full_journey_still_works_after_the_failures(self, runtime: Runtime) -> None:
        world = await make_world(runtime, rule=SURE_WIN)
        async with phone(wire(runtime)) as http:
            assert (await http.get("/h5/oauth/callback?code=x&state=y")).status_code == 400
            page = await through_oauth(http, f"/s/{world.codes[0]}")
            assert (await claim(http, world.codes[0], page)).status_code == 303
        assert len(await world.payouts()) == 1
