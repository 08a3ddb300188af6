"""Shared fixtures: real databases (SQLite always; PostgreSQL and Redis when they answer), a
runtime per test, an HTTP client through the real ASGI app, and factories.

Every run uses its own SQLite files and its own PostgreSQL database (created here, dropped at
the end) and its own Redis key prefix, so no run leaves anything that changes the next one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from argon2 import PasswordHasher

from jinli.kernel.clock import FrozenClock
from jinli.platform import security
from jinli.platform.runtime import Runtime
from jinli.platform.settings import Settings

# argon2 at production strength costs ~50 ms a hash; tests create hundreds of operators.
security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

PG_URL = os.environ.get(
    "JINLI_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("JINLI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
T0 = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
RUN_ID = uuid.uuid4().hex[:10]
T = TypeVar("T")


def _in_thread(fn: Callable[[], T]) -> T:
    """Run blocking set-up (which may call asyncio.run) off the event loop, so session
    fixtures work whether they are first needed by a sync or an async test."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn).result()


def _run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return _in_thread(lambda: asyncio.run(coro_fn()))


def _migrate(url: str) -> None:
    from jinli.migrations.runner import upgrade

    _in_thread(lambda: upgrade(url))


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _pg_ping(url: str) -> str | None:
    import asyncpg

    try:
        conn = await asyncio.wait_for(asyncpg.connect(_asyncpg_dsn(url)), timeout=3)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head once; each test gets a copy (cheap and isolated)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    _migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, migrated to head, dropped at the end."""
    import asyncpg

    problem = _run(lambda: _pg_ping(PG_URL))
    if problem is not None:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} ({problem})")
    name = f"jinli_test_{RUN_ID}"
    base, _, _ = PG_URL.rpartition("/")

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(PG_URL))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    _run(lambda: admin(f'CREATE DATABASE "{name}"'))
    url = f"{base}/{name}"
    _migrate(url)
    yield url
    _run(lambda: admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate_pg(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
        names = ", ".join(f'"{t["tablename"]}"' for t in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
"""Parametrize ``backend`` with this (indirect=True) to run a test on both databases."""


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "postgresql":
        url: str = request.getfixturevalue("pg_database")
        _run(lambda: _truncate_pg(url))
        return url
    template: Path = request.getfixturevalue("sqlite_template")
    target = tmp_path / "jinli.db"
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


def make_settings(db_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": db_url,
        "data_dir": tmp_path,
        "secret_key": "test-secret-key-not-for-production",
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def runtime(db_url: str, tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Runtime]:
    from jinli.app.bootstrap import bootstrap

    rt = bootstrap(make_settings(db_url, tmp_path), clock=clock)
    yield rt
    await rt.aclose()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    from jinli.app.web import create_app

    transport = httpx.ASGITransport(app=create_app(runtime), client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def _redis_problem(url: str) -> str | None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url, socket_connect_timeout=2)
    try:
        await redis.ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await redis.aclose()
    return None


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    problem = _run(lambda: _redis_problem(REDIS_URL))
    if problem is not None:
        pytest.skip(f"Redis not reachable at {REDIS_URL} ({problem})")
    yield REDIS_URL

    async def cleanup() -> None:
        from redis.asyncio import Redis

        redis = Redis.from_url(REDIS_URL)
        keys = [k async for k in redis.scan_iter(match=f"*{RUN_ID}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()

    _run(cleanup)
