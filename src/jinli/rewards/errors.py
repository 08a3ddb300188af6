"""Errors of the rewards capability (M2), with stable codes."""

from __future__ import annotations

from jinli.kernel.errors import ErrorKind, JinliError


class InvalidPrizeTable(JinliError):
    code = "invalid_prize_table"
    kind = ErrorKind.INVALID
    title = "The prize table is not valid"


class InvalidSplit(JinliError):
    code = "invalid_split"
    kind = ErrorKind.INVALID
    title = "The red-packet split is not valid"


class SplitInfeasible(InvalidSplit):
    code = "split_infeasible"
    kind = ErrorKind.INVALID
    title = "The total cannot be split into this many shares within the per-share limits"


class BudgetTooSmall(JinliError):
    code = "reward_budget_too_small"
    kind = ErrorKind.CONFLICT
    title = "The budget does not cover the expected cost of the planned draws"


class SplitInvariantBroken(JinliError):
    code = "split_invariant_broken"
    kind = ErrorKind.UNAVAILABLE
    title = "A pre-split red-packet pool failed its own check"
