"""S2, the BOLA/BFLA/BOPLA matrix: two brands × every role × every REST route, over HTTP.

The routes come from the app's own OpenAPI document, so a new route is attempted as soon as it
exists; ``ROUTES`` says which permission each one needs (the spec, written from
``ROLE_PERMISSIONS``) and the matrix fails on any route the table does not know.

Per route with an object id, a cell is (brand of the key, role of the key):
- brand A's key on brand A's object succeeds (2xx) iff its role has the permission, else 403
  ``permission_denied``;
- brand B's key on brand A's object never succeeds: 404 if B's role could act on such an
  object of its own (it is invisible), 403 if it could not (the same answer as for an id that
  does not exist, so nothing leaks); either way the object is unchanged.
Routes without an object id (lists, creates) get the BFLA cells and, for lists, a check that
nothing of the other brand shows up, not even in ``total``. Every route also answers 401
``invalid_api_key`` to no key, a garbage key, a key of the wrong scheme and a revoked key.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import ROLE_PERMISSIONS, Permission, Role
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action, CampaignStatus
from jinli.campaigns.schemas import ChannelCreate
from jinli.codes import service as codes_service
from jinli.codes.schemas import BatchCreate
from jinli.kernel.pagination import PageRequest
from jinli.payouts.domain import PayoutState
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.edges._payouts import create_payout
from tests.edges.reconciliation import _objects as recon
from tests.factories import (
    PASSWORD,
    BrandFixture,
    bearer,
    campaign_payload,
    create_api_key,
    create_brand,
    create_campaign,
)

API = "/api/v1"
P = Permission
S = CampaignStatus
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class RouteSpec:
    """What a route needs, and how to build a request that succeeds when it is allowed."""

    permission: Permission | None
    """``None``: any valid API key of the brand (e.g. reading the brand itself)."""
    state: CampaignStatus | None = None
    """For campaign routes that change it: the status in which the call succeeds."""
    body: Callable[[Runtime], dict[str, Any]] | None = None


def _new_operator(_: Runtime) -> dict[str, Any]:
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    return {"email": email, "name": "New", "role": "operator", "password": PASSWORD}


def _new_campaign(runtime: Runtime) -> dict[str, Any]:
    return campaign_payload(runtime, reward_rule={"kind": "none"})


ROUTES: dict[tuple[str, str], RouteSpec] = {
    ("GET", "/brand"): RouteSpec(None),
    ("GET", "/operators"): RouteSpec(P.operators_manage),
    ("POST", "/operators"): RouteSpec(P.operators_manage, body=_new_operator),
    ("GET", "/operators/{operator_id}"): RouteSpec(P.operators_manage),
    ("POST", "/operators/{operator_id}/deactivate"): RouteSpec(P.operators_manage),
    ("GET", "/api-keys"): RouteSpec(P.api_keys_manage),
    ("POST", "/api-keys"): RouteSpec(
        P.api_keys_manage, body=lambda _: {"name": "made in the matrix", "role": "developer"}
    ),
    ("POST", "/api-keys/{key_id}/revoke"): RouteSpec(P.api_keys_manage),
    ("GET", "/audit-log"): RouteSpec(P.audit_read),
    ("GET", "/campaigns"): RouteSpec(P.campaigns_read),
    ("POST", "/campaigns"): RouteSpec(P.campaigns_write, body=_new_campaign),
    ("GET", "/campaigns/{campaign_id}"): RouteSpec(P.campaigns_read),
    ("PATCH", "/campaigns/{campaign_id}"): RouteSpec(
        P.campaigns_write, S.draft, lambda _: {"name": "Renamed"}
    ),
    ("POST", "/campaigns/{campaign_id}/publish"): RouteSpec(P.campaigns_publish, S.draft),
    ("POST", "/campaigns/{campaign_id}/unpublish"): RouteSpec(P.campaigns_publish, S.scheduled),
    ("POST", "/campaigns/{campaign_id}/start"): RouteSpec(P.campaigns_publish, S.scheduled),
    ("POST", "/campaigns/{campaign_id}/pause"): RouteSpec(P.campaigns_write, S.live),
    ("POST", "/campaigns/{campaign_id}/resume"): RouteSpec(P.campaigns_write, S.paused),
    ("POST", "/campaigns/{campaign_id}/end"): RouteSpec(P.campaigns_write, S.live),
    ("POST", "/campaigns/{campaign_id}/settle"): RouteSpec(P.budget_fund, S.ended),
    ("POST", "/campaigns/{campaign_id}/fund"): RouteSpec(
        P.budget_fund, S.draft, lambda _: {"amount_fen": 100}
    ),
    ("POST", "/campaigns/{campaign_id}/cap"): RouteSpec(
        P.budget_fund, S.draft, lambda _: {"budget_cap_fen": 2_000_000}
    ),
    ("GET", "/campaigns/{campaign_id}/budget"): RouteSpec(P.campaigns_read),
    ("GET", "/campaigns/{campaign_id}/live"): RouteSpec(P.campaigns_read),
    ("GET", "/campaigns/{campaign_id}/ledger"): RouteSpec(P.ledger_read),
    ("GET", "/campaigns/{campaign_id}/channels"): RouteSpec(P.campaigns_read),
    ("POST", "/campaigns/{campaign_id}/channels"): RouteSpec(
        P.campaigns_write,
        S.draft,
        lambda _: {"kind": "community", "code": "wx-group", "name": "WeChat group"},
    ),
    ("GET", "/payouts"): RouteSpec(P.ledger_read),
    ("GET", "/payouts/{payout_id}"): RouteSpec(P.ledger_read),
    ("POST", "/payouts/{payout_id}/reissue"): RouteSpec(P.budget_fund),
    ("GET", "/code-batches"): RouteSpec(P.campaigns_read),
    ("GET", "/campaigns/{campaign_id}/code-batches"): RouteSpec(P.campaigns_read),
    ("POST", "/campaigns/{campaign_id}/code-batches"): RouteSpec(
        P.campaigns_write, S.draft, lambda _: {"count": 3, "label": "matrix"}
    ),
    ("GET", "/code-batches/{batch_id}"): RouteSpec(P.campaigns_read),
    ("POST", "/code-batches/{batch_id}/activate"): RouteSpec(
        P.campaigns_publish, body=lambda _: {"region": "杭州", "distributor": "华东经销"}
    ),
    ("POST", "/code-batches/{batch_id}/void"): RouteSpec(P.campaigns_publish),
    ("GET", "/code-batches/{batch_id}/export"): RouteSpec(P.campaigns_write),
    ("POST", "/code-batches/{batch_id}/export/purge"): RouteSpec(P.campaigns_write),
    ("GET", "/reconciliation/runs"): RouteSpec(P.ledger_read),
    ("GET", "/reconciliation/differences"): RouteSpec(P.ledger_read),
    ("POST", "/reconciliation/differences/{difference_id}/resolve"): RouteSpec(
        P.budget_fund, body=lambda _: {"note": "checked with WeChat Pay"}
    ),
    ("GET", "/campaigns/{campaign_id}/finance-pack"): RouteSpec(P.exports),
}
"""(method, path under /api/v1) → what it needs. A route missing here fails the matrix."""

OBJECT_PARAMS = {
    "campaign_id": "campaign",
    "operator_id": "operator",
    "key_id": "api_key",
    "payout_id": "payout",
    "batch_id": "batch",
    "difference_id": "difference",
}
PARAM = re.compile(r"{(\w+)}")


def _may(role: Role, spec: RouteSpec) -> bool:
    return spec.permission is None or spec.permission in ROLE_PERMISSIONS[role]


def _params(template: str) -> list[str]:
    return PARAM.findall(template)


async def _openapi_routes(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    doc = (await client.get(f"{API}/openapi.json")).json()
    return sorted(
        (method.upper(), path)
        for path, operations in doc["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    )


# --- the two brands and their objects ----------------------------------------------------------


@dataclass
class Tenant:
    brand: BrandFixture
    keys: dict[Role, str]
    campaign_ids: set[uuid.UUID] = field(default_factory=set)
    operator_ids: set[uuid.UUID] = field(default_factory=set)
    key_ids: set[uuid.UUID] = field(default_factory=set)
    payout_ids: set[uuid.UUID] = field(default_factory=set)
    batch_ids: set[uuid.UUID] = field(default_factory=set)
    difference_ids: set[uuid.UUID] = field(default_factory=set)

    def owns(self) -> set[str]:
        ids = self.campaign_ids | self.operator_ids | self.key_ids | self.payout_ids
        ids |= self.batch_ids | self.difference_ids
        return {str(i) for i in ids}


async def _tenant(runtime: Runtime, name: str) -> Tenant:
    brand = await create_brand(runtime, name)
    tenant = Tenant(brand, {role: await create_api_key(runtime, brand, role) for role in Role})
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        owner = await accounts_service.operator_by_email(uow, brand.owner_email)
        assert owner is not None
        tenant.operator_ids.add(owner.id)
        keys = await accounts_service.list_api_keys(uow, brand.actor(), PageRequest(limit=100))
        tenant.key_ids.update(k.id for k in keys.items)
    return tenant


class Objects:
    """Makes brand A's objects: a shared read-only set, and a fresh one per mutating cell."""

    def __init__(self, runtime: Runtime, tenant: Tenant) -> None:
        self.runtime = runtime
        self.tenant = tenant
        self.shared: dict[str, uuid.UUID] = {}

    async def campaign(self, state: CampaignStatus, *, funding_fen: int = 0) -> uuid.UUID:
        now = self.runtime.clock.now()
        starts = now + timedelta(days=1) if state == S.scheduled else now - timedelta(hours=1)
        cid = await create_campaign(
            self.runtime,
            self.tenant.brand,
            funding_fen=funding_fen,
            reward_rule={"kind": "none"},
            starts_at=starts.isoformat(),
            ends_at=(now + timedelta(days=8)).isoformat(),
        )
        steps = {
            S.draft: [],
            S.scheduled: [Action.publish],
            S.live: [Action.publish],
            S.paused: [Action.publish, Action.pause],
            S.ended: [Action.publish, Action.end],
        }[state]
        for action in steps:
            async with self.runtime.uow(brand_id=self.tenant.brand.brand_id) as uow:
                await campaigns_service.transition(uow, self.tenant.brand.actor(), cid, action)
                await uow.commit()
        self.tenant.campaign_ids.add(cid)
        return cid

    async def operator(self) -> uuid.UUID:
        async with self.runtime.uow(brand_id=self.tenant.brand.brand_id) as uow:
            operator = await accounts_service.create_operator(
                uow,
                self.tenant.brand.actor(),
                email=f"target-{uuid.uuid4().hex[:8]}@example.com",
                name="Target",
                role=Role.operator,
                password=PASSWORD,
            )
            await uow.commit()
        self.tenant.operator_ids.add(operator.id)
        return operator.id

    async def api_key(self) -> uuid.UUID:
        async with self.runtime.uow(brand_id=self.tenant.brand.brand_id) as uow:
            key, _ = await accounts_service.create_api_key(
                uow, self.tenant.brand.actor(), name="target", role=Role.developer
            )
            await uow.commit()
        self.tenant.key_ids.add(key.id)
        return key.id

    async def payout(self) -> uuid.UUID:
        """A failed transfer (reissuable), on a funded campaign of its own."""
        made = await create_payout(self.runtime, self.tenant.brand, state=PayoutState.failed)
        self.tenant.payout_ids.add(made)
        return made

    async def batch(self) -> uuid.UUID:
        """A generated code batch (activatable, voidable, with its export) of a draft campaign."""
        campaign = await self.campaign(S.draft)
        env = codes_service.env_for(self.runtime)
        async with self.runtime.uow(brand_id=self.tenant.brand.brand_id) as uow:
            made = await codes_service.generate(
                uow, self.tenant.brand.actor(), env, campaign, BatchCreate(count=3), max_count=10
            )
            await uow.commit()
        self.tenant.batch_ids.add(made.id)
        return made.id

    async def difference(self) -> uuid.UUID:
        """An open reconciliation difference (a payout of yesterday missing from the bill)."""
        made = await recon.open_difference(self.runtime, self.tenant.brand)
        self.tenant.difference_ids.add(made)
        return made

    async def for_route(self, spec: RouteSpec, param: str, method: str) -> uuid.UUID:
        """A fresh object for a call that changes state; a shared one for reads."""
        kind = OBJECT_PARAMS[param]
        if method == "GET" and kind in self.shared:
            return self.shared[kind]
        if kind == "campaign" and method == "GET":
            # Something to read: a funded live campaign with a ledger entry and a channel.
            made = await self.campaign(S.live, funding_fen=1000)
            poster = ChannelCreate(kind="offline_qr", code="poster", name="Poster")
            async with self.runtime.uow(brand_id=self.tenant.brand.brand_id) as uow:
                await campaigns_service.add_channel(uow, self.tenant.brand.actor(), made, poster)
                await uow.commit()
        elif kind == "campaign":
            made = await self.campaign(spec.state or S.live)
        elif kind == "operator":
            made = await self.operator()
        elif kind == "payout":
            made = await self.payout()
        elif kind == "batch":
            made = await self.batch()
        elif kind == "difference":
            made = await self.difference()
        else:
            made = await self.api_key()
        if method == "GET":
            self.shared[kind] = made
        return made


async def _snapshot(client: httpx.AsyncClient, owner: dict[str, str], kind: str, oid: str) -> Any:
    """What brand A's owner sees of one object: must not move when a refused call hits it."""
    if kind == "campaign":
        detail = (await client.get(f"{API}/campaigns/{oid}", headers=owner)).json()
        channels = (await client.get(f"{API}/campaigns/{oid}/channels", headers=owner)).json()
        batches = (await client.get(f"{API}/campaigns/{oid}/code-batches", headers=owner)).json()
        return detail, channels, batches
    if kind == "operator":
        return (await client.get(f"{API}/operators/{oid}", headers=owner)).json()
    if kind == "batch":
        return (await client.get(f"{API}/code-batches/{oid}", headers=owner)).json()
    if kind == "difference":
        listed = await client.get(f"{API}/reconciliation/differences?limit=200", headers=owner)
        return [d for d in listed.json()["items"] if d["id"] == oid]
    if kind == "payout":
        detail = (await client.get(f"{API}/payouts/{oid}", headers=owner)).json()
        listed = (await client.get(f"{API}/payouts?limit=1", headers=owner)).json()["total"]
        return detail, listed
    keys = (await client.get(f"{API}/api-keys?limit=200", headers=owner)).json()["items"]
    return [k for k in keys if k["id"] == oid]


# --- running cells -----------------------------------------------------------------------------


@dataclass
class Tally:
    cells: int = 0
    unauthorised_successes: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    def record(self, label: str, response: httpx.Response, expected: int | str) -> bool:
        """Count one cell; ``expected`` is a status or ``"2xx"``. True if it matched."""
        self.cells += 1
        got = response.status_code
        if got >= 500:
            self.server_errors.append(f"{label}: {got} {response.text[:200]}")
        if expected == "2xx":
            ok = 200 <= got < 300
        else:
            ok = got == expected
            if 200 <= got < 300:
                self.unauthorised_successes.append(f"{label}: {got} (expected {expected})")
            elif ok and not _is_problem(response, expected):
                ok = False
        if not ok:
            self.mismatches.append(
                f"{label}: got {got}, expected {expected}: {response.text[:200]}"
            )
        return ok


def _is_problem(response: httpx.Response, status: int | str) -> bool:
    if not response.headers.get("content-type", "").startswith(PROBLEM_JSON):
        return False
    body = response.json()
    if status == 403:
        return bool(body.get("code") == "permission_denied")
    if status == 401:
        return bool(body.get("code") == "invalid_api_key")
    return bool(body.get("status") == status)


async def _send(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None,
) -> httpx.Response:
    if method != "GET":
        headers = {**headers, "Idempotency-Key": str(uuid.uuid4())}
    return await client.request(method, API + path, headers=headers, json=body)


def _fill(template: str, values: dict[str, str]) -> str:
    return PARAM.sub(lambda m: values[m.group(1)], template)


async def _object_cell(
    tally: Tally,
    client: httpx.AsyncClient,
    runtime: Runtime,
    objects: Objects,
    a: Tenant,
    caller: Tenant,
    role: Role,
    route: tuple[str, str],
) -> None:
    method, template = route
    spec = ROUTES[route]
    (param,) = _params(template)
    oid = str(await objects.for_route(spec, param, method))
    owner = bearer(a.keys[Role.owner])
    before = await _snapshot(client, owner, OBJECT_PARAMS[param], oid)
    body = spec.body(runtime) if spec.body else None
    response = await _send(
        client, method, _fill(template, {param: oid}), bearer(caller.keys[role]), body
    )
    same_brand = caller is a
    label = f"{method} {template} as {'A' if same_brand else 'B'}/{role}"
    if same_brand and _may(role, spec):
        tally.record(label, response, "2xx")
        return
    expected = 404 if _may(role, spec) else 403
    tally.record(label, response, expected)
    after = await _snapshot(client, owner, OBJECT_PARAMS[param], oid)
    if after != before:
        tally.unauthorised_successes.append(f"{label}: the object changed ({response.status_code})")


async def _unknown_id_cell(
    tally: Tally, client: httpx.AsyncClient, runtime: Runtime, a: Tenant, route: tuple[str, str]
) -> None:
    method, template = route
    spec = ROUTES[route]
    values = {p: str(uuid.uuid4()) for p in _params(template)}
    body = spec.body(runtime) if spec.body else None
    response = await _send(
        client, method, _fill(template, values), bearer(a.keys[Role.owner]), body
    )
    tally.record(f"{method} {template} on an unknown id", response, 404)


async def _collection_cell(
    tally: Tally,
    client: httpx.AsyncClient,
    runtime: Runtime,
    a: Tenant,
    b: Tenant,
    role: Role,
    route: tuple[str, str],
) -> None:
    method, template = route
    spec = ROUTES[route]
    body = spec.body(runtime) if spec.body else None
    response = await _send(client, method, template, bearer(b.keys[role]), body)
    label = f"{method} {template} as B/{role}"
    if not _may(role, spec):
        tally.record(label, response, 403)
        return
    if not tally.record(label, response, "2xx") or method != "GET":
        return
    data = response.json()
    items = data.get("items", [data]) if isinstance(data, dict) else data
    leaked = a.owns() & set(re.findall(r"[0-9a-f-]{36}", response.text))
    if str(a.brand.brand_id) in response.text or leaked:
        tally.unauthorised_successes.append(f"{label}: shows brand A's objects {sorted(leaked)}")
    if isinstance(data, dict) and "total" in data and data["total"] != len(items):
        tally.unauthorised_successes.append(
            f"{label}: total {data['total']} counts rows it does not show ({len(items)})"
        )


BOPLA: list[tuple[str, str, Callable[[Runtime, Tenant], dict[str, Any]], set[Role], int]] = [
    ("POST", "/api-keys", lambda *_: {"name": "escalate", "role": "owner"}, {Role.owner}, 403),
    ("POST", "/operators", lambda rt, _: {**_new_operator(rt), "role": "owner"}, {Role.owner}, 403),
    (
        "POST",
        "/campaigns",
        lambda rt, _: campaign_payload(rt, initial_funding_fen=100),
        {Role.owner},
        403,
    ),
    (
        "POST",
        "/campaigns",
        lambda rt, other: {**_new_campaign(rt), "brand_id": str(other.brand.brand_id)},
        set(),
        422,
    ),
    (
        "POST",
        "/operators",
        lambda rt, other: {**_new_operator(rt), "brand_id": str(other.brand.brand_id)},
        set(),
        422,
    ),
]
"""Writes of protected fields: (method, path, body, roles that may, answer to the others).
Granting more than one holds (an owner key, initial funding without ``budget:fund``) is a 403;
a field no caller may set (``brand_id``) is a 422. Either way nothing is created."""

PROTECTED_CAMPAIGN_FIELDS: list[dict[str, Any]] = [
    {"status": "live"},
    {"budget_cap_fen": 1},
    {"published_at": "2026-11-23T12:00:00+08:00"},
    {"brand_id": str(uuid.uuid4())},
    {"id": str(uuid.uuid4())},
]
"""Fields of a campaign that PATCH must refuse outright, even to the owner (BOPLA)."""


async def _bopla_cells(
    tally: Tally,
    client: httpx.AsyncClient,
    runtime: Runtime,
    objects: Objects,
    a: Tenant,
    b: Tenant,
) -> None:
    for method, path, make_body, allowed, refused in BOPLA:
        for role in Role:
            before = await _counts(client, a)
            body = make_body(runtime, b)
            response = await _send(client, method, path, bearer(a.keys[role]), body)
            label = f"{method} {path} {sorted(body)} as A/{role}"
            if role in allowed:
                tally.record(label, response, "2xx")
                continue
            tally.record(label, response, refused)
            if await _counts(client, a) != before:
                tally.unauthorised_successes.append(f"{label}: something was created")
    owner = bearer(a.keys[Role.owner])
    for fields in PROTECTED_CAMPAIGN_FIELDS:
        cid = str(await objects.campaign(S.draft))
        before = await _snapshot(client, owner, "campaign", cid)
        response = await _send(client, "PATCH", f"/campaigns/{cid}", owner, fields)
        label = f"PATCH /campaigns/{{campaign_id}} {sorted(fields)} as A/owner"
        tally.record(label, response, 422)
        if await _snapshot(client, owner, "campaign", cid) != before:
            tally.unauthorised_successes.append(f"{label}: the campaign changed")


async def _counts(client: httpx.AsyncClient, tenant: Tenant) -> tuple[int, ...]:
    owner = bearer(tenant.keys[Role.owner])
    totals = []
    for path in ("/campaigns", "/operators", "/api-keys"):
        totals.append((await client.get(f"{API}{path}?limit=1", headers=owner)).json()["total"])
    return tuple(totals)


# --- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_route_table_knows_every_route_in_the_openapi_document(
    client: httpx.AsyncClient,
) -> None:
    """Every (method, path) the API publishes has a row in ROUTES, and no row is stale."""
    published = set(await _openapi_routes(client))
    assert published, "the OpenAPI document lists no routes"
    unknown = sorted(published - set(ROUTES))
    stale = sorted(set(ROUTES) - published)
    assert not unknown, f"routes missing from the authz table (add them to ROUTES): {unknown}"
    assert not stale, f"ROUTES rows for routes that no longer exist: {stale}"
    for _, path in published:
        assert set(_params(path)) <= set(OBJECT_PARAMS), f"{path}: unknown object id parameter"


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_no_role_of_either_brand_gets_past_its_permissions_or_its_brand(
    client: httpx.AsyncClient, runtime: Runtime, backend: str
) -> None:
    """Every route × brand × role succeeds iff own brand and permitted; nothing else does."""
    started = time.perf_counter()
    a = await _tenant(runtime, "Brand A")
    b = await _tenant(runtime, "Brand B")
    await Objects(runtime, b).campaign(S.live)
    await Objects(runtime, b).operator()
    await Objects(runtime, b).payout()
    await Objects(runtime, b).batch()
    await Objects(runtime, b).difference()
    objects = Objects(runtime, a)
    tally = Tally()
    routes = await _openapi_routes(client)
    unknown = [r for r in routes if r not in ROUTES]
    assert not unknown, f"routes missing from the authz table: {unknown}"

    for route in routes:
        if _params(route[1]):
            for caller in (a, b):
                for role in Role:
                    await _object_cell(tally, client, runtime, objects, a, caller, role, route)
            await _unknown_id_cell(tally, client, runtime, a, route)
        else:
            for role in Role:
                await _collection_cell(tally, client, runtime, a, b, role, route)
    await _bopla_cells(tally, client, runtime, objects, a, b)

    elapsed = time.perf_counter() - started
    print(  # noqa: T201 - the figures for the reliability report (visible with -s)
        f"\nS2 authz matrix [{backend}]: {tally.cells} cells over {len(routes)} routes | "
        f"unauthorised successes {len(tally.unauthorised_successes)} | "
        f"5xx {len(tally.server_errors)} | mismatches {len(tally.mismatches)} | {elapsed:.1f} s"
    )
    assert tally.cells >= len(routes) * len(Role)
    assert tally.unauthorised_successes == []
    assert tally.server_errors == []
    assert tally.mismatches == [], "\n".join(tally.mismatches)


BAD_CREDENTIALS: dict[str, Callable[[str], dict[str, str]]] = {
    "no key": lambda _: {},
    "garbage key": lambda _: bearer("jl_" + "x" * 43),
    "not a jinli key": lambda _: bearer("garbage"),
    "another scheme": lambda _: {"Authorization": "Basic b3duZXI6cGFzc3dvcmQ="},
    "revoked key": lambda revoked: bearer(revoked),
}


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_every_route_refuses_missing_garbage_and_revoked_keys_with_401(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Missing, garbage, wrong-scheme or revoked keys get a 401 invalid_api_key problem."""
    brand = await create_brand(runtime)
    revoked = await create_api_key(runtime, brand, Role.owner)
    works = await client.get(f"{API}/brand", headers=bearer(revoked))
    assert works.status_code == 200, "the key must work before it is revoked"
    listed = (await client.get(f"{API}/api-keys", headers=bearer(revoked))).json()["items"]
    revoke_id = next(k["id"] for k in listed if revoked.startswith(k["prefix"]))
    done = await _send(client, "POST", f"/api-keys/{revoke_id}/revoke", bearer(revoked), None)
    assert done.status_code == 200, done.text
    campaign = str(await create_campaign(runtime, brand))
    failures = []
    cells = 0
    for method, template in await _openapi_routes(client):
        path = _fill(template, dict.fromkeys(_params(template), campaign))
        spec = ROUTES.get((method, template))
        body = spec.body(runtime) if spec and spec.body else None
        for name, credential in BAD_CREDENTIALS.items():
            cells += 1
            response = await _send(client, method, path, credential(revoked), body)
            if response.status_code != 401 or not _is_problem(response, 401):
                failures.append(f"{method} {template} with {name}: {response.status_code}")
    print(f"\n401 checks: {cells} cells, {len(failures)} failures")  # noqa: T201 - report
    assert failures == []
