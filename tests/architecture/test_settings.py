"""Settings need no configuration for the demo and refuse unsafe production set-ups."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from jinli.platform.settings import Settings


def test_defaults_need_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JINLI_DATABASE_URL", "JINLI_REDIS_URL", "JINLI_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.resolved_database_url().startswith("sqlite+aiosqlite:///")
    assert settings.redis_url is None
    assert settings.wechatpay.mode == "simulator"


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINLI_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    monkeypatch.setenv("JINLI_SESSION__IDLE_TIMEOUT_SECONDS", "600")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.resolved_database_url() == "postgresql+asyncpg://u@h/db"
    assert settings.session.idle_timeout_seconds == 600


def test_production_refuses_missing_secret_and_simulator() -> None:
    with pytest.raises(ValidationError, match="JINLI_SECRET_KEY"):
        Settings(_env_file=None, environment="production")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="simulator"):
        Settings(_env_file=None, environment="production", secret_key="x" * 40)  # type: ignore[call-arg]
