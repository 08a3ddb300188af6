"""The reconciliation REST API as a developer uses it: runs with the brand's counts, the
differences of a run, resolving one (finance; a repeat is a 409 and changes nothing), and the
finance pack of a campaign as xlsx or a zip of CSV files. (Roles and brands: the S2 matrix.)"""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest

from jinli.accounts.domain import Role
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.edges.reconciliation import _objects as recon
from tests.factories import bearer, create_api_key, create_brand

API = "/api/v1"


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_runs_differences_and_resolving_through_the_api(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """A missing payout shows in the run's counts and in its differences; finance resolves
    it with a note; the run then has nothing open; a repeat is a 409; an empty note a 422."""
    brand = await create_brand(runtime)
    diff_id = await recon.open_difference(runtime, brand)
    finance = bearer(await create_api_key(runtime, brand, Role.finance))
    developer = bearer(await create_api_key(runtime, brand, Role.developer))

    runs = (await client.get(f"{API}/reconciliation/runs", headers=finance)).json()
    assert runs["total"] == 1
    (run,) = runs["items"]
    assert (run["bill_date"], run["open_count"], run["resolved_count"]) == (
        str(recon.yesterday(runtime)),
        1,
        0,
    )
    by_class = {c["difference_class"]: (c["count"], c["amount_fen"]) for c in run["classes"]}
    assert by_class["missing_on_wechat"] == (1, -188)
    assert sum(count for count, _ in by_class.values()) == 1

    listed = await client.get(
        f"{API}/reconciliation/differences",
        params={"run_id": run["id"], "open_only": "true"},
        headers=finance,
    )
    assert [d["id"] for d in listed.json()["items"]] == [str(diff_id)]
    other_class = await client.get(
        f"{API}/reconciliation/differences",
        params={"run_id": run["id"], "difference_class": "duplicate"},
        headers=finance,
    )
    assert other_class.json()["total"] == 0

    path = f"{API}/reconciliation/differences/{diff_id}/resolve"
    denied = await client.post(path, json={"note": "x"}, headers=developer)
    assert denied.status_code == 403
    empty = await client.post(path, json={"note": ""}, headers=finance)
    assert empty.status_code == 422
    done = await client.post(path, json={"note": "WeChat reversed it"}, headers=finance)
    assert done.status_code == 200, done.text
    assert done.json()["resolution_note"] == "WeChat reversed it"
    again = await client.post(path, json={"note": "again"}, headers=finance)
    assert again.status_code == 409
    assert again.json()["code"] == "reconciliation_difference_resolved"
    after = (await client.get(f"{API}/reconciliation/runs", headers=finance)).json()["items"][0]
    assert (after["open_count"], after["resolved_count"]) == (0, 1)


async def test_the_finance_pack_through_the_api(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """xlsx by default (this month), a zip of CSV files on request; a bad month is a 422."""
    brand = await create_brand(runtime)
    payout = await recon.paid_yesterday(runtime, brand)
    finance = bearer(await create_api_key(runtime, brand, Role.finance))
    path = f"{API}/campaigns/{payout.campaign_id}/finance-pack"
    xlsx = await client.get(path, headers=finance)
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert xlsx.content[:2] == b"PK"
    month = recon.yesterday(runtime).strftime("%Y-%m")
    csv = await client.get(path, params={"month": month, "format": "csv"}, headers=finance)
    assert csv.headers["content-type"] == "application/zip"
    files = zipfile.ZipFile(io.BytesIO(csv.content))
    payouts_csv = files.read("02_payouts.csv").decode("utf-8-sig")
    assert payout.number in payouts_csv
    assert "1.88,188" in payouts_csv
    bad = await client.get(path, params={"month": "2026-13"}, headers=finance)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_month"
