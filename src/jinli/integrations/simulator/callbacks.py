"""Outgoing notifications (回调通知), delivered as WeChat does.

- The body is the v3 envelope with the resource encrypted under the APIv3 key
  (:func:`jinli.integrations.wechatpay.callbacks.encrypt_resource`), and every attempt is
  signed afresh with the platform key (``Wechatpay-Timestamp/-Nonce/-Signature/-Serial/
  -Signature-Type``), so a retry 30 minutes later still passes a 5-minute skew check.
- Only HTTP 200/204 acknowledges; anything else (or no answer) is retried on WeChat's
  schedule for ``MCHTRANSFER.*``: at once, then 15 s ×10, 300 s ×10, 1800 s ×44
  (wechat-pay.md §3.3), all on the simulator clock.
- "同样的通知可能会多次发送": an acknowledged notification is sometimes delivered once more
  (``duplicate_probability``, seeded).
- Callback faults (see :mod:`.faults`) add duplicates, hold a notification back, or send a
  forged, probe or amount-mismatched extra before the genuine one.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from jinli.integrations.wechatpay.callbacks import build_notification_body, encrypt_resource
from jinli.integrations.wechatpay.crypto import generate_private_key, random_nonce
from jinli.integrations.wechatpay.signing import (
    HEADER_REQUEST_ID,
    HEADER_SIGNATURE,
    PROBE_PREFIX,
    sign_response,
)

from .book import rfc3339
from .core import SimCore
from .faults import Fault, FaultKind, FaultPlan, Operation

log = logging.getLogger(__name__)

Variant = Literal["genuine", "duplicate", "forged", "mismatch", "probe"]


@dataclass
class Notification:
    """One event to tell the merchant about."""

    event_id: str
    event_type: str
    summary: str
    url: str
    resource: dict[str, Any]
    original_type: str
    created_at: datetime
    body: bytes = b""
    acked: bool = False
    gave_up: bool = False
    attempts: int = 0
    """Attempts of the genuine delivery so far."""


@dataclass
class Delivery:
    """One scheduled POST of a notification (the genuine one, or an extra)."""

    notification: Notification
    due: datetime
    variant: Variant = "genuine"
    body: bytes | None = None
    """Body override for extras (a mismatched amount); the notification's own otherwise."""


@dataclass(frozen=True)
class Attempt:
    """What happened to one POST (the delivery log)."""

    event_id: str
    event_type: str
    variant: Variant
    url: str
    at: datetime
    status: int | None
    error: str | None = None
    resource: dict[str, Any] = field(default_factory=dict)

    @property
    def acknowledged(self) -> bool:
        """True when the merchant answered 200 or 204."""
        return self.status in (200, 204)

    def to_json(self) -> dict[str, Any]:
        """JSON form (admin endpoint)."""
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "variant": self.variant,
            "url": self.url,
            "at": rfc3339(self.at),
            "status": self.status,
            "error": self.error,
            "resource": self.resource,
        }


def retry_delays(schedule: tuple[tuple[int, int], ...]) -> list[timedelta]:
    """The waits between attempts: ``((15, 10), (300, 10))`` → 15 s ten times, then 300 s…"""
    return [timedelta(seconds=seconds) for seconds, times in schedule for _ in range(times)]


class CallbackOutbox:
    """Notifications waiting for delivery, and the log of every attempt."""

    def __init__(self, core: SimCore, faults: FaultPlan) -> None:
        self.core = core
        self.faults = faults
        self.transport: httpx.AsyncBaseTransport | None = None
        """Where callbacks go: None is the network; tests plug a Mock/ASGI transport."""
        self.notifications: list[Notification] = []
        self.log: list[Attempt] = []
        self._queue: list[Delivery] = []
        self._delays = retry_delays(core.config.callback_retry_schedule)
        self._rogue_key: rsa.RSAPrivateKey | None = None

    # -- enqueue -------------------------------------------------------------------------------

    def _serial(self) -> str:
        credentials = self.core.credentials
        if self.core.config.key_mode == "public_key":
            return credentials.public_key_id
        return credentials.platform_serial_no

    def _body(self, notification: Notification, resource: dict[str, Any], event_id: str) -> bytes:
        encrypted = encrypt_resource(
            resource,
            self.core.credentials.api_v3_key,
            associated_data=notification.original_type,
            original_type=notification.original_type,
            nonce=random_nonce(12),
        )
        return build_notification_body(
            event_id=event_id,
            create_time=rfc3339(notification.created_at),
            event_type=notification.event_type,
            summary=notification.summary,
            resource=encrypted,
        )

    def notify(
        self,
        url: str,
        *,
        event_type: str,
        summary: str,
        resource: dict[str, Any],
        original_type: str,
        at: datetime,
    ) -> Notification:
        """Queue a notification for ``url``, first attempt at ``at`` (callback faults apply)."""
        notification = Notification(
            event_id=self._event_id(),
            event_type=event_type,
            summary=summary,
            url=url,
            resource=resource,
            original_type=original_type,
            created_at=at,
        )
        notification.body = self._body(notification, resource, notification.event_id)
        self.notifications.append(notification)
        fault = self.faults.draw(Operation.CALLBACK)
        first = at
        if fault is not None:
            first = self._apply_fault(notification, fault, at)
        self._queue.append(Delivery(notification, first))
        return notification

    def _event_id(self) -> str:
        return "EV-" + self.core.number("", self.core.clock.now(), 21)

    def _apply_fault(self, notification: Notification, fault: Fault, at: datetime) -> datetime:
        """Queue the extras a callback fault calls for; returns the genuine first attempt."""
        kind = fault.kind
        if kind is FaultKind.OUT_OF_ORDER:
            return at + self.core.config.out_of_order_delay
        if kind is FaultKind.DUPLICATE:
            for index in range(1, fault.copies):
                self._queue.append(
                    Delivery(notification, at + timedelta(seconds=index), "duplicate")
                )
        elif kind is FaultKind.FORGED_SIGNATURE:
            self._queue.append(Delivery(notification, at, "forged"))
        elif kind is FaultKind.PROBE:
            self._queue.append(Delivery(notification, at, "probe"))
        elif kind is FaultKind.AMOUNT_MISMATCH:
            resource = copy.deepcopy(notification.resource)
            for name in ("transfer_amount", "amount", "total_amount"):
                if isinstance(resource.get(name), int):
                    resource[name] += 100
            body = self._body(notification, resource, self._event_id())
            self._queue.append(Delivery(notification, at, "mismatch", body))
        return at

    # -- deliver -------------------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        """When the earliest queued delivery is due."""
        return min((d.due for d in self._queue), default=None)

    def pending(self) -> int:
        """Deliveries still queued."""
        return len(self._queue)

    def take_due(self, now: datetime) -> list[Delivery]:
        """Remove and return the deliveries due by ``now`` (extras first, then by time)."""
        due = [d for d in self._queue if d.due <= now]
        self._queue = [d for d in self._queue if d.due > now]
        order = {"forged": 0, "probe": 0, "mismatch": 0, "genuine": 1, "duplicate": 2}
        due.sort(key=lambda d: (d.due, order[d.variant]))
        return due

    def headers(self, delivery: Delivery) -> tuple[bytes, dict[str, str]]:
        """The body and signed headers of one attempt, signed now (protocol time)."""
        body = delivery.body if delivery.body is not None else delivery.notification.body
        key = self.core.credentials.platform_key
        if delivery.variant == "forged":
            if self._rogue_key is None:
                self._rogue_key = generate_private_key()
            key = self._rogue_key
        headers = sign_response(
            key,
            self._serial(),
            body,
            timestamp=int(self.core.clock.wall().timestamp()),
            nonce=random_nonce(),
        )
        if delivery.variant == "probe":
            headers[HEADER_SIGNATURE] = PROBE_PREFIX + headers[HEADER_SIGNATURE]
        headers[HEADER_REQUEST_ID] = "sim-" + random_nonce(24)
        headers["Content-Type"] = "application/json"
        headers["User-Agent"] = "Mozilla/4.0 (WeChat Pay simulator callback)"
        return body, headers

    def record(
        self, delivery: Delivery, at: datetime, status: int | None, error: str | None
    ) -> Attempt:
        """Log an attempt and decide what follows: ack, retry, duplicate or give up."""
        notification = delivery.notification
        resource = notification.resource
        if delivery.variant == "mismatch":
            resource = {**resource, "_mismatched": True}
        attempt = Attempt(
            event_id=notification.event_id,
            event_type=notification.event_type,
            variant=delivery.variant,
            url=notification.url,
            at=at,
            status=status,
            error=error,
            resource=resource,
        )
        self.log.append(attempt)
        if delivery.variant != "genuine":
            return attempt
        notification.attempts += 1
        if attempt.acknowledged:
            notification.acked = True
            if self.core.rng.random() < self.core.config.duplicate_probability:
                self._queue.append(
                    Delivery(notification, at + self.core.config.duplicate_delay, "duplicate")
                )
        elif notification.attempts <= len(self._delays):
            wait = self._delays[notification.attempts - 1]
            self._queue.append(Delivery(notification, at + wait))
        else:
            notification.gave_up = True
        return attempt


async def post(
    transport: httpx.AsyncBaseTransport | None,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_seconds: float,
) -> tuple[int | None, str | None]:
    """POST one callback; (status, None) or (None, error) when no answer came."""
    try:
        async with httpx.AsyncClient(transport=transport, timeout=timeout_seconds) as client:
            response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        log.info("simulator.callback.failed url=%s error=%s", url, type(exc).__name__)
        return None, type(exc).__name__
    return response.status_code, None
