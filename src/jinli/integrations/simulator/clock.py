"""The simulator's time: WeChat's own clock, which tests and the demo can push forward.

Two readings of one clock:

- :meth:`SimulatorClock.now` is **business time**: when bills are created, when a transfer's
  24 h confirmation window ends, which day a fund-flow row belongs to. ``advance`` moves it.
- :meth:`SimulatorClock.wall` is **protocol time**: the clock the merchant's client lives on.
  Signed timestamps (``Authorization``, ``Wechatpay-Timestamp``) are checked against it and
  written with it, because WeChat refuses requests more than 5 minutes off and clients refuse
  replies more than 5 minutes off.

With a :class:`~jinli.kernel.clock.FrozenClock` as the base (tests), both are the same reading
and ``advance`` moves the frozen clock itself, so a client sharing that clock stays in step.
With the system clock as the base (real-time mode, the demo), ``advance`` adds an offset to
business time only: the demo can jump "24 h later" while Jinli keeps signing with real time.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from jinli.kernel.clock import Clock, FrozenClock, SystemClock, as_utc


class SimulatorClock:
    """A clock owned by the simulator (see the module docstring for its two readings)."""

    def __init__(self, base: Clock | None = None) -> None:
        self.base: Clock = base or SystemClock()
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    @property
    def realtime(self) -> bool:
        """True when time follows the system clock (plus the advanced offset)."""
        return not isinstance(self.base, FrozenClock)

    @property
    def offset(self) -> timedelta:
        """How far business time is ahead of the base clock (real-time mode only)."""
        return self._offset

    def now(self) -> datetime:
        """Business time, UTC."""
        return as_utc(self.base.now()) + self._offset

    def wall(self) -> datetime:
        """Protocol time, UTC: what signed timestamps are checked against and written with."""
        return as_utc(self.base.now())

    def advance(self, delta: timedelta) -> None:
        """Move business time forward (never backward: days already billed stay fixed)."""
        if delta < timedelta(0):
            raise ValueError("the simulator clock only moves forward")
        with self._lock:
            if isinstance(self.base, FrozenClock):
                self.base.advance(delta)
            else:
                self._offset += delta
