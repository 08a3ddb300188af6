"""Reconciliation in a real headless Chromium against a real ``jinli serve``.

Journey: yesterday three transfers were paid; WeChat's fund-flow bill shows one as paid, one a
fen more than we paid, and lacks the third. A finance operator uploads the bill, sees the two
differences on the run's page (the clean payout is not listed), resolves both with one note,
and the runs page then shows nothing open.

The data is prepared by this module run as a tool against the server's database and data
directory (``python -m tests.e2e.test_reconciliation setup …``), as ``_payout_tool`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

TOOL = "tests.e2e.test_reconciliation"
FINANCE_EMAIL = "finance-recon@e2e.jinli.test"
FINANCE_PASSWORD = "koi-recon-keeper-pass-2026"


def _log_in(page: Page, email: str, password: str, next_path: str) -> None:
    page.goto(next_path)
    page.get_by_label("邮箱", exact=True).fill(email)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(re.escape(next_path.split("?")[0])))


def _row(page: Page, number: str) -> Locator:
    return page.locator(f'[data-testid="difference-row"][data-number="{number}"]')


def test_finance_uploads_a_bill_sees_the_differences_and_resolves_them(
    page: Page, server: Server, artifacts: Path
) -> None:
    made = json.loads(
        server.tool(
            TOOL, "setup", "--owner-email", server.owner_email, "--password", FINANCE_PASSWORD
        )
    )
    _log_in(page, FINANCE_EMAIL, FINANCE_PASSWORD, "/console/reconciliation")
    expect(page.get_by_test_id("nav-reconciliation")).to_be_visible()
    expect(page.get_by_test_id("upload-day")).to_have_value(made["day"])
    page.get_by_test_id("upload-file").set_input_files(made["bill_path"])
    page.get_by_test_id("upload-submit").click()
    page.wait_for_url(re.compile(r"/console/reconciliation/runs/[0-9a-f-]+\?notice="))
    expect(page.get_by_role("status")).to_have_text("账单已对账")

    rows = page.get_by_test_id("difference-row")
    expect(rows).to_have_count(2)
    missing, off = _row(page, made["missing"]), _row(page, made["off"])
    expect(missing).to_contain_text("微信缺失")
    expect(missing.get_by_test_id("difference-amount")).to_have_text("¥-5.00")
    expect(off).to_contain_text("金额不符")
    expect(off.get_by_test_id("difference-amount")).to_have_text("¥0.01")
    expect(page.locator(f'[data-number="{made["fine"]}"]')).to_have_count(0)
    expect(page.get_by_test_id("open-count")).to_have_text("2")
    page.screenshot(path=artifacts / "reconciliation-differences.png", full_page=True)

    # An empty note is refused; then both are resolved with one note.
    for box in page.get_by_test_id("select-difference").all():
        box.check()
    page.get_by_test_id("resolve-selected").click()
    expect(page.get_by_test_id("action-error")).to_contain_text("处理说明")
    for box in page.get_by_test_id("select-difference").all():
        box.check()
    page.get_by_test_id("resolution-note").fill("微信客服确认：11 月对账单已更正")
    page.get_by_test_id("resolve-selected").click()
    expect(page.get_by_role("status")).to_contain_text(made["missing"])
    expect(page.get_by_test_id("difference-state")).to_have_text(["已处理", "已处理"])
    expect(page.get_by_test_id("difference-note").first).to_have_text(
        "微信客服确认：11 月对账单已更正"
    )
    expect(page.get_by_test_id("open-count")).to_have_text("0")
    page.screenshot(path=artifacts / "reconciliation-resolved.png", full_page=True)

    page.get_by_test_id("nav-reconciliation").click()
    run = page.locator(f'[data-testid="run-row"][data-day="{made["day"]}"]')
    expect(run.get_by_test_id("run-open")).to_have_text("0")
    expect(run.get_by_test_id("run-class-amount_mismatch")).to_contain_text("1")
    page.screenshot(path=artifacts / "reconciliation-runs.png", full_page=True)


# --- the tool: what the journey needs besides the browser ------------------------------------


async def setup(owner_email: str, password: str) -> dict[str, str]:
    """A finance operator, a campaign, three transfers paid yesterday (Beijing time) and the
    bill WeChat would have written for them with two differences; prints them as JSON."""
    from jinli.accounts import service as accounts_service
    from jinli.accounts.domain import Role
    from jinli.app.bootstrap import bootstrap
    from jinli.campaigns import service as campaigns_service
    from jinli.campaigns.schemas import CampaignCreate
    from jinli.integrations.wechatpay.bills import EXPENSE
    from jinli.kernel.clock import SHANGHAI
    from jinli.payouts.domain import PayoutMode, PayoutState
    from jinli.reconciliation.domain import day_bounds
    from tests.integration.reconciliation import scenario

    runtime = bootstrap()
    try:
        async with runtime.uow(system=True) as uow:
            owner = await accounts_service.operator_by_email(uow, owner_email)
            assert owner is not None, f"no operator {owner_email}"
            brand_id = owner.brand_id
        actor = accounts_service.system_actor(brand_id, "e2e")
        now = runtime.clock.now()
        async with runtime.uow(brand_id=brand_id) as uow:
            await accounts_service.create_operator(
                uow, actor, email=FINANCE_EMAIL, name="对账财务", role=Role.finance,
                password=password,
            )  # fmt: skip
            campaign = await campaigns_service.create(
                uow,
                actor,
                CampaignCreate(
                    name="锦鲤对账测试",
                    description="扫码领红包",
                    budget_cap_fen=100_000,
                    initial_funding_fen=0,
                    starts_at=now - timedelta(days=3),
                    ends_at=now + timedelta(days=7),
                    reward_rule={"kind": "none"},
                ),
            )
            await uow.commit()
        day = now.astimezone(SHANGHAI).date() - timedelta(days=1)
        start, _ = day_bounds(day)
        payouts = [
            scenario.Payout(
                uuid.uuid4(), brand_id, campaign.id, PayoutMode.transfer, PayoutState.succeeded,
                amount, start + timedelta(hours=10 + k), start + timedelta(hours=10 + k, minutes=1),
            )
            for k, amount in enumerate((188, 500, 300))
        ]  # fmt: skip
        await scenario.insert_payouts(runtime, payouts)
        fine, missing, off = payouts
        writer = scenario._Writer()
        rows = [
            writer.row(fine.created_at, fine.mode, EXPENSE, 188, fine.number),
            writer.row(off.created_at, off.mode, EXPENSE, 301, off.number),
        ]
        bill = scenario.write(Path(runtime.settings.data_dir) / f"fundflow-{day}.csv", rows)
        return {
            "day": str(day),
            "bill_path": str(bill),
            "fine": fine.number,
            "missing": missing.number,
            "off": off.number,
        }
    finally:
        await runtime.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("setup")
    made.add_argument("--owner-email", required=True)
    made.add_argument("--password", required=True)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(setup(args.owner_email, args.password))))  # noqa: T201


if __name__ == "__main__":
    main()
