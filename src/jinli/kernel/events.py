"""Domain events: facts that happened, recorded in the outbox in the same transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """A fact such as ``campaign.published``; ``key`` orders events of one aggregate."""

    topic: str
    key: str
    payload: dict[str, Any] = field(default_factory=dict)
    brand_id: UUID | None = None

    def payload_json(self) -> str:
        return json.dumps(self.payload, ensure_ascii=False, sort_keys=True, default=str)
