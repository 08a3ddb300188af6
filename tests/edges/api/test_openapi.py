"""The OpenAPI document and its interactive docs, served without any CDN."""

from __future__ import annotations

import httpx


async def test_openapi_document_describes_every_route(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert "/campaigns/{campaign_id}/publish" in doc["paths"]
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    fund = doc["paths"]["/campaigns/{campaign_id}/fund"]["post"]
    headers = {p["name"] for p in fund["parameters"] if p["in"] == "header"}
    assert "Idempotency-Key" in headers
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert "401" in operation["responses"], f"{method} {path} documents no 401"


async def test_docs_use_locally_installed_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/api/v1/docs")
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert (await client.get(f"/static/vendor/{asset}")).status_code == 200
