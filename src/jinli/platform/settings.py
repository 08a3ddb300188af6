"""Typed settings read from ``JINLI_*`` environment variables; the defaults need no set-up.

Only ``jinli.app.bootstrap`` reads the environment. Everything else receives the sub-settings it
needs as arguments.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SessionSettings(BaseModel):
    idle_timeout_seconds: int = Field(30 * 60, ge=60)
    """A console session unused this long is dead (ASVS 7.3.1)."""
    absolute_timeout_seconds: int = Field(12 * 3600, ge=300)
    """A console session older than this is dead, however active (ASVS 7.3.2)."""
    cookie_secure: bool = False
    """Send the session cookie only over HTTPS. Off by default because the demo is plain HTTP
    on 127.0.0.1; turn on behind TLS."""


class LoginThrottleSettings(BaseModel):
    free_attempts: int = Field(5, ge=1)
    """Failed logins allowed per account (and per IP) before back-off starts."""
    base_delay_seconds: int = Field(2, ge=1)
    max_delay_seconds: int = Field(15 * 60, ge=1)
    window_seconds: int = Field(3600, ge=60)


class RateLimitSettings(BaseModel):
    """One WeChat Pay rate limit: at most ``calls`` per ``per_seconds`` per merchant."""

    calls: int = Field(ge=1)
    per_seconds: int = Field(ge=1)


WECHATPAY_RATE_LIMITS: dict[str, dict[str, int]] = {
    "transfer": {"calls": 100, "per_seconds": 1},
    "red_packet": {"calls": 1800, "per_seconds": 60},
    "brand_red_packet": {"calls": 100, "per_seconds": 1},
}
"""WeChat's documented per-merchant limits (wechat-pay.md §2.1, §4.1; brand red packets publish
no figure and are taken as transfers)."""


class PayoutDispatchSettings(BaseModel):
    """How the payout dispatcher paces its WeChat Pay calls (docs/payouts-rate-limit.md).

    The limits default to WeChat's documented per-merchant limits: lower them if other systems
    send with the same merchant number, since WeChat counts every call of the merchant
    (``JINLI_WECHATPAY__DISPATCH__RED_PACKET__CALLS=1200`` keeps the minute).
    """

    transfer: RateLimitSettings = RateLimitSettings(**WECHATPAY_RATE_LIMITS["transfer"])
    """Merchant transfers (transfer-bills create): 100/s."""
    red_packet: RateLimitSettings = RateLimitSettings(**WECHATPAY_RATE_LIMITS["red_packet"])
    """v2 cash red packets (sendredpack): 1,800/min."""
    brand_red_packet: RateLimitSettings = RateLimitSettings(
        **WECHATPAY_RATE_LIMITS["brand_red_packet"]
    )
    """Brand red packets (batch create): 100/s (inferred: WeChat publishes no figure)."""
    jitter_allowance_seconds: float = Field(0.05, ge=0, le=10)
    """The safety margin. Calls are spaced ``(per_seconds + this) / calls`` apart, so however
    WeChat's windows fall, no window sees more than ``calls`` even when arrivals shift by up to
    this much relative to each other (network, event loop); a call that would leave more than
    half of it late is re-slotted. 50 ms holds 95 % of 100/s and 99.9 % of 1,800/min."""
    backoff_seconds: float = Field(1.0, ge=0, le=60)
    """After a FREQUENCY_LIMITED answer, no call of that kind goes out for this long (someone
    else is using the merchant's quota, or WeChat counts differently than documented)."""
    concurrency: int = Field(32, ge=1, le=256)
    """Payouts one dispatcher pass has waiting for their slot or in a call at once. It bounds
    the pace of one worker to ``concurrency / WeChat's answer time`` (32 / 0.3 s ≈ 100/s)."""
    max_wait_seconds: float = Field(20.0, gt=0, le=50)
    """A claimed payout with no slot this long after its claim is given back unsent (same
    number, retried later), well within the claim's 60 s lease."""

    @model_validator(mode="before")
    @classmethod
    def _partial_limits(cls, data: Any) -> Any:
        """An environment variable may set one field of a limit; the other keeps WeChat's."""
        if isinstance(data, dict):
            for name, default in WECHATPAY_RATE_LIMITS.items():
                given = data.get(name)
                if isinstance(given, dict):
                    data = {**data, name: {**default, **given}}
        return data


class WeChatPaySettings(BaseModel):
    """Merchant configuration. In ``simulator`` mode (the default) the credentials come from
    the simulator's directory and nothing here needs setting; in ``live`` mode every
    credential below is required and ``base_url`` defaults to WeChat's own."""

    mode: Literal["simulator", "live"] = "simulator"
    base_url: str = "http://127.0.0.1:8000/wechat-sim"
    mch_id: str = "1900000001"
    appid: str = "wxd930ea5d5a258f4f"
    merchant_serial_no: str = ""
    merchant_key_path: Path | None = None
    """``apiclient_key.pem``: signs every v3 request."""
    api_v3_key: SecretStr = SecretStr("")
    platform_public_key_id: str = ""
    """``PUB_KEY_ID_…`` of the WeChat Pay public key (the recommended verification mode)."""
    platform_public_key_path: Path | None = None
    platform_cert_paths: list[Path] = Field(default_factory=list)
    """Platform certificates, for merchants still in certificate mode."""
    v2_api_key: SecretStr = SecretStr("")
    """The 32-character v2 key (cash red packets)."""
    v2_cert_path: Path | None = None
    v2_key_path: Path | None = None
    """mTLS client certificate and key for v2 red packets (required by WeChat)."""
    notify_url: str = ""
    """Where WeChat posts payout notifications; default: public base URL + /wechatpay/notify."""
    payout_mode: Literal["transfer", "brand_red_packet", "red_packet"] = "transfer"
    send_name: str = "锦鲤"
    dispatch: PayoutDispatchSettings = PayoutDispatchSettings()
    """Rate limits and concurrency of the payout dispatcher (``JINLI_WECHATPAY__DISPATCH__*``)."""


class CodesSettings(BaseModel):
    """One item, one code (M3): the two code secrets and the generation limits.

    Empty secrets mean keys generated once into ``<data_dir>/codes/keys.json`` (mode 0600), as
    the simulator does with its merchant: fine for the demo, refused in production. The two keys
    must differ; whoever holds ``tag_key`` can mint codes that pass the check."""

    tag_key: SecretStr = SecretStr("")
    """Secret (≥ 32 characters) from which the AES-CMAC key of the codes' tag is derived."""
    lookup_key: SecretStr = SecretStr("")
    """Secret (≥ 32 characters) of the HMAC under which codes are stored (never plaintext)."""
    retired_tag_keys: list[SecretStr] = Field(default_factory=list)
    """Former tag secrets: codes printed under them still verify; new codes never use them."""
    sync_max_count: int = Field(100_000, ge=1, le=10_000_000)
    """Largest batch the API and the console generate within one request; bigger batches are
    generated by ``jinli codes generate`` (streamed, with a progress bar)."""
    max_count: int = Field(50_000_000, ge=1)
    """Largest batch at all (the CLI)."""
    chunk_size: int = Field(10_000, ge=100, le=1_000_000)
    """Codes generated, inserted and written per step: memory stays flat in the batch size."""
    codes_per_file: int = Field(100_000, ge=1_000)
    """Codes per CSV file in the printer's zip."""
    compress_export: bool = False
    """Deflate the CSV files of the export (≈ 3× smaller, ≈ 2× slower to generate)."""
    qr_sheet_max_codes: int = Field(2_000, ge=0, le=100_000)
    """QR print sheets (SVG, 40 labels per A4 page) are added to the export up to this batch
    size (≈ 3 ms per QR in pure Python); larger runs print the QR from the CSV's url column."""


class GuessLimit(BaseModel):
    """Invalid scans (forged, mistyped or unknown codes) one client may make: the next one is
    refused with "too many attempts" before any database work (S3, I7)."""

    per_window: int = Field(ge=1)
    """Allowed in ``ScanSettings.guess_window_seconds`` (10 minutes by default)."""
    per_day: int = Field(ge=1)
    """Allowed in 24 hours."""


class ScanSettings(BaseModel):
    """Scan-to-win (M3, M10): code-guessing throttles, the guessing-storm alarm, the claim
    velocity limit and the IP → region map behind 串货 alerts (docs/scans.md)."""

    guess_window_seconds: int = Field(600, ge=60, le=86_400)
    guess_openid: GuessLimit = GuessLimit(per_window=5, per_day=20)
    """Per WeChat openid: the 6th invalid scan in 10 minutes (21st in a day) is refused."""
    guess_device: GuessLimit = GuessLimit(per_window=5, per_day=20)
    """Per device (a long-lived cookie; a client dropping it is still caught by openid and IP)."""
    guess_ip: GuessLimit = GuessLimit(per_window=30, per_day=200)
    """Per client IP: looser, since many consumers share a carrier-grade NAT address."""
    storm_per_minute: int = Field(300, ge=1)
    """Invalid scans per minute across all clients that raise the guessing alarm
    (log + ``alert.guessing``), once per minute in which the threshold is crossed."""
    claims_per_openid_per_day: int = Field(50, ge=1)
    """Codes one openid may claim in 24 hours (a velocity limit against bounty hunters);
    beyond it a genuine code is refused (``scan.refused`` reason ``throttled``)."""
    session_days: int = Field(30, ge=1, le=365)
    """How long the consumer session cookie (the openid from WeChat OAuth) lasts."""
    hot_path: Literal["sql", "postgres", "redis", "auto"] = "sql"
    """Where a claim is decided (``scans.hot``): ``sql`` claims and pays in one database
    transaction; ``redis`` / ``postgres`` grab in a hot store (a Lua script; group-committed
    batches) and a worker relay settles the grabs into the database; ``auto`` picks redis
    when ``redis_url`` is set, postgres on a PostgreSQL database, sql otherwise."""
    allowance_tranche_fen: int = Field(100_000, ge=1, le=10**12)
    """The allowance a hot store is topped up with at a time (¥1,000 by default), taken from
    the campaign's available budget into the ledger's ``allotted`` account: one ledger
    transaction per ~1,000 ¥1 prizes, and at most a couple of tranches per running process
    set aside beyond what has been won (``service.ensure_allowance``)."""
    relay_batch: int = Field(200, ge=1, le=5_000)
    """Grabs the relay settles per database transaction (a savepoint each)."""
    relay_stale_seconds: float = Field(30.0, gt=0, le=3_600)
    """A grab handed to a relay and not settled within this is handed out again."""
    relay_busy_seconds: float = Field(0.1, gt=0, le=10)
    """Pause between relay passes while there is work (the idle pause doubles up to
    ``relay_idle_seconds``)."""
    relay_idle_seconds: float = Field(2.0, gt=0, le=60)
    allowance_task_seconds: float = Field(60.0, gt=0, le=3_600)
    """How often the worker re-applies recent tranches (``restore_allowances``) and takes
    back the allowance of campaigns no longer live (``release_allowances``)."""
    allowance_restore_days: int = Field(7, ge=1, le=365)
    """How far back ``restore_allowances`` re-applies tranches (idempotent per tranche)."""
    region_map: dict[str, str] = Field(
        default_factory=lambda: {
            "127.0.0.0/24": "浙江/杭州",
            "127.0.1.0/24": "广东/深圳",
            "127.0.2.0/24": "北京",
            "127.0.3.0/24": "上海",
            "10.0.0.0/8": "浙江/杭州",
            "192.168.0.0/16": "浙江/杭州",
            "203.0.113.0/24": "广东/深圳",
            "198.51.100.0/24": "北京",
        }
    )
    """Client IP network (CIDR) → region, longest prefix wins; a scan from an address in no
    network has no region (and raises no 串货 alert). The default is a DEMO map (loopback
    sub-nets and documentation ranges); in production load your IP-geolocation export here
    (``JINLI_SCANS__REGION_MAP='{"1.2.3.0/24": "浙江/杭州"}'``). Regions are written like the
    regions batches are activated for (``省/市``), so that they can be compared."""

    @field_validator("region_map")
    @classmethod
    def _networks_and_regions(cls, value: dict[str, str]) -> dict[str, str]:
        for cidr, region in value.items():
            ipaddress.ip_network(cidr, strict=False)  # ValueError: not a network
            if not region.strip() or len(region) > 64:
                raise ValueError(f"region of {cidr} must be 1–64 characters")
        return value


class WeChatSettings(BaseModel):
    """The official account behind consumer identity (WeChat OAuth, ``snsapi_base``).

    ``mode`` follows ``wechatpay.mode`` unless set: in ``simulator`` mode the appid and secret
    are the simulator's and both URLs its own (mounted at ``/wechat-sim``); in ``live`` mode the
    appid is ``wechatpay.appid`` (openids are per appid, and payouts go to the same openid)
    and ``app_secret`` is required."""

    mode: Literal["simulator", "live"] | None = None
    app_secret: SecretStr = SecretStr("")
    authorize_url: str = "https://open.weixin.qq.com"
    """Where the consumer's browser is sent to authorise (live mode)."""
    api_url: str = "https://api.weixin.qq.com"
    """Where the code is exchanged for the openid (live mode)."""
    scope: Literal["snsapi_base", "snsapi_userinfo"] = "snsapi_base"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="JINLI_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    """SQLAlchemy async URL. Empty means an SQLite file in ``data_dir`` (WAL mode)."""
    database_pool_size: int = Field(20, ge=1, le=500)
    """PostgreSQL connections each process keeps open. A request beyond them waits for one
    rather than opening a connection of its own: a new PostgreSQL connection costs a backend
    process, far more than the wait (overflow connections are closed when handed back)."""
    database_max_overflow: int = Field(5, ge=0, le=500)
    """Connections a process may open beyond the pool at a peak (closed when handed back)."""
    redis_url: str | None = None
    """Redis for rate-limit counters and hot state; ``None`` keeps them in the database."""
    redis_key_prefix: str = Field("jinli:", min_length=1, max_length=50)
    """Prefix of every Redis key, so several deployments (or test runs) can share a server."""
    secret_key: SecretStr = SecretStr("")
    """Signs CSRF tokens and derives keys. Empty means a random key stored in ``data_dir``."""
    public_base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    log_json: bool = False
    max_body_bytes: int = Field(1_000_000, ge=1024)
    """Requests with a larger body are refused with 413 before they are parsed."""
    max_upload_bytes: int = Field(64_000_000, ge=1024)
    """The larger limit of the routes that take files (a WeChat Pay bill upload)."""
    idempotency_retention_hours: int = Field(48, ge=24)
    session: SessionSettings = SessionSettings()
    login_throttle: LoginThrottleSettings = LoginThrottleSettings()
    wechatpay: WeChatPaySettings = WeChatPaySettings()
    codes: CodesSettings = CodesSettings()
    scans: ScanSettings = ScanSettings()
    wechat: WeChatSettings = WeChatSettings()

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.environment == "production" and not self.secret_key.get_secret_value():
            raise ValueError("JINLI_SECRET_KEY must be set in production")
        if self.environment == "production" and self.wechatpay.mode == "simulator":
            raise ValueError("production cannot pay through the WeChat Pay simulator")
        if self.environment == "production" and not (
            self.codes.tag_key.get_secret_value() and self.codes.lookup_key.get_secret_value()
        ):
            raise ValueError("JINLI_CODES__TAG_KEY and JINLI_CODES__LOOKUP_KEY must be set")
        return self

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'jinli.db').as_posix()}"
