"""Code batches over REST: create (idempotent, limited), read, activate, download, purge."""

from __future__ import annotations

import io
import uuid
import zipfile

import httpx
import pytest

from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.factories import bearer, create_api_key, create_brand, create_campaign

API = "/api/v1"
pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


async def test_a_batch_through_its_whole_life(client: httpx.AsyncClient, runtime: Runtime) -> None:
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand))
    campaign = await create_campaign(runtime, brand, reward_rule={"kind": "none"})
    body = {"count": 120, "label": "Line 3", "short_codes": True}
    idem = {**key, "Idempotency-Key": str(uuid.uuid4())}
    made = await client.post(f"{API}/campaigns/{campaign}/code-batches", headers=idem, json=body)
    assert made.status_code == 201, made.text
    batch = made.json()
    assert batch["status"] == "generated"
    assert batch["size"] == 120
    assert batch["export_available"]
    replay = await client.post(f"{API}/campaigns/{campaign}/code-batches", headers=idem, json=body)
    assert replay.json()["id"] == batch["id"]
    listed = (await client.get(f"{API}/campaigns/{campaign}/code-batches", headers=key)).json()
    assert [b["id"] for b in listed["items"]] == [batch["id"]], "the replay generated nothing"

    download = await client.get(f"{API}/code-batches/{batch['id']}/export", headers=key)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert download.headers["x-content-sha256"] == batch["export_sha256"]
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        lines = archive.read("codes-00001.csv").decode().splitlines()
    assert lines[0] == "serial,code,short_code,url"
    assert len(lines) == 121

    ship = {"region": "浙江省杭州市", "distributor": "华东经销"}
    active = await client.post(f"{API}/code-batches/{batch['id']}/activate", headers=key, json=ship)
    assert active.json()["status"] == "active"
    assert active.json()["region"] == "浙江省杭州市"
    twice = await client.post(f"{API}/code-batches/{batch['id']}/activate", headers=key, json=ship)
    assert twice.status_code == 409
    assert twice.json()["code"] == "code_batch_illegal_transition"
    purged = await client.post(f"{API}/code-batches/{batch['id']}/export/purge", headers=key)
    assert purged.json()["export_available"] is False
    gone = await client.get(f"{API}/code-batches/{batch['id']}/export", headers=key)
    assert gone.status_code == 409
    assert gone.json()["code"] == "code_export_purged"
    shown = (await client.get(f"{API}/code-batches/{batch['id']}", headers=key)).json()
    assert shown["export_downloads"] == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"count": 0}, 422, "validation_failed"),
        ({"count": "10"}, 422, "validation_failed"),
        ({"count": 10, "brand_id": str(uuid.uuid4())}, 422, "validation_failed"),
        ({"count": 100_001}, 422, "code_batch_too_large"),
        ({"count": 2_001, "qr_sheets": True}, 422, "code_batch_too_large"),
    ],
)
async def test_bad_batches_are_problems_and_create_nothing(
    client: httpx.AsyncClient, runtime: Runtime, body: dict[str, object], status: int, code: str
) -> None:
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand))
    campaign = await create_campaign(runtime, brand)
    headers = {**key, "Idempotency-Key": str(uuid.uuid4())}
    response = await client.post(
        f"{API}/campaigns/{campaign}/code-batches", headers=headers, json=body
    )
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    listed = (await client.get(f"{API}/code-batches", headers=key)).json()
    assert listed["total"] == 0
    assert list((runtime.settings.data_dir / "codes").rglob("*.zip")) == []


async def test_activation_needs_region_and_distributor(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand))
    campaign = await create_campaign(runtime, brand)
    made = await client.post(
        f"{API}/campaigns/{campaign}/code-batches",
        headers={**key, "Idempotency-Key": str(uuid.uuid4())},
        json={"count": 2},
    )
    batch = made.json()["id"]
    for body in ({}, {"region": "杭州"}, {"region": "", "distributor": "x"}):
        response = await client.post(f"{API}/code-batches/{batch}/activate", headers=key, json=body)
        assert response.status_code == 422
    still = (await client.get(f"{API}/code-batches/{batch}", headers=key)).json()
    assert still["status"] == "generated"
