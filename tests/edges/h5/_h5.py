"""A consumer's phone in tests: the real app over ASGI, the simulator's WeChat OAuth (mounted
in the same app) for identity, cookies kept per client, a chosen client IP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import event

from jinli.app.web import create_app
from jinli.platform.runtime import Runtime
from jinli.web.h5 import identity

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def wire(runtime: Runtime) -> FastAPI:
    """The app, with the runtime's OAuth client talking to the app's own simulator."""
    app = create_app(runtime)
    runtime.extras.pop(identity.OAUTH_KEY, None)
    identity.oauth_client(runtime, transport=httpx.ASGITransport(app=app))
    return app


@asynccontextmanager
async def phone(app: FastAPI, ip: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def sign_in(http: httpx.AsyncClient, runtime: Runtime, openid: str) -> None:
    """Act as a consumer WeChat already identified (a valid session cookie)."""
    http.cookies.set(identity.SESSION_COOKIE, identity.session_value(runtime, openid))


def local(url: str) -> str:
    """An absolute URL of the app (or its mounted simulator) as a path for the test client."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def through_oauth(http: httpx.AsyncClient, path: str) -> httpx.Response:
    """Open ``path``, follow WeChat's silent snsapi_base round trip, return the page landed on."""
    response = await http.get(path)
    for _ in range(4):
        if response.status_code not in (302, 303):
            return response
        response = await http.get(local(response.headers["location"]))
    return response


async def claim(http: httpx.AsyncClient, code: str, page: httpx.Response) -> httpx.Response:
    """Tap the claim button of a scan page."""
    match = CSRF.search(page.text)
    assert match is not None, page.text
    return await http.post(f"/s/{code}", data={"csrf": match.group(1)})


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    """Every SQL statement the runtime's engine sends while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
