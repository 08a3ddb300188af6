"""Build the runtime from settings. The only place that reads the environment (C9, C10)."""

from __future__ import annotations

import secrets
from pathlib import Path

from jinli.app import models  # noqa: F401 - every table registered before first use
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
    return Runtime(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        clock=clock,
        counters=counters,
        secret=_secret(settings),
        redis=redis,
    )
