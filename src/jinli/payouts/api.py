"""HTTP edges of payouts: the REST routes (list, read, reissue) and the WeChat Pay
notification receiver.

WeChat posts ``MCHTRANSFER.BILL.FINISHED`` here. The body is verified (signature over the raw
bytes, timestamp, serial), decrypted, matched to a payout under a row lock, amount-checked and
applied at most once; repeats are acknowledged. Anything forged or malformed gets a 4xx and
changes nothing (I5). WeChat only reads the status code: 200/204 is success.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from jinli.accounts.deps import ApiActor
from jinli.accounts.errors import InvalidApiKey, PermissionDenied
from jinli.kernel.errors import JinliError
from jinli.kernel.pagination import Page
from jinli.ledger.errors import InsufficientBudget
from jinli.payouts import service
from jinli.payouts.domain import PayoutState
from jinli.payouts.errors import NumberNotReissuable, PayoutNotFound, ReissueNotAllowed
from jinli.payouts.ports import NotificationReader
from jinli.payouts.schemas import PayoutRead, ReissueCreate
from jinli.platform.http import Pagination, RuntimeDep, UoW
from jinli.platform.idempotency import IdempotencyKey, run_idempotent
from jinli.platform.problems import problems

log = structlog.get_logger()

router = APIRouter(
    prefix="/payouts",
    tags=["payouts"],
    responses=problems(InvalidApiKey, PermissionDenied, PayoutNotFound),
)


@router.get("", response_model=Page[PayoutRead])
async def list_(
    actor: ApiActor,
    uow: UoW,
    page: Pagination,
    state: PayoutState | None = None,
    campaign_id: uuid.UUID | None = None,
) -> object:
    """The brand's payouts, newest first; ``state=review`` is the human queue."""
    return await service.list_(uow, actor, page, state=state, campaign_id=campaign_id)


@router.get("/{payout_id}", response_model=PayoutRead)
async def get(payout_id: uuid.UUID, actor: ApiActor, uow: UoW) -> object:
    return await service.get(uow, actor, payout_id)


@router.post(
    "/{payout_id}/reissue",
    status_code=201,
    response_model=PayoutRead,
    responses=problems(ReissueNotAllowed, NumberNotReissuable, InsufficientBudget),
)
async def reissue(
    request: Request,
    payout_id: uuid.UUID,
    actor: ApiActor,
    uow: UoW,
    runtime: RuntimeDep,
    data: ReissueCreate | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Pay a failed or refunded payout again under its next number (``…R1``, ``…R2``): the
    budget its failure released is reserved again. Finance or owner; audited. Idempotent."""

    async def operation() -> PayoutRead:
        mode = data.mode if data else None
        new = await service.reissue(uow, actor, payout_id, mode=mode)
        return PayoutRead.model_validate(new)

    return await run_idempotent(
        request,
        uow,
        actor.brand_id,
        idempotency_key,
        201,
        operation,
        runtime.settings.idempotency_retention_hours,
    )


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
