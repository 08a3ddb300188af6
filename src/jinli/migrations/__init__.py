"""Alembic migrations: ``jinli db upgrade`` (or ``alembic upgrade head``) builds the schema."""
