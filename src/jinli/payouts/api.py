"""HTTP edges of payouts: the WeChat Pay notification receiver.

WeChat posts ``MCHTRANSFER.BILL.FINISHED`` here. The body is verified (signature over the raw
bytes, timestamp, serial), decrypted, matched to a payout under a row lock, amount-checked and
applied at most once; repeats are acknowledged. Anything forged or malformed gets a 4xx and
changes nothing (I5). WeChat only reads the status code: 200/204 is success.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from jinli.kernel.errors import JinliError
from jinli.payouts import service
from jinli.payouts.ports import NotificationReader
from jinli.platform.http import UoW

log = structlog.get_logger()

notify_router = APIRouter(include_in_schema=False)


def _fail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": "FAIL", "message": message}, status_code=status)


@notify_router.post("/wechatpay/notify")
async def notify(request: Request, uow: UoW) -> Response:
    reader_factory: Callable[[], NotificationReader] = request.app.state.payout_notifications
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        note = reader_factory().read(headers, body)
    except Exception as exc:  # forged, stale, tampered or malformed: never act on it
        log.warning("payout.notification.refused", error=repr(exc)[:300])
        return _fail(401, "verification failed")
    try:
        with uow.unscoped():
            order = await service.apply_notification(
                uow, bill_number=note.bill_number, amount_fen=note.amount_fen, result=note.result
            )
        await uow.commit()
    except JinliError as exc:
        log.warning("payout.notification.rejected", code=exc.code, bill_number=note.bill_number)
        return _fail(400, exc.code)
    log.info(
        "payout.notification.applied",
        bill_number=note.bill_number,
        state=str(order.state),
        event_id=note.event_id,
    )
    return Response(status_code=204)
