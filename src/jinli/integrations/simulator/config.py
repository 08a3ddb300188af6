"""The simulator's knobs. Defaults are WeChat's documented defaults (wechat-pay.md §2.1,
§4.1, reliability.md §1.2); tests shorten delays or lower limits to exercise the rules fast."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

KeyMode = Literal["both", "certificate", "public_key"]


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that can be tuned; every limit is per merchant."""

    # --- keys -------------------------------------------------------------------------------
    key_mode: KeyMode = "both"
    """Which platform key names the merchant has. ``both`` (a merchant migrating to the public
    key): replies are signed under the name the request's ``Wechatpay-Serial`` gives, the
    certificate serial when absent. ``public_key``: always ``PUB_KEY_ID_…`` and no
    ``/v3/certificates``. ``certificate``: always the certificate serial."""

    # --- money ------------------------------------------------------------------------------
    initial_balance_fen: int = 1_000_000_000
    """The merchant's available balance (10 M CNY); payouts beyond it get NOT_ENOUGH."""
    transfer_min_fen: int = 10
    transfer_max_fen: int = 20_000
    """Per-transfer range for scene 1000 (现金营销): 0.1–200 CNY by default."""
    transfer_scenes: tuple[str, ...] = ("1000", "1005", "1006")
    """Transfer scenes the merchant has applied for; others answer 你尚未获取该转账场景."""
    redpack_min_fen: int = 100
    redpack_max_fen: int = 20_000
    """Cash red packet range without ``scene_id``: 1–200 CNY."""
    redpack_scene_min_fen: int = 30
    redpack_scene_max_fen: int = 499_900
    """Range with a ``scene_id`` (raised limits)."""
    redpack_per_user_per_day: int = 10
    """SENDNUM_LIMIT: packets per openid per (Beijing) day."""
    redpack_user_amount_per_day_fen: int = 100_000
    """RCVDAMOUNT_LIMIT: 1000 CNY per openid per day."""
    redpack_merchant_amount_per_day_fen: int = 100_000_000
    """SENDAMOUNT_LIMIT: 1,000,000 CNY per merchant per day."""
    brand_min_fen: int = 100
    brand_max_fen: int = 20_000
    """Brand red packet amount range (inferred: the cash red packet's)."""

    # --- rate limits (fixed windows on the simulator clock) ---------------------------------
    transfer_rate_per_second: int = 100
    """transfer-bills create: 100/s per merchant → 429 FREQUENCY_LIMITED."""
    redpack_rate_per_minute: int = 1800
    """sendredpack: 1800/min → FREQ_LIMIT."""
    brand_rate_per_second: int = 100
    """brand batch create (inferred: the transfer limit)."""

    # --- state machine timing ---------------------------------------------------------------
    transfer_confirm_ready_delay: timedelta = timedelta(0)
    """ACCEPTED → PROCESSING → WAIT_USER_CONFIRM. Zero: the create answers WAIT_USER_CONFIRM at
    once, as WeChat normally does; otherwise PROCESSING at half of it."""
    transfer_confirm_window: timedelta = timedelta(hours=24)
    """Unconfirmed this long → FAIL (OVERDUE_CLOSE)."""
    transfer_settle_delay: timedelta = timedelta(seconds=1)
    """TRANSFERING → SUCCESS after the user confirms, and CANCELING → CANCELLED."""
    redpack_send_delay: timedelta = timedelta(seconds=1)
    """SENDING → SENT."""
    redpack_unopened_window: timedelta = timedelta(hours=24)
    """Unopened this long → RFUND_ING."""
    redpack_refund_delay: timedelta = timedelta(minutes=5)
    """RFUND_ING → REFUND (money back to the balance)."""
    brand_settle_delay: timedelta = timedelta(seconds=1)
    """Brand red packet details are paid straight to balance this long after the batch."""
    query_window: timedelta = timedelta(days=30)
    """gethbinfo and transfer queries only see the last 30 days."""

    # --- callbacks --------------------------------------------------------------------------
    callback_retry_schedule: tuple[tuple[int, int], ...] = ((15, 10), (300, 10), (1800, 44))
    """MCHTRANSFER.*: after the first attempt, 15 s ×10, 300 s ×10, 1800 s ×44."""
    duplicate_probability: float = 0.02
    """Chance that an acknowledged callback is delivered once more ("同样的通知可能会多次发送")."""
    duplicate_delay: timedelta = timedelta(seconds=15)
    out_of_order_delay: timedelta = timedelta(seconds=60)
    """How long an OUT_OF_ORDER fault holds a callback back, so later ones overtake it."""
    callback_timeout_seconds: float = 5.0
    seed: int = 0
    """Seeds every random choice (duplicates, fault probabilities, numbers)."""

    # --- faults and transport ---------------------------------------------------------------
    hang_seconds: float = 15.0
    """A TIMEOUT fault holds the request this long (longer than a client's 10 s timeout), then
    drops the connection. Zero drops at once (in-process transports, fast tests)."""
    tick_interval_seconds: float = 1.0
    """Real-time mode: how often the background task runs due transitions and deliveries."""
    background: bool = True
    """Real-time mode runs that background task; tests that deliver callbacks themselves
    (``deliver_due``/``advance_and_deliver``) turn it off."""

    # --- OAuth (the WeChat, non-pay side) ---------------------------------------------------
    demo_openid: str = "o_demo_jinli_consumer_0001"
    oauth_code_ttl: timedelta = timedelta(minutes=5)
