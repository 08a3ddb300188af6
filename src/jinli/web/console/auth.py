"""Console login and logout: argon2 passwords, back-off, fresh session ids, CSRF everywhere."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jinli.accounts import service as accounts_service
from jinli.accounts.deps import SESSION_COOKIE, session_policy
from jinli.accounts.domain import ThrottlePolicy
from jinli.accounts.errors import CsrfRejected, InvalidCredentials, LoginThrottled
from jinli.platform.http import UoW, client_ip
from jinli.platform.runtime import Runtime
from jinli.platform.security import constant_time_equal, new_token
from jinli.web.console.common import LANG_COOKIE, locale_of, redirect, templates
from jinli.web.i18n import LOCALES, translator

router = APIRouter()
LOGIN_CSRF_COOKIE = "jinli_login_csrf"


def _safe_next(target: str | None) -> str:
    """Only local console paths: no open redirect to another site (ASVS 3.7.2)."""
    if (
        target
        and target.startswith("/console")
        and not target.startswith("//")
        and "\\" not in target
    ):
        return target
    return "/console"


def _login_page(
    request: Request,
    *,
    error: str | None = None,
    status_code: int = 200,
    next_path: str = "/console",
    email: str = "",
) -> HTMLResponse:
    locale = locale_of(request)
    token = new_token(24)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {
            "t": translator(locale),
            "error": error,
            "csrf_token": token,
            "next": next_path,
            "email": email,
            "locale": locale,
        },
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/console/login",
        secure=_runtime(request).settings.session.cookie_secure,
    )
    return response


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _policy(runtime: Runtime) -> ThrottlePolicy:
    s = runtime.settings.login_throttle
    return ThrottlePolicy(
        free_attempts=s.free_attempts,
        base_delay_seconds=s.base_delay_seconds,
        max_delay_seconds=s.max_delay_seconds,
        window_seconds=s.window_seconds,
    )


@router.get("/console/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return _login_page(request, next_path=_safe_next(next))


@router.post("/console/login")
async def login(
    request: Request,
    uow: UoW,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/console",
) -> Response:
    runtime = _runtime(request)
    t = translator(locale_of(request))
    next_path = _safe_next(next)
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie_token or not constant_time_equal(cookie_token, csrf_token):
        return _login_page(
            request,
            status_code=403,
            next_path=next_path,
            email=email,
            error=t("The form expired or did not come from this site; reload and try again"),
        )
    try:
        with uow.unscoped():
            operator = await accounts_service.authenticate(
                uow,
                runtime.counters,
                _policy(runtime),
                email=email,
                password=password,
                ip=client_ip(request),
            )
    except InvalidCredentials:
        await uow.commit()  # keep the audit entry of the failed attempt
        return _login_page(
            request,
            status_code=401,
            next_path=next_path,
            email=email,
            error=t("Wrong e-mail or password"),
        )
    except LoginThrottled:
        return _login_page(
            request,
            status_code=429,
            next_path=next_path,
            email=email,
            error=t("Too many failed logins; wait before trying again"),
        )
    token = await accounts_service.start_session(
        uow,
        operator,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        previous_token=request.cookies.get(SESSION_COOKIE),
    )
    await uow.commit()
    response = RedirectResponse(next_path, status_code=303)
    settings = runtime.settings.session
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        max_age=settings.absolute_timeout_seconds,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    return response


@router.post("/console/logout")
async def logout(request: Request, uow: UoW) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    runtime = _runtime(request)
    if token:
        with uow.unscoped():
            login = await accounts_service.resolve_session(uow, token, session_policy(runtime))
        form = await request.form()
        if login is not None and constant_time_equal(
            str(form.get("csrf_token", "")), login[1].csrf_token
        ):
            await accounts_service.end_session(uow, token)
            await uow.commit()
        elif login is not None:
            raise CsrfRejected()  # a forged logout: the 403 page, the session stays
    response = redirect("/console/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/console/lang/{locale}")
async def set_language(request: Request, locale: str) -> Response:
    target = _safe_next(request.headers.get("referer", "").partition(request.url.netloc)[2] or None)
    response = redirect(target)
    if locale in LOCALES:
        response.set_cookie(LANG_COOKIE, locale, samesite="lax", max_age=365 * 86400, path="/")
    return response
