"""v3 brand red packets (品牌红包 ``brand-merchant-batches``; wechat-pay.md §5).

Rules reproduced:

- ``out_batch_no`` is the idempotency key: an identical resend answers the same batch, other
  parameters are 400 INVALID_REQUEST. ``Wechatpay-Serial`` is required. ``total_amount`` and
  ``total_num`` must equal the sums over ``detail_list``; ``out_detail_no`` is unique within
  the batch.
- Details are paid straight to the user's balance (no confirmation): DETAIL_INIT →
  DETAIL_PROCESSING → DETAIL_SUCCESS (one expense row each), or DETAIL_FAIL (OPENID_INVALID for
  a blocked openid, BUDGET_NOT_ENOUGH when the balance ran out meanwhile). The batch goes
  ACCEPTED → PROCESSING → FINISHED.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .book import BookEntry, PayoutKind, rfc3339
from .core import SimCore
from .errors import V3Error, invalid_request, param_error
from .ratelimit import FixedWindowLimiter
from .validation import ALNUM, integer, obj, req_text, text

SUCCESS, FAIL = "DETAIL_SUCCESS", "DETAIL_FAIL"


@dataclass(frozen=True)
class DetailRequest:
    """One packet of a batch (``user_name`` decrypted)."""

    out_detail_no: str
    amount_fen: int
    openid: str
    remark: str | None
    user_name: str | None


@dataclass(frozen=True)
class BatchRequest:
    """A validated batch create."""

    brand_id: int
    brand_appid: str
    scene: str
    template_id: str
    out_batch_no: str
    batch_name: str
    batch_remark: str
    details: tuple[DetailRequest, ...]

    @property
    def total_amount(self) -> int:
        """Sum of the detail amounts."""
        return sum(d.amount_fen for d in self.details)


@dataclass
class Detail:
    """One packet WeChat accepted."""

    request: DetailRequest
    detail_no: str
    state: str
    entry: BookEntry
    updated_at: datetime
    fail_reason: str | None = None


@dataclass
class Batch:
    """A batch WeChat accepted."""

    request: BatchRequest
    batch_no: str
    state: str
    created_at: datetime
    updated_at: datetime
    details: list[Detail]


def parse_batch(
    body: Any,
    *,
    appid: str,
    min_fen: int,
    max_fen: int,
    decrypt_user_name: Callable[[str], str],
) -> BatchRequest:
    """Validate a batch create as WeChat does; raises :class:`V3Error`."""
    data = obj(body)
    brand_id = integer(data, "brand_id")
    brand_appid = req_text(data, "brand_appid", max_len=32)
    scene = req_text(data, "scene", max_len=32)
    template_id = req_text(data, "template_id", max_len=64)
    out_batch_no = req_text(data, "out_batch_no", max_len=32, pattern=ALNUM)
    batch_name = req_text(data, "batch_name", max_len=32)
    batch_remark = req_text(data, "batch_remark", max_len=32)
    total_amount = integer(data, "total_amount")
    total_num = integer(data, "total_num")
    if brand_appid != appid:
        raise invalid_request("brand_appid与商户号不匹配")
    if scene != "CUSTOM_SEND":
        raise param_error("scene取值错误", field="scene")
    raw = data.get("detail_list")
    if not isinstance(raw, list) or not raw:
        raise param_error("detail_list不能为空", field="detail_list")
    details: list[DetailRequest] = []
    seen: set[str] = set()
    for item in raw:
        detail = obj(item, "detail_list的元素")
        number = req_text(detail, "out_detail_no", max_len=32, pattern=ALNUM)
        if number in seen:
            raise param_error("out_detail_no在批次内重复", field="out_detail_no")
        seen.add(number)
        amount = integer(detail, "amount")
        if not min_fen <= amount <= max_fen:
            raise invalid_request("单个红包金额超出上下限")
        name = text(detail, "user_name", max_len=2048, required=False)
        details.append(
            DetailRequest(
                out_detail_no=number,
                amount_fen=amount,
                openid=req_text(detail, "openid", max_len=64),
                remark=text(detail, "remark", max_len=32, required=False),
                user_name=decrypt_user_name(name) if name is not None else None,
            )
        )
    if total_num != len(details) or total_amount != sum(d.amount_fen for d in details):
        raise param_error("批次总金额或总笔数与明细不一致", field="total_amount")
    return BatchRequest(
        brand_id=brand_id,
        brand_appid=brand_appid,
        scene=scene,
        template_id=template_id,
        out_batch_no=out_batch_no,
        batch_name=batch_name,
        batch_remark=batch_remark,
        details=tuple(details),
    )


class BrandDesk:
    """The brand red packet batches of one merchant."""

    def __init__(self, core: SimCore) -> None:
        self.core = core
        self.batches: dict[str, Batch] = {}
        self._by_batch_no: dict[str, Batch] = {}
        self.blocked_openids: set[str] = set()
        """Openids WeChat refuses to pay (their details end DETAIL_FAIL OPENID_INVALID)."""
        self.limiter = FixedWindowLimiter(core.config.brand_rate_per_second, 1)

    def create(self, request: BatchRequest, at: datetime) -> Batch:
        """Accept a batch, or return the existing one for an identical retry."""
        existing = self.batches.get(request.out_batch_no)
        if existing is not None:
            if existing.request != request:
                raise invalid_request("商户批次单号重复，且与原批次参数不一致")
            return existing
        if not self.core.book.can_debit(request.total_amount):
            raise V3Error("NOT_ENOUGH", "商户账户资金不足")
        batch_no = self.core.number("1040", at, 32)
        details = []
        for detail in request.details:
            detail_no = self.core.number("1040", at, 40)
            entry = self.core.book.open(
                PayoutKind.BRAND,
                detail.out_detail_no,
                wechat_no=detail_no,
                openid=detail.openid,
                amount_fen=detail.amount_fen,
                state="DETAIL_INIT",
                at=at,
                batch_no=request.out_batch_no,
            )
            details.append(Detail(detail, detail_no, "DETAIL_INIT", entry, at))
        batch = Batch(request, batch_no, "ACCEPTED", at, at, details)
        self.batches[request.out_batch_no] = batch
        self._by_batch_no[batch_no] = batch
        half = at + self.core.config.brand_settle_delay / 2
        self.core.at(half, lambda t: self._processing(batch, t))
        self.core.at(at + self.core.config.brand_settle_delay, lambda t: self._settle(batch, t))
        return batch

    def find(self, out_batch_no: str) -> Batch:
        """A batch by the merchant's number, or 404."""
        batch = self.batches.get(out_batch_no)
        if batch is None:
            raise V3Error("NOT_FOUND", "批次不存在")
        return batch

    def find_by_batch_no(self, batch_no: str) -> Batch:
        """A batch by WeChat's number, or 404."""
        batch = self._by_batch_no.get(batch_no)
        if batch is None:
            raise V3Error("NOT_FOUND", "批次不存在")
        return batch

    @staticmethod
    def detail(
        batch: Batch, *, out_detail_no: str | None = None, detail_no: str | None = None
    ) -> Detail:
        """One detail of a batch, or 404."""
        for detail in batch.details:
            if detail.request.out_detail_no == out_detail_no or detail.detail_no == detail_no:
                return detail
        raise V3Error("NOT_FOUND", "明细不存在")

    def _set(self, detail: Detail, state: str, at: datetime) -> None:
        detail.state = state
        detail.updated_at = at
        if state == SUCCESS:
            self.core.book.succeed(detail.entry, state, at)
        else:
            self.core.book.set_state(detail.entry, state, at)

    def _processing(self, batch: Batch, at: datetime) -> None:
        if batch.state == "ACCEPTED":
            batch.state, batch.updated_at = "PROCESSING", at
            for detail in batch.details:
                self._set(detail, "DETAIL_PROCESSING", at)

    def _settle(self, batch: Batch, at: datetime) -> None:
        if batch.state == "FINISHED":
            return
        for detail in batch.details:
            if detail.request.openid in self.blocked_openids:
                detail.fail_reason = "OPENID_INVALID"
                self._set(detail, FAIL, at)
            elif not self.core.book.can_debit(detail.request.amount_fen):
                detail.fail_reason = "BUDGET_NOT_ENOUGH"
                self._set(detail, FAIL, at)
            else:
                self.core.book.debit(detail.entry, at, remark=batch.request.out_batch_no)
                self._set(detail, SUCCESS, at)
        batch.state, batch.updated_at = "FINISHED", at

    # -- replies -------------------------------------------------------------------------------

    @staticmethod
    def create_reply(batch: Batch) -> dict[str, Any]:
        """Reply to a create."""
        return {
            "out_batch_no": batch.request.out_batch_no,
            "batch_no": batch.batch_no,
            "create_time": rfc3339(batch.created_at),
            "batch_state": batch.state,
        }

    def batch_reply(
        self, batch: Batch, *, need_query_detail: bool, detail_state: str | None
    ) -> dict[str, Any]:
        """Reply to a batch query (``detail_state`` filters: …SUCCESS, …FAIL, else all)."""
        request = batch.request
        success = [d for d in batch.details if d.state == SUCCESS]
        failed = [d for d in batch.details if d.state == FAIL]
        data: dict[str, Any] = {
            "brand_mchid": self.core.credentials.mchid,
            "out_batch_no": request.out_batch_no,
            "batch_no": batch.batch_no,
            "brand_id": request.brand_id,
            "brand_appid": request.brand_appid,
            "template_id": request.template_id,
            "scene": request.scene,
            "batch_name": request.batch_name,
            "batch_remark": request.batch_remark,
            "batch_state": batch.state,
            "total_amount": request.total_amount,
            "total_num": len(batch.details),
            "success_amount": sum(d.request.amount_fen for d in success),
            "success_num": len(success),
            "fail_amount": sum(d.request.amount_fen for d in failed),
            "fail_num": len(failed),
            "create_time": rfc3339(batch.created_at),
            "update_time": rfc3339(batch.updated_at),
        }
        if need_query_detail:
            chosen = batch.details
            if detail_state and detail_state.endswith("SUCCESS"):
                chosen = success
            elif detail_state and detail_state.endswith("FAIL"):
                chosen = failed
            data["detail_list"] = [
                {
                    "out_detail_no": d.request.out_detail_no,
                    "transfer_detail_no": d.detail_no,
                    "detail_state": d.state,
                }
                for d in chosen
            ]
        return data

    def detail_reply(
        self, batch: Batch, detail: Detail, encrypt_for_merchant: Callable[[str], str]
    ) -> dict[str, Any]:
        """Reply to a detail query."""
        request = batch.request
        data: dict[str, Any] = {
            "brand_mchid": self.core.credentials.mchid,
            "brand_id": request.brand_id,
            "brand_appid": request.brand_appid,
            "template_id": request.template_id,
            "out_batch_no": request.out_batch_no,
            "batch_no": batch.batch_no,
            "out_detail_no": detail.request.out_detail_no,
            "detail_no": detail.detail_no,
            "detail_state": detail.state,
            "amount": detail.request.amount_fen,
            "openid": detail.request.openid,
            "initiate_time": rfc3339(batch.created_at),
            "update_time": rfc3339(detail.updated_at),
        }
        if detail.request.remark:
            data["remark"] = detail.request.remark
        if detail.fail_reason:
            data["fail_reason"] = detail.fail_reason
        if detail.request.user_name is not None:
            data["user_name"] = encrypt_for_merchant(detail.request.user_name)
        return data
