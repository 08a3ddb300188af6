"""API input and output shapes of the accounts capability."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from jinli.accounts.domain import ActorKind, Role


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class InputSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OperatorCreate(InputSchema):
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = Field(min_length=1, max_length=100)
    role: Role
    password: str = Field(min_length=1, max_length=256)


class OperatorRead(Schema):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    active: bool
    created_at: datetime
    last_login_at: datetime | None


class ApiKeyCreate(InputSchema):
    name: str = Field(min_length=1, max_length=100)
    role: Role


class ApiKeyRead(Schema):
    id: uuid.UUID
    name: str
    prefix: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    secret: str
    """The full key. Shown once, never again: only its SHA-256 is stored."""


class AuditEntryRead(Schema):
    id: int
    at: datetime
    actor_kind: ActorKind
    actor_id: uuid.UUID | None
    actor_name: str
    action: str
    object_type: str
    object_id: str | None
    ip: str | None
    detail: dict[str, Any]


class BrandRead(Schema):
    id: uuid.UUID
    name: str
    created_at: datetime
