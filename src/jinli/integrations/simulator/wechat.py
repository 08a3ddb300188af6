"""HTTP routes of the WeChat (non-pay) side: OAuth2 and the message sink (see :mod:`.oauth`).

At WeChat these live on ``open.weixin.qq.com`` (authorize) and ``api.weixin.qq.com`` (the
rest); the simulator serves them all under its one base URL.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .asgi import Route, SimRequest, SimResponse, json_response, redirect, route
from .pages import page
from .simulator import Simulator

SCOPES = ("snsapi_base", "snsapi_userinfo")


def _back(redirect_uri: str, code: str, state: str) -> str:
    parts = urlsplit(redirect_uri)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("code", code), ("state", state)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _problem(message: str) -> SimResponse:
    return page("授权失败", f'<div class="card"><h1>{escape(message)}</h1></div>', 400)


async def authorize(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """``/connect/oauth2/authorize``: silent for snsapi_base, a consent page otherwise."""
    q = request.query
    if q.get("appid") != sim.credentials.appid:
        return _problem("appid 参数错误")
    if not q.get("redirect_uri", "").startswith(("http://", "https://")):
        return _problem("redirect_uri 参数错误")
    if q.get("response_type") != "code" or q.get("scope") not in SCOPES:
        return _problem("scope 或 response_type 参数错误")
    if q["scope"] == "snsapi_base":
        with sim.lock:
            code = sim.oauth.issue_code(sim.config.demo_openid, "snsapi_base", sim.now())
        return redirect(_back(q["redirect_uri"], code, q.get("state", "")), 302)
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{escape(q.get(name, ""))}">'
        for name in ("redirect_uri", "state", "scope")
    )
    body = (
        '<div class="card"><h1>授权登录</h1><p>该网页申请获取你的昵称、头像。</p>'
        f'<form method="post" action="{escape(request.url("/connect/oauth2/consent"))}">{hidden}'
        f'<p class="muted"><label>演示 openid <input name="openid" '
        f'value="{escape(sim.config.demo_openid)}"></label></p>'
        '<button class="primary" type="submit">允许</button></form></div>'
    )
    return page("授权登录", body)


async def consent(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """The user allows: back to the merchant with a one-time code and the state."""
    form = request.form()
    redirect_uri = form.get("redirect_uri", "")
    if not redirect_uri.startswith(("http://", "https://")):
        return _problem("redirect_uri 参数错误")
    openid = form.get("openid") or sim.config.demo_openid
    with sim.lock:
        code = sim.oauth.issue_code(openid, form.get("scope") or "snsapi_userinfo", sim.now())
    return redirect(_back(redirect_uri, code, form.get("state", "")), 302)


async def access_token(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """``/sns/oauth2/access_token``."""
    with sim.lock:
        return json_response(200, sim.oauth.exchange(request.query, sim.now()))


async def userinfo(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """``/sns/userinfo``."""
    with sim.lock:
        return json_response(200, sim.oauth.userinfo(request.query, sim.now()))


async def basic_token(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """``/cgi-bin/token``."""
    with sim.lock:
        return json_response(200, sim.oauth.basic_token(request.query, sim.now()))


async def template_send(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """``/cgi-bin/message/template/send``: the sink."""
    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError):
        return json_response(200, {"errcode": 47001, "errmsg": "data format error"})
    with sim.lock:
        token = request.query.get("access_token", "")
        return json_response(200, sim.oauth.send_template(token, body, sim.now()))


def routes() -> list[Route]:
    """The OAuth and message routes."""
    return [
        route("GET", "/connect/oauth2/authorize", authorize),
        route("POST", "/connect/oauth2/consent", consent),
        route("GET", "/sns/oauth2/access_token", access_token),
        route("GET", "/sns/userinfo", userinfo),
        route("GET", "/cgi-bin/token", basic_token),
        route("POST", "/cgi-bin/message/template/send", template_send),
    ]
