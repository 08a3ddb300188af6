"""Typed settings read from ``JINLI_*`` environment variables; the defaults need no set-up.

Only ``jinli.app.bootstrap`` reads the environment. Everything else receives the sub-settings it
needs as arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="JINLI_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    """SQLAlchemy async URL. Empty means an SQLite file in ``data_dir`` (WAL mode)."""
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
    idempotency_retention_hours: int = Field(48, ge=24)
    session: SessionSettings = SessionSettings()
    login_throttle: LoginThrottleSettings = LoginThrottleSettings()
    wechatpay: WeChatPaySettings = WeChatPaySettings()

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.environment == "production" and not self.secret_key.get_secret_value():
            raise ValueError("JINLI_SECRET_KEY must be set in production")
        if self.environment == "production" and self.wechatpay.mode == "simulator":
            raise ValueError("production cannot pay through the WeChat Pay simulator")
        return self

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'jinli.db').as_posix()}"
