"""The payout loop in a real headless Chromium, against a real ``jinli serve`` with its WeChat
Pay simulator, and real ``jinli worker`` passes on the same database.

Journey: two payouts to the simulator's demo consumer → the worker sends them → the consumer
opens the simulator's page and confirms the transfer → WeChat's signed callback settles it →
the console shows it paid (已到账). The red packet is left unopened: the simulator's clock runs
25 h, WeChat refunds it, the reconciler finds the refund → failed → a finance operator logs in
and reissues it with one click → the new payout appears under the …R1 number.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

TOOL = "tests.e2e._payout_tool"
FINANCE_PASSWORD = "koi-ledger-keeper-pass-2026"


def _log_in(page: Page, email: str, password: str, next_path: str) -> None:
    page.goto(next_path)
    page.get_by_label("邮箱", exact=True).fill(email)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(re.escape(next_path.split("?")[0])))


def _sim(server: Server, path: str, body: dict[str, Any]) -> Any:
    """POST to the simulator's control panel (what a tester does with curl)."""
    request = urllib.request.Request(  # noqa: S310 - the local e2e server
        f"{server.base_url}/wechat-sim{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


def _row(page: Page, number: str) -> Any:
    return page.locator(f'[data-testid="payout-row"][data-number="{number}"]')


def _wait_for_state(page: Page, number: str, label: str, timeout_s: float = 20.0) -> None:
    """Reload the payouts page until the row shows ``label`` (the callback is asynchronous)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page.reload()
        if _row(page, number).get_by_test_id("payout-state").inner_text() == label:
            return
        time.sleep(0.5)
    expect(_row(page, number).get_by_test_id("payout-state")).to_have_text(label)


def test_consumer_confirms_a_transfer_and_finance_reissues_a_refunded_red_packet(
    page: Page, server: Server, artifacts: Path
) -> None:
    made = json.loads(
        server.tool(
            TOOL, "setup", "--owner-email", server.owner_email, "--password", FINANCE_PASSWORD
        )
    )
    transfer, redpack = made["transfer_number"], made["redpack_number"]

    # The worker sends both: the transfer waits for the consumer, the red packet for opening.
    server.jinli("worker", "--once")
    _log_in(page, server.owner_email, server.owner_password, "/console/payouts")
    expect(_row(page, transfer).get_by_test_id("payout-state")).to_have_text("待用户确认/领取")
    expect(_row(page, redpack).get_by_test_id("payout-state")).to_have_text("待用户确认/领取")
    expect(_row(page, transfer).get_by_test_id("payout-amount")).to_have_text("¥1.88")
    expect(_row(page, redpack).get_by_test_id("payout-amount")).to_have_text("¥3.00")
    page.screenshot(path=artifacts / "payouts-sent.png", full_page=True)

    # The consumer, on the simulator's WeChat pages, confirms the transfer.
    consumer = page.context.new_page()
    consumer.set_viewport_size({"width": 390, "height": 844})
    consumer.goto(f"/wechat-sim/pages/user?openid={made['openid']}")
    consumer.get_by_role("link", name=re.compile("商家转账 ¥1.88")).click()
    consumer.get_by_role("button", name="确认收款").click()
    expect(consumer.get_by_text(re.compile("转账中|已收款"))).to_be_visible()
    deadline = time.monotonic() + 10
    while "已收款" not in consumer.content() and time.monotonic() < deadline:
        time.sleep(0.5)  # WeChat settles a confirmed transfer after a moment
        consumer.reload()
    expect(consumer.get_by_text("已收款，已存入零钱")).to_be_visible()
    consumer.screenshot(path=artifacts / "simulator-transfer-confirmed.png", full_page=True)
    consumer.close()

    # WeChat's signed, encrypted callback reaches Jinli; the console shows the payout paid.
    _wait_for_state(page, transfer, "已到账")
    expect(_row(page, transfer)).to_contain_text(transfer)
    page.screenshot(path=artifacts / "payouts-transfer-paid.png", full_page=True)

    # The red packet is never opened: 25 h later WeChat has refunded it, the reconciler sees it.
    _sim(server, "/_sim/clock/advance", {"seconds": 25 * 3600})
    queried = json.loads(server.tool(TOOL, "reconcile", "--ahead-minutes", "10"))
    assert queried["queried"] >= 1
    page.reload()
    expect(_row(page, redpack).get_by_test_id("payout-state")).to_have_text("失败/已退回")
    expect(_row(page, transfer).get_by_test_id("payout-state")).to_have_text("已到账")
    expect(_row(page, transfer).get_by_test_id("reissue")).to_have_count(0)

    # A finance operator logs in and reissues it with one click.
    page.get_by_test_id("logout").click()
    _log_in(page, "finance@e2e.jinli.test", FINANCE_PASSWORD, "/console/payouts")
    expect(page.get_by_test_id("operator")).to_contain_text("财务")
    page.get_by_test_id("payout-state-filter").select_option("failed")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url(re.compile(r"/console/payouts\?state=failed$"))
    expect(page.get_by_test_id("payout-row")).to_have_count(1)
    page.screenshot(path=artifacts / "payouts-refunded.png", full_page=True)
    _row(page, redpack).get_by_test_id("reissue").click()
    page.wait_for_url(re.compile(r"/console/payouts\?state=failed&notice="))
    expect(page.get_by_role("status")).to_contain_text(redpack + "R1")
    expect(_row(page, redpack).get_by_test_id("reissue")).to_have_count(0)
    page.get_by_test_id("nav-payouts").click()
    expect(_row(page, redpack + "R1").get_by_test_id("payout-state")).to_have_text("待发送")
    expect(_row(page, redpack + "R1").get_by_test_id("payout-amount")).to_have_text("¥3.00")
    page.screenshot(path=artifacts / "payouts-reissued.png", full_page=True)

    # The worker sends the reissue: the consumer has a new red packet to open.
    server.jinli("worker", "--once")
    page.reload()
    expect(_row(page, redpack + "R1").get_by_test_id("payout-state")).to_have_text(
        "待用户确认/领取"
    )
