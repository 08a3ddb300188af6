"""Errors of the ledger, with stable codes."""

from __future__ import annotations

from jinli.kernel.errors import ErrorKind, JinliError


class InsufficientBudget(JinliError):
    code = "budget_exhausted"
    kind = ErrorKind.CONFLICT
    title = "The campaign budget does not have this much available"


class CapExceeded(JinliError):
    code = "budget_cap_exceeded"
    kind = ErrorKind.CONFLICT
    title = "Funding would exceed the campaign's hard budget cap"


class NonPositiveAmount(JinliError):
    code = "invalid_amount"
    kind = ErrorKind.INVALID
    title = "Amounts are positive whole numbers of fen"


class BookNotFound(JinliError):
    code = "ledger_book_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "No budget ledger for this campaign"


class HoldNotFound(JinliError):
    code = "ledger_hold_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "No such budget reservation"


class HoldStateConflict(JinliError):
    code = "ledger_hold_state_conflict"
    kind = ErrorKind.CONFLICT
    title = "The reservation is not in a state that allows this"


class HoldRefMismatch(JinliError):
    code = "ledger_hold_ref_mismatch"
    kind = ErrorKind.CONFLICT
    title = "A reservation with this reference exists with a different amount"


class CapBelowFunded(JinliError):
    code = "budget_cap_below_funded"
    kind = ErrorKind.CONFLICT
    title = "The cap cannot be lower than what is already funded"


class LedgerInvariantBroken(JinliError):
    code = "ledger_invariant_broken"
    kind = ErrorKind.UNAVAILABLE
    title = "The ledger failed its own consistency check"
