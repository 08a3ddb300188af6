"""API input and output shapes of code batches."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from jinli.codes.domain import BatchStatus


class InputSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BatchCreate(InputSchema):
    count: StrictInt = Field(ge=1, description="How many codes to generate")
    label: str = Field("", max_length=100, description="The operator's name for the print run")
    short_codes: StrictBool = Field(
        False, description="Also print a 15-character short form for typing by hand"
    )
    qr_sheets: StrictBool | None = Field(
        None,
        description="SVG QR print sheets in the export: default (null) adds them for small "
        "batches; true insists (refused above the configured size)",
    )


class BatchActivate(InputSchema):
    region: str = Field(min_length=1, max_length=64, description="Where the batch shipped")
    distributor: str = Field(min_length=1, max_length=100, description="Who it shipped to")


class BatchRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    campaign_id: uuid.UUID
    label: str
    size: int
    status: BatchStatus
    short_codes: bool
    qr_sheets: bool
    region: str | None
    distributor: str | None
    created_at: datetime
    created_by: str
    activated_at: datetime | None
    activated_by: str | None
    voided_at: datetime | None
    voided_by: str | None
    export_available: bool = Field(description="The printer's zip can still be downloaded")
    export_bytes: int
    export_sha256: str
    export_purged_at: datetime | None
    export_downloads: int
