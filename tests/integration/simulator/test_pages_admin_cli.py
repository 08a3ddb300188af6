"""What a demo user clicks (consumer pages), what a test drives (admin JSON), how the
simulator is served (alone or mounted) and how SDKs get its credentials (the CLI)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from jinli.integrations.simulator import (
    Credentials,
    PayoutKind,
    Simulator,
    create_simulator_app,
    credentials_dict,
)
from jinli.integrations.simulator.cli import app as cli_app
from jinli.integrations.wechatpay import WeChatPayV2Client, WeChatPayV3Client
from jinli.integrations.wechatpay.crypto import load_private_key
from jinli.kernel.clock import FrozenClock

from .conftest import HOST, OPENID, PREFIX, certificate_keys, redpack, transfer, v3_config


@pytest.fixture
async def browser(transport: httpx.ASGITransport) -> httpx.AsyncClient:
    """A client on the mounted simulator (no redirects followed)."""
    return httpx.AsyncClient(transport=transport, base_url=HOST + PREFIX)


def _no_script(response: httpx.Response) -> str:
    html = response.text
    assert "<script" not in html.lower()
    assert "script-src" not in response.headers["content-security-policy"]
    return html


class TestConsumerPages:
    async def test_confirm_a_transfer(
        self,
        v3: WeChatPayV3Client,
        sim: Simulator,
        credentials: Credentials,
        browser: httpx.AsyncClient,
    ) -> None:
        """The user's list links to the confirm page; 暂不收款 changes nothing; 确认收款
        moves the bill to TRANSFERING and then SUCCESS, as the page shows."""
        created = await v3.create_transfer_bill(transfer(credentials, "PG1", 888))
        listing = _no_script(await browser.get("/pages/user", params={"openid": OPENID}))
        assert "¥8.88" in listing
        link = re.search(r'href="([^"]*/pages/transfer\?package=[^"]+)"', listing)
        assert link is not None
        page = _no_script(await browser.get(link.group(1).removeprefix(PREFIX)))
        assert "确认收款" in page
        assert f'action="{PREFIX}/pages/transfer/confirm"' in page
        form = {"package": created.package_info or ""}
        declined = await browser.post("/pages/transfer/decline", data=form)
        assert declined.status_code == 303
        assert (await v3.get_transfer_bill("PG1")).state == "WAIT_USER_CONFIRM"
        confirmed = await browser.post("/pages/transfer/confirm", data=form)
        assert confirmed.status_code == 303
        after = await browser.get(confirmed.headers["location"].removeprefix(PREFIX))
        assert "转账中" in after.text
        sim.advance(1)
        assert (await v3.get_transfer_bill("PG1")).state == "SUCCESS"

    async def test_open_a_red_packet(
        self,
        v2: WeChatPayV2Client,
        sim: Simulator,
        credentials: Credentials,
        browser: httpx.AsyncClient,
    ) -> None:
        """An unopened packet shows 開; opening it makes it RECEIVED."""
        sent = await v2.send_redpack(redpack(credentials, "PG2", 188))
        sim.advance(1)
        listing = _no_script(await browser.get("/pages/user", params={"openid": OPENID}))
        assert f"/pages/redpack/{sent.send_listid}" in listing
        page = _no_script(await browser.get(f"/pages/redpack/{sent.send_listid}"))
        assert "開" in page
        opened = await browser.post(f"/pages/redpack/{sent.send_listid}/open")
        assert opened.status_code == 303
        assert sim.entry_state(PayoutKind.REDPACK, "PG2") == "RECEIVED"
        assert "已领取" in (await browser.get(f"/pages/redpack/{sent.send_listid}")).text

    async def test_unknown_items(self, browser: httpx.AsyncClient) -> None:
        """An unknown package or packet is a 404 page."""
        assert (await browser.get("/pages/transfer", params={"package": "x"})).status_code == 404
        assert (await browser.get("/pages/redpack/123")).status_code == 404
        assert (await browser.get("/")).status_code == 200


class TestAdmin:
    async def test_clock_faults_book_and_balance(
        self,
        v3: WeChatPayV3Client,
        sim: Simulator,
        credentials: Credentials,
        browser: httpx.AsyncClient,
    ) -> None:
        """Faults injected over HTTP reach the client; advancing 24 h over HTTP fails the
        unconfirmed bill and delivers its callback; the book and balance are JSON."""
        from jinli.integrations.wechatpay import WeChatPayCallError

        injected = await browser.post(
            "/_sim/faults", json={"operation": "transfer_create", "kind": "system_error"}
        )
        assert injected.json()["queued"]["transfer_create"][0]["kind"] == "system_error"
        with pytest.raises(WeChatPayCallError):
            await v3.create_transfer_bill(transfer(credentials, "AD1"))
        await v3.create_transfer_bill(transfer(credentials, "AD1"))
        advanced = (await browser.post("/_sim/clock/advance", json={"seconds": 86400})).json()
        [callback] = advanced["callbacks"]
        assert callback["resource"]["state"] == "FAIL"
        book = (await browser.get("/_sim/book")).json()
        assert [(e["number"], e["state"]) for e in book["entries"]] == [("AD1", "FAIL")]
        await browser.post("/_sim/balance", json={"fen": 12345})
        state = (await browser.get("/_sim/")).json()
        assert state["book"]["balance_fen"] == 12345
        assert (await browser.delete("/_sim/faults")).json()["queued"] == {}
        assert (await browser.post("/_sim/faults", json={"operation": "nope"})).status_code == 400
        assert len((await browser.get("/_sim/callbacks")).json()["attempts"]) == 1

    async def test_confirm_and_open_over_http(
        self,
        v3: WeChatPayV3Client,
        v2: WeChatPayV2Client,
        sim: Simulator,
        credentials: Credentials,
        browser: httpx.AsyncClient,
    ) -> None:
        """The admin twins of the consumer pages."""
        await v3.create_transfer_bill(transfer(credentials, "AD2"))
        await v2.send_redpack(redpack(credentials, "AD3"))
        sim.advance(1)
        assert (await browser.post("/_sim/transfers/AD2/confirm")).json() == {"confirmed": True}
        assert (await browser.post("/_sim/redpacks/AD3/open")).json() == {"opened": True}
        sim.advance(1)
        failed = await browser.post("/_sim/transfers/AD2/fail", json={"reason": "X"})
        assert failed.json() == {"failed": False}  # SUCCESS is final: WeChat cannot fail it


async def test_served_alone_without_a_prefix(credentials: Credentials, clock: FrozenClock) -> None:
    """The same app at the root of its own server: paths are signed without any prefix."""
    sim = Simulator(credentials, clock=clock)
    sim.set_base_url(HOST)
    async with WeChatPayV3Client(
        v3_config(credentials, HOST),
        certificate_keys(credentials),
        transport=httpx.ASGITransport(app=create_simulator_app(sim)),
        clock=clock,
    ) as client:
        bill = await client.create_transfer_bill(transfer(credentials, "AL1"))
    assert bill.state == "WAIT_USER_CONFIRM"


class TestCli:
    def test_credentials_json_is_stable_and_usable(self, tmp_path: Path) -> None:
        """``credentials --json`` generates the merchant once, prints everything an SDK needs
        (with key files on disk), and prints the same merchant again."""
        runner = CliRunner()
        args = ["credentials", "--json", "--data-dir", str(tmp_path)]
        first = runner.invoke(cli_app, [*args, "--base-url", "http://127.0.0.1:9100"])
        assert first.exit_code == 0, first.output
        data = json.loads(first.output)
        assert data["base_url"] == "http://127.0.0.1:9100"
        assert data["platform_public_key_id"].startswith("PUB_KEY_ID_")
        assert len(data["api_v3_key"]) == len(data["api_key"]) == 32
        for key in (
            "merchant_private_key_path",
            "merchant_certificate_path",
            "platform_certificate_path",
            "platform_public_key_path",
        ):
            assert Path(data[key]).is_file()
        key = load_private_key(Path(data["merchant_private_key_path"]).read_bytes())
        assert (
            key.private_numbers()
            == load_private_key(data["merchant_private_key"]).private_numbers()
        )
        second = json.loads(runner.invoke(cli_app, args).output)
        assert second == data
        assert credentials_dict(tmp_path / "simulator") == data
        human = runner.invoke(cli_app, ["credentials", "--data-dir", str(tmp_path)])
        assert data["mchid"] in human.output
