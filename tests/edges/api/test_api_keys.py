"""API keys: shown once, stored hashed, never more powerful than their creator."""

from __future__ import annotations

import hashlib

import httpx
from sqlalchemy import select

from jinli.accounts.domain import Role
from jinli.accounts.models import ApiKey
from jinli.platform.runtime import Runtime
from tests.factories import bearer, create_api_key, create_brand


async def test_secret_is_shown_once_and_only_its_digest_is_stored(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    brand = await create_brand(runtime)
    owner = bearer(await create_api_key(runtime, brand, Role.owner))
    created = await client.post(
        "/api/v1/api-keys", json={"name": "pos", "role": "operator"}, headers=owner
    )
    assert created.status_code == 201
    secret = created.json()["secret"]
    listed = (await client.get("/api/v1/api-keys", headers=owner)).json()["items"]
    assert all("secret" not in item for item in listed)
    async with runtime.uow(system=True) as uow:
        digests = set(await uow.session.scalars(select(ApiKey.digest)))
    assert hashlib.sha256(secret.encode()).hexdigest() in digests
    assert secret not in digests


async def test_a_developer_cannot_revoke_or_create_stronger_keys(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Revoking is as powerful as granting: a developer key cannot cut off an owner key."""
    brand = await create_brand(runtime)
    owner_secret = await create_api_key(runtime, brand, Role.owner)
    developer = bearer(await create_api_key(runtime, brand, Role.developer))
    keys = (await client.get("/api/v1/api-keys", headers=developer)).json()["items"]
    owner_key = next(k for k in keys if owner_secret.startswith(k["prefix"]))
    refused = await client.post(f"/api/v1/api-keys/{owner_key['id']}/revoke", headers=developer)
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert (await client.get("/api/v1/brand", headers=bearer(owner_secret))).status_code == 200
    stronger = await client.post(
        "/api/v1/api-keys", json={"name": "x", "role": "finance"}, headers=developer
    )
    assert stronger.status_code == 403
    own = next(k for k in keys if k["role"] == "developer")
    revoked = await client.post(f"/api/v1/api-keys/{own['id']}/revoke", headers=developer)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
