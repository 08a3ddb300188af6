"""The reconciliation pages of the console: runs with the brand's differences by class, a run's
differences filtered by class and state, resolving with a note (all or nothing, audited),
uploading a bill (a malformed one is a friendly error and writes nothing), fetching a day from
WeChat Pay, and the finance pack download. Other brands see none of it."""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import structlog
from sqlalchemy import func, select

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import Role
from jinli.app.web import create_app
from jinli.integrations.wechatpay.bills import EXPENSE
from jinli.kernel.pagination import PageRequest
from jinli.platform.runtime import Runtime
from jinli.reconciliation import service as recon_service
from jinli.reconciliation.models import ReconciliationRun
from tests.conftest import BACKENDS
from tests.edges.reconciliation import _objects as recon
from tests.edges.web._console import CLIENT_IP, Browser, changed_tables, csrf_of, db_state
from tests.factories import BrandFixture, create_brand, create_campaign, create_operator
from tests.integration.reconciliation import scenario

DIFF_ROW = re.compile(r'data-testid="difference-row" data-number="([^"]+)" data-class="([^"]+)"')


@pytest.fixture
async def transport(runtime: Runtime) -> AsyncIterator[httpx.ASGITransport]:
    with structlog.testing.capture_logs():
        yield httpx.ASGITransport(app=create_app(runtime), client=(CLIENT_IP, 50000))


async def _browser(
    transport: httpx.ASGITransport, runtime: Runtime, brand: BrandFixture, role: Role
) -> Browser:
    one = Browser(transport)
    email = brand.owner_email if role == Role.owner else await create_operator(runtime, brand, role)
    assert (await one.login(email)).status_code == 303
    return one


async def _runs(runtime: Runtime) -> int:
    async with runtime.uow(system=True) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(ReconciliationRun)))


class Day:
    """Yesterday for one brand: a payout WeChat shows, one it does not, a 1-fen mismatch,
    and a row that is nobody's."""

    def __init__(self, runtime: Runtime, brand: BrandFixture) -> None:
        self.runtime, self.brand = runtime, brand

    async def build(self) -> str:
        rt, brand = self.runtime, self.brand
        campaign = await create_campaign(rt, brand, reward_rule={"kind": "none"})
        fine = await recon.paid_yesterday(rt, brand, 188, campaign)
        self.missing = await recon.paid_yesterday(rt, brand, 500, campaign)
        self.off = await recon.paid_yesterday(rt, brand, 300, campaign)
        writer = scenario._Writer()
        rows = [
            writer.row(fine.created_at, fine.mode, EXPENSE, 188, fine.number),
            writer.row(self.off.created_at, self.off.mode, EXPENSE, 301, self.off.number),
            writer.row(fine.created_at, fine.mode, EXPENSE, 999, "X00000001"),
        ]
        return recon.bill_text(rows)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_finance_uploads_sees_filters_and_resolves_differences(
    runtime: Runtime, transport: httpx.ASGITransport
) -> None:
    """Upload → the run's page: the brand's two differences (the unattributed row is not
    the brand's), filters by class and state; an empty note is refused and changes nothing;
    resolving both with one note closes them, audited; the list then shows 0 open."""
    brand = await create_brand(runtime)
    day = Day(runtime, brand)
    bill = await day.build()
    finance = await _browser(transport, runtime, brand, Role.finance)
    token = await finance.csrf()

    uploaded = await finance.http.post(
        "/console/reconciliation/upload",
        data={"csrf_token": token, "bill_date": str(recon.yesterday(runtime))},
        files={"bill": ("fundflow.csv", bill.encode(), "text/csv")},
    )
    assert uploaded.status_code == 303, uploaded.text[:500]
    run_url = uploaded.headers["location"].split("?")[0]
    assert run_url.startswith("/console/reconciliation/runs/")

    page = await finance.http.get(run_url)
    assert page.status_code == 200
    assert sorted(DIFF_ROW.findall(page.text)) == sorted(
        [(day.missing.number, "missing_on_wechat"), (day.off.number, "amount_mismatch")]
    )
    assert "X00000001" not in page.text
    assert "¥-5.00" in page.text
    assert "¥0.01" in page.text
    only = await finance.http.get(run_url, params={"difference_class": "amount_mismatch"})
    assert DIFF_ROW.findall(only.text) == [(day.off.number, "amount_mismatch")]

    ids = re.findall(r'name="difference_id" value="([^"]+)"', page.text)
    assert len(ids) == 2
    before = await db_state(runtime)
    refused = await finance.http.post(
        "/console/reconciliation/resolve",
        data={"csrf_token": token, "difference_id": ids, "note": "  ", "back": run_url},
    )
    assert refused.status_code == 303
    assert "error=resolution_note_required" in refused.headers["location"]
    assert changed_tables(before, await db_state(runtime)) == []

    done = await finance.http.post(
        "/console/reconciliation/resolve",
        data={
            "csrf_token": token,
            "difference_id": ids,
            "note": "WeChat confirmed",
            "back": run_url,
        },
    )
    assert done.status_code == 303
    assert "error=" not in done.headers["location"]
    after = await finance.http.get(run_url, params={"open_only": "1"})
    assert DIFF_ROW.findall(after.text) == []
    resolved = await finance.http.get(run_url)
    assert resolved.text.count('data-testid="difference-note">WeChat confirmed<') == 2

    runs = await finance.http.get("/console/reconciliation")
    assert 'data-open="0"' in runs.text
    assert 'data-testid="nav-reconciliation"' in runs.text
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        audit = await accounts_service.list_audit(uow, brand.actor(), PageRequest(limit=50))
        actions = [e.action for e in audit.items]
    assert actions.count("reconciliation.difference_resolved") == 2
    assert actions.count("reconciliation.bill_imported") == 1


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda text: text.replace("`1.88", "`1.8x", 1), "bill_amount_invalid"),
        (lambda text: text[: text.index("资金流水总笔数")], "bill_truncated"),
        (lambda text: "not,a,bill\r\n", "bill_header_invalid"),
    ],
    ids=["bad amount", "truncated", "not a bill"],
)
async def test_a_malformed_bill_is_a_friendly_error_and_writes_nothing(
    runtime: Runtime, transport: httpx.ASGITransport, mutate: object, code: str
) -> None:
    """The operator lands back on the runs page with the reason in their language; no run,
    no difference, no audit entry."""
    brand = await create_brand(runtime)
    bill = await Day(runtime, brand).build()
    finance = await _browser(transport, runtime, brand, Role.finance)
    token = await finance.csrf()
    before = await db_state(runtime)
    response = await finance.http.post(
        "/console/reconciliation/upload",
        data={"csrf_token": token, "bill_date": str(recon.yesterday(runtime))},
        files={"bill": ("fundflow.csv", mutate(bill).encode(), "text/csv")},  # type: ignore[operator]
    )
    assert response.status_code == 303
    assert f"error={code}" in response.headers["location"]
    assert changed_tables(before, await db_state(runtime)) == []
    shown = await finance.http.get(response.headers["location"])
    assert 'data-testid="action-error"' in shown.text
    assert "Traceback" not in shown.text


async def test_an_upload_above_the_body_limit_is_refused_before_it_is_read(
    runtime: Runtime,
) -> None:
    """The upload route has its own, larger limit (``max_upload_bytes``, 64 MB by default;
    lowered to 2 MB here): a 1.5 MB file passes the app's 1 MB body limit and reaches the
    bill check (rejected as malformed, friendly), a 2 MB + 1 file is stopped with a 413 page
    for the browser before it is read; nothing is written either way. The page states it."""
    runtime.settings.max_upload_bytes = 2_000_000
    transport = httpx.ASGITransport(app=create_app(runtime), client=(CLIENT_IP, 50000))
    brand = await create_brand(runtime)
    finance = await _browser(transport, runtime, brand, Role.finance)
    token = await finance.csrf()
    page = await finance.http.get("/console/reconciliation")
    assert "最大 2 MB" in page.text
    before = await db_state(runtime)
    form = {"csrf_token": token, "bill_date": str(recon.yesterday(runtime))}
    within = await finance.http.post(
        "/console/reconciliation/upload",
        data=form,
        files={"bill": ("big.csv", b"x" * 1_500_000, "text/csv")},
    )
    assert within.status_code == 303
    assert "error=bill_header_invalid" in within.headers["location"]
    response = await finance.http.post(
        "/console/reconciliation/upload",
        data=form,
        files={"bill": ("big.csv", b"x" * 2_000_001, "text/csv")},
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "文件太大" in response.text
    assert changed_tables(before, await db_state(runtime)) == []


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_fetching_a_day_from_wechat_pay(
    runtime: Runtime, transport: httpx.ASGITransport
) -> None:
    """Without a wired bill source the operator is told so; with one, yesterday (no
    activity at WeChat) gets a fetched run; today has no bill yet."""
    brand = await create_brand(runtime)
    finance = await _browser(transport, runtime, brand, Role.finance)
    token = await finance.csrf()
    day = str(recon.yesterday(runtime))
    runtime.extras.pop(recon_service.BILL_SOURCE)  # as in a process without WeChat Pay
    unwired = await finance.http.post(
        "/console/reconciliation/fetch", data={"csrf_token": token, "bill_date": day}
    )
    assert "error=bill_source_unavailable" in unwired.headers["location"]
    assert await _runs(runtime) == 0

    recon.install_bill_source(runtime)
    today = str(recon.yesterday(runtime) + timedelta(days=1))
    too_early = await finance.http.post(
        "/console/reconciliation/fetch", data={"csrf_token": token, "bill_date": today}
    )
    assert "error=invalid_bill_date" in too_early.headers["location"]
    fetched = await finance.http.post(
        "/console/reconciliation/fetch", data={"csrf_token": token, "bill_date": day}
    )
    assert fetched.status_code == 303
    assert "error=" not in fetched.headers["location"]
    runs = await finance.http.get("/console/reconciliation")
    assert f'data-day="{day}"' in runs.text
    assert "从微信支付下载" in runs.text
    assert await _runs(runtime) == 1


async def test_the_finance_pack_downloads_as_xlsx_and_csv(
    runtime: Runtime, transport: httpx.ASGITransport
) -> None:
    """Both formats come as attachments named after the campaign and month; a bad month is
    an error on the page, not a download."""
    brand = await create_brand(runtime)
    campaign = await create_campaign(runtime, brand)
    finance = await _browser(transport, runtime, brand, Role.finance)
    page = await finance.http.get("/console/reconciliation")
    assert f'<option value="{campaign}">' in page.text
    month = recon.yesterday(runtime).strftime("%Y-%m")
    xlsx = await finance.http.get(
        "/console/reconciliation/pack", params={"campaign_id": str(campaign), "month": month}
    )
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert f"{month}.xlsx" in xlsx.headers["content-disposition"]
    assert xlsx.content[:2] == b"PK"
    csv = await finance.http.get(
        "/console/reconciliation/pack",
        params={"campaign_id": str(campaign), "month": month, "format": "csv"},
    )
    assert csv.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(csv.content)).namelist()
    assert names[0] == "01_summary.csv"
    bad = await finance.http.get(
        "/console/reconciliation/pack", params={"campaign_id": str(campaign), "month": "2026-13"}
    )
    assert bad.status_code == 303
    assert "error=invalid_month" in bad.headers["location"]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_another_brand_sees_the_run_but_none_of_the_differences(
    runtime: Runtime, transport: httpx.ASGITransport
) -> None:
    """The run is the merchant's: brand B sees the day with zero counts, not A's numbers,
    cannot resolve A's difference (404) nor download A's campaign pack (404)."""
    a, b = await create_brand(runtime, "A"), await create_brand(runtime, "B")
    diff = await recon.open_difference(runtime, a)
    campaign = await create_campaign(runtime, a)
    intruder = await _browser(transport, runtime, b, Role.finance)
    runs = await intruder.http.get("/console/reconciliation")
    assert 'data-testid="run-row"' in runs.text
    assert 'data-open="0"' in runs.text
    run_url = re.findall(r'href="(/console/reconciliation/runs/[^"]+)"', runs.text)[0]
    page = await intruder.http.get(run_url)
    assert DIFF_ROW.findall(page.text) == []
    before = await db_state(runtime)
    token = csrf_of(page)
    refused = await intruder.http.post(
        f"/console/reconciliation/differences/{diff}/resolve",
        data={"csrf_token": token, "note": "not mine"},
    )
    assert refused.status_code == 404
    pack = await intruder.http.get(
        "/console/reconciliation/pack", params={"campaign_id": str(campaign), "month": "2026-11"}
    )
    assert pack.status_code == 404
    assert changed_tables(before, await db_state(runtime)) == []
    unknown = await intruder.http.get(f"/console/reconciliation/runs/{uuid.uuid4()}")
    assert unknown.status_code == 404


async def test_an_operator_sees_the_runs_but_no_import_or_resolve_controls(
    runtime: Runtime, transport: httpx.ASGITransport
) -> None:
    """Operators read; finance acts: no upload, fetch, pack or resolve controls."""
    brand = await create_brand(runtime)
    await recon.open_difference(runtime, brand)
    operator = await _browser(transport, runtime, brand, Role.operator)
    runs = await operator.http.get("/console/reconciliation")
    assert runs.status_code == 200
    assert 'data-testid="upload-form"' not in runs.text
    assert 'data-testid="pack-form"' not in runs.text
    run_url = re.findall(r'href="(/console/reconciliation/runs/[^"]+)"', runs.text)[0]
    page = await operator.http.get(run_url)
    assert len(DIFF_ROW.findall(page.text)) == 1
    assert 'name="difference_id"' not in page.text
