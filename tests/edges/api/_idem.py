"""Compute the request fingerprint the idempotency layer stores, for tests that pre-seed keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def fingerprint_for(method: str, path: str, body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()
