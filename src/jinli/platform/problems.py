"""RFC 9457 problem details for every API error, each with a stable ``code``."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from jinli.kernel.errors import ErrorKind, JinliError

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://jinli.dev/problems/"

STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 422,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.TOO_MANY: 429,
    ErrorKind.UNAVAILABLE: 503,
}


class Problem(BaseModel):
    """RFC 9457 problem details, plus Jinli's stable machine-readable ``code``."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def from_error(exc: JinliError, instance: str | None = None) -> JSONResponse:
    """The problem JSON of a domain error; an ``errors`` list in its extras (one entry per
    reason, e.g. each settlement blocker) is rendered as the RFC 9457 ``errors`` member."""
    headers = None
    retry_after = exc.extra.get("retry_after")
    if retry_after is not None:
        headers = {"Retry-After": str(retry_after)}
    return problem_response(
        STATUS_BY_KIND[exc.kind],
        exc.code,
        exc.detail,
        title=exc.title,
        instance=instance,
        headers=headers,
        errors=exc.extra.get("errors"),
    )


def problems(*errors: type[JinliError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the problems a route can answer with."""
    out: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        status = STATUS_BY_KIND[error.kind]
        entry = out.setdefault(
            status,
            {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": ""},
        )
        entry["description"] = "; ".join(filter(None, [entry["description"], error.code]))
    return out
