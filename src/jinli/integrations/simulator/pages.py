"""What the consumer sees inside WeChat, as plain mobile pages (no JavaScript at all).

- ``/pages/user?openid=…``: the user's pending transfers and unopened red packets.
- ``/pages/transfer?package=…``: the 确认收款 page ``wx.requestMerchantTransfer`` opens for a
  ``package_info``. Confirming moves the bill to TRANSFERING (then SUCCESS); 暂不收款 only
  closes the page, which, as in WeChat, changes nothing: unconfirmed for 24 h, the bill fails.
- ``/pages/redpack/{send_listid}``: open (拆) a cash red packet.

Forms POST and redirect (303) back; pages are mounted wherever the simulator is.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from jinli.kernel.money import format_yuan

from .asgi import Route, SimRequest, SimResponse, html_response, redirect, route
from .simulator import Simulator

STYLE = (
    "body{margin:0;font-family:-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;"
    "background:#ededed;color:#191919}"
    "main{max-width:480px;margin:0 auto;padding:16px}"
    ".card{background:#fff;border-radius:8px;padding:20px;margin-bottom:12px}"
    ".amount{font-size:40px;font-weight:600;text-align:center;margin:12px 0}"
    ".muted{color:#888;font-size:14px}"
    "button{width:100%;padding:12px;border:0;border-radius:6px;font-size:17px;margin-top:8px}"
    ".primary{background:#07c160;color:#fff}.secondary{background:#f2f2f2;color:#191919}"
    ".red{background:#fa5151;color:#fff}"
    "a{color:#576b95}li{margin:8px 0}"
)


def page(title: str, body: str, status: int = 200) -> SimResponse:
    """A whole page."""
    html = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style>"
        # No icon to fetch: a browser's /favicon.ico request would only 404.
        '<link rel="icon" href="data:,"></head>'
        f'<body><main><p class="muted">微信支付模拟器 · WeChat Pay simulator</p>{body}</main>'
        "</body></html>"
    )
    return html_response(status, html)


def _yuan(fen: int) -> str:
    return "¥" + format_yuan(fen)


def _form(action: str, label: str, css: str, hidden: dict[str, str] | None = None) -> str:
    fields = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
        for k, v in (hidden or {}).items()
    )
    return (
        f'<form method="post" action="{escape(action)}">{fields}'
        f'<button class="{css}" type="submit">{escape(label)}</button></form>'
    )


def _package_url(request: SimRequest, package: str) -> str:
    return request.url("/pages/transfer?package=" + quote(package, safe=""))


async def index(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """Pick a user."""
    demo = sim.config.demo_openid
    body = (
        '<div class="card"><h1>我的待收款</h1>'
        f'<form method="get" action="{escape(request.url("/pages/user"))}">'
        f'<p><label>openid <input name="openid" value="{escape(demo)}"></label></p>'
        '<button class="primary" type="submit">查看</button></form></div>'
    )
    return page("微信支付模拟器", body)


async def user(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """One user's pending items."""
    openid = request.query.get("openid") or sim.config.demo_openid
    sim.tick()
    with sim.lock:
        transfers = sim.transfers.pending_for(openid)
        packets = sim.redpacks.pending_for(openid)
        items = [
            f'<li><a href="{escape(_package_url(request, b.package_info or ""))}">'
            f"商家转账 {_yuan(b.request.amount_fen)} · {escape(b.request.remark)}</a></li>"
            for b in transfers
        ] + [
            f'<li><a href="{escape(request.url("/pages/redpack/" + quote(p.send_listid)))}">'
            f"{escape(p.request.send_name)}的红包 {_yuan(p.request.total_amount)}</a></li>"
            for p in packets
        ]
    listing = (
        "<ul>" + "".join(items) + "</ul>" if items else '<p class="muted">没有待领取的款项</p>'
    )
    body = (
        f'<div class="card"><h1>待收款</h1><p class="muted">openid: {escape(openid)}</p>'
        f"{listing}</div>"
    )
    return page("待收款", body)


async def transfer(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """The confirm page for a ``package_info``."""
    package = request.query.get("package", "")
    sim.tick()
    with sim.lock:
        bill = sim.transfers.by_package(package)
        if bill is None:
            return page("无效的转账", '<div class="card"><h1>转账不存在或已失效</h1></div>', 404)
        state, amount, remark = bill.state.value, bill.request.amount_fen, bill.request.remark
        openid = bill.request.openid
    back = request.url("/pages/user?openid=" + quote(openid))
    head = (
        f'<div class="card"><p class="muted">商家转账 · 商户号 {escape(sim.credentials.mchid)}</p>'
        f'<div class="amount">{_yuan(amount)}</div><p>{escape(remark)}</p>'
    )
    if state == "WAIT_USER_CONFIRM":
        hidden = {"package": package}
        actions = _form(request.url("/pages/transfer/confirm"), "确认收款", "primary", hidden)
        actions += _form(request.url("/pages/transfer/decline"), "暂不收款", "secondary", hidden)
    else:
        labels = {
            "TRANSFERING": "转账中，稍后到账零钱",
            "SUCCESS": "已收款，已存入零钱",
            "FAIL": "转账失败（超时未确认或被拒绝）",
            "CANCELLED": "商家已撤销转账",
            "CANCELING": "商家正在撤销转账",
        }
        actions = f"<p><strong>{escape(labels.get(state, state))}</strong></p>"
    body = head + actions + f'<p><a href="{escape(back)}">返回</a></p></div>'
    return page("确认收款", body)


async def transfer_confirm(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """The user taps 确认收款."""
    package = request.form().get("package", "")
    sim.confirm_transfer(package_info=package)
    return redirect(_package_url(request, package))


async def transfer_decline(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """The user closes the page: nothing changes at WeChat."""
    package = request.form().get("package", "")
    with sim.lock:
        bill = sim.transfers.by_package(package)
        openid = bill.request.openid if bill else sim.config.demo_openid
    return redirect(request.url("/pages/user?openid=" + quote(openid)))


async def redpack(sim: Simulator, request: SimRequest, params: dict[str, str]) -> SimResponse:
    """A red packet, to open."""
    sim.tick()
    with sim.lock:
        packet = sim.redpacks.by_listid(params["listid"])
        if packet is None:
            return page("红包不存在", '<div class="card"><h1>红包不存在</h1></div>', 404)
        status = packet.status.value
        r = packet.request
    head = (
        f'<div class="card" style="background:#fa5151;color:#fff;text-align:center">'
        f"<p>{escape(r.send_name)}的红包</p><h2>{escape(r.wishing)}</h2>"
    )
    if status == "SENT":
        action = request.url(f"/pages/redpack/{quote(params['listid'])}/open")
        body = head + _form(action, "開", "secondary") + "</div>"
    else:
        labels = {
            "SENDING": "红包发放中，请稍后",
            "RECEIVED": f"已领取 {_yuan(r.total_amount)}，已存入零钱",
            "RFUND_ING": "红包已过期（超过24小时未领取），退款中",
            "REFUND": "红包已过期（超过24小时未领取），已退回商户",
            "FAILED": "红包发放失败",
        }
        body = head + f"<p><strong>{escape(labels.get(status, status))}</strong></p></div>"
    back = request.url("/pages/user?openid=" + quote(r.re_openid))
    return page("微信红包", body + f'<p><a href="{escape(back)}">返回</a></p>')


async def redpack_open(sim: Simulator, request: SimRequest, params: dict[str, str]) -> SimResponse:
    """The user taps 開."""
    with sim.lock:
        packet = sim.redpacks.by_listid(params["listid"])
        number = packet.request.mch_billno if packet else ""
    sim.open_redpack(number)
    return redirect(request.url(f"/pages/redpack/{quote(params['listid'])}"))


def routes() -> list[Route]:
    """The consumer pages."""
    return [
        route("GET", "/pages/?", index),
        route("GET", "/pages/user", user),
        route("GET", "/pages/transfer", transfer),
        route("POST", "/pages/transfer/confirm", transfer_confirm),
        route("POST", "/pages/transfer/decline", transfer_decline),
        route("GET", "/pages/redpack/{listid}", redpack),
        route("POST", "/pages/redpack/{listid}/open", redpack_open),
    ]
