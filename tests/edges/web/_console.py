"""Helpers for driving the console like a browser: log in, read CSRF tokens, fill forms, and
compare the whole database before and after a request."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import select

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import Permission, Role
from jinli.app.models import metadata
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action, CampaignStatus
from jinli.codes import service as codes_service
from jinli.codes.schemas import BatchCreate
from jinli.kernel.clock import SHANGHAI
from jinli.payouts.domain import PayoutState
from jinli.platform.runtime import Runtime
from tests.edges._payouts import create_payout
from tests.edges.reconciliation import _objects as recon
from tests.factories import PASSWORD, BrandFixture, create_campaign

CLIENT_IP = "203.0.113.7"
SESSION_COOKIE = "jinli_session"
LOGIN_CSRF_COOKIE = "jinli_login_csrf"
CSRF_INPUT = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
S = CampaignStatus


class Browser:
    """One browser: its own cookie jar, the real app behind an ASGI transport."""

    def __init__(self, transport: httpx.ASGITransport, *, https: bool = False) -> None:
        base_url = f"{'https' if https else 'http'}://testserver"
        self.http = httpx.AsyncClient(transport=transport, base_url=base_url)

    @property
    def session(self) -> str | None:
        return self.http.cookies.get(SESSION_COOKIE)

    async def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        form = await self.http.get("/console/login")
        token = csrf_of(form)
        return await self.http.post(
            "/console/login",
            data={"email": email, "password": password, "csrf_token": token, "next": "/console"},
        )

    async def csrf(self) -> str:
        """The session's CSRF token, read from a page as a browser would see it."""
        page = await self.http.get("/console")
        assert page.status_code == 200, f"not logged in: {page.status_code}"
        return csrf_of(page)

    async def aclose(self) -> None:
        await self.http.aclose()


def csrf_of(page: httpx.Response) -> str:
    found = CSRF_INPUT.search(page.text)
    assert found is not None, "the page has no CSRF token"
    return found.group(1)


def cookie_attributes(response: httpx.Response, name: str) -> tuple[str, dict[str, str]]:
    """The value and the (lower-cased) attributes of the cookie ``name`` a response sets."""
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        key, _, value = first.partition("=")
        if key == name:
            parsed = {}
            for attribute in attributes:
                k, _, v = attribute.partition("=")
                parsed[k.lower()] = v
            return value, parsed
    raise AssertionError(f"the response sets no {name} cookie")


def is_login_redirect(response: httpx.Response) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith("/console/login")


def is_refusal_page(response: httpx.Response, status: int) -> bool:
    """An HTML page with that status (the error page, or a form showing the error), never a
    traceback."""
    return (
        response.status_code == status
        and response.headers.get("content-type", "").startswith("text/html")
        and "Traceback" not in response.text
    )


def is_error_page(response: httpx.Response, status: int) -> bool:
    """A rendered error page with that status: HTML, the error block, never a traceback."""
    return (
        response.status_code == status
        and response.headers.get("content-type", "").startswith("text/html")
        and 'data-testid="error-message"' in response.text
        and "Traceback" not in response.text
    )


async def db_state(runtime: Runtime) -> dict[str, list[str]]:
    """Every row of every table, as comparable text: "nothing changed" means this is equal."""
    state: dict[str, list[str]] = {}
    async with runtime.engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = (await conn.execute(select(table))).all()
            state[table.name] = sorted(repr(tuple(row)) for row in rows)
    return state


def changed_tables(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    return sorted(name for name in before if before[name] != after.get(name))


def shanghai_input(runtime: Runtime, delta: timedelta) -> str:
    return (runtime.clock.now() + delta).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


# --- brand A's objects -----------------------------------------------------------------------


class Objects:
    """Fresh objects of one brand, made through the services, in the state a form needs."""

    def __init__(self, runtime: Runtime, brand: BrandFixture) -> None:
        self.runtime = runtime
        self.brand = brand

    async def campaign(self, state: CampaignStatus = S.draft) -> uuid.UUID:
        cid = await create_campaign(self.runtime, self.brand, reward_rule={"kind": "none"})
        steps = {
            S.draft: [],
            S.live: [Action.publish],
            S.ended: [Action.publish, Action.end],
        }[state]
        for action in steps:
            async with self.runtime.uow(brand_id=self.brand.brand_id) as uow:
                await campaigns_service.transition(uow, self.brand.actor(), cid, action)
                await uow.commit()
        return cid

    async def operator(self, role: Role = Role.operator) -> uuid.UUID:
        async with self.runtime.uow(brand_id=self.brand.brand_id) as uow:
            operator = await accounts_service.create_operator(
                uow,
                self.brand.actor(),
                email=f"target-{uuid.uuid4().hex[:8]}@example.com",
                name="Target",
                role=role,
                password=PASSWORD,
            )
            await uow.commit()
        return operator.id

    async def api_key(self) -> uuid.UUID:
        async with self.runtime.uow(brand_id=self.brand.brand_id) as uow:
            key, _ = await accounts_service.create_api_key(
                uow, self.brand.actor(), name="target", role=Role.developer
            )
            await uow.commit()
        return key.id

    async def payout(self, state: PayoutState = PayoutState.failed) -> uuid.UUID:
        return await create_payout(self.runtime, self.brand, state=state)


Prepare = Callable[[Objects], Awaitable[tuple[str, dict[str, str]]]]
"""Builds (path, form fields) for a request that succeeds when the caller may make it."""


@dataclass(frozen=True)
class ConsoleRoute:
    method: str
    template: str
    permission: Permission
    prepare: Prepare
    variant: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.template}{' ' + self.variant if self.variant else ''}"


async def _static(path: str, form: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    return path, form or {}


def _campaign_form(objects: Objects) -> dict[str, str]:
    rt = objects.runtime
    return {
        "name": f"Console campaign {uuid.uuid4().hex[:6]}",
        "description": "扫码赢红包",
        "budget_cap": "10000",
        "initial_funding": "",
        "starts_at": shanghai_input(rt, timedelta(hours=-1)),
        "ends_at": shanghai_input(rt, timedelta(days=7)),
        "reward_kind": "none",
    }


async def _new_campaign(objects: Objects) -> tuple[str, dict[str, str]]:
    return "/console/campaigns/new", _campaign_form(objects)


async def _edit_campaign(objects: Objects) -> tuple[str, dict[str, str]]:
    cid = await objects.campaign()
    return f"/console/campaigns/{cid}/edit", {
        **_campaign_form(objects),
        "name": "Edited",
        "version": "1",
    }


def _on_campaign(suffix: str, form: dict[str, str], state: CampaignStatus = S.draft) -> Prepare:
    async def prepare(objects: Objects) -> tuple[str, dict[str, str]]:
        cid = await objects.campaign(state)
        return f"/console/campaigns/{cid}{suffix}", dict(form)

    return prepare


async def _view_campaign(objects: Objects) -> tuple[str, dict[str, str]]:
    return f"/console/campaigns/{await objects.campaign()}", {}


async def _view_edit(objects: Objects) -> tuple[str, dict[str, str]]:
    return f"/console/campaigns/{await objects.campaign()}/edit", {}


async def _new_operator(_: Objects) -> tuple[str, dict[str, str]]:
    return "/console/operators", {
        "email": f"made-{uuid.uuid4().hex[:8]}@example.com",
        "name": "Made",
        "role": "operator",
        "password": PASSWORD,
    }


async def _deactivate(objects: Objects) -> tuple[str, dict[str, str]]:
    return f"/console/operators/{await objects.operator()}/deactivate", {}


async def _new_key(_: Objects) -> tuple[str, dict[str, str]]:
    return "/console/api-keys", {"name": "made in the console", "role": "developer"}


async def _revoke(objects: Objects) -> tuple[str, dict[str, str]]:
    return f"/console/api-keys/{await objects.api_key()}/revoke", {}


async def _reissue_one(objects: Objects) -> tuple[str, dict[str, str]]:
    return f"/console/payouts/{await objects.payout()}/reissue", {"back": "/console/payouts"}


async def _reissue_selected(objects: Objects) -> tuple[str, dict[str, str]]:
    return "/console/payouts/reissue", {"payout_id": str(await objects.payout())}


async def _recon_run(objects: Objects) -> tuple[str, dict[str, str]]:
    return f"/console/reconciliation/runs/{await recon.reconcile(objects.runtime)}", {}


async def _resolve_one(objects: Objects) -> tuple[str, dict[str, str]]:
    diff = await recon.open_difference(objects.runtime, objects.brand)
    return f"/console/reconciliation/differences/{diff}/resolve", {"note": "paid by hand"}


async def _resolve_selected(objects: Objects) -> tuple[str, dict[str, str]]:
    diff = await recon.open_difference(objects.runtime, objects.brand)
    return "/console/reconciliation/resolve", {"difference_id": str(diff), "note": "checked"}


async def _upload_bill(objects: Objects) -> tuple[str, dict[str, str]]:
    day = recon.yesterday(objects.runtime)
    return "/console/reconciliation/upload", {"bill_date": str(day), "bill": recon.bill_text()}


async def _fetch_bill(objects: Objects) -> tuple[str, dict[str, str]]:
    recon.install_bill_source(objects.runtime)
    return "/console/reconciliation/fetch", {"bill_date": str(recon.yesterday(objects.runtime))}


async def _finance_pack(objects: Objects) -> tuple[str, dict[str, str]]:
    month = objects.runtime.clock.now().astimezone(SHANGHAI).strftime("%Y-%m")
    cid = await objects.campaign()
    return f"/console/reconciliation/pack?campaign_id={cid}&month={month}", {}


async def _code_batch(objects: Objects) -> uuid.UUID:
    """A generated batch of three codes (activatable, voidable, with its export)."""
    campaign = await objects.campaign()
    env = codes_service.env_for(objects.runtime)
    async with objects.runtime.uow(brand_id=objects.brand.brand_id) as uow:
        batch = await codes_service.generate(
            uow, objects.brand.actor(), env, campaign, BatchCreate(count=3), max_count=10
        )
        await uow.commit()
    return batch.id


async def _generate_codes(objects: Objects) -> tuple[str, dict[str, str]]:
    campaign = await objects.campaign()
    return "/console/codes", {"campaign_id": str(campaign), "count": "5", "label": "console"}


def _on_batch(suffix: str, form: dict[str, str]) -> Prepare:
    async def prepare(objects: Objects) -> tuple[str, dict[str, str]]:
        return f"/console/codes/{await _code_batch(objects)}{suffix}", dict(form)

    return prepare


P = Permission
CONSOLE_ROUTES: list[ConsoleRoute] = [
    ConsoleRoute("GET", "/console", P.dashboard_read, lambda _: _static("/console")),
    ConsoleRoute(
        "GET", "/console/campaigns", P.campaigns_read, lambda _: _static("/console/campaigns")
    ),
    ConsoleRoute(
        "GET",
        "/console/campaigns/new",
        P.campaigns_write,
        lambda _: _static("/console/campaigns/new"),
    ),
    ConsoleRoute("POST", "/console/campaigns/new", P.campaigns_write, _new_campaign),
    ConsoleRoute("GET", "/console/campaigns/{campaign_id}", P.campaigns_read, _view_campaign),
    ConsoleRoute(
        "GET", "/console/campaigns/{campaign_id}/live", P.campaigns_read, _on_campaign("/live", {})
    ),
    ConsoleRoute(
        "GET",
        "/console/campaigns/{campaign_id}/live/panel",
        P.campaigns_read,
        _on_campaign("/live/panel", {}, S.live),
    ),
    ConsoleRoute("GET", "/console/campaigns/{campaign_id}/edit", P.campaigns_write, _view_edit),
    ConsoleRoute(
        "POST", "/console/campaigns/{campaign_id}/edit", P.campaigns_write, _edit_campaign
    ),
    ConsoleRoute(
        "POST",
        "/console/campaigns/{campaign_id}/actions/{action}",
        P.campaigns_publish,
        _on_campaign("/actions/publish", {}),
        "publish",
    ),
    ConsoleRoute(
        "POST",
        "/console/campaigns/{campaign_id}/actions/{action}",
        P.campaigns_write,
        _on_campaign("/actions/pause", {}, S.live),
        "pause",
    ),
    ConsoleRoute(
        "POST",
        "/console/campaigns/{campaign_id}/actions/{action}",
        P.budget_fund,
        _on_campaign("/actions/settle", {}, S.ended),
        "settle",
    ),
    ConsoleRoute(
        "POST",
        "/console/campaigns/{campaign_id}/fund",
        P.budget_fund,
        _on_campaign("/fund", {"amount": "12.34", "memo": "top-up"}),
    ),
    ConsoleRoute(
        "POST",
        "/console/campaigns/{campaign_id}/cap",
        P.budget_fund,
        _on_campaign("/cap", {"cap": "20000"}),
    ),
    ConsoleRoute(
        "POST",
        "/console/campaigns/{campaign_id}/channels",
        P.campaigns_write,
        _on_campaign("/channels", {"kind": "community", "code": "wx-group", "name": "Group"}),
    ),
    ConsoleRoute(
        "GET", "/console/operators", P.operators_manage, lambda _: _static("/console/operators")
    ),
    ConsoleRoute("POST", "/console/operators", P.operators_manage, _new_operator),
    ConsoleRoute(
        "POST", "/console/operators/{operator_id}/deactivate", P.operators_manage, _deactivate
    ),
    ConsoleRoute(
        "GET", "/console/api-keys", P.api_keys_manage, lambda _: _static("/console/api-keys")
    ),
    ConsoleRoute("POST", "/console/api-keys", P.api_keys_manage, _new_key),
    ConsoleRoute("POST", "/console/api-keys/{key_id}/revoke", P.api_keys_manage, _revoke),
    ConsoleRoute("GET", "/console/audit", P.audit_read, lambda _: _static("/console/audit")),
    ConsoleRoute(
        "GET", "/console/payouts", P.ledger_read, lambda _: _static("/console/payouts?state=review")
    ),
    ConsoleRoute("POST", "/console/payouts/{payout_id}/reissue", P.budget_fund, _reissue_one),
    ConsoleRoute("POST", "/console/payouts/reissue", P.budget_fund, _reissue_selected),
    ConsoleRoute("GET", "/console/codes", P.campaigns_read, lambda _: _static("/console/codes")),
    ConsoleRoute("POST", "/console/codes", P.campaigns_write, _generate_codes),
    ConsoleRoute("GET", "/console/codes/{batch_id}", P.campaigns_read, _on_batch("", {})),
    ConsoleRoute(
        "POST",
        "/console/codes/{batch_id}/activate",
        P.campaigns_publish,
        _on_batch("/activate", {"region": "浙江省杭州市", "distributor": "华东经销"}),
    ),
    ConsoleRoute(
        "POST", "/console/codes/{batch_id}/void", P.campaigns_publish, _on_batch("/void", {})
    ),
    ConsoleRoute(
        "GET", "/console/codes/{batch_id}/export", P.campaigns_write, _on_batch("/export", {})
    ),
    ConsoleRoute(
        "POST", "/console/codes/{batch_id}/purge", P.campaigns_write, _on_batch("/purge", {})
    ),
    ConsoleRoute(
        "GET",
        "/console/reconciliation",
        P.ledger_read,
        lambda _: _static("/console/reconciliation"),
    ),
    ConsoleRoute("GET", "/console/reconciliation/runs/{run}", P.ledger_read, _recon_run),
    ConsoleRoute(
        "POST",
        "/console/reconciliation/differences/{difference_id}/resolve",
        P.budget_fund,
        _resolve_one,
    ),
    ConsoleRoute("POST", "/console/reconciliation/resolve", P.budget_fund, _resolve_selected),
    ConsoleRoute("POST", "/console/reconciliation/upload", P.budget_fund, _upload_bill),
    ConsoleRoute("POST", "/console/reconciliation/fetch", P.budget_fund, _fetch_bill),
    ConsoleRoute("GET", "/console/reconciliation/pack", P.exports, _finance_pack),
]
"""Every console page and action behind a login, with the permission it needs and a request
that succeeds for a role that has it. A console route missing here fails the coverage test."""

AUTH_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/console/login"): "the login form: public",
    ("POST", "/console/login"): "the login: its own double-submit CSRF cookie, tested apart",
    ("POST", "/console/logout"): "ends the session: CSRF-checked, tested apart",
    ("POST", "/console/lang/{locale}"): "sets only the visitor's language cookie; no server state",
}
"""Console routes outside the permission table, each with the reason."""
