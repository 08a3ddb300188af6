"""Migrations and models cannot drift apart (``alembic check`` after ``upgrade head``)."""

from __future__ import annotations

import pytest

from jinli.migrations.runner import check
from tests.conftest import BACKENDS


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_models_match_migrations(db_url: str) -> None:
    """The schema built by the migrations is exactly what the models describe."""
    check(db_url)
