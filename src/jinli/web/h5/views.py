"""The consumer's scan pages (M3): ``GET /s/{code}`` (the QR link), the one-tap claim
``POST /s/{code}``, the prize page and the WeChat OAuth callback.

Every view does the same four things (C12): guard and parse (no database for a forged code
or a blocked client), call one scan use case, commit, render. GET never pays: WeChat and link
scanners prefetch links, so paying takes a POST carrying the session's CSRF token. Every
failure is a friendly Chinese page with the right status, never a traceback.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from jinli.codes.errors import CodeMalformed, CodeNotFound, CodeNotGenuine
from jinli.integrations.wechat.oauth import OAuthFailed, OAuthUnavailable
from jinli.kernel.errors import ErrorKind, JinliError
from jinli.kernel.money import format_yuan
from jinli.platform.http import get_runtime
from jinli.platform.runtime import Runtime
from jinli.scans import service as scans_service
from jinli.scans.domain import answer_text, region_name
from jinli.scans.errors import GuessThrottled, PrizeNotFound, ScanRefused
from jinli.scans.service import PayoutStage, ScanState, ScanView
from jinli.web.h5 import identity
from jinli.web.h5.identity import Visitor
from jinli.web.h5.lane import CLAIM_COUNTED

log = structlog.get_logger()

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["yuan"] = lambda fen: format_yuan(int(fen))

router = APIRouter(include_in_schema=False)

MESSAGES: dict[str, tuple[int, str, str]] = {
    "malformed": (400, "这不是有效的码", "请确认扫描的是瓶盖内的二维码，或检查输入的码是否完整。"),
    "not_genuine": (
        404,
        "未查到此码",
        "此码未通过验证：可能输入有误，或并非正品。如有疑问，请联系品牌客服。",
    ),
    "throttled": (429, "尝试次数过多", "无效的码太多了，请稍后再试。"),
    "inactive": (409, "此码尚未启用", "这批商品尚未上市或已被品牌停用，暂时不能领奖。"),
    "not_live": (409, "活动未在进行中", "活动尚未开始、已暂停或已经结束。"),
    "budget_exhausted": (409, "本活动奖金已发完", "感谢参与！本活动的奖金已全部发完。"),
    "claims_throttled": (429, "今日领取已达上限", "你今天领取的次数太多了，请明天再来。"),
    "oauth_state": (400, "授权已失效", "请重新扫描瓶盖上的二维码。"),
    "oauth_failed": (401, "微信授权失败", "请重新扫描瓶盖上的二维码。"),
    "oauth_unavailable": (503, "微信暂时没有响应", "请稍后再试。"),
    "csrf": (403, "页面已过期", "请重新扫描瓶盖上的二维码领取。"),
    "prize_not_found": (404, "未找到奖品", "请用领奖的微信打开此页面。"),
    "unavailable": (503, "服务暂时不可用", "请稍后再试。"),
    "error": (500, "出错了", "请稍后再试。"),
}
REFUSALS = {
    "inactive": "inactive",
    "not_live": "not_live",
    "budget_exhausted": "budget_exhausted",
    "throttled": "claims_throttled",
}


def _render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _message(request: Request, kind: str, view: ScanView | None = None) -> HTMLResponse:
    status, title, text = MESSAGES[kind]
    return _render(request, "h5/message.html", status, kind=kind, title=title, text=text, view=view)


def _error_kind(exc: JinliError) -> str:
    if isinstance(exc, OAuthUnavailable):
        return "oauth_unavailable"
    if isinstance(exc, OAuthFailed):
        return "oauth_failed"
    if isinstance(exc, PrizeNotFound):
        return "prize_not_found"
    if isinstance(exc, GuessThrottled):
        return "throttled"
    if isinstance(exc, CodeMalformed):
        return "malformed"
    if isinstance(exc, CodeNotGenuine | CodeNotFound):
        return "not_genuine"
    if isinstance(exc, ScanRefused):
        return REFUSALS.get(exc.reason, "not_live")
    return "unavailable" if exc.kind == ErrorKind.UNAVAILABLE else "error"


async def _safely(request: Request, page: Callable[[], Awaitable[Response]]) -> Response:
    """Any ``JinliError`` becomes its friendly page; anything else a logged 500 page."""
    try:
        return await page()
    except JinliError as exc:
        return _message(request, _error_kind(exc))
    except Exception:
        log.exception("h5.request.failed", path=request.url.path)
        return _message(request, "error")


async def _count_guess(runtime: Runtime, env: scans_service.ScanEnv, who: Visitor) -> None:
    alarm = await scans_service.record_guess(env, who.client, runtime.clock.now())
    if alarm is not None:
        async with runtime.uow(system=True) as uow:
            scans_service.raise_guessing_alarm(uow, alarm)
            await uow.commit()


async def _checked(
    request: Request, runtime: Runtime, code: str, who: Visitor
) -> tuple[str | None, Response | None]:
    """The canonical code, or the page refusing it: a blocked client (counters only) or a
    malformed / forged code (no database), which counts as a guess."""
    env = scans_service.env_for(runtime)
    try:
        await scans_service.guard(env, who.client)
    except GuessThrottled:
        return None, _message(request, "throttled")
    try:
        parsed = scans_service.parse(env, code)
    except (CodeMalformed, CodeNotGenuine) as exc:
        await _count_guess(runtime, env, who)
        return None, _message(request, _error_kind(exc))
    return parsed.code, None


def _to_oauth(runtime: Runtime, return_path: str) -> Response:
    state, cookie = identity.begin_oauth(runtime, return_path)
    url = identity.oauth_client(runtime).authorize_url(
        identity.callback_url(runtime.settings), state
    )
    response = RedirectResponse(url, status_code=302)
    identity.set_state_cookie(response, runtime, cookie)
    return response


def _scan_page(request: Request, runtime: Runtime, code: str, view: ScanView) -> Response:
    if view.state == ScanState.ready:
        return _render(
            request,
            "h5/scan.html",
            view=view,
            code=code,
            csrf=identity.csrf_token(request, runtime),
        )
    if view.state == ScanState.repeated:
        assert view.tally is not None  # noqa: S101 - a repeated view always carries its tally
        return _render(
            request,
            "h5/answer.html",
            view=view,
            answer=answer_text(view.tally),
            first_region=region_name(view.tally.first_region),
        )
    if view.state == ScanState.refused and view.error is not None:
        return _message(request, _error_kind(view.error), view)
    url = f"/h5/prize/{view.draw_id}"
    openid = identity.openid_of(request, runtime)
    if view.recording and openid is not None:
        # The hot path: the relay writes the draw in a moment; the signed ``w`` lets the
        # prize page say "正在入账…" to this consumer until it has.
        token = identity.won_token(runtime, openid, str(view.draw_id), view.amount_fen)
        url += "?" + urlencode({"w": token})
    return RedirectResponse(url, status_code=303)


@router.get("/s")
@router.get("/s/")
async def scan_without_code(request: Request) -> Response:
    return _message(request, "malformed")


@router.get("/s/{code}")
async def scan(code: str, request: Request) -> Response:
    """The QR link: verify the code and show what it is worth (or its history). Consumers
    without a session go through WeChat OAuth first; forged codes never get that far."""
    runtime = get_runtime(request)
    who = identity.visitor(request, runtime)

    async def page() -> Response:
        canonical, refused = await _checked(request, runtime, code, who)
        if refused is not None or canonical is None:
            return refused or _message(request, "error")
        if who.client.openid is None:
            return _to_oauth(runtime, f"/s/{canonical}")
        env = scans_service.env_for(runtime)
        async with runtime.uow() as uow:
            try:
                view = await scans_service.inspect(uow, env, canonical, who.client)
            except CodeNotFound:
                await uow.rollback()
                await _count_guess(runtime, env, who)
                return _message(request, "not_genuine")
            await uow.commit()
        return _scan_page(request, runtime, canonical, view)

    return who.finish(await _safely(request, page), runtime)


@router.post("/s/{code}")
async def claim(code: str, request: Request) -> Response:
    """The one tap: claim the code and pay its prize (one transaction), then show the prize."""
    runtime = get_runtime(request)
    who = identity.visitor(request, runtime)

    async def page() -> Response:
        canonical, refused = await _checked(request, runtime, code, who)
        if refused is not None or canonical is None:
            return refused or _message(request, "error")
        if who.client.openid is None:
            return RedirectResponse(f"/s/{canonical}", status_code=303)
        form = await request.form()
        if not identity.csrf_ok(request, runtime, form.get("csrf")):
            return _message(request, "csrf")
        env = scans_service.env_for(runtime)
        async with runtime.uow() as uow:
            try:
                counted = bool(request.scope.get(CLAIM_COUNTED))  # by the claim lane
                view = await scans_service.claim(uow, env, canonical, who.client, counted=counted)
            except CodeNotFound:
                await uow.rollback()
                await _count_guess(runtime, env, who)
                return _message(request, "not_genuine")
            await uow.commit()
        return _scan_page(request, runtime, canonical, view)

    return who.finish(await _safely(request, page), runtime)


STAGE_TEXT = {
    PayoutStage.pending: "红包发放中，请稍候刷新查看",
    PayoutStage.confirm: "请确认收款",
    PayoutStage.paid: "已到账",
    PayoutStage.failed: "发放未成功，品牌将为你重新发放",
}


@router.get("/h5/prize/{draw_id}")
async def prize(draw_id: str, request: Request) -> Response:
    """A consumer's prize and where its money is (for a transfer: the confirm step)."""
    runtime = get_runtime(request)

    async def page() -> Response:
        try:
            parsed = uuid.UUID(draw_id)
        except ValueError:
            return _message(request, "prize_not_found")
        openid = identity.openid_of(request, runtime)
        if openid is None:
            return _to_oauth(runtime, f"/h5/prize/{parsed}")
        async with runtime.uow() as uow:
            try:
                view = await scans_service.prize(uow, parsed, openid)
            except PrizeNotFound:
                won = identity.won_of(runtime, request.query_params.get("w"), openid, str(parsed))
                if won is None:
                    raise
                return _recording(request, won)
        confirm_url = None
        if view.stage == PayoutStage.confirm and view.mode == "transfer" and view.package_info:
            confirm_url = identity.transfer_confirm_url(runtime.settings, view.package_info)
        return _render(
            request,
            "h5/prize.html",
            view=view,
            stage_text=STAGE_TEXT.get(view.stage, "") if view.stage else "",
            confirm_url=confirm_url,
        )

    return await _safely(request, page)


def _recording(request: Request, won: identity.Won) -> Response:
    """A win the hot path promised whose draw the relay has not written yet: "正在入账…",
    refreshing itself every few seconds (for ``WON_PENDING_SECONDS``, then it asks the
    consumer to come back later)."""
    fresh = won.age_seconds < identity.WON_PENDING_SECONDS
    return _render(
        request,
        "h5/prize_pending.html",
        amount_fen=won.amount_fen,
        refresh=2 if fresh else None,
        here=str(request.url.path) + "?" + urlencode({"w": request.query_params.get("w", "")}),
    )


@router.get(identity.CALLBACK_PATH)
async def oauth_callback(request: Request) -> Response:
    """WeChat's return: check ``state`` against this browser's cookie, exchange the one-time
    code for the openid, start the consumer session and go back to the scan."""
    runtime = get_runtime(request)

    async def page() -> Response:
        query = request.query_params
        back = identity.check_state(request, runtime, query.get("state"))
        if back is None:
            response: Response = _message(request, "oauth_state")
        elif not query.get("code"):
            response = _message(request, "oauth_failed")  # the consumer declined
        else:
            try:
                who = await identity.oauth_client(runtime).exchange(query["code"])
            except OAuthFailed as exc:  # a replayed or expired code, or WeChat down
                response = _message(request, _error_kind(exc))
            else:
                response = RedirectResponse(back, status_code=303)
                identity.start_session(response, runtime, who.openid)
        identity.end_oauth(response)  # one round trip per state: a replay fails the check
        return response

    return await _safely(request, page)
