"""A minimal ASGI layer: the simulator needs the raw request target (to verify signatures over
the exact bytes signed), full control of every reply byte (to sign it), and ways to *not*
answer (a hang, a dropped connection) that a framework would turn into a tidy 500.

Mounting: the route path and the canonical URL are taken relative to ``scope["root_path"]``,
which Starlette's ``Mount`` (and uvicorn's ``--root-path``) set, because merchants sign the
path relative to their configured base URL.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
MAX_BODY = 2_000_000


class SimulatedTimeout(httpx.ReadTimeout):
    """The simulator did not answer in time (raised in-process; over a socket the client
    times out first and then sees the connection close)."""


class SimulatedDrop(httpx.RemoteProtocolError):
    """The simulator closed the connection mid-reply."""


@dataclass(frozen=True)
class SimRequest:
    """One HTTP request, relative to the mount point."""

    method: str
    path: str
    """Decoded path relative to the mount (for routing)."""
    target: str
    """Raw path and query relative to the mount: the canonical URL the merchant signed."""
    query: dict[str, str]
    headers: dict[str, str]
    """Header names lower-cased."""
    body: bytes
    root_path: str

    def header(self, name: str) -> str | None:
        """A header value (case-insensitive)."""
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON (ValueError when it is not)."""
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """The body as an HTML form."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def url(self, path: str) -> str:
        """A path of this app as seen from outside (with the mount prefix)."""
        return self.root_path + path


@dataclass
class SimResponse:
    """A reply, or a refusal to reply (``hang`` seconds, then a dropped connection)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: float | None = None
    """Not None: hold the request this long, then drop the connection (a timeout)."""
    drop: bool = False
    """Close the connection mid-reply."""


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> SimResponse:
    """A JSON reply (compact UTF-8, as WeChat writes it)."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return SimResponse(
        status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    )


def html_response(status: int, html: str) -> SimResponse:
    """An HTML page: no scripts may run (the CSP allows inline styles only)."""
    return SimResponse(
        status,
        html.encode("utf-8"),
        {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": (
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
            ),
            "Cache-Control": "no-store",
        },
    )


def redirect(location: str, status: int = 303) -> SimResponse:
    """A redirect (303 after a form POST)."""
    return SimResponse(status, b"", {"Location": location})


async def read_request(scope: Scope, receive: Receive) -> SimRequest:
    """Read the whole request (bodies here are small: API calls and forms)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise ValueError("request body too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    root_path: str = scope.get("root_path", "")
    path: str = scope["path"]
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :] or "/"
    raw_path: bytes = scope.get("raw_path") or path.encode("utf-8")
    raw_root = root_path.encode("utf-8")
    if raw_root and raw_path.startswith(raw_root):
        raw_path = raw_path[len(raw_root) :] or b"/"
    query_string: bytes = scope.get("query_string", b"")
    target = raw_path.decode("latin-1")
    if query_string:
        target += "?" + query_string.decode("latin-1")
    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
    }
    query = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    return SimRequest(
        method=scope["method"].upper(),
        path=path,
        target=target,
        query=query,
        headers=headers,
        body=b"".join(chunks),
        root_path=root_path,
    )


async def send_response(send: Send, response: SimResponse) -> None:
    """Send a reply; for a hang or a drop, start a reply that never completes and raise."""
    if response.hang is not None or response.drop:
        if response.hang:
            await asyncio.sleep(response.hang)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"', "more_body": True})
        if response.hang is not None:
            raise SimulatedTimeout("the simulator held the request past the client's timeout")
        raise SimulatedDrop("the simulator dropped the connection")
    headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()
    ]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


Handler = Callable[..., Awaitable[SimResponse]]


@dataclass(frozen=True)
class Route:
    """A method and a path pattern (named groups become keyword arguments)."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler


def route(method: str, path: str, handler: Handler) -> Route:
    """``/a/{name}/b`` → a route whose ``{name}`` matches one path segment."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return Route(method, re.compile(regex + r"\Z"), handler)


def match(routes: list[Route], request: SimRequest) -> tuple[Route, dict[str, str]] | None:
    """The route for a request and its (decoded) path parameters."""
    for candidate in routes:
        found = candidate.pattern.match(request.path)
        if found and candidate.method == request.method:
            return candidate, dict(found.groupdict())
    return None
