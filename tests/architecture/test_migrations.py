"""Migrations and models cannot drift apart (``alembic check`` after ``upgrade head``)."""

from __future__ import annotations

import pytest

from jinli.migrations.runner import check
from tests.conftest import BACKENDS


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_models_match_migrations(db_url: str) -> None:
    """The schema built by the migrations is exactly what the models describe."""
    check(db_url)


def _model_check_names() -> set[str]:
    from sqlalchemy import CheckConstraint

    from jinli.app.models import metadata

    names = set()
    for table in metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, CheckConstraint) and constraint.name:
                name = str(constraint.name)
                if not name.startswith("ck_"):
                    name = f"ck_{table.name}_{name}"
                names.add(name)
    return names


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_every_model_check_constraint_is_in_the_migrated_schema(db_url: str) -> None:
    """`alembic check` ignores CHECK constraints, so compare their names directly."""
    from sqlalchemy import text

    from jinli.platform.db.engine import create_engine

    engine = create_engine(db_url)
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            ddl = " ".join(
                r[0] or ""
                for r in await conn.execute(
                    text("SELECT sql FROM sqlite_master WHERE type = 'table'")
                )
            )
            missing = {n for n in _model_check_names() if n not in ddl}
        else:
            present = {
                r[0]
                for r in await conn.execute(
                    text("SELECT conname FROM pg_constraint WHERE contype = 'c'")
                )
            }
            missing = _model_check_names() - present
    await engine.dispose()
    assert missing == set()
