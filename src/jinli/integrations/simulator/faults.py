"""Fault injection: what goes wrong, on which call, and whether the money moved anyway.

Each WeChat call the simulator serves is an :class:`Operation`. For each operation a
:class:`FaultPlan` holds a queue of one-shot faults (taken first, in order) and a list of
probabilities (rolled with a seeded ``random.Random``, so a seed replays the same faults).

The kinds are the R5 matrix (reliability.md §7.1): every way WeChat's answer can leave a
merchant unsure whether it paid. ``applied`` says whether the payout is carried out before the
faulty answer is produced: a SYSTEMERROR or a timeout *after* the money moved is exactly the
case that pays twice if the merchant retries with a new number.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Operation(StrEnum):
    """A WeChat call (or the callback channel) faults can be attached to."""

    TRANSFER_CREATE = "transfer_create"
    TRANSFER_QUERY = "transfer_query"
    TRANSFER_CANCEL = "transfer_cancel"
    REDPACK_SEND = "redpack_send"
    REDPACK_QUERY = "redpack_query"
    BRAND_CREATE = "brand_create"
    BRAND_QUERY = "brand_query"
    CALLBACK = "callback"


class FaultKind(StrEnum):
    """What goes wrong."""

    SYSTEM_ERROR = "system_error"
    """v3 500 SYSTEM_ERROR / v2 SYSTEMERROR (signed, well-formed)."""
    TIMEOUT = "timeout"
    """No answer in time: the request hangs longer than the client waits, then the connection
    is dropped."""
    DROP = "drop"
    """The connection is closed mid-reply (the client sees a broken response)."""
    HTTP_500 = "http_500"
    """A gateway's bare HTTP 500 with an HTML body, unsigned."""
    FREQUENCY_LIMITED = "frequency_limited"
    """v3 429 FREQUENCY_LIMITED / v2 FREQ_LIMIT (never applied)."""
    NOT_ENOUGH = "not_enough"
    """v3 403 NOT_ENOUGH / v2 NOTENOUGH (never applied)."""
    MALFORMED = "malformed"
    """A 200 whose body is cut off (not JSON / not XML)."""
    UNKNOWN_CODE = "unknown_code"
    """An error code nobody has documented."""
    NOT_FOUND = "not_found"
    """Queries only: 404 NOT_FOUND / v2 NOT_FOUND although the order exists (still
    processing)."""
    PROCESSING = "processing"
    """v2 send only: err_code PROCESSING; the packet is created."""
    DUPLICATE = "duplicate"
    """Callbacks: the next notification is delivered ``copies`` times."""
    OUT_OF_ORDER = "out_of_order"
    """Callbacks: the next notification is held back so later ones arrive first."""
    FORGED_SIGNATURE = "forged_signature"
    """Callbacks: an extra copy of the next notification signed by a key that is not WeChat's
    (under WeChat's serial), sent before the genuine one."""
    AMOUNT_MISMATCH = "amount_mismatch"
    """Callbacks: an extra, correctly signed notification whose amount differs from the
    order's, sent before the genuine one."""
    PROBE = "probe"
    """Callbacks: an extra copy with a ``WECHATPAY/SIGNTEST/`` signature."""


CALLBACK_KINDS = frozenset(
    {
        FaultKind.DUPLICATE,
        FaultKind.OUT_OF_ORDER,
        FaultKind.FORGED_SIGNATURE,
        FaultKind.AMOUNT_MISMATCH,
        FaultKind.PROBE,
    }
)
QUERY_OPERATIONS = frozenset(
    {Operation.TRANSFER_QUERY, Operation.REDPACK_QUERY, Operation.BRAND_QUERY}
)
NEVER_APPLIED = frozenset({FaultKind.FREQUENCY_LIMITED, FaultKind.NOT_ENOUGH})


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault. ``applied``: carry out the operation before answering with the fault."""

    kind: FaultKind
    applied: bool = False
    copies: int = 2
    """DUPLICATE only: how many times the notification is delivered (2–5)."""

    def to_json(self) -> dict[str, Any]:
        """JSON form (admin endpoint)."""
        return {"kind": self.kind.value, "applied": self.applied, "copies": self.copies}


def check_fault(operation: Operation, fault: Fault) -> None:
    """Refuse combinations that mean nothing (ValueError with the reason)."""
    kind = fault.kind
    if operation is Operation.CALLBACK:
        if kind not in CALLBACK_KINDS:
            raise ValueError(f"{kind} is not a callback fault")
        if kind is FaultKind.DUPLICATE and not 2 <= fault.copies <= 10:
            raise ValueError("a duplicate is delivered 2 to 10 times")
        return
    if kind in CALLBACK_KINDS:
        raise ValueError(f"{kind} only applies to callbacks")
    if kind is FaultKind.NOT_FOUND and operation not in QUERY_OPERATIONS:
        raise ValueError("NOT_FOUND applies to queries only")
    if kind is FaultKind.PROCESSING and operation is not Operation.REDPACK_SEND:
        raise ValueError("PROCESSING applies to the v2 red packet send only")
    if fault.applied and (kind in NEVER_APPLIED or operation in QUERY_OPERATIONS):
        raise ValueError(f"{kind} on {operation} cannot be applied")


class FaultPlan:
    """One-shot queues and seeded probabilities of faults, per operation (thread-safe)."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._queues: dict[Operation, deque[Fault]] = {}
        self._odds: dict[Operation, list[tuple[Fault, float]]] = {}
        self._rng = random.Random(seed)
        self.drawn: list[tuple[Operation, Fault]] = []
        """Every fault handed out, in order (what a test can assert happened)."""

    def reseed(self, seed: int) -> None:
        """Restart the random sequence."""
        with self._lock:
            self._rng = random.Random(seed)

    def inject(self, operation: Operation, fault: Fault, *, times: int = 1) -> None:
        """Queue ``fault`` for the next ``times`` calls of ``operation``."""
        check_fault(operation, fault)
        with self._lock:
            self._queues.setdefault(operation, deque()).extend([fault] * times)

    def set_probability(self, operation: Operation, fault: Fault, probability: float) -> None:
        """Give each call of ``operation`` this chance of ``fault`` (0 removes it)."""
        check_fault(operation, fault)
        if not 0.0 <= probability <= 1.0:
            raise ValueError("a probability is between 0 and 1")
        with self._lock:
            odds = [(f, p) for f, p in self._odds.get(operation, []) if f != fault]
            if probability > 0:
                odds.append((fault, probability))
            self._odds[operation] = odds

    def clear(self) -> None:
        """Remove every queued fault and probability."""
        with self._lock:
            self._queues.clear()
            self._odds.clear()

    def draw(self, operation: Operation) -> Fault | None:
        """The fault for this call, if any: the queue first, then one roll per probability."""
        with self._lock:
            queue = self._queues.get(operation)
            fault: Fault | None = None
            if queue:
                fault = queue.popleft()
            else:
                for candidate, probability in self._odds.get(operation, []):
                    if self._rng.random() < probability:
                        fault = candidate
                        break
            if fault is not None:
                self.drawn.append((operation, fault))
            return fault

    def pending(self) -> dict[str, Any]:
        """Queued faults and probabilities (admin endpoint)."""
        with self._lock:
            return {
                "queued": {
                    op.value: [f.to_json() for f in queue] for op, queue in self._queues.items()
                },
                "probabilities": {
                    op.value: [{**f.to_json(), "probability": p} for f, p in odds]
                    for op, odds in self._odds.items()
                },
                "drawn": len(self.drawn),
            }
