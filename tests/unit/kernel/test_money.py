"""Money is exact: fen are integers, yuan strings are parsed and formatted without rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jinli.kernel.money import Fen, InvalidAmount, fen, format_yuan, parse_yuan


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("0.00", 0),
        ("0.01", 1),
        ("0.1", 10),
        ("1", 100),
        ("1.5", 150),
        ("12.30", 1230),
        ("12.34", 1234),
        ("007.50", 750),
        ("-0.01", -1),
        ("-12.34", -1234),
        ("  8.88 ", 888),
        ("20000.00", 2_000_000),
        ("92233720368547758.07", 2**63 - 1),
    ],
)
def test_parse_yuan_is_exact(text: str, expected: int) -> None:
    """A yuan string with at most two decimals becomes exactly that many fen."""
    assert parse_yuan(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1.005",  # a third decimal would need rounding
        "0.001",
        "abc",
        "1e3",  # scientific notation is not an amount
        "1E3",
        "",
        " ",
        ".5",
        "1.",
        "+1",
        "--1",
        "1,000.00",
        "1_000",
        "1 000",
        "¥12",
        "12元",
        "0x10",
        "nan",
        "inf",
        "１２.３０",  # full-width digits
        "١٢",  # Arabic-Indic digits: int() would accept them silently
        "12.3\n4",
    ],
)
def test_parse_yuan_rejects_anything_inexact_or_odd(text: str) -> None:
    """Anything but ASCII digits with at most two decimals is refused, never rounded."""
    with pytest.raises(InvalidAmount):
        parse_yuan(text)


@pytest.mark.parametrize("value", [1.5, 1.0, Decimal("1.00"), None, 100])
def test_parse_yuan_refuses_non_text(value: object) -> None:
    """Only text is parsed: a float, a Decimal or an int handed in by mistake is refused."""
    with pytest.raises(InvalidAmount):
        parse_yuan(value)  # type: ignore[arg-type]  # deliberately wrong type


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (0, "0.00"),
        (1, "0.01"),
        (10, "0.10"),
        (99, "0.99"),
        (100, "1.00"),
        (1234, "12.34"),
        (-1, "-0.01"),
        (-1234, "-12.34"),
        (2**63 - 1, "92233720368547758.07"),
    ],
)
def test_format_yuan_has_exactly_two_decimals(amount: int, expected: str) -> None:
    """Fen format as yuan with exactly two decimals and a sign only when negative."""
    assert format_yuan(amount) == expected


@pytest.mark.parametrize("value", [1.5, 1.0, True, Decimal(1), "100"])
def test_format_yuan_refuses_non_integers(value: object) -> None:
    """A float is refused, not truncated (int(1.5) would print 0.01)."""
    with pytest.raises(InvalidAmount):
        format_yuan(value)  # type: ignore[arg-type]  # deliberately wrong type


@pytest.mark.parametrize("value", [1.0, 0.5, True, False, Decimal(1), "1", None])
def test_fen_refuses_everything_but_int(value: object) -> None:
    """``fen()`` brands only real integers: floats, bools, Decimals and text are refused."""
    with pytest.raises(InvalidAmount):
        fen(value)  # type: ignore[arg-type]  # deliberately wrong type


def test_fen_brands_an_integer_unchanged() -> None:
    """``fen()`` hands back the same integer value."""
    assert fen(188) == Fen(188)
    assert type(fen(188)) is int


@given(st.integers(min_value=-(10**20), max_value=10**20))
def test_parse_of_format_is_identity(amount: int) -> None:
    """parse_yuan(format_yuan(x)) == x for every integer number of fen (S7)."""
    assert parse_yuan(format_yuan(amount)) == amount


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=99))
def test_format_of_parse_is_canonical(whole: int, part: int) -> None:
    """Formatting a parsed two-decimal string gives it back unchanged."""
    text = f"{whole}.{part:02d}"
    assert format_yuan(parse_yuan(text)) == text
