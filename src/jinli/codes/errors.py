"""Errors of the codes capability (M3), with stable codes."""

from __future__ import annotations

from jinli.kernel.errors import ErrorKind, JinliError


class CodeMalformed(JinliError):
    code = "code_malformed"
    kind = ErrorKind.INVALID
    title = "This is not a code: wrong length or characters"


class CodeNotGenuine(JinliError):
    code = "code_not_genuine"
    kind = ErrorKind.INVALID
    title = "This code fails its check: mistyped, or not issued by Jinli"


class CodeNotFound(JinliError):
    code = "code_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "No such code"


class CodeBatchNotFound(JinliError):
    code = "code_batch_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "No such code batch"


class CodeBatchTooLarge(JinliError):
    code = "code_batch_too_large"
    kind = ErrorKind.INVALID
    title = "The batch is larger than this surface generates"


class CodeBatchIllegalTransition(JinliError):
    code = "code_batch_illegal_transition"
    kind = ErrorKind.CONFLICT
    title = "The batch's status does not allow this action"


class CodeBatchCampaignClosed(JinliError):
    code = "code_batch_campaign_closed"
    kind = ErrorKind.CONFLICT
    title = "The campaign has ended; it cannot get new codes"


class CodeExportPurged(JinliError):
    code = "code_export_purged"
    kind = ErrorKind.CONFLICT
    title = "The printer export of this batch was purged; its codes exist only on print"


class CodeKeysInvalid(JinliError):
    code = "code_keys_invalid"
    kind = ErrorKind.UNAVAILABLE
    title = "The code keys are missing or not valid"
