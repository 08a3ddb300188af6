"""``jinli reconcile …`` through Typer: import a file, show the day, resolve, write a pack."""

from __future__ import annotations

import asyncio
import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from jinli.app.bootstrap import bootstrap
from jinli.integrations.wechatpay.bills import EXPENSE
from jinli.kernel.clock import FrozenClock
from jinli.payouts.domain import PayoutMode
from jinli.platform.runtime import Runtime
from jinli.reconciliation.cli import CliDeps, app
from jinli.reconciliation.domain import day_bounds
from tests.conftest import T0, make_settings
from tests.factories import create_brand, create_campaign
from tests.integration.reconciliation import scenario

DAY = date(2026, 11, 20)


@pytest.fixture
def closed() -> list[Runtime]:
    return []


@pytest.fixture
def deps(db_url: str, tmp_path: Path, closed: list[Runtime]) -> CliDeps:
    def open_runtime() -> Runtime:
        return bootstrap(make_settings(db_url, tmp_path), clock=FrozenClock(T0))

    def no_source(runtime: Runtime) -> object:
        raise AssertionError("no WeChat call in these tests")

    async def close(runtime: Runtime) -> None:
        closed.append(runtime)
        await runtime.aclose()

    return CliDeps(open_runtime, no_source, lambda runtime: "1900000109", close)  # type: ignore[arg-type]


def test_import_show_resolve_and_pack(deps: CliDeps, closed: list[Runtime], tmp_path: Path) -> None:
    """A bill with two rows nobody paid: the summary names the class and fen; `show` lists
    them with ids; `resolve` settles one; `pack` writes a workbook; bad input exits non-zero;
    every runtime a command opened is closed through the root's hook."""
    writer = scenario._Writer()
    at = day_bounds(DAY)[0] + timedelta(hours=9)
    rows = [writer.row(at, PayoutMode.transfer, EXPENSE, fen, f"X{fen}") for fen in (188, 300)]
    bill = scenario.write(tmp_path / "bill.csv", rows)
    runner = CliRunner()

    result = runner.invoke(app, ["import", str(bill), "--date", str(DAY)], obj=deps)
    assert result.exit_code == 0, result.output
    assert "missing_on_our_side          2  4.88 CNY (488 fen)" in result.output

    result = runner.invoke(app, ["show", "--date", str(DAY), "--open"], obj=deps)
    assert result.exit_code == 0, result.output
    ids = [line.split()[0] for line in result.output.splitlines() if " OPEN " in line]
    assert len(ids) == 2

    result = runner.invoke(app, ["resolve", ids[0], "--note", "test transfer"], obj=deps)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["show", "--date", str(DAY), "--open"], obj=deps)
    assert result.output.count(" OPEN ") == 1

    result = runner.invoke(app, ["import", str(bill), "--date", "2026-11-31"], obj=deps)
    assert result.exit_code == 2
    assert "is not a date" in result.output

    async def brand_and_campaign() -> tuple[str, str]:
        runtime = deps.open_runtime()
        try:
            brand = await create_brand(runtime)
            return str(brand.brand_id), str(await create_campaign(runtime, brand))
        finally:
            await runtime.aclose()

    brand, campaign = asyncio.run(brand_and_campaign())
    out = tmp_path / "pack.xlsx"
    args = ["pack", "--brand", brand, "--campaign", campaign, "--month", "2026-11", "--out"]
    result = runner.invoke(app, [*args, str(out)], obj=deps)
    assert result.exit_code == 0, result.output
    assert load_workbook(io.BytesIO(out.read_bytes())).sheetnames[0] == "汇总 Summary"
    assert len(closed) == 5  # import, show, resolve, show, pack


def test_the_sub_app_needs_its_dependencies(tmp_path: Path) -> None:
    """Mounted without CliDeps it fails loudly instead of guessing a database."""
    bill = scenario.write(tmp_path / "bill.csv", [])
    result = CliRunner().invoke(app, ["import", str(bill), "--date", str(DAY)])
    assert result.exit_code != 0
    assert isinstance(result.exception, RuntimeError)
