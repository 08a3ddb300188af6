"""R4 (reliability.md §7): ``kill -9`` the payout worker at each instrumented crash point.

Shared by ``test_r4_kill.py`` (CI size) and ``scripts/r4_nightly.py`` (nightly size).

The pieces run as they do in production, each in its own place:

- the WeChat Pay simulator is served on a real socket by :class:`SimulatorServer` (a thread of
  this process, real-time clock) and outlives every worker;
- the payout worker is ``jinli worker --once`` in a subprocess, pointed at the simulator by
  ``JINLI_WECHATPAY__BASE_URL`` and sharing its data directory (the simulated merchant's keys),
  killed with SIGKILL by ``JINLI_CRASH_AT=<point>``;
- WeChat's callbacks reach Jinli's real ``/wechatpay/notify`` receiver (this process's app,
  through an ASGI transport), verified with the same keys.

Time: the worker runs on the real clock, and a killed worker's claim is held for its lease
(60 s) and retries back off. Instead of sleeping, :meth:`R4Harness.fast_forward` moves every
due time of the run's open payouts (``next_attempt_at``, ``lease_until``) into the past by the
same amount: exactly what the database would look like had that much time passed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from jinli.app.bootstrap import bootstrap
from jinli.app.web import create_app
from jinli.app.wechat import close as close_wechatpay
from jinli.app.wechat import simulator_dir
from jinli.integrations.simulator.book import PayoutKind
from jinli.integrations.simulator.config import SimulatorConfig
from jinli.integrations.simulator.server import SimulatorServer
from jinli.integrations.simulator.simulator import Simulator
from jinli.kernel.money import Fen
from jinli.ledger import service as ledger
from jinli.payouts import service
from jinli.payouts.domain import TERMINAL, PayoutMode, PayoutState
from jinli.payouts.models import PayoutOrder
from jinli.payouts.service import LEASE, QUERY_EVERY
from jinli.platform.runtime import Runtime
from jinli.platform.settings import Settings
from tests.factories import BrandFixture, create_brand, create_campaign

CRASH_POINTS = (
    "payout.after_claim_commit",
    "payout.after_call",
    "payout.before_record_commit",
    "payout.after_record_commit",
)
"""Every crash point on the payout worker's path (platform/faults.py callers in payouts)."""

JINLI = str(Path(sys.executable).parent / "jinli")
OPEN = frozenset({PayoutState.pending, PayoutState.sending, PayoutState.unknown})
"""States the worker itself must move on from (no consumer action needed)."""
SETTLED_OR_WAITING = frozenset(
    {PayoutState.awaiting_user, PayoutState.succeeded, PayoutState.failed, PayoutState.review}
)
MAX_RECOVERY_RUNS = 6
MAX_RECONCILER_CYCLES = 4
"""Bounds of the loops; a payout still open after them counts as lost."""


def settings_for(db_url: str, data_dir: Path, simulator_url: str) -> Settings:
    return Settings(
        environment="test",
        database_url=db_url,
        data_dir=data_dir,
        secret_key="r4-test-secret-key-not-for-production",
        log_level="WARNING",
        wechatpay={"base_url": simulator_url},
    )


@dataclass(frozen=True)
class Row:
    """What the checks need of one payout (read in a closed unit of work)."""

    id: uuid.UUID
    cause: str
    attempt: int
    bill_number: str
    mode: PayoutMode
    state: PayoutState
    reissue_of: uuid.UUID | None


@dataclass
class RunResult:
    """The figures of one R4 run (one campaign of ``payouts`` payout orders)."""

    crash_at: str
    payouts: int
    kills: int = 0
    kill_codes: list[int] = field(default_factory=list)
    landed_unrecorded: int = 0
    """Right after the kills: payouts WeChat had accepted but Jinli still showed as sending."""
    lost: int = 0
    """Payouts not terminal (succeeded/failed/review) at the end."""
    stuck_after_recovery: int = 0
    """Payouts still pending/sending/unknown after the restarts (before the user acts)."""
    double_paid: int = 0
    """Numbers the simulator paid or debited more than once."""
    number_violations: int = 0
    """Numbers the simulator saw that no payout owns, or whose predecessor is not failed,
    or more than one number per cause."""
    succeeded: int = 0
    reconciler_cycles: int = 0
    """Reconciler cycles after the user acted until every payout was terminal."""
    ledger_paid_fen: int = 0
    book_paid_fen: int = 0
    worker_errors: list[str] = field(default_factory=list)


class R4Harness:
    """One database, one simulator served on a socket, one brand; any number of runs."""

    def __init__(
        self, db_url: str, data_dir: Path, *, seed: int = 0, pycache: Path | None = None
    ) -> None:
        self.db_url = db_url
        self.data_dir = data_dir
        self.pycache = pycache
        """Where worker subprocesses may cache bytecode (else each one compiles every module
        again when PYTHONDONTWRITEBYTECODE is set: seconds per start)."""
        self.rng = random.Random(seed)
        # Settle at once after the user acts (the real 1 s delays only slow the test down);
        # callbacks are delivered by this harness, not by a background task.
        self.sim = Simulator.from_directory(
            simulator_dir(settings_for(db_url, data_dir, "http://unused")),
            config=SimulatorConfig(
                background=False,
                transfer_settle_delay=timedelta(0),
                redpack_send_delay=timedelta(0),
                duplicate_probability=0.0,
            ),
        )
        self.server = SimulatorServer(self.sim)
        self.runtime: Runtime | None = None
        self.brand: BrandFixture | None = None

    async def __aenter__(self) -> R4Harness:
        url = self.server.start()
        self.runtime = bootstrap(settings_for(self.db_url, self.data_dir, url))
        self.sim.callback_transport = httpx.ASGITransport(app=create_app(self.runtime))
        self.brand = await create_brand(self.runtime, name="R4 brand")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.runtime is not None:
            await close_wechatpay(self.runtime)
            await self.runtime.aclose()
        self.server.stop()

    # -- the worker ----------------------------------------------------------------------------

    def worker(self, crash_at: str | None) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "JINLI_DATABASE_URL": self.db_url,
            "JINLI_DATA_DIR": str(self.data_dir),
            "JINLI_SECRET_KEY": "r4-test-secret-key-not-for-production",
            "JINLI_ENVIRONMENT": "test",
            "JINLI_LOG_LEVEL": "WARNING",
            "JINLI_PUBLIC_BASE_URL": "http://jinli.test",
            "JINLI_WECHATPAY__BASE_URL": self.server.base_url,
        }
        env.pop("JINLI_CRASH_AT", None)
        if self.pycache is not None:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(self.pycache)
        if crash_at:
            env["JINLI_CRASH_AT"] = crash_at
        return subprocess.run(
            [JINLI, "worker", "--once"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    # -- the database --------------------------------------------------------------------------

    def _rt(self) -> Runtime:
        assert self.runtime is not None
        return self.runtime

    async def orders(self, campaign_id: uuid.UUID) -> list[Row]:
        async with self._rt().uow(system=True) as uow:
            rows = await uow.session.scalars(
                select(PayoutOrder).where(PayoutOrder.campaign_id == campaign_id)
            )
            return [
                Row(o.id, o.cause, o.attempt, o.bill_number, o.mode, o.state, o.reissue_of)
                for o in rows
            ]

    async def fast_forward(
        self, campaign_id: uuid.UUID, delta: timedelta, states: Iterable[PayoutState]
    ) -> None:
        """Make ``delta`` pass for the run's payouts in ``states`` (see the module doc)."""
        wanted = list(states)
        async with self._rt().uow(system=True) as uow:
            rows = await uow.session.scalars(
                select(PayoutOrder).where(
                    PayoutOrder.campaign_id == campaign_id, PayoutOrder.state.in_(wanted)
                )
            )
            for order in rows:
                order.next_attempt_at -= delta
                if order.lease_until is not None:
                    order.lease_until -= delta
            await uow.commit()

    async def create_payouts(self, n: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
        assert self.brand is not None
        amounts = [self.rng.randint(100, 2_000) for _ in range(n)]
        campaign_id = await create_campaign(self._rt(), self.brand, funding_fen=sum(amounts) + 1)
        ids = []
        async with self._rt().uow(brand_id=self.brand.brand_id) as uow:
            for i, amount in enumerate(amounts):
                mode = PayoutMode.red_packet if i % 4 == 3 else PayoutMode.transfer
                order = await service.create_payout(
                    uow,
                    campaign_id=campaign_id,
                    amount_fen=Fen(amount),
                    openid=f"o-r4-{uuid.uuid4().hex[:16]}",
                    mode=mode,
                    cause=f"r4:{uuid.uuid4()}",
                    remark="R4 奖励",
                    activity="R4 kill -9",
                )
                ids.append(order.id)
            await uow.commit()
        return campaign_id, ids

    # -- one run -------------------------------------------------------------------------------

    def _worker_ok(self, result: RunResult, crash_at: str | None) -> None:
        done = self.worker(crash_at)
        if crash_at is not None:
            result.kills += 1
            result.kill_codes.append(done.returncode)
        elif done.returncode != 0 or "Traceback" in done.stderr or "failed" in done.stderr:
            result.worker_errors.append(f"rc={done.returncode}: {done.stderr[-2000:]}")

    async def run(self, crash_points: Sequence[str], *, payouts: int = 20) -> RunResult:
        """Create ``payouts`` orders; kill the worker once at each of ``crash_points`` in turn;
        restart until the worker has nothing left to do; the users confirm / open; reconcile."""
        result = RunResult("+".join(crash_points), payouts)
        campaign_id, _ = await self.create_payouts(payouts)

        for i, crash_at in enumerate(crash_points):
            if i:  # the previous worker's claim must expire before anyone retries it
                await self.fast_forward(campaign_id, LEASE + timedelta(seconds=1), OPEN)
            self._worker_ok(result, crash_at)
            result.landed_unrecorded += await self._landed_unrecorded(campaign_id)

        for _ in range(MAX_RECOVERY_RUNS):
            if not [o for o in await self.orders(campaign_id) if o.state in OPEN]:
                break
            await self.fast_forward(campaign_id, timedelta(minutes=11), OPEN)
            self._worker_ok(result, None)
        orders = await self.orders(campaign_id)
        result.stuck_after_recovery = sum(1 for o in orders if o.state not in SETTLED_OR_WAITING)
        result.number_violations = self._number_violations(orders)

        # The consumers act: confirm every transfer, open every red packet.
        for order in orders:
            if order.mode == PayoutMode.transfer:
                self.sim.confirm_transfer(order.bill_number)
            else:
                self.sim.open_redpack(order.bill_number)
        await self.sim.deliver_due()

        # The reconciler settles what no callback did (v2 red packets have none).
        for cycle in range(MAX_RECONCILER_CYCLES + 1):
            orders = await self.orders(campaign_id)
            if all(o.state in TERMINAL for o in orders):
                result.reconciler_cycles = cycle
                break
            await self.fast_forward(
                campaign_id,
                QUERY_EVERY + timedelta(seconds=1),
                [s for s in PayoutState if s not in TERMINAL],
            )
            self._worker_ok(result, None)
            await self.sim.deliver_due()
        else:
            result.reconciler_cycles = MAX_RECONCILER_CYCLES + 1

        orders = await self.orders(campaign_id)
        result.lost = sum(1 for o in orders if o.state not in TERMINAL)
        result.succeeded = sum(1 for o in orders if o.state == PayoutState.succeeded)
        result.number_violations += self._number_violations(orders)
        numbers = {o.bill_number for o in orders}
        with self.sim.lock:
            entries = [e for e in self.sim.book.entries() if e.number in numbers]
            result.double_paid = sum(1 for e in entries if e.successes > 1 or e.debits > 1)
            result.book_paid_fen = sum(e.net_paid_fen for e in entries)
        async with self._rt().uow(brand_id=self.brand.brand_id if self.brand else None) as uow:
            balances = await ledger.verify_book(uow, campaign_id)  # INV-BUDGET, or raises
        result.ledger_paid_fen = int(balances.paid)
        return result

    async def _landed_unrecorded(self, campaign_id: uuid.UUID) -> int:
        """Payouts WeChat has accepted while Jinli still shows them as being sent: the window
        in which a retry under a new number would pay twice."""
        sending = {
            o.bill_number for o in await self.orders(campaign_id) if o.state == PayoutState.sending
        }
        with self.sim.lock:
            return sum(1 for e in self.sim.book.entries() if e.number in sending)

    def _number_violations(self, orders: list[Row]) -> int:
        """INV-NUMBER against the simulator's book: every number WeChat saw belongs to one of
        the run's payouts, at most one number per cause is live, and a number with attempt > 0
        exists only if its predecessor is failed."""
        by_number = {o.bill_number: o for o in orders}
        by_id = {o.id: o for o in orders}
        prefixes = {o.bill_number[:25] for o in orders}
        violations = 0
        with self.sim.lock:
            seen = [
                e.number
                for e in self.sim.book.entries()
                if e.kind in (PayoutKind.TRANSFER, PayoutKind.REDPACK) and e.number[:25] in prefixes
            ]
        for number in seen:
            order = by_number.get(number)
            if order is None:
                violations += 1  # WeChat saw a number Jinli never recorded
                continue
            if order.attempt > 0:
                parent = by_id.get(order.reissue_of) if order.reissue_of else None
                if parent is None or parent.state != PayoutState.failed:
                    violations += 1
        live = [o.cause for o in orders if o.state != PayoutState.failed]
        return violations + len(live) - len(set(live))


def summarise(results: list[RunResult]) -> dict[str, object]:
    """The R4 figures over many runs."""
    cycles = sorted(r.reconciler_cycles for r in results)
    return {
        "runs": len(results),
        "payouts": sum(r.payouts for r in results),
        "kills": sum(r.kills for r in results),
        "landed_unrecorded_after_kill": sum(r.landed_unrecorded for r in results),
        "kills_not_sigkill": sum(1 for r in results for c in r.kill_codes if c != -signal.SIGKILL),
        "lost": sum(r.lost for r in results),
        "stuck_after_recovery": sum(r.stuck_after_recovery for r in results),
        "double_paid": sum(r.double_paid for r in results),
        "inv_number_violations": sum(r.number_violations for r in results),
        "succeeded": sum(r.succeeded for r in results),
        "terminal_within_2_cycles": sum(1 for r in results if r.reconciler_cycles <= 2),
        "reconciler_cycles_max": cycles[-1] if cycles else 0,
        "ledger_paid_fen": sum(r.ledger_paid_fen for r in results),
        "book_paid_fen": sum(r.book_paid_fen for r in results),
        "worker_errors": sum(len(r.worker_errors) for r in results),
    }
