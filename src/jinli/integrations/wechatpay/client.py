"""The async API v3 client (httpx): signs every request, verifies every reply, and turns every
non-success into a :class:`WeChatPayCallError` carrying the shared :class:`Outcome`.

Rules it enforces:

- The body signed is the body sent (compact UTF-8 JSON from :func:`.wire.dumps`); the
  canonical URL is the API path and query relative to ``base_url`` (as the community SDKs sign
  it), so a simulator mounted under a prefix must strip it before verifying.
- A 2xx reply is trusted only after its signature verifies; a bad signature, an unparseable
  body or a missing field is UNKNOWN, never success.
- Timeouts, connection errors and 5xx are UNKNOWN. Error replies are classified by
  :func:`.outcomes.classify_v3`; a badly signed error reply is UNKNOWN, and a REJECTED reply
  without any signature is UNKNOWN too (WeChat signs every reply to a request whose signature
  it accepted, so an unsigned "nothing happened" is not WeChat's word), except SIGN_ERROR,
  which WeChat cannot sign.
- Bill downloads are the documented unsigned reply: checked by SHA1 instead.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote, urlencode

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from jinli.kernel.clock import Clock, SystemClock

from .certificates import CERTIFICATES_PATH, PlatformCertificate, decrypt_certificates
from .crypto import api_v3_key_bytes, oaep_decrypt, oaep_encrypt, random_nonce
from .errors import (
    BillHashMismatch,
    BillTruncated,
    DecryptionError,
    MalformedMessage,
    SignatureError,
    WeChatPayCallError,
)
from .models import (
    BRAND_REDPACKET_PATH,
    TRANSFER_BILLS_PATH,
    BillDownloadInfo,
    BrandRedpacketBatch,
    BrandRedpacketBatchCreate,
    BrandRedpacketDetail,
    TransferBill,
    TransferBillCancel,
    TransferBillCreate,
    TransferBillDetail,
    V3ErrorBody,
)
from .outcomes import Outcome, classify_v3
from .signing import (
    HEADER_REQUEST_ID,
    HEADER_SERIAL,
    HEADER_SIGNATURE,
    MAX_CLOCK_SKEW,
    MerchantSigner,
    PlatformKeys,
    SignatureVerifier,
)
from .wire import JsonObject, dumps, loads_object

DEFAULT_BASE_URL = "https://api.mch.weixin.qq.com"
"""WeChat Pay's gateway. The simulator is chosen by configuring another ``base_url``."""
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
"""A timeout is an UNKNOWN outcome, so it is bounded but not short."""

T = TypeVar("T")


def _package_version() -> str:
    try:
        return version("jinli")
    except PackageNotFoundError:  # running from a source tree without installed metadata
        return "0"


DEFAULT_USER_AGENT = f"Jinli/{_package_version()} (WeChatPay-APIv3; httpx/{httpx.__version__})"
"""The v3 rules ask every merchant request to carry a User-Agent."""


@dataclass(frozen=True)
class WeChatPayV3Config:
    """Merchant credentials and transport settings for API v3."""

    mchid: str
    merchant_serial_no: str
    """Serial of the merchant API certificate (``apiclient_cert.pem``), upper-case hex."""
    merchant_private_key: rsa.RSAPrivateKey = field(repr=False)
    api_v3_key: str = field(repr=False)
    """The 32-byte APIv3 key that encrypts callbacks and certificates."""
    base_url: str = DEFAULT_BASE_URL
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    user_agent: str = DEFAULT_USER_AGENT
    max_clock_skew: timedelta = MAX_CLOCK_SKEW

    def __post_init__(self) -> None:
        api_v3_key_bytes(self.api_v3_key)
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))


@dataclass(frozen=True)
class V3Reply:
    """A raw reply whose signature (when checked) verified."""

    status: int
    headers: httpx.Headers
    body: bytes
    request_id: str | None

    def json(self) -> JsonObject:
        """The body as a JSON object (MalformedMessage otherwise)."""
        return loads_object(self.body)


def _segment(value: str) -> str:
    """A path parameter, percent-encoded so it can never change the path."""
    if not value:
        raise ValueError("a path parameter cannot be empty")
    return quote(value, safe="")


class WeChatPayV3Client:
    """API v3: transfer-bills, brand red packets, bills and certificates.

    Pass ``http_client`` to share a connection pool (its timeouts and TLS settings are then
    yours), or ``transport`` to plug in a mock; otherwise the client owns its
    ``httpx.AsyncClient`` and closes it in :meth:`aclose`.
    """

    def __init__(
        self,
        config: WeChatPayV3Config,
        keys: PlatformKeys,
        *,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        nonce_factory: Callable[[], str] = random_nonce,
    ) -> None:
        self.config = config
        self.keys = keys
        self._clock = clock or SystemClock()
        self._signer = MerchantSigner(
            config.mchid,
            config.merchant_serial_no,
            config.merchant_private_key,
            clock=self._clock,
            nonce_factory=nonce_factory,
        )
        self.verifier = SignatureVerifier(keys, clock=self._clock, max_skew=config.max_clock_skew)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(transport=transport, timeout=config.timeout)

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> WeChatPayV3Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -----------------------------------------------------------------------------------------
    # Core

    def _headers(self, method: str, canonical_url: str, content: bytes) -> dict[str, str]:
        auth = self._signer.sign(method, canonical_url, content)
        headers = {
            "Authorization": auth.to_header(),
            "Accept": "application/json",
            "User-Agent": self.config.user_agent,
        }
        if content:
            headers["Content-Type"] = "application/json"
        return headers

    async def request(
        self,
        api: str,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] | None = None,
        body: Mapping[str, Any] | None = None,
        wechatpay_serial: str | None = None,
        verify: bool = True,
    ) -> V3Reply:
        """Send one signed request and return its (verified) 2xx reply.

        ``api`` names the call in errors. Raises :class:`WeChatPayCallError` for anything but
        a verified 2xx; ``verify=False`` skips the reply signature check (certificates do it
        themselves).
        """
        canonical_url = path + (f"?{urlencode(query)}" if query else "")
        content = dumps(body) if body is not None else b""
        headers = self._headers(method, canonical_url, content)
        if wechatpay_serial is None and self.keys.public_key_ids:
            # A merchant in public-key mode names its key on every request, as WeChat asks
            # during the switch from platform certificates: WeChat then signs the reply with
            # the WeChat Pay public key we trust, not with a platform certificate we lack.
            wechatpay_serial = self.keys.public_key_ids[0]
        if wechatpay_serial is not None:
            headers[HEADER_SERIAL] = wechatpay_serial
        try:
            response = await self._http.request(
                method,
                self.config.base_url + canonical_url,
                content=content or None,
                headers=headers,
            )
        except httpx.TimeoutException as exc:
            raise WeChatPayCallError(
                f"{api}: no reply before the timeout", outcome=Outcome.UNKNOWN, api=api
            ) from exc
        except httpx.HTTPError as exc:
            raise WeChatPayCallError(
                f"{api}: transport error ({type(exc).__name__})", outcome=Outcome.UNKNOWN, api=api
            ) from exc
        reply = V3Reply(
            status=response.status_code,
            headers=response.headers,
            body=response.content,
            request_id=response.headers.get(HEADER_REQUEST_ID),
        )
        if not 200 <= reply.status < 300:
            raise self._error(api, reply, verify=verify)
        if verify:
            try:
                self.verifier.verify(reply.headers, reply.body)
            except SignatureError as exc:
                raise WeChatPayCallError(
                    f"{api}: the reply signature does not verify ({exc.detail})",
                    outcome=Outcome.UNKNOWN,
                    api=api,
                    http_status=reply.status,
                    request_id=reply.request_id,
                    signed=False,
                ) from exc
        return reply

    def _error(self, api: str, reply: V3Reply, *, verify: bool) -> WeChatPayCallError:
        error: V3ErrorBody | None
        try:
            error = V3ErrorBody.from_json(reply.json())
        except MalformedMessage:
            error = None
        code = error.code if error else None
        outcome = classify_v3(reply.status, code)
        signed: bool | None = None
        if verify:
            if HEADER_SIGNATURE.lower() not in reply.headers:
                signed = False
                if outcome is Outcome.REJECTED and code != "SIGN_ERROR":
                    outcome = Outcome.UNKNOWN
            else:
                try:
                    self.verifier.verify(reply.headers, reply.body)
                    signed = True
                except SignatureError:
                    signed = False
                    outcome = Outcome.UNKNOWN
        described = f"{code}: {error.message}" if error else "no v3 error body"
        return WeChatPayCallError(
            f"{api}: HTTP {reply.status} ({described})",
            outcome=outcome,
            api=api,
            http_status=reply.status,
            wechat_code=code,
            wechat_message=error.message if error else None,
            wechat_detail=error.detail if error else None,
            request_id=reply.request_id,
            signed=signed,
        )

    @staticmethod
    def _parse(api: str, reply: V3Reply, parser: Callable[[JsonObject], T]) -> T:
        try:
            return parser(reply.json())
        except MalformedMessage as exc:
            raise WeChatPayCallError(
                f"{api}: the reply is not the documented JSON ({exc.detail})",
                outcome=Outcome.UNKNOWN,
                api=api,
                http_status=reply.status,
                request_id=reply.request_id,
            ) from exc

    # -----------------------------------------------------------------------------------------
    # Sensitive fields

    def encrypt_sensitive(self, plaintext: str) -> tuple[str, str]:
        """Encrypt a sensitive field to WeChat's key: (ciphertext, Wechatpay-Serial value)."""
        serial, key = self._encryption_key()
        return oaep_encrypt(key, plaintext), serial

    def decrypt_sensitive(self, ciphertext: str) -> str:
        """Decrypt a field WeChat encrypted to the merchant key (e.g. a queried user_name)."""
        return oaep_decrypt(self.config.merchant_private_key, ciphertext)

    def _encryption_key(self) -> tuple[str, rsa.RSAPublicKey]:
        return self.keys.encryption_key(self._clock.now())

    # -----------------------------------------------------------------------------------------
    # Merchant transfer: transfer-bills

    async def create_transfer_bill(self, request: TransferBillCreate) -> TransferBill:
        """Create a transfer bill. Retry an UNKNOWN outcome with the SAME ``out_bill_no``;
        a new number only after a query shows FAIL/CANCELLED."""
        api = "transfer_bills.create"
        serial: str | None = None
        encrypted: str | None = None
        if request.user_name is not None:
            encrypted, serial = self.encrypt_sensitive(request.user_name)
        reply = await self.request(
            api,
            "POST",
            TRANSFER_BILLS_PATH,
            body=request.to_json(encrypted),
            wechatpay_serial=serial,
        )
        return self._parse(api, reply, TransferBill.from_json)

    async def get_transfer_bill(self, out_bill_no: str) -> TransferBillDetail:
        """Query by ``out_bill_no``. ``NOT_FOUND`` raises with an UNKNOWN outcome."""
        api = "transfer_bills.get"
        path = f"{TRANSFER_BILLS_PATH}/out-bill-no/{_segment(out_bill_no)}"
        reply = await self.request(api, "GET", path)
        return self._parse(api, reply, TransferBillDetail.from_json)

    async def get_transfer_bill_by_transfer_bill_no(
        self, transfer_bill_no: str
    ) -> TransferBillDetail:
        """Query by WeChat's ``transfer_bill_no``."""
        api = "transfer_bills.get_by_transfer_bill_no"
        path = f"{TRANSFER_BILLS_PATH}/transfer-bill-no/{_segment(transfer_bill_no)}"
        reply = await self.request(api, "GET", path)
        return self._parse(api, reply, TransferBillDetail.from_json)

    async def cancel_transfer_bill(self, out_bill_no: str) -> TransferBillCancel:
        """Ask WeChat to cancel a bill the user has not confirmed. ``CANCELING`` is not final;
        a terminal or unknown bill answers 400 INVALID_REQUEST."""
        api = "transfer_bills.cancel"
        path = f"{TRANSFER_BILLS_PATH}/out-bill-no/{_segment(out_bill_no)}/cancel"
        reply = await self.request(api, "POST", path)
        return self._parse(api, reply, TransferBillCancel.from_json)

    # -----------------------------------------------------------------------------------------
    # Brand red packet

    async def create_brand_redpacket_batch(
        self, request: BrandRedpacketBatchCreate
    ) -> BrandRedpacketBatch:
        """Send a batch of brand red packets (``Wechatpay-Serial`` is always sent: the API
        requires it). Retry UNKNOWN with the SAME ``out_batch_no``."""
        api = "brand_redpacket.create_batch"
        serial, key = self._encryption_key()
        names = [
            oaep_encrypt(key, detail.user_name) if detail.user_name is not None else None
            for detail in request.details
        ]
        reply = await self.request(
            api,
            "POST",
            f"{BRAND_REDPACKET_PATH}/brand-merchant-batches",
            body=request.to_json(names),
            wechatpay_serial=serial,
        )
        return self._parse(api, reply, BrandRedpacketBatch.from_json)

    @staticmethod
    def _detail_query(need_query_detail: bool, detail_state: str | None) -> list[tuple[str, str]]:
        query = [("need_query_detail", "true" if need_query_detail else "false")]
        if detail_state is not None:
            query.append(("detail_state", detail_state))
        return query

    async def get_brand_batch(
        self,
        out_batch_no: str,
        *,
        need_query_detail: bool = False,
        detail_state: str | None = None,
    ) -> BrandRedpacketBatch:
        """Query a batch by ``out_batch_no``; ``detail_state`` is ``DETAIL_VIEW_ALL|…``."""
        api = "brand_redpacket.get_batch"
        path = f"{BRAND_REDPACKET_PATH}/brand-merchant-out-batches/{_segment(out_batch_no)}"
        reply = await self.request(
            api, "GET", path, query=self._detail_query(need_query_detail, detail_state)
        )
        return self._parse(api, reply, BrandRedpacketBatch.from_json)

    async def get_brand_batch_by_batch_no(
        self,
        batch_no: str,
        *,
        need_query_detail: bool = False,
        detail_state: str | None = None,
    ) -> BrandRedpacketBatch:
        """Query a batch by WeChat's ``batch_no``."""
        api = "brand_redpacket.get_batch_by_batch_no"
        path = f"{BRAND_REDPACKET_PATH}/brand-merchant-batches/{_segment(batch_no)}"
        reply = await self.request(
            api, "GET", path, query=self._detail_query(need_query_detail, detail_state)
        )
        return self._parse(api, reply, BrandRedpacketBatch.from_json)

    async def get_brand_detail(self, out_batch_no: str, out_detail_no: str) -> BrandRedpacketDetail:
        """Query one packet by the merchant's numbers (at least 1 min after sending)."""
        api = "brand_redpacket.get_detail"
        path = (
            f"{BRAND_REDPACKET_PATH}/brand-merchant-out-batches/{_segment(out_batch_no)}"
            f"/out-details/{_segment(out_detail_no)}"
        )
        reply = await self.request(api, "GET", path)
        return self._parse(api, reply, BrandRedpacketDetail.from_json)

    async def get_brand_detail_by_detail_no(
        self, batch_no: str, detail_no: str
    ) -> BrandRedpacketDetail:
        """Query one packet by WeChat's numbers."""
        api = "brand_redpacket.get_detail_by_detail_no"
        path = (
            f"{BRAND_REDPACKET_PATH}/brand-merchant-batches/{_segment(batch_no)}"
            f"/details/{_segment(detail_no)}"
        )
        reply = await self.request(api, "GET", path)
        return self._parse(api, reply, BrandRedpacketDetail.from_json)

    # -----------------------------------------------------------------------------------------
    # Bills

    async def request_trade_bill(
        self, bill_date: date, *, bill_type: str = "ALL", tar_type: str | None = "GZIP"
    ) -> BillDownloadInfo:
        """Ask for the trade bill of ``bill_date`` (``ALL|SUCCESS|REFUND``). Not today, not
        older than 3 months; ``STATEMENT_CREATING`` is RETRY_LATER."""
        query = [("bill_date", bill_date.isoformat()), ("bill_type", bill_type)]
        if tar_type is not None:
            query.append(("tar_type", tar_type))
        api = "bills.tradebill"
        reply = await self.request(api, "GET", "/v3/bill/tradebill", query=query)
        return self._parse(api, reply, BillDownloadInfo.from_json)

    async def request_fundflow_bill(
        self, bill_date: date, *, account_type: str = "BASIC", tar_type: str | None = "GZIP"
    ) -> BillDownloadInfo:
        """Ask for the fund-flow bill (``BASIC|OPERATION|FEES``): where payouts appear."""
        query = [("bill_date", bill_date.isoformat()), ("account_type", account_type)]
        if tar_type is not None:
            query.append(("tar_type", tar_type))
        api = "bills.fundflowbill"
        reply = await self.request(api, "GET", "/v3/bill/fundflowbill", query=query)
        return self._parse(api, reply, BillDownloadInfo.from_json)

    async def download_bill(self, info: BillDownloadInfo) -> bytes:
        """Download, gunzip (when gzipped) and SHA1-check a bill; returns the CSV bytes."""
        buffer = io.BytesIO()
        await self.download_bill_to(info, buffer)
        return buffer.getvalue()

    async def download_bill_to(self, info: BillDownloadInfo, sink: BinaryIO) -> int:
        """Stream a bill into ``sink`` (decompressed), checking its SHA1 at the end; returns
        the number of bytes written. On :class:`BillHashMismatch` the sink holds bytes that
        must be discarded.

        The hash is compared with the decompressed file (as the official Java sample does)
        and, failing that, with the bytes as transferred: which of the two WeChat hashes is
        not documented, and either proves integrity.
        """
        api = "bills.download"
        if info.hash_type.upper() != "SHA1":
            raise MalformedMessage(f"unsupported bill hash type {info.hash_type!r}")
        base = self.config.base_url + "/"
        if not info.download_url.startswith(base):
            # The signed GET must only ever go to the gateway we trust.
            raise MalformedMessage("the bill download_url is not on the configured gateway")
        canonical_url = info.download_url[len(self.config.base_url) :]
        headers = self._headers("GET", canonical_url, b"")
        sink_hash = _GunzipHasher(sink)
        try:
            async with self._http.stream("GET", info.download_url, headers=headers) as response:
                if response.status_code != 200:
                    body = await response.aread()
                    reply = V3Reply(
                        status=response.status_code,
                        headers=response.headers,
                        body=body,
                        request_id=response.headers.get(HEADER_REQUEST_ID),
                    )
                    raise self._error(api, reply, verify=False)
                async for chunk in response.aiter_bytes():
                    sink_hash.feed(chunk)
        except httpx.TimeoutException as exc:
            raise WeChatPayCallError(
                f"{api}: no reply before the timeout", outcome=Outcome.UNKNOWN, api=api
            ) from exc
        except httpx.HTTPError as exc:
            raise WeChatPayCallError(
                f"{api}: transport error ({type(exc).__name__})", outcome=Outcome.UNKNOWN, api=api
            ) from exc
        sink_hash.finish()
        if info.hash_value.lower() not in sink_hash.digests():
            raise BillHashMismatch(f"SHA1 mismatch: WeChat announced {info.hash_value}")
        return sink_hash.size

    # -----------------------------------------------------------------------------------------
    # Certificates

    async def download_certificates(self) -> list[PlatformCertificate]:
        """Fetch and decrypt the platform certificates, check that the reply is signed by one
        of them (or by a key already trusted), then trust them."""
        api = "certificates.download"
        reply = await self.request(api, "GET", CERTIFICATES_PATH, verify=False)
        try:
            certificates = decrypt_certificates(reply.json(), self.config.api_v3_key)
        except (MalformedMessage, DecryptionError) as exc:
            raise WeChatPayCallError(
                f"{api}: the certificates do not decrypt ({exc.detail})",
                outcome=Outcome.UNKNOWN,
                api=api,
                http_status=reply.status,
                request_id=reply.request_id,
            ) from exc
        trial = self.keys.copy()
        for item in certificates:
            trial.add_certificate(item.certificate)
        verifier = SignatureVerifier(trial, clock=self._clock, max_skew=self.config.max_clock_skew)
        try:
            verifier.verify(reply.headers, reply.body)
        except SignatureError as exc:
            raise WeChatPayCallError(
                f"{api}: the reply signature does not verify ({exc.detail})",
                outcome=Outcome.UNKNOWN,
                api=api,
                http_status=reply.status,
                request_id=reply.request_id,
                signed=False,
            ) from exc
        for item in certificates:
            self.keys.add_certificate(item.certificate)
        return certificates


_GZIP_MAGIC = b"\x1f\x8b"


class _GunzipHasher:
    """Feeds a byte stream to a sink, gunzipping it when it starts with the gzip magic, and
    hashes both the bytes received and the bytes written."""

    def __init__(self, sink: BinaryIO) -> None:
        self._sink = sink
        self._received = hashlib.sha1()  # noqa: S324 - WeChat's bill hash is SHA1
        self._written = hashlib.sha1()  # noqa: S324 - WeChat's bill hash is SHA1
        self._head = b""
        self._gzip: bool | None = None
        self._inflater: Any = None
        self.size = 0

    def _write(self, data: bytes) -> None:
        if data:
            self._written.update(data)
            self._sink.write(data)
            self.size += len(data)

    def _inflate(self, data: bytes) -> None:
        while data:
            if self._inflater is None:
                self._inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
            try:
                self._write(self._inflater.decompress(data))
            except zlib.error as exc:
                raise BillTruncated(f"the gzip stream is corrupt: {exc}") from exc
            if self._inflater.eof:  # a gzip file may hold several members
                data = self._inflater.unused_data
                self._inflater = None
            else:
                data = b""

    def feed(self, chunk: bytes) -> None:
        self._received.update(chunk)
        if self._gzip is None:
            self._head += chunk
            if len(self._head) < len(_GZIP_MAGIC):
                return
            self._gzip = self._head.startswith(_GZIP_MAGIC)
            chunk, self._head = self._head, b""
        if self._gzip:
            self._inflate(chunk)
        else:
            self._write(chunk)

    def finish(self) -> None:
        if self._gzip is None:  # fewer than two bytes in total
            self._write(self._head)
        elif self._gzip and self._inflater is not None:
            raise BillTruncated("the gzip stream ends early")

    def digests(self) -> set[str]:
        return {self._written.hexdigest(), self._received.hexdigest()}
