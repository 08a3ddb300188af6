"""FastAPI dependencies that turn credentials into an ``Actor`` for the edges."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from jinli.accounts import service
from jinli.accounts.domain import Actor, SessionPolicy
from jinli.accounts.errors import InvalidApiKey
from jinli.accounts.models import ConsoleSession, Operator
from jinli.platform.http import UoW, client_ip
from jinli.platform.runtime import Runtime

SESSION_COOKIE = "jinli_session"

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer jl_…`")


async def api_actor(
    request: Request,
    uow: UoW,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The brand and role behind the request's API key; scopes the request's unit of work."""
    if credentials is None:
        raise InvalidApiKey("send an API key as 'Authorization: Bearer <key>'")
    with uow.unscoped():
        return await service.resolve_api_key(uow, credentials.credentials, ip=client_ip(request))


ApiActor = Annotated[Actor, Depends(api_actor)]


def session_policy(runtime: Runtime) -> SessionPolicy:
    s = runtime.settings.session
    return SessionPolicy(
        idle_timeout_seconds=s.idle_timeout_seconds,
        absolute_timeout_seconds=s.absolute_timeout_seconds,
    )


async def console_session(request: Request, uow: UoW) -> tuple[Operator, ConsoleSession] | None:
    """The operator logged in with the session cookie, or ``None``."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 200:
        return None
    runtime: Runtime = request.app.state.runtime
    with uow.unscoped():
        login = await service.resolve_session(uow, token, session_policy(runtime))
    if login is not None and login[1] in uow.session.dirty:
        # The once-a-minute touch must outlive this request even when the view only reads
        # (a GET page never commits); otherwise the idle timeout counts from the login, and an
        # operator who is browsing is logged out mid-work.
        await uow.commit()
    return login


ConsoleLogin = Annotated[tuple[Operator, ConsoleSession] | None, Depends(console_session)]
