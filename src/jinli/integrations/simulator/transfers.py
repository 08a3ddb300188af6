"""v3 merchant transfer, user-confirm mode (商家转账 transfer-bills; wechat-pay.md §4.1).

Rules reproduced:

- ``out_bill_no`` is the idempotency key: the same parameters return the same bill (in its
  current state, never a second payment); different parameters are 400 INVALID_REQUEST.
- Scene 1000 (现金营销) needs exactly two ``transfer_scene_report_infos``, 活动名称 and 奖励说明,
  each ≤ 32 characters; ``user_recv_perception`` is 现金奖励 or 活动奖励; the amount is within
  the configured range (0.1–200 CNY by default: 超过单笔转账上下限); ``user_name`` (OAEP to the
  platform key, with ``Wechatpay-Serial``) is refused below 0.3 CNY and required from 2000 CNY.
- State machine: ACCEPTED → PROCESSING → WAIT_USER_CONFIRM (with ``package_info``) → the user
  confirms → TRANSFERING → SUCCESS; unconfirmed for 24 h → FAIL (OVERDUE_CLOSE); a merchant
  cancel before the user confirms → CANCELING → CANCELLED. Terminal states notify
  ``MCHTRANSFER.BILL.FINISHED``.
- Money: the balance is charged when WeChat accepts the bill (funds locked; NOT_ENOUGH when
  short) and given back when the bill ends FAIL or CANCELLED, so the fund-flow bill shows an
  expense and, for a failed bill, a return.
- Queries see the last 30 days only (older: NOT_FOUND).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from jinli.integrations.wechatpay.models import (
    PERCEPTION_ACTIVITY_REWARD,
    PERCEPTION_CASH_REWARD,
    RECV_STYLE_CONFIRM_PAGE,
    RECV_STYLE_RED_PACKET,
    REPORT_ACTIVITY_NAME,
    REPORT_REWARD_DESCRIPTION,
    SCENE_CASH_MARKETING,
)

from .book import BookEntry, PayoutKind, rfc3339
from .callbacks import CallbackOutbox
from .core import SimCore
from .errors import V3Error, invalid_request, param_error
from .ratelimit import FixedWindowLimiter
from .validation import ALNUM, integer, obj, req_text, text


class TransferState(StrEnum):
    """transfer-bills ``state`` values."""

    ACCEPTED = "ACCEPTED"
    PROCESSING = "PROCESSING"
    WAIT_USER_CONFIRM = "WAIT_USER_CONFIRM"
    TRANSFERING = "TRANSFERING"
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    CANCELING = "CANCELING"
    CANCELLED = "CANCELLED"


TERMINAL = frozenset({TransferState.SUCCESS, TransferState.FAIL, TransferState.CANCELLED})
CANCELLABLE = frozenset(
    {TransferState.ACCEPTED, TransferState.PROCESSING, TransferState.WAIT_USER_CONFIRM}
)
NAME_MIN_FEN = 30
"""Below 0.3 CNY a user_name may not be sent."""
NAME_REQUIRED_FEN = 200_000
"""From 2000 CNY a user_name is required."""
EVENT_FINISHED = "MCHTRANSFER.BILL.FINISHED"


@dataclass(frozen=True)
class TransferRequest:
    """A validated create request (``user_name`` already decrypted)."""

    appid: str
    out_bill_no: str
    scene_id: str
    openid: str
    amount_fen: int
    remark: str
    report_infos: tuple[tuple[str, str], ...]
    user_name: str | None = None
    notify_url: str | None = None
    perception: str | None = None
    recv_style: str | None = None


@dataclass
class TransferBill:
    """A bill WeChat accepted."""

    request: TransferRequest
    transfer_bill_no: str
    state: TransferState
    created_at: datetime
    updated_at: datetime
    entry: BookEntry
    fail_reason: str | None = None
    package_info: str | None = None

    @property
    def out_bill_no(self) -> str:
        """The merchant's number."""
        return self.request.out_bill_no


def _report_infos(data: Mapping[str, Any], scene_id: str) -> tuple[tuple[str, str], ...]:
    raw = data.get("transfer_scene_report_infos")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise param_error(
            "transfer_scene_report_infos必须是数组", field="transfer_scene_report_infos"
        )
    infos: list[tuple[str, str]] = []
    for item in raw:
        info = obj(item, "transfer_scene_report_infos的元素")
        infos.append(
            (
                req_text(info, "info_type", max_len=32),
                req_text(info, "info_content", max_len=32),
            )
        )
    if scene_id == SCENE_CASH_MARKETING:
        types = sorted(info_type for info_type, _ in infos)
        if types != sorted([REPORT_ACTIVITY_NAME, REPORT_REWARD_DESCRIPTION]):
            raise param_error(
                "需传入转账场景报备信息：现金营销场景需且仅需传入“活动名称”和“奖励说明”",
                field="transfer_scene_report_infos",
            )
    return tuple(infos)


def parse_create(
    body: Any,
    *,
    appid: str,
    scenes: tuple[str, ...],
    min_fen: int,
    max_fen: int,
    decrypt_user_name: Callable[[str], str],
) -> TransferRequest:
    """Validate a create request as WeChat does; raises :class:`V3Error`.

    ``decrypt_user_name`` decrypts the OAEP ciphertext with the platform key, raising V3Error
    when the ``Wechatpay-Serial`` header or the ciphertext is wrong.
    """
    data = obj(body)
    request_appid = req_text(data, "appid", max_len=32)
    out_bill_no = req_text(data, "out_bill_no", max_len=32, pattern=ALNUM)
    scene_id = req_text(data, "transfer_scene_id", max_len=36)
    openid = req_text(data, "openid", max_len=64)
    amount = integer(data, "transfer_amount")
    remark = req_text(data, "transfer_remark", max_len=32)
    notify_url = text(data, "notify_url", max_len=256, required=False)
    perception = text(data, "user_recv_perception", max_len=32, required=False)
    encrypted_name = text(data, "user_name", max_len=2048, required=False)
    if request_appid != appid:
        raise invalid_request("APPID不存在或与商户号不匹配")
    if scene_id not in scenes:
        raise invalid_request("你尚未获取该转账场景，请确认后再试")
    if notify_url is not None and not notify_url.startswith(("https://", "http://")):
        raise param_error("notify_url格式错误，需为https地址", field="notify_url")
    if (
        scene_id == SCENE_CASH_MARKETING
        and perception is not None
        and perception not in (PERCEPTION_CASH_REWARD, PERCEPTION_ACTIVITY_REWARD)
    ):
        raise param_error(
            "现金营销场景的用户收款感知仅支持“现金奖励”或“活动奖励”", field="user_recv_perception"
        )
    infos = _report_infos(data, scene_id)
    style = data.get("user_recv_style")
    recv_style: str | None = None
    if style is not None:
        recv_style = req_text(obj(style, "user_recv_style"), "type", max_len=32)
        if recv_style not in (RECV_STYLE_CONFIRM_PAGE, RECV_STYLE_RED_PACKET):
            raise param_error("user_recv_style.type取值错误", field="user_recv_style")
    if not min_fen <= amount <= max_fen:
        raise invalid_request("超过单笔转账上下限")
    user_name: str | None = None
    if encrypted_name is not None:
        if amount < NAME_MIN_FEN:
            raise param_error("转账金额小于0.3元时不支持传入收款用户姓名", field="user_name")
        user_name = decrypt_user_name(encrypted_name)
    elif amount >= NAME_REQUIRED_FEN:
        raise param_error("转账金额大于等于2000元时，收款用户姓名必填", field="user_name")
    return TransferRequest(
        appid=request_appid,
        out_bill_no=out_bill_no,
        scene_id=scene_id,
        openid=openid,
        amount_fen=amount,
        remark=remark,
        report_infos=infos,
        user_name=user_name,
        notify_url=notify_url,
        perception=perception,
        recv_style=recv_style,
    )


class TransferDesk:
    """The transfer-bills of one merchant."""

    def __init__(self, core: SimCore, outbox: CallbackOutbox) -> None:
        self.core = core
        self.outbox = outbox
        self.bills: dict[str, TransferBill] = {}
        self._by_transfer_no: dict[str, TransferBill] = {}
        self._by_package: dict[str, TransferBill] = {}
        self.limiter = FixedWindowLimiter(core.config.transfer_rate_per_second, 1)

    # -- merchant calls ------------------------------------------------------------------------

    def create(self, request: TransferRequest, at: datetime) -> TransferBill:
        """Accept a bill, or return the existing one for an identical retry."""
        existing = self.bills.get(request.out_bill_no)
        if existing is not None:
            if existing.request != request:
                raise invalid_request("商户单号重复，且与原单参数不一致，请核实")
            return existing
        if not self.core.book.can_debit(request.amount_fen):
            raise V3Error("NOT_ENOUGH", "商户运营账户资金不足")
        config = self.core.config
        number = self.core.number(f"1330{self.core.credentials.mchid}", at, 40)
        ready_now = config.transfer_confirm_ready_delay.total_seconds() <= 0
        entry = self.core.book.open(
            PayoutKind.TRANSFER,
            request.out_bill_no,
            wechat_no=number,
            openid=request.openid,
            amount_fen=request.amount_fen,
            state=TransferState.ACCEPTED.value,
            at=at,
        )
        bill = TransferBill(request, number, TransferState.ACCEPTED, at, at, entry)
        self.bills[request.out_bill_no] = bill
        self._by_transfer_no[number] = bill
        self.core.book.debit(entry, at, remark=request.remark)
        if ready_now:
            self._wait_for_user(bill, at)
        else:
            half = at + config.transfer_confirm_ready_delay / 2
            self.core.at(half, lambda t: self._processing(bill, t))
            self.core.at(
                at + config.transfer_confirm_ready_delay,
                lambda t: self._wait_for_user(bill, t),
            )
        return bill

    def find(self, out_bill_no: str, now: datetime) -> TransferBill:
        """A bill by the merchant's number (30 days back), or 404 NOT_FOUND."""
        return self._visible(self.bills.get(out_bill_no), now)

    def find_by_transfer_no(self, transfer_bill_no: str, now: datetime) -> TransferBill:
        """A bill by WeChat's number (30 days back), or 404 NOT_FOUND."""
        return self._visible(self._by_transfer_no.get(transfer_bill_no), now)

    def _visible(self, bill: TransferBill | None, now: datetime) -> TransferBill:
        if bill is None or now - bill.created_at > self.core.config.query_window:
            raise V3Error("NOT_FOUND", "记录不存在")
        return bill

    def cancel(self, out_bill_no: str, at: datetime) -> TransferBill:
        """Merchant cancel: only before the user confirmed (CANCELING is answered again)."""
        bill = self.bills.get(out_bill_no)
        if bill is None:
            raise invalid_request("转账单据不存在")
        if bill.state is TransferState.CANCELING:
            return bill
        if bill.state in TERMINAL:
            raise invalid_request("转账单据已是终态，不可撤销")
        if bill.state not in CANCELLABLE:
            raise invalid_request("用户已确认收款，转账处理中，不可撤销")
        self._set(bill, TransferState.CANCELING, at)
        self.core.at(
            at + self.core.config.transfer_settle_delay, lambda t: self._cancelled(bill, t)
        )
        return bill

    # -- the user's side and WeChat's own decisions -------------------------------------------

    def by_package(self, package_info: str) -> TransferBill | None:
        """The bill a ``package_info`` belongs to."""
        return self._by_package.get(package_info)

    def confirm(self, bill: TransferBill, at: datetime) -> bool:
        """The user confirms in WeChat: TRANSFERING, then SUCCESS. False if not waiting."""
        if bill.state is not TransferState.WAIT_USER_CONFIRM:
            return False
        self._set(bill, TransferState.TRANSFERING, at)
        self.core.at(at + self.core.config.transfer_settle_delay, lambda t: self._succeed(bill, t))
        return True

    def fail(self, bill: TransferBill, reason: str, at: datetime) -> bool:
        """WeChat fails a bill (risk control, account frozen…). False if already final."""
        if bill.state in TERMINAL:
            return False
        bill.fail_reason = reason
        self._set(bill, TransferState.FAIL, at)
        self.core.book.give_back(bill.entry, at, remark=reason)
        self._notify(bill, at)
        return True

    def pending_for(self, openid: str) -> list[TransferBill]:
        """Bills waiting for this user's confirmation."""
        return [
            b
            for b in self.bills.values()
            if b.request.openid == openid and b.state is TransferState.WAIT_USER_CONFIRM
        ]

    # -- transitions ---------------------------------------------------------------------------

    def _set(self, bill: TransferBill, state: TransferState, at: datetime) -> None:
        bill.state = state
        bill.updated_at = at
        if state is not TransferState.WAIT_USER_CONFIRM:
            bill.package_info = None
        if state is TransferState.SUCCESS:
            self.core.book.succeed(bill.entry, state.value, at)
        else:
            self.core.book.set_state(bill.entry, state.value, at)

    def _processing(self, bill: TransferBill, at: datetime) -> None:
        if bill.state is TransferState.ACCEPTED:
            self._set(bill, TransferState.PROCESSING, at)

    def _wait_for_user(self, bill: TransferBill, at: datetime) -> None:
        if bill.state not in (TransferState.ACCEPTED, TransferState.PROCESSING):
            return
        self._set(bill, TransferState.WAIT_USER_CONFIRM, at)
        bill.package_info = self.core.token(24)
        self._by_package[bill.package_info] = bill
        self.core.at(at + self.core.config.transfer_confirm_window, lambda t: self._expire(bill, t))

    def _expire(self, bill: TransferBill, at: datetime) -> None:
        if bill.state is TransferState.WAIT_USER_CONFIRM:
            self.fail(bill, "OVERDUE_CLOSE", at)

    def _succeed(self, bill: TransferBill, at: datetime) -> None:
        if bill.state is TransferState.TRANSFERING:
            self._set(bill, TransferState.SUCCESS, at)
            self._notify(bill, at)

    def _cancelled(self, bill: TransferBill, at: datetime) -> None:
        if bill.state is TransferState.CANCELING:
            bill.fail_reason = "MCH_CANCEL"
            self._set(bill, TransferState.CANCELLED, at)
            self.core.book.give_back(bill.entry, at, remark="MCH_CANCEL")
            self._notify(bill, at)

    def _notify(self, bill: TransferBill, at: datetime) -> None:
        if bill.request.notify_url:
            self.outbox.notify(
                bill.request.notify_url,
                event_type=EVENT_FINISHED,
                summary="商家转账单据终态通知",
                resource=self.resource(bill),
                original_type="mch_payment",
                at=at,
            )

    # -- replies -------------------------------------------------------------------------------

    def resource(self, bill: TransferBill) -> dict[str, Any]:
        """The decrypted resource of MCHTRANSFER.BILL.FINISHED."""
        data: dict[str, Any] = {
            "out_bill_no": bill.out_bill_no,
            "transfer_bill_no": bill.transfer_bill_no,
            "state": bill.state.value,
            "mch_id": self.core.credentials.mchid,
            "transfer_amount": bill.request.amount_fen,
            "openid": bill.request.openid,
            "create_time": rfc3339(bill.created_at),
            "update_time": rfc3339(bill.updated_at),
        }
        if bill.fail_reason:
            data["fail_reason"] = bill.fail_reason
        return data

    @staticmethod
    def create_reply(bill: TransferBill) -> dict[str, Any]:
        """Reply to a create (``package_info`` only while WAIT_USER_CONFIRM)."""
        data: dict[str, Any] = {
            "out_bill_no": bill.out_bill_no,
            "transfer_bill_no": bill.transfer_bill_no,
            "create_time": rfc3339(bill.created_at),
            "state": bill.state.value,
        }
        if bill.state is TransferState.WAIT_USER_CONFIRM and bill.package_info:
            data["package_info"] = bill.package_info
        if bill.fail_reason:
            data["fail_reason"] = bill.fail_reason
        return data

    def detail_reply(
        self, bill: TransferBill, encrypt_for_merchant: Callable[[str], str]
    ) -> dict[str, Any]:
        """Reply to a query; ``user_name`` comes back encrypted to the merchant key."""
        data: dict[str, Any] = {
            "mch_id": self.core.credentials.mchid,
            "out_bill_no": bill.out_bill_no,
            "transfer_bill_no": bill.transfer_bill_no,
            "appid": bill.request.appid,
            "state": bill.state.value,
            "transfer_amount": bill.request.amount_fen,
            "transfer_remark": bill.request.remark,
            "openid": bill.request.openid,
            "create_time": rfc3339(bill.created_at),
            "update_time": rfc3339(bill.updated_at),
        }
        if bill.fail_reason:
            data["fail_reason"] = bill.fail_reason
        if bill.request.user_name is not None:
            data["user_name"] = encrypt_for_merchant(bill.request.user_name)
        return data

    @staticmethod
    def cancel_reply(bill: TransferBill) -> dict[str, Any]:
        """Reply to a cancel."""
        return {
            "out_bill_no": bill.out_bill_no,
            "transfer_bill_no": bill.transfer_bill_no,
            "state": bill.state.value,
            "update_time": rfc3339(bill.updated_at),
        }
