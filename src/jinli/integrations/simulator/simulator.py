"""The simulator's Python API: one simulated WeChat Pay merchant, its clock, book and faults.

Tests drive it directly (advance the clock, confirm a transfer as the user, inject faults,
read the book, deliver due callbacks); :func:`~.app.create_simulator_app` serves it over HTTP
and the admin endpoints call the same methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from jinli.kernel.clock import Clock

from .bills import BillDesk
from .book import Book, PayoutKind
from .brand import BrandDesk
from .callbacks import Attempt, CallbackOutbox, post
from .clock import SimulatorClock
from .config import SimulatorConfig
from .core import SimCore
from .credentials import Credentials, load_or_create_credentials
from .faults import Fault, FaultKind, FaultPlan, Operation
from .oauth import OAuthDesk
from .redpacks import RedpackDesk
from .transfers import TransferDesk

log = logging.getLogger(__name__)


def _delta(value: timedelta | float) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=value)


class Simulator:
    """One simulated merchant (see the package docstring for what it reproduces).

    ``clock``: a :class:`~jinli.kernel.clock.FrozenClock` for deterministic tests (share it
    with the client under test), or ``None`` for real time (the demo). ``callback_transport``
    routes callbacks (an ``httpx.MockTransport`` or ``ASGITransport`` in tests; the network
    when ``None``).
    """

    def __init__(
        self,
        credentials: Credentials,
        config: SimulatorConfig | None = None,
        *,
        clock: Clock | None = None,
        callback_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.clock = SimulatorClock(clock)
        self.core = SimCore(credentials, self.config, self.clock)
        self.faults = FaultPlan(self.config.seed)
        self.outbox = CallbackOutbox(self.core, self.faults)
        self.outbox.transport = callback_transport
        self.transfers = TransferDesk(self.core, self.outbox)
        self.redpacks = RedpackDesk(self.core)
        self.brand = BrandDesk(self.core)
        self.bills = BillDesk(self.core)
        self.oauth = OAuthDesk(self.core)
        self._background: asyncio.Task[None] | None = None

    @classmethod
    def from_directory(
        cls,
        directory: Path,
        *,
        base_url: str | None = None,
        config: SimulatorConfig | None = None,
        clock: Clock | None = None,
    ) -> Simulator:
        """A simulator for the merchant kept in ``directory`` (generated on first use)."""
        return cls(load_or_create_credentials(directory, base_url=base_url), config, clock=clock)

    # -- state ---------------------------------------------------------------------------------

    @property
    def credentials(self) -> Credentials:
        """The merchant's credentials."""
        return self.core.credentials

    @property
    def book(self) -> Book:
        """What WeChat paid (read it while no request runs, or under :attr:`lock`)."""
        return self.core.book

    @property
    def lock(self) -> Any:
        """The lock every state change holds (a re-entrant ``threading.RLock``)."""
        return self.core.lock

    @property
    def callback_log(self) -> list[Attempt]:
        """Every callback POST so far."""
        return self.outbox.log

    @property
    def callback_transport(self) -> httpx.AsyncBaseTransport | None:
        """Where callbacks are sent (None: the network)."""
        return self.outbox.transport

    @callback_transport.setter
    def callback_transport(self, transport: httpx.AsyncBaseTransport | None) -> None:
        self.outbox.transport = transport

    def set_base_url(self, base_url: str) -> None:
        """Record where clients reach the simulator (bill download URLs begin with it)."""
        with self.lock:
            self.core.credentials = self.core.credentials.with_base_url(base_url)

    def now(self) -> datetime:
        """Business time on the simulator clock."""
        return self.clock.now()

    # -- time ----------------------------------------------------------------------------------

    def tick(self) -> int:
        """Run the transitions due by now; returns how many ran."""
        with self.lock:
            return self.core.run_due()

    def advance(self, delta: timedelta | float) -> None:
        """Move the clock forward, running every transition due on the way at its own
        instant (24 h expiries, refunds…). Callbacks wait for :meth:`deliver_due`."""
        step = _delta(delta)
        with self.lock:
            self.core.run_due(self.clock.now() + step)
            self.clock.advance(step)

    async def deliver_due(self) -> list[Attempt]:
        """POST every callback due by now (after running due transitions)."""
        with self.lock:
            self.core.run_due()
            due = self.outbox.take_due(self.clock.now())
            prepared = [(d, *self.outbox.headers(d)) for d in due]
        attempts = []
        for delivery, body, headers in prepared:
            status, error = await post(
                self.outbox.transport,
                delivery.notification.url,
                body,
                headers,
                self.config.callback_timeout_seconds,
            )
            with self.lock:
                attempts.append(self.outbox.record(delivery, self.clock.now(), status, error))
        return attempts

    async def advance_and_deliver(self, delta: timedelta | float) -> list[Attempt]:
        """Move the clock forward step by step, stopping at every due transition and callback
        so retries happen on WeChat's schedule; returns the callback attempts made."""
        with self.lock:
            target = self.clock.now() + _delta(delta)
        attempts: list[Attempt] = []
        while True:
            with self.lock:
                dues = [d for d in (self.core.next_due(), self.outbox.next_due()) if d]
                now = self.clock.now()
                step = min(dues) if dues else None
                if step is None or step > target:
                    break
                if step > now:
                    self.clock.advance(step - now)
            attempts.extend(await self.deliver_due())
        with self.lock:
            now = self.clock.now()
            if target > now:
                self.clock.advance(target - now)
        attempts.extend(await self.deliver_due())
        return attempts

    # -- what users and WeChat do --------------------------------------------------------------

    def confirm_transfer(
        self, out_bill_no: str | None = None, *, package_info: str | None = None
    ) -> bool:
        """The user confirms a transfer in WeChat (by number or by ``package_info``)."""
        with self.lock:
            self.core.run_due()
            bill = (
                self.transfers.by_package(package_info)
                if package_info is not None
                else self.transfers.bills.get(out_bill_no or "")
            )
            return bill is not None and self.transfers.confirm(bill, self.clock.now())

    def fail_transfer(self, out_bill_no: str, reason: str = "TRANSFER_RISK") -> bool:
        """WeChat fails a transfer on its own (risk control, frozen account…)."""
        with self.lock:
            bill = self.transfers.bills.get(out_bill_no)
            return bill is not None and self.transfers.fail(bill, reason, self.clock.now())

    def open_redpack(self, mch_billno: str) -> bool:
        """The user opens a cash red packet."""
        with self.lock:
            self.core.run_due()
            packet = self.redpacks.packets.get(mch_billno)
            return packet is not None and self.redpacks.open(packet, self.clock.now())

    def block_openid(self, openid: str) -> None:
        """Brand red packets to this openid will fail (OPENID_INVALID)."""
        with self.lock:
            self.brand.blocked_openids.add(openid)

    def set_balance(self, fen: int) -> None:
        """Set the merchant's available balance (a top-up or a drain, not booked)."""
        with self.lock:
            self.core.book.balance_fen = fen

    def inject(
        self,
        operation: Operation | str,
        kind: FaultKind | str,
        *,
        applied: bool = False,
        times: int = 1,
        copies: int = 2,
    ) -> None:
        """Queue a one-shot fault for the next ``times`` calls of ``operation``."""
        fault = Fault(FaultKind(kind), applied=applied, copies=copies)
        self.faults.inject(Operation(operation), fault, times=times)

    def successes(self) -> dict[str, int]:
        """Successful payments per merchant number (the "≤ 1" invariant's input)."""
        with self.lock:
            return {
                (e.batch_no + "/" if e.batch_no else "") + e.number: e.successes
                for e in self.core.book.entries()
            }

    def entry_state(self, kind: PayoutKind, number: str, batch_no: str | None = None) -> str | None:
        """The state the book holds for a number (None if WeChat never accepted it)."""
        with self.lock:
            entry = self.core.book.get(kind, number, batch_no)
            return entry.state if entry else None

    def snapshot(self) -> dict[str, Any]:
        """Clock, balance and counts (admin endpoint)."""
        with self.lock:
            return {
                "now": self.clock.now().isoformat(),
                "wall": self.clock.wall().isoformat(),
                "realtime": self.clock.realtime,
                "offset_seconds": self.clock.offset.total_seconds(),
                "book": self.core.book.summary(),
                "callbacks_pending": self.outbox.pending(),
                "faults": self.faults.pending(),
            }

    # -- real-time mode ------------------------------------------------------------------------

    async def run_background(self) -> None:
        """Real-time mode: run due transitions and deliver callbacks every tick, forever."""
        while True:
            try:
                await self.deliver_due()
            except Exception:  # a bad callback target must not stop the simulator
                log.exception("simulator.background.failed")
            await asyncio.sleep(self.config.tick_interval_seconds)

    def ensure_background(self) -> None:
        """Start :meth:`run_background` in the running loop (real-time mode, once)."""
        if not self.clock.realtime or not self.config.background:
            return
        if self._background and not self._background.done():
            return
        self._background = asyncio.get_running_loop().create_task(self.run_background())

    async def stop_background(self) -> None:
        """Stop the background task, if any."""
        task, self._background = self._background, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
