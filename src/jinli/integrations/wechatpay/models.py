"""Typed requests and replies of the API v3 calls Jinli makes.

States are kept as WeChat's strings, not enums: an unknown state must become an UNKNOWN
outcome (see :mod:`.outcomes`), not a parse error. Amounts are integers in fen, as v3 sends
them. Every reply keeps its ``raw`` JSON for audit and forward compatibility.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jinli.kernel.money import Fen

from .outcomes import Outcome, classify_brand_detail_state, classify_transfer_state
from .wire import (
    JsonObject,
    opt_fen,
    opt_int,
    opt_list,
    opt_str,
    req_fen,
    req_str,
)

TRANSFER_BILLS_PATH = "/v3/fund-app/mch-transfer/transfer-bills"
BRAND_REDPACKET_PATH = "/v3/fund-app/brand-redpacket"

SCENE_CASH_MARKETING = "1000"
"""``transfer_scene_id`` 现金营销 (cash marketing): needs exactly the two report infos below."""
REPORT_ACTIVITY_NAME = "活动名称"
REPORT_REWARD_DESCRIPTION = "奖励说明"
RECV_STYLE_CONFIRM_PAGE = "CONFIRM_PAGE"
RECV_STYLE_RED_PACKET = "RED_PACKET"
PERCEPTION_CASH_REWARD = "现金奖励"
PERCEPTION_ACTIVITY_REWARD = "活动奖励"


def _raw(obj: JsonObject) -> dict[str, Any]:
    return dict(obj)


# ---------------------------------------------------------------------------------------------
# Merchant transfer: transfer-bills (用户确认模式)


@dataclass(frozen=True, slots=True)
class SceneReportInfo:
    """One ``transfer_scene_report_infos`` item (content ≤ 32 chars)."""

    info_type: str
    info_content: str

    def to_json(self) -> dict[str, str]:
        """Wire form."""
        return {"info_type": self.info_type, "info_content": self.info_content}


@dataclass(frozen=True, slots=True)
class TransferBillCreate:
    """``POST /v3/fund-app/mch-transfer/transfer-bills``. ``out_bill_no`` is the idempotency
    key: every retry of one payout sends the same number and the same parameters.

    ``user_name`` is plaintext here; the client encrypts it (RSA-OAEP to WeChat's key) and sets
    ``Wechatpay-Serial``.
    """

    appid: str
    out_bill_no: str
    transfer_scene_id: str
    openid: str
    transfer_amount_fen: Fen
    transfer_remark: str
    scene_report_infos: Sequence[SceneReportInfo]
    user_name: str | None = None
    notify_url: str | None = None
    user_recv_perception: str | None = None
    user_recv_style: str | None = None
    """``CONFIRM_PAGE`` or ``RED_PACKET`` (sent as ``{"user_recv_style": {"type": …}}``)."""

    def to_json(self, encrypted_user_name: str | None = None) -> dict[str, Any]:
        """The request body; ``encrypted_user_name`` replaces the plaintext name."""
        body: dict[str, Any] = {
            "appid": self.appid,
            "out_bill_no": self.out_bill_no,
            "transfer_scene_id": self.transfer_scene_id,
            "openid": self.openid,
            "transfer_amount": int(self.transfer_amount_fen),
            "transfer_remark": self.transfer_remark,
            "transfer_scene_report_infos": [info.to_json() for info in self.scene_report_infos],
        }
        if encrypted_user_name is not None:
            body["user_name"] = encrypted_user_name
        if self.notify_url is not None:
            body["notify_url"] = self.notify_url
        if self.user_recv_perception is not None:
            body["user_recv_perception"] = self.user_recv_perception
        if self.user_recv_style is not None:
            body["user_recv_style"] = {"type": self.user_recv_style}
        return body


@dataclass(frozen=True, slots=True)
class TransferBill:
    """Reply to a create: ``package_info`` is present only in ``WAIT_USER_CONFIRM``."""

    out_bill_no: str
    transfer_bill_no: str
    create_time: str
    state: str
    fail_reason: str | None
    package_info: str | None
    raw: dict[str, Any] = field(compare=False, repr=False)

    @property
    def outcome(self) -> Outcome:
        """The shared meaning of ``state``."""
        return classify_transfer_state(self.state)

    @classmethod
    def from_json(cls, obj: JsonObject) -> TransferBill:
        """Parse the reply (MalformedMessage when a documented field is missing)."""
        return cls(
            out_bill_no=req_str(obj, "out_bill_no"),
            transfer_bill_no=req_str(obj, "transfer_bill_no"),
            create_time=req_str(obj, "create_time"),
            state=req_str(obj, "state"),
            fail_reason=opt_str(obj, "fail_reason"),
            package_info=opt_str(obj, "package_info"),
            raw=_raw(obj),
        )


@dataclass(frozen=True, slots=True)
class TransferBillDetail:
    """Reply to a query by ``out_bill_no`` or ``transfer_bill_no`` (last 30 days only).
    ``user_name`` is encrypted to the merchant key (decrypt with the client)."""

    mch_id: str
    out_bill_no: str
    transfer_bill_no: str
    appid: str
    state: str
    transfer_amount_fen: Fen
    transfer_remark: str
    openid: str
    create_time: str
    update_time: str
    fail_reason: str | None
    user_name: str | None
    raw: dict[str, Any] = field(compare=False, repr=False)

    @property
    def outcome(self) -> Outcome:
        """The shared meaning of ``state``."""
        return classify_transfer_state(self.state)

    @classmethod
    def from_json(cls, obj: JsonObject) -> TransferBillDetail:
        """Parse the reply."""
        return cls(
            mch_id=req_str(obj, "mch_id"),
            out_bill_no=req_str(obj, "out_bill_no"),
            transfer_bill_no=req_str(obj, "transfer_bill_no"),
            appid=req_str(obj, "appid"),
            state=req_str(obj, "state"),
            transfer_amount_fen=req_fen(obj, "transfer_amount"),
            transfer_remark=req_str(obj, "transfer_remark"),
            openid=req_str(obj, "openid"),
            create_time=req_str(obj, "create_time"),
            update_time=req_str(obj, "update_time"),
            fail_reason=opt_str(obj, "fail_reason"),
            user_name=opt_str(obj, "user_name"),
            raw=_raw(obj),
        )


@dataclass(frozen=True, slots=True)
class TransferBillCancel:
    """Reply to a cancel: ``CANCELING`` only means accepted; query for the final state."""

    out_bill_no: str
    transfer_bill_no: str
    state: str
    update_time: str
    raw: dict[str, Any] = field(compare=False, repr=False)

    @property
    def outcome(self) -> Outcome:
        """The shared meaning of ``state`` (CANCELING is not final)."""
        return classify_transfer_state(self.state)

    @classmethod
    def from_json(cls, obj: JsonObject) -> TransferBillCancel:
        """Parse the reply."""
        return cls(
            out_bill_no=req_str(obj, "out_bill_no"),
            transfer_bill_no=req_str(obj, "transfer_bill_no"),
            state=req_str(obj, "state"),
            update_time=req_str(obj, "update_time"),
            raw=_raw(obj),
        )


# ---------------------------------------------------------------------------------------------
# Brand red packet (品牌红包)


@dataclass(frozen=True, slots=True)
class BrandRedpacketDetailCreate:
    """One packet of a batch; ``out_detail_no`` is its idempotency key within the batch."""

    out_detail_no: str
    amount_fen: Fen
    openid: str
    remark: str
    user_name: str | None = None
    """Plaintext; the client encrypts it."""


@dataclass(frozen=True, slots=True)
class BrandRedpacketBatchCreate:
    """``POST …/brand-redpacket/brand-merchant-batches``. A new ``out_batch_no`` is a new
    batch: never re-number before a clear result. ``total_amount``/``total_num`` are derived
    from the details, so they cannot disagree."""

    brand_id: int
    brand_appid: str
    template_id: str
    out_batch_no: str
    batch_name: str
    batch_remark: str
    details: Sequence[BrandRedpacketDetailCreate]
    scene: str = "CUSTOM_SEND"

    @property
    def total_amount_fen(self) -> Fen:
        """Sum of the detail amounts."""
        return Fen(sum(detail.amount_fen for detail in self.details))

    def to_json(self, encrypted_names: Sequence[str | None] | None = None) -> dict[str, Any]:
        """The request body; ``encrypted_names[i]`` replaces detail i's plaintext name."""
        names = list(encrypted_names) if encrypted_names is not None else []
        detail_list = []
        for index, detail in enumerate(self.details):
            item: dict[str, Any] = {
                "out_detail_no": detail.out_detail_no,
                "amount": int(detail.amount_fen),
                "openid": detail.openid,
                "remark": detail.remark,
            }
            name = names[index] if index < len(names) else None
            if name is not None:
                item["user_name"] = name
            detail_list.append(item)
        return {
            "brand_id": self.brand_id,
            "brand_appid": self.brand_appid,
            "scene": self.scene,
            "template_id": self.template_id,
            "out_batch_no": self.out_batch_no,
            "batch_name": self.batch_name,
            "batch_remark": self.batch_remark,
            "total_amount": int(self.total_amount_fen),
            "total_num": len(self.details),
            "detail_list": detail_list,
        }


@dataclass(frozen=True, slots=True)
class BrandRedpacketDetailState:
    """A detail as listed inside a batch query (``need_query_detail=true``)."""

    out_detail_no: str
    detail_no: str
    detail_state: str

    @property
    def outcome(self) -> Outcome:
        """The shared meaning of ``detail_state``."""
        return classify_brand_detail_state(self.detail_state)


@dataclass(frozen=True, slots=True)
class BrandRedpacketBatch:
    """A batch: the create reply fills the first four fields, a query fills the rest. The
    batch state does not settle any single payout; the detail states do."""

    out_batch_no: str
    batch_no: str | None
    create_time: str
    batch_state: str | None
    brand_mchid: str | None = None
    close_reason: str | None = None
    total_amount_fen: Fen | None = None
    total_num: int | None = None
    success_amount_fen: Fen | None = None
    success_num: int | None = None
    fail_amount_fen: Fen | None = None
    fail_num: int | None = None
    update_time: str | None = None
    details: tuple[BrandRedpacketDetailState, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, obj: JsonObject) -> BrandRedpacketBatch:
        """Parse a create or query reply."""
        details = tuple(
            BrandRedpacketDetailState(
                out_detail_no=req_str(item, "out_detail_no"),
                # The batch query names it transfer_detail_no; the detail query detail_no.
                detail_no=opt_str(item, "transfer_detail_no") or req_str(item, "detail_no"),
                detail_state=req_str(item, "detail_state"),
            )
            for item in opt_list(obj, "detail_list")
        )
        return cls(
            out_batch_no=req_str(obj, "out_batch_no"),
            batch_no=opt_str(obj, "batch_no"),
            create_time=req_str(obj, "create_time"),
            batch_state=opt_str(obj, "batch_state"),
            brand_mchid=opt_str(obj, "brand_mchid"),
            close_reason=opt_str(obj, "close_reason"),
            total_amount_fen=opt_fen(obj, "total_amount"),
            total_num=opt_int(obj, "total_num"),
            success_amount_fen=opt_fen(obj, "success_amount"),
            success_num=opt_int(obj, "success_num"),
            fail_amount_fen=opt_fen(obj, "fail_amount"),
            fail_num=opt_int(obj, "fail_num"),
            update_time=opt_str(obj, "update_time"),
            details=details,
            raw=_raw(obj),
        )


@dataclass(frozen=True, slots=True)
class BrandRedpacketDetail:
    """One brand red packet (query at least 1 min after sending). ``USER_RECEIVE_OVERDUE``
    in ``fail_reason`` means the user never opened it."""

    out_batch_no: str
    batch_no: str
    out_detail_no: str
    detail_no: str
    detail_state: str
    amount_fen: Fen
    openid: str
    update_time: str
    remark: str | None = None
    fail_reason: str | None = None
    user_name: str | None = None
    brand_mchid: str | None = None
    brand_id: int | None = None
    template_id: str | None = None
    brand_appid: str | None = None
    initiate_time: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def outcome(self) -> Outcome:
        """The shared meaning of ``detail_state``."""
        return classify_brand_detail_state(self.detail_state)

    @classmethod
    def from_json(cls, obj: JsonObject) -> BrandRedpacketDetail:
        """Parse the reply."""
        return cls(
            out_batch_no=req_str(obj, "out_batch_no"),
            batch_no=req_str(obj, "batch_no"),
            out_detail_no=req_str(obj, "out_detail_no"),
            detail_no=req_str(obj, "detail_no"),
            detail_state=req_str(obj, "detail_state"),
            amount_fen=req_fen(obj, "amount"),
            openid=req_str(obj, "openid"),
            update_time=req_str(obj, "update_time"),
            remark=opt_str(obj, "remark"),
            fail_reason=opt_str(obj, "fail_reason"),
            user_name=opt_str(obj, "user_name"),
            brand_mchid=opt_str(obj, "brand_mchid"),
            brand_id=opt_int(obj, "brand_id"),
            template_id=opt_str(obj, "template_id"),
            brand_appid=opt_str(obj, "brand_appid"),
            initiate_time=opt_str(obj, "initiate_time"),
            raw=_raw(obj),
        )


# ---------------------------------------------------------------------------------------------
# Bills


@dataclass(frozen=True, slots=True)
class BillDownloadInfo:
    """Reply to ``/v3/bill/tradebill`` or ``/v3/bill/fundflowbill``; the URL is valid for
    minutes only and must be fetched with a signed GET."""

    hash_type: str
    hash_value: str
    download_url: str

    @classmethod
    def from_json(cls, obj: JsonObject) -> BillDownloadInfo:
        """Parse the reply."""
        return cls(
            hash_type=req_str(obj, "hash_type"),
            hash_value=req_str(obj, "hash_value"),
            download_url=req_str(obj, "download_url"),
        )

    def to_json(self) -> dict[str, str]:
        """Wire form (the simulator answers with it)."""
        return {
            "hash_type": self.hash_type,
            "hash_value": self.hash_value,
            "download_url": self.download_url,
        }


# ---------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True, slots=True)
class V3ErrorBody:
    """A v3 error reply: ``{"code", "message", "detail"?}``."""

    code: str
    message: str
    detail: Any = None

    @classmethod
    def from_json(cls, obj: JsonObject) -> V3ErrorBody:
        """Parse it (``code`` and ``message`` are required)."""
        return cls(
            code=req_str(obj, "code"), message=req_str(obj, "message"), detail=obj.get("detail")
        )

    def to_json(self) -> dict[str, Any]:
        """Wire form (the simulator answers with it)."""
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            data["detail"] = self.detail
        return data
