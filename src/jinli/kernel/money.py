"""Money is an integer number of fen (分) everywhere; yuan (元) strings exist only at the edges."""

from __future__ import annotations

import re
from typing import NewType

Fen = NewType("Fen", int)
"""An amount of money in fen: 1 CNY = 100 fen. Never a float, never a Decimal in the core."""

# ASCII digits only: ``\d`` would also take "１２" or "١٢", which ``int()`` then silently
# accepts, so a bill or form could carry digits nobody reading it recognises. ``\Z`` rather
# than ``$``, which would also match before a final newline.
_YUAN = re.compile(r"^(?P<sign>-?)(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]{1,2}))?\Z")


class InvalidAmount(ValueError):
    """A yuan string that is not an exact amount in fen (e.g. ``1.005`` or ``abc``)."""


def fen(value: int) -> Fen:
    """Check that ``value`` is a real integer (not a bool) and brand it as fen."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(f"amount must be an integer number of fen, got {value!r}")
    return Fen(value)


def parse_yuan(text: str) -> Fen:
    """Parse a yuan string such as ``"12.30"`` into exact fen; reject anything inexact.

    WeChat bills and console forms speak yuan; at most two decimals are accepted so that no
    rounding can ever happen.
    """
    if not isinstance(text, str):
        raise InvalidAmount(f"a yuan amount is text, got {type(text).__name__}: {text!r}")
    match = _YUAN.match(text.strip())
    if match is None:
        raise InvalidAmount(f"not an amount in yuan: {text!r}")
    frac = (match["frac"] or "").ljust(2, "0")
    value = int(match["int"]) * 100 + int(frac)
    return Fen(-value if match["sign"] else value)


def format_yuan(amount: Fen | int) -> str:
    """Format fen as a yuan string with exactly two decimals: ``1234`` → ``"12.34"``.

    A float or bool is refused rather than truncated (``int(1.5)`` would print ``"0.01"``).
    """
    amount = fen(amount)
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), 100)
    return f"{sign}{whole}.{part:02d}"
