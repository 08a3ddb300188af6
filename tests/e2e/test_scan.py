"""Scan-to-win from the consumer's phone, in a real headless Chromium against ``jinli serve``
with its WeChat simulator, and real ``jinli worker`` passes on the same database.

Journey: a consumer opens a bottle cap's scan link → WeChat OAuth (the simulator's silent
snsapi_base) → the scan page ("正品验证通过") → one tap → the prize page (¥1.88, the brand's
message and link) → the worker sends the transfer → "确认收款" on the simulator's WeChat page
→ the prize page says 已到账. A second scan of the same cap shows the anti-counterfeit answer;
a forged code is refused. Screenshots of the H5 pages are kept under test-artifacts/e2e/.

Set-up runs as its own process against the server's database (``python -m tests.e2e.test_scan
setup``), as the payout journey's tool does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

MOBILE = {"width": 390, "height": 844}
MESSAGE = "感谢支持锦鲤茶饮，再来一瓶！"


def test_a_consumer_scans_a_cap_wins_confirms_and_a_rescan_shows_the_answer(
    page: Any, server: Server, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    made = json.loads(
        server.tool("tests.e2e.test_scan", "setup", "--owner-email", server.owner_email)
    )
    code, other = made["codes"][0], made["codes"][1]
    page.set_viewport_size(MOBILE)

    # The QR link: WeChat OAuth happens on the way (simulator, silent), then the scan page.
    page.goto(f"/s/{code}")
    page.wait_for_url(re.compile(rf"/s/{code}(#wechat_redirect)?$"))  # WeChat's fragment stays
    expect(page.get_by_test_id("genuine")).to_have_text("✓ 正品验证通过")
    expect(page.get_by_test_id("headline")).to_have_text("最高 ¥1.88")
    page.screenshot(path=artifacts / "h5-scan.png", full_page=True)

    # One tap claims and pays; the prize page shows the prize and the brand's message.
    page.get_by_test_id("claim").click()
    page.wait_for_url(re.compile(r"/h5/prize/[0-9a-f-]{36}$"))
    prize_url = page.url
    expect(page.get_by_test_id("amount")).to_have_text("¥1.88")
    expect(page.get_by_test_id("tier")).to_have_text("幸运奖")
    expect(page.get_by_test_id("brand-message")).to_have_text(MESSAGE)
    expect(page.get_by_test_id("onward")).to_have_text("去小程序领券")
    expect(page.get_by_test_id("payout-stage")).to_have_attribute("data-stage", "pending")
    page.screenshot(path=artifacts / "h5-prize-pending.png", full_page=True)

    # The worker sends the transfer; the consumer confirms it on WeChat's (simulated) page.
    server.jinli("worker", "--once")
    page.reload()
    expect(page.get_by_test_id("payout-stage")).to_have_text("请确认收款")
    page.screenshot(path=artifacts / "h5-prize.png", full_page=True)
    size = len(page.content().encode())
    confirm = page.get_by_test_id("confirm").get_attribute("href")
    assert confirm is not None
    assert "/wechat-sim/pages/transfer?package=" in confirm
    wechat = page.context.new_page()  # WeChat's own confirm screen (wx.requestMerchantTransfer)
    wechat.set_viewport_size(MOBILE)
    wechat.goto(confirm)
    wechat.get_by_role("button", name="确认收款").click()
    expect(wechat.get_by_text(re.compile("转账中|已收款"))).to_be_visible()
    wechat.screenshot(path=artifacts / "h5-wechat-confirm.png", full_page=True)
    wechat.close()
    deadline = time.monotonic() + 20
    page.goto(prize_url)
    while "已到账" not in page.content() and time.monotonic() < deadline:
        time.sleep(0.5)  # WeChat settles the confirmed transfer, then calls Jinli back
        page.reload()
    expect(page.get_by_test_id("payout-stage")).to_have_text("已到账")
    page.screenshot(path=artifacts / "h5-prize-paid.png", full_page=True)

    # The same cap scanned again: the anti-counterfeit answer, never a second prize.
    page.goto(f"/s/{code}")
    expect(page.get_by_test_id("answer")).to_contain_text("此码已被扫描 2 次，首次扫描于")
    expect(page.get_by_test_id("answer")).to_contain_text("（杭州）")
    expect(page.get_by_test_id("claim")).to_have_count(0)
    page.screenshot(path=artifacts / "h5-answer.png", full_page=True)

    # A forged code: refused, and the untouched cap next to it still offers its prize.
    forged = page.goto("/s/" + "7" * 24)
    assert forged is not None
    assert forged.status == 404
    expect(page.get_by_test_id("h5-message")).to_contain_text("未查到此码")
    page.screenshot(path=artifacts / "h5-not-genuine.png", full_page=True)
    page.goto(f"/s/{other}")
    expect(page.get_by_test_id("claim")).to_be_visible()
    print(f"\nH5 prize page: {size} bytes of HTML")  # noqa: T201 - page size figure (-s)


# --- the set-up tool (run in its own process against the server's database) ------------------


async def setup(owner_email: str) -> dict[str, Any]:
    from jinli.accounts import service as accounts_service
    from jinli.app.bootstrap import bootstrap
    from jinli.campaigns import service as campaigns_service
    from jinli.campaigns.domain import Action
    from jinli.campaigns.schemas import CampaignCreate
    from jinli.codes import service as codes_service
    from jinli.codes.schemas import BatchActivate, BatchCreate
    from jinli.scans import service as scans_service
    from tests.integration.scans._world import export_codes

    runtime = bootstrap()
    try:
        async with runtime.uow(system=True) as uow:
            owner = await accounts_service.operator_by_email(uow, owner_email)
            assert owner is not None, f"no operator {owner_email}"
            brand_id = owner.brand_id
        actor = accounts_service.system_actor(brand_id, "e2e")
        now = runtime.clock.now()
        env = codes_service.env_for(runtime)
        async with runtime.uow(brand_id=brand_id) as uow:
            campaign = await campaigns_service.create(
                uow,
                actor,
                CampaignCreate.model_validate(
                    {
                        "name": "锦鲤茶饮 · 开盖有奖",
                        "description": "扫瓶盖码，赢现金红包",
                        "budget_cap_fen": 100_000,
                        "initial_funding_fen": 10_000,
                        "starts_at": (now - timedelta(minutes=5)).isoformat(),
                        "ends_at": (now + timedelta(days=7)).isoformat(),
                        "reward_rule": {
                            "kind": "tiers",
                            "tiers": [
                                {"amount_fen": 188, "probability_ppm": 1_000_000, "label": "幸运奖"}
                            ],
                            "message": MESSAGE,
                            "link_url": "https://example.com/mini-program",
                            "link_label": "去小程序领券",
                        },
                    }
                ),
            )
            batch = await codes_service.generate(
                uow,
                actor,
                env,
                campaign.id,
                BatchCreate(count=5, label="E2E caps", qr_sheets=False),
                max_count=env.settings.sync_max_count,
            )
            await codes_service.activate(
                uow, actor, batch.id, BatchActivate(region="浙江/杭州", distributor="杭州华东经销")
            )
            await scans_service.prepare_publish(uow, actor, campaign.id)
            await campaigns_service.transition(uow, actor, campaign.id, Action.publish)
            await uow.commit()
        assert batch.export_name is not None
        return {"campaign_id": str(campaign.id), "codes": export_codes(runtime, batch.export_name)}
    finally:
        await runtime.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("setup")
    made.add_argument("--owner-email", required=True)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(setup(args.owner_email))))  # noqa: T201 - the tool's output


if __name__ == "__main__":
    main()
