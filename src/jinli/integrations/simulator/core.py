"""The state every part of the simulator shares: clock, book, timers, numbers, randomness.

Timers make the state machines run on the simulator clock: a transition due at instant *t*
(a 24 h expiry, a refund, TRANSFERING → SUCCESS) is a timer that runs **at t**, even when the
clock jumps far past it, so the book and the bills date every movement exactly. Each timer
re-checks the state it acts on, so a stale timer (the user confirmed, the bill was cancelled)
does nothing.

Not thread-safe by itself: :class:`~.simulator.Simulator` holds :attr:`SimCore.lock` around
every call, because the ASGI app (possibly in a server thread) and a test's Python calls touch
the same state.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from jinli.kernel.clock import SHANGHAI

from .book import Book
from .clock import SimulatorClock
from .config import SimulatorConfig
from .credentials import Credentials

Action = Callable[[datetime], None]


@dataclass(order=True)
class _Timer:
    due: datetime
    seq: int
    action: Action = field(compare=False)


class SimCore:
    """Shared state (see the module docstring)."""

    def __init__(
        self, credentials: Credentials, config: SimulatorConfig, clock: SimulatorClock
    ) -> None:
        self.credentials = credentials
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.book = Book(credentials.mchid, config.initial_balance_fen)
        self.rng = random.Random(config.seed)
        self._timers: list[_Timer] = []
        self._seq = itertools.count()
        self._numbers = itertools.count(1)

    # -- timers --------------------------------------------------------------------------------

    def at(self, due: datetime, action: Action) -> None:
        """Run ``action(due)`` once the simulator clock reaches ``due``."""
        heapq.heappush(self._timers, _Timer(due, next(self._seq), action))

    def next_due(self) -> datetime | None:
        """When the earliest pending timer is due."""
        return self._timers[0].due if self._timers else None

    def run_due(self, until: datetime | None = None) -> int:
        """Run every timer due by ``until`` (default: now), in time order, each at its own due
        instant; timers they add are run too when due. Returns how many ran."""
        limit = until or self.clock.now()
        ran = 0
        while self._timers and self._timers[0].due <= limit:
            timer = heapq.heappop(self._timers)
            timer.action(timer.due)
            ran += 1
        return ran

    # -- numbers -------------------------------------------------------------------------------

    def number(self, prefix: str, at: datetime, width: int) -> str:
        """A WeChat-style all-digit number: prefix, Beijing date, a sequence, ``width`` long."""
        head = f"{prefix}{at.astimezone(SHANGHAI):%Y%m%d}"
        seq = str(next(self._numbers))
        return head + seq.rjust(width - len(head), "0")

    def token(self, nbytes: int = 18) -> str:
        """An opaque, URL-safe token from the seeded generator (package_info, codes)."""
        return base64.urlsafe_b64encode(self.rng.randbytes(nbytes)).decode("ascii").rstrip("=")
