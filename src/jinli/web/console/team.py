"""Console pages for the team: operators and API keys."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import Role, grantable_roles
from jinli.kernel.errors import JinliError
from jinli.kernel.pagination import PageRequest
from jinli.web.console.common import Console, ConsoleCtx, redirect, uuid_or_404

router = APIRouter(prefix="/console")


async def _operators_page(
    c: Console, *, error: str | None = None, status_code: int = 200, offset: int = 0
) -> HTMLResponse:
    page = await accounts_service.list_operators(
        c.uow, c.actor, PageRequest(limit=50, offset=offset)
    )
    return c.render(
        "team/operators.html",
        page=page,
        roles=grantable_roles(c.actor.role),
        error=error,
        status_code=status_code,
    )


@router.get("/operators", response_class=HTMLResponse)
async def operators(c: ConsoleCtx, offset: int = 0) -> HTMLResponse:
    return await _operators_page(c, offset=max(0, offset))


@router.post("/operators")
async def create_operator(c: ConsoleCtx) -> Response:
    await c.check_csrf()
    form = await c.request.form()
    role = str(form.get("role") or "")
    try:
        if role not in set(Role):
            from jinli.kernel.errors import ValidationFailed

            raise ValidationFailed("choose a role")
        await accounts_service.create_operator(
            c.uow,
            c.actor,
            email=str(form.get("email") or "")[:254],
            name=str(form.get("name") or "")[:100] or "—",
            role=Role(role),
            password=str(form.get("password") or "")[:256],
        )
        await c.uow.commit()
    except JinliError as exc:
        if exc.kind == "forbidden":
            raise
        await c.uow.rollback()
        return await _operators_page(c, error=c.describe(exc), status_code=422)
    return redirect("/console/operators", c.t("Saved."))


@router.post("/operators/{operator_id}/deactivate")
async def deactivate(c: ConsoleCtx, operator_id: str) -> Response:
    await c.check_csrf()
    try:
        await accounts_service.set_operator_active(
            c.uow, c.actor, uuid_or_404(operator_id), active=False
        )
        await c.uow.commit()
    except JinliError as exc:
        if exc.kind in ("forbidden", "not_found"):
            raise
        return redirect(f"/console/operators?error={exc.code}", c.describe(exc))
    return redirect("/console/operators", c.t("Saved."))


async def _keys_page(
    c: Console,
    *,
    created: tuple[object, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    page = await accounts_service.list_api_keys(c.uow, c.actor, PageRequest(limit=100))
    return c.render(
        "team/api_keys.html",
        page=page,
        roles=grantable_roles(c.actor.role),
        created=created,
        error=error,
        status_code=status_code,
    )


@router.get("/api-keys", response_class=HTMLResponse)
async def api_keys(c: ConsoleCtx) -> HTMLResponse:
    return await _keys_page(c)


@router.post("/api-keys")
async def create_api_key(c: ConsoleCtx) -> Response:
    await c.check_csrf()
    form = await c.request.form()
    role = str(form.get("role") or "")
    try:
        if role not in set(Role):
            from jinli.kernel.errors import ValidationFailed

            raise ValidationFailed("choose a role")
        key, secret = await accounts_service.create_api_key(
            c.uow, c.actor, name=str(form.get("name") or "")[:100] or "key", role=Role(role)
        )
        await c.uow.commit()
    except JinliError as exc:
        if exc.kind == "forbidden":
            raise
        await c.uow.rollback()
        return await _keys_page(c, error=c.describe(exc), status_code=422)
    # Shown once, on this response only; the page is not cacheable.
    response = await _keys_page(c, created=(key, secret), status_code=201)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/api-keys/{key_id}/revoke")
async def revoke_api_key(c: ConsoleCtx, key_id: str) -> Response:
    await c.check_csrf()
    await accounts_service.revoke_api_key(c.uow, c.actor, uuid_or_404(key_id))
    await c.uow.commit()
    return redirect("/console/api-keys", c.t("Saved."))
