"""The WeChat (non-pay) side Jinli needs: H5 OAuth2 and message sinks (wechat-pay.md §8).

- ``/connect/oauth2/authorize`` issues a **one-time** code bound to an openid (the demo
  openid unless the consent page names another); it expires after 5 minutes.
- ``/sns/oauth2/access_token`` exchanges it once: a reused code is 40163 "code been used", an
  unknown or expired one 40029 "invalid code"; a wrong appid/secret is 40013/40125.
- ``/sns/userinfo`` returns a profile for a valid OAuth token (40001 otherwise).
- ``/cgi-bin/token`` issues the basic access token; ``/cgi-bin/message/template/send`` keeps
  every message in :attr:`OAuthDesk.messages` (a sink) and answers ``errcode 0``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .core import SimCore

TOKEN_TTL = timedelta(hours=2)


@dataclass
class _Code:
    openid: str
    scope: str
    expires_at: datetime
    used: bool = False


def _error(errcode: int, errmsg: str) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": errmsg}


class OAuthDesk:
    """Codes, tokens and sent messages of the simulated official account."""

    def __init__(self, core: SimCore) -> None:
        self.core = core
        self._codes: dict[str, _Code] = {}
        self._tokens: dict[str, tuple[str, str, datetime]] = {}
        self._basic: dict[str, datetime] = {}
        self.messages: list[dict[str, Any]] = []
        """Every template message sent (touser, template_id, data…)."""

    def unionid(self, openid: str) -> str:
        """A stable unionid for an openid."""
        return "u_" + hashlib.sha256(openid.encode()).hexdigest()[:26]

    def issue_code(self, openid: str, scope: str, now: datetime) -> str:
        """A one-time code for ``openid`` (what the redirect carries)."""
        code = self.core.token(24)
        self._codes[code] = _Code(openid, scope, now + self.core.config.oauth_code_ttl)
        return code

    def _check_app(self, appid: str | None, secret: str | None) -> dict[str, Any] | None:
        credentials = self.core.credentials
        if appid != credentials.appid:
            return _error(40013, "invalid appid")
        if secret != credentials.app_secret:
            return _error(40125, "invalid appsecret")
        return None

    def exchange(self, query: dict[str, str], now: datetime) -> dict[str, Any]:
        """``/sns/oauth2/access_token``."""
        problem = self._check_app(query.get("appid"), query.get("secret"))
        if problem:
            return problem
        if query.get("grant_type") != "authorization_code":
            return _error(40002, "invalid grant_type")
        code = self._codes.get(query.get("code", ""))
        if code is None or now > code.expires_at:
            return _error(40029, "invalid code")
        if code.used:
            return _error(40163, "code been used")
        code.used = True
        token = self.core.token(32)
        self._tokens[token] = (code.openid, code.scope, now + TOKEN_TTL)
        reply: dict[str, Any] = {
            "access_token": token,
            "expires_in": int(TOKEN_TTL.total_seconds()),
            "refresh_token": self.core.token(32),
            "openid": code.openid,
            "scope": code.scope,
        }
        if code.scope == "snsapi_userinfo":
            reply["unionid"] = self.unionid(code.openid)
        return reply

    def userinfo(self, query: dict[str, str], now: datetime) -> dict[str, Any]:
        """``/sns/userinfo``."""
        token = self._tokens.get(query.get("access_token", ""))
        if token is None or now > token[2]:
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        openid = token[0]
        if query.get("openid") != openid:
            return _error(40003, "invalid openid")
        return {
            "openid": openid,
            "nickname": "锦鲤演示用户",
            "sex": 0,
            "province": "广东",
            "city": "深圳",
            "country": "中国",
            "headimgurl": "",
            "privilege": [],
            "unionid": self.unionid(openid),
        }

    def basic_token(self, query: dict[str, str], now: datetime) -> dict[str, Any]:
        """``/cgi-bin/token``."""
        problem = self._check_app(query.get("appid"), query.get("secret"))
        if problem:
            return problem
        if query.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        token = self.core.token(48)
        self._basic[token] = now + TOKEN_TTL
        return {"access_token": token, "expires_in": int(TOKEN_TTL.total_seconds())}

    def send_template(self, access_token: str, body: Any, now: datetime) -> dict[str, Any]:
        """``/cgi-bin/message/template/send``: keep the message, answer like WeChat."""
        expires = self._basic.get(access_token)
        if expires is None or now > expires:
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        if not isinstance(body, dict) or not body.get("touser"):
            return _error(40003, "invalid openid")
        if not body.get("template_id"):
            return _error(40037, "invalid template_id")
        msgid = len(self.messages) + 1
        self.messages.append({**body, "msgid": msgid})
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}
