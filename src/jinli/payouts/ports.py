"""What the payouts capability needs from WeChat Pay, independent of the protocol client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from jinli.kernel.money import Fen
from jinli.payouts.domain import PayoutMode, Verdict


@dataclass(frozen=True, slots=True)
class PayoutRequest:
    """Everything a gateway needs to send or query one payout attempt. The same request
    (same number, same parameters) is sent on every retry."""

    mode: PayoutMode
    bill_number: str
    openid: str
    amount_fen: Fen
    remark: str
    """Shown to the consumer (≤ 32 characters)."""
    activity: str
    """The campaign name, reported to WeChat (活动名称, ≤ 32 characters)."""


@dataclass(frozen=True, slots=True)
class GatewayResult:
    verdict: Verdict
    wechat_state: str | None = None
    wechat_no: str | None = None
    package_info: str | None = None
    """For a transfer awaiting the consumer: what the H5/mini-program passes to
    ``requestMerchantTransfer`` so the consumer can confirm."""
    fail_reason: str | None = None
    error: str | None = None
    review: bool = False
    """An answer no rule covers (e.g. a new error code): keep the number, ask a person."""


class PayoutGateway(Protocol):
    async def send(self, request: PayoutRequest) -> GatewayResult:
        """Create the payout at WeChat (idempotent per ``bill_number``)."""
        ...

    async def query(self, request: PayoutRequest) -> GatewayResult:
        """Ask WeChat for the current state of ``bill_number``."""
        ...


@dataclass(frozen=True, slots=True)
class Notification:
    """A verified, decrypted WeChat Pay notification about one payout."""

    event_id: str
    bill_number: str
    amount_fen: int
    result: GatewayResult


class NotificationReader(Protocol):
    def read(self, headers: dict[str, str], body: bytes) -> Notification:
        """Verify the signature over the raw body, decrypt, and map to a payout result.
        Raises on anything forged, stale, tampered or malformed."""
        ...
