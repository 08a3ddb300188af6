"""With JINLI_REDIS_URL set, throttle state lives in Redis and the console still works."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from jinli.app.bootstrap import bootstrap
from jinli.app.web import create_app
from jinli.kernel.clock import FrozenClock
from jinli.platform.counters import RedisCounterStore
from tests.conftest import BACKENDS, RUN_ID, make_settings
from tests.factories import create_brand

pytestmark = [pytest.mark.redis, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]


async def _login(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    form = await http.get("/console/login")
    token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    return await http.post(
        "/console/login", data={"email": email, "password": password, "csrf_token": token}
    )


async def test_login_throttle_is_shared_through_redis(
    db_url: str, tmp_path: Path, clock: FrozenClock, redis_url: str
) -> None:
    """Failures counted by one app server lock the account on another (shared Redis)."""
    settings = make_settings(
        db_url, tmp_path, redis_url=redis_url, redis_key_prefix=f"jinli:test:{RUN_ID}:"
    )
    first, second = bootstrap(settings, clock=clock), bootstrap(settings, clock=clock)
    try:
        assert isinstance(first.counters, RedisCounterStore)
        brand = await create_brand(first)
        servers = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(rt)), base_url="http://testserver"
            )
            for rt in (first, second)
        ]
        for attempt in range(5):
            refused = await _login(servers[attempt % 2], brand.owner_email, "wrong-password!")
            assert refused.status_code == 401
        locked = await _login(servers[1], brand.owner_email, brand.password)
        assert locked.status_code == 429
        for server in servers:
            await server.aclose()
    finally:
        await first.aclose()
        await second.aclose()
