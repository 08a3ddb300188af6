"""Issue 4's acceptance journey, scan-to-win end to end, in a real headless Chromium against a
real ``jinli serve`` with its WeChat simulator and real ``jinli worker`` passes.

Everything the operator does goes through the console's pages: log in → new campaign (a tier
table with one 100 % tier, so every scan wins ¥1.88; funded on the form) → publish → generate
a batch of codes → activate it (shipped to 浙江/杭州) → download the printer's zip, whose URL
column is what the QR codes carry → open the live page and leave it polling. The consumer (a
second browser profile, a phone) opens one code's scan link → WeChat OAuth on the simulator
(silent: the default ``snsapi_base`` scope has no consent page) → taps 拆红包 → sees the prize →
the worker sends the transfer → the consumer follows 确认收款 to the simulator's WeChat page
and confirms → the prize page says 已到账. The operator's live page, without a reload, shows
the scan and the ¥1.88 paid. The same link opened again gives the anti-counterfeit answer,
and nothing more is paid: the live page, the campaign's budget and its payouts still show
one payout of ¥1.88.
"""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from jinli.kernel.clock import SHANGHAI
from tests.e2e.conftest import BrowserProblems, Server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Request, ViewportSize

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CAMPAIGN = "锦鲤茶饮 · 扫码赢红包"
COPY = "扫描瓶盖内的二维码，100% 中奖，现金红包直接到微信零钱。"
MESSAGE = "感谢支持锦鲤茶饮，再来一瓶！"
REGION, CITY, DISTRIBUTOR = "浙江/杭州", "杭州", "杭州华东经销"
BATCH_SIZE = 5
MOBILE: ViewportSize = {"width": 390, "height": 844}
WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560 NetType/WIFI Language/zh_CN"
)
REFRESH_WAIT_MS = 20_000
"""The live panel polls every 5 s; allow a few polls before calling it broken."""
SETTLE_WAIT_S = 20.0
"""WeChat settles a confirmed transfer after a moment, then calls Jinli back."""


def _local(value: datetime) -> str:
    """The value a ``datetime-local`` input takes, in Beijing time."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def _log_in(page: Page, server: Server) -> None:
    page.goto("/console")
    page.wait_for_url(re.compile(r"/console/login"))
    page.get_by_label("邮箱", exact=True).fill(server.owner_email)
    page.get_by_label("密码", exact=True).fill(server.owner_password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{server.base_url}/console")


def _create_and_publish(page: Page, server: Server) -> str:
    """The campaign, created and funded on the form, then published; its id."""
    page.get_by_test_id("nav-campaigns").click()
    page.get_by_test_id("new-campaign").click()
    page.wait_for_url(f"{server.base_url}/console/campaigns/new")
    now = datetime.now(SHANGHAI)
    page.get_by_label("名称", exact=True).fill(CAMPAIGN)
    page.get_by_label("活动文案（消费者可见）", exact=True).fill(COPY)
    page.get_by_label("预算上限（元）", exact=True).fill("1000")
    page.get_by_label("首次注资（元）", exact=True).fill("100")
    page.get_by_label("开始时间（北京时间）", exact=True).fill(_local(now - timedelta(minutes=5)))
    page.get_by_label("结束时间（北京时间）", exact=True).fill(_local(now + timedelta(days=7)))
    page.get_by_label("奖项档位", exact=True).check()
    page.get_by_label(re.compile("^档位：每行一个")).fill("1.88 100 幸运奖")
    page.get_by_test_id("page-message").fill(MESSAGE)
    page.get_by_test_id("page-link-url").fill("https://example.com/mini-program")
    page.get_by_label("链接文字", exact=True).fill("去小程序领券")
    expect(page.get_by_test_id("payout-mode")).to_have_value("transfer")
    page.get_by_test_id("save-campaign").click()

    page.wait_for_url(re.compile(r"/console/campaigns/[0-9a-f-]{36}\?notice="))
    expect(page.get_by_test_id("campaign-status")).to_have_text("草稿")
    expect(page.get_by_test_id("budget-funded")).to_have_text("¥100.00")
    expect(page.get_by_test_id("tier-row")).to_have_count(1)
    expect(page.get_by_test_id("tier-row")).to_contain_text("幸运奖")
    expect(page.get_by_test_id("tier-row")).to_contain_text("¥1.88")
    detail_url = page.url.split("?", 1)[0]
    campaign_id = detail_url.rsplit("/", 1)[1]

    page.get_by_test_id("action-publish").click()
    page.wait_for_url(re.compile(re.escape(detail_url) + r"\?notice="))
    expect(page.get_by_test_id("action-error")).to_have_count(0)
    expect(page.get_by_test_id("campaign-status")).to_have_text("进行中")
    return campaign_id


def _generate_and_activate(page: Page, server: Server, tmp_path: Path) -> list[str]:
    """A batch of codes for the campaign, shipped to 浙江/杭州; the scan URLs of its export."""
    page.get_by_test_id("nav-codes").click()
    page.wait_for_url(f"{server.base_url}/console/codes")
    form = page.get_by_test_id("generate-form")
    form.get_by_test_id("batch-campaign").select_option(label=CAMPAIGN)
    form.get_by_test_id("batch-count").fill(str(BATCH_SIZE))
    form.get_by_label("批次名称（印刷批）", exact=True).fill("E2E 瓶盖 11 月")
    form.locator("select[name=qr]").select_option("off")
    form.get_by_test_id("generate").click()
    page.wait_for_url(re.compile(r"/console/codes/[0-9a-f-]{36}\?notice="))
    expect(page.get_by_role("status")).to_contain_text(f"已生成码: {BATCH_SIZE}")
    expect(page.get_by_test_id("batch-size")).to_have_text(str(BATCH_SIZE))
    expect(page.get_by_test_id("batch-status")).not_to_have_text(re.compile("激活|已发货"))

    page.get_by_test_id("batch-region").fill(REGION)
    page.get_by_test_id("batch-distributor").fill(DISTRIBUTOR)
    page.get_by_test_id("activate").click()
    page.wait_for_url(re.compile(r"/console/codes/[0-9a-f-]{36}\?notice="))
    expect(page.get_by_role("status")).to_contain_text("批次已激活")
    expect(page.get_by_test_id("batch-shipment")).to_contain_text(REGION)
    expect(page.get_by_test_id("batch-shipment")).to_contain_text(DISTRIBUTOR)
    expect(page.get_by_test_id("activate-form")).to_have_count(0)

    with page.expect_download() as download:
        page.get_by_test_id("download-export").click()
    archive_path = tmp_path / download.value.suggested_filename
    download.value.save_as(archive_path)
    urls: list[str] = []
    with zipfile.ZipFile(archive_path) as archive:
        for name in sorted(n for n in archive.namelist() if n.endswith(".csv")):
            rows = csv.DictReader(io.StringIO(archive.read(name).decode("ascii")))
            urls.extend(row["url"] for row in rows)
    assert len(urls) == BATCH_SIZE
    assert all(url.startswith(f"{server.base_url}/s/") for url in urls), urls[0]
    return urls


def _wait_paid(prize: Page, prize_url: str) -> None:
    deadline = time.monotonic() + SETTLE_WAIT_S
    prize.goto(prize_url)
    while "已到账" not in prize.content() and time.monotonic() < deadline:
        time.sleep(0.5)
        prize.reload()
    expect(prize.get_by_test_id("payout-stage")).to_have_text("已到账")


def test_operator_sets_up_scan_to_win_in_the_console_and_a_consumer_wins_once(
    page: Page, browser: Browser, server: Server, artifacts: Path, tmp_path: Path
) -> None:
    # --- the operator, in the console ---------------------------------------------------------
    _log_in(page, server)
    campaign_id = _create_and_publish(page, server)
    urls = _generate_and_activate(page, server, tmp_path)
    url = urls[0]
    code = url.rsplit("/", 1)[1]

    page.goto(f"/console/campaigns/{campaign_id}")
    page.get_by_test_id("campaign-live").click()
    page.wait_for_url(f"{server.base_url}/console/campaigns/{campaign_id}/live")
    expect(page.get_by_test_id("live-valid")).to_have_text("0")
    expect(page.get_by_test_id("live-paid")).to_have_text("¥0.00")
    expect(page.get_by_test_id("live-panel")).to_have_attribute("hx-trigger", "every 5s")

    # --- the consumer, on a phone (a second browser profile) ----------------------------------
    phone = browser.new_context(
        base_url=server.base_url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport=MOBILE,
        is_mobile=True,
        has_touch=True,
        user_agent=WECHAT_UA,
    )
    phone.set_default_timeout(5_000)
    problems = BrowserProblems()
    phone.on("page", lambda p: _watch(p, problems))
    navigations: list[str] = []
    phone.on("request", lambda r: _navigation(r, navigations))
    try:
        consumer = phone.new_page()
        first_scan = datetime.now(SHANGHAI)
        consumer.goto(url)  # WeChat OAuth on the way (the simulator), then the scan page
        consumer.wait_for_url(re.compile(rf"/s/{code}(#wechat_redirect)?$"))
        expect(consumer.get_by_test_id("genuine")).to_have_text("✓ 正品验证通过")
        authorize = [u for u in navigations if "/wechat-sim/connect/oauth2/authorize?" in u]
        assert len(authorize) == 1, navigations
        assert "scope=snsapi_base" in authorize[0]
        assert any("/h5/oauth/callback?code=" in u for u in navigations), navigations
        expect(consumer.get_by_role("heading", level=1)).to_have_text(CAMPAIGN)
        expect(consumer.get_by_test_id("headline")).to_contain_text("¥1.88")

        consumer.get_by_test_id("claim").tap()
        consumer.wait_for_url(re.compile(r"/h5/prize/[0-9a-f-]{36}$"))
        prize_url = consumer.url
        expect(consumer.get_by_test_id("amount")).to_have_text("¥1.88")
        expect(consumer.get_by_test_id("tier")).to_have_text("幸运奖")
        expect(consumer.get_by_test_id("brand-message")).to_have_text(MESSAGE)
        expect(consumer.get_by_test_id("onward")).to_have_text("去小程序领券")
        expect(consumer.get_by_test_id("payout-stage")).to_have_attribute("data-stage", "pending")

        # The worker sends the transfer; the consumer confirms it on WeChat's (simulated) page.
        server.jinli("worker", "--once")
        consumer.reload()
        expect(consumer.get_by_test_id("payout-stage")).to_have_text("请确认收款")
        expect(consumer.get_by_test_id("confirm")).to_be_visible()
        consumer.screenshot(path=artifacts / "scan-to-win-prize.png", full_page=True)
        consumer.get_by_test_id("confirm").tap()
        consumer.wait_for_url(re.compile(r"/wechat-sim/pages/transfer\?package="))
        expect(consumer.get_by_text("¥1.88").first).to_be_visible()
        consumer.get_by_role("button", name="确认收款").tap()
        expect(consumer.get_by_text(re.compile("转账中|已收款"))).to_be_visible()
        deadline = time.monotonic() + SETTLE_WAIT_S
        while "已收款" not in consumer.content() and time.monotonic() < deadline:
            time.sleep(0.5)
            consumer.reload()
        expect(consumer.get_by_text("已收款，已存入零钱")).to_be_visible()
        consumer.screenshot(path=artifacts / "scan-to-win-wechat-confirm.png", full_page=True)
        _wait_paid(consumer, prize_url)
        consumer.screenshot(path=artifacts / "scan-to-win-prize-paid.png", full_page=True)

        # --- the operator's live page, still open, refreshes by itself -----------------------
        server.jinli("worker", "--once")  # relays whatever the live counters are fed from
        expect(page.get_by_test_id("live-valid")).to_have_text("1", timeout=REFRESH_WAIT_MS)
        expect(page.get_by_test_id("live-paid")).to_have_text("¥1.88", timeout=REFRESH_WAIT_MS)
        expect(page.get_by_test_id("live-repeated")).to_have_text("0")
        expect(page.get_by_test_id("live-winners")).to_have_text("1")
        paid_row = page.get_by_test_id("live-payout-succeeded").locator("td")
        expect(paid_row.nth(1)).to_have_text("1", timeout=REFRESH_WAIT_MS)
        expect(paid_row.nth(2)).to_have_text("¥1.88")
        assert page.url.endswith(f"/campaigns/{campaign_id}/live")  # never reloaded
        page.screenshot(path=artifacts / "scan-to-win-live.png", full_page=True)

        # --- the same cap scanned again: the anti-counterfeit answer, no second prize ---------
        consumer.goto(url)
        answer = consumer.get_by_test_id("answer")
        expect(answer).to_contain_text("此码已被扫描 2 次，首次扫描于 ")
        expect(answer).to_contain_text(f"（{CITY}）")
        shown = re.search(r"首次扫描于 (\S+ \S+)（", answer.inner_text())
        assert shown is not None
        stamp = datetime.strptime(shown[1], "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI)
        assert abs(stamp - first_scan.replace(second=0, microsecond=0)) <= timedelta(minutes=1)
        expect(consumer.get_by_test_id("claim")).to_have_count(0)
        consumer.screenshot(path=artifacts / "scan-to-win-rescan.png", full_page=True)
    finally:
        phone.close()
    assert not problems.report(), "the phone saw errors:\n" + "\n".join(problems.report())

    # Nothing more was paid: the live page, the budget and the payouts say one payout of ¥1.88.
    server.jinli("worker", "--once")
    expect(page.get_by_test_id("live-repeated")).to_have_text("1", timeout=REFRESH_WAIT_MS)
    expect(page.get_by_test_id("live-valid")).to_have_text("1")
    expect(page.get_by_test_id("live-paid")).to_have_text("¥1.88")
    expect(page.get_by_test_id("live-reserved")).to_have_text("¥0.00")
    expect(page.get_by_test_id("live-remaining")).to_have_text("¥98.12")
    expect(page.get_by_test_id("live-payout-succeeded").locator("td").nth(1)).to_have_text("1")
    expect(page.get_by_test_id("live-payout-created").locator("td").nth(1)).to_have_text("1")
    page.screenshot(path=artifacts / "scan-to-win-live-after-rescan.png", full_page=True)
    page.goto(f"/console/campaigns/{campaign_id}")
    expect(page.get_by_test_id("budget-paid")).to_have_text("¥1.88")
    expect(page.get_by_test_id("budget-reserved")).to_have_text("¥0.00")
    page.get_by_test_id("campaign-payouts").click()
    expect(page.get_by_test_id("payout-row")).to_have_count(1)
    expect(page.get_by_test_id("payout-amount")).to_have_text("¥1.88")
    expect(page.get_by_test_id("payout-state")).to_have_text("已到账")


def _navigation(request: Request, seen: list[str]) -> None:
    if request.is_navigation_request():
        seen.append(request.url)


def _watch(page: Page, problems: BrowserProblems) -> None:
    page.on("pageerror", problems.on_page_error)
    page.on("console", problems.on_console)
    page.on("response", problems.on_response)
