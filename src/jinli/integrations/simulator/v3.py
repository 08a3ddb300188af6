"""API v3 over HTTP: WeChat's signature check, signed replies, faults, and the routes.

- Every request's ``Authorization`` is verified against the merchant certificate, over the
  exact target and body received (relative to the mount), with a 5-minute window on the
  simulator's protocol clock. Failure: 401 SIGN_ERROR with WeChat's ``detail`` (field,
  location, issue, and ``sign_information`` with the message WeChat reconstructed).
- Every reply is signed, errors included (``Wechatpay-Timestamp/-Nonce/-Signature/-Serial/
  -Signature-Type``, plus ``Request-ID``), except the bill file download, as at WeChat.
- Encrypted request fields need ``Wechatpay-Serial`` naming the platform key.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from jinli.integrations.wechatpay.certificates import build_certificates_reply
from jinli.integrations.wechatpay.crypto import (
    certificate_public_key,
    oaep_decrypt,
    oaep_encrypt,
    random_nonce,
)
from jinli.integrations.wechatpay.errors import DecryptionError, SignatureError, StaleTimestamp
from jinli.integrations.wechatpay.signing import (
    HEADER_REQUEST_ID,
    Authorization,
    request_message,
    sign_response,
    verify_request,
)

from .asgi import Route, SimRequest, SimResponse, json_response, route
from .errors import V3Error, param_error
from .faults import Fault, FaultKind, Operation
from .simulator import Simulator

V3Handler = Callable[[Simulator, SimRequest, dict[str, str]], Awaitable[SimResponse]]
TRANSFER = "/v3/fund-app/mch-transfer/transfer-bills"
BRAND = "/v3/fund-app/brand-redpacket"
_HEX = re.compile(r"[0-9A-Fa-f]+\Z")


class _Wall:
    """The simulator's protocol clock as a kernel ``Clock``."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    def now(self) -> datetime:
        return self._sim.clock.wall()


def _same_serial(a: str, b: str) -> bool:
    if _HEX.match(a) and _HEX.match(b):
        return int(a, 16) == int(b, 16)
    return a == b


def reply_serial(sim: Simulator, request: SimRequest) -> str:
    """The key name a reply is signed under (see ``SimulatorConfig.key_mode``)."""
    credentials = sim.credentials
    mode = sim.config.key_mode
    if mode == "public_key":
        return credentials.public_key_id
    if mode == "both" and request.header("wechatpay-serial") == credentials.public_key_id:
        return credentials.public_key_id
    return credentials.platform_serial_no


def signed(sim: Simulator, request: SimRequest, response: SimResponse) -> SimResponse:
    """Sign a reply with the platform key (timestamped on the protocol clock)."""
    response.headers.update(
        sign_response(
            sim.credentials.platform_key,
            reply_serial(sim, request),
            response.body,
            timestamp=int(sim.clock.wall().timestamp()),
            nonce=random_nonce(),
        )
    )
    response.headers[HEADER_REQUEST_ID] = "sim-" + random_nonce(24)
    return response


def reply(sim: Simulator, request: SimRequest, status: int, data: Any) -> SimResponse:
    """A signed JSON reply."""
    return signed(sim, request, json_response(status, data))


def error_reply(sim: Simulator, request: SimRequest, error: V3Error) -> SimResponse:
    """A signed v3 error reply."""
    return reply(sim, request, error.status, error.body())


# ---------------------------------------------------------------------------------------------
# Authorization


def sign_error(request: SimRequest, issue: str, auth: Authorization | None) -> V3Error:
    """401 SIGN_ERROR with the ``detail`` WeChat gives (wechat-pay.md §3.1)."""
    detail: dict[str, Any] = {
        "field": "signature",
        "location": "authorization",
        "detail": {"issue": issue},
    }
    if auth is not None:
        message = request_message(
            request.method, request.target, auth.timestamp, auth.nonce_str, request.body
        ).decode("utf-8", "replace")
        detail["sign_information"] = {
            "method": request.method,
            "url": request.target,
            "sign_message_length": len(message.encode("utf-8")),
            "truncated_sign_message": message[:1024],
        }
        return V3Error("SIGN_ERROR", "错误的签名，验签失败", detail=detail)
    detail["field"] = "authorization"
    detail["location"] = "header"
    return V3Error(
        "SIGN_ERROR",
        "Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》",
        detail=detail,
    )


def authenticate(sim: Simulator, request: SimRequest) -> None:
    """Verify the merchant's signature; raises the SIGN_ERROR to answer with."""
    credentials = sim.credentials
    header = request.header("authorization")
    try:
        auth = Authorization.parse(header)
    except SignatureError:
        raise sign_error(request, "authorization header malformed", None) from None
    keys = {
        credentials.merchant_serial_no: certificate_public_key(credentials.merchant_certificate)
    }
    try:
        verify_request(
            header,
            request.method,
            request.target,
            request.body,
            merchant_keys=keys,
            clock=_Wall(sim),
            mchid=credentials.mchid,
        )
    except StaleTimestamp:
        raise sign_error(request, "timestamp expired", auth) from None
    except SignatureError as exc:
        raise sign_error(request, f"sign not match ({exc.detail})", auth) from None


def decrypter(sim: Simulator, request: SimRequest) -> Callable[[str], str]:
    """Decrypts sensitive fields sent to the platform key, checking ``Wechatpay-Serial``."""

    def decrypt(ciphertext: str) -> str:
        serial = request.header("wechatpay-serial")
        credentials = sim.credentials
        names = {
            "both": (credentials.platform_serial_no, credentials.public_key_id),
            "certificate": (credentials.platform_serial_no,),
            "public_key": (credentials.public_key_id,),
        }[sim.config.key_mode]
        if not serial:
            raise param_error(
                "请求包含加密字段时，需在请求头Wechatpay-Serial中传入平台证书序列号或微信支付公钥ID"
            )
        if not any(_same_serial(serial, name) for name in names):
            raise param_error("Wechatpay-Serial对应的平台证书或微信支付公钥不存在")
        try:
            return oaep_decrypt(credentials.platform_key, ciphertext)
        except DecryptionError:
            raise param_error("敏感信息解密失败", field="user_name") from None

    return decrypt


def encrypter(sim: Simulator) -> Callable[[str], str]:
    """Encrypts fields WeChat returns to the merchant (to the merchant certificate's key)."""
    key = certificate_public_key(sim.credentials.merchant_certificate)
    return lambda plaintext: oaep_encrypt(key, plaintext)


def body_json(request: SimRequest) -> Any:
    """The request body as JSON, or PARAM_ERROR."""
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError):
        raise param_error("请求体不是合法的JSON") from None


# ---------------------------------------------------------------------------------------------
# Routes


async def certificates(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """``GET /v3/certificates``: the platform certificate, AES-GCM encrypted."""
    if sim.config.key_mode == "public_key":
        raise V3Error("NOT_FOUND", "无可用的平台证书，请使用微信支付公钥验签", status=404)
    credentials = sim.credentials
    body = build_certificates_reply([credentials.platform_certificate], credentials.api_v3_key)
    return signed(
        sim, request, SimResponse(200, body, {"Content-Type": "application/json; charset=utf-8"})
    )


async def transfer_create(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """``POST …/transfer-bills``."""
    from .transfers import parse_create

    config = sim.config
    parsed = parse_create(
        body_json(request),
        appid=sim.credentials.appid,
        scenes=config.transfer_scenes,
        min_fen=config.transfer_min_fen,
        max_fen=config.transfer_max_fen,
        decrypt_user_name=decrypter(sim, request),
    )
    with sim.lock:
        bill = sim.transfers.create(parsed, sim.now())
        data = sim.transfers.create_reply(bill)
    return reply(sim, request, 200, data)


async def transfer_get(sim: Simulator, request: SimRequest, params: dict[str, str]) -> SimResponse:
    """``GET …/out-bill-no/{out_bill_no}``."""
    with sim.lock:
        bill = sim.transfers.find(params["no"], sim.now())
        data = sim.transfers.detail_reply(bill, encrypter(sim))
    return reply(sim, request, 200, data)


async def transfer_get_by_no(
    sim: Simulator, request: SimRequest, params: dict[str, str]
) -> SimResponse:
    """``GET …/transfer-bill-no/{transfer_bill_no}``."""
    with sim.lock:
        bill = sim.transfers.find_by_transfer_no(params["no"], sim.now())
        data = sim.transfers.detail_reply(bill, encrypter(sim))
    return reply(sim, request, 200, data)


async def transfer_cancel(
    sim: Simulator, request: SimRequest, params: dict[str, str]
) -> SimResponse:
    """``POST …/out-bill-no/{out_bill_no}/cancel``."""
    with sim.lock:
        bill = sim.transfers.cancel(params["no"], sim.now())
        data = sim.transfers.cancel_reply(bill)
    return reply(sim, request, 200, data)


async def brand_create(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """``POST …/brand-merchant-batches`` (``Wechatpay-Serial`` is required)."""
    from .brand import parse_batch

    if not request.header("wechatpay-serial"):
        raise param_error("请求头Wechatpay-Serial缺失")
    config = sim.config
    parsed = parse_batch(
        body_json(request),
        appid=sim.credentials.appid,
        min_fen=config.brand_min_fen,
        max_fen=config.brand_max_fen,
        decrypt_user_name=decrypter(sim, request),
    )
    with sim.lock:
        batch = sim.brand.create(parsed, sim.now())
        data = sim.brand.create_reply(batch)
    return reply(sim, request, 200, data)


def _batch_query(sim: Simulator, request: SimRequest, batch: Any) -> dict[str, Any]:
    return sim.brand.batch_reply(
        batch,
        need_query_detail=request.query.get("need_query_detail") == "true",
        detail_state=request.query.get("detail_state"),
    )


async def brand_batch(sim: Simulator, request: SimRequest, params: dict[str, str]) -> SimResponse:
    """``GET …/brand-merchant-batches/{batch_no}``."""
    with sim.lock:
        data = _batch_query(sim, request, sim.brand.find_by_batch_no(params["no"]))
    return reply(sim, request, 200, data)


async def brand_out_batch(
    sim: Simulator, request: SimRequest, params: dict[str, str]
) -> SimResponse:
    """``GET …/brand-merchant-out-batches/{out_batch_no}``."""
    with sim.lock:
        data = _batch_query(sim, request, sim.brand.find(params["no"]))
    return reply(sim, request, 200, data)


async def brand_out_detail(
    sim: Simulator, request: SimRequest, params: dict[str, str]
) -> SimResponse:
    """``GET …/brand-merchant-out-batches/{out_batch_no}/out-details/{out_detail_no}``."""
    with sim.lock:
        batch = sim.brand.find(params["no"])
        detail = sim.brand.detail(batch, out_detail_no=params["detail"])
        data = sim.brand.detail_reply(batch, detail, encrypter(sim))
    return reply(sim, request, 200, data)


async def brand_detail(sim: Simulator, request: SimRequest, params: dict[str, str]) -> SimResponse:
    """``GET …/brand-merchant-batches/{batch_no}/details/{detail_no}``."""
    with sim.lock:
        batch = sim.brand.find_by_batch_no(params["no"])
        detail = sim.brand.detail(batch, detail_no=params["detail"])
        data = sim.brand.detail_reply(batch, detail, encrypter(sim))
    return reply(sim, request, 200, data)


async def trade_bill(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """``GET /v3/bill/tradebill``."""
    with sim.lock:
        data = sim.bills.trade_bill(request.query, sim.now())
    return reply(sim, request, 200, data)


async def fund_flow_bill(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """``GET /v3/bill/fundflowbill``."""
    with sim.lock:
        data = sim.bills.fund_flow_bill(request.query, sim.now())
    return reply(sim, request, 200, data)


async def bill_download(sim: Simulator, request: SimRequest, _: dict[str, str]) -> SimResponse:
    """``GET /v3/billdownload/file``: the one unsigned reply."""
    with sim.lock:
        content, content_type = sim.bills.download(request.query.get("token", ""), sim.now())
    return SimResponse(200, content, {"Content-Type": content_type})


def routes() -> list[tuple[Route, Operation | None]]:
    """Every v3 route and the operation its faults attach to."""
    table: list[tuple[str, str, V3Handler, Operation | None]] = [
        ("GET", "/v3/certificates", certificates, None),
        ("POST", TRANSFER, transfer_create, Operation.TRANSFER_CREATE),
        ("GET", TRANSFER + "/out-bill-no/{no}", transfer_get, Operation.TRANSFER_QUERY),
        ("GET", TRANSFER + "/transfer-bill-no/{no}", transfer_get_by_no, Operation.TRANSFER_QUERY),
        ("POST", TRANSFER + "/out-bill-no/{no}/cancel", transfer_cancel, Operation.TRANSFER_CANCEL),
        ("POST", BRAND + "/brand-merchant-batches", brand_create, Operation.BRAND_CREATE),
        ("GET", BRAND + "/brand-merchant-batches/{no}", brand_batch, Operation.BRAND_QUERY),
        ("GET", BRAND + "/brand-merchant-out-batches/{no}", brand_out_batch, Operation.BRAND_QUERY),
        (
            "GET",
            BRAND + "/brand-merchant-out-batches/{no}/out-details/{detail}",
            brand_out_detail,
            Operation.BRAND_QUERY,
        ),
        (
            "GET",
            BRAND + "/brand-merchant-batches/{no}/details/{detail}",
            brand_detail,
            Operation.BRAND_QUERY,
        ),
        ("GET", "/v3/bill/tradebill", trade_bill, None),
        ("GET", "/v3/bill/fundflowbill", fund_flow_bill, None),
        ("GET", "/v3/billdownload/file", bill_download, None),
    ]
    return [(route(method, path, handler), op) for method, path, handler, op in table]


# ---------------------------------------------------------------------------------------------
# Faults and rate limits


def _limited(sim: Simulator, operation: Operation | None) -> bool:
    limiter = (
        {
            Operation.TRANSFER_CREATE: sim.transfers.limiter,
            Operation.BRAND_CREATE: sim.brand.limiter,
        }.get(operation)
        if operation
        else None
    )
    return limiter is not None and not limiter.allow(sim.now())


def fault_reply(sim: Simulator, request: SimRequest, fault: Fault) -> SimResponse:
    """The reply (or non-reply) a fault calls for."""
    kind = fault.kind
    if kind is FaultKind.TIMEOUT:
        return SimResponse(0, hang=sim.config.hang_seconds)
    if kind is FaultKind.DROP:
        return SimResponse(0, drop=True)
    if kind is FaultKind.HTTP_500:
        html = b"<html><head><title>500 Internal Server Error</title></head><body>500</body></html>"
        return SimResponse(500, html, {"Content-Type": "text/html"})
    if kind is FaultKind.MALFORMED:
        body = b'{"out_bill_no":"' + json.dumps(request.target).encode()[:24]
        return signed(sim, request, SimResponse(200, body, {"Content-Type": "application/json"}))
    errors = {
        FaultKind.SYSTEM_ERROR: V3Error("SYSTEM_ERROR", "系统错误，请使用相同参数稍后重新调用"),
        FaultKind.FREQUENCY_LIMITED: V3Error("FREQUENCY_LIMITED", "请求频率超过限制"),
        FaultKind.NOT_ENOUGH: V3Error("NOT_ENOUGH", "商户运营账户资金不足"),
        FaultKind.NOT_FOUND: V3Error("NOT_FOUND", "记录不存在"),
        FaultKind.UNKNOWN_CODE: V3Error(
            "SIM_UNDOCUMENTED_CODE", "未知错误（模拟器注入）", status=400
        ),
    }
    return error_reply(sim, request, errors[kind])


async def handle(
    sim: Simulator,
    request: SimRequest,
    handler: V3Handler,
    params: dict[str, str],
    operation: Operation | None,
) -> SimResponse:
    """Authenticate, rate-limit, apply a fault or run the handler; every reply signed."""
    try:
        authenticate(sim, request)
    except V3Error as error:
        return error_reply(sim, request, error)
    sim.tick()
    if _limited(sim, operation):
        return error_reply(
            sim, request, V3Error("FREQUENCY_LIMITED", "请求频率超过限制，请稍后重试")
        )
    fault = sim.faults.draw(operation) if operation else None
    if fault is not None:
        if fault.applied:
            with contextlib.suppress(V3Error):  # the fault's answer replaces it
                await handler(sim, request, params)
        return fault_reply(sim, request, fault)
    try:
        return await handler(sim, request, params)
    except V3Error as error:
        return error_reply(sim, request, error)
