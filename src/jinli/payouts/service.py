"""Use cases of payouts: create with the budget hold, claim for sending, record WeChat's answer,
apply notifications, reissue. Nothing here calls WeChat or commits (C5): the worker does
intent → call → outcome in three units of work."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import Actor, Permission
from jinli.kernel.events import DomainEvent
from jinli.kernel.money import Fen
from jinli.kernel.pagination import Page, PageRequest
from jinli.ledger import service as ledger
from jinli.payouts import domain
from jinli.payouts.domain import PayoutMode, PayoutRecord, PayoutState, Verdict
from jinli.payouts.errors import CallbackRejected, PayoutNotFound, ReissueNotAllowed
from jinli.payouts.models import PayoutOrder
from jinli.payouts.ports import GatewayResult, PayoutRequest
from jinli.payouts.repository import PayoutRepository
from jinli.platform.db.uow import UnitOfWork
from jinli.platform.faults import crash_point

log = structlog.get_logger()

LEASE = timedelta(seconds=60)
QUERY_EVERY = timedelta(minutes=5)
"""How often an accepted payout is queried when no callback settles it (the reconciler)."""


@dataclass(frozen=True, slots=True)
class Claimed:
    """A payout a worker holds for one call: where it belongs and what to send."""

    payout_id: uuid.UUID
    brand_id: uuid.UUID
    request: PayoutRequest


def _request(order: PayoutOrder) -> PayoutRequest:
    return PayoutRequest(
        mode=order.mode,
        bill_number=order.bill_number,
        openid=order.openid,
        amount_fen=Fen(order.amount_fen),
        remark=order.remark,
        activity=order.activity,
    )


def _emit(uow: UnitOfWork, topic: str, order: PayoutOrder) -> None:
    uow.emit(
        DomainEvent(
            topic,
            str(order.id),
            {
                "payout_id": str(order.id),
                "campaign_id": str(order.campaign_id),
                "state": str(order.state),
                "amount_fen": order.amount_fen,
                "mode": str(order.mode),
                "bill_number": order.bill_number,
            },
            brand_id=order.brand_id,
        )
    )


async def create_payout(
    uow: UnitOfWork,
    *,
    campaign_id: uuid.UUID,
    amount_fen: Fen,
    openid: str,
    mode: PayoutMode,
    cause: str,
    remark: str,
    activity: str,
    attempt: int = 0,
    number_base: uuid.UUID | None = None,
    reissue_of: uuid.UUID | None = None,
) -> PayoutOrder:
    """Reserve the budget and record the payout, in the caller's transaction (with whatever
    caused it): the payout exists iff the cause committed, and is then never lost (I4)."""
    if uow.brand_id is None:
        raise RuntimeError("payouts are created in a brand-scoped unit of work")
    payout_id = uuid.uuid4()
    hold = await ledger.reserve(uow, campaign_id, amount_fen, ref=f"payout:{payout_id}")
    now = uow.clock.now()
    order = PayoutRepository(uow).add(
        PayoutOrder(
            id=payout_id,
            brand_id=uow.brand_id,
            campaign_id=campaign_id,
            hold_id=hold.id,
            mode=mode,
            state=PayoutState.pending,
            amount_fen=amount_fen,
            openid=openid,
            remark=remark[:32],
            activity=activity[:32],
            cause=cause,
            attempt=attempt,
            bill_number=domain.bill_number(number_base or payout_id, attempt),
            reissue_of=reissue_of,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    await uow.session.flush()
    _emit(uow, "payout.created", order)
    return order


async def claim_due(uow: UnitOfWork, *, limit: int = 50) -> list[Claimed]:
    """Take up to ``limit`` payouts for sending (system scope). Each gets a lease; the caller
    commits, then calls WeChat outside any transaction (C5)."""
    now = uow.clock.now()
    orders = await PayoutRepository(uow).due_to_send(now, limit)
    claimed = []
    for order in orders:
        if order.state == PayoutState.sending:  # the previous worker died mid-call
            order.may_have_landed = True
        order.state = PayoutState.sending
        order.lease_until = now + LEASE
        order.tries += 1
        order.updated_at = now
        claimed.append(Claimed(order.id, order.brand_id, _request(order)))
    return claimed


async def claim_queries(uow: UnitOfWork, *, limit: int = 50) -> list[Claimed]:
    """Accepted payouts whose state should be asked for now (system scope)."""
    now = uow.clock.now()
    orders = await PayoutRepository(uow).due_to_query(now, limit)
    for order in orders:
        order.next_attempt_at = now + QUERY_EVERY  # another worker will not query it meanwhile
        order.tries += 1
    return [Claimed(o.id, o.brand_id, _request(o)) for o in orders]


async def record_result(
    uow: UnitOfWork, payout_id: uuid.UUID, result: GatewayResult
) -> PayoutOrder:
    """Apply WeChat's answer in a new transaction: state, ledger post/void, next retry."""
    order = await PayoutRepository(uow).get(payout_id, for_update=True)
    if order is None:
        raise PayoutNotFound()
    if order.state in domain.TERMINAL:
        return order  # a late or duplicate answer: the first terminal answer stands
    if result.verdict == Verdict.unknown:
        order.may_have_landed = True
    # Only a payout WeChat never acknowledged (no WeChat number yet) goes to the human queue
    # for unanswered calls: the many queries of a transfer awaiting its consumer do not count.
    review = result.review or (
        result.verdict == Verdict.unknown
        and order.wechat_no is None
        and order.tries >= domain.MAX_UNKNOWN_TRIES
    )
    target = domain.state_after(
        order.state, result.verdict, may_have_landed=order.may_have_landed, review=review
    )
    await _move(uow, order, target, result)
    return order


async def _move(
    uow: UnitOfWork, order: PayoutOrder, target: PayoutState, result: GatewayResult
) -> None:
    now = uow.clock.now()
    domain.check_transition(order.state, target)
    order.state = target
    order.lease_until = None
    order.updated_at = now
    order.wechat_state = result.wechat_state or order.wechat_state
    order.wechat_no = result.wechat_no or order.wechat_no
    order.package_info = result.package_info or order.package_info
    order.fail_reason = result.fail_reason or order.fail_reason
    order.last_error = result.error
    if target == PayoutState.succeeded:
        await ledger.post(uow, order.hold_id)
    elif target == PayoutState.failed:
        await ledger.void(uow, order.hold_id)
    if target in domain.TERMINAL:
        order.finished_at = now
        _emit(uow, f"payout.{target}", order)
    elif target in (PayoutState.unknown, PayoutState.pending):
        order.next_attempt_at = now + timedelta(seconds=domain.retry_delay_seconds(order.tries))
    elif target == PayoutState.review:
        order.next_attempt_at = now + QUERY_EVERY
        _emit(uow, "payout.review", order)
    else:
        order.next_attempt_at = now + QUERY_EVERY
    crash_point("payout.before_record_commit")


async def apply_notification(
    uow: UnitOfWork, *, bill_number: str, amount_fen: int, result: GatewayResult
) -> PayoutOrder:
    """A verified WeChat notification: look the payout up under a row lock, check the amount,
    apply it at most once (repeats are no-ops and still acknowledged) (I5)."""
    order = await PayoutRepository(uow).by_bill_number(bill_number, for_update=True)
    if order is None:
        raise CallbackRejected(f"no payout with number {bill_number}")
    uow.scope_to(order.brand_id)
    if amount_fen != order.amount_fen:
        log.error(
            "payout.callback.amount_mismatch",
            bill_number=bill_number,
            expected=order.amount_fen,
            got=amount_fen,
        )
        raise CallbackRejected("the notified amount differs from the payout's amount")
    if order.state in domain.TERMINAL:
        return order
    target = domain.state_after(order.state, result.verdict, may_have_landed=order.may_have_landed)
    await _move(uow, order, target, result)
    return order


async def reissue(
    uow: UnitOfWork, actor: Actor, payout_id: uuid.UUID, *, mode: PayoutMode | None = None
) -> PayoutOrder:
    """Pay a failed or refunded payout again, under a new derived number (INV-NUMBER): the
    budget released by the failure is reserved again. Audited; finance only."""
    actor.require(Permission.budget_fund)
    repo = PayoutRepository(uow)
    order = await repo.get(payout_id, for_update=True)
    if order is None:
        raise PayoutNotFound()
    if order.state != PayoutState.failed or order.reissued_by is not None:
        raise ReissueNotAllowed(f"payout is {order.state}")
    attempt = domain.next_attempt(order.state, order.attempt)
    base = await _number_base(uow, order)
    new = await create_payout(
        uow,
        campaign_id=order.campaign_id,
        amount_fen=Fen(order.amount_fen),
        openid=order.openid,
        mode=mode or order.mode,
        cause=order.cause,
        remark=order.remark,
        activity=order.activity,
        attempt=attempt,
        number_base=base,
        reissue_of=order.id,
    )
    order.reissued_by = new.id
    accounts_service.record_audit(
        uow,
        actor,
        "payout.reissued",
        "payout",
        order.id,
        new_payout=new.id,
        mode=new.mode,
        amount_fen=new.amount_fen,
    )
    return new


async def _number_base(uow: UnitOfWork, order: PayoutOrder) -> uuid.UUID:
    """Numbers of all attempts derive from the first payout of the cause."""
    repo = PayoutRepository(uow)
    first = order
    while first.reissue_of is not None:
        parent = await repo.get(first.reissue_of)
        if parent is None:
            break
        first = parent
    return first.id


def _record(order: PayoutOrder) -> PayoutRecord:
    return PayoutRecord(
        payout_id=order.id,
        brand_id=order.brand_id,
        campaign_id=order.campaign_id,
        bill_number=order.bill_number,
        mode=order.mode,
        state=order.state,
        amount_fen=order.amount_fen,
        openid=order.openid,
        attempt=order.attempt,
        created_at=order.created_at,
        finished_at=order.finished_at,
        wechat_no=order.wechat_no,
        fail_reason=order.fail_reason,
    )


async def records_created_between(
    uow: UnitOfWork, start: datetime, end: datetime
) -> list[PayoutRecord]:
    """Payouts created in [start, end) — of the acting brand, or of all brands in a system
    scope (the merchant's bill covers every brand paid through it)."""
    return [_record(o) for o in await PayoutRepository(uow).created_between(start, end)]


async def records_by_numbers(uow: UnitOfWork, numbers: list[str]) -> list[PayoutRecord]:
    """Payouts with these WeChat Pay numbers (in chunks, for bills of any size)."""
    repo = PayoutRepository(uow)
    found: list[PayoutRecord] = []
    for start in range(0, len(numbers), 500):
        found += [_record(o) for o in await repo.by_bill_numbers(numbers[start : start + 500])]
    return found


async def get(uow: UnitOfWork, actor: Actor, payout_id: uuid.UUID) -> PayoutOrder:
    actor.require(Permission.ledger_read)
    order = await PayoutRepository(uow).get(payout_id)
    if order is None:
        raise PayoutNotFound()
    return order


async def list_(
    uow: UnitOfWork,
    actor: Actor,
    page: PageRequest,
    *,
    state: PayoutState | None = None,
    campaign_id: uuid.UUID | None = None,
) -> Page[PayoutOrder]:
    """The brand's payouts, newest first, by state (``review`` = the human queue) and campaign."""
    actor.require(Permission.ledger_read)
    repo = PayoutRepository(uow)
    return await repo.page(repo.listing(state=state, campaign_id=campaign_id), page)
