"""API v2 (legacy XML), as used by cash red packets: ``sendredpack`` and ``gethbinfo``.

Signature: take every parameter except ``sign`` whose value is not empty (unknown fields
included), sort by name (ASCII), join as ``k1=v1&k2=v2`` (stringA), append ``&key=API_KEY``
(stringSignTemp), then MD5 → upper-case hex, or HMAC-SHA256 keyed with the API key over the
whole stringSignTemp (``&key=`` included) → upper-case hex.

XML: ``<xml>`` with one element per field; digits bare, anything else in CDATA (as wechatpy
writes it). Replies are parsed with defusedxml and DTDs are refused outright (XXE).

Red-packet quirk: business failures may come with ``return_code=FAIL`` *and* an ``err_code``;
the client branches on ``err_code`` whenever present (see :func:`.outcomes.classify_v2_redpack`)
and never on ``err_code_des``/``return_msg``, which are for humans. Red packets need the
merchant client certificate (mTLS); without it WeChat answers ``CA_ERROR``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import ssl
import xml.etree.ElementTree as StdET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import TypeVar
from xml.sax.saxutils import escape

import httpx
from defusedxml import DefusedXmlException  # type: ignore[import-untyped]  # no stubs published
from defusedxml import ElementTree as SafeET

from jinli.kernel.money import Fen

from .client import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, DEFAULT_USER_AGENT
from .crypto import random_nonce
from .errors import KeyMaterialError, MalformedMessage, UnsafeXml, WeChatPayCallError
from .outcomes import Outcome, classify_redpack_status, classify_v2_redpack

T = TypeVar("T")

SENDREDPACK_PATH = "/mmpaymkttransfers/sendredpack"
GETHBINFO_PATH = "/mmpaymkttransfers/gethbinfo"
API_KEY_LENGTH = 32
"""The v2 API key set in the merchant platform is 32 characters."""


class SignType(StrEnum):
    """v2 signature algorithms; the values are WeChat's ``sign_type`` wire values."""

    MD5 = "MD5"
    HMAC_SHA256 = "HMAC-SHA256"


# ---------------------------------------------------------------------------------------------
# Signing


def _value_text(value: object) -> str:
    if isinstance(value, bool):
        raise TypeError("v2 parameters are text or integers, not booleans")
    return value if isinstance(value, str) else str(value)


def string_to_sign(params: Mapping[str, object]) -> str:
    """stringA: every non-empty parameter except ``sign``, sorted by name, ``k=v`` joined by
    ``&``. Unknown fields are included: a verifier must not drop what it does not know."""
    pairs = []
    for name in sorted(params):
        value = params[name]
        if name == "sign" or value is None:
            continue
        text = _value_text(value)
        if text != "":
            pairs.append(f"{name}={text}")
    return "&".join(pairs)


def sign(params: Mapping[str, object], api_key: str, sign_type: SignType = SignType.MD5) -> str:
    """The v2 ``sign`` of ``params``: upper-case hex MD5 or HMAC-SHA256 of
    ``stringA&key=API_KEY`` (the HMAC is keyed with the API key and covers ``&key=`` too)."""
    temp = f"{string_to_sign(params)}&key={api_key}".encode()
    if sign_type is SignType.HMAC_SHA256:
        return hmac.new(api_key.encode("utf-8"), temp, hashlib.sha256).hexdigest().upper()
    return hashlib.md5(temp).hexdigest().upper()  # noqa: S324 - WeChat's v2 MD5 signature


def verify_signature(
    params: Mapping[str, object], api_key: str, sign_type: SignType | None = None
) -> bool:
    """True iff ``params["sign"]`` is the signature of the other fields. The algorithm is
    ``sign_type`` when given, else the ``sign_type`` field, else MD5."""
    given = params.get("sign")
    if not isinstance(given, str) or not given:
        return False
    if sign_type is None:
        declared = params.get("sign_type") or SignType.MD5.value
        try:
            sign_type = SignType(str(declared))
        except ValueError:
            return False
    return hmac.compare_digest(sign(params, api_key, sign_type), given)


# ---------------------------------------------------------------------------------------------
# XML

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DIGITS = re.compile(r"[0-9]+\Z")
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

XmlScalar = str | int


@dataclass(frozen=True, slots=True)
class V2Message:
    """A parsed v2 XML document.

    ``fields`` holds the top-level leaf elements (the signed set); ``groups`` holds top-level
    containers as lists of their items' leaves, e.g. ``<hblist><hbinfo>…</hbinfo></hblist>``
    → ``groups["hblist"] == [{"openid": …, "amount": …, "rcv_time": …}]``.
    """

    fields: dict[str, str]
    groups: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        """A field's text, or None when absent."""
        return self.fields.get(name)


def _element(name: str, value: XmlScalar) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a usable XML element name: {name!r}")
    text = _value_text(value)
    if _XML_FORBIDDEN.search(text):
        raise ValueError(f"the value of {name} has characters XML cannot carry")
    if _DIGITS.match(text):
        return f"<{name}>{text}</{name}>"
    if "\r" in text:
        # CDATA cannot protect "\r" from XML line-end normalisation; a character reference can.
        return f"<{name}>{escape(text).replace(chr(13), '&#13;')}</{name}>"
    return f"<{name}><![CDATA[{text.replace(']]>', ']]]]><![CDATA[>')}]]></{name}>"


def to_xml(
    fields: Mapping[str, XmlScalar],
    groups: Mapping[str, tuple[str, Sequence[Mapping[str, XmlScalar]]]] | None = None,
) -> str:
    """Serialise to WeChat's ``<xml>`` form. ``groups`` maps a container tag to (item tag,
    items), for replies such as gethbinfo's ``hblist``/``hbinfo`` (the simulator's side)."""
    parts = ["<xml>"]
    parts.extend(_element(name, value) for name, value in fields.items())
    for container, (item_tag, items) in (groups or {}).items():
        if not _NAME.match(container) or not _NAME.match(item_tag):
            raise ValueError(f"not a usable XML element name: {container!r}/{item_tag!r}")
        parts.append(f"<{container}>")
        for item in items:
            inner = "".join(_element(name, value) for name, value in item.items())
            parts.append(f"<{item_tag}>{inner}</{item_tag}>")
        parts.append(f"</{container}>")
    parts.append("</xml>")
    return "".join(parts)


def parse_xml(data: bytes | str) -> V2Message:
    """Parse a v2 XML document safely: DTDs, entities and external references are refused
    (:class:`UnsafeXml`), anything not ``<xml>`` with flat fields (plus one level of groups) is
    :class:`MalformedMessage`."""
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise UnsafeXml(f"unsafe XML refused: {type(exc).__name__}") from exc
    except StdET.ParseError as exc:
        raise MalformedMessage(f"not well-formed XML: {exc}") from exc
    if not isinstance(root, StdET.Element) or root.tag != "xml":
        raise MalformedMessage("the document root is not <xml>")
    fields: dict[str, str] = {}
    groups: dict[str, list[dict[str, str]]] = {}
    for child in root:
        if child.tag in fields or child.tag in groups:
            raise MalformedMessage(f"element <{child.tag}> is repeated")
        if len(child) == 0:
            fields[child.tag] = child.text or ""
            continue
        items = []
        for item in child:
            leaves: dict[str, str] = {}
            for leaf in item:
                if len(leaf) != 0:
                    raise MalformedMessage(f"<{child.tag}> is nested too deeply")
                leaves[leaf.tag] = leaf.text or ""
            items.append(leaves)
        groups[child.tag] = items
    return V2Message(fields=fields, groups=groups)


# ---------------------------------------------------------------------------------------------
# Red packets: requests and results


@dataclass(frozen=True, slots=True)
class SendRedpackRequest:
    """``sendredpack`` (普通红包). ``mch_billno`` (≤ 28, [0-9a-zA-Z]) is the idempotency key:
    WeChat pays at most one packet per number, so every retry reuses it with identical
    parameters (different parameters get FATAL_ERROR)."""

    mch_billno: str
    wxappid: str
    send_name: str
    re_openid: str
    total_amount_fen: Fen
    wishing: str
    client_ip: str
    act_name: str
    remark: str
    total_num: int = 1
    scene_id: str | None = None
    """``PRODUCT_1``…``PRODUCT_8``; required below 1 CNY or above 200 CNY."""
    risk_info: str | None = None
    sub_mch_id: str | None = None
    msgappid: str | None = None
    consume_mch_id: str | None = None

    def to_params(self, mch_id: str) -> dict[str, XmlScalar]:
        """Request parameters without ``nonce_str`` and ``sign``."""
        params: dict[str, XmlScalar] = {
            "mch_billno": self.mch_billno,
            "mch_id": mch_id,
            "wxappid": self.wxappid,
            "send_name": self.send_name,
            "re_openid": self.re_openid,
            "total_amount": int(self.total_amount_fen),
            "total_num": self.total_num,
            "wishing": self.wishing,
            "client_ip": self.client_ip,
            "act_name": self.act_name,
            "remark": self.remark,
        }
        optional = {
            "scene_id": self.scene_id,
            "risk_info": self.risk_info,
            "sub_mch_id": self.sub_mch_id,
            "msgappid": self.msgappid,
            "consume_mch_id": self.consume_mch_id,
        }
        params.update({name: value for name, value in optional.items() if value is not None})
        return params


def _req(message: V2Message, name: str) -> str:
    value = message.fields.get(name)
    if not value:
        raise MalformedMessage(f"field {name!r} is missing")
    return value


def _int(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    if not _DIGITS.match(text):
        raise MalformedMessage(f"field {name!r} is not a whole number: {text!r}")
    return int(text)


def _req_int(message: V2Message, name: str) -> int:
    text = _req(message, name)
    if not _DIGITS.match(text):
        raise MalformedMessage(f"field {name!r} is not a whole number: {text!r}")
    return int(text)


@dataclass(frozen=True, slots=True)
class RedpackSent:
    """A red packet WeChat accepted (``result_code=SUCCESS``): ACCEPTED, not yet received."""

    mch_billno: str
    send_listid: str | None
    """WeChat's order number."""
    re_openid: str | None
    total_amount_fen: Fen | None
    fields: dict[str, str] = field(compare=False, repr=False)

    @property
    def outcome(self) -> Outcome:
        """Always ACCEPTED: the final state comes from gethbinfo."""
        return Outcome.ACCEPTED

    @classmethod
    def from_message(cls, message: V2Message) -> RedpackSent:
        """Read the success reply."""
        amount = _int(message.get("total_amount"), "total_amount")
        return cls(
            mch_billno=_req(message, "mch_billno"),
            send_listid=message.get("send_listid"),
            re_openid=message.get("re_openid"),
            total_amount_fen=None if amount is None else Fen(amount),
            fields=dict(message.fields),
        )


@dataclass(frozen=True, slots=True)
class RedpackClaim:
    """One ``hblist/hbinfo`` entry: who opened the packet, how much, when."""

    openid: str
    amount_fen: Fen
    rcv_time: str


@dataclass(frozen=True, slots=True)
class RedpackInfo:
    """A ``gethbinfo`` reply (last 30 days only)."""

    mch_billno: str
    detail_id: str | None
    status: str
    """SENDING | SENT | FAILED | RECEIVED | RFUND_ING | REFUND."""
    send_type: str | None
    hb_type: str | None
    total_num: int | None
    total_amount_fen: Fen
    reason: str | None
    send_time: str | None
    refund_time: str | None
    refund_amount_fen: Fen | None
    claims: tuple[RedpackClaim, ...]
    fields: dict[str, str] = field(compare=False, repr=False)

    @property
    def outcome(self) -> Outcome:
        """The shared meaning of ``status``."""
        return classify_redpack_status(self.status)

    @classmethod
    def from_message(cls, message: V2Message) -> RedpackInfo:
        """Read the success reply."""
        claims = []
        for item in message.groups.get("hblist", []):
            amount = _int(item.get("amount"), "amount")
            if amount is None or not item.get("openid"):
                raise MalformedMessage("an hbinfo entry lacks openid or amount")
            claims.append(
                RedpackClaim(
                    openid=item["openid"], amount_fen=Fen(amount), rcv_time=item.get("rcv_time", "")
                )
            )
        refund = _int(message.get("refund_amount"), "refund_amount")
        return cls(
            mch_billno=_req(message, "mch_billno"),
            detail_id=message.get("detail_id"),
            status=_req(message, "status"),
            send_type=message.get("send_type"),
            hb_type=message.get("hb_type"),
            total_num=_int(message.get("total_num"), "total_num"),
            total_amount_fen=Fen(_req_int(message, "total_amount")),
            reason=message.get("reason"),
            send_time=message.get("send_time"),
            refund_time=message.get("refund_time"),
            refund_amount_fen=None if refund is None else Fen(refund),
            claims=tuple(claims),
            fields=dict(message.fields),
        )


# ---------------------------------------------------------------------------------------------
# Client


@dataclass(frozen=True)
class WeChatPayV2Config:
    """Merchant credentials for API v2. ``cert_path``/``key_path`` are ``apiclient_cert.pem``
    and ``apiclient_key.pem`` for mTLS (required by WeChat for red packets; optional against
    the simulator over plain HTTP)."""

    mch_id: str
    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    cert_path: str | None = None
    key_path: str | None = None
    ca_file: str | None = None
    """A CA bundle to trust instead of the system's (e.g. the simulator's own CA)."""
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    user_agent: str = DEFAULT_USER_AGENT

    def __post_init__(self) -> None:
        if len(self.api_key) != API_KEY_LENGTH:
            raise KeyMaterialError(f"the v2 API key must be {API_KEY_LENGTH} characters")
        if (self.cert_path is None) != (self.key_path is None):
            raise KeyMaterialError("mTLS needs both cert_path and key_path")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context: system (or ``ca_file``) trust, plus the client certificate."""
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_path is not None and self.key_path is not None:
            try:
                context.load_cert_chain(self.cert_path, self.key_path)
            except (OSError, ssl.SSLError) as exc:
                raise KeyMaterialError(f"cannot load the client certificate: {exc}") from exc
        return context


class WeChatPayV2Client:
    """``sendredpack`` and ``gethbinfo`` over v2 XML with mTLS.

    Every reply that is not a clear success raises :class:`WeChatPayCallError` with the shared
    outcome: transport errors, non-200, unparseable XML, a reply ``sign`` that does not verify
    and unknown ``err_code`` values are all UNKNOWN.
    """

    def __init__(
        self,
        config: WeChatPayV2Config,
        *,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        nonce_factory: Callable[[], str] = random_nonce,
    ) -> None:
        self.config = config
        self._nonce_factory = nonce_factory
        self._owns_http = http_client is None
        if http_client is None:
            verify: ssl.SSLContext | bool = (
                config.ssl_context()
                if config.base_url.startswith("https://") and transport is None
                else True
            )
            http_client = httpx.AsyncClient(
                transport=transport, timeout=config.timeout, verify=verify
            )
        self._http = http_client

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> WeChatPayV2Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def signed_params(self, params: Mapping[str, XmlScalar]) -> dict[str, XmlScalar]:
        """``params`` plus ``nonce_str`` and the MD5 ``sign`` (red packets carry no
        ``sign_type``, so MD5 it is)."""
        signed: dict[str, XmlScalar] = {**params, "nonce_str": self._nonce_factory()}
        signed["sign"] = sign(signed, self.config.api_key, SignType.MD5)
        return signed

    async def _post(self, api: str, path: str, params: Mapping[str, XmlScalar]) -> V2Message:
        body = to_xml(self.signed_params(params)).encode("utf-8")
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "Accept": "text/xml, application/xml",
            "User-Agent": self.config.user_agent,
        }
        try:
            response = await self._http.post(
                self.config.base_url + path, content=body, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise WeChatPayCallError(
                f"{api}: no reply before the timeout", outcome=Outcome.UNKNOWN, api=api
            ) from exc
        except httpx.HTTPError as exc:
            raise WeChatPayCallError(
                f"{api}: transport error ({type(exc).__name__})", outcome=Outcome.UNKNOWN, api=api
            ) from exc
        if response.status_code != 200:
            raise WeChatPayCallError(
                f"{api}: HTTP {response.status_code}",
                outcome=Outcome.UNKNOWN,
                api=api,
                http_status=response.status_code,
            )
        try:
            message = parse_xml(response.content)
        except MalformedMessage as exc:
            raise WeChatPayCallError(
                f"{api}: the reply is not usable XML ({exc.detail})",
                outcome=Outcome.UNKNOWN,
                api=api,
                http_status=200,
            ) from exc
        if "sign" in message.fields and not verify_signature(message.fields, self.config.api_key):
            raise WeChatPayCallError(
                f"{api}: the reply sign does not verify",
                outcome=Outcome.UNKNOWN,
                api=api,
                http_status=200,
                wechat_code=message.get("err_code"),
                signed=False,
            )
        return message

    @staticmethod
    def _check(api: str, message: V2Message) -> Outcome:
        outcome = classify_v2_redpack(
            message.get("return_code"), message.get("result_code"), message.get("err_code")
        )
        if outcome is Outcome.ACCEPTED:
            return outcome
        code = message.get("err_code") or None
        human = message.get("err_code_des") or message.get("return_msg") or None
        raise WeChatPayCallError(
            f"{api}: {code or 'return_code=' + str(message.get('return_code'))}",
            outcome=outcome,
            api=api,
            http_status=200,
            wechat_code=code,
            wechat_message=human,
            signed=True if "sign" in message.fields else None,
        )

    @staticmethod
    def _read(api: str, message: V2Message, reader: Callable[[V2Message], T]) -> T:
        try:
            return reader(message)
        except MalformedMessage as exc:
            raise WeChatPayCallError(
                f"{api}: the success reply lacks documented fields ({exc.detail})",
                outcome=Outcome.UNKNOWN,
                api=api,
                http_status=200,
            ) from exc

    async def send_redpack(self, request: SendRedpackRequest) -> RedpackSent:
        """Send a normal cash red packet. On UNKNOWN/RETRY_LATER resend with the SAME
        ``mch_billno`` and parameters; only SEND_FAILED (FAILED) allows a new number."""
        api = "v2.sendredpack"
        message = await self._post(api, SENDREDPACK_PATH, request.to_params(self.config.mch_id))
        self._check(api, message)
        return self._read(api, message, RedpackSent.from_message)

    async def get_redpack_info(self, mch_billno: str, appid: str) -> RedpackInfo:
        """Query a red packet (``bill_type=MCHT``). NOT_FOUND raises UNKNOWN: the send may
        still be processing; never treat it as failed."""
        api = "v2.gethbinfo"
        params: dict[str, XmlScalar] = {
            "mch_billno": mch_billno,
            "mch_id": self.config.mch_id,
            "appid": appid,
            "bill_type": "MCHT",
        }
        message = await self._post(api, GETHBINFO_PATH, params)
        self._check(api, message)
        return self._read(api, message, RedpackInfo.from_message)
