"""The χ² p-value that B4 reports is right: checked against printed table values."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "b4_split_fairness.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("b4_split_fairness", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("statistic", "df", "p"),
    [
        (2.706, 1, 0.10),
        (0.0158, 1, 0.90),
        (16.919, 9, 0.05),
        (21.666, 9, 0.01),
        (36.191, 19, 0.01),
        (69.230, 99, 0.99),
        (123.225, 99, 0.05),
        (134.642, 99, 0.01),
        (1.0, 2, math.exp(-0.5)),  # df = 2 is exactly exp(−x/2)
        (40.0, 2, math.exp(-20.0)),
    ],
)
def test_chi2_survival_function_matches_the_tables(statistic: float, df: int, p: float) -> None:
    assert _bench().chi2_sf(statistic, df) == pytest.approx(p, rel=1e-3)  # tables print 3 decimals


def test_chi2_survival_function_edges() -> None:
    sf = _bench().chi2_sf
    assert sf(0.0, 99) == 1.0
    assert sf(10_000.0, 99) < 1e-300 or sf(10_000.0, 99) == 0.0
    assert 0.0 <= sf(99.0, 99) <= 1.0
