"""Errors of reconciliation, with stable codes. A rejected bill leaves nothing behind: the
run is written only after the whole bill was read, checked and matched."""

from __future__ import annotations

from jinli.kernel.errors import ErrorKind, JinliError


class BillRejected(JinliError):
    """The bill cannot be reconciled as it is; nothing was recorded."""

    code = "bill_rejected"
    kind = ErrorKind.INVALID
    title = "The WeChat Pay bill cannot be reconciled"


class BillHeaderInvalid(BillRejected):
    code = "bill_header_invalid"
    title = "The file does not start with a WeChat Pay bill header"


class BillAmountInvalid(BillRejected):
    code = "bill_amount_invalid"
    title = "The bill contains an amount that is not exact yuan"


class BillTruncated(BillRejected):
    code = "bill_truncated"
    title = "The bill is cut off before its summary"


class BillSummaryMismatch(BillRejected):
    code = "bill_summary_mismatch"
    title = "The bill's summary row does not match its rows"


class BillHashMismatch(BillRejected):
    code = "bill_hash_mismatch"
    title = "The downloaded bill does not match the hash WeChat Pay announced"


class BillDateMismatch(BillRejected):
    code = "bill_date_mismatch"
    title = "The bill holds rows of another day than the one being reconciled"


class BillNotReady(JinliError):
    code = "bill_not_ready"
    kind = ErrorKind.UNAVAILABLE
    title = "WeChat Pay has not generated this bill yet; try again after 10:00 Beijing time"


class InvalidBillDate(JinliError):
    code = "invalid_bill_date"
    kind = ErrorKind.INVALID
    title = "Bills exist for past Beijing days only (not today, not the future)"


class InvalidMonth(JinliError):
    code = "invalid_month"
    kind = ErrorKind.INVALID
    title = "A month is written YYYY-MM"


class RunNotFound(JinliError):
    code = "reconciliation_run_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "No reconciliation run for this merchant and day"


class DifferenceNotFound(JinliError):
    code = "reconciliation_difference_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "No such reconciliation difference"


class DifferenceAlreadyResolved(JinliError):
    code = "reconciliation_difference_resolved"
    kind = ErrorKind.CONFLICT
    title = "This difference was already resolved"


class ResolutionNoteRequired(JinliError):
    code = "resolution_note_required"
    kind = ErrorKind.INVALID
    title = "Say how the difference was resolved (1–2000 characters)"


class BillTooLarge(JinliError):
    code = "bill_too_large"
    kind = ErrorKind.INVALID
    title = "The bill file is too large to upload here"


class BillSourceUnavailable(JinliError):
    code = "bill_source_unavailable"
    kind = ErrorKind.UNAVAILABLE
    title = "Fetching bills from WeChat Pay is not configured in this process"
