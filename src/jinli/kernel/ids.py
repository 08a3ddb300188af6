"""Identifiers: random UUIDs for rows, so ids leak neither counts nor order (I8)."""

from __future__ import annotations

import uuid


def new_id() -> uuid.UUID:
    return uuid.uuid4()
