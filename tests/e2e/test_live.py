"""The live campaign page in a real headless Chromium against a real ``jinli serve``.

Journey: a live bottle-cap campaign with six hours of synthetic scans (and two real payouts
holding budget) → log in → campaign page → 实时看板: the numbers, the four Chart.js charts,
the tables → new scans arrive → the panel refreshes by itself (htmx polling) and redraws its
charts. A screenshot of the page goes to ``test-artifacts/e2e/live.png``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

TOOL = "tests.e2e.analytics._live_tool"
CHARTS = ("live-burn-chart", "live-hours-chart", "live-tiers-chart", "live-payouts-chart")
REFRESH_WAIT_MS = 20_000
"""The panel polls every 5 s; allow a few polls before calling it broken."""


def _log_in(page: Page, server: Server) -> None:
    page.goto("/console")
    page.wait_for_url(re.compile(r"/console/login"))
    page.get_by_label("邮箱", exact=True).fill(server.owner_email)
    page.get_by_label("密码", exact=True).fill(server.owner_password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{server.base_url}/console")


def _charts_drawn(page: Page) -> None:
    for chart in CHARTS:
        expect(page.get_by_test_id(chart)).to_have_attribute("data-rendered", "true")


def test_the_live_page_draws_its_charts_and_refreshes_by_itself(
    page: Page, server: Server, artifacts: Path
) -> None:
    made = json.loads(server.tool(TOOL, "setup", "--owner-email", server.owner_email))
    campaign_id, valid = made["campaign_id"], made["valid"]
    assert valid > 20

    _log_in(page, server)
    expect(page.get_by_test_id("dashboard-live-link")).to_be_visible()
    page.goto(f"/console/campaigns/{campaign_id}")
    page.get_by_test_id("campaign-live").click()
    page.wait_for_url(f"{server.base_url}/console/campaigns/{campaign_id}/live")

    expect(page.get_by_role("heading", level=1)).to_contain_text("锦鲤瓶盖扫码赢红包")
    expect(page.get_by_test_id("live-valid")).to_have_text(str(valid))
    expect(page.get_by_test_id("live-reserved")).to_have_text("¥10.76")  # the two payouts
    expect(page.get_by_test_id("live-remaining")).to_have_text("¥189.24")
    expect(page.get_by_test_id("live-payout-created")).to_contain_text("2")
    expect(page.get_by_test_id("live-cross-region-alert")).to_have_count(1)
    expect(page.get_by_test_id("live-cross-region")).to_contain_text("广东省广州市")
    expect(page.get_by_text("每小时扫码")).to_be_visible()
    expect(page.get_by_test_id("live-tier").first).to_be_visible()
    _charts_drawn(page)
    first_stamp = page.get_by_test_id("live-as-of").inner_text()

    server.tool(
        TOOL,
        "more",
        "--owner-email",
        server.owner_email,
        "--campaign-id",
        campaign_id,
        "--claims",
        "5",
    )
    # No reload: the panel polls and swaps itself; wait for the new count to appear.
    expect(page.get_by_test_id("live-valid")).to_have_text(str(valid + 5), timeout=REFRESH_WAIT_MS)
    expect(page.get_by_test_id("live-guessing-alert")).to_have_count(1)
    expect(page.get_by_test_id("live-guessing")).to_contain_text("1200")
    assert page.get_by_test_id("live-as-of").inner_text() != first_stamp
    _charts_drawn(page)  # the swapped-in canvases are drawn too
    assert page.url.endswith(f"/campaigns/{campaign_id}/live")

    page.screenshot(path=artifacts / "live.png", full_page=True)
