"""A scan-to-win campaign ready to scan: brand, funded live campaign, an activated batch whose
plaintext codes are read back from the printer's export (as the printer would)."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action
from jinli.codes import service as codes_service
from jinli.codes.schemas import BatchActivate, BatchCreate
from jinli.ledger import service as ledger
from jinli.ledger.domain import Balances
from jinli.payouts.models import PayoutOrder
from jinli.platform.runtime import Runtime
from jinli.scans.domain import Client
from jinli.scans.models import ScanDraw
from tests.factories import BrandFixture, create_brand, create_campaign

TIERS = {
    "kind": "tiers",
    "tiers": [
        {"amount_fen": 888, "probability_ppm": 10_000, "label": "一等奖"},
        {"amount_fen": 188, "probability_ppm": 100_000, "label": "二等奖"},
        {"amount_fen": 50, "probability_ppm": 300_000, "label": "三等奖"},
    ],
    "message": "感谢支持锦鲤茶饮",
    "link_url": "https://example.com/mini",
    "link_label": "去小程序领券",
}
SURE_WIN = {
    "kind": "tiers",
    "tiers": [{"amount_fen": 188, "probability_ppm": 1_000_000, "label": "幸运奖"}],
    "message": "感谢支持",
}
REGION = "浙江/杭州"
FAR = "广东/深圳"
"""The tests' HTTP client is 203.0.113.7, which the demo region map puts in 深圳."""


@dataclass
class World:
    runtime: Runtime
    brand: BrandFixture
    campaign_id: uuid.UUID
    batch_id: uuid.UUID
    codes: list[str]

    async def balances(self) -> Balances:
        async with self.runtime.uow(brand_id=self.brand.brand_id) as uow:
            return await ledger.verify_book(uow, self.campaign_id)

    async def draws(self) -> list[ScanDraw]:
        async with self.runtime.uow(brand_id=self.brand.brand_id) as uow:
            stmt = select(ScanDraw).where(ScanDraw.campaign_id == self.campaign_id)
            rows = list(await uow.session.scalars(stmt))
            uow.session.expunge_all()  # plain values after the unit of work closes
            return rows

    async def payouts(self) -> list[PayoutOrder]:
        async with self.runtime.uow(brand_id=self.brand.brand_id) as uow:
            stmt = select(PayoutOrder).where(PayoutOrder.campaign_id == self.campaign_id)
            rows = list(await uow.session.scalars(stmt))
            uow.session.expunge_all()
            return rows

    async def payout_count(self) -> int:
        async with self.runtime.uow(brand_id=self.brand.brand_id) as uow:
            stmt = select(func.count()).select_from(PayoutOrder)
            return int(await uow.session.scalar(stmt) or 0)


def client(openid: str | None = "o_consumer_0001", ip: str = "127.0.0.1") -> Client:
    return Client(openid=openid, device="dev-" + (openid or "anon"), ip=ip)


def export_rows(runtime: Runtime, export_name: str) -> list[dict[str, str]]:
    """The printer's CSV rows of a batch's export (``code``, ``short_code`` if any, …)."""
    env = codes_service.env_for(runtime)
    rows: list[dict[str, str]] = []
    with zipfile.ZipFile(env.exports_dir / export_name) as archive:
        for name in sorted(n for n in archive.namelist() if n.endswith(".csv")):
            rows.extend(csv.DictReader(io.StringIO(archive.read(name).decode("ascii"))))
    return rows


def export_codes(runtime: Runtime, export_name: str) -> list[str]:
    return [row["code"] for row in export_rows(runtime, export_name)]


async def add_batch(
    runtime: Runtime,
    brand: BrandFixture,
    campaign_id: uuid.UUID,
    count: int,
    *,
    region: str | None = REGION,
    short_codes: bool = False,
) -> tuple[uuid.UUID, list[str]]:
    env = codes_service.env_for(runtime)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        batch = await codes_service.generate(
            uow,
            brand.actor(),
            env,
            campaign_id,
            BatchCreate(count=count, qr_sheets=False, short_codes=short_codes),
            max_count=env.settings.sync_max_count,
        )
        if region is not None:
            await codes_service.activate(
                uow, brand.actor(), batch.id, BatchActivate(region=region, distributor="华东经销")
            )
        await uow.commit()
    assert batch.export_name is not None
    rows = export_rows(runtime, batch.export_name)
    if short_codes:  # each code's two forms, side by side: "FULL SHORT"
        return batch.id, [f"{row['code']} {row['short_code']}" for row in rows]
    return batch.id, [row["code"] for row in rows]


async def make_world(
    runtime: Runtime,
    *,
    rule: dict[str, Any] | None = None,
    funding_fen: int = 100_000,
    codes: int = 20,
    region: str | None = REGION,
    publish: bool = True,
    **campaign: Any,
) -> World:
    brand = await create_brand(runtime, name="锦鲤茶饮")
    campaign_id = await create_campaign(
        runtime,
        brand,
        funding_fen=funding_fen,
        reward_rule=rule or TIERS,
        budget_cap_fen=max(funding_fen, 1_000_000),
        **campaign,
    )
    if publish:
        async with runtime.uow(brand_id=brand.brand_id) as uow:
            await campaigns_service.transition(uow, brand.actor(), campaign_id, Action.publish)
            await uow.commit()
    batch_id, plain = await add_batch(runtime, brand, campaign_id, codes, region=region)
    return World(runtime, brand, campaign_id, batch_id, plain)


def later(runtime: Runtime, **delta: float) -> None:
    runtime.clock.advance(timedelta(**delta))  # type: ignore[attr-defined]
