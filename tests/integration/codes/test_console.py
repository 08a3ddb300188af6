"""The console's Codes page as an operator uses it: generate, activate, download, purge."""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest

from jinli.accounts.domain import Role
from jinli.platform.runtime import Runtime
from tests.edges.web._console import Browser
from tests.factories import create_brand, create_campaign, create_operator


@pytest.fixture
def transport(runtime: Runtime) -> httpx.ASGITransport:
    from jinli.app.web import create_app

    return httpx.ASGITransport(app=create_app(runtime), client=("203.0.113.7", 50000))


async def test_an_operator_generates_ships_downloads_and_purges_a_batch(
    runtime: Runtime, transport: httpx.ASGITransport
) -> None:
    brand = await create_brand(runtime)
    campaign = await create_campaign(runtime, brand, name="瓶盖扫码")
    operator = Browser(transport)
    try:
        assert (
            await operator.login(await create_operator(runtime, brand, Role.operator))
        ).status_code == 303
        page = await operator.http.get("/console/codes")
        assert page.status_code == 200
        assert "瓶盖扫码" in page.text
        token = await operator.csrf()
        made = await operator.http.post(
            "/console/codes",
            data={
                "csrf_token": token,
                "campaign_id": str(campaign),
                "count": "1,500",
                "label": "L3",
                "short_codes": "on",
            },
        )
        assert made.status_code == 303, made.text
        batch_page = made.headers["location"].split("?")[0]
        detail = await operator.http.get(batch_page)
        assert 'data-testid="batch-size">1,500<' in detail.text
        assert 'data-testid="activate-form"' in detail.text
        shipped = await operator.http.post(
            f"{batch_page}/activate",
            data={"csrf_token": token, "region": "浙江省杭州市", "distributor": "华东经销"},
        )
        assert "error=" not in shipped.headers["location"]
        detail = await operator.http.get(batch_page)
        assert "浙江省杭州市" in detail.text
        assert 'data-status="active"' in (await operator.http.get("/console/codes")).text
        download = await operator.http.get(f"{batch_page}/export")
        assert download.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
            assert any(n.startswith("qr/sheet-") for n in archive.namelist())
        purged = await operator.http.post(f"{batch_page}/purge", data={"csrf_token": token})
        assert "error=" not in purged.headers["location"]
        assert 'data-testid="export-purged"' in (await operator.http.get(batch_page)).text
        again = await operator.http.get(f"{batch_page}/export")
        assert again.status_code == 303
        assert "error=code_export_purged" in again.headers["location"]
        too_many = await operator.http.post(
            "/console/codes",
            data={"csrf_token": token, "campaign_id": str(campaign), "count": "100001"},
        )
        assert "error=code_batch_too_large" in too_many.headers["location"]
    finally:
        await operator.aclose()
