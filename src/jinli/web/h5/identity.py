"""Who the consumer is on H5 pages, without the database: signed cookies.

- ``jinli_h5``: the consumer session, ``openid.issued.sig`` signed with a key derived from the
  runtime secret; valid ``scans.session_days``. Set only by the OAuth callback.
- ``jinli_oauth``: one OAuth round trip, ``state.expires.return.sig``. ``state`` (32 hex
  characters) goes to WeChat and must come back equal; the cookie is deleted by the callback,
  so a replayed callback URL fails (and WeChat refuses a replayed code anyway). The return path
  is signed and only ever a local scan or prize path (no open redirect).
- ``jinli_dev``: a random device id (not a secret) so that invalid scans are also counted per
  device (S3); a client that drops it is still counted per openid and IP.
- The claim form's CSRF token is an HMAC of the session cookie: only a page served to this
  session can post a claim.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import Request
from fastapi.responses import Response

from jinli.integrations.simulator.credentials import load_or_create_credentials
from jinli.integrations.wechat.oauth import OAuthConfig, OAuthUnavailable, WeChatOAuthClient
from jinli.platform.http import client_ip
from jinli.platform.runtime import Runtime
from jinli.platform.settings import Settings
from jinli.scans.domain import Client

SESSION_COOKIE = "jinli_h5"
STATE_COOKIE = "jinli_oauth"
DEVICE_COOKIE = "jinli_dev"
STATE_TTL_SECONDS = 600
DEVICE_MAX_AGE = 365 * 86_400
CALLBACK_PATH = "/h5/oauth/callback"
SIMULATOR_MOUNT = "/wechat-sim"
OAUTH_KEY = "h5.oauth_client"

_OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
_DEVICE = re.compile(r"^[A-Za-z0-9_-]{22}$")
_RETURN = re.compile(r"^/(s/[0-9A-Za-z-]{1,64}|h5/prize/[0-9a-f-]{36})$")


def _key(runtime: Runtime) -> bytes:
    cached = runtime.extras.get("h5.key")
    if isinstance(cached, bytes):
        return cached
    key = hmac.digest(runtime.secret, b"jinli-h5-cookies", "sha256")
    runtime.extras["h5.key"] = key
    return key


def _sign(key: bytes, *parts: str) -> str:
    mac = hmac.digest(key, "|".join(parts).encode(), "sha256")
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _cookie(response: Response, runtime: Runtime, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",  # the OAuth return is a top-level GET from WeChat: Lax sends it
        secure=runtime.settings.session.cookie_secure,
        path="/",
    )


# --- the consumer session ----------------------------------------------------------------


def openid_of(request: Request, runtime: Runtime) -> str | None:
    """The signed-in consumer's openid, or ``None`` (no cookie, forged, or expired)."""
    return openid_in(request.cookies.get(SESSION_COOKIE), runtime)


def openid_in(raw: str | None, runtime: Runtime) -> str | None:
    """The openid a session cookie's value vouches for (``openid_of``)."""
    if not raw or len(raw) > 200:
        return None
    try:
        openid, issued, sig = raw.split(".")
        issued_at = int(issued)
    except ValueError:
        return None
    if not _OPENID.match(openid):
        return None
    if not hmac.compare_digest(sig, _sign(_key(runtime), "session", openid, issued)):
        return None
    if time.time() - issued_at > runtime.settings.scans.session_days * 86_400:
        return None
    return openid


def start_session(response: Response, runtime: Runtime, openid: str) -> None:
    issued = str(int(time.time()))
    value = f"{openid}.{issued}.{_sign(_key(runtime), 'session', openid, issued)}"
    _cookie(response, runtime, SESSION_COOKIE, value, runtime.settings.scans.session_days * 86_400)


def session_value(runtime: Runtime, openid: str) -> str:
    """A valid session cookie value for ``openid`` (tests and tools act as a consumer)."""
    issued = str(int(time.time()))
    return f"{openid}.{issued}.{_sign(_key(runtime), 'session', openid, issued)}"


def csrf_token(request: Request, runtime: Runtime) -> str:
    return csrf_for(request.cookies.get(SESSION_COOKIE, ""), runtime)


def csrf_for(session: str, runtime: Runtime) -> str:
    """The claim form's token for the session cookie value ``session``."""
    return _sign(_key(runtime), "csrf", session)


def csrf_ok(request: Request, runtime: Runtime, token: object) -> bool:
    return isinstance(token, str) and hmac.compare_digest(token, csrf_token(request, runtime))


def csrf_matches(token: str, session: str, runtime: Runtime) -> bool:
    """Whether ``token`` is the claim form's token of the session cookie value ``session``."""
    return hmac.compare_digest(token, csrf_for(session, runtime))


def device_ok(device: str | None) -> bool:
    """A well-formed device id (else a new one is issued)."""
    return bool(device) and _DEVICE.match(device or "") is not None


# --- a win the relay has not recorded yet (the scan hot path) ----------------------------

WON_PENDING_SECONDS = 600
"""How long the prize page keeps refreshing itself for a win not recorded yet."""


@dataclass(frozen=True, slots=True)
class Won:
    """What a signed ``w`` parameter says: this openid won ``amount_fen`` with this draw."""

    amount_fen: int
    age_seconds: float


def won_token(runtime: Runtime, openid: str, draw_id: str, amount_fen: int) -> str:
    """The prize link's ``w`` for a win the hot path promised but the relay has not written
    yet: ``issued.amount.sig``, bound to the draw and the openid (no one else can use it)."""
    issued = str(int(time.time()))
    amount = str(int(amount_fen))
    return f"{issued}.{amount}.{_sign(_key(runtime), 'won', draw_id, openid, issued, amount)}"


def won_of(runtime: Runtime, token: str | None, openid: str, draw_id: str) -> Won | None:
    """The win ``token`` vouches for (``won_token``), or ``None`` (absent or forged)."""
    if not token or len(token) > 120:
        return None
    try:
        issued, amount, sig = token.split(".")
        issued_at, amount_fen = int(issued), int(amount)
    except ValueError:
        return None
    expected = _sign(_key(runtime), "won", draw_id, openid, issued, amount)
    if not hmac.compare_digest(sig, expected):
        return None
    return Won(amount_fen, max(time.time() - issued_at, 0.0))


# --- the device cookie and the client ------------------------------------------------------


@dataclass(frozen=True)
class Visitor:
    client: Client
    new_device: str | None
    """A device id to set as a cookie on the response (first visit)."""

    def finish(self, response: Response, runtime: Runtime) -> Response:
        if self.new_device:
            _cookie(response, runtime, DEVICE_COOKIE, self.new_device, DEVICE_MAX_AGE)
        return response


def visitor(request: Request, runtime: Runtime) -> Visitor:
    device = request.cookies.get(DEVICE_COOKIE)
    new = None
    if not device or not device_ok(device):
        device = new = secrets.token_urlsafe(16)
    client = Client(openid=openid_of(request, runtime), device=device, ip=client_ip(request))
    return Visitor(client, new)


# --- one OAuth round trip ------------------------------------------------------------------


def begin_oauth(runtime: Runtime, return_path: str) -> tuple[str, str]:
    """(state, cookie value) for a round trip that comes back to ``return_path``."""
    if not _RETURN.match(return_path):
        raise ValueError("OAuth returns only to a scan or prize page")
    state = secrets.token_hex(16)
    expires = str(int(time.time()) + STATE_TTL_SECONDS)
    back = base64.urlsafe_b64encode(return_path.encode()).rstrip(b"=").decode()
    sig = _sign(_key(runtime), "oauth", state, expires, back)
    return state, f"{state}.{expires}.{back}.{sig}"


def set_state_cookie(response: Response, runtime: Runtime, value: str) -> None:
    _cookie(response, runtime, STATE_COOKIE, value, STATE_TTL_SECONDS)


def check_state(request: Request, runtime: Runtime, state: str | None) -> str | None:
    """The return path of the round trip whose ``state`` came back, or ``None`` when the
    state is missing, altered, expired or not this browser's (CSRF on the login, S8)."""
    raw = request.cookies.get(STATE_COOKIE)
    if not raw or not state or len(raw) > 400:
        return None
    try:
        expected, expires, back, sig = raw.split(".")
        expires_at = int(expires)
        path = base64.urlsafe_b64decode(back + "=" * (-len(back) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not hmac.compare_digest(sig, _sign(_key(runtime), "oauth", expected, expires, back)):
        return None
    if not hmac.compare_digest(state.encode(), expected.encode()) or time.time() > expires_at:
        return None
    return path if _RETURN.match(path) else None


def end_oauth(response: Response) -> None:
    response.delete_cookie(STATE_COOKIE, path="/")


def callback_url(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") + CALLBACK_PATH


# --- the OAuth client and the simulator's pages --------------------------------------------


def simulator_base(settings: Settings) -> str:
    """Where the offline WeChat answers: an explicit ``JINLI_WECHATPAY__BASE_URL`` (a simulator
    served alone), else the one mounted in this app (as ``app.wechat`` decides for Pay)."""
    pay = settings.wechatpay
    if "base_url" in pay.model_fields_set:
        return pay.base_url.rstrip("/")
    return settings.public_base_url.rstrip("/") + SIMULATOR_MOUNT


def simulated(settings: Settings) -> bool:
    return (settings.wechat.mode or settings.wechatpay.mode) == "simulator"


def oauth_client(
    runtime: Runtime, *, transport: httpx.AsyncBaseTransport | None = None
) -> WeChatOAuthClient:
    """The runtime's OAuth client (built once): the simulator's official account in simulator
    mode, the configured one (``wechatpay.appid`` + ``JINLI_WECHAT__APP_SECRET``) live.
    ``transport`` (first call only) replaces the network: tests plug the app in."""
    cached = runtime.extras.get(OAUTH_KEY)
    if isinstance(cached, WeChatOAuthClient):
        return cached
    settings = runtime.settings
    if simulated(settings):
        base = simulator_base(settings)
        creds = load_or_create_credentials(Path(settings.data_dir) / "simulator", base_url=base)
        config = OAuthConfig(creds.appid, creds.app_secret, base, base, settings.wechat.scope)
    else:
        secret = settings.wechat.app_secret.get_secret_value()
        if not secret:
            raise OAuthUnavailable("JINLI_WECHAT__APP_SECRET is not configured")
        config = OAuthConfig(
            settings.wechatpay.appid,
            secret,
            settings.wechat.authorize_url,
            settings.wechat.api_url,
            settings.wechat.scope,
        )
    client = WeChatOAuthClient(config, transport=transport)
    runtime.extras[OAUTH_KEY] = client
    return client


def transfer_confirm_url(settings: Settings, package_info: str) -> str | None:
    """Where the consumer confirms a transfer: the simulator's 确认收款 page in the demo. Live,
    WeChat's JSAPI ``wx.requestMerchantTransfer`` opens it inside WeChat (needs the JS-SDK)."""
    if not simulated(settings):
        return None
    from urllib.parse import quote

    return f"{simulator_base(settings)}/pages/transfer?package={quote(package_info, safe='')}"


def digest(value: str) -> str:
    """A short, stable, non-reversible tag of a value for logs (never log openids raw)."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]
