"""Build the runtime from settings. The only place that reads the environment (C9, C10)."""

from __future__ import annotations

import secrets
from pathlib import Path

from jinli.app import (
    models,  # noqa: F401 - every table registered before first use
    wechat,
)
from jinli.campaigns.ports import PUBLISH_PREPARATION, SETTLEMENT_GATE, PublishPreparation
from jinli.integrations.wechatpay.client import WeChatPayV3Client
from jinli.kernel.clock import Clock, SystemClock
from jinli.platform.counters import (
    CounterStore,
    DbCounterStore,
    MemoryCounterStore,
    RedisCounterStore,
)
from jinli.platform.db.engine import create_engine, is_sqlite
from jinli.platform.db.uow import make_sessionmaker
from jinli.platform.logging import configure_logging
from jinli.platform.redis import create_redis
from jinli.platform.runtime import Runtime
from jinli.platform.settings import Settings
from jinli.reconciliation import service as reconciliation_service
from jinli.scans import service as scans_service


def load_settings() -> Settings:
    return Settings()


def _secret(settings: Settings) -> bytes:
    configured = settings.secret_key.get_secret_value()
    if configured:
        return configured.encode()
    # Zero set-up: a random key kept beside the SQLite file, so sessions survive restarts.
    path = Path(settings.data_dir) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def bootstrap(settings: Settings | None = None, *, clock: Clock | None = None) -> Runtime:
    settings = settings or load_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    url = settings.resolved_database_url()
    engine = create_engine(url)
    sessionmaker = make_sessionmaker(engine)
    clock = clock or SystemClock()
    redis = create_redis(settings.redis_url) if settings.redis_url else None
    counters: CounterStore
    if redis is not None:
        counters = RedisCounterStore(redis, prefix=f"{settings.redis_key_prefix}ctr:")
    elif is_sqlite(url):
        counters = MemoryCounterStore(clock)
    else:
        counters = DbCounterStore(sessionmaker, clock)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        clock=clock,
        counters=counters,
        secret=_secret(settings),
        redis=redis,
    )
    # Campaigns cannot import reconciliation (it sits above them): every edge that settles a
    # campaign takes the check from here; without it, settling is refused (fail closed).
    runtime.extras[SETTLEMENT_GATE] = reconciliation_service.settlement_blockers
    # Likewise scans: publishing a paying rule checks its budget and pre-splits its pool there;
    # without it, the edges refuse to publish a paying rule (fail closed).
    prepare: PublishPreparation = scans_service.prepare_publish
    runtime.extras[PUBLISH_PREPARATION] = prepare
    runtime.extras[reconciliation_service.BILL_SOURCE] = lambda: _bill_source(runtime)
    return runtime


def _bill_source(runtime: Runtime) -> tuple[WeChatPayV3Client, str]:
    """The merchant's v3 client fetches its bills (built on first use, like every payout)."""
    client = wechat.wechatpay(runtime).v3
    return client, client.config.mchid
