"""The simulator as one ASGI application: mount it under a prefix or serve it alone.

``/v3/…`` is API v3, ``/mmpaymkttransfers/…`` API v2, ``/connect``, ``/sns``, ``/cgi-bin``
the WeChat (non-pay) side, ``/pages/…`` what the consumer sees, ``/_sim/…`` the admin panel.
Served alone, the lifespan starts the real-time background task; mounted inside another app
(whose lifespan does not reach mounted apps) the first request starts it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from html import escape

from . import admin, pages, v2, v3, wechat
from .asgi import (
    Receive,
    Scope,
    Send,
    SimRequest,
    SimResponse,
    json_response,
    match,
    read_request,
    send_response,
)
from .errors import V3Error
from .simulator import Simulator

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
log = logging.getLogger(__name__)


def _home(sim: Simulator, request: SimRequest) -> SimResponse:
    credentials = sim.credentials
    body = (
        '<div class="card"><h1>微信支付模拟器</h1>'
        f"<p>商户号 {escape(credentials.mchid)} · AppID {escape(credentials.appid)}</p>"
        f'<p class="muted">base URL {escape(credentials.base_url)}</p>'
        f'<ul><li><a href="{escape(request.url("/pages/"))}">用户页面（确认收款、拆红包）</a></li>'
        f'<li><a href="{escape(request.url("/_sim/"))}">状态 JSON</a></li>'
        f'<li><a href="{escape(request.url("/_sim/book"))}">账本 JSON</a></li></ul></div>'
    )
    return pages.page("微信支付模拟器", body)


def create_simulator_app(sim: Simulator) -> ASGIApp:
    """An ASGI app serving ``sim`` (see the module docstring for the URL map)."""
    v3_routes = v3.routes()
    operations = {id(r): op for r, op in v3_routes}
    v3_table = [r for r, _ in v3_routes]
    other = admin.routes() + pages.routes() + wechat.routes()

    async def dispatch(request: SimRequest) -> SimResponse:
        path = request.path
        if path.startswith("/v3/"):
            found = match(v3_table, request)
            if found is None:
                try:
                    v3.authenticate(sim, request)
                except V3Error as error:
                    return v3.error_reply(sim, request, error)
                return v3.error_reply(
                    sim, request, V3Error("NOT_FOUND", "请求的资源不存在", status=404)
                )
            handler, params = found
            return await v3.handle(sim, request, handler.handler, params, operations[id(handler)])
        if path.startswith("/mmpaymkttransfers/") and request.method == "POST":
            return await v2.handle(sim, request)
        if path in ("", "/") and request.method == "GET":
            return _home(sim, request)
        found = match(other, request)
        if found is None:
            return json_response(404, {"code": "NOT_FOUND", "message": f"no route {path}"})
        handler, params = found
        try:
            return await handler.handler(sim, request, params)
        except (ValueError, KeyError) as exc:  # a malformed admin request
            return json_response(400, {"code": "BAD_REQUEST", "message": str(exc)})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    sim.ensure_background()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await sim.stop_background()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        sim.ensure_background()
        try:
            request = await read_request(scope, receive)
        except ValueError:
            await send_response(send, json_response(413, {"code": "TOO_LARGE", "message": "body"}))
            return
        await send_response(send, await dispatch(request))

    return app
