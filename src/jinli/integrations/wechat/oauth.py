"""The WeChat OAuth2 web-authorisation client (网页授权), on httpx.

Two steps, both WeChat's documented protocol:

1. ``authorize_url(redirect_uri, state)``: where to send the consumer's browser,
   ``{authorize}/connect/oauth2/authorize?appid=…&redirect_uri=…&response_type=code
   &scope=snsapi_base&state=…#wechat_redirect``. WeChat returns to ``redirect_uri`` with a
   one-time ``code`` (valid 5 minutes) and ``state`` untouched.
2. ``exchange(code)``: ``GET {api}/sns/oauth2/access_token?appid=…&secret=…&code=…
   &grant_type=authorization_code`` → ``{"openid", "access_token", "scope", …}``, or
   ``{"errcode", "errmsg"}`` (40029 invalid code, 40163 code been used, 40013 bad appid…).

Live WeChat: ``authorize_base = https://open.weixin.qq.com``, ``api_base =
https://api.weixin.qq.com``; the simulator serves both paths under its own base URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlencode

import httpx

from jinli.kernel.errors import ErrorKind, JinliError

AUTHORIZE_PATH = "/connect/oauth2/authorize"
ACCESS_TOKEN_PATH = "/sns/oauth2/access_token"  # noqa: S105 - a URL path, not a secret
DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
STATE_PATTERN = re.compile(r"^[A-Za-z0-9]{1,128}$")
"""WeChat returns ``state`` untouched if it is at most 128 bytes of ``[a-zA-Z0-9]``."""
OPENID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{6,64}$")


class OAuthFailed(JinliError):
    """WeChat refused the code (expired, used twice, not ours) or gave no usable answer."""

    code = "wechat_oauth_failed"
    kind = ErrorKind.UNAUTHENTICATED
    title = "WeChat could not confirm who you are; open the link again"


class OAuthUnavailable(OAuthFailed):
    code = "wechat_oauth_unavailable"
    kind = ErrorKind.UNAVAILABLE
    title = "WeChat did not answer; try again in a moment"


@dataclass(frozen=True)
class OAuthConfig:
    appid: str
    secret: str = field(repr=False)
    authorize_base: str
    """``https://open.weixin.qq.com`` live, or the simulator's base URL."""
    api_base: str
    """``https://api.weixin.qq.com`` live, or the simulator's base URL."""
    scope: str = "snsapi_base"


@dataclass(frozen=True)
class Identity:
    """Who WeChat says the consumer is, for this appid."""

    openid: str
    scope: str
    unionid: str | None = None


class WeChatOAuthClient:
    """Builds authorisation URLs and exchanges one-time codes. ``transport`` replaces the
    network (tests plug an ASGI app in)."""

    def __init__(
        self, config: OAuthConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self._http = httpx.AsyncClient(
            base_url=config.api_base.rstrip("/"), transport=transport, timeout=DEFAULT_TIMEOUT
        )

    async def __aenter__(self) -> WeChatOAuthClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        if not STATE_PATTERN.match(state):
            raise ValueError("state is 1–128 characters of [A-Za-z0-9]")
        query = urlencode(
            {
                "appid": self.config.appid,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": self.config.scope,
                "state": state,
            }
        )
        base = self.config.authorize_base.rstrip("/")
        return f"{base}{AUTHORIZE_PATH}?{query}#wechat_redirect"

    async def exchange(self, code: str) -> Identity:
        """The openid behind a one-time ``code``. ``OAuthFailed`` when WeChat refuses it (a
        replayed or expired code), ``OAuthUnavailable`` when WeChat does not answer."""
        if not code or len(code) > 512:
            raise OAuthFailed("no authorisation code")
        params = {
            "appid": self.config.appid,
            "secret": self.config.secret,
            "code": code,
            "grant_type": "authorization_code",
        }
        try:
            reply = await self._http.get(ACCESS_TOKEN_PATH, params=params)
        except httpx.HTTPError as exc:
            raise OAuthUnavailable(f"WeChat OAuth: {type(exc).__name__}") from None
        if reply.status_code >= 500:
            raise OAuthUnavailable(f"WeChat OAuth answered HTTP {reply.status_code}")
        try:
            body = reply.json()
        except ValueError:
            raise OAuthUnavailable("WeChat OAuth answered something that is not JSON") from None
        if not isinstance(body, dict):
            raise OAuthUnavailable("WeChat OAuth answered something that is not an object")
        if body.get("errcode"):
            raise OAuthFailed(
                f"WeChat refused the code: {body.get('errcode')} {body.get('errmsg', '')}".strip(),
                errcode=body.get("errcode"),
            )
        openid = body.get("openid")
        if not isinstance(openid, str) or not OPENID_PATTERN.match(openid):
            raise OAuthFailed("WeChat's answer carries no usable openid")
        unionid = body.get("unionid")
        return Identity(
            openid=openid,
            scope=str(body.get("scope") or self.config.scope),
            unionid=unionid if isinstance(unionid, str) else None,
        )
