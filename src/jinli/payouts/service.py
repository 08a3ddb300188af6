"""Use cases of payouts: create with the budget hold, claim for sending, record WeChat's answer,
apply notifications, reissue. Nothing here calls WeChat or commits (C5): the worker does
intent → call → outcome in three units of work."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import structlog

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import Actor, Permission
from jinli.kernel.events import DomainEvent
from jinli.kernel.money import Fen
from jinli.kernel.pagination import Page, PageRequest
from jinli.ledger import service as ledger
from jinli.ledger.errors import InsufficientBudget
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
    reissue_as: PayoutMode | None = None,
    auto_reissues: int = 0,
) -> PayoutOrder:
    """Reserve the budget and record the payout, in the caller's transaction (with whatever
    caused it): the payout exists iff the cause committed, and is then never lost (I4).

    ``reissue_as`` and ``auto_reissues`` are the cause's automatic reissue policy (from its
    campaign's payout options): after a retryable failure the payout is paid again as
    ``reissue_as``, at most ``auto_reissues`` times. ``None`` (the default): finance decides.
    """
    if uow.brand_id is None:
        raise RuntimeError("payouts are created in a brand-scoped unit of work")
    if not 0 <= auto_reissues <= domain.MAX_ATTEMPT:
        raise ValueError("auto_reissues must be between 0 and 99")
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
            reissue_as=reissue_as,
            auto_reissues_left=auto_reissues if reissue_as is not None else 0,
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
        # A reissue by hand keeps the cause's policy and its remaining automatic reissues.
        reissue_as=order.reissue_as,
        auto_reissues=order.auto_reissues_left,
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


AUTO_REISSUER = "payouts.auto_reissue"
"""The system actor named in the audit log for automatic reissues."""


async def auto_reissue(
    uow: UnitOfWork, payout_id: uuid.UUID, *, campaign_settled: bool = False
) -> PayoutOrder | None:
    """Apply the automatic reissue policy to a failed payout (the ``payout.failed`` consumer).

    A payout created with ``reissue_as`` that failed for a reason safe to retry to the same
    person is paid again as that mode, under its next derived number (INV-NUMBER, as a reissue
    by finance), with the budget reserved again and one automatic reissue less; audited as the
    system. Otherwise it is left for finance and ``auto_reissue_blocked`` says why (not a
    retryable reason, none left, no budget, campaign settled).

    Idempotent: a payout that was reissued (by hand or automatically) or already judged is left
    alone, so running twice, or racing a finance reissue, pays at most once more (the row lock
    and the unique (cause, attempt) back this up). Returns the new payout, if any.
    """
    order = await PayoutRepository(uow).get(payout_id, for_update=True)
    if order is None:
        raise PayoutNotFound()
    if (
        order.state != PayoutState.failed
        or order.reissue_as is None
        or order.reissued_by is not None
        or order.auto_reissue_blocked is not None
    ):
        return None
    block = domain.auto_reissue_block(
        wechat_state=order.wechat_state,
        fail_reason=order.fail_reason,
        auto_reissues_left=order.auto_reissues_left,
        attempt=order.attempt,
    )
    if block is None and campaign_settled:
        block = domain.AutoReissueBlock.campaign_settled
    if block is not None:
        _hold_for_finance(uow, order, block)
        return None
    try:
        # The reservation is create_payout's first write and a refused one writes nothing, so
        # the transaction stays usable to record why (the ledger's contract).
        new = await create_payout(
            uow,
            campaign_id=order.campaign_id,
            amount_fen=Fen(order.amount_fen),
            openid=order.openid,
            mode=order.reissue_as,
            cause=order.cause,
            remark=order.remark,
            activity=order.activity,
            attempt=domain.next_attempt(order.state, order.attempt),
            number_base=await _number_base(uow, order),
            reissue_of=order.id,
            reissue_as=order.reissue_as,
            auto_reissues=order.auto_reissues_left - 1,
        )
    except InsufficientBudget:
        _hold_for_finance(uow, order, domain.AutoReissueBlock.budget_exhausted)
        return None
    order.reissued_by = new.id
    order.updated_at = uow.clock.now()
    accounts_service.record_audit(
        uow,
        accounts_service.system_actor(order.brand_id, AUTO_REISSUER),
        "payout.auto_reissued",
        "payout",
        order.id,
        new_payout=new.id,
        mode=new.mode,
        amount_fen=new.amount_fen,
        auto_reissues_left=new.auto_reissues_left,
    )
    log.info(
        "payout.auto_reissue.created",
        payout_id=str(order.id),
        new_payout_id=str(new.id),
        bill_number=new.bill_number,
        mode=str(new.mode),
    )
    return new


def _hold_for_finance(uow: UnitOfWork, order: PayoutOrder, block: domain.AutoReissueBlock) -> None:
    """Leave a failed payout for finance's one-click reissue, saying why (audited)."""
    order.auto_reissue_blocked = block
    order.updated_at = uow.clock.now()
    accounts_service.record_audit(
        uow,
        accounts_service.system_actor(order.brand_id, AUTO_REISSUER),
        "payout.auto_reissue_held",
        "payout",
        order.id,
        reason=str(block),
        wechat_state=order.wechat_state or "",
        fail_reason=order.fail_reason or "",
    )
    log.info(
        "payout.auto_reissue.held",
        payout_id=str(order.id),
        reason=str(block),
        fail_reason=order.fail_reason,
    )


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


async def activity_days(uow: UnitOfWork, campaign_id: uuid.UUID) -> list[date]:
    """Beijing days, in order, on which a payout of the campaign was created or finished: the
    days whose WeChat Pay bill must be reconciled before the campaign settles. Brand scope
    (or system)."""
    return sorted(await PayoutRepository(uow).activity_days(campaign_id))


async def reconciliation_rows(
    uow: UnitOfWork, day_start: datetime, day_end: datetime, *, lookback_days: int
) -> list[tuple[str, int, str, int, str]]:
    """What reconciliation matches a day's bill against, for every payout created from
    ``lookback_days`` days before the day [day_start, day_end) to its end: (bill number,
    amount fen, state, creation day relative to the day: 0, -1, …, close: ``before`` /
    ``today`` / ``open`` relative to the day). Read column by column (a day can hold a
    million payouts); ``records_by_numbers`` gives the full record of the few to judge.
    System scope (the merchant's bill covers every brand)."""
    return await PayoutRepository(uow).day_rows(day_start, day_end, lookback_days)
