"""Payouts in the states the edge tests need, made through the services as the worker would."""

from __future__ import annotations

import uuid

from jinli.kernel.money import Fen
from jinli.payouts import service as payouts_service
from jinli.payouts.domain import PayoutMode, PayoutState, Verdict
from jinli.payouts.ports import GatewayResult
from jinli.platform.runtime import Runtime
from tests.factories import BrandFixture, create_campaign


async def create_payout(
    runtime: Runtime,
    brand: BrandFixture,
    *,
    state: PayoutState = PayoutState.failed,
    amount_fen: int = 188,
    campaign_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """A transfer payout of ``brand`` in ``state`` (pending, awaiting_user or failed)."""
    if campaign_id is None:
        campaign_id = await create_campaign(
            runtime, brand, funding_fen=10_000, reward_rule={"kind": "none"}
        )
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        order = await payouts_service.create_payout(
            uow,
            campaign_id=campaign_id,
            amount_fen=Fen(amount_fen),
            openid=f"o-edge-{uuid.uuid4().hex[:8]}",
            mode=PayoutMode.transfer,
            cause=f"edge-test:{uuid.uuid4()}",
            remark="扫码红包",
            activity="边界测试",
        )
        await uow.commit()
        payout_id = order.id
    if state == PayoutState.pending:
        return payout_id
    verdict = {
        PayoutState.failed: Verdict.failed,
        PayoutState.awaiting_user: Verdict.awaiting_user,
    }[state]
    async with runtime.uow(system=True) as uow:
        claimed = await payouts_service.claim_due(uow, limit=1000)
        await uow.commit()
    assert payout_id in {c.payout_id for c in claimed}, "the new payout was not due"
    for one in claimed:
        result = GatewayResult(
            verdict if one.payout_id == payout_id else Verdict.retry_later,
            wechat_state="FAIL" if verdict == Verdict.failed else "WAIT_USER_CONFIRM",
            fail_reason="TRANSFER_TIMEOUT" if verdict == Verdict.failed else None,
        )
        async with runtime.uow(brand_id=one.brand_id) as uow:
            await payouts_service.record_result(uow, one.payout_id, result)
            await uow.commit()
    return payout_id
