"""The WeChat (non-pay) side: H5 OAuth2 with single-use, 5-minute codes, the profile, and the
template-message sink."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from jinli.integrations.simulator import Credentials, Simulator

from .conftest import HOST, PREFIX

REDIRECT = "https://jinli.test/h5/oauth?campaign=9"


async def _code(
    client: httpx.AsyncClient, credentials: Credentials, scope: str
) -> dict[str, list[str]]:
    params = {
        "appid": credentials.appid,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": scope,
        "state": "st4te",
    }
    response = await client.get("/connect/oauth2/authorize", params=params)
    if scope == "snsapi_userinfo":
        assert response.status_code == 200
        assert "<script" not in response.text
        response = await client.post(
            "/connect/oauth2/consent",
            data={"redirect_uri": REDIRECT, "state": "st4te", "scope": scope, "openid": "o_alice"},
        )
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert location.netloc == "jinli.test"
    return parse_qs(location.query)


async def test_base_scope_code_is_single_use_and_expires(
    transport: httpx.ASGITransport, sim: Simulator, credentials: Credentials
) -> None:
    """snsapi_base redirects at once with code and state; the code works once (40163
    after), an unknown or 5-minute-old code is 40029."""
    async with httpx.AsyncClient(transport=transport, base_url=HOST + PREFIX) as client:
        query = await _code(client, credentials, "snsapi_base")
        assert (query["state"], query["campaign"]) == (["st4te"], ["9"])
        exchange = {
            "appid": credentials.appid,
            "secret": credentials.app_secret,
            "code": query["code"][0],
            "grant_type": "authorization_code",
        }
        token = (await client.get("/sns/oauth2/access_token", params=exchange)).json()
        assert token["openid"] == sim.config.demo_openid
        assert token["scope"] == "snsapi_base"
        assert "unionid" not in token
        again = (await client.get("/sns/oauth2/access_token", params=exchange)).json()
        assert again["errcode"] == 40163
        unknown = {**exchange, "code": "nope"}
        assert (await client.get("/sns/oauth2/access_token", params=unknown)).json()[
            "errcode"
        ] == 40029
        stale = await _code(client, credentials, "snsapi_base")
        sim.advance(301)
        late = {**exchange, "code": stale["code"][0]}
        assert (await client.get("/sns/oauth2/access_token", params=late)).json()[
            "errcode"
        ] == 40029
        wrong = {**exchange, "secret": "x"}
        assert (await client.get("/sns/oauth2/access_token", params=wrong)).json()[
            "errcode"
        ] == 40125


async def test_userinfo_scope_consent_profile_and_messages(
    transport: httpx.ASGITransport, sim: Simulator, credentials: Credentials
) -> None:
    """snsapi_userinfo goes through the consent page (choosing an openid), gives a unionid
    and a profile; template messages need the basic token and land in the sink."""
    async with httpx.AsyncClient(transport=transport, base_url=HOST + PREFIX) as client:
        query = await _code(client, credentials, "snsapi_userinfo")
        token = (
            await client.get(
                "/sns/oauth2/access_token",
                params={
                    "appid": credentials.appid,
                    "secret": credentials.app_secret,
                    "code": query["code"][0],
                    "grant_type": "authorization_code",
                },
            )
        ).json()
        assert (token["openid"], token["scope"]) == ("o_alice", "snsapi_userinfo")
        profile = (
            await client.get(
                "/sns/userinfo",
                params={"access_token": token["access_token"], "openid": "o_alice"},
            )
        ).json()
        assert profile["unionid"] == token["unionid"]
        basic = (
            await client.get(
                "/cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": credentials.appid,
                    "secret": credentials.app_secret,
                },
            )
        ).json()
        message = {"touser": "o_alice", "template_id": "TPL", "data": {"k": {"value": "v"}}}
        bad = await client.post(
            "/cgi-bin/message/template/send", params={"access_token": "x"}, json=message
        )
        assert bad.json()["errcode"] == 40001
        sent = await client.post(
            "/cgi-bin/message/template/send",
            params={"access_token": basic["access_token"]},
            json=message,
        )
        assert sent.json()["errcode"] == 0
    assert sim.oauth.messages[0]["touser"] == "o_alice"
