"""API v2 over HTTP (legacy XML): cash red packets.

- The body is parsed safely (no DTD/entities); garbage is XML_ERROR.
- ``mch_id`` must be the merchant's and ``sign`` must verify (MD5 unless ``sign_type`` says
  HMAC-SHA256): SIGN_ERROR otherwise.
- mTLS: real WeChat requires the merchant client certificate for these calls (CA_ERROR
  without it). Served over plain HTTP, the simulator cannot see a client certificate and
  accepts the request without one.
- Business failures come back with ``return_code=FAIL`` as well as ``result_code=FAIL`` and
  an ``err_code`` (the red-packet quirk clients must survive), echoing the request's ids.
- ``sendgroupredpack`` (裂变红包) was taken offline on 2024-06-05: API_METHOD_CLOSED.
- Replies carry no ``sign``, as WeChat's red-packet replies.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from jinli.integrations.wechatpay.errors import MalformedMessage
from jinli.integrations.wechatpay.v2 import parse_xml, to_xml, verify_signature

from .asgi import SimRequest, SimResponse
from .errors import V2Error
from .faults import Fault, FaultKind, Operation
from .redpacks import XmlFields, parse_send
from .simulator import Simulator

SENDREDPACK = "/mmpaymkttransfers/sendredpack"
GETHBINFO = "/mmpaymkttransfers/gethbinfo"
SENDGROUPREDPACK = "/mmpaymkttransfers/sendgroupredpack"
ECHOED = ("mch_billno", "mch_id", "wxappid", "re_openid", "total_amount")


def xml_reply(
    fields: XmlFields, groups: list[XmlFields] | None = None, status: int = 200
) -> SimResponse:
    """An XML reply."""
    body = to_xml(fields, {"hblist": ("hbinfo", groups)} if groups else None)
    return SimResponse(status, body.encode("utf-8"), {"Content-Type": "text/xml; charset=utf-8"})


def error_reply(
    error: V2Error, request_fields: Mapping[str, str], *, quirk: bool = True
) -> SimResponse:
    """A business failure: ``return_code=FAIL`` too when ``quirk`` (sendredpack's habit)."""
    fields: XmlFields = {
        "return_code": "FAIL" if quirk else "SUCCESS",
        "return_msg": error.description,
        "result_code": "FAIL",
        "err_code": error.err_code,
        "err_code_des": error.description,
    }
    for name in ECHOED:
        if request_fields.get(name):
            fields[name] = request_fields[name]
    return xml_reply(fields)


def _communication_error(message: str, err_code: str) -> SimResponse:
    return xml_reply(
        {
            "return_code": "FAIL",
            "return_msg": message,
            "result_code": "FAIL",
            "err_code": err_code,
            "err_code_des": message,
        }
    )


def fault_reply(
    sim: Simulator, fault: Fault, fields: Mapping[str, str], quirk: bool
) -> SimResponse:
    """The reply (or non-reply) a fault calls for."""
    kind = fault.kind
    if kind is FaultKind.TIMEOUT:
        return SimResponse(0, hang=sim.config.hang_seconds)
    if kind is FaultKind.DROP:
        return SimResponse(0, drop=True)
    if kind is FaultKind.HTTP_500:
        return SimResponse(
            500,
            b"<html><body>500 Internal Server Error</body></html>",
            {"Content-Type": "text/html"},
        )
    if kind is FaultKind.MALFORMED:
        return SimResponse(200, b"<xml><return_code><![CDATA[SUCC", {"Content-Type": "text/xml"})
    errors = {
        FaultKind.SYSTEM_ERROR: V2Error("SYSTEMERROR", "系统繁忙，请使用原单号重试"),
        FaultKind.PROCESSING: V2Error("PROCESSING", "请求已受理，请稍后使用原单号查询发放结果"),
        FaultKind.FREQUENCY_LIMITED: V2Error("FREQ_LIMIT", "超过频率限制，请稍后再试"),
        FaultKind.NOT_ENOUGH: V2Error("NOTENOUGH", "帐号余额不足，请到商户平台充值后再重试"),
        FaultKind.NOT_FOUND: V2Error("NOT_FOUND", "指定单号数据不存在"),
        FaultKind.UNKNOWN_CODE: V2Error("SIM_UNDOCUMENTED_ERR", "未知错误（模拟器注入）"),
    }
    return error_reply(errors[kind], fields, quirk=quirk)


def _send(sim: Simulator, fields: Mapping[str, str]) -> SimResponse:
    request = parse_send(fields, appid=sim.credentials.appid)
    with sim.lock:
        if not sim.redpacks.limiter.allow(sim.now()):
            raise V2Error("FREQ_LIMIT", "超过频率限制，请稍后再试")
        packet = sim.redpacks.send(request, sim.now())
        return xml_reply(sim.redpacks.send_reply(packet))


def _query(sim: Simulator, fields: Mapping[str, str]) -> SimResponse:
    for name in ("mch_billno", "appid", "bill_type"):
        if not fields.get(name):
            raise V2Error("PARAM_ERROR", f"参数错误：{name}不能为空")
    if fields["bill_type"] != "MCHT":
        raise V2Error("PARAM_ERROR", "参数错误：bill_type只能为MCHT")
    if fields["appid"] != sim.credentials.appid:
        raise V2Error("PARAM_ERROR", "参数错误：appid与商户号不匹配")
    with sim.lock:
        packet = sim.redpacks.find(fields["mch_billno"], sim.now())
        info, claims = sim.redpacks.info_reply(packet)
    return xml_reply(info, claims)


async def handle(sim: Simulator, request: SimRequest) -> SimResponse:
    """Dispatch one v2 call (the path decides which)."""
    try:
        fields = parse_xml(request.body).fields
    except MalformedMessage:
        return _communication_error("XML格式错误", "XML_ERROR")
    if fields.get("mch_id") != sim.credentials.mchid:
        return _communication_error("商户号mch_id不存在或与appid不匹配", "PARAM_ERROR")
    if not verify_signature(fields, sim.credentials.api_key):
        return _communication_error("签名错误", "SIGN_ERROR")
    sim.tick()
    path = request.path.rstrip("/")
    if path == SENDGROUPREDPACK:
        return error_reply(V2Error("API_METHOD_CLOSED", "裂变红包已于2024年6月5日下线"), fields)
    operation, action, quirk = (
        (Operation.REDPACK_SEND, _send, True)
        if path == SENDREDPACK
        else (Operation.REDPACK_QUERY, _query, False)
    )
    fault = sim.faults.draw(operation)
    if fault is not None:
        if fault.applied or fault.kind is FaultKind.PROCESSING:
            with contextlib.suppress(V2Error):  # the fault's answer replaces it
                action(sim, fields)
        return fault_reply(sim, fault, fields, quirk)
    try:
        return action(sim, fields)
    except V2Error as error:
        return error_reply(error, fields, quirk=quirk)
