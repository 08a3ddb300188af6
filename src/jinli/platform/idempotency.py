"""The ``Idempotency-Key`` contract for POSTs that move money or create money objects (R3).

- The first request with a key runs; its response is stored with the effect, in the same
  transaction, so "effect committed" and "response stored" cannot disagree.
- A replay with the same key and body gets the stored response, byte for byte.
- The same key with a different body is a 422 (``idempotency_key_reused``).
- A replay while the first is still running is a 409 (``idempotency_key_in_flight``).
- If the first request failed (nothing committed), the key is released: a retry runs again.
- Keys are kept for ``JINLI_IDEMPOTENCY_RETENTION_HOURS`` (≥ 24 h, default 48 h).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Header, Request, Response
from fastapi.encoders import jsonable_encoder
from sqlalchemy import delete, select, update

from jinli.platform.db.idempotency import IdempotencyRecord
from jinli.platform.db.uow import UnitOfWork
from jinli.platform.problems import problem_response

STALE_LOCK = timedelta(seconds=60)
"""An in-flight record older than this belongs to a crashed request and may be taken over."""

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Required: a unique key per intended operation (e.g. a UUID). Replays with "
        "the same key and body return the first response; see the idempotency docs.",
    ),
]


async def fingerprint(request: Request) -> str:
    raw = await request.body()
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = raw.decode("utf-8", "replace")
    material = f"{request.method}\n{request.url.path}\n{canonical}"
    return hashlib.sha256(material.encode()).hexdigest()


async def run_idempotent(
    request: Request,
    uow: UnitOfWork,
    brand_id: uuid.UUID,
    key: str | None,
    status_code: int,
    operation: Callable[[], Awaitable[Any]],
    retention_hours: int,
) -> Response:
    """Run ``operation`` at most once per (brand, key); commit; return its JSON response."""
    if key is None:
        return problem_response(
            428,
            "idempotency_key_required",
            "this request moves money: send an Idempotency-Key header (e.g. a new UUID)",
        )
    fp = await fingerprint(request)
    claimed = await _claim(uow, brand_id, key, fp, retention_hours)
    if isinstance(claimed, Response):
        return claimed
    try:
        result = await operation()
        body = json.dumps(jsonable_encoder(result), ensure_ascii=False, separators=(",", ":"))
        await uow.session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.brand_id == brand_id, IdempotencyRecord.key == key)
            .values(status="done", response_status=status_code, response_body=body)
        )
        await uow.commit()
    except BaseException:
        await uow.rollback()
        await _release(uow, brand_id, key)
        raise
    return Response(
        body,
        status_code=status_code,
        media_type="application/json",
        headers={"Idempotent-Replayed": "false"},
    )


async def _claim(
    uow: UnitOfWork, brand_id: uuid.UUID, key: str, fp: str, retention_hours: int
) -> Response | None:
    """Insert the in-flight record and commit it, so concurrent duplicates see it at once."""
    now = uow.clock.now()
    session = uow.session
    # Forget expired keys of this brand lazily; a sweeper is unnecessary at this volume.
    await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.brand_id == brand_id, IdempotencyRecord.expires_at <= now
        )
    )
    existing = await session.scalar(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.brand_id == brand_id, IdempotencyRecord.key == key)
        .with_for_update()
    )
    if existing is None:
        session.add(
            IdempotencyRecord(
                brand_id=brand_id,
                key=key,
                fingerprint=fp,
                status="in_flight",
                locked_at=now,
                created_at=now,
                expires_at=now + timedelta(hours=retention_hours),
            )
        )
        try:
            await uow.commit()
        except Exception:  # a concurrent twin inserted it first
            await uow.rollback()
            return _in_flight()
        return None
    if existing.fingerprint != fp:
        await uow.rollback()
        return problem_response(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body",
        )
    if existing.status == "done" and existing.response_status is not None:
        body, status = existing.response_body or "", existing.response_status
        await uow.rollback()
        return Response(
            body,
            status_code=status,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    if now - existing.locked_at < STALE_LOCK:
        await uow.rollback()
        return _in_flight()
    existing.locked_at = now  # the first request died mid-way: take over its key
    await uow.commit()
    return None


def _in_flight() -> Response:
    return problem_response(
        409,
        "idempotency_key_in_flight",
        "a request with this Idempotency-Key is still being processed; retry shortly",
        headers={"Retry-After": "1"},
    )


async def _release(uow: UnitOfWork, brand_id: uuid.UUID, key: str) -> None:
    await uow.session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.brand_id == brand_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.status == "in_flight",
        )
    )
    await uow.commit()
