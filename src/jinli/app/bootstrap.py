"""Build the runtime from settings. The only place that reads the environment (C9, C10)."""

from __future__ import annotations

import importlib
import secrets
import uuid
from pathlib import Path
from typing import cast

import structlog

from jinli.accounts.domain import Actor
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
from jinli.platform.db.uow import UnitOfWork, make_sessionmaker
from jinli.platform.logging import configure_logging
from jinli.platform.redis import create_redis
from jinli.platform.runtime import Runtime
from jinli.platform.settings import Settings
from jinli.reconciliation import service as reconciliation_service
from jinli.scans import lane as scans_lane
from jinli.scans import service as scans_service
from jinli.scans.ports import HotClaimStore

log = structlog.get_logger()


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
    engine = create_engine(
        url, pool_size=settings.database_pool_size, max_overflow=settings.database_max_overflow
    )
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
    wire_hot_store(runtime, _hot_store(runtime))
    runtime.extras[reconciliation_service.BILL_SOURCE] = lambda: _bill_source(runtime)
    return runtime


def hot_path(settings: Settings, *, has_redis: bool, dialect: str) -> str:
    """The hot path ``scans.hot_path`` names: ``auto`` is redis with Redis, postgres on
    PostgreSQL, sql otherwise. A store the deployment cannot run is refused here."""
    chosen = settings.scans.hot_path
    if chosen == "auto":
        return "redis" if has_redis else "postgres" if dialect == "postgresql" else "sql"
    if chosen == "redis" and not has_redis:
        raise ValueError("JINLI_SCANS__HOT_PATH=redis needs JINLI_REDIS_URL")
    if chosen == "postgres" and dialect != "postgresql":
        raise ValueError("JINLI_SCANS__HOT_PATH=postgres needs a PostgreSQL database")
    return chosen


def _hot_store(runtime: Runtime) -> HotClaimStore | None:
    """The scan hot store the settings ask for, or ``None`` (the SQL claim). The adapter is
    imported only when chosen (by name: a deployment without it still boots on sql)."""
    chosen = hot_path(
        runtime.settings, has_redis=runtime.redis is not None, dialect=runtime.dialect
    )
    if chosen == "redis":
        module = importlib.import_module("jinli.scans.adapters.redis_store")
        return cast(
            HotClaimStore,
            module.RedisHotStore(runtime.redis, prefix=runtime.settings.redis_key_prefix),
        )
    if chosen == "postgres":
        module = importlib.import_module("jinli.scans.adapters.pg_store")
        return cast(HotClaimStore, module.PgHotStore(runtime.engine))
    return None


def wire_hot_store(runtime: Runtime, store: HotClaimStore | None) -> None:
    """Put the scan hot store (``scans.hot_store``; ``None``: the SQL claim) and the publish
    hook that knows about it into the runtime. Bootstrap calls it with the store the settings
    name; tests and benchmarks may call it again with their own (before the first scan, or
    the scan environment cached in the runtime is rebuilt)."""
    tranche = runtime.settings.scans.allowance_tranche_fen
    runtime.extras.pop(scans_service.ENV_KEY, None)
    runtime.extras.pop(scans_service.HOT_STORE_KEY, None)
    runtime.extras.pop(scans_lane.LANE_KEY, None)
    if store is None:
        prepare: PublishPreparation = scans_service.prepare_publish
    else:
        runtime.extras[scans_service.HOT_STORE_KEY] = store
        close = getattr(store, "aclose", None)
        if close is not None:
            runtime.on_close(close)  # finish the batches in flight before the pools close
        log.info("scans.hot_path", store=type(store).__name__, tranche_fen=tranche)

        async def prepare_hot(uow: UnitOfWork, actor: Actor, campaign_id: uuid.UUID, /) -> object:
            return await scans_service.prepare_publish(
                uow, actor, campaign_id, hot=store, tranche_fen=tranche
            )

        prepare = prepare_hot
    runtime.extras[PUBLISH_PREPARATION] = prepare


def _bill_source(runtime: Runtime) -> tuple[WeChatPayV3Client, str]:
    """The merchant's v3 client fetches its bills (built on first use, like every payout)."""
    client = wechat.wechatpay(runtime).v3
    return client, client.config.mchid
