"""What every console view shares: templates, the logged-in context, CSRF, money and time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from jinli.accounts.deps import ConsoleLogin
from jinli.accounts.domain import Actor, Permission
from jinli.accounts.errors import CsrfRejected
from jinli.accounts.service import operator_actor
from jinli.kernel.clock import SHANGHAI, as_utc
from jinli.kernel.errors import JinliError, ValidationFailed
from jinli.kernel.money import InvalidAmount, format_yuan, parse_yuan
from jinli.platform.db.uow import UnitOfWork
from jinli.platform.http import UoW, client_ip
from jinli.platform.runtime import Runtime
from jinli.platform.security import constant_time_equal
from jinli.web.i18n import Translator, describe, pick_locale, translator

TEMPLATES_DIR = Path(__file__).parent.parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
LANG_COOKIE = "jinli_lang"


def _shanghai(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    return as_utc(value).astimezone(SHANGHAI).strftime(fmt)


def _yuan(value: int | None) -> str:
    return "—" if value is None else "¥" + format_yuan(value)


def _page_url(request: Request, offset: int) -> str:
    """This page at another offset, keeping its filters (status, search, action)."""
    url = request.url.include_query_params(offset=max(0, offset))
    return f"{url.path}?{url.query}"


templates.env.globals["page_url"] = _page_url
templates.env.filters["shanghai"] = _shanghai
templates.env.filters["yuan"] = _yuan
templates.env.filters["yuan_plain"] = lambda v: format_yuan(v) if v is not None else ""
templates.env.filters["input_time"] = lambda v: _shanghai(v, "%Y-%m-%dT%H:%M") if v else ""


class LoginRequired(Exception):
    """Raised by console views for anonymous visitors; rendered as a redirect to the login."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


@dataclass
class Console:
    request: Request
    uow: UnitOfWork
    actor: Actor
    operator_name: str
    csrf_token: str
    locale: str
    t: Translator
    runtime: Runtime = field(repr=False)

    def can(self, permission: str) -> bool:
        return self.actor.can(Permission(permission))

    def require(self, permission: str) -> None:
        """Refuse a page the role may not use (``PermissionDenied``: the 403 page)."""
        self.actor.require(Permission(permission))

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """Render a page. After a redirect, ``?notice=`` is shown as a confirmation, or as an
        alert when ``?error=<code>`` says the action failed (see ``redirect``)."""
        query = self.request.query_params
        message = query.get("notice")
        failed = "error" in query
        return templates.TemplateResponse(
            self.request,
            template,
            {
                "c": self,
                "t": self.t,
                "notice": None if failed else message,
                "alert": message if failed else None,
                **context,
            },
            status_code=status_code,
        )

    def describe(self, exc: JinliError) -> str:
        """The error as the operator reads it, in the console's language."""
        return describe(self.t, exc.title, exc.detail)

    async def check_csrf(self) -> None:
        """Every state change carries the session's CSRF token (synchroniser token pattern)."""
        form = await self.request.form()
        token = form.get("csrf_token")
        if not isinstance(token, str) or not constant_time_equal(token, self.csrf_token):
            raise CsrfRejected()


def locale_of(request: Request) -> str:
    return pick_locale(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


async def console_context(request: Request, uow: UoW, login: ConsoleLogin) -> Console:
    if login is None:
        raise LoginRequired(request.url.path)
    operator, session = login
    locale = locale_of(request)
    return Console(
        request=request,
        uow=uow,
        actor=operator_actor(operator, client_ip(request)),
        operator_name=operator.name,
        csrf_token=session.csrf_token,
        locale=locale,
        t=translator(locale),
        runtime=request.app.state.runtime,
    )


ConsoleCtx = Annotated[Console, Depends(console_context)]


def redirect(path: str, notice: str | None = None) -> RedirectResponse:
    if notice:
        path += ("&" if "?" in path else "?") + "notice=" + quote(notice)
    return RedirectResponse(path, status_code=303)


def yuan_field(form: Any, name: str, *, required: bool = True) -> int | None:
    """Parse a yuan amount typed by an operator into exact fen (at most 2 decimals)."""
    raw = str(form.get(name) or "").strip().replace(",", "").replace("¥", "")
    if not raw:
        if required:
            raise ValidationFailed(f"{name}: an amount is required")
        return None
    try:
        value = parse_yuan(raw)
    except InvalidAmount:
        raise ValidationFailed(
            f"{name}: “{raw}” is not an amount in yuan (e.g. 1000 or 8.88)"
        ) from None
    if value < 0:
        raise ValidationFailed(f"{name}: the amount cannot be negative")
    return value


def time_field(form: Any, name: str) -> datetime:
    raw = str(form.get(name) or "").strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"{name}: “{raw}” is not a date and time") from None
    return value if value.tzinfo else value.replace(tzinfo=SHANGHAI)


def uuid_or_404(raw: str) -> uuid.UUID:
    from jinli.kernel.errors import NotFound

    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound() from None


def selected_ids(form: Any, field: str) -> list[uuid.UUID]:
    """The ids ticked in a bulk form (checkboxes named ``field``), each once, in order; a
    malformed one is a 404 like an unknown one."""
    return list(dict.fromkeys(uuid_or_404(str(raw)) for raw in form.getlist(field)))
