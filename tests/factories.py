"""Plain async helpers that create things through the services, as a brand would."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import Actor, ActorKind, Role
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.schemas import CampaignCreate
from jinli.platform.runtime import Runtime

PASSWORD = "correct-horse-battery"


@dataclass
class BrandFixture:
    brand_id: uuid.UUID
    owner_email: str
    password: str = PASSWORD

    def actor(self, role: Role = Role.owner) -> Actor:
        return Actor(
            brand_id=self.brand_id, kind=ActorKind.system, id=None, name=f"test-{role}", role=role
        )


async def create_brand(runtime: Runtime, name: str = "Brand") -> BrandFixture:
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    async with runtime.uow(system=True) as uow:
        brand, _ = await accounts_service.create_brand(
            uow, name=name, owner_email=email, owner_name="Owner", owner_password=PASSWORD
        )
        await uow.commit()
    return BrandFixture(brand_id=brand.id, owner_email=email)


async def create_operator(runtime: Runtime, brand: BrandFixture, role: Role) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        await accounts_service.create_operator(
            uow, brand.actor(), email=email, name=str(role), role=role, password=PASSWORD
        )
        await uow.commit()
    return email


async def create_api_key(runtime: Runtime, brand: BrandFixture, role: Role = Role.owner) -> str:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        _, secret = await accounts_service.create_api_key(
            uow, brand.actor(), name=f"{role} key", role=role
        )
        await uow.commit()
    return secret


def campaign_payload(runtime: Runtime, **overrides: Any) -> dict[str, Any]:
    now = runtime.clock.now()
    data: dict[str, Any] = {
        "name": "Bottle caps",
        "description": "扫码赢红包",
        "budget_cap_fen": 1_000_000,
        "initial_funding_fen": 0,
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(days=7)).isoformat(),
        "reward_rule": {"kind": "fixed", "amount_fen": 188},
    }
    data.update(overrides)
    return data


async def create_campaign(
    runtime: Runtime, brand: BrandFixture, *, funding_fen: int = 0, **overrides: Any
) -> uuid.UUID:
    data = CampaignCreate.model_validate(
        campaign_payload(runtime, initial_funding_fen=funding_fen, **overrides)
    )
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        campaign = await campaigns_service.create(uow, brand.actor(), data)
        await uow.commit()
    return campaign.id


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
