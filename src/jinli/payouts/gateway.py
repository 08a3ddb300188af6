"""The WeChat Pay adapter of the payouts port: one payout ↔ one transfer bill, one brand red
packet (a batch of one) or one v2 cash red packet, always under the payout's own number."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from jinli.integrations.wechatpay.callbacks import parse_notification
from jinli.integrations.wechatpay.client import WeChatPayV3Client
from jinli.integrations.wechatpay.errors import WeChatPayCallError
from jinli.integrations.wechatpay.models import (
    BrandRedpacketBatchCreate,
    BrandRedpacketDetailCreate,
    SceneReportInfo,
    TransferBillCreate,
)
from jinli.integrations.wechatpay.outcomes import (
    V2_REDPACK_ERR_CODES,
    V3_ERROR_CODES,
    Outcome,
    classify_transfer_state,
)
from jinli.integrations.wechatpay.v2 import SendRedpackRequest, WeChatPayV2Client
from jinli.payouts.domain import PayoutMode, Verdict
from jinli.payouts.ports import GatewayResult, Notification, PayoutRequest

AWAITING_USER_STATES = frozenset({"WAIT_USER_CONFIRM", "SENT"})

_VERDICTS = {
    Outcome.ACCEPTED: Verdict.accepted,
    Outcome.SUCCEEDED: Verdict.succeeded,
    Outcome.UNKNOWN: Verdict.unknown,
    Outcome.RETRY_LATER: Verdict.retry_later,
    Outcome.REJECTED: Verdict.rejected,
    Outcome.FAILED: Verdict.failed,
    Outcome.REFUNDED: Verdict.failed,
}


def verdict_of(outcome: Outcome, state: str | None = None) -> Verdict:
    if outcome == Outcome.ACCEPTED and state in AWAITING_USER_STATES:
        return Verdict.awaiting_user
    return _VERDICTS[outcome]


@dataclass(frozen=True)
class GatewaySettings:
    appid: str
    send_name: str = "锦鲤"
    transfer_scene_id: str = "1000"
    notify_url: str | None = None
    client_ip: str = "127.0.0.1"
    brand_id: int = 0
    brand_template_id: str = ""


class WeChatPayGateway:
    """Implements ``PayoutGateway`` with Jinli's own WeChat Pay protocol clients."""

    def __init__(
        self, v3: WeChatPayV3Client, v2: WeChatPayV2Client | None, settings: GatewaySettings
    ) -> None:
        self.v3, self.v2, self.settings = v3, v2, settings

    async def send(self, request: PayoutRequest) -> GatewayResult:
        match request.mode:
            case PayoutMode.transfer:
                return await _guard(lambda: self._send_transfer(request))
            case PayoutMode.red_packet:
                return await _guard(lambda: self._send_red_packet(request))
            case _:
                return await _guard(lambda: self._send_brand_packet(request))

    async def query(self, request: PayoutRequest) -> GatewayResult:
        match request.mode:
            case PayoutMode.transfer:
                return await _guard(lambda: self._query_transfer(request))
            case PayoutMode.red_packet:
                return await _guard(lambda: self._query_red_packet(request))
            case _:
                return await _guard(lambda: self._query_brand_packet(request))

    async def _send_transfer(self, request: PayoutRequest) -> GatewayResult:
        bill = await self.v3.create_transfer_bill(
            TransferBillCreate(
                appid=self.settings.appid,
                out_bill_no=request.bill_number,
                transfer_scene_id=self.settings.transfer_scene_id,
                openid=request.openid,
                transfer_amount_fen=request.amount_fen,
                transfer_remark=request.remark,
                scene_report_infos=(
                    SceneReportInfo("活动名称", request.activity),
                    SceneReportInfo("奖励说明", request.remark),
                ),
                notify_url=self.settings.notify_url,
                user_recv_perception="活动奖励",
            )
        )
        return GatewayResult(
            verdict_of(bill.outcome, bill.state),
            bill.state,
            bill.transfer_bill_no,
            bill.package_info,
            bill.fail_reason,
        )

    async def _query_transfer(self, request: PayoutRequest) -> GatewayResult:
        bill = await self.v3.get_transfer_bill(request.bill_number)
        return GatewayResult(
            verdict_of(bill.outcome, bill.state),
            bill.state,
            bill.transfer_bill_no,
            None,
            bill.fail_reason,
        )

    def _v2(self) -> WeChatPayV2Client:
        if self.v2 is None:
            raise WeChatPayCallError(
                "no v2 merchant configured for cash red packets",
                outcome=Outcome.REJECTED,
                api="v2.sendredpack",
            )
        return self.v2

    async def _send_red_packet(self, request: PayoutRequest) -> GatewayResult:
        sent = await self._v2().send_redpack(
            SendRedpackRequest(
                mch_billno=request.bill_number,
                wxappid=self.settings.appid,
                send_name=self.settings.send_name[:32],
                re_openid=request.openid,
                total_amount_fen=request.amount_fen,
                wishing=request.remark,
                client_ip=self.settings.client_ip,
                act_name=request.activity[:32],
                remark=request.remark,
                scene_id="PRODUCT_2" if not 100 <= request.amount_fen <= 20000 else None,
            )
        )
        return GatewayResult(Verdict.awaiting_user, "SENT", sent.send_listid)

    async def _query_red_packet(self, request: PayoutRequest) -> GatewayResult:
        info = await self._v2().get_redpack_info(request.bill_number, self.settings.appid)
        return GatewayResult(
            verdict_of(info.outcome, info.status), info.status, info.detail_id, None, info.reason
        )

    async def _send_brand_packet(self, request: PayoutRequest) -> GatewayResult:
        batch = await self.v3.create_brand_redpacket_batch(
            BrandRedpacketBatchCreate(
                brand_id=self.settings.brand_id,
                brand_appid=self.settings.appid,
                template_id=self.settings.brand_template_id,
                out_batch_no=request.bill_number,
                batch_name=request.activity[:32],
                batch_remark=request.remark,
                details=(
                    BrandRedpacketDetailCreate(
                        request.bill_number, request.amount_fen, request.openid, request.remark
                    ),
                ),
            )
        )
        return GatewayResult(Verdict.accepted, batch.batch_state, batch.batch_no)

    async def _query_brand_packet(self, request: PayoutRequest) -> GatewayResult:
        detail = await self.v3.get_brand_detail(request.bill_number, request.bill_number)
        return GatewayResult(
            verdict_of(detail.outcome, detail.detail_state),
            detail.detail_state,
            detail.detail_no,
            None,
            detail.fail_reason,
        )


class WeChatPayNotifications:
    """Implements ``NotificationReader`` for ``MCHTRANSFER.BILL.FINISHED`` notifications."""

    def __init__(self, v3: WeChatPayV3Client) -> None:
        self.v3 = v3

    def read(self, headers: dict[str, str], body: bytes) -> Notification:
        note = parse_notification(
            headers, body, verifier=self.v3.verifier, api_v3_key=self.v3.config.api_v3_key
        )
        resource = json.loads(note.plaintext)
        state = str(resource["state"])
        amount = resource["transfer_amount"]
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValueError("transfer_amount is not an integer number of fen")
        result = GatewayResult(
            verdict_of(classify_transfer_state(state), state),
            state,
            resource.get("transfer_bill_no"),
            None,
            resource.get("fail_reason"),
        )
        return Notification(note.id, str(resource["out_bill_no"]), amount, result)


def _is_unrecognised(error: WeChatPayCallError) -> bool:
    """An error code no rule covers: the human queue, never an automatic decision."""
    code = error.wechat_code
    return code is not None and code not in V3_ERROR_CODES and code not in V2_REDPACK_ERR_CODES


async def _guard(call: Callable[[], Awaitable[GatewayResult]]) -> GatewayResult:
    try:
        return await call()
    except WeChatPayCallError as error:
        return GatewayResult(
            _VERDICTS[error.outcome],
            wechat_state=error.wechat_code,
            fail_reason=error.wechat_code,
            error=f"{error.api}: {error.detail}"[:2000],
            review=_is_unrecognised(error),
        )
