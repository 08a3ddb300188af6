"""The operator console in a real headless Chromium against a real ``jinli serve``.

Journey: log in → dashboard → campaigns → new campaign → create (draft, funded) → publish
(live). Screenshots of the dashboard, the form and the published campaign go to
``test-artifacts/e2e/`` for a human to look at. The journey starts from the brand the server
fixture created, with no campaign yet.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from jinli.kernel.clock import SHANGHAI
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

CAMPAIGN_NAME = "锦鲤新品尝鲜季"
CAMPAIGN_COPY = "扫描杯套上的二维码，即可领取新品尝鲜红包，数量有限，先到先得。"


def _local(value: datetime) -> str:
    """The value a ``datetime-local`` input takes, in Beijing time."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def _log_in(page: Page, server: Server, password: str) -> None:
    page.goto("/console")
    page.wait_for_url(re.compile(r"/console/login\?next=/console$"))
    page.get_by_label("邮箱", exact=True).fill(server.owner_email)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()


def test_operator_logs_in_creates_and_publishes_a_campaign(
    page: Page, server: Server, artifacts: Path
) -> None:
    _log_in(page, server, server.owner_password)
    page.wait_for_url(f"{server.base_url}/console")
    expect(page.get_by_role("heading", level=1)).to_have_text(server.brand_name)
    expect(page.get_by_test_id("operator")).to_contain_text(server.owner_name)
    expect(page.get_by_test_id("total-funded")).to_have_text("¥0.00")
    expect(page.locator("#status-chart")).to_have_attribute("data-rendered", "true")
    expect(page.get_by_test_id("budget-chart-empty")).to_have_text("暂无数据。")
    page.screenshot(path=artifacts / "dashboard.png", full_page=True)

    page.get_by_test_id("nav-campaigns").click()
    page.wait_for_url(f"{server.base_url}/console/campaigns")
    expect(page.get_by_text("暂无数据。")).to_be_visible()
    page.get_by_test_id("new-campaign").click()
    page.wait_for_url(f"{server.base_url}/console/campaigns/new")

    now = datetime.now(SHANGHAI)
    page.get_by_label("名称", exact=True).fill(CAMPAIGN_NAME)
    page.get_by_label("活动文案（消费者可见）", exact=True).fill(CAMPAIGN_COPY)
    page.get_by_label("预算上限（元）", exact=True).fill("10000")
    page.get_by_label("首次注资（元）", exact=True).fill("5000")
    page.get_by_label("开始时间（北京时间）", exact=True).fill(_local(now - timedelta(minutes=5)))
    page.get_by_label("结束时间（北京时间）", exact=True).fill(_local(now + timedelta(days=14)))
    page.get_by_label("固定金额", exact=True).check()
    page.get_by_label("每位中奖者金额（元）", exact=True).fill("1.88")
    page.screenshot(path=artifacts / "campaign-form.png", full_page=True)
    page.get_by_test_id("save-campaign").click()

    page.wait_for_url(re.compile(r"/console/campaigns/[0-9a-f-]{36}\?notice="))
    expect(page.get_by_role("status")).to_have_text("已保存。")
    expect(page.get_by_role("heading", level=1)).to_contain_text(CAMPAIGN_NAME)
    expect(page.get_by_test_id("campaign-status")).to_have_text("草稿")
    expect(page.get_by_test_id("budget-cap")).to_have_text("¥10000.00")
    expect(page.get_by_test_id("budget-funded")).to_have_text("¥5000.00")
    expect(page.get_by_test_id("budget-available")).to_have_text("¥5000.00")
    expect(page.get_by_test_id("reward-rule")).to_have_text("固定金额: ¥1.88")
    expect(page.get_by_test_id("campaign-description")).to_have_text(CAMPAIGN_COPY)
    funding = page.get_by_test_id("ledger-row")
    expect(funding).to_have_count(1)
    expect(funding.locator("td").nth(1)).to_have_text("注资")
    expect(funding.locator("td").nth(2)).to_have_text("¥5000.00")
    detail_url = page.url.split("?", 1)[0]

    page.get_by_test_id("action-publish").click()
    page.wait_for_url(re.compile(re.escape(detail_url) + r"\?notice="))
    expect(page.get_by_test_id("action-error")).to_have_count(0)
    expect(page.get_by_test_id("campaign-status")).to_have_text("进行中")
    expect(page.get_by_test_id("action-publish")).to_have_count(0)
    expect(page.get_by_test_id("action-pause")).to_be_visible()
    expect(page.get_by_test_id("budget-funded")).to_have_text("¥5000.00")
    expect(page.get_by_test_id("ledger-row")).to_have_count(1)
    page.screenshot(path=artifacts / "campaign-published.png", full_page=True)

    # A live campaign's start is locked; an end before it is refused on the form, no traceback.
    page.get_by_role("button", name="编辑").click()
    page.wait_for_url(f"{detail_url}/edit")
    expect(page.get_by_label("开始时间（北京时间）", exact=True)).to_be_disabled()
    page.get_by_label("结束时间（北京时间）", exact=True).fill(_local(now - timedelta(days=1)))
    page.get_by_test_id("save-campaign").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("活动时间设置无效")
    expect(page.get_by_label("名称", exact=True)).to_have_value(CAMPAIGN_NAME)
    page.goto(detail_url)
    expect(page.get_by_test_id("campaign-status")).to_have_text("进行中")

    page.get_by_test_id("nav-campaigns").click()
    row = page.get_by_role("row").filter(has_text=CAMPAIGN_NAME)
    expect(row.locator(".status")).to_have_text("进行中")
    expect(row).to_contain_text("¥10000.00")

    page.get_by_role("link", name="概览").click()
    expect(page.get_by_test_id("total-funded")).to_have_text("¥5000.00")
    expect(page.get_by_test_id("total-available")).to_have_text("¥5000.00")
    expect(page.locator("#budget-chart")).to_have_attribute("data-rendered", "true")


def test_wrong_password_shows_the_error_and_does_not_log_in(
    page: Page, server: Server, artifacts: Path
) -> None:
    _log_in(page, server, "not-the-password")
    expect(page.get_by_test_id("login-error")).to_have_text("邮箱或密码错误")
    assert page.url.endswith("/console/login")
    expect(page.get_by_label("邮箱", exact=True)).to_have_value(server.owner_email)
    expect(page.get_by_label("密码", exact=True)).to_have_value("")
    expect(page.get_by_label("密码", exact=True)).to_be_focused()
    page.screenshot(path=artifacts / "login-wrong-password.png", full_page=True)
    cookies = {cookie["name"] for cookie in page.context.cookies()}
    assert "jinli_session" not in cookies

    page.goto("/console/campaigns")
    page.wait_for_url(re.compile(r"/console/login\?next=/console/campaigns$"))
    expect(page.get_by_test_id("login-error")).to_have_count(0)
