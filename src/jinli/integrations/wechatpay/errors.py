"""Typed errors of the WeChat Pay protocol client.

Every error here is also a :class:`~jinli.kernel.errors.JinliError` through one of the kernel's
generic classes, so it keeps that class's stable ``code`` and ``kind`` (a forged callback that
reaches the API edge renders as 401 ``unauthenticated``, a malformed bill uploaded in the console
as 422 ``validation_failed``, a failed WeChat call as 503 ``unavailable``). Catch
:class:`WeChatPayError` to catch all of them. WeChat's own error code lives in
``wechat_code``, never in ``code``.
"""

from __future__ import annotations

from typing import Any

from jinli.kernel.errors import Unauthenticated, Unavailable, ValidationFailed

from .outcomes import Outcome


class WeChatPayError(Exception):
    """Mixin carried by every error of this package (``except WeChatPayError`` catches them)."""


class KeyMaterialError(ValidationFailed, WeChatPayError):
    """A key, certificate or secret is unusable: bad PEM, not RSA, an APIv3 key of the wrong
    length. A configuration error, never a runtime condition."""

    title = "WeChat Pay key material is not usable"


class MalformedMessage(ValidationFailed, WeChatPayError):
    """A message from (or for) WeChat Pay does not have the documented shape: not JSON, not
    XML, a required field missing or of the wrong type."""

    title = "The WeChat Pay message is malformed"


class UnsafeXml(MalformedMessage):
    """XML with a DTD, an entity declaration or an external reference (XXE). WeChat never sends
    any of these, so they are refused before parsing, not resolved."""

    title = "The XML uses a DTD or entities, which are refused"


class SignatureError(Unauthenticated, WeChatPayError):
    """A signature did not verify. Nothing signed this way may be trusted or acted on."""

    title = "The WeChat Pay signature does not verify"


class MalformedSignature(SignatureError):
    """The signature material itself is missing or malformed (no ``Wechatpay-*`` headers, an
    ``Authorization`` header that is not ``WECHATPAY2-SHA256-RSA2048 k="v",…``)."""

    title = "The WeChat Pay signature headers are missing or malformed"


class StaleTimestamp(SignatureError):
    """The signed timestamp is more than the allowed skew (5 minutes) away from our clock: a
    replay, or a clock that needs fixing."""

    title = "The WeChat Pay signature timestamp is too far from now"


class ProbeSignature(SignatureError):
    """A ``WECHATPAY/SIGNTEST/…`` signature: WeChat's probe traffic, which must fail
    verification (official FAQ 4016241880)."""

    title = "A WeChat Pay probe signature was refused"


class UnknownSerial(SignatureError):
    """The serial (platform certificate serial or ``PUB_KEY_ID_…``) names no key we trust, or a
    certificate outside its validity period."""

    title = "The WeChat Pay signing key is unknown"


class DecryptionError(Unauthenticated, WeChatPayError):
    """AEAD_AES_256_GCM or RSA-OAEP decryption failed: wrong key, wrong nonce/associated data,
    or a tampered ciphertext (the GCM tag does not match)."""

    title = "The WeChat Pay ciphertext cannot be decrypted"


class WeChatPayCallError(Unavailable, WeChatPayError):
    """A WeChat Pay call that did not produce a success result.

    ``outcome`` is the shared classification (see :mod:`.outcomes`) and the only thing a caller
    should branch on: ``UNKNOWN`` means "the money may or may not have moved: retry with the
    SAME number or query; never issue a new number". ``wechat_message`` is for humans only.
    """

    title = "The WeChat Pay call did not succeed"

    def __init__(
        self,
        detail: str,
        *,
        outcome: Outcome,
        api: str,
        http_status: int | None = None,
        wechat_code: str | None = None,
        wechat_message: str | None = None,
        wechat_detail: Any = None,
        request_id: str | None = None,
        signed: bool | None = None,
    ) -> None:
        super().__init__(detail)
        self.outcome = outcome
        """What the reply means for Jinli; UNKNOWN is never a failure."""
        self.api = api
        """Which call failed, e.g. ``transfer_bills.create`` or ``v2.sendredpack``."""
        self.http_status = http_status
        """HTTP status of the reply; ``None`` when no reply arrived (timeout, connection)."""
        self.wechat_code = wechat_code
        """WeChat's machine code (v3 ``code`` such as ``PARAM_ERROR``, v2 ``err_code``)."""
        self.wechat_message = wechat_message
        """WeChat's human text (v3 ``message``, v2 ``err_code_des``/``return_msg``). Never
        automate on it."""
        self.wechat_detail = wechat_detail
        """The v3 ``detail`` object, when the reply had one."""
        self.request_id = request_id
        """WeChat's ``Request-ID`` header, to quote to WeChat support."""
        self.signed = signed
        """Whether the error reply carried a verified WeChat signature (``None``: not checked)."""

    @property
    def is_unknown(self) -> bool:
        """True when nobody knows whether the money moved (retry same number / query)."""
        return self.outcome is Outcome.UNKNOWN

    def __repr__(self) -> str:
        return (
            f"WeChatPayCallError(api={self.api!r}, outcome={self.outcome.value!r}, "
            f"http_status={self.http_status!r}, wechat_code={self.wechat_code!r})"
        )


class BillError(ValidationFailed, WeChatPayError):
    """A bill file that cannot be trusted. ``line`` is the 1-based line number (``None`` when
    the problem is the file as a whole), and the message names it."""

    title = "The WeChat Pay bill is malformed"

    def __init__(self, detail: str, *, line: int | None = None) -> None:
        super().__init__(f"line {line}: {detail}" if line is not None else detail)
        self.line = line


class BillHeaderError(BillError):
    """The header line is not a known WeChat bill header (missing required columns)."""

    title = "The bill header is not a WeChat Pay bill header"


class BillAmountError(BillError):
    """An amount is not an exact yuan amount (e.g. ``abc``, ``1.005``) or a count is not whole."""

    title = "The bill contains an invalid amount"


class BillTruncated(BillError):
    """The file ends before its summary header and summary row: it was cut off."""

    title = "The bill is truncated"


class BillSummaryMismatch(BillError):
    """The summary row disagrees with the detail rows (count or a total)."""

    title = "The bill summary does not match its rows"


class BillHashMismatch(BillError):
    """The downloaded bill's SHA1 differs from the ``hash_value`` WeChat announced."""

    title = "The downloaded bill does not match its announced hash"
