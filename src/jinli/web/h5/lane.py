"""The claim lane: ``POST /s/{code}`` taken before the web framework when it is the plain case.

A live campaign's load is one request above all others: the consumer's one tap. Walking the
framework for it (every console and API route is tried, seven middleware layers, a template
engine for a redirect) costs several times the claim itself. This ASGI middleware sits
outermost and answers the tap directly when ``scans.lane.quick_claim`` can decide it: a
signed-in consumer (session cookie checked), the form's CSRF token right, the rest as the
quick claim says. The answer is the same ``303`` to the prize page the full view sends.

Everything else passes to the application untouched, with the body it has read handed on
(``_replay``): other paths and methods, no or a forged session, a bad token, an odd body, a
first visit without the device cookie, and every case the quick claim leaves to the full
claim (``Fallback``; ``CLAIM_COUNTED`` tells the view the daily claim counter was already
hit for this tap). So the lane changes how fast the plain case is answered, never what any
request is answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qs, urlencode

import structlog
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jinli.platform.runtime import Runtime
from jinli.scans import lane as scans_lane
from jinli.scans.domain import Client
from jinli.web.h5 import identity

log = structlog.get_logger()

CLAIM_COUNTED = "jinli.claim_counted"
"""Scope key: the lane hit the daily claim counter for this tap (the view must not again)."""
MAX_BODY = 2048
"""The claim form is one token; a larger body is the full view's business."""
FORM = b"application/x-www-form-urlencoded"


class ClaimLane:
    """``headers``: what every response carries (the app's security headers), since the lane
    answers outside the middleware that adds them."""

    def __init__(
        self, app: ASGIApp, *, runtime: Runtime, headers: Sequence[tuple[bytes, bytes]]
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.headers = [*headers, (b"cache-control", b"no-store"), (b"content-length", b"0")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        code = _claim_code(scope)
        lane = scans_lane.lane_for(self.runtime) if code is not None else None
        if code is None or lane is None:
            await self.app(scope, receive, send)
            return
        body, complete = await _read_body(receive)
        if body is None:
            return  # the client went away before sending its form
        location = None
        if complete:
            location = await self._try(scope, lane, code, body)
        if location is None:
            await self.app(scope, _replay(body, complete, receive), send)
            return
        headers = [(b"location", location.encode("latin-1")), *self.headers]
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def _try(self, scope: Scope, lane: scans_lane.Lane, code: str, body: bytes) -> str | None:
        """The prize page to send the consumer to, or ``None``: the full view decides."""
        cookies, form_ok = _cookies_and_form(scope)
        session = cookies.get(identity.SESSION_COOKIE, "")
        device = cookies.get(identity.DEVICE_COOKIE)
        openid = identity.openid_in(session, self.runtime)
        if not form_ok or openid is None or not identity.device_ok(device):
            return None
        token = parse_qs(body.decode("latin-1"), max_num_fields=8).get("csrf", [""])[0]
        if not identity.csrf_matches(token, session, self.runtime):
            return None
        peer = scope.get("client")
        client = Client(openid=openid, device=device, ip=peer[0] if peer else "unknown")
        try:
            outcome = await scans_lane.quick_claim(lane, code, client)
        except Exception:
            log.exception("h5.lane.failed", path=scope.get("path"))
            return None  # nothing was claimed that the full view will not see
        if isinstance(outcome, scans_lane.Fallback):
            if outcome.counted:
                scope[CLAIM_COUNTED] = True
            return None
        won = identity.won_token(self.runtime, openid, str(outcome.draw_id), outcome.amount_fen)
        return f"/h5/prize/{outcome.draw_id}?" + urlencode({"w": won})


def _claim_code(scope: Scope) -> str | None:
    """The code of a ``POST /s/{code}``, else ``None``."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    if not path.startswith("/s/"):
        return None
    code = path[3:]
    return code if code and "/" not in code else None


def _cookies_and_form(scope: Scope) -> tuple[dict[str, str], bool]:
    cookies: dict[str, str] = {}
    form = False
    for name, value in scope["headers"]:
        if name == b"cookie":
            cookies.update(cookie_parser(value.decode("latin-1")))
        elif name == b"content-type":
            form = value.split(b";", 1)[0].strip().lower() == FORM
    return cookies, form


async def _read_body(receive: Receive) -> tuple[bytes | None, bool]:
    """(the body read, whether it is all of it): reading stops past ``MAX_BODY``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None, False
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > MAX_BODY:
            return b"".join(chunks), False


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """``receive`` that hands on the body already read, then whatever is left."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": not complete}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay
