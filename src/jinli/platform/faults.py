"""Named crash points for kill -9 tests (R4, outbox): ``JINLI_CRASH_AT=<name>`` kills the process.

A crash point costs one dict lookup when no crash is armed. The process dies with SIGKILL, so
nothing (no ``finally``, no atexit, no flush) runs: exactly what a power cut or OOM kill does.
"""

from __future__ import annotations

import os
import signal

_ARMED = os.environ.get("JINLI_CRASH_AT", "")


def crash_point(name: str) -> None:
    if _ARMED and name == _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
