"""v2 cash red packets (现金红包: ``sendredpack`` / ``gethbinfo``; wechat-pay.md §2).

Rules reproduced:

- ``mch_billno`` (≤ 28, [0-9a-zA-Z]) is the idempotency key ("接口根据商户订单号支持重入"): a
  resend with the same parameters answers the same packet (same ``send_listid``) and pays
  nothing more; other parameters answer FATAL_ERROR. A send refused before a packet existed
  (NOTENOUGH, FREQ_LIMIT…) leaves the number free, so the same number works later.
- Amount 1–200 CNY without ``scene_id`` (MONEY_LIMIT); ``total_num`` is 1; text lengths.
- Limits: 1800 sends/min (FREQ_LIMIT), 10 packets per user per Beijing day (SENDNUM_LIMIT),
  1000 CNY per user per day (RCVDAMOUNT_LIMIT), 1 M CNY per merchant per day
  (SENDAMOUNT_LIMIT), the available balance (NOTENOUGH).
- States: SENDING → SENT → RECEIVED when the user opens it; unopened 24 h after sending →
  RFUND_ING → REFUND with ``refund_amount`` = ``total_amount`` back to the balance.
- ``gethbinfo`` sees 30 days back; an unknown number is NOT_FOUND.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from jinli.kernel.clock import SHANGHAI

from .book import BookEntry, PayoutKind, beijing
from .core import SimCore
from .errors import V2Error
from .ratelimit import FixedWindowLimiter

BILLNO = re.compile(r"[0-9A-Za-z]{1,28}\Z")
SCENES = frozenset(f"PRODUCT_{n}" for n in range(1, 9))
XmlFields = dict[str, str | int]


class RedpackStatus(StrEnum):
    """``gethbinfo`` ``status`` values (``RFUND_ING`` is WeChat's spelling)."""

    SENDING = "SENDING"
    SENT = "SENT"
    FAILED = "FAILED"
    RECEIVED = "RECEIVED"
    RFUND_ING = "RFUND_ING"
    REFUND = "REFUND"


@dataclass(frozen=True)
class RedpackRequest:
    """A validated ``sendredpack``. Equality (the FATAL_ERROR check) ignores ``client_ip`` and
    ``risk_info``, which legitimately differ between retries from different machines."""

    mch_billno: str
    wxappid: str
    send_name: str
    re_openid: str
    total_amount: int
    total_num: int
    wishing: str
    act_name: str
    remark: str
    scene_id: str | None = None
    consume_mch_id: str | None = None


@dataclass
class Redpack:
    """A packet WeChat created."""

    request: RedpackRequest
    send_listid: str
    status: RedpackStatus
    send_time: datetime
    entry: BookEntry
    rcv_time: datetime | None = None
    refund_time: datetime | None = None


def _field(fields: Mapping[str, str], name: str, max_len: int) -> str:
    value = fields.get(name, "")
    if not value:
        raise V2Error("PARAM_ERROR", f"参数错误：{name}不能为空")
    if len(value) > max_len:
        raise V2Error("PARAM_ERROR", f"参数错误：{name}长度超过{max_len}")
    return value


def _whole(fields: Mapping[str, str], name: str) -> int:
    value = _field(fields, name, 12)
    if not value.isascii() or not value.isdigit():
        raise V2Error("PARAM_ERROR", f"参数错误：{name}必须是整数")
    return int(value)


def parse_send(fields: Mapping[str, str], *, appid: str) -> RedpackRequest:
    """Validate a ``sendredpack`` (after its signature); raises :class:`V2Error`."""
    mch_billno = _field(fields, "mch_billno", 28)
    if not BILLNO.match(mch_billno):
        raise V2Error("PARAM_ERROR", "参数错误：mch_billno只能是数字和字母")
    for name in ("client_ip", "nonce_str"):
        _field(fields, name, 32)
    request = RedpackRequest(
        mch_billno=mch_billno,
        wxappid=_field(fields, "wxappid", 32),
        send_name=_field(fields, "send_name", 32),
        re_openid=_field(fields, "re_openid", 32 * 4),
        total_amount=_whole(fields, "total_amount"),
        total_num=_whole(fields, "total_num"),
        wishing=_field(fields, "wishing", 128),
        act_name=_field(fields, "act_name", 32),
        remark=_field(fields, "remark", 256),
        scene_id=fields.get("scene_id") or None,
        consume_mch_id=fields.get("consume_mch_id") or None,
    )
    if request.wxappid != appid:
        raise V2Error("ILLEGAL_APPID", "非法appid，请确认是否为公众号的appid")
    if request.total_num != 1:
        raise V2Error("PARAM_ERROR", "参数错误：普通红包total_num必须为1")
    if request.scene_id is not None and request.scene_id not in SCENES:
        raise V2Error("PARAM_ERROR", "参数错误：scene_id取值错误")
    return request


def _day(at: datetime) -> str:
    return f"{at.astimezone(SHANGHAI):%Y-%m-%d}"


class RedpackDesk:
    """The cash red packets of one merchant."""

    def __init__(self, core: SimCore) -> None:
        self.core = core
        self.packets: dict[str, Redpack] = {}
        self._by_listid: dict[str, Redpack] = {}
        self._user_day: dict[tuple[str, str], tuple[int, int]] = {}
        self._merchant_day: dict[str, int] = {}
        self.limiter = FixedWindowLimiter(core.config.redpack_rate_per_minute, 60)

    def _check_amount(self, request: RedpackRequest) -> None:
        config = self.core.config
        low, high = config.redpack_min_fen, config.redpack_max_fen
        if request.scene_id is not None:
            low, high = config.redpack_scene_min_fen, config.redpack_scene_max_fen
        if not low <= request.total_amount <= high:
            raise V2Error(
                "MONEY_LIMIT",
                f"每个红包的平均金额必须在{low / 100:.2f}元到{high / 100:.2f}元之间",
            )

    def _check_limits(self, request: RedpackRequest, at: datetime) -> None:
        config = self.core.config
        day = _day(at)
        count, amount = self._user_day.get((request.re_openid, day), (0, 0))
        if count >= config.redpack_per_user_per_day:
            raise V2Error("SENDNUM_LIMIT", "该用户今日领取红包个数超过限制")
        if amount + request.total_amount > config.redpack_user_amount_per_day_fen:
            raise V2Error("RCVDAMOUNT_LIMIT", "该用户今日领取金额超过限制")
        sent = self._merchant_day.get(day, 0)
        if sent + request.total_amount > config.redpack_merchant_amount_per_day_fen:
            raise V2Error("SENDAMOUNT_LIMIT", "您的商户号今日发放金额超过限制")
        if not self.core.book.can_debit(request.total_amount):
            raise V2Error("NOTENOUGH", "帐号余额不足，请到商户平台充值后再重试")

    def send(self, request: RedpackRequest, at: datetime) -> Redpack:
        """Create (or, for an identical resend, return) the packet; raises :class:`V2Error`."""
        existing = self.packets.get(request.mch_billno)
        if existing is not None:
            if existing.request != request:
                raise V2Error("FATAL_ERROR", "已存在该单号，且参数与原单不一致")
            return existing
        self._check_amount(request)
        self._check_limits(request, at)
        listid = self.core.number("1000", at, 28)
        entry = self.core.book.open(
            PayoutKind.REDPACK,
            request.mch_billno,
            wechat_no=listid,
            openid=request.re_openid,
            amount_fen=request.total_amount,
            state=RedpackStatus.SENDING.value,
            at=at,
        )
        packet = Redpack(request, listid, RedpackStatus.SENDING, at, entry)
        self.packets[request.mch_billno] = packet
        self._by_listid[listid] = packet
        day = _day(at)
        count, amount = self._user_day.get((request.re_openid, day), (0, 0))
        self._user_day[(request.re_openid, day)] = (count + 1, amount + request.total_amount)
        self._merchant_day[day] = self._merchant_day.get(day, 0) + request.total_amount
        self.core.book.debit(entry, at, remark=request.act_name)
        config = self.core.config
        self.core.at(at + config.redpack_send_delay, lambda t: self._sent(packet, t))
        self.core.at(at + config.redpack_unopened_window, lambda t: self._refunding(packet, t))
        return packet

    def find(self, mch_billno: str, now: datetime) -> Redpack:
        """A packet sent in the last 30 days, or NOT_FOUND."""
        packet = self.packets.get(mch_billno)
        if packet is None or now - packet.send_time > self.core.config.query_window:
            raise V2Error("NOT_FOUND", "指定单号数据不存在")
        return packet

    def by_listid(self, send_listid: str) -> Redpack | None:
        """A packet by WeChat's number (the consumer page's handle)."""
        return self._by_listid.get(send_listid)

    def open(self, packet: Redpack, at: datetime) -> bool:
        """The user opens the packet: RECEIVED. False unless it was SENT."""
        if packet.status is not RedpackStatus.SENT:
            return False
        packet.rcv_time = at
        self._set(packet, RedpackStatus.RECEIVED, at)
        return True

    def pending_for(self, openid: str) -> list[Redpack]:
        """Packets this user can still open."""
        return [
            p
            for p in self.packets.values()
            if p.request.re_openid == openid and p.status is RedpackStatus.SENT
        ]

    def _set(self, packet: Redpack, status: RedpackStatus, at: datetime) -> None:
        packet.status = status
        if status is RedpackStatus.RECEIVED:
            self.core.book.succeed(packet.entry, status.value, at)
        else:
            self.core.book.set_state(packet.entry, status.value, at)

    def _sent(self, packet: Redpack, at: datetime) -> None:
        if packet.status is RedpackStatus.SENDING:
            self._set(packet, RedpackStatus.SENT, at)

    def _refunding(self, packet: Redpack, at: datetime) -> None:
        if packet.status in (RedpackStatus.SENDING, RedpackStatus.SENT):
            self._set(packet, RedpackStatus.RFUND_ING, at)
            self.core.at(
                at + self.core.config.redpack_refund_delay, lambda t: self._refunded(packet, t)
            )

    def _refunded(self, packet: Redpack, at: datetime) -> None:
        if packet.status is RedpackStatus.RFUND_ING:
            packet.refund_time = at
            self._set(packet, RedpackStatus.REFUND, at)
            self.core.book.give_back(packet.entry, at, remark=packet.request.act_name)

    # -- replies -------------------------------------------------------------------------------

    def send_reply(self, packet: Redpack) -> XmlFields:
        """The success reply (no ``sign``, as WeChat's)."""
        request = packet.request
        return {
            "return_code": "SUCCESS",
            "return_msg": "发放成功",
            "result_code": "SUCCESS",
            "err_code": "SUCCESS",
            "err_code_des": "发放成功",
            "mch_billno": request.mch_billno,
            "mch_id": self.core.credentials.mchid,
            "wxappid": request.wxappid,
            "re_openid": request.re_openid,
            "total_amount": request.total_amount,
            "send_listid": packet.send_listid,
        }

    def info_reply(self, packet: Redpack) -> tuple[XmlFields, list[XmlFields]]:
        """The ``gethbinfo`` reply fields and its ``hblist`` items."""
        request = packet.request
        fields: XmlFields = {
            "return_code": "SUCCESS",
            "return_msg": "OK",
            "result_code": "SUCCESS",
            "err_code": "SUCCESS",
            "err_code_des": "OK",
            "mch_billno": request.mch_billno,
            "mch_id": self.core.credentials.mchid,
            "detail_id": packet.send_listid,
            "status": packet.status.value,
            "send_type": "API",
            "hb_type": "NORMAL",
            "total_num": request.total_num,
            "total_amount": request.total_amount,
            "send_time": beijing(packet.send_time),
            "wishing": request.wishing,
            "remark": request.remark,
            "act_name": request.act_name,
        }
        if packet.refund_time is not None:
            fields["refund_time"] = beijing(packet.refund_time)
            fields["refund_amount"] = request.total_amount
        claims: list[XmlFields] = []
        if packet.rcv_time is not None:
            claims.append(
                {
                    "openid": request.re_openid,
                    "amount": request.total_amount,
                    "rcv_time": beijing(packet.rcv_time),
                }
            )
        return fields, claims
