"""WeChat's per-merchant rate limits, counted on the simulator clock.

Fixed windows aligned to the clock (each calendar second for "100/s", each minute for
"1800/min"): under a frozen clock a burst beyond the limit is refused until the clock moves,
which is what a test of a client-side limiter needs. Refused calls do not count.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from datetime import datetime

LOG_SIZE = 100_000
"""How many accepted calls a limiter remembers (for :meth:`FixedWindowLimiter.per_window`)."""


class FixedWindowLimiter:
    """At most ``limit`` calls per ``window_seconds`` window."""

    def __init__(self, limit: int, window_seconds: int) -> None:
        if limit < 1 or window_seconds < 1:
            raise ValueError("a rate limit needs a positive limit and window")
        self.limit = limit
        self.window_seconds = window_seconds
        self._window = -1
        self._count = 0
        self._lock = threading.Lock()
        self.refused = 0
        """How many calls were refused so far."""
        self.accepted: deque[float] = deque(maxlen=LOG_SIZE)
        """When the latest accepted calls were counted (POSIX seconds on the simulator
        clock): what a client's limiter is judged by."""

    def allow(self, now: datetime) -> bool:
        """Count one call at ``now``; False when the window is full."""
        window = int(now.timestamp()) // self.window_seconds
        with self._lock:
            if window != self._window:
                self._window, self._count = window, 0
            if self._count >= self.limit:
                self.refused += 1
                return False
            self._count += 1
            self.accepted.append(now.timestamp())
            return True

    def per_window(self) -> dict[int, int]:
        """Accepted calls per window (window index = POSIX seconds // window length), over
        the calls still remembered."""
        with self._lock:
            return dict(Counter(int(at) // self.window_seconds for at in self.accepted))
